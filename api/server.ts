// The HTTP API: a thin JSON layer over GantryService. Every route but /healthz needs a bearer token;
// the caller's identity comes only from that token, the channel from `x-gantry-channel`.
// buildServer returns the Fastify instance without listening (tests use inject; main.ts listens).
//
// Hostile input is bounded before it costs anything: every route has a body limit (BODY_LIMITS, 413
// naming the limit and the fix), JSON bodies nest at most MAX_JSON_DEPTH levels and may not carry
// __proto__ or constructor.prototype keys (400), gantry.yaml text is size-checked (413) and parsed off
// the event loop (api/config-parse.ts), and every error body is JSON whose echoes of the request
// (paths, names, content types) are escaped and capped (core/text.ts).
import crypto from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { ServiceError } from '@temporalio/client';
import type { Channel } from '../core/approval.js';
import { echo } from '../core/text.js';
import { CONFIG_TEXT_LIMIT } from './config-parse.js';
import { GantryError, safeText, sendError } from './errors.js';
import { authenticate, soleAuthorization, type IdentityTable } from './auth.js';
import type { Caller, GantryService } from './service.js';
import { emptyTriggerConfig, type TriggerServerConfig } from './server-config.js';
import { ApiMetrics } from './metrics.js';
import { ReleaseStreams } from './stream.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerIndexRoute } from './routes/index-page.js';
import { registerPipelineRoutes } from './routes/pipelines.js';
import { registerReleaseRoutes } from './routes/releases.js';
import { registerTrainRoutes } from './routes/trains.js';
import { registerHistoryRoutes } from './routes/history.js';
import { registerTriggerRoutes } from './routes/triggers.js';
import { registerConsole } from './console/index.js';
import type { ConsoleAuth } from './console/types.js';

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
  /** The Prometheus metrics served at GET /metrics (api/metrics.ts). Default: a new registry for this server. */
  metrics?: ApiMetrics;
  /** The release status streams (api/stream.ts): poll and heartbeat intervals, bound. Default: a new ReleaseStreams. */
  streams?: ReleaseStreams;
  /** The web console at /ui (api/console): its sign-in and links. Absent: no console. */
  console?: { auth: ConsoleAuth; temporalUiUrl?: string };
}

// ---------------------------------------------------------------------------------------------
// Request bounds

const KiB = 1024;
const MiB = 1024 * KiB;

/** Every route not in BODY_LIMITS takes at most this much body. */
export const DEFAULT_BODY_LIMIT = 64 * KiB;
/** How deeply a JSON body may nest (a gantry.yaml as JSON nests about 8 levels). */
export const MAX_JSON_DEPTH = 64;

const CONFIG_BODY_HINT = `the body carries gantry.yaml, which is at most ${CONFIG_TEXT_LIMIT / KiB} KiB: send the config itself, nothing generated or repeated`;

/** Body limits by route ("METHOD url" as registered), with what to do when one is exceeded. */
export const BODY_LIMITS: ReadonlyMap<string, { limit: number; hint: string }> = new Map([
  ['POST /v1/releases', { limit: 512 * KiB, hint: CONFIG_BODY_HINT }],
  ['POST /v1/pipelines', { limit: 512 * KiB, hint: CONFIG_BODY_HINT }],
  ['POST /v1/triggers/push', { limit: 512 * KiB, hint: `${CONFIG_BODY_HINT}; the commit message is cut to 2000 characters` }],
  ['POST /v1/trains', { limit: 512 * KiB, hint: CONFIG_BODY_HINT }],
  ['POST /v1/releases/:app/:env/:action', { limit: 16 * KiB, hint: 'a decision body is { "comment": "…" } with at most 2000 characters' }],
  ['POST /v1/webhooks/github', { limit: 5 * MiB, hint: 'GitHub deliveries larger than 5 MiB are refused: push fewer commits at once, or start the pipeline with gantry pipeline start' }],
  ['POST /v1/slack/commands', { limit: 256 * KiB, hint: 'Slack requests are a few KiB; check what sends to this URL' }],
  ['POST /v1/slack/interactions', { limit: 256 * KiB, hint: 'Slack requests are a few KiB; check what sends to this URL' }],
]);

const size = (n: number) => (n >= MiB && n % MiB === 0 ? `${n / MiB} MiB` : n % KiB === 0 ? `${n / KiB} KiB` : `${n} bytes`);

