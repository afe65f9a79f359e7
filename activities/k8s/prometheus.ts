// Analysis measurements from Prometheus: each check's PromQL instant query, once, as a raw number
// (the verdict is core/analysis.ts's). A query that returns nothing, several series, or fails is a
// measurement without a value (inconclusive), never an activity failure: a person decides then.
import type { CheckSpec, Measurement } from '../../core/analysis.js';
import { sleep } from './converge.js';

interface PromResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: 'vector' | 'scalar' | 'matrix' | 'string'; result: unknown };
}

/** One instant query: a number, null (no data), or an error text. */
export async function queryPrometheus(baseUrl: string, query: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<{ value?: number | null; error?: string }> {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  let res: Response;
  try {
    res = await fetch(url, { signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout, headers: { accept: 'application/json' } });
  } catch (err) {
    return { error: `Prometheus at ${baseUrl} did not answer: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}` };
  }
  let body: PromResponse;
  try { body = await res.json() as PromResponse; } catch { return { error: `Prometheus answered HTTP ${res.status} without JSON` }; }
  if (body.status !== 'success' || !body.data) return { error: `${body.errorType ?? `HTTP ${res.status}`}: ${body.error ?? 'query failed'}` };
  const { resultType, result } = body.data;
  if (resultType === 'scalar') return { value: Number((result as [number, string])[1]) };
  if (resultType === 'vector') {
    const v = result as { metric: Record<string, string>; value: [number, string] }[];
    if (v.length === 0) return { value: null };
    if (v.length > 1) return { error: `the query returned ${v.length} series; a check needs one number (aggregate it, e.g. sum(...) or max(...))` };
    return { value: Number(v[0]!.value[1]) };
  }
  return { error: `the query returned a ${resultType}; a check needs an instant vector or a scalar` };
}

/** Runs every check's query once (a transport failure is retried twice), in order. */
export async function measureChecks(baseUrl: string, checks: readonly CheckSpec[], opts: { signal?: AbortSignal; onProgress?: (check: string) => void } = {}): Promise<Measurement[]> {
  const out: Measurement[] = [];
  for (const [index, c] of checks.entries()) {
    opts.onProgress?.(c.name);
    let r = await queryPrometheus(baseUrl, c.query, opts);
    for (let attempt = 1; attempt < 3 && r.error?.includes('did not answer') && !opts.signal?.aborted; attempt++) {
      await sleep(500 * attempt, opts.signal);
      r = await queryPrometheus(baseUrl, c.query, opts);
    }
    out.push(r.error !== undefined ? { check: c.name, index, error: r.error } : r.value === null || r.value === undefined ? { check: c.name, index } : { check: c.name, index, value: r.value });
  }
  return out;
}
