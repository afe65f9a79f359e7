// The HTTP API: a thin JSON layer over GantryService. Every route but /healthz needs a bearer token;
// the caller's identity comes only from that token, the channel from `x-gantry-channel`.
// buildServer returns the Fastify instance without listening (tests use inject; main.ts listens).
import { registerTrainRoutes, TrainService } from './trains.js';
import crypto from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ServiceError } from '@temporalio/client';
import { z } from 'zod';
import { Action, type Channel } from '../core/approval.js';
import type { ReleaseStatus } from '../core/release.js';
import { GantryError, type ErrorDetail } from './errors.js';
import { authenticate, type IdentityTable } from './auth.js';
import type { Caller, GantryService, ReleaseSummary } from './service.js';
import { emptyTriggerConfig, type TriggerServerConfig } from './server-config.js';
import { registerTriggerRoutes } from './webhooks.js';

export interface BuildServerOptions {
  service: GantryService;
  identities: IdentityTable;
  /** A pino-compatible logger, `true` for Fastify's default, or absent/false for none. */
  logger?: FastifyBaseLogger | boolean;
  /** Serve the read-only HTML page at GET / without a token (loopback dashboards). Default false. */
  publicIndex?: boolean;
  /** Webhook repositories, Slack and chat identities (api/server-config.ts). Default: none configured. */
  triggers?: TriggerServerConfig;
  /** fetch for replies to GitHub and Slack (tests). Default: global fetch. */
  fetch?: typeof fetch;
}

export const ACTIONS: readonly Action[] = Object.values(Action);
const IDENTITY_FIELDS = ['identity', 'by', 'user'] as const;

// ---------------------------------------------------------------------------------------------
// Input validation: zod, with every problem reported as { path, message, hint }.

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const label = (what: string) => z.string().max(63).regex(dnsLabel, { error: `${what} must be a lowercase DNS label` });

const configField = z.union([z.string().min(1), z.record(z.string(), z.unknown())], {
  error: 'config must be the text of gantry.yaml or the parsed object',
});
const text = (max: number) => z.string().max(max);

const releaseBody = z.strictObject({
  config: configField,
  environment: z.string().min(1),
  revision: z.strictObject({
    image: text(300).optional(), digest: text(100).optional(), sha: text(64).optional(),
    author: text(200).optional(), message: text(2000).optional(),
  }).default({}),
});

const pipelineBody = z.strictObject({
  // Optional only with a source: the commit's own gantry.yaml is read at checkout.
  config: configField.optional(),
  repo: z.string().min(1).max(300),
  sha: z.string().min(1).max(64),
  ref: text(300).optional(),
  revision: z.strictObject({
    image: text(300).optional(), digest: text(100).optional(), author: text(200).optional(), message: text(2000).optional(),
  }).default({}),
  source: z.strictObject({ url: text(2000), depth: z.number().int().positive().optional(), configPath: text(300).optional() }).optional(),
}).refine((b) => b.config !== undefined || b.source !== undefined, { error: 'config is required unless the pipeline builds from source', path: ['config'] });

const decisionBody = z.strictObject({ comment: z.string().min(1).max(2000).optional() });

const releaseParams = z.object({ app: label('app'), env: label('environment') });
const statusQuery = z.object({ events: z.coerce.number().int().min(0).max(10_000).optional() });
const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).optional() });
const pipelineQuery = z.object({ repo: z.string().min(1).max(300), sha: z.string().min(1).max(64) });

const hints: Record<string, string> = {
  config: 'the text of gantry.yaml (a string), or the same document as a JSON object',
  environment: 'an environment named in gantry.yaml, e.g. "production"',
  revision: 'an object: { digest: "sha256:…", sha?, author?, message? }',
  digest: 'sha256: followed by 64 hex digits, as the registry reports it',
  sha: '7 to 64 lowercase hex digits',
  image: "the app's image repository as in gantry.yaml (or leave it out)",
  author: 'the commit author (their Gantry id): four-eyes keeps them from approving',
  message: 'the commit message (first line)',
  repo: 'owner/name, or the repository URL',
  ref: 'the branch or tag, e.g. refs/heads/main',
  comment: 'text of at most 2000 characters, e.g. -m "metrics look fine"',
  app: "the app name from gantry.yaml, e.g. 'shop'",
  env: "the environment name, e.g. 'production'",
  events: 'how many recent events to return: 0 for all',
  limit: 'a number from 1 to 500',
};

function issuePath(base: string, path: readonly PropertyKey[]): string {
  let out = base;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(body)';
}

