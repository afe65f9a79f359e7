// Request input, parsed one way for every route: zod schemas, and every problem reported as
// { path, message, hint } with one path format (`revision.digest`, `cron[0]`, `(body)` for the body
// itself) and one table of hints by field name. Echoes of the request in paths and messages are
// escaped and capped (core/text.ts).
import { z } from 'zod';
import { cap, displayLine, echo } from '../core/text.js';
import { GantryError, type ErrorDetail } from './errors.js';

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** An app or environment name: a lowercase DNS label. */
export const label = (what: string) => z.string().max(63).regex(dnsLabel, { error: `${what} must be a lowercase DNS label` });

export const configField = z.union([z.string().min(1), z.record(z.string(), z.unknown())], {
  error: 'config must be the text of gantry.yaml or the parsed object',
});
export const text = (max: number) => z.string().max(max);

/** `:app/:env` of the release and train routes. */
export const releaseParams = z.object({ app: label('app'), env: label('environment') });

// A Map, not an object: a field named 'constructor' must not find Object.prototype's function as its hint.
const hints = new Map<string, string>(Object.entries({
  config: 'the text of gantry.yaml (a string), or the same document as a JSON object',
  environment: 'an environment named in gantry.yaml, e.g. "production"',
  revision: 'an object: { digest: "sha256:…", sha?, author?, message? }',
  digest: 'sha256: followed by 64 hex digits, as the registry reports it',
  sha: '7 to 64 lowercase hex digits',
  before: 'the commit the ref pointed at before the push: 7 to 64 lowercase hex digits',
  image: "the app's image repository as in gantry.yaml (or leave it out)",
  author: 'the commit author (their Gantry id): four-eyes keeps them from approving',
  message: 'the commit message (first line)',
  repo: 'owner/name, or the repository URL',
  ref: 'the branch or tag, e.g. refs/heads/main',
  delivery: 'an id of this push of at most 200 characters: a repeated delivery starts nothing new',
  cloneUrl: 'where the worker clones the commit from: https://, ssh://, git:// or file://',
  source: 'an object: { url: "<git URL>", depth?, configPath? }',
  comment: 'text of at most 2000 characters, e.g. -m "metrics look fine"',
  app: "the app name from gantry.yaml, e.g. 'shop'",
  env: "the environment name, e.g. 'production'",
  events: 'how many recent events to return: 0 for all',
  limit: 'a number from 1 to 500',
  cron: 'cron expressions such as "0 10 * * 1-4" (Mon-Thu at 10:00)',
  timeZone: 'an IANA zone such as Europe/Berlin or America/New_York',
  paused: 'true to create the train paused, or leave it out',
  actions: 'Slack sends one block action per button press',
}));

/** `base` then each path step: `.name` for fields (escaped, capped), `[i]` for indexes; `(body)` when empty. */
export function issuePath(base: string, path: readonly PropertyKey[]): string {
  let out = base;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${cap(displayLine(String(p)), 40)}`;
  return out || '(body)';
}

export function toDetails(err: z.ZodError, base: string): ErrorDetail[] {
  return err.issues.map((i) => {
    if (i.code === 'unrecognized_keys') {
      const keys = i.keys.slice(0, 5).map((k) => echo(k, 40)).join(', ') + (i.keys.length > 5 ? ` and ${i.keys.length - 5} more` : '');
      return { path: issuePath(base, i.path), message: `unknown field${i.keys.length > 1 ? 's' : ''} ${keys}`, hint: 'remove it, or check the spelling' };
    }
    const key = [...i.path].reverse().find((p) => typeof p === 'string');
    const missing = i.code === 'invalid_type' && i.input === undefined;
    return { path: issuePath(base, i.path), message: missing ? 'is required' : i.message, hint: hints.get(String(key ?? base)) ?? 'see the API reference' };
  });
}

/** The parsed input, or a 400 `invalid <what>` naming every problem (paths prefixed with `base`). */
export function parse<S extends z.ZodType>(schema: S, input: unknown, what: string, base = ''): z.output<S> {
  // reportInput: an issue then says whether a value was missing ("is required") or of the wrong type.
  const r = schema.safeParse(input, { reportInput: true });
  if (!r.success) throw new GantryError('bad_request', `invalid ${what}`, toDetails(r.error, base));
  return r.data;
}

const IDENTITY_FIELDS = ['identity', 'by', 'user'] as const;

/** Identity is established by the token; a body that tries to name one is refused outright. */
export function refuseIdentityFields(body: unknown): void {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  const given = IDENTITY_FIELDS.filter((f) => Object.hasOwn(body, f));
  if (given.length) {
    throw new GantryError('bad_request', 'identity comes from the token, not the request body',
      given.map((f) => ({ path: f, message: 'not accepted', hint: 'remove it: the caller is the identity the bearer token belongs to' })),
      'decisions are recorded as the authenticated caller; use that person\'s own token');
  }
}
