// Analysis measurements from Prometheus: each check's PromQL instant query, once, as a raw number
// (the verdict is core/analysis.ts's). A query that returns nothing, several series, or fails is a
// measurement without a value (inconclusive), never an activity failure: a person decides then.
//
// Prometheus may sit behind credentials and TLS (runtime/config.ts: GANTRY_PROMETHEUS_TOKEN or
// _TOKEN_FILE for a bearer token, _USERNAME and _PASSWORD for basic auth, _CA_FILE for a private
// CA). Prometheus itself checks basic auth and TLS (--web.config.file); a bearer token is checked by
// the proxy in front of it (kube-rbac-proxy, oauth2-proxy, a cloud's managed Prometheus). Requests go
// through activities/https.ts (fetch with a dispatcher trusting the CA).
//
// Refused credentials (401/403) and an untrusted certificate are typed, non-retryable failures
// (PrometheusUnauthorized, PrometheusUntrusted in workflows/failures.ts) naming the URL and the
// setting to fix, never the secret. measureChecks turns them into inconclusive measurements of every
// check, the way a Prometheus that is not configured or does not answer is: a release then waits for
// a person with the reason in its status, rather than rolling back a canary no one could measure.
import fs from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import type { CheckSpec, Measurement } from '../../core/analysis.js';
import { fail, FailureType } from '../../workflows/failures.js';
import { httpsFetch, isAbort, requestFailureText, untrustedCertificate } from '../https.js';
import { sleep } from './converge.js';

/**
 * How the worker authenticates to Prometheus. Secrets are read when a query is made, through
 * functions (a printed or logged option object does not carry them); `setting` names where they come
 * from, for messages.
 */
export type PrometheusAuth =
  | { kind: 'bearer'; setting: string; token: () => string }
  | { kind: 'basic'; setting: string; username: string; password: () => string };

export interface PrometheusClientOptions {
  /** The base URL, e.g. https://prometheus.monitoring:9090 (a path prefix is kept). */
  url: string;
  auth?: PrometheusAuth;
  /** A CA certificate (PEM file) for an https URL, in addition to the system's CAs. */
  caFile?: string;
}

interface PromResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: { resultType: 'vector' | 'scalar' | 'matrix' | 'string'; result: unknown };
}

const MAX_BODY = 16 << 20;

/** The answer's text; larger than MAX_BODY is an error (a query for a huge range, or not Prometheus). */
async function readBody(res: Response): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    size += c.length;
    if (size > MAX_BODY) { await res.body?.cancel(); throw new Error(`the answer is larger than ${MAX_BODY >> 20} MiB`); }
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function authHeader(auth: PrometheusAuth): string {
  switch (auth.kind) {
    case 'bearer': return `Bearer ${auth.token()}`;
    case 'basic': return `Basic ${Buffer.from(`${auth.username}:${auth.password()}`, 'utf8').toString('base64')}`;
    default: { const never: never = auth; throw new Error(`unknown Prometheus auth ${JSON.stringify(never)}`); }
  }
}

const noCredentials = 'none is set: set GANTRY_PROMETHEUS_TOKEN (or _TOKEN_FILE), or GANTRY_PROMETHEUS_USERNAME and GANTRY_PROMETHEUS_PASSWORD';

/**
 * One instant query: a number, null (no data), or an error text. Throws PrometheusUnauthorized
 * (401/403) and PrometheusUntrusted (a certificate the worker does not trust): retrying cannot help.
 */
export async function queryPrometheus(target: string | PrometheusClientOptions, query: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<{ value?: number | null; error?: string }> {
  const t: PrometheusClientOptions = typeof target === 'string' ? { url: target } : target;
  const base = t.url.replace(/\/+$/, '');
  const url = new URL(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { accept: 'application/json' };
  let ca: string | undefined;
  try {
    if (t.auth) headers.authorization = authHeader(t.auth);
    if (t.caFile) ca = fs.readFileSync(t.caFile, 'utf8');
  } catch (err) {
    // A token file or CA that cannot be read now (checked at start; a Secret may have been rotated away).
    return { error: `Prometheus at ${base}: ${err instanceof Error ? err.message : String(err)}` };
  }
  let res: { status: number; body: string };
  try {
    const r = await httpsFetch(url, { headers, timeoutMs, redirect: 'manual', ...(opts.signal ? { signal: opts.signal } : {}), ...(ca ? { ca } : {}) });
    res = { status: r.status, body: await readBody(r) };
  } catch (err) {
    const cert = untrustedCertificate(err);
    if (cert) {
      throw fail(FailureType.PrometheusUntrusted, `Prometheus at ${base} presented a certificate the worker does not trust (${cert.problem}): ${t.caFile ? `check GANTRY_PROMETHEUS_CA_FILE (${t.caFile}): it is not the CA that signed it` : 'set GANTRY_PROMETHEUS_CA_FILE to the CA that signed it'}`);
    }
    const why = isAbort(err) || opts.signal?.aborted ? `no answer within ${timeoutMs / 1000} s` : requestFailureText(err);
    return { error: `Prometheus at ${base} did not answer: ${why}` };
  }
  if (res.status === 401 || res.status === 403) {
    throw fail(FailureType.PrometheusUnauthorized, `Prometheus at ${base} refused the worker's credentials (HTTP ${res.status}): check ${t.auth ? t.auth.setting : noCredentials}`, { details: { status: res.status } });
  }
  let body: PromResponse;
  try { body = JSON.parse(res.body) as PromResponse; } catch { return { error: `Prometheus answered HTTP ${res.status} without JSON` }; }
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

function isAccessFailure(err: unknown): err is ApplicationFailure {
  return err instanceof ApplicationFailure && (err.type === FailureType.PrometheusUnauthorized || err.type === FailureType.PrometheusUntrusted);
}

/**
 * Runs every check's query once (a transport failure is retried twice), in order. Refused
 * credentials or an untrusted certificate make every check inconclusive with that reason (the next
 * query would get the same answer), so the release waits for a person instead of failing.
 */
export async function measureChecks(target: string | PrometheusClientOptions, checks: readonly CheckSpec[], opts: { signal?: AbortSignal; onProgress?: (check: string) => void } = {}): Promise<Measurement[]> {
  const out: Measurement[] = [];
  for (const [index, c] of checks.entries()) {
    opts.onProgress?.(c.name);
    let r: { value?: number | null; error?: string };
    try {
      r = await queryPrometheus(target, c.query, opts);
      for (let attempt = 1; attempt < 3 && r.error?.includes('did not answer') && !opts.signal?.aborted; attempt++) {
        await sleep(500 * attempt, opts.signal);
        r = await queryPrometheus(target, c.query, opts);
      }
    } catch (err) {
      if (!isAccessFailure(err)) throw err;
      const error = `${err.type}: ${err.message}`;
      return checks.map((x, i) => ({ check: x.name, index: i, error }));
    }
    out.push(r.error !== undefined ? { check: c.name, index, error: r.error } : r.value === null || r.value === undefined ? { check: c.name, index } : { check: c.name, index, value: r.value });
  }
  return out;
}
