// Traffic routers: the one narrow interface the cluster activities shift weight through (like
// Flagger's router.Interface or Argo Rollouts' TrafficRoutingReconciler). Implemented here for the
// Gateway API HTTPRoute; NGINX Ingress (canary-weight annotation) or an Istio VirtualService would
// be another implementation of the same two methods, chosen in routerFor().
//
// Without a router, traffic follows the replica ratio: the app's main Service selects every
// serving pod of both revisions.
import {
  Labels, SERVICE_PORT, newRouteRules, routeCanaryWeight, withCanaryWeight,
  type ResourceNames, type RouteBackends, type RouteRule,
} from '../../core/rollout.js';
import { fail, FailureType } from '../../workflows/failures.js';
import { applyObject, call, isConflict, mergePatch, readOrUndefined, resourcePath, type Kube } from './client.js';

export interface TrafficRouter {
  /** e.g. 'gateway-api' */
  readonly type: string;
  /** What it steers, for messages: e.g. 'HTTPRoute shop/shop'. */
  readonly description: string;
  /** The canary's current share of traffic in percent; undefined when the route does not carry the app yet. */
  canaryWeight(signal?: AbortSignal): Promise<number | undefined>;
  /** Gives the canary `percent` of the traffic and the stable the rest. Idempotent. */
  setCanaryWeight(percent: number, signal?: AbortSignal): Promise<void>;
}

export interface RouterConfig { httpRoute?: { name: string; namespace: string } }

/** The router a cell's settings ask for, or undefined (traffic follows the replica ratio). */
export function routerFor(kube: Kube, config: RouterConfig, names: ResourceNames, serviceNamespace: string, app: string): TrafficRouter | undefined {
  if (config.httpRoute) return new HttpRouteRouter(kube, config.httpRoute.name, config.httpRoute.namespace, names, serviceNamespace, app);
  return undefined;
}

interface HttpRoute {
  apiVersion?: string; kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: { parentRefs?: unknown[]; hostnames?: string[]; rules?: RouteRule[] };
}

const GROUP = 'gateway.networking.k8s.io';
const VERSION = 'v1';
const PLURAL = 'httproutes';

/**
 * Gateway API HTTPRoute: the weights of the backendRefs to the app's stable and canary Services, in
 * every rule that routes to them. A missing route is created (rules only, no parentRefs: attach it
 * to a Gateway yourself); an existing one keeps its other rules, matches, filters and backends.
 * Updates are optimistic (resourceVersion precondition, re-read on conflict).
 */
export class HttpRouteRouter implements TrafficRouter {
  readonly type = 'gateway-api';
  readonly description: string;
  private readonly backends: RouteBackends;
  private readonly path: string;

  constructor(private readonly kube: Kube, private readonly name: string, private readonly namespace: string,
    names: ResourceNames, serviceNamespace: string, private readonly app: string) {
    this.description = `HTTPRoute ${namespace}/${name}`;
    this.path = resourcePath({ group: GROUP, version: VERSION, namespace, resource: PLURAL, name });
    this.backends = { stable: names.stable, canary: names.canary, port: SERVICE_PORT, ...(serviceNamespace !== namespace ? { namespace: serviceNamespace } : {}) };
  }

  private read(signal?: AbortSignal): Promise<HttpRoute | undefined> {
    return readOrUndefined(`read ${this.description}`, () => this.kube.getJson<HttpRoute>(this.path, { ...(signal ? { signal } : {}) }));
  }

  async canaryWeight(signal?: AbortSignal): Promise<number | undefined> {
    const r = await this.read(signal);
    return r ? routeCanaryWeight(r.spec?.rules ?? [], this.backends) : undefined;
  }

  async setCanaryWeight(percent: number, signal?: AbortSignal): Promise<void> {
    const p = Math.max(0, Math.min(100, Math.round(percent)));
    for (let attempt = 1; ; attempt++) {
      const route = await this.read(signal);
      if (!route) {
        const body: HttpRoute = {
          apiVersion: `${GROUP}/${VERSION}`, kind: 'HTTPRoute',
          metadata: { name: this.name, namespace: this.namespace, labels: { [Labels.app]: this.app, [Labels.managedBy]: 'gantry' } },
          spec: { rules: newRouteRules(this.backends, p) },
        };
        await call(`create ${this.description}`, () => applyObject(this.kube, this.path, body, signal));
        return;
      }
      const rules = route.spec?.rules ?? [];
      const next = withCanaryWeight(rules, this.backends, p);
      if (next && JSON.stringify(next) === JSON.stringify(rules)) return;
      if (!next) {
        throw fail(FailureType.InvalidTarget, `${this.description} has no rule with a backendRef to Service ${this.backends.stable} or ${this.backends.canary}; add one (e.g. backendRefs: [{ name: ${this.backends.stable}, port: ${SERVICE_PORT} }])`);
      }
      try {
        await mergePatch(this.kube, this.path, { metadata: { resourceVersion: route.metadata?.resourceVersion }, spec: { rules: next } }, signal);
        return;
      } catch (err) {
        if (isConflict(err) && attempt < 5) continue; // changed meanwhile: re-read and recompute
        await call(`update ${this.description}`, () => Promise.reject(err));
      }
    }
  }
}