/** True when a JSON text nests deeper than `max` arrays/objects (one linear scan, strings skipped). */
export function jsonNestsDeeper(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) { if (++depth > max) return true; } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

const badJson = (message: string, hint = 'send a valid JSON body') => new GantryError('bad_request', message, [], hint);

/** A route pattern (`/v1/releases/:app/:env`, `/v1/pipelines/*`) as a RegExp over request paths. */
function routeRegExp(url: string): RegExp {
  const re = url.split('/').map((seg) => (seg === '*' ? '.*' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))).join('/');
  return new RegExp(`^${re}/?$`);
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

/** The path of a request URL (no query), as the client sent it. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** The body of a 4xx Fastify raised itself (body too large, wrong content type, …): our shape, no raw echo. */
function clientErrorBody(err: FastifyError, req: FastifyRequest): Record<string, unknown> {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const route = `${req.method} ${req.routeOptions.url ?? pathOf(req.url)}`;
      const bound = BODY_LIMITS.get(route);
      const limit = req.routeOptions.bodyLimit ?? DEFAULT_BODY_LIMIT;
      return { error: 'too_large', message: `the request body is larger than the ${size(limit)} ${echo(route, 120).slice(1, -1)} accepts`, hint: bound?.hint ?? `send at most ${size(limit)}` };
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { error: 'bad_request', message: `content type ${echo(req.headers['content-type'] ?? '(none)', 60)} is not accepted here`, hint: 'send a JSON body with Content-Type: application/json' };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { error: 'bad_request', message: 'the body is not as long as Content-Length says', hint: 'send exactly Content-Length bytes' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { error: 'bad_request', message: 'the body is empty but Content-Type says JSON', hint: 'send a JSON object, e.g. {}, or no Content-Type with no body' };
    default:
      return { error: 'bad_request', message: safeText(err.message, 200), hint: 'send a valid JSON body' };
  }
}

// ---------------------------------------------------------------------------------------------

