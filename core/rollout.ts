// The grouped canary on a cluster, as pure decisions (Argo Rollouts style: observe, decide, act).
// The cluster activities (activities/k8s) observe the cells, ask one of the deciders here what to
// do next, do it, and observe again; every choice is made here and table-tested:
//
//   * the order of the steps of a group, a rollback and a finalize, as data (GROUP_STEPS, ...);
//   * which pods leave first (drainOrder) and their pod-deletion-cost;
//   * the traffic weight of a group (canaryWeight) and the HTTPRoute rules that carry it;
//   * the capacity floor a step may never go below (cellFloor, planFloors);
//   * resource names and labels (stable across retries, within the DNS limits).
//
// Lossless by construction: a group adds the new pods first and drains old ones only once the new
// ones are Ready and listed in the EndpointSlices; a pod is taken out of every Service (its serving
// label flips) and must be gone from every EndpointSlice, plus the drain grace, before its workload
// is scaled down. A rollback restores capacity first, then traffic, then drains and removes.
import type { GroupStep } from './plan.js';

// ---------------------------------------------------------------------------------------------
// Labels, annotations and names

export const Labels = {
  app: 'gantry.dev/app',
  environment: 'gantry.dev/environment',
  cell: 'gantry.dev/cell',
  /** The rendered pod spec's hash: one value per revision, the same in every cell. */
  revision: 'gantry.dev/revision',
  /** 'true' while the pod may receive traffic; every Service of the app selects on it. */
  serving: 'gantry.dev/serving',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

export const Annotations = {
  /** The ReplicaSet controller deletes the pods with the lowest cost first. */
  deletionCost: 'controller.kubernetes.io/pod-deletion-cost',
  /** When a pod that was serving was taken out of service (ms since epoch): the drain grace runs from here. */
  drainedAt: 'gantry.dev/drained-at',
  image: 'gantry.dev/image',
  digest: 'gantry.dev/digest',
  sha: 'gantry.dev/sha',
  releaseId: 'gantry.dev/release-id',
} as const;

export const FIELD_MANAGER = 'gantry';
export const SERVICE_PORT = 80;
export const DEFAULT_CONTAINER_PORT = 8080;
export const DEFAULT_DRAIN_GRACE = '5s';
/** The revision value a Service selects when there is nothing to select (no stable yet). */
export const NO_REVISION = 'none';

/** FNV-1a, 32 bit, as 8 hex digits: a short, stable suffix for shortened names. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * A DNS-1035 label from parts joined by '-': at most 63 characters; a longer name keeps its start
 * and ends in a hash of the whole, so distinct long names stay distinct.
 */
export function dnsName(...parts: string[]): string {
  const full = parts.filter(Boolean).join('-').toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (full.length <= 63 && /^[a-z]/.test(full)) return full.replace(/-+$/, '');
  const head = (/^[a-z]/.test(full) ? full : `g-${full}`).slice(0, 54).replace(/-+$/, '');
  return `${head}-${fnv1a(full)}`;
}

export interface ResourceNames {
  /** Selects every serving pod of the app in the environment: the traffic path without a router. */
  main: string;
  /** Selects the stable revision's serving pods (an HTTPRoute backend). */
  stable: string;
  /** Selects the canary revision's serving pods (an HTTPRoute backend). */
  canary: string;
  /** The ConfigMap that records the revisions (stable, canary, history). */
  record: string;
}

export function resourceNames(app: string, environment: string): ResourceNames {
  return {
    main: dnsName(app, environment),
    stable: dnsName(app, environment, 'stable'),
    canary: dnsName(app, environment, 'canary'),
    record: dnsName(app, environment, 'gantry'),
  };
}

/** One workload per cell and revision: `<app>-<env>-<cell>-<revision>`. */
export function workloadName(app: string, environment: string, cell: string, revision: string): string {
  return dnsName(app, environment, cell, revision);
}

export function selectorLabels(app: string, environment: string): Record<string, string> {
  return { [Labels.app]: app, [Labels.environment]: environment };
}

export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}

/** Pod labels a user may not set: Gantry's own (gantry.dev/fail, the test bed's failure switch, is allowed). */
export function reservedLabel(key: string): boolean {
  return (Object.values(Labels) as string[]).includes(key);
}

// ---------------------------------------------------------------------------------------------
// What the activities observe

