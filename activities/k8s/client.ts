// Kubernetes API access for the cluster activities (@kubernetes/client-node 1.x: object-parameter
// methods that resolve to the body). One set of typed clients per kubeconfig context; every call
// has a timeout (and the activity's cancellation); server-side apply with Gantry's field manager;
// ApiException mapped to Temporal failures: 401/403 and 422 are non-retryable, 404/409 are handled
// by the callers, 429, 5xx and connection errors are transient (retried).
//
// The activities' own requests skip the typed clients: getJson and send are plain requests over one
// keep-alive agent per context, parsed with JSON.parse (~2 ms a call on the test bed against 8-15 ms
// through client-node, which builds a new agent, so a new TLS connection, per request and
// deserializes into its model classes). The typed clients stay for tests and tools.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import {
  ApiException, AppsV1Api, CoreV1Api, CustomObjectsApi, DiscoveryV1Api, KubeConfig, Observable, PatchStrategy,
  type ConfigurationOptions,
} from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { FIELD_MANAGER } from '../../core/rollout.js';
import { fail, FailureType } from '../../workflows/failures.js';

export interface KubeOptions {
  /** Path of the kubeconfig; default: KUBECONFIG or ~/.kube/config (the client library's default). */
  kubeconfig?: string;
  /**
   * Use the pod's service account (the client library's loadFromCluster: KUBERNETES_SERVICE_HOST/_PORT,
   * the mounted token, which it re-reads as the kubelet rotates it, and CA). `pathPrefix` goes before
   * /var/run/secrets/... (tests); activities/k8s/choose.ts decides when.
   */
  inCluster?: { pathPrefix?: string };
  /** Context for cells that name none; default: the kubeconfig's current context. */
  context?: string;
  /** Per-request timeout (ms); default 10 s. */
  requestTimeoutMs?: number;
}

/** The typed clients of one kubeconfig context. */
export interface Kube {
  context: string;
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  discovery: DiscoveryV1Api;
  custom: CustomObjectsApi;
  /** Call options: timeout (+ optional cancellation), and a Content-Type for patches. */
  opts(o?: { contentType?: string; signal?: AbortSignal }): ConfigurationOptions;
  /**
   * GET of an API path (see resourcePath), the body parsed as JSON: the API's wire form, so Wire<V1Pod>
   * rather than V1Pod. Same timeout and cancellation as opts(); a non-2xx answer throws the ApiException
   * the typed clients throw, so call()/readOrUndefined() map it the same way.
   */
  getJson<T>(path: string, o?: GetOptions): Promise<T>;
  /**
   * A write over the same agent: PATCH with `body` as JSON and its Content-Type (ContentType.apply or
   * .merge), DELETE. Answered with the API's JSON; errors as getJson's. Never retried here (the
   * activities' converge loop retries what is transient).
   */
  send<T = unknown>(method: 'PATCH' | 'DELETE', path: string, o?: SendOptions): Promise<T>;
}

export interface GetOptions {
  /** Query parameters (URL-encoded here): labelSelector, fieldSelector, fieldManager, ... Undefined ones are left out. */
  query?: Record<string, string | undefined>;
  signal?: AbortSignal;
}

export interface SendOptions extends GetOptions {
  body?: unknown;
  contentType?: string;
}

/** An API object as JSON carries it: client-node's model types with their Date fields as the RFC 3339 strings they are. */
export type Wire<T> = T extends Date ? string
  : T extends readonly (infer U)[] ? Wire<U>[]
    : T extends object ? { [K in keyof T]: Wire<T[K]> }
      : T;

/** The path of a namespaced collection, or of one object in it ('' is the core group); segments URL-encoded. */
export function resourcePath(r: { group: string; version: string; resource: string; namespace: string; name?: string }): string {
  const e = encodeURIComponent;
  return `${r.group ? `/apis/${e(r.group)}` : '/api'}/${e(r.version)}/namespaces/${e(r.namespace)}/${e(r.resource)}${r.name !== undefined ? `/${e(r.name)}` : ''}`;
}

export const ContentType = {
  apply: PatchStrategy.ServerSideApply,
  merge: PatchStrategy.MergePatch,
} as const;

export class KubeClients {
  private readonly byContext = new Map<string, Kube>();
  constructor(private readonly options: KubeOptions = {}) {}

