// Test bed, Kubernetes part: a minimal API client for the LOCAL cluster (Node https with the admin
// client certificate), health probes, and kubectl (argv only) for what kubectl does best.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { run, type RunResult } from '../proc.js';
import { apiserverUrl, bin, kubeconfigPath } from './config.js';
import { pki } from './pki.js';

export interface ApiResponse<T = unknown> { status: number; body: T; text: string }

/** One request to the local kube-apiserver as the admin user (mTLS with the test bed's own CA). */
export function api<T = unknown>(method: string, urlPath: string, body?: unknown, timeoutMs = 15_000,
  contentType = 'application/json'): Promise<ApiResponse<T>> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const url = new URL(urlPath, apiserverUrl);
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method,
      ca: fs.readFileSync(pki.caCrt),
      cert: fs.readFileSync(pki.adminCrt),
      key: fs.readFileSync(pki.adminKey),
      headers: {
        accept: 'application/json',
        ...(payload ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}),
      },
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* plain text, e.g. /readyz */ }
        resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.href}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** GET expecting 2xx; throws with the API's message otherwise. */
export async function getJson<T = unknown>(urlPath: string): Promise<T> {
  const r = await api<T>('GET', urlPath);
  if (r.status < 200 || r.status >= 300) throw new Error(`GET ${urlPath}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return r.body;
}

/** POST that treats 409 AlreadyExists as success (idempotent create). */
export async function createIfAbsent(urlPath: string, obj: unknown): Promise<'created' | 'exists'> {
  const r = await api('POST', urlPath, obj);
  if (r.status === 409) return 'exists';
  if (r.status < 200 || r.status >= 300) throw new Error(`POST ${urlPath}: HTTP ${r.status} ${r.text.slice(0, 500)}`);
  return 'created';
}

/** Server-side apply of one object (JSON is valid apply-patch YAML); idempotent, owned by field manager gantry-testbed. */
export async function applyObject(urlPath: string, obj: unknown): Promise<void> {
  const r = await api('PATCH', `${urlPath}?fieldManager=gantry-testbed&force=true`, obj, 15_000, 'application/apply-patch+yaml');
  if (r.status < 200 || r.status >= 300) throw new Error(`apply ${urlPath}: HTTP ${r.status} ${r.text.slice(0, 500)}`);
}

/** True when the local apiserver's /readyz answers 200 "ok" to the admin certificate. */
export async function apiserverReady(): Promise<boolean> {
  if (!fs.existsSync(pki.adminCrt)) return false;
  try {
    const r = await api('GET', '/readyz', undefined, 5_000);
    return r.status === 200 && r.text.trim() === 'ok';
  } catch { return false; }
}

/**
 * Plain health probe: GET url, 200 expected. For the controller-manager's and scheduler's /healthz
 * (self-signed serving certs, anonymous access allowed by --authorization-always-allow-paths), the
 * server certificate is not verified; these are loopback-only health checks.
 */
export function probe(url: string, opts: { timeoutMs?: number; expect?: (body: string) => boolean } = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(u, { method: 'GET', timeout: opts.timeoutMs ?? 3_000, ...(u.protocol === 'https:' ? { rejectUnauthorized: false } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve(res.statusCode === 200 && (opts.expect ? opts.expect(body) : true));
      });
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** kubectl against the local test-bed cluster (explicit --kubeconfig, so a user KUBECONFIG never interferes). */
export function kubectl(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return run([bin.kubectl, '--kubeconfig', kubeconfigPath, ...args], { timeoutMs });
}

export interface Condition { type: string; status: string; reason?: string }
export interface ObjectMeta {
  name: string; namespace?: string; uid?: string; labels?: Record<string, string>; deletionTimestamp?: string;
}
export interface List<T> { items: T[] }
export interface NodeObject {
  metadata: ObjectMeta; spec?: { taints?: { key: string; effect: string }[] }; status?: { conditions?: Condition[] };
}
export interface ContainerStatus {
  name: string; ready: boolean; restartCount?: number;
  state?: { waiting?: { reason?: string }; running?: unknown; terminated?: unknown };
}
export interface PodObject {
  metadata: ObjectMeta;
  spec?: { nodeName?: string };
  status?: { phase?: string; podIP?: string; conditions?: Condition[]; containerStatuses?: ContainerStatus[] };
}
export interface EndpointSliceObject {
  metadata: ObjectMeta;
  endpoints?: { addresses: string[]; nodeName?: string; zone?: string; conditions?: { ready?: boolean } }[];
}
export function conditionTrue(obj: { status?: { conditions?: Condition[] } } | undefined, type: string): boolean {
  return !!obj?.status?.conditions?.some((c) => c.type === type && c.status === 'True');
}