export interface PodView {
  name: string;
  node?: string;
  /** Creation time, ms since epoch. */
  createdAt: number;
  /** The pod's Ready condition is True. */
  ready: boolean;
  /** The pod carries the serving label (the app's Services select it). */
  serving: boolean;
  /** Services whose EndpointSlices list this pod as ready. */
  listedIn: string[];
  /** deletionTimestamp is set. */
  terminating: boolean;
  /** Set when it was taken out of service while listed ready: the drain grace runs from here. */
  drainedAt?: number;
  /** Why it is not ready, when the container says (e.g. CrashLoopBackOff). */
  waiting?: string;
}

export interface WorkloadView {
  revision: string;
  /** The workload's desired replicas (0 when only pods remain, e.g. after the workload was deleted). */
  specReplicas: number;
  /** False when pods of this revision remain but the workload object is gone. */
  exists: boolean;
  pods: PodView[];
}

export interface CellView {
  cell: string;
  /** The site (kubeconfig context and namespace) the cell lives in. */
  site: string;
  /** The cell's planned size. */
  replicas: number;
  drainGraceMs: number;
  workloads: WorkloadView[];
}

export interface SiteView {
  site: string;
  services: { main: string; stable: string; canary: string };
  /** The revision the stable / canary Service currently selects (undefined: Service missing). */
  selects: { stable?: string; canary?: string };
  /** Present when a traffic router (e.g. an HTTPRoute) carries the weights; canary is its current share in percent. */
  router?: { canary?: number };
  /** The stable revision recorded at this site. */
  recordedStable?: string;
}

export interface RolloutView { cells: CellView[]; sites: SiteView[] }

// ---------------------------------------------------------------------------------------------
// What the activities do

export type RolloutAction =
  /** Create or scale the canary workload (rendered from the release) to `replicas`. */
  | { kind: 'ensure-canary'; cell: string; replicas: number }
  /** Scale an existing workload (stable or another revision) to `replicas`. */
  | { kind: 'scale'; cell: string; revision: string; replicas: number }
  /**
   * Take pods out of service: serving label off, pod-deletion-cost from `costs`, and drained-at
   * stamped on those in `graced` (listed ready now, so the drain grace applies to them).
   */
  | { kind: 'drain'; cell: string; pods: string[]; graced: string[]; costs: Record<string, number> }
  /** Put pods back in service. */
  | { kind: 'undrain'; cell: string; pods: string[] }
  | { kind: 'point-service'; site: string; role: 'stable' | 'canary'; revision: string }
  | { kind: 'set-weight'; site: string; canary: number }
  | { kind: 'delete-workload'; cell: string; revision: string }
  | { kind: 'record-stable'; site: string; revision: string };

export type Decision =
  | { type: 'act'; step: string; actions: RolloutAction[]; reason: string }
  | { type: 'wait'; step: string; reason: string; until?: number }
  | { type: 'done'; reason: string }
  /** The progress deadline passed before the new pods were ready and serving. */
  | { type: 'stuck'; step: string; reason: string };

/** The steps of one group, in order. */
export const GROUP_STEPS = [
  { name: 'clean-leftovers', does: 'roll back workloads of any other revision left by an abandoned release' },
  { name: 'surge-canary', does: 'add the group\'s new pods (the canary workload scales up; no old pod is touched yet)' },
  { name: 'canary-serving', does: 'wait until every new pod is Ready and listed ready in the EndpointSlices, within the progress deadline' },
  { name: 'shift-traffic', does: 'set the router\'s canary weight to the new pods\' share' },
  { name: 'drain-stable', does: 'take the old pods that leave out of service, wait until no EndpointSlice lists them and the drain grace, then scale the stable workload down' },
  { name: 'settle', does: 'wait until the removed old pods are gone' },
] as const;

/** The steps of a rollback, in order: capacity first, then traffic, then the new pods go. */
export const ROLLBACK_STEPS = [
  { name: 'restore-stable', does: 'put drained stable pods back in service and scale the stable workload back to full size' },
  { name: 'stable-serving', does: 'wait until the full stable size is Ready and listed ready in the EndpointSlices' },
  { name: 'traffic-to-stable', does: 'set the router\'s canary weight to 0' },
  { name: 'drain-canary', does: 'take the new pods out of service and wait until no EndpointSlice lists them, plus the drain grace' },
  { name: 'remove-canary', does: 'delete the new revision\'s workloads and wait until their pods are gone' },
] as const;

