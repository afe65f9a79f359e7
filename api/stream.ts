// GET /v1/releases/:app/:env/stream: a release's status as server-sent events (text/event-stream).
//
// The stream is STATE, not a log: every `event: status` carries the whole status (as GET
// /v1/releases/:app/:env?events=20 returns it), sent only when it changed (a SHA-256 digest of its
// canonical JSON). Ids increase (also across pollers of this process); a client reconnecting with
// Last-Event-ID gets the current status at once when it differs from the one that id named, and
// nothing until the next change when it does not. Missed intermediate states are not replayed: resuming
// gives the latest state. When the release has ended, `event: end` carries the final status and the
// server closes the stream. `: heartbeat` comments keep proxies from closing an idle stream.
//
// Errors: authentication (401), the stream bound (503) and the first status (release not found 404,
// no worker polling 503, …) are plain HTTP errors with the JSON body of the REST routes, before any
// event; an error after the stream started is `event: error` with that JSON body, then the stream closes.
//
// Pollers: ONE per release and caller identity in this process, shared by all its watchers; it queries
// the status every pollMs while someone watches and stops when the last watcher leaves. allowedActions
// are computed by the workflow for the caller asking, so pollers are keyed by identity (id and groups):
// a watcher never sees another caller's allowedActions. N callers watching one release cost N queries
// per interval; watchers of the same caller cost one.
import crypto from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Identity } from '../core/approval.js';
import type { ReleaseStatus } from '../core/release.js';
import { GantryError } from './errors.js';
import type { Caller, GantryService } from './service.js';

export interface StreamOptions {
  /** How often a poller queries the status (ms). Default 500. */
  pollMs?: number;
  /** How often each stream gets a `: heartbeat` comment (ms). Default 15 000. */
  heartbeatMs?: number;
  /** The most concurrent streams of this process (503 beyond). Default 1000. */
  maxStreams?: number;
  /** How often a poller whose status did not change asks whether the release's workflow closed (ms). Default 10 000. */
  closedCheckMs?: number;
}

/** How many events each streamed status carries (as ?events=20 on the status route). */
export const STREAM_EVENTS = 20;
const FINAL = new Set<ReleaseStatus['phase']>(['succeeded', 'rolled-back', 'failed']);
/** Digests remembered after a poller stopped, so a reconnect keeps its event id when nothing changed. */
const REMEMBERED = 10_000;

type Outcome = { ok: true; id: number; status: ReleaseStatus; final: boolean } | { ok: false; error: GantryError | Error };

/** How a stream writes a status and an error: SSE fields, each line ending in \n (the id and the blank line are added). */
export interface StreamFormat {
  status(s: ReleaseStatus, final: boolean): string;
  error(body: Record<string, unknown>): string;
}

/** The JSON stream of the API and the CLI: `event: status` / `event: end` / `event: error` with JSON data. */
export const jsonFormat: StreamFormat = {
  status: (s, final) => `event: ${final ? 'end' : 'status'}\ndata: ${JSON.stringify(s)}\n`,
  error: (body) => `event: error\ndata: ${JSON.stringify(body)}\n`,
};

/** Text as SSE data lines (a line break inside data would end the field). */
const dataLines = (text: string) => `${text.split(/\r\n|\r|\n/).map((l) => `data: ${l}`).join('\n')}\n`;

/**
 * HTML fragments for htmx's SSE extension (the console): each status is an unnamed message (htmx swaps
 * it), the end one more named `endEvent` (the element closes on it, hx-sse:close), an error the named
 * event `<endEvent>-error` with the JSON body.
 */
export function htmlFormat(render: (s: ReleaseStatus) => string, endEvent: string): StreamFormat {
  return {
    status: (s, final) => `${dataLines(render(s))}${final ? `\nevent: ${endEvent}\ndata: ${s.phase}\n` : ''}`,
    error: (body) => `event: ${endEvent}-error\ndata: ${JSON.stringify(body)}\n`,
  };
}

interface Watcher { lastEventId?: number; deliver(o: Outcome): void }

