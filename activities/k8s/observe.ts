// Observing a target: its cells grouped into sites (a kubeconfig context and a namespace), and per
// site the workloads, pods, EndpointSlices, Services, the router's weight and the revision record,
// turned into the pure views core/rollout.ts decides on.
import type {
  V1ConfigMap, V1Deployment, V1DeploymentList, V1EndpointSlice, V1EndpointSliceList, V1Pod, V1PodList, V1Service, V1ServiceList,
} from '@kubernetes/client-node';
import { durationMs } from '../../core/duration.js';
import {
  Annotations, DEFAULT_DRAIN_GRACE, Labels, labelSelector, resourceNames, selectorLabels,
  type CellView, type PodView, type ResourceNames, type RolloutView, type SiteView, type WorkloadView,
} from '../../core/rollout.js';
import type { CellTarget, Target } from '../../workflows/activity-types.js';
import { call, readOrUndefined, resourcePath, type Kube, type KubeClients, type Wire } from './client.js';
import { parseRecord, type RecordData } from './render.js';
import { routerFor, type TrafficRouter } from './traffic.js';

export interface Site {
  key: string;
  context?: string;
  namespace: string;
  kube: Kube;
  cells: CellTarget[];
  router?: TrafficRouter;
}

export interface Scope {
  target: Target;
  names: ResourceNames;
  sites: Site[];
  /** The cell by name, and its site. */
  cell(name: string): { cell: CellTarget; site: Site };
  site(key: string): Site;
}

export function siteKey(c: { context?: string; namespace: string }): string {
  return `${c.context ?? ''}/${c.namespace}`;
}

/** Groups the target's cells into sites and makes each site's clients and router. */
export function scopeOf(target: Target, clients: KubeClients): Scope {
  const names = resourceNames(target.app, target.environment);
  const sites = new Map<string, Site>();
  for (const c of target.cells) {
    const key = siteKey(c);
    let s = sites.get(key);
    if (!s) {
      const kube = clients.for(c.context);
      const router = routerFor(kube, { ...(c.traffic ? { httpRoute: c.traffic.httpRoute } : {}) }, names, c.namespace, target.app);
      s = { key, ...(c.context ? { context: c.context } : {}), namespace: c.namespace, kube, cells: [], ...(router ? { router } : {}) };
      sites.set(key, s);
    }
    s.cells.push(c);
  }
  const list = [...sites.values()];
  return {
    target, names, sites: list,
    cell(name) {
      for (const s of list) { const cell = s.cells.find((c) => c.name === name); if (cell) return { cell, site: s }; }
      throw new Error(`no cell ${name} in ${target.app}/${target.environment}`);
    },
    site(key) {
      const s = sites.get(key);
      if (!s) throw new Error(`no site ${key}`);
      return s;
    },
  };
}

export interface SiteObservation {
  view: SiteView;
  cells: CellView[];
  record: RecordData;
  /** As read (the API's JSON: timestamps are strings). */
  services: Record<string, Wire<V1Service> | undefined>;
  pods: Wire<V1Pod>[];
  deployments: Wire<V1Deployment>[];
}

export interface Observation { view: RolloutView; sites: Map<string, SiteObservation> }

const ms = (d: Date | string | undefined) => (d === undefined ? 0 : d instanceof Date ? d.getTime() : Date.parse(d));

/** Services (by name) whose EndpointSlices list each pod (by uid) as ready. A missing `ready` counts as ready (the API's own rule). */
export function listedReady(slices: readonly (V1EndpointSlice | Wire<V1EndpointSlice>)[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const s of slices) {
    const service = s.metadata?.labels?.['kubernetes.io/service-name'] ?? s.metadata?.name ?? '?';
    for (const e of s.endpoints ?? []) {
      const uid = e.targetRef?.kind === 'Pod' ? e.targetRef.uid : undefined;
      if (!uid || e.conditions?.ready === false) continue;
      let set = out.get(uid);
      if (!set) out.set(uid, (set = new Set()));
      set.add(service);
    }
  }
  return out;
}

export function podView(p: V1Pod | Wire<V1Pod>, listed: Map<string, Set<string>>): PodView {
  const drained = p.metadata?.annotations?.[Annotations.drainedAt];
  const waiting = (p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.reason).find(Boolean);
  return {
    name: p.metadata?.name ?? '?',
    ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
    createdAt: ms(p.metadata?.creationTimestamp),
    ready: !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    serving: p.metadata?.labels?.[Labels.serving] === 'true',
    listedIn: [...(listed.get(p.metadata?.uid ?? '') ?? [])].sort(),
    terminating: !!p.metadata?.deletionTimestamp,
    ...(drained && Number.isFinite(Number(drained)) ? { drainedAt: Number(drained) } : {}),
    ...(waiting ? { waiting } : {}),
  };
}