/** The steps that make the new revision the stable one, once every pod runs it. */
export const FINALIZE_STEPS = [
  { name: 'complete', does: 'make sure the last group is complete (every pod new, no old pod left)' },
  { name: 'promote-service', does: 'point the stable Service at the new revision' },
  { name: 'stable-service-serving', does: 'wait until the stable Service lists every pod as ready' },
  { name: 'traffic-to-stable', does: 'set the router\'s canary weight to 0 (the stable Service now carries the new revision)' },
  { name: 'record', does: 'record the new revision as stable' },
  { name: 'remove-old', does: 'delete the old revision\'s (empty) workloads' },
] as const;

// ---------------------------------------------------------------------------------------------
// Pure helpers

/** Pods that count as capacity: Ready, in service, not terminating, and listed ready by every Service in `services`. */
export function countsAsServing(p: PodView, services: readonly string[]): boolean {
  return p.ready && p.serving && !p.terminating && services.every((s) => p.listedIn.includes(s));
}

const live = (pods: readonly PodView[]) => pods.filter((p) => !p.terminating);

/**
 * Which `count` pods leave first. Already drained pods first (a retry finishes what it started),
 * then pods that serve nothing (not Ready or not listed), then pods on the node that holds the most
 * pods of the workload (keeps the rest spread), then the newest, then by name (deterministic).
 */
export function drainOrder(pods: readonly PodView[], count: number): string[] {
  const pool = live(pods).slice();
  const perNode = new Map<string, number>();
  for (const p of pool) perNode.set(p.node ?? '', (perNode.get(p.node ?? '') ?? 0) + 1);
  const chosen: string[] = [];
  while (chosen.length < count && pool.length > 0) {
    pool.sort((a, b) =>
      Number(a.serving) - Number(b.serving)
      || Number(a.ready && a.listedIn.length > 0) - Number(b.ready && b.listedIn.length > 0)
      || (perNode.get(b.node ?? '') ?? 0) - (perNode.get(a.node ?? '') ?? 0)
      || b.createdAt - a.createdAt
      || a.name.localeCompare(b.name));
    const next = pool.shift()!;
    chosen.push(next.name);
    perNode.set(next.node ?? '', (perNode.get(next.node ?? '') ?? 1) - 1);
  }
  return chosen;
}

/** pod-deletion-cost for the drained pods, in drain order: the first to go gets the lowest cost. */
export function deletionCosts(order: readonly string[]): Record<string, number> {
  return Object.fromEntries(order.map((name, i) => [name, -1000 - (order.length - i)]));
}

/**
 * The canary's share of traffic in percent (integer): new pods over all pods that will serve once
 * the group is done. With no stable side (a first release), the canary takes everything it has.
 */
export function canaryWeight(parts: readonly { canary: number; stable: number }[]): number {
  const canary = parts.reduce((s, p) => s + p.canary, 0);
  const total = parts.reduce((s, p) => s + p.canary + p.stable, 0);
  return total === 0 ? 0 : Math.round((100 * canary) / total);
}

/** The per-cell capacity floor during a group: the cell's full size while a stable side exists, else what the canary already serves. */
export function cellFloor(replicas: number, hasStable: boolean, canaryBefore: number): number {
  return hasStable ? replicas : canaryBefore;
}

/** Per group, the least ready serving capacity over all cells (the plan's floor). */
export function planFloors(plan: readonly GroupStep[], hasStable: boolean): number[] {
  return plan.map((g, gi) => g.perCell.reduce((sum, c, ci) => {
    const replicas = c.canary + c.stable;
    const before = gi === 0 ? 0 : plan[gi - 1]!.perCell[ci]!.canary;
    return sum + cellFloor(replicas, hasStable, before);
  }, 0));
}

// ---------------------------------------------------------------------------------------------
// HTTPRoute rules (Gateway API): the weights live in backendRefs

export interface BackendRef { group?: string; kind?: string; name: string; namespace?: string; port?: number; weight?: number; [k: string]: unknown }
export interface RouteRule { backendRefs?: BackendRef[]; [k: string]: unknown }
export interface RouteBackends { stable: string; canary: string; namespace?: string; port: number }

const isService = (b: BackendRef) => (b.group ?? '') === '' && (b.kind ?? 'Service') === 'Service';