  /** The clients for a context (the cell's, else the default one). */
  for(context?: string): Kube {
    const key = context ?? this.options.context ?? '';
    let k = this.byContext.get(key);
    if (!k) {
      k = this.make(key || undefined);
      this.byContext.set(key, k);
    }
    return k;
  }

  private make(context?: string): Kube {
    const kc = new KubeConfig();
    const file = this.options.kubeconfig;
    if (this.options.inCluster && !file) kc.loadFromCluster(this.options.inCluster.pathPrefix ?? '');
    else if (file) {
      if (!fs.existsSync(file)) throw fail(FailureType.InvalidTarget, `kubeconfig ${file} does not exist`);
      kc.loadFromFile(file);
    } else kc.loadFromDefault();
    if (context) {
      if (!kc.getContextObject(context)) {
        throw fail(FailureType.InvalidTarget, `kubeconfig ${file ?? '(default)'} has no context '${context}' (it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
      }
      kc.setCurrentContext(context);
    }
    if (!kc.getCurrentCluster()) throw fail(FailureType.InvalidTarget, `kubeconfig ${file ?? '(default)'}: no current cluster`);
    const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
    const requester = new JsonRequester(kc, timeoutMs);
    return {
      context: kc.getCurrentContext(),
      kc,
      core: kc.makeApiClient(CoreV1Api),
      apps: kc.makeApiClient(AppsV1Api),
      discovery: kc.makeApiClient(DiscoveryV1Api),
      custom: kc.makeApiClient(CustomObjectsApi),
      opts: (o = {}) => requestOptions(timeoutMs, o.signal, o.contentType),
      getJson: (path, o) => requester.request('GET', path, o),
      send: (method, path, o) => requester.request(method, path, o),
    };
  }
}

/**
 * Requests over one keep-alive agent. The credentials come from the KubeConfig on every request, as
 * client-node does (applyToHTTPSOptions): a bearer token it re-reads (the in-cluster token file the
 * kubelet rotates, an exec plugin's cached credential) is picked up, and TLS material that changes (an
 * exec plugin's client certificate) is part of the agent's connection key (Node pools sockets by ca,
 * cert, key, servername, ...), so it gets new connections. Behind a cluster proxyUrl, the proxy agent
 * client-node builds per request is used instead (no reuse, as before).
 */
class JsonRequester {
  private readonly server: URL;
  private readonly agent: http.Agent;
  private readonly basePath: string;

  constructor(private readonly kc: KubeConfig, private readonly timeoutMs: number) {
    this.server = new URL(kc.getCurrentCluster()!.server);
    this.basePath = this.server.pathname.replace(/\/+$/, '');
    // Idle sockets close after 30 s, before the API server's own idle timeout (90 s) can race a reuse.
    const agentOptions = { keepAlive: true, timeout: 30_000, scheduling: 'lifo' as const };
    this.agent = this.server.protocol === 'http:' ? new http.Agent(agentOptions) : new https.Agent(agentOptions);
  }

  async request<T>(method: 'GET' | 'PATCH' | 'DELETE', path: string, o: SendOptions = {}): Promise<T> {
    const auth: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(auth);
    const proxied = !!this.kc.getCurrentCluster()?.proxyUrl;
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) query.set(k, v);
    const q = query.toString();
    const req: https.RequestOptions = {
      ...auth,
      agent: proxied ? auth.agent : this.agent,
      protocol: this.server.protocol,
      hostname: this.server.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: this.server.port || undefined,
      path: `${this.basePath}${path}${q ? `?${q}` : ''}`,
      method,
      headers: { ...auth.headers, Accept: 'application/json', ...(o.contentType ? { 'Content-Type': o.contentType } : {}) },
    };
    const body = o.body === undefined ? undefined : JSON.stringify(o.body);
    // One deadline for the request and its one retry. A timer and a listener rather than
    // AbortSignal.timeout/any: those cost more than the rest of a local request.
    const deadline = Date.now() + this.timeoutMs;
    try {
      return await this.once<T>(req, body, deadline, o.signal);
    } catch (err) {
      // A kept-alive socket the server closed just as it was reused: a GET is safe to send again, once.
      if (method === 'GET' && (err as { reused?: boolean }).reused && !o.signal?.aborted && Date.now() < deadline) return this.once<T>(req, body, deadline, o.signal);
      throw err;
    }
  }

  private once<T>(options: https.RequestOptions, body: string | undefined, deadline: number, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // node-fetch's error, which the typed clients surface and isTransient/apiMessage know.
      const aborted = (cause: unknown) => Object.assign(new Error('The operation was aborted.'), { name: 'AbortError', cause });
      if (signal?.aborted) { reject(aborted(signal.reason)); return; }
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        f();
      };
      const stop = (cause: unknown) => { settle(() => reject(aborted(cause))); req.destroy(); };
      const onAbort = () => stop(signal?.reason);
      const mod = options.protocol === 'http:' ? http : https;
      const req = mod.request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => settle(() => reject(ownError(err))));
        res.on('close', () => settle(() => reject(Object.assign(new Error('socket hang up (the answer was cut short)'), { code: 'ECONNRESET' }))));
        res.on('end', () => settle(() => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code < 200 || code > 299) {
            reject(new ApiException<string>(code, `${options.method} ${options.path}`, text, headersOf(res.headers)));
            return;
          }
          try { resolve(JSON.parse(text) as T); } catch { reject(new Error(`${options.method} ${options.path}: the API server answered HTTP ${code} with a body that is not JSON: ${text.slice(0, 200)}`)); }
        }));
      });
      const timer = setTimeout(() => stop(new Error(`no answer within ${this.timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => settle(() => reject(Object.assign(ownError(err), req.reusedSocket ? { reused: true } : {}))));
      req.end(body);
    });
  }
}

/**
 * A socket error as an Error of this module's realm, with its code, errno and syscall: Node's own
 * errors are not `instanceof Error` inside a vm context (jest's), and isTransient/apiMessage test that.
 */
function ownError(err: Error & { code?: string; errno?: number; syscall?: string }): Error {
  const { code, errno, syscall } = err;
  return Object.assign(new Error(err.message, { cause: err }), {
    ...(code !== undefined ? { code } : {}), ...(errno !== undefined ? { errno } : {}), ...(syscall !== undefined ? { syscall } : {}),
  });
}

function headersOf(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** Middleware that bounds each request (and ties it to the activity's cancellation) and sets a Content-Type. */
function requestOptions(timeoutMs: number, signal?: AbortSignal, contentType?: string): ConfigurationOptions {
  return {
    middleware: [{
      pre: (ctx) => {
        const timeout = AbortSignal.timeout(timeoutMs);
        ctx.setSignal(signal ? AbortSignal.any([signal, timeout]) : timeout);
        if (contentType) ctx.setHeaderParam('Content-Type', contentType);
        return new Observable(Promise.resolve(ctx));
      },
      post: (res) => new Observable(Promise.resolve(res)),
    }],
    middlewareMergeStrategy: 'append',
  };
}

export { FIELD_MANAGER };

/** Server-side apply of an object at its path, as Gantry's field manager, conflicts forced (Gantry owns these fields). */
export function applyObject<T = unknown>(kube: Kube, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return kube.send<T>('PATCH', path, { body, contentType: ContentType.apply, query: { fieldManager: FIELD_MANAGER, force: 'true' }, ...(signal ? { signal } : {}) });
}

/** A JSON merge patch (RFC 7386) as Gantry's field manager. */
export function mergePatch<T = unknown>(kube: Kube, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return kube.send<T>('PATCH', path, { body, contentType: ContentType.merge, query: { fieldManager: FIELD_MANAGER }, ...(signal ? { signal } : {}) });
}

// ---------------------------------------------------------------------------------------------
// Errors

export function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export const isNotFound = (err: unknown) => statusCode(err) === 404;
export const isConflict = (err: unknown) => statusCode(err) === 409;

/** The body of an API error: its Status object when it is one (parsed), else the text. */
function errorBody(err: ApiException<unknown>): unknown {
  const body: unknown = err.body;
  if (typeof body !== 'string') return body;
  try { return JSON.parse(body) as unknown; } catch { return body; }
}

/** The API server's own message (its Status object), else the error's. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body = errorBody(err);
    const m = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : typeof body === 'string' && body ? body.slice(0, 300) : undefined;
    return `HTTP ${err.code}${m ? `: ${m}` : ''}`;
  }
  if (err instanceof Error) return `${err.name === 'AbortError' ? 'request timed out or was cancelled' : err.message}`;
  return String(err);
}

/** Errors a retry can fix: no answer (connection refused/reset, timeout), 429, 5xx. */
export function isTransient(err: unknown): boolean {
  const code = statusCode(err);
  if (code !== undefined) return code === 429 || code >= 500;
  if (err instanceof ApplicationFailure) return err.type === FailureType.ClusterUnavailable;
  if (err instanceof Error) {
    const e = err as Error & { code?: string; type?: string; errno?: string };
    return e.name === 'AbortError' || e.name === 'FetchError' || e.name === 'TimeoutError' || e.type === 'system'
      || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|socket hang up|network|aborted/i.test(`${e.code ?? ''} ${e.message}`);
  }
  return false;
}

/** An authorization denial: who may not do what to which resource, where. */
export interface Denial {
  /** The user the API server authenticated, e.g. system:serviceaccount:gantry:gantry-release-worker. */
  user: string;
  /** The RBAC verb denied: get, list, watch, create, patch, delete, ... */
  verb: string;
  /** The resource, with its subresource if any (deployments/scale). */
  resource: string;
  /** The API group ('' is the core group). */
  group: string;
  /** The namespace the request was authorized in; undefined at the cluster scope. */
  namespace?: string;
  /** The object's name, when the request named one. */
  name?: string;
}

// The authorizer's sentence in a Forbidden Status (k8s.io/apiserver endpoints/handlers/responsewriters
// forbiddenMessage), also for the `create` a server-side apply needs when it creates the object.
const DENIED = /User "((?:[^"\\]|\\.)*)" cannot (\S+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]*)"| at the cluster scope)?/;