/** JSON with object keys sorted: the same status gives the same text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function statusDigest(s: ReleaseStatus): string {
  // A new look that saw the same (the observer heartbeats every few seconds while a release waits) is no change.
  const same = s.observed ? { ...s, observed: { ...s.observed, at: undefined } } : s;
  return crypto.createHash('sha256').update(canonical(same)).digest('hex');
}

class Poller {
  readonly watchers = new Set<Watcher>();
  current?: Outcome;
  private digest?: string;
  private running = false;

  constructor(private readonly streams: ReleaseStreams, readonly key: string, private readonly app: string, private readonly env: string, private readonly who: Identity) {
    const seen = streams.remembered.get(key);
    if (seen) { this.digest = seen.digest; this.lastId = seen.id; }
  }

  private lastId = 0;
  private closedCheckAt = Date.now();

  add(w: Watcher): void {
    this.watchers.add(w);
    if (this.current) w.deliver(this.current);
    if (!this.running) { this.running = true; void this.loop(); }
  }

  remove(w: Watcher): void {
    this.watchers.delete(w);
  }

  private async loop(): Promise<void> {
    try {
      while (this.watchers.size > 0) {
        const o = await this.poll();
        if (o) {
          this.current = o;
          for (const w of [...this.watchers]) w.deliver(o);
          if (!o.ok || o.final) break;
        }
        if (this.watchers.size === 0) break;
        await new Promise((r) => setTimeout(r, this.streams.pollMs));
      }
    } finally {
      this.running = false;
      this.streams.dropPoller(this);
      if (this.digest) this.streams.remember(this.key, { id: this.lastId, digest: this.digest });
    }
  }

  /** One status query; an outcome when the status changed (or failed), undefined when it did not. */
  private async poll(): Promise<Outcome | undefined> {
    let s: ReleaseStatus;
    try {
      this.streams.statusCalls++;
      s = await this.streams.service.status(this.app, this.env, STREAM_EVENTS, this.who);
    } catch (err) {
      return { ok: false, error: err as Error };
    }
    const digest = statusDigest(s);
    let final = FINAL.has(s.phase);
    if (digest === this.digest && this.current) {
      // Unchanged for a while: a release ended from outside (terminated, cancelled, timed out) keeps its
      // last phase forever; its execution status says it is over, so the stream ends with that status.
      if (final || Date.now() - this.closedCheckAt < this.streams.closedCheckMs) return undefined;
      this.closedCheckAt = Date.now();
      const run = await this.streams.service.releaseRun(this.app, this.env).catch(() => undefined);
      if (!run || run.status === 'RUNNING') return undefined;
      final = true;
    }
    if (digest !== this.digest) { this.digest = digest; this.lastId = this.streams.nextId(); }
    return { ok: true, id: this.lastId, status: s, final };
  }
}

export class ReleaseStreams {
  readonly pollMs: number;
  readonly heartbeatMs: number;
  readonly maxStreams: number;
  readonly closedCheckMs: number;
  /** Status queries the pollers made (tests, metrics). */
  statusCalls = 0;
  readonly remembered = new Map<string, { id: number; digest: string }>();
  private readonly pollers = new Map<string, Poller>();
  private readonly open = new Set<(why?: Error) => void>();
  private lastId = 0;

  constructor(readonly service: GantryService, opts: StreamOptions = {}) {
    this.pollMs = opts.pollMs ?? 500;
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.maxStreams = opts.maxStreams ?? 1000;
    this.closedCheckMs = opts.closedCheckMs ?? 10_000;
  }

  /** Pollers running now (one per watched release and caller identity). */
  get pollerCount(): number { return this.pollers.size; }
  /** Streams open now. */
  get streamCount(): number { return this.open.size; }

  /** Increasing event ids: milliseconds since the epoch, or one more than the last when that is later. */
  nextId(): number {
    this.lastId = Math.max(this.lastId + 1, Date.now());
    return this.lastId;
  }

  remember(key: string, v: { id: number; digest: string }): void {
    this.remembered.delete(key);
    this.remembered.set(key, v);
    if (this.remembered.size > REMEMBERED) this.remembered.delete(this.remembered.keys().next().value as string);
  }

  dropPoller(p: Poller): void {
    if (this.pollers.get(p.key) === p) this.pollers.delete(p.key);
  }