/** The canary's share in the first rule that routes to the app's stable or canary Service; undefined when none does. */
export function routeCanaryWeight(rules: readonly RouteRule[], be: RouteBackends): number | undefined {
  for (const r of rules) {
    const refs = (r.backendRefs ?? []).filter((b) => isService(b) && (b.name === be.stable || b.name === be.canary));
    if (refs.length === 0) continue;
    const w = (name: string) => refs.filter((b) => b.name === name).reduce((s, b) => s + (b.weight ?? 1), 0);
    const total = w(be.stable) + w(be.canary);
    return total === 0 ? 0 : Math.round((100 * w(be.canary)) / total);
  }
  return undefined;
}

/**
 * The rules with the canary at `canary` percent and the stable at the rest, in every rule that
 * routes to either backend (the missing one of the pair is added). Other rules and other backends
 * are left alone. Returns undefined when no rule routes to the app.
 */
export function withCanaryWeight(rules: readonly RouteRule[], be: RouteBackends, canary: number): RouteRule[] | undefined {
  let touched = false;
  const ns = be.namespace ? { namespace: be.namespace } : {};
  const out = rules.map((r) => {
    const refs = r.backendRefs ?? [];
    if (!refs.some((b) => isService(b) && (b.name === be.stable || b.name === be.canary))) return r;
    touched = true;
    const others = refs.filter((b) => !(isService(b) && (b.name === be.stable || b.name === be.canary)));
    const find = (name: string) => refs.find((b) => isService(b) && b.name === name);
    const stable: BackendRef = { ...(find(be.stable) ?? { name: be.stable, ...ns, port: be.port }), weight: 100 - canary };
    const canaryRef: BackendRef = { ...(find(be.canary) ?? { name: be.canary, ...ns, port: be.port }), weight: canary };
    return { ...r, backendRefs: [stable, canaryRef, ...others] };
  });
  return touched ? out : undefined;
}

/** The rules of an HTTPRoute Gantry creates when the configured one does not exist yet. */
export function newRouteRules(be: RouteBackends, canary: number): RouteRule[] {
  return withCanaryWeight([{ backendRefs: [{ name: be.stable, ...(be.namespace ? { namespace: be.namespace } : {}), port: be.port }] }], be, canary)!;
}

// ---------------------------------------------------------------------------------------------
// Deciders

export interface GroupInput {
  view: RolloutView;
  /** The stable revision (recorded), if any. */
  stable?: string;
  /** The release's new revision. */
  canary: string;
  /** Desired new pods per cell after the group (cumulative). */
  targets: Record<string, number>;
  now: number;
  /** The progress deadline (ms since epoch): new pods not ready and serving by then make the group stuck. */
  deadline: number;
  /** Point the stable and canary Services at their revisions (default true; finalize re-points them itself). */
  pointServices?: boolean;
}

const siteOf = (view: RolloutView, site: string) => view.sites.find((s) => s.site === site)!;
const workload = (c: CellView, revision: string | undefined) => (revision === undefined ? undefined : c.workloads.find((w) => w.revision === revision));

/** Services a pod of `role` must be listed in to count: the main one, and its role's backend when a router is in use. */
function mustList(site: SiteView, role: 'stable' | 'canary'): string[] {
  return site.router ? [site.services.main, site.services[role]] : [site.services.main];
}

function describeCells(view: RolloutView, stable: string | undefined, canary: string): string {
  return view.cells.map((c) => {
    const s = live(workload(c, stable)?.pods ?? []).length;
    const n = live(workload(c, canary)?.pods ?? []).length;
    return `${c.cell} ${n} new/${s} old`;
  }).join(', ');
}

function notServing(pods: readonly PodView[], services: readonly string[]): string {
  const bad = live(pods).filter((p) => !countsAsServing(p, services));
  return bad.slice(0, 3).map((p) => `${p.name}: ${!p.ready ? `not Ready${p.waiting ? ` (${p.waiting})` : ''}` : !p.serving ? 'out of service' : 'not listed ready in the EndpointSlices yet'}`).join('; ');
}