/**
 * The denial in a 403 Status: the user, verb, resource (with subresource), group and namespace from
 * the authorizer's message, the object's name from the Status details. Undefined when the 403 is not
 * an authorization denial (an exceeded quota, a namespace being deleted, another authorizer's text).
 */
export function denial(err: unknown): Denial | undefined {
  if (!(err instanceof ApiException) || err.code !== 403) return undefined;
  const body = errorBody(err);
  if (!body || typeof body !== 'object') return undefined;
  const status = body as { message?: unknown; details?: { name?: unknown } };
  const m = typeof status.message === 'string' ? DENIED.exec(status.message) : null;
  if (!m) return undefined;
  const [, user, verb, resource, group, namespace] = m;
  const name = status.details?.name;
  return {
    user: user!, verb: verb!, resource: resource!, group: group!,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(typeof name === 'string' && name ? { name } : {}),
  };
}

/**
 * e.g. `User "system:serviceaccount:gantry:gantry-release-worker" may not create deployments (API group
 * "apps") in namespace "shop"`. A Namespace is authorized in itself: `may not create namespaces "shop"`.
 */
export function describeDenial(d: Denial): string {
  const what = `${d.resource}${d.group ? ` (API group "${d.group}")` : ''}`;
  const where = d.resource === 'namespaces' && d.name !== undefined && d.namespace === d.name ? `"${d.name}"`
    : d.namespace !== undefined ? `in namespace "${d.namespace}"` : 'at the cluster scope';
  return `User "${d.user}" may not ${d.verb} ${what} ${where}`;
}