function toDetails(err: z.ZodError, base: string): ErrorDetail[] {
  return err.issues.map((i) => {
    if (i.code === 'unrecognized_keys') {
      return { path: issuePath(base, i.path), message: `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}`, hint: 'remove it, or check the spelling' };
    }
    const key = [...i.path].reverse().find((p) => typeof p === 'string');
    const missing = i.code === 'invalid_type' && i.input === undefined;
    return { path: issuePath(base, i.path), message: missing ? 'is required' : i.message, hint: hints[String(key ?? base)] ?? 'see the API reference' };
  });
}

function parse<S extends z.ZodType>(schema: S, input: unknown, what: string, base = ''): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new GantryError('bad_request', `invalid ${what}`, toDetails(r.error, base));
  return r.data;
}

/** Identity is established by the token; a body that tries to name one is refused outright. */
function refuseIdentityFields(body: unknown): void {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return;
  const given = IDENTITY_FIELDS.filter((f) => Object.hasOwn(body, f));
  if (given.length) {
    throw new GantryError('bad_request', 'identity comes from the token, not the request body',
      given.map((f) => ({ path: f, message: 'not accepted', hint: 'remove it: the caller is the identity the bearer token belongs to' })),
      'decisions are recorded as the authenticated caller; use that person\'s own token');
  }
}

function channelOf(req: FastifyRequest): Channel {
  const h = req.headers['x-gantry-channel'];
  const v = (Array.isArray(h) ? h[0] : h)?.trim().toLowerCase();
  return v === 'cli' || v === 'ui' ? v : 'api';
}

// ---------------------------------------------------------------------------------------------
// Errors

function temporalUnavailable(err: unknown): boolean {
  if (!(err instanceof ServiceError)) return false;
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return code === 14 || code === 4 || /UNAVAILABLE|DEADLINE_EXCEEDED/.test(err.message);
}

function sendError(reply: FastifyReply, status: number, body: Record<string, unknown>): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

// ---------------------------------------------------------------------------------------------
// The read-only HTML page

function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

export interface ListedRelease extends ReleaseSummary { phase?: string; summary?: string }