/** The next step of applying a group. */
export function decideGroup(input: GroupInput): Decision {
  const { view, stable, canary, targets, now } = input;
  // Re-releasing the stable revision: its workload is both sides; nothing moves.
  if (stable !== undefined && stable === canary) return { type: 'done', reason: `${canary} is already the stable revision on every pod: nothing to move` };

  // clean-leftovers: another revision's workloads (an abandoned release) are rolled back first.
  const leftovers = view.cells.some((c) => c.workloads.some((w) => w.revision !== stable && w.revision !== canary));
  if (leftovers) {
    const d = decideRollback({ view, stable, keep: canary, now });
    if (d.type !== 'done') return d.type === 'act' || d.type === 'wait' ? { ...d, step: `clean-leftovers/${d.step}` } : d;
  }

  // surge-canary
  const surge: RolloutAction[] = [];
  for (const c of view.cells) {
    const want = targets[c.cell] ?? 0;
    const w = workload(c, canary);
    if (want > 0 && (!w || !w.exists || w.specReplicas < want)) surge.push({ kind: 'ensure-canary', cell: c.cell, replicas: want });
    const drained = live(w?.pods ?? []).filter((p) => !p.serving);
    if (drained.length) surge.push({ kind: 'undrain', cell: c.cell, pods: drained.map((p) => p.name) });
  }
  for (const s of input.pointServices === false ? [] : view.sites) {
    const stableSel = stable ?? NO_REVISION;
    if (s.selects.stable !== stableSel) surge.push({ kind: 'point-service', site: s.site, role: 'stable', revision: stableSel });
    if (s.selects.canary !== canary) {
      // Re-point the canary Service only while it carries no traffic.
      if (s.router && (s.router.canary ?? 0) > 0) surge.push({ kind: 'set-weight', site: s.site, canary: 0 });
      else surge.push({ kind: 'point-service', site: s.site, role: 'canary', revision: canary });
    }
  }
  if (surge.length) return { type: 'act', step: 'surge-canary', actions: surge, reason: `adding new pods: ${view.cells.map((c) => `${c.cell} → ${targets[c.cell] ?? 0}`).join(', ')}` };

  // canary-serving
  const short: string[] = [];
  for (const c of view.cells) {
    const want = targets[c.cell] ?? 0;
    const pods = workload(c, canary)?.pods ?? [];
    const services = mustList(siteOf(view, c.site), 'canary');
    const have = pods.filter((p) => countsAsServing(p, services)).length;
    if (have < want) short.push(`${c.cell} ${have}/${want} new pods ready and serving${pods.length ? ` (${notServing(pods, services)})` : ''}`);
  }
  if (short.length) {
    if (now >= input.deadline) return { type: 'stuck', step: 'canary-serving', reason: short.join('; ') };
    return { type: 'wait', step: 'canary-serving', reason: short.join('; '), until: input.deadline };
  }

  // shift-traffic
  const weights: RolloutAction[] = [];
  for (const s of view.sites) {
    if (!s.router) continue;
    const cells = view.cells.filter((c) => c.site === s.site);
    const want = canaryWeight(cells.map((c) => ({ canary: targets[c.cell] ?? 0, stable: workload(c, stable) ? c.replicas - (targets[c.cell] ?? 0) : 0 })));
    if (s.router.canary !== want) weights.push({ kind: 'set-weight', site: s.site, canary: want });
  }
  if (weights.length) return { type: 'act', step: 'shift-traffic', actions: weights, reason: weights.map((w) => w.kind === 'set-weight' ? `${w.site}: canary ${w.canary}%` : '').join(', ') };

  // drain-stable, per cell: drain → endpoints gone → grace → scale down
  const acts: RolloutAction[] = [];
  const waits: { reason: string; until?: number }[] = [];
  for (const c of view.cells) {
    const w = workload(c, stable);
    if (!w) continue;
    const want = c.replicas - (targets[c.cell] ?? 0);
    const d = drainDown(c, w, want, siteOf(view, c.site), now, c.replicas);
    if (d.action) acts.push(...d.action);
    else if (d.wait) waits.push(d.wait);
  }
  if (acts.length) return { type: 'act', step: 'drain-stable', actions: acts, reason: `draining old pods: ${describeCells(view, stable, canary)}` };
  if (waits.length) return { type: 'wait', step: 'drain-stable', reason: waits.map((w) => w.reason).join('; '), ...minUntil(waits) };

  // settle: the removed old pods are gone
  const lingering = view.cells.flatMap((c) => (workload(c, stable)?.pods ?? []).filter((p) => p.terminating).map((p) => p.name));
  if (lingering.length) return { type: 'wait', step: 'settle', reason: `old pods terminating: ${lingering.slice(0, 5).join(', ')}` };

  return { type: 'done', reason: describeCells(view, stable, canary) };
}

