// Kubernetes API access for the cluster activities (@kubernetes/client-node 1.x: object-parameter
// methods that resolve to the body). One set of typed clients per kubeconfig context; every call
// has a timeout (and the activity's cancellation); server-side apply with Gantry's field manager;
// ApiException mapped to Temporal failures: 401/403 and 422 are non-retryable, 404/409 are handled
// by the callers, 429, 5xx and connection errors are transient (retried).
import fs from 'node:fs';
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
    return {
      context: kc.getCurrentContext(),
      kc,
      core: kc.makeApiClient(CoreV1Api),
      apps: kc.makeApiClient(AppsV1Api),
      discovery: kc.makeApiClient(DiscoveryV1Api),
      custom: kc.makeApiClient(CustomObjectsApi),
      opts: (o = {}) => requestOptions(timeoutMs, o.signal, o.contentType),
    };
  }
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
