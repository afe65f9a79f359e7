// Bearer-token authentication for the HTTP API. A token maps to an identity (id + groups); the
// identity of every decision comes from here, never from a request body.
//
// Sources, merged (both may be used):
//  - GANTRY_TOKENS: JSON {"<token>": {"id": "alice", "groups": ["sre"]}} (handy for local use and CI);
//  - GANTRY_SERVER_CONFIG: a YAML file `identities: [{ id, groups, token_sha256 }]` holding only the
//    sha256 (hex) of each token, so the file can be shared without giving the tokens away.
// Tokens are only ever kept as sha256 digests in memory, compared with timingSafeEqual, and never logged.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Identity } from '../core/approval.js';
import { cap, displayLine } from '../core/text.js';
import { GantryError } from './errors.js';

interface Entry { digest: Buffer; identity: Identity; source: string }

/** The known tokens (as digests) and their identities. */
export interface IdentityTable {
  readonly size: number;
  /** Where the identities came from, for a startup log line (no secrets). */
  readonly sources: readonly string[];
  /** The identity a raw token belongs to, or undefined. Constant-time in the token's value. */
  lookup(token: string): Identity | undefined;
}

const identityId = z.string().min(1).max(200).regex(/^[^\s]+$/, { error: 'an id has no spaces' });
const groups = z.array(z.string().min(1).max(200)).default([]);
const MIN_TOKEN_LENGTH = 16;
const tokensJson = z.record(z.string(), z.strictObject({ id: identityId, groups }));
const serverConfig = z.object({
  identities: z.array(z.strictObject({
    id: identityId,
    groups,
    token_sha256: z.string({ error: 'token_sha256 must be 64 hex digits in quotes (YAML reads some unquoted hex as a number)' })
      .regex(/^[a-f0-9]{64}$/i, { error: 'token_sha256 must be 64 hex digits: the sha256 of the token (printf %s "$TOKEN" | sha256sum)' }),
  })).default([]),
});

export function sha256(token: string): Buffer {
  return crypto.createHash('sha256').update(token, 'utf8').digest();
}