function minUntil(waits: readonly { until?: number }[]): { until?: number } {
  const u = waits.map((w) => w.until).filter((x): x is number => x !== undefined);
  return u.length ? { until: Math.min(...u) } : {};
}

/**
 * Brings workload `w` of cell `c` down to `want` live pods without loss: choose the leavers, take
 * them out of service, wait until no EndpointSlice lists them and the grace has passed, then scale.
 * `floor`: the serving pods the cell keeps at least at every moment.
 */
function drainDown(c: CellView, w: WorkloadView, want: number, site: SiteView, now: number, floor: number): { action?: RolloutAction[]; wait?: { reason: string; until?: number } } {
  const pods = live(w.pods);
  const excess = pods.length - want;
  if (excess <= 0) {
    const undrain = pods.filter((p) => !p.serving).map((p) => p.name);
    if (undrain.length) return { action: [{ kind: 'undrain', cell: c.cell, pods: undrain }] };
    if (w.exists && w.specReplicas !== want) return { action: [{ kind: 'scale', cell: c.cell, revision: w.revision, replicas: want }] };
    return {};
  }
  const leaving = drainOrder(pods, excess);
  const leavingSet = new Set(leaving);
  const byName = new Map(pods.map((p) => [p.name, p]));
  const actions: RolloutAction[] = [];
  const extra = pods.filter((p) => !p.serving && !leavingSet.has(p.name)).map((p) => p.name);
  if (extra.length) actions.push({ kind: 'undrain', cell: c.cell, pods: extra });
  const toDrain = leaving.filter((n) => byName.get(n)!.serving);
  if (toDrain.length) {
    // Capacity guard: a drain that takes serving pods away may not leave the cell below the floor.
    const allPods = c.workloads.flatMap((x) => x.pods.map((p) => ({ p, role: x.revision === w.revision ? 'stable' as const : 'canary' as const })));
    const serving = allPods.filter(({ p, role }) => countsAsServing(p, mustList(site, role)));
    const servingAfter = serving.filter(({ p }) => !leavingSet.has(p.name)).length;
    if (servingAfter < serving.length && servingAfter < floor) {
      return actions.length ? { action: actions } : { wait: { reason: `${c.cell}: draining ${toDrain.length} old pod(s) would leave ${servingAfter} serving, below the floor of ${floor}; waiting for capacity` } };
    }
    const graced = toDrain.filter((n) => byName.get(n)!.listedIn.length > 0);
    actions.push({ kind: 'drain', cell: c.cell, pods: toDrain, graced, costs: deletionCosts(leaving) });
  }
  if (actions.length) return { action: actions };
  const listed = leaving.map((n) => byName.get(n)!).filter((p) => p.listedIn.length > 0);
  if (listed.length) return { wait: { reason: `${c.cell}: EndpointSlices still list ${listed.map((p) => `${p.name} (${p.listedIn.join(', ')})`).join(', ')}` } };
  const graceEnd = Math.max(0, ...leaving.map((n) => byName.get(n)!.drainedAt ?? 0)) + c.drainGraceMs;
  const anyGraced = leaving.some((n) => byName.get(n)!.drainedAt !== undefined);
  if (anyGraced && now < graceEnd) return { wait: { reason: `${c.cell}: drain grace for ${leaving.length} old pod(s)`, until: graceEnd } };
  if (!w.exists) return { wait: { reason: `${c.cell}: pods of removed workload ${w.revision} terminating` } };
  if (w.specReplicas === want) return { wait: { reason: `${c.cell}: waiting for the ReplicaSet controller to remove ${excess} drained pod(s)` } };
  return { action: [{ kind: 'scale', cell: c.cell, revision: w.revision, replicas: want }] };
}

export interface HealthInput { view: RolloutView; canary: string; targets: Record<string, number>; now: number; deadline: number }