export function buildServer(opts: BuildServerOptions): FastifyInstance {
  const { service, identities } = opts;
  const logger = opts.logger;
  const app = Fastify({
    ...(typeof logger === 'object' ? { loggerInstance: logger } : { logger: logger ?? false }),
    genReqId: () => crypto.randomUUID(),
    bodyLimit: DEFAULT_BODY_LIMIT,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // A URL the router cannot decode, or a path segment longer than maxParamLength (100).
    frameworkErrors: (err, req, reply) => {
      const long = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      return sendError(reply, long ? 414 : 400, {
        error: 'bad_request',
        message: long ? `a segment of the path ${echo(pathOf(req.url))} is longer than 100 characters` : `the path ${echo(pathOf(req.url))} is not a valid URL path`,
        hint: 'app and environment names are DNS labels (at most 63 characters); percent-encode only valid UTF-8',
      });
    },
    // Requests Node's HTTP parser refuses (headers too large, malformed request lines): JSON as well.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, message, hint] = err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'the request headers are too large', 'send at most 16 KiB of headers; a bearer token is a few dozen characters']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request took too long to arrive', 'send the whole request at once']
          : [400, 'the request is not valid HTTP', 'check the request line and headers (no control characters)'];
      const body = JSON.stringify({ error: 'bad_request', message, hint });
      if (socket.writable) socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
      socket.destroy();
    },
  }) as unknown as FastifyInstance;

  const callerOf = (req: FastifyRequest): Caller => ({ identity: authenticate(identities, soleAuthorization(req.raw.rawHeaders)), channel: channelOf(req) });

  // Every route gets its body limit; the routes are remembered to tell 405 (wrong method) from 404.
  const routes: { method: string; re: RegExp }[] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const m of methods) routes.push({ method: String(m).toUpperCase(), re: routeRegExp(r.url) });
    const bound = BODY_LIMITS.get(`${String(methods[0]).toUpperCase()} ${r.url}`);
    if (bound && r.bodyLimit === undefined) r.bodyLimit = bound.limit;
  });

  // JSON bodies: nesting bounded before parsing, then Fastify's own parser (secure-json-parse, which
  // refuses __proto__ and constructor.prototype). Errors say what is wrong without echoing the body.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  // Only JSON: a text/plain body would reach the routes as a string (415 instead).
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    // JSON is UTF-8 (RFC 8259): a body declared in another charset would be read wrongly.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return done(Object.assign(new Error('charset'), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }), undefined);
    if (text.length === 0) return done(badJson('the body is empty but Content-Type says JSON', 'send a JSON object, e.g. {}, or no Content-Type with no body'), undefined);
    if (jsonNestsDeeper(text, MAX_JSON_DEPTH)) return done(badJson(`the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`, 'send the request as the API reference shows it; a gantry.yaml as JSON nests about 8 levels'), undefined);
    void jsonParser(req, text, (err, value) => {
      if (!err) return done(null, value);
      // Fastify's parser says only "not valid JSON" for both: a body that JSON.parse accepts was refused for its keys.
      let poisoned = false;
      try { JSON.parse(text); poisoned = true; } catch { /* a syntax error */ }
      done(poisoned
        ? badJson('the JSON body has a __proto__ or constructor.prototype key, which is refused', 'remove it: no Gantry request has such a key')
        : badJson('the body is not valid JSON'), undefined);
    });
  });

  app.addHook('onSend', async (req, reply) => { reply.header('x-request-id', req.id); });

  app.setErrorHandler((err: FastifyError | GantryError | Error, req, reply) => {
    if (err instanceof GantryError) {
      if (err.code === 'unauthenticated') req.log.info({ url: req.routeOptions.url }, 'unauthenticated request');
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
      return sendError(reply, err.httpStatus, err.toJSON());
    }
    if (temporalUnavailable(err)) {
      req.log.error({ err: { message: err.message } }, 'Temporal unavailable');
      return sendError(reply, 503, { error: 'unavailable', message: 'Temporal is not reachable from the Gantry API', hint: 'start it with `npm start` (or `npm run testbed -- up`), or check TEMPORAL_ADDRESS', requestId: req.id });
    }
    const status = (err as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) return sendError(reply, status, clientErrorBody(err as FastifyError, req));
    req.log.error({ err }, 'request failed');
    return sendError(reply, 500, { error: 'internal', message: `internal error (request ${req.id}); the details are in the Gantry API server log`, requestId: req.id });
  });

  app.setNotFoundHandler((req, reply) => {
    const path = pathOf(req.url);
    const allowed = [...new Set(routes.filter((r) => r.re.test(path)).map((r) => r.method))];
    if (allowed.length > 0 && !allowed.includes(req.method)) {
      return sendError(reply.header('allow', allowed.join(', ')), 405, {
        error: 'method_not_allowed', message: `${echo(req.method, 20)} is not allowed on ${echo(path)}`, hint: `use ${allowed.join(' or ')}`,
      });
    }
    return sendError(reply, 404, {
      error: 'not_found', message: `no route ${echo(req.method, 20).slice(1, -1)} ${echo(path).slice(1, -1)}`,
      hint: 'routes: GET /healthz, GET|POST /v1/releases, GET /v1/releases/:app/:env[/history|/stream], POST /v1/releases/:app/:env/:action, POST /v1/pipelines, GET /v1/pipelines?repo=&sha=',
    });
  });

  // The routes, one module per group (api/routes/): each parses its input with api/input.ts and calls the service.
  const metrics = opts.metrics ?? new ApiMetrics();
  const streams = opts.streams ?? new ReleaseStreams(service);
  const deps = { service, callerOf };
  registerHealthRoutes(app, { service, metrics, identities, ...(opts.triggers ? { triggers: opts.triggers } : {}) });
  registerIndexRoute(app, { ...deps, ...(opts.publicIndex ? { publicIndex: true } : {}) });
  registerReleaseRoutes(app, { ...deps, streams });
  registerPipelineRoutes(app, deps);
  // Release trains (api/trains.ts): Temporal Schedules per app and environment.
  registerTrainRoutes(app, { trains: service.trains, callerOf });
  // Looking back (api/routes/history.ts): runs of a release, the audit log, an environment's calendar; train pause.
  registerHistoryRoutes(app, deps);

  // Triggers and ChatOps (api/routes/triggers.ts): POST /v1/triggers/push, /v1/webhooks/github, /v1/slack/*.
  void app.register(async (scope) => registerTriggerRoutes(scope, { service, config: opts.triggers ?? emptyTriggerConfig(), callerOf, ...(opts.fetch ? { fetch: opts.fetch } : {}) }));

  // The web console (api/console): HTML over the same service, its own sign-in and CSRF.
  if (opts.console) registerConsole(app, { service, streams, auth: opts.console.auth, ...(opts.console.temporalUiUrl ? { temporalUiUrl: opts.console.temporalUiUrl } : {}) });

  return app;
}