export function sha256Hex(token: string): string {
  return sha256(token).toString('hex');
}

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`).join('; ');
}

export class IdentityConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'IdentityConfigError'; }
}

/** Builds a table from already-parsed entries (tests and embedders). */
export function identityTable(entries: readonly { identity: Identity; token?: string; tokenSha256?: string; source?: string }[]): IdentityTable {
  const list: Entry[] = entries.map((e) => {
    const digest = e.token !== undefined ? sha256(e.token) : Buffer.from(e.tokenSha256 ?? '', 'hex');
    if (digest.length !== 32) throw new IdentityConfigError(`identity ${e.identity.id}: needs a token or a 64-hex-digit token_sha256`);
    return { digest, identity: { id: e.identity.id, groups: [...e.identity.groups] }, source: e.source ?? 'inline' };
  });
  const seen = new Map<string, string>();
  for (const e of list) {
    const hex = e.digest.toString('hex');
    const other = seen.get(hex);
    if (other !== undefined && other !== e.identity.id) throw new IdentityConfigError(`the same token is given to both ${other} and ${e.identity.id}`);
    seen.set(hex, e.identity.id);
  }
  const sources = [...new Set(list.map((e) => e.source))];
  return {
    size: list.length,
    sources,
    lookup(token: string): Identity | undefined {
      const digest = sha256(token);
      let found: Entry | undefined;
      // Compare against every entry (no early exit) so timing says nothing about which one matched.
      for (const e of list) if (crypto.timingSafeEqual(e.digest, digest) && !found) found = e;
      return found ? { id: found.identity.id, groups: [...found.identity.groups] } : undefined;
    },
  };
}

export interface LoadIdentitiesOptions {
  /** Defaults to process.env: reads GANTRY_TOKENS and GANTRY_SERVER_CONFIG. */
  env?: Record<string, string | undefined>;
}

/**
 * Loads the identity table from GANTRY_TOKENS and/or the GANTRY_SERVER_CONFIG file. Throws an
 * IdentityConfigError naming the problem (never the token) when either is malformed.
 */
export function loadIdentities(opts: LoadIdentitiesOptions = {}): IdentityTable {
  const env = opts.env ?? process.env;
  const entries: { identity: Identity; token?: string; tokenSha256?: string; source: string }[] = [];
  const raw = env.GANTRY_TOKENS?.trim();
  if (raw) {
    let doc: unknown;
    try { doc = JSON.parse(raw); } catch { throw new IdentityConfigError('GANTRY_TOKENS is not valid JSON: expected {"<token>": {"id": "alice", "groups": ["sre"]}}'); }
    const parsed = tokensJson.safeParse(doc);
    // Zod paths here would be the tokens themselves: report positions instead.
    if (!parsed.success) {
      const keys = doc && typeof doc === 'object' ? Object.keys(doc) : [];
      const where = parsed.error.issues.map((i) => {
        const k = i.path[0];
        const n = typeof k === 'string' ? keys.indexOf(k) : -1;
        return `${n >= 0 ? `entry ${n + 1}` : '(top level)'}${i.path.length > 1 ? `.${i.path.slice(1).map(String).join('.')}` : ''}: ${i.message}`;
      });
      throw new IdentityConfigError(`GANTRY_TOKENS is invalid: ${where.join('; ')}`);
    }
    Object.keys(parsed.data).forEach((token, n) => {
      if (token.length < MIN_TOKEN_LENGTH) throw new IdentityConfigError(`GANTRY_TOKENS is invalid: entry ${n + 1}: tokens must be at least ${MIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 24)`);
    });
    for (const [token, who] of Object.entries(parsed.data)) entries.push({ identity: who, token, source: 'GANTRY_TOKENS' });
  }
  const file = env.GANTRY_SERVER_CONFIG?.trim();
  if (file) {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch (err) {
      throw new IdentityConfigError(`GANTRY_SERVER_CONFIG=${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    let doc: unknown;
    try { doc = parseYaml(text) ?? {}; } catch (err) {
      throw new IdentityConfigError(`${file} is not valid YAML: ${cap(displayLine(err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err)), 200)}`);
    }
    const parsed = serverConfig.safeParse(doc);
    if (!parsed.success) throw new IdentityConfigError(`${file} is invalid: ${issues(parsed.error)}`);
    for (const i of parsed.data.identities) entries.push({ identity: { id: i.id, groups: i.groups }, tokenSha256: i.token_sha256.toLowerCase(), source: file });
  }
  return identityTable(entries);
}

const AUTH_HINT = 'send the header "Authorization: Bearer <token>"; the gantry CLI sends $GANTRY_TOKEN';

/** The longest token looked up; a longer one is unknown without hashing it (real ones are about 48 characters). */
export const MAX_TOKEN_LENGTH = 1024;

/** The bearer token of an Authorization header value, or undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  return m?.[1];
}

/**
 * The one Authorization header of a request, from its raw header list (Node keeps only the first of
 * several, silently; a proxy in front may pick another): several are refused with a 401.
 */
export function soleAuthorization(rawHeaders: readonly string[]): string | undefined {
  let value: string | undefined;
  let count = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'authorization') continue;
    if (++count > 1) throw new GantryError('unauthenticated', 'the request has several Authorization headers', [], 'send exactly one header "Authorization: Bearer <token>"');
    value = rawHeaders[i + 1];
  }
  return value;
}

/** The identity a raw bearer token belongs to, or undefined (constant-time in the token). */
export function resolveToken(table: IdentityTable, token: string | undefined): Identity | undefined {
  return token && token.length <= MAX_TOKEN_LENGTH ? table.lookup(token) : undefined;
}

/**
 * Resolves an Authorization header to an identity, or throws GantryError('unauthenticated')
 * (401 `{error, message, hint}`). The message never contains the token.
 */
export function authenticate(table: IdentityTable, authorization: string | string[] | undefined): Identity {
  const value = Array.isArray(authorization) ? authorization[0] : authorization;
  if (!value) throw new GantryError('unauthenticated', 'missing bearer token', [], AUTH_HINT);
  const token = bearerToken(value);
  if (!token) throw new GantryError('unauthenticated', 'the Authorization header is not a bearer token', [], AUTH_HINT);
  const identity = resolveToken(table, token);
  if (!identity) throw new GantryError('unauthenticated', 'unknown or revoked token', [], 'check GANTRY_TOKEN against the tokens the API server was started with (GANTRY_TOKENS or GANTRY_SERVER_CONFIG)');
  return identity;
}
