// The API's Prometheus metrics (GET /metrics, no token, like /healthz): process and Node defaults,
// gantry_build_info, HTTP request durations by route pattern (never the raw URL: one series per
// route, not per release name), webhook deliveries by source, event and outcome, and human decisions
// by action, channel and result (counted in GantryService.decide, where every channel's decisions
// pass). One registry per server, so tests may build many servers in one process.
//
// Labels: `app`/`environment` where a release is meant; never `namespace`, `job` or `instance`,
// which Prometheus's own target labels own (argo-rollouts#1866).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { GANTRY_VERSION } from '../runtime/version.js';

export { GANTRY_VERSION };

export type DeliverySource = 'github' | 'hook' | 'slack';
export type DeliveryOutcome = 'started' | 'duplicate' | 'ignored' | 'refused';
export type DecisionResultLabel = 'accepted' | 'refused';

/** The webhook routes and how each names its source and event. */
const DELIVERY_ROUTES: ReadonlyMap<string, { source: DeliverySource; event: (req: FastifyRequest) => string }> = new Map([
  ['/v1/webhooks/github', { source: 'github' as const, event: githubEvent }],
  ['/v1/triggers/push', { source: 'hook' as const, event: () => 'push' }],
  ['/v1/slack/commands', { source: 'slack' as const, event: () => 'command' }],
  ['/v1/slack/interactions', { source: 'slack' as const, event: () => 'interaction' }],
]);

/** GitHub events Gantry handles, by name; any other is counted as `other` (bounded label values). */
const GITHUB_EVENTS = new Set(['push', 'ping', 'issue_comment', 'commit_comment']);
function githubEvent(req: FastifyRequest): string {
  const h = req.headers['x-github-event'];
  const v = Array.isArray(h) ? h[0] : h;
  return v && GITHUB_EVENTS.has(v) ? v : 'other';
}

/** The outcome a handler recorded for its delivery (read when the response is sent). */
const marked = new WeakMap<FastifyRequest, DeliveryOutcome>();

/** Records what a webhook delivery did; without a mark the HTTP status decides (see outcomeOf). */
export function markDelivery(req: FastifyRequest, outcome: DeliveryOutcome): void {
  marked.set(req, outcome);
}

/** A delivery's outcome: what its handler marked, else 4xx/5xx refused, 202 ignored, other 2xx started. */
function outcomeOf(req: FastifyRequest, reply: FastifyReply): DeliveryOutcome {
  const m = marked.get(req);
  if (m) return m;
  if (reply.statusCode >= 400) return 'refused';
  return reply.statusCode === 202 ? 'ignored' : 'started';
}

/** A running release as the list reads it from the search attributes (api/service.ts list). */
export interface RunningRelease { app: string; environment: string; kind?: string; phase?: string; waitingOn?: string; canaryWeight?: number; waitingSince?: string }