function renderIndex(releases: ListedRelease[]): string {
  const rows = releases.map((r) => `<tr class="${esc(r.phase ?? r.status)}"><td>${esc(r.app)}</td><td>${esc(r.environment)}</td><td>${esc(r.phase ?? r.status)}</td><td>${esc(r.summary ?? '')}</td><td>${esc(r.startTime)}</td><td>${esc(r.closeTime ?? '')}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gantry releases</title>
<meta http-equiv="refresh" content="5">
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.succeeded td:nth-child(3){color:#080}.rolled-back td:nth-child(3),.failed td:nth-child(3){color:#b00}.waiting-approval td:nth-child(3),.paused td:nth-child(3){color:#a60}</style>
</head><body><h1>Gantry releases</h1>
${releases.length ? `<table><thead><tr><th>app</th><th>environment</th><th>phase</th><th>summary</th><th>started</th><th>ended</th></tr></thead><tbody>
${rows}
</tbody></table>` : '<p>No releases yet. Start one with <code>gantry release start -e &lt;env&gt; --digest sha256:…</code></p>'}
<p><small>Read-only. Decisions: <code>gantry approve &lt;app&gt; &lt;env&gt;</code> and friends.</small></p>
</body></html>`;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** The service's list plus, for running releases, their phase and summary (best-effort). */
async function listReleases(service: GantryService, limit: number): Promise<ListedRelease[]> {
  const list = await service.list(limit);
  return Promise.all(list.map(async (r): Promise<ListedRelease> => {
    if (r.status === 'completed') return { ...r, phase: 'succeeded' };
    if (r.status !== 'running') return r;
    const s: ReleaseStatus | undefined = await withTimeout(service.status(r.app, r.environment, 1), 3000).catch(() => undefined);
    return s ? { ...r, phase: s.phase, summary: s.summary } : r;
  }));
}

// ---------------------------------------------------------------------------------------------

export function buildServer(opts: BuildServerOptions): FastifyInstance {
  const { service, identities } = opts;
  const logger = opts.logger;
  const app = Fastify({
    ...(typeof logger === 'object' ? { loggerInstance: logger } : { logger: logger ?? false }),
    genReqId: () => crypto.randomUUID(),
    bodyLimit: 1024 * 1024,
  }) as unknown as FastifyInstance;

  const callerOf = (req: FastifyRequest): Caller => ({ identity: authenticate(identities, req.headers.authorization), channel: channelOf(req) });

  app.addHook('onSend', async (req, reply) => { reply.header('x-request-id', req.id); });

  app.setErrorHandler((err: FastifyError | GantryError | Error, req, reply) => {
    if (err instanceof GantryError) {
      if (err.code === 'unauthenticated') req.log.info({ url: req.routeOptions.url }, 'unauthenticated request');
      return sendError(reply, err.httpStatus, err.toJSON());
    }
    if (temporalUnavailable(err)) {
      req.log.error({ err: { message: err.message } }, 'Temporal unavailable');
      return sendError(reply, 503, { error: 'unavailable', message: 'Temporal is not reachable from the Gantry API', hint: 'start it with `npm start` (or `npm run testbed -- up`), or check TEMPORAL_ADDRESS', requestId: req.id });
    }
    const status = (err as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const hint = status === 415 ? 'send a JSON body with Content-Type: application/json'
        : status === 413 ? 'the body is limited to 1 MiB' : 'send a valid JSON body';
      return sendError(reply, status, { error: 'bad_request', message: err.message, hint });
    }
    req.log.error({ err }, 'request failed');
    return sendError(reply, 500, { error: 'internal', message: `internal error (request ${req.id}); the details are in the Gantry API server log`, requestId: req.id });
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, 404, {
    error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}`,
    hint: 'routes: GET /healthz, GET|POST /v1/releases, GET /v1/releases/:app/:env[/history], POST /v1/releases/:app/:env/:action, POST /v1/pipelines, GET /v1/pipelines?repo=&sha=',
  }));

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/', async (req, reply) => {
    if (!opts.publicIndex) callerOf(req);
    const releases = await listReleases(service, 100);
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .header('x-content-type-options', 'nosniff')
      .send(renderIndex(releases));
  });

  app.post('/v1/releases', async (req, reply) => {
    const caller = callerOf(req);
    refuseIdentityFields(req.body);
    const body = parse(releaseBody, req.body ?? {}, 'release request');
    const started = await service.startRelease(body, caller);
    return reply.code(started.existing ? 200 : 201).send(started);
  });

  app.get('/v1/releases', async (req) => {
    callerOf(req);
    const q = parse(listQuery, req.query, 'query');
    return { releases: await listReleases(service, q.limit ?? 50) };
  });

  app.get('/v1/releases/:app/:env', async (req) => {
    callerOf(req);
    const p = parse(releaseParams, req.params, 'release name');
    const q = parse(statusQuery, req.query, 'query');
    return service.status(p.app, p.env, q.events ?? 50);
  });

  app.get('/v1/releases/:app/:env/history', async (req) => {
    callerOf(req);
    const p = parse(releaseParams, req.params, 'release name');
    const s = await service.status(p.app, p.env, 0);
    return { id: s.id, app: s.app, environment: s.environment, phase: s.phase, summary: s.summary, decisions: s.decisions, events: s.events };
  });

  app.post('/v1/releases/:app/:env/:action', async (req) => {
    const caller = callerOf(req);
    const p = parse(releaseParams, req.params, 'release name');
    const action = (req.params as { action: string }).action;
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new GantryError('not_found', `unknown action '${action}'`, [{ path: 'action', message: 'not an action', hint: `one of: ${ACTIONS.join(', ')}` }]);
    }
    refuseIdentityFields(req.body);
    const body = parse(decisionBody, req.body ?? {}, 'decision');
    return service.decide(p.app, p.env, action as Action, caller, body.comment);
  });

  app.post('/v1/pipelines', async (req, reply) => {
    const caller = callerOf(req);
    refuseIdentityFields(req.body);
    const body = parse(pipelineBody, req.body ?? {}, 'pipeline request');
    const started = await service.startPipeline(body, caller);
    return reply.code(started.existing ? 200 : 201).send(started);
  });

  app.get('/v1/pipelines', async (req) => {
    callerOf(req);
    const q = parse(pipelineQuery, req.query, 'query');
    return service.pipelineStatus(q.repo, q.sha);
  });

  // GET /v1/pipelines/<owner>/<name>/<sha>: the repo may contain slashes, the sha is the last segment.
  app.get('/v1/pipelines/*', async (req) => {
    callerOf(req);
    const rest = (req.params as { '*': string })['*'].replace(/\/+$/, '');
    const i = rest.lastIndexOf('/');
    if (i <= 0) throw new GantryError('bad_request', 'expected /v1/pipelines/<repo>/<sha>', [{ path: 'url', message: 'no repository or commit', hint: 'GET /v1/pipelines/owner/name/<sha>, or GET /v1/pipelines?repo=<repo>&sha=<sha>' }]);
    return service.pipelineStatus(rest.slice(0, i), rest.slice(i + 1));
  });

  // Release trains (api/trains.ts): Temporal Schedules per app and environment.
  registerTrainRoutes(app, { trains: new TrainService(service.client, service.taskQueue), callerOf });

  // Triggers and ChatOps (api/webhooks.ts): POST /v1/triggers/push, /v1/webhooks/github, /v1/slack/*.
  void app.register(async (scope) => registerTriggerRoutes(scope, { service, config: opts.triggers ?? emptyTriggerConfig(), callerOf, ...(opts.fetch ? { fetch: opts.fetch } : {}) }));

  return app;
}
