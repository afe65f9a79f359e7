// The worker's health endpoint for Kubernetes probes (GANTRY_HEALTH_ADDR; unset: not served). The
// worker has no HTTP API, so this is a bare node:http server with two routes, no token, no body:
//   GET /healthz  200 while the process runs (liveness: a Temporal outage must not restart the pod)
//   GET /readyz   200 when every Temporal worker of the process is RUNNING and Temporal answers
//                 (DescribeNamespace through the worker's own connection: runtime/readiness.ts);
//                 503 with the reason otherwise (a worker not started yet, stopping or failed; Temporal
//                 unreachable; the namespace missing; credentials refused)
// Answers are JSON; everything else is 404/405.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NativeConnection, State, Worker } from '@temporalio/worker';
import type { ListenAddress } from '../runtime/config.js';
import { temporalReadiness, type TemporalPing, type TemporalReadiness } from '../runtime/readiness.js';

export interface HealthSource {
  /** Each Temporal worker of the process: its task queue and state (Worker.getState()). */
  workers(): { taskQueue: string; state: State }[];
  temporal: TemporalPing;
}

export interface HealthServer { url: string; close(): Promise<void> }

/** The worker's NativeConnection as a readiness check. */
export function nativePing(connection: NativeConnection, address: string, namespace: string): TemporalPing {
  return {
    address, namespace,
    describeNamespace: (deadline) => connection.withDeadline(deadline, () => connection.workflowService.describeNamespace({ namespace })),
  };
}

export interface Readiness {
  ready: boolean;
  workers: { taskQueue: string; state: State }[];
  temporal: TemporalReadiness;
  /** Why not ready (absent when ready). */
  reason?: string;
  hint?: string;
}

export async function readiness(src: HealthSource): Promise<Readiness> {
  const workers = src.workers();
  const notRunning = workers.filter((w) => w.state !== 'RUNNING');
  const temporal = await temporalReadiness(src.temporal);
  if (workers.length === 0) return { ready: false, workers, temporal, reason: 'no Temporal worker in this process yet', hint: 'the worker is starting: wait' };
  if (notRunning.length) {
    return {
      ready: false, workers, temporal,
      reason: `worker ${notRunning.map((w) => `${w.taskQueue} is ${w.state}`).join(', ')} (not RUNNING)`,
      hint: 'INITIALIZED: starting; STOPPING/DRAINING/STOPPED: shutting down; FAILED: see the worker log (the process exits and is restarted)',
    };
  }
  if (!temporal.ok) return { ready: false, workers, temporal, reason: temporal.reason, hint: temporal.hint };
  return { ready: true, workers, temporal };
}

function send(res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...extra });
  res.end(text);
}

export async function startHealthServer(listen: ListenAddress, src: HealthSource): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/readyz') return send(res, 404, { error: 'not_found', message: 'the worker serves only GET /healthz and GET /readyz' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method_not_allowed', message: `use GET on ${path}` }, { allow: 'GET, HEAD' });
    if (path === '/healthz') return send(res, 200, { ok: true });
    readiness(src).then(
      (r) => send(res, r.ready ? 200 : 503, r),
      (err: unknown) => send(res, 503, { ready: false, reason: `readiness check failed: ${err instanceof Error ? err.message : String(err)}` }),
    );
  });
  // Probes hold no connection open; a stuck client must not keep the process from exiting.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => { server.off('error', reject); resolve(); });
  });
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host;
  return {
    url: `http://${host}:${port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** The health source of a worker process: its Temporal workers (none until created) and its connection. */
export function workerHealthSource(connection: NativeConnection, temporal: { address: string; namespace: string }, workers: () => readonly Worker[]): HealthSource {
  return {
    workers: () => workers().map((w) => ({ taskQueue: w.options.taskQueue, state: w.getState() })),
    temporal: nativePing(connection, temporal.address, temporal.namespace),
  };
}
