// The observed state of a release's target, next to its plan in the status: per cell and revision
// (stable, new) how many pods are ready, serving (listed ready in an EndpointSlice) and draining
// (with the drain grace left), and the router's canary weight as Gantry sets it and as the route
// reads back. Pure: built by the cluster activities from their own observation (observedFromView),
// carried in their heartbeat details and results, kept by the workflow from the results it already
// records (recordObserved, no extra history), and merged into the status by the API (mergeObserved)
// after checking it (parseObserved): a heartbeat is data from a worker, never trusted blindly.
import type { ReleaseState, ReleaseStatus } from './release.js';
import { canaryWeight, type CellView, type PodView, type RolloutView } from './rollout.js';

/** Pods of one revision in one cell. */
export interface ObservedPods {
  /** Live pods (not terminating). */
  pods: number;
  /** Live pods whose Ready condition is True. */
  ready: number;
  /** Pods some EndpointSlice lists as ready: they take traffic. */
  serving: number;
  /** Pods taken out of service (drained) that are not gone yet. */
  draining: number;
  /** The longest drain grace left among the draining pods, in whole seconds (absent when none runs). */
  graceLeftSeconds?: number;
}

export interface ObservedCell {
  cell: string;
  /** Every revision but the new one (the one the release replaces, and any leftover). */
  stable: ObservedPods;
  new: ObservedPods;
  /**
   * The canary's share of traffic in percent, where a router (e.g. an HTTPRoute) carries it: `set`
   * what Gantry sets for this step, `actual` what the route says now (absent: no route yet). Without
   * a router traffic follows the pods, and there is no weight.
   */
  weight?: { set: number; actual?: number };
}

/** What a cluster activity saw, and when. */
export interface ObservedState {
  at: string;
  /** The activity that looked: apply, health, rollback, finalize, observe (while the release waits); sim: the simulated cluster, any activity. */
  by: ObservedBy;
  cells: ObservedCell[];
}

export type ObservedBy = 'apply' | 'health' | 'rollback' | 'finalize' | 'observe' | 'sim';
const BY: readonly ObservedBy[] = ['apply', 'health', 'rollback', 'finalize', 'observe', 'sim'];

/** Bounds: an observation is small, whatever a worker sends. */
export const MAX_OBSERVED_CELLS = 64;
const MAX_CELL_NAME = 63;
const MAX_PODS = 100_000;

const emptyPods = (): ObservedPods => ({ pods: 0, ready: 0, serving: 0, draining: 0 });

function countPods(pods: readonly PodView[], drainGraceMs: number, now: number, into: ObservedPods): void {
  for (const p of pods) {
    const live = !p.terminating;
    if (live) into.pods++;
    if (live && p.ready) into.ready++;
    if (p.listedIn.length > 0) into.serving++;
    if (!p.serving) {
      into.draining++;
      if (p.drainedAt !== undefined) {
        const left = Math.ceil((p.drainedAt + drainGraceMs - now) / 1000);
        if (left > 0) into.graceLeftSeconds = Math.max(into.graceLeftSeconds ?? 0, left);
      }
    }
  }
}

/**
 * The weight Gantry sets per site for a step: for a group (targets: new pods per cell), the new pods'
 * share as core/rollout.ts decideGroup computes it (a cell has a stable side while a workload of
 * another revision exists); for a rollback or a finalize (no targets), 0.
 */
export function plannedWeights(view: RolloutView, canary: string, targets?: Record<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of view.sites) {
    if (!s.router) continue;
    if (!targets) { out.set(s.site, 0); continue; }
    const cells = view.cells.filter((c) => c.site === s.site);
    const hasStable = (c: CellView) => c.workloads.some((w) => w.revision !== canary);
    out.set(s.site, canaryWeight(cells.map((c) => ({ canary: targets[c.cell] ?? 0, stable: hasStable(c) ? c.replicas - (targets[c.cell] ?? 0) : 0 }))));
  }
  return out;
}

