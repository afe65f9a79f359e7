// Readiness of a Gantry process (GET /readyz of the API, api/server.ts, and of the worker, worker/health.ts): can
// it reach Temporal, and does its namespace exist? One DescribeNamespace call with a short deadline:
// it goes through the same connection (TLS, mTLS, API key) the process uses for everything else, so
// a wrong address, a refused handshake, a missing namespace or a rejected key all make it unready,
// with the reason. Liveness (/healthz) never calls out: a Temporal outage must not restart the pods.
import { ServiceError } from '@temporalio/client';
import { cap, displayLine } from '../core/text.js';

/** What a readiness check needs of a Temporal client or native connection. */
export interface TemporalPing {
  /** The frontend's address, for the message (undefined when unknown). */
  address: string | undefined;
  namespace: string;
  /** DescribeNamespace(namespace), bounded by `deadline` (epoch ms). */
  describeNamespace(deadline: number): Promise<unknown>;
}

export type TemporalReadiness =
  | { ok: true; address?: string; namespace: string }
  | { ok: false; address?: string; namespace: string; reason: string; hint: string };

/** How long a probe waits for Temporal: under Kubernetes' default probe timeout budget. */
export const READINESS_TIMEOUT_MS = 3000;

/** gRPC status codes that say something specific (the rest: "not reachable"). */
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

function codeOf(err: unknown): number | undefined {
  const direct = (err as { code?: unknown } | undefined)?.code;
  if (typeof direct === 'number') return direct;
  const cause = err instanceof ServiceError ? (err.cause as { code?: unknown } | undefined)?.code : undefined;
  return typeof cause === 'number' ? cause : undefined;
}

export async function temporalReadiness(t: TemporalPing, timeoutMs = READINESS_TIMEOUT_MS): Promise<TemporalReadiness> {
  const where = t.address ? ` at ${t.address}` : '';
  const base = { ...(t.address ? { address: t.address } : {}), namespace: t.namespace };
  try {
    await t.describeNamespace(Date.now() + timeoutMs);
    return { ok: true, ...base };
  } catch (err) {
    const m = cap(displayLine(err instanceof Error ? err.message : String(err)), 300);
    switch (codeOf(err)) {
      case NOT_FOUND:
        return { ok: false, ...base, reason: `Temporal${where} answers, but its namespace ${t.namespace} does not exist`, hint: 'create the namespace (temporal operator namespace create) or set TEMPORAL_NAMESPACE to an existing one' };
      case PERMISSION_DENIED:
      case UNAUTHENTICATED:
        return { ok: false, ...base, reason: `Temporal${where} refuses this process's credentials for namespace ${t.namespace}: ${m}`, hint: 'check TEMPORAL_API_KEY (or the mTLS client certificate) and its rights on the namespace' };
      default:
        return { ok: false, ...base, reason: `Temporal is not reachable${where}: ${m}`, hint: 'check TEMPORAL_ADDRESS (and TLS settings) and that the Temporal frontend is reachable from this pod' };
    }
  }
}