/**
 * Maps an API error to a Temporal failure: 401/403 Forbidden and 422 InvalidSpec (non-retryable;
 * the message says what and why; an RBAC denial names the user, verb, resource and namespace), 404
 * InvalidTarget (non-retryable: what the release needs is gone), transient ones ClusterUnavailable
 * (retryable); anything else is rethrown as is.
 */
export function toFailure(err: unknown, what: string): unknown {
  if (err instanceof ApplicationFailure) return err;
  const code = statusCode(err);
  const msg = `${what}: ${apiMessage(err)}`;
  if (code === 403 && /being terminated/.test(msg)) return fail(FailureType.InvalidTarget, `${msg} (the namespace is being deleted)`);
  if (code === 403) {
    const d = denial(err);
    if (d) return fail(FailureType.Forbidden, `${what}: HTTP 403: ${describeDenial(d)}: grant it as deploy/rbac/ does (check the kubeconfig's user and its RBAC permissions)`);
  }
  if (code === 401 || code === 403) return fail(FailureType.Forbidden, `${msg} (check the kubeconfig's user and its RBAC permissions)`);
  if (code === 422) return fail(FailureType.InvalidSpec, msg);
  if (code === 404) return fail(FailureType.InvalidTarget, msg);
  if (isTransient(err)) return fail(FailureType.ClusterUnavailable, msg);
  return err;
}

/** Runs an API call; maps its error (see toFailure). */
export async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFailure(err, what);
  }
}

/** Reads an object; undefined when it does not exist. */
export async function readOrUndefined<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw toFailure(err, what);
  }
}