/** The observed state of a rollout view: `canary` is the new revision; `set` the weights Gantry sets per site (plannedWeights). */
export function observedFromView(view: RolloutView, canary: string, set: ReadonlyMap<string, number>, by: ObservedBy, now: number): ObservedState {
  const cells = view.cells.slice(0, MAX_OBSERVED_CELLS).map((c): ObservedCell => {
    const stable = emptyPods();
    const fresh = emptyPods();
    for (const w of c.workloads) countPods(w.pods, c.drainGraceMs, now, w.revision === canary ? fresh : stable);
    const site = view.sites.find((s) => s.site === c.site);
    const weight = site?.router ? { set: set.get(site.site) ?? 0, ...(site.router.canary !== undefined ? { actual: site.router.canary } : {}) } : undefined;
    return { cell: c.cell.slice(0, MAX_CELL_NAME), stable, new: fresh, ...(weight ? { weight } : {}) };
  });
  return { at: new Date(now).toISOString(), by, cells };
}

const count = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_PODS;
const percent = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 100;

function parsePods(x: unknown): ObservedPods | undefined {
  const p = x as Partial<ObservedPods> | null;
  if (!p || typeof p !== 'object' || !count(p.pods) || !count(p.ready) || !count(p.serving) || !count(p.draining)) return undefined;
  if (p.graceLeftSeconds !== undefined && !count(p.graceLeftSeconds)) return undefined;
  return { pods: p.pods, ready: p.ready, serving: p.serving, draining: p.draining, ...(p.graceLeftSeconds !== undefined ? { graceLeftSeconds: p.graceLeftSeconds } : {}) };
}

/**
 * An observed state from untrusted data (heartbeat details, an activity result), rebuilt field by
 * field so nothing else rides along; undefined when it is not one.
 */
export function parseObserved(x: unknown): ObservedState | undefined {
  const o = x as Partial<ObservedState> | null;
  if (!o || typeof o !== 'object' || typeof o.at !== 'string' || !Number.isFinite(Date.parse(o.at)) || !BY.includes(o.by as ObservedBy)) return undefined;
  if (!Array.isArray(o.cells) || o.cells.length > MAX_OBSERVED_CELLS) return undefined;
  const cells: ObservedCell[] = [];
  for (const raw of o.cells as unknown[]) {
    const c = raw as Partial<ObservedCell> | null;
    if (!c || typeof c !== 'object' || typeof c.cell !== 'string' || c.cell === '' || c.cell.length > MAX_CELL_NAME) return undefined;
    const stable = parsePods(c.stable);
    const fresh = parsePods(c.new);
    if (!stable || !fresh) return undefined;
    let weight: ObservedCell['weight'];
    if (c.weight !== undefined) {
      const w = c.weight as Partial<NonNullable<ObservedCell['weight']>> | null;
      if (!w || typeof w !== 'object' || !percent(w.set) || (w.actual !== undefined && !percent(w.actual))) return undefined;
      weight = { set: w.set, ...(w.actual !== undefined ? { actual: w.actual } : {}) };
    }
    cells.push({ cell: c.cell, stable, new: fresh, ...(weight ? { weight } : {}) });
  }
  return { at: new Date(Date.parse(o.at)).toISOString(), by: o.by as ObservedBy, cells };
}

/** The workflow keeps the newest observation an activity result brought (already in history: no new event, no rev bump). */
export function recordObserved(s: ReleaseState, x: unknown): void {
  const o = parseObserved(x);
  if (o && (!s.observed || Date.parse(o.at) >= Date.parse(s.observed.at))) s.observed = o;
}

/**
 * The status with the newest of its own observation and `candidates` (e.g. the heartbeat details of
 * the cluster activity running now), each checked; cells the plan does not name are dropped and the
 * rest follow the plan's order. The status is returned unchanged when nothing valid is newer.
 */
export function mergeObserved(status: ReleaseStatus, candidates: readonly unknown[]): ReleaseStatus {
  let best = status.observed ? parseObserved(status.observed) : undefined;
  for (const c of candidates) {
    const o = parseObserved(c);
    if (o && (!best || Date.parse(o.at) > Date.parse(best.at))) best = o;
  }
  if (!best) {
    if (!status.observed) return status;
    const { observed: _drop, ...rest } = status;
    return rest;
  }
  const byName = new Map(best.cells.map((c) => [c.cell, c]));
  const cells = status.cells.map((c) => byName.get(c.cell)).filter((c): c is ObservedCell => c !== undefined);
  return { ...status, observed: { ...best, cells } };
}