export class ApiMetrics {
  readonly registry = new Registry();
  readonly deliveries: Counter<'source' | 'event' | 'outcome'>;
  readonly decisions: Counter<'action' | 'channel' | 'result'>;
  readonly requestDuration: Histogram<'method' | 'route' | 'status_code'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const info = new Gauge({ name: 'gantry_build_info', help: 'Always 1; the version of the Gantry API serving', labelNames: ['version', 'component'], registers: [this.registry] });
    info.set({ version: GANTRY_VERSION, component: 'api' }, 1);
    this.deliveries = new Counter({
      name: 'gantry_webhook_deliveries_total', help: 'Webhook and hook deliveries by source (github, hook, slack), event and outcome (started, duplicate, ignored, refused)',
      labelNames: ['source', 'event', 'outcome'], registers: [this.registry],
    });
    this.decisions = new Counter({
      name: 'gantry_decisions_total', help: 'Human decisions sent to releases, by action, channel and result (accepted, refused by the release)',
      labelNames: ['action', 'channel', 'result'], registers: [this.registry],
    });
    this.requestDuration = new Histogram({
      name: 'gantry_http_request_duration_seconds', help: 'API request durations by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
    });
  }

  /**
   * Release state gauges, computed at scrape time from one visibility list of the running releases
   * (their search attributes; `load`), cached for `ttlMs` so a scrape every few seconds costs one
   * List call per TTL: gantry_release_info{app,environment,kind,phase} = 1 and
   * gantry_release_waiting{app,environment,on} = 1 per running release (on: approval, timer, window,
   * resume), gantry_release_canary_weight{app,environment} (GantryWeight) and
   * gantry_release_waiting_seconds{app,environment,on} (now minus GantryWaitingSince, at each scrape),
   * and gantry_release_list_up (0 when the last list failed: the gauges are then empty, not stale). A
   * phase not known yet (a release started before the search attributes) is `unknown`.
   */
  watchReleases(load: () => Promise<RunningRelease[]>, ttlMs = 15_000): void {
    let cached: { at: number; ok: boolean; rows: RunningRelease[] } | undefined;
    let pending: Promise<{ ok: boolean; rows: RunningRelease[] }> | undefined;
    const current = async (): Promise<{ ok: boolean; rows: RunningRelease[] }> => {
      if (cached && Date.now() - cached.at < ttlMs) return cached;
      // Concurrent scrapes share one list call.
      pending ??= load().then((rows) => ({ ok: true, rows }), () => ({ ok: false, rows: [] as RunningRelease[] }))
        .then((r) => { cached = { at: Date.now(), ...r }; return r; })
        .finally(() => { pending = undefined; });
      return pending;
    };
    new Gauge({
      name: 'gantry_release_info', help: 'Always 1 for each running release: its app, environment, kind (release, rollback) and phase',
      labelNames: ['app', 'environment', 'kind', 'phase'], registers: [this.registry],
      async collect() {
        const { rows } = await current();
        this.reset();
        for (const r of rows) this.set({ app: r.app, environment: r.environment, kind: r.kind ?? 'release', phase: r.phase ?? 'unknown' }, 1);
      },
    });
    new Gauge({
      name: 'gantry_release_waiting', help: '1 for each running release that waits, by what it waits on (approval, timer, window, resume)',
      labelNames: ['app', 'environment', 'on'], registers: [this.registry],
      async collect() {
        const { rows } = await current();
        this.reset();
        for (const r of rows) if (r.waitingOn) this.set({ app: r.app, environment: r.environment, on: r.waitingOn }, 1);
      },
    });
    new Gauge({
      name: 'gantry_release_canary_weight', help: 'The new revision\'s planned share of the pods in percent, per running release (from the GantryWeight search attribute)',
      labelNames: ['app', 'environment'], registers: [this.registry],
      async collect() {
        const { rows } = await current();
        this.reset();
        for (const r of rows) if (typeof r.canaryWeight === 'number') this.set({ app: r.app, environment: r.environment }, r.canaryWeight);
      },
    });
    new Gauge({
      name: 'gantry_release_waiting_seconds', help: 'How long each waiting running release has waited, by what it waits on (from the GantryWaitingSince search attribute)',
      labelNames: ['app', 'environment', 'on'], registers: [this.registry],
      async collect() {
        const { rows } = await current();
        this.reset();
        const now = Date.now();
        for (const r of rows) {
          const since = r.waitingSince ? Date.parse(r.waitingSince) : Number.NaN;
          if (r.waitingOn && Number.isFinite(since)) this.set({ app: r.app, environment: r.environment, on: r.waitingOn }, Math.max(0, (now - since) / 1000));
        }
      },
    });
    new Gauge({
      name: 'gantry_release_list_up', help: '1 when the API could list the running releases from Temporal at the last scrape, else 0',
      registers: [this.registry],
      async collect() { this.set((await current()).ok ? 1 : 0); },
    });
  }

  decision(action: string, channel: string, result: DecisionResultLabel): void {
    this.decisions.inc({ action, channel, result });
  }

  /** Serves GET /metrics and times every request (by route pattern) and counts webhook deliveries. */
  register(app: FastifyInstance): void {
    app.addHook('onResponse', async (req, reply) => {
      // An unmatched URL is one series, not one per URL a scanner tried.
      const route = req.routeOptions.url ?? 'unmatched';
      this.requestDuration.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
      const d = DELIVERY_ROUTES.get(route);
      if (d && req.method === 'POST') this.deliveries.inc({ source: d.source, event: d.event(req), outcome: outcomeOf(req, reply) });
    });
    app.get('/metrics', async (_req, reply) => reply.type(this.registry.contentType).send(await this.registry.metrics()));
  }
}