/** Observes one site. */
export async function observeSite(scope: Scope, site: Site, defaultGrace: string, signal?: AbortSignal): Promise<SiteObservation> {
  const { target, names } = scope;
  const { kube, namespace } = site;
  const sel = labelSelector(selectorLabels(target.app, target.environment));
  const where = `${site.context ? `${site.context}:` : ''}${namespace}`;
  const get = <T>(group: string, resource: string, o: { name?: string; labelSelector?: string } = {}) => kube.getJson<T>(
    resourcePath({ group, version: 'v1', resource, namespace, ...(o.name !== undefined ? { name: o.name } : {}) }),
    { query: { labelSelector: o.labelSelector }, ...(signal ? { signal } : {}) });
  const [deps, pods, slices, svcs, cm, weight] = await Promise.all([
    call(`list Deployments in ${where}`, () => get<Wire<V1DeploymentList>>('apps', 'deployments', { labelSelector: sel })),
    call(`list Pods in ${where}`, () => get<Wire<V1PodList>>('', 'pods', { labelSelector: sel })),
    // Every EndpointSlice of the namespace: a drained pod must be out of every Service, not only ours.
    call(`list EndpointSlices in ${where}`, () => get<Wire<V1EndpointSliceList>>('discovery.k8s.io', 'endpointslices')),
    call(`list Services in ${where}`, () => get<Wire<V1ServiceList>>('', 'services', { labelSelector: sel })),
    readOrUndefined(`read ConfigMap ${where}/${names.record}`, () => get<Wire<V1ConfigMap>>('', 'configmaps', { name: names.record })),
    site.router ? site.router.canaryWeight(signal) : Promise.resolve(undefined),
  ]);
  const listed = listedReady(slices.items);
  const services: Record<string, Wire<V1Service> | undefined> = {};
  for (const s of svcs.items) services[s.metadata?.name ?? ''] = s;
  const record = parseRecord(cm);
  const cells: CellView[] = site.cells.map((c) => {
    const byRevision = new Map<string, WorkloadView>();
    const get = (rev: string) => {
      let w = byRevision.get(rev);
      if (!w) byRevision.set(rev, (w = { revision: rev, specReplicas: 0, exists: false, pods: [] }));
      return w;
    };
    for (const d of deps.items) {
      if (d.metadata?.labels?.[Labels.cell] !== c.name) continue;
      const rev = d.metadata?.labels?.[Labels.revision];
      if (!rev) continue;
      const w = get(rev);
      w.exists = !d.metadata?.deletionTimestamp;
      w.specReplicas = w.exists ? d.spec?.replicas ?? 1 : 0;
    }
    for (const p of pods.items) {
      if (p.metadata?.labels?.[Labels.cell] !== c.name) continue;
      const rev = p.metadata?.labels?.[Labels.revision];
      if (!rev) continue;
      get(rev).pods.push(podView(p, listed));
    }
    const grace = c.drain?.grace ?? defaultGrace;
    return { cell: c.name, site: site.key, replicas: c.replicas, drainGraceMs: durationMs(grace), workloads: [...byRevision.values()] };
  });
  const revisionOf = (name: string) => services[name]?.spec?.selector?.[Labels.revision];
  const view: SiteView = {
    site: site.key,
    services: { main: names.main, stable: names.stable, canary: names.canary },
    selects: {
      ...(revisionOf(names.stable) !== undefined ? { stable: revisionOf(names.stable)! } : {}),
      ...(revisionOf(names.canary) !== undefined ? { canary: revisionOf(names.canary)! } : {}),
    },
    ...(site.router ? { router: weight !== undefined ? { canary: weight } : {} } : {}),
    ...(record.stable ? { recordedStable: record.stable.revision } : {}),
  };
  return { view, cells, record, services, pods: pods.items, deployments: deps.items };
}

/** Observes every site of the scope. */
export async function observe(scope: Scope, defaultGrace = DEFAULT_DRAIN_GRACE, signal?: AbortSignal): Promise<Observation> {
  const obs = await Promise.all(scope.sites.map((s) => observeSite(scope, s, defaultGrace, signal)));
  const sites = new Map(obs.map((o, i) => [scope.sites[i]!.key, o]));
  // Cells in target order.
  const cells = scope.target.cells.map((c) => obs.flatMap((o) => o.cells).find((v) => v.cell === c.name)!);
  return { view: { cells, sites: obs.map((o) => o.view) }, sites };
}

/** A short human summary of a cell: pods per revision (ready/serving) and the router weight. */
export function summarize(o: Observation, revisions: { stable?: string; canary?: string } = {}): string {
  const name = (r: string) => (r === revisions.stable ? 'stable' : r === revisions.canary ? 'canary' : r);
  const cells = o.view.cells.map((c) => `${c.cell}: ${c.workloads.map((w) => `${name(w.revision)} ${w.pods.filter((p) => !p.terminating).length}`).join(' + ') || 'no pods'}`);
  const weights = o.view.sites.filter((s) => s.router).map((s) => `canary weight ${s.router?.canary ?? '-'}%`);
  return [...cells, ...weights].join('; ');
}