/** Health of a group: every new pod Ready and listed ready (done), else wait until the deadline (stuck). */
export function decideHealth(input: HealthInput): Decision {
  const { view, canary, targets } = input;
  const parts: string[] = [];
  const short: string[] = [];
  for (const c of view.cells) {
    const want = targets[c.cell] ?? 0;
    const pods = workload(c, canary)?.pods ?? [];
    const services = mustList(siteOf(view, c.site), 'canary');
    const have = pods.filter((p) => countsAsServing(p, services)).length;
    parts.push(`${c.cell} ${have}/${want}`);
    if (have < want) short.push(`${c.cell} ${have}/${want} new pods ready and serving${pods.length ? ` (${notServing(pods, services)})` : ''}`);
  }
  if (short.length === 0) return { type: 'done', reason: `${Object.values(targets).reduce((a, b) => a + b, 0)} new pod(s) Ready and listed ready in the EndpointSlices (${parts.join(', ')})` };
  if (input.now >= input.deadline) return { type: 'stuck', step: 'health', reason: short.join('; ') };
  return { type: 'wait', step: 'health', reason: short.join('; '), until: input.deadline };
}

export interface RollbackInput {
  view: RolloutView;
  /** The stable revision; undefined when there is none (a first release: everything is removed). */
  stable?: string;
  /** A revision to leave alone (used when cleaning leftovers before a group). */
  keep?: string;
  now: number;
}

/** The next step of a rollback: capacity first, then traffic, then the other revisions are drained and removed. */
export function decideRollback(input: RollbackInput): Decision {
  const { view, stable, keep, now } = input;
  const removed = (w: WorkloadView) => w.revision !== stable && w.revision !== keep;

  // restore-stable
  const restore: RolloutAction[] = [];
  for (const c of view.cells) {
    const w = workload(c, stable);
    if (!w) continue;
    const drained = live(w.pods).filter((p) => !p.serving).map((p) => p.name);
    if (drained.length) restore.push({ kind: 'undrain', cell: c.cell, pods: drained });
    if (w.specReplicas !== c.replicas || !w.exists) restore.push({ kind: 'scale', cell: c.cell, revision: w.revision, replicas: c.replicas });
  }
  for (const s of view.sites) {
    if (stable && s.selects.stable !== stable) restore.push({ kind: 'point-service', site: s.site, role: 'stable', revision: stable });
  }
  if (restore.length) return { type: 'act', step: 'restore-stable', actions: restore, reason: `stable back to full size: ${view.cells.map((c) => `${c.cell} ${c.replicas}`).join(', ')}` };

  // stable-serving
  const short: string[] = [];
  for (const c of view.cells) {
    const w = workload(c, stable);
    if (!w) continue;
    const services = mustList(siteOf(view, c.site), 'stable');
    const have = w.pods.filter((p) => countsAsServing(p, services)).length;
    if (have < c.replicas) short.push(`${c.cell} ${have}/${c.replicas} stable pods ready and serving${w.pods.length ? ` (${notServing(w.pods, services)})` : ''}`);
  }
  if (short.length) return { type: 'wait', step: 'stable-serving', reason: short.join('; ') };

  // traffic-to-stable
  const traffic: RolloutAction[] = [];
  for (const s of view.sites) {
    if (!s.router) continue;
    const keepHere = keep !== undefined && s.selects.canary === keep;
    if (!keepHere && s.router.canary !== 0) traffic.push({ kind: 'set-weight', site: s.site, canary: 0 });
  }
  if (traffic.length) return { type: 'act', step: 'traffic-to-stable', actions: traffic, reason: 'all traffic to the stable revision' };

  // drain-canary
  const drains: RolloutAction[] = [];
  const waits: { reason: string; until?: number }[] = [];
  for (const c of view.cells) {
    const pods = c.workloads.filter(removed).flatMap((w) => live(w.pods));
    const serving = pods.filter((p) => p.serving);
    if (serving.length) {
      const order = drainOrder(serving, serving.length);
      drains.push({ kind: 'drain', cell: c.cell, pods: order, graced: serving.filter((p) => p.listedIn.length > 0).map((p) => p.name), costs: deletionCosts(order) });
      continue;
    }
    const listed = pods.filter((p) => p.listedIn.length > 0);
    if (listed.length) { waits.push({ reason: `${c.cell}: EndpointSlices still list ${listed.map((p) => p.name).join(', ')}` }); continue; }
    const stamped = pods.filter((p) => p.drainedAt !== undefined);
    const graceEnd = Math.max(0, ...stamped.map((p) => p.drainedAt!)) + c.drainGraceMs;
    if (stamped.length && now < graceEnd) waits.push({ reason: `${c.cell}: drain grace for ${stamped.length} new pod(s)`, until: graceEnd });
  }
  if (drains.length) return { type: 'act', step: 'drain-canary', actions: drains, reason: 'taking the new pods out of service' };
  if (waits.length) return { type: 'wait', step: 'drain-canary', reason: waits.map((w) => w.reason).join('; '), ...minUntil(waits) };

  // remove-canary
  const deletes: RolloutAction[] = [];
  const remaining: string[] = [];
  for (const c of view.cells) {
    for (const w of c.workloads.filter(removed)) {
      if (w.exists) deletes.push({ kind: 'delete-workload', cell: c.cell, revision: w.revision });
      remaining.push(...w.pods.map((p) => p.name));
    }
  }
  if (deletes.length) return { type: 'act', step: 'remove-canary', actions: deletes, reason: `removing ${deletes.length} workload(s) of other revisions` };
  if (remaining.length) return { type: 'wait', step: 'remove-canary', reason: `pods of other revisions terminating: ${remaining.slice(0, 5).join(', ')}${remaining.length > 5 ? ', …' : ''}` };

  return { type: 'done', reason: stable ? `stable ${stable} at full size (${view.cells.map((c) => `${c.cell} ${c.replicas}`).join(', ')}), all traffic to it, no other revision left` : 'no stable revision: every new pod removed' };
}

