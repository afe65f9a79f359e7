// GET /healthz (liveness), GET /metrics (Prometheus, api/metrics.ts) and GET /readyz (Temporal reachable
// and its namespace there, runtime/readiness.ts): no token, for probes and in-cluster scrapers.
import type { FastifyInstance } from 'fastify';
import { temporalReadiness } from '../../runtime/readiness.js';
import { sendError } from '../errors.js';
import type { ApiMetrics } from '../metrics.js';
import type { IdentityTable } from '../auth.js';
import type { TriggerServerConfig } from '../server-config.js';
import type { RouteDeps } from './deps.js';

export interface HealthRouteDeps extends Pick<RouteDeps, 'service'> {
  metrics: ApiMetrics;
  /** What the server config holds, reported by /readyz (it was loaded before the server was built). */
  identities: IdentityTable;
  triggers?: TriggerServerConfig;
}

export function registerHealthRoutes(app: FastifyInstance, deps: HealthRouteDeps): void {
  const { service, metrics } = deps;
  app.get('/healthz', async () => ({ ok: true }));
  // Decisions are counted by the service.
  metrics.register(app);
  service.metrics = metrics;
  // Release state gauges at scrape time: one List of the running releases per 15 s (their search attributes).
  metrics.watchReleases(() => service.list(5000, { running: true }));
  // 503 when Temporal or the namespace is not there.
  app.get('/readyz', async (_req, reply) => {
    const temporal = await temporalReadiness(service.temporalPing());
    const serverConfig = { identities: deps.identities.size, repos: deps.triggers?.repos.size ?? 0, slack: !!deps.triggers?.slack };
    if (temporal.ok) return { ready: true, temporal, serverConfig };
    return sendError(reply, 503, { ready: false, error: 'unavailable', message: temporal.reason, hint: temporal.hint, temporal, serverConfig });
  });
}