  private poller(app: string, env: string, who: Identity): Poller {
    const key = JSON.stringify([app, env, who.id, [...who.groups].sort()]);
    let p = this.pollers.get(key);
    if (!p) { p = new Poller(this, key, app, env, who); this.pollers.set(key, p); }
    return p;
  }

  /** Ends every open stream (server shutdown). */
  closeAll(): void {
    const closing = new GantryError('unavailable', 'the Gantry API is shutting down', [], 'connect again: another API instance, or this one once restarted, serves the stream');
    for (const close of [...this.open]) close(closing);
  }

  /**
   * Serves one stream. Resolves with an error to send as the HTTP response when the stream cannot
   * start (its first status failed), or undefined once the stream is under way (the raw response is ours).
   */
  serve(req: FastifyRequest, raw: ServerResponse, caller: Caller, app: string, env: string, lastEventId: number | undefined, format: StreamFormat = jsonFormat): Promise<Error | undefined> {
    if (this.open.size >= this.maxStreams) {
      const e = new GantryError('unavailable', `this API serves at most ${this.maxStreams} release streams at once`, [],
        'try again shortly, or poll GET /v1/releases/:app/:env instead');
      e.retryAfterSeconds = 5;
      return Promise.resolve(e);
    }
    return new Promise((resolve) => {
      let started = false;
      let closed = false;
      let heartbeat: NodeJS.Timeout | undefined;
      const poller = this.poller(app, env, caller.identity);
      const close = (why?: Error) => {
        if (closed) return;
        closed = true;
        // Not started yet: the client left (nothing to send) or the server is closing (an HTTP error).
        if (!started) resolve(why);
        if (heartbeat) clearInterval(heartbeat);
        poller.remove(watcher);
        this.open.delete(close);
        if (started && !raw.writableEnded) raw.end();
      };
      const write = (text: string) => { if (!closed && !raw.destroyed) raw.write(text); };
      const watcher: Watcher = {
        ...(lastEventId !== undefined ? { lastEventId } : {}),
        deliver: (o) => {
          if (closed) return;
          if (!started) {
            if (!o.ok) { close(o.error); return; }
            started = true;
            raw.writeHead(200, {
              'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform',
              connection: 'keep-alive', 'x-accel-buffering': 'no', 'x-request-id': req.id,
            });
            write(`retry: 2000\n\n`);
            heartbeat = setInterval(() => write(': heartbeat\n\n'), this.heartbeatMs);
            resolve(undefined);
            // Resuming with the id of the current state: nothing to send until it changes (unless it ended).
            if (o.id === watcher.lastEventId && !o.final) return;
          }
          if (!o.ok) {
            const body = o.error instanceof GantryError ? o.error.toJSON() : { error: 'internal', message: `the status query failed (request ${req.id}); the details are in the Gantry API server log`, requestId: req.id };
            if (!(o.error instanceof GantryError)) req.log.error({ err: o.error }, 'release stream: status failed');
            write(`${format.error(body)}\n`);
            close();
            return;
          }
          write(`id: ${o.id}\n${format.status(o.status, o.final)}\n`);
          if (o.final) close();
        },
      };
      this.open.add(close);
      raw.on('close', () => close());
      poller.add(watcher);
    });
  }
}

/** Registers GET /v1/releases/:app/:env/stream; `params` validates the release name as the REST routes do. */
export function registerStreamRoute(app: FastifyInstance, deps: { streams: ReleaseStreams; callerOf: (req: FastifyRequest) => Caller; params: (req: FastifyRequest) => { app: string; env: string } }): void {
  app.addHook('preClose', (done) => { deps.streams.closeAll(); done(); });
  app.get('/v1/releases/:app/:env/stream', async (req, reply) => {
    const caller = deps.callerOf(req);
    const p = deps.params(req);
    const h = req.headers['last-event-id'];
    const lastRaw = (Array.isArray(h) ? h[0] : h)?.trim();
    const lastEventId = lastRaw && /^\d{1,16}$/.test(lastRaw) ? Number(lastRaw) : undefined;
    const err = await deps.streams.serve(req, reply.raw, caller, p.app, p.env, lastEventId);
    if (err) throw err;
    return reply.hijack();
  });
}