export interface FinalizeInput { view: RolloutView; revision: string; now: number }

/** The next step of making `revision` (every pod runs it) the stable one. */
export function decideFinalize(input: FinalizeInput): Decision {
  const { view, revision, now } = input;
  const recorded = view.sites.map((s) => s.recordedStable);
  const allRecorded = recorded.every((r) => r === revision);

  if (!allRecorded) {
    // complete: finish the last group if needed (every pod new); passed once the stable Service was promoted.
    if (!view.sites.every((s) => s.selects.stable === revision)) {
      const stable = recorded.find((r) => r !== undefined && r !== revision);
      const targets = Object.fromEntries(view.cells.map((c) => [c.cell, c.replicas]));
      const g = decideGroup({ view, ...(stable ? { stable } : {}), canary: revision, targets, now, deadline: Number.POSITIVE_INFINITY, pointServices: false });
      if (g.type === 'act' || g.type === 'wait') return { ...g, step: `complete/${g.step}` };
      if (g.type === 'stuck') return g;
    }

    // promote-service
    const promote = view.sites.filter((s) => s.selects.stable !== revision)
      .map((s): RolloutAction => ({ kind: 'point-service', site: s.site, role: 'stable', revision }));
    if (promote.length) return { type: 'act', step: 'promote-service', actions: promote, reason: 'the stable Service selects the new revision' };

    // stable-service-serving
    const short: string[] = [];
    for (const s of view.sites) {
      const cells = view.cells.filter((c) => c.site === s.site);
      const want = cells.reduce((n, c) => n + c.replicas, 0);
      const have = cells.flatMap((c) => workload(c, revision)?.pods ?? []).filter((p) => countsAsServing(p, [s.services.stable])).length;
      if (have < want) short.push(`${s.site}: stable Service lists ${have}/${want}`);
    }
    if (short.length) return { type: 'wait', step: 'stable-service-serving', reason: short.join('; ') };

    // traffic-to-stable
    const traffic = view.sites.filter((s) => s.router && s.router.canary !== 0).map((s): RolloutAction => ({ kind: 'set-weight', site: s.site, canary: 0 }));
    if (traffic.length) return { type: 'act', step: 'traffic-to-stable', actions: traffic, reason: 'all traffic through the stable Service' };

    // record
    return { type: 'act', step: 'record', actions: view.sites.filter((s) => s.recordedStable !== revision).map((s) => ({ kind: 'record-stable', site: s.site, revision })), reason: `${revision} recorded as stable` };
  }

  // remove-old (after the record: the old revisions are now "other" revisions, removed losslessly)
  const r = decideRollback({ view, stable: revision, now });
  if (r.type !== 'done') return r.type === 'act' || r.type === 'wait' ? { ...r, step: `remove-old/${r.step}` } : r;
  return { type: 'done', reason: `${revision} is stable on every pod (${view.cells.map((c) => `${c.cell} ${c.replicas}`).join(', ')})` };
}
