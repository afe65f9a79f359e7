// The observed state in the status (core/observed.ts): what the cluster activities report per cell and
// revision, the weights they set against what the route reads back, how an untrusted heartbeat is
// checked, and how the API merges the newest observation into the status next to the plan.
import { describe, expect, it } from '@jest/globals';
import type { EnvironmentConfig } from '../../core/config.js';
import {
  MAX_OBSERVED_CELLS, mergeObserved, observedFromView, parseObserved, plannedWeights, recordObserved, type ObservedState,
} from '../../core/observed.js';
import { environmentPlan } from '../../core/plan.js';
import { newReleaseState, recordApplied, recordHealth, releaseStatus } from '../../core/release.js';
import type { CellView, PodView, RolloutView } from '../../core/rollout.js';

const T0 = Date.parse('2026-12-02T10:00:00Z');
const OLD = 'r-old';
const NEW = 'r-new';

function pod(name: string, over: Partial<PodView> = {}): PodView {
  return { name, createdAt: T0 - 60_000, ready: true, serving: true, listedIn: ['shop-production'], terminating: false, ...over };
}

function cell(name: string, site: string, old: PodView[], fresh: PodView[], replicas = 5): CellView {
  return {
    cell: name, site, replicas, drainGraceMs: 10_000,
    workloads: [
      { revision: OLD, specReplicas: old.length, exists: true, pods: old },
      ...(fresh.length ? [{ revision: NEW, specReplicas: fresh.length, exists: true, pods: fresh }] : []),
    ],
  };
}

const site = (key: string, router?: { canary?: number }) => ({
  site: key, services: { main: 'shop-production', stable: 'shop-production-stable', canary: 'shop-production-canary' },
  selects: { stable: OLD, canary: NEW }, ...(router ? { router } : {}),
});

describe('observedFromView: pods per cell and revision, as the cluster shows them', () => {
  it.each([
    ['all old and serving', [pod('a1'), pod('a2')], [], { pods: 2, ready: 2, serving: 2, draining: 0 }, { pods: 0, ready: 0, serving: 0, draining: 0 }],
    ['a new pod Ready but not listed yet', [pod('a1')], [pod('n1', { listedIn: [] })], { pods: 1, ready: 1, serving: 1, draining: 0 }, { pods: 1, ready: 1, serving: 0, draining: 0 }],
    ['a new pod not Ready (CrashLoopBackOff)', [pod('a1')], [pod('n1', { ready: false, listedIn: [], waiting: 'CrashLoopBackOff' })], { pods: 1, ready: 1, serving: 1, draining: 0 }, { pods: 1, ready: 0, serving: 0, draining: 0 }],
    // Drained 4 s ago with a 10 s grace: 6 s left; still listed (the EndpointSlice lags): serving too.
    ['an old pod draining, grace running', [pod('a1'), pod('a2', { serving: false, drainedAt: T0 - 4_000 })], [pod('n1')], { pods: 2, ready: 2, serving: 2, draining: 1, graceLeftSeconds: 6 }, { pods: 1, ready: 1, serving: 1, draining: 0 }],
    ['an old pod drained, grace over, terminating', [pod('a1'), pod('a2', { serving: false, listedIn: [], drainedAt: T0 - 20_000, terminating: true })], [pod('n1')], { pods: 1, ready: 1, serving: 1, draining: 1 }, { pods: 1, ready: 1, serving: 1, draining: 0 }],
  ])('%s', (_name, old, fresh, wantStable, wantNew) => {
    const view: RolloutView = { cells: [cell('zone-a', 's', old, fresh)], sites: [site('s')] };
    const o = observedFromView(view, NEW, new Map(), 'apply', T0);
    expect(o).toEqual({ at: new Date(T0).toISOString(), by: 'apply', cells: [{ cell: 'zone-a', stable: wantStable, new: wantNew }] });
  });

  it('with a router: the weight Gantry sets and the one the route reads back, per cell of the site', () => {
    const view: RolloutView = {
      cells: [cell('zone-a', 's', [pod('a1'), pod('a2'), pod('a3'), pod('a4')], [pod('n1')]), cell('zone-b', 's', [pod('b1'), pod('b2'), pod('b3'), pod('b4')], [pod('m1')])],
      sites: [site('s', { canary: 20 })],
    };
    const set = plannedWeights(view, NEW, { 'zone-a': 1, 'zone-b': 1 });
    expect(set).toEqual(new Map([['s', 20]]));
    const o = observedFromView(view, NEW, set, 'health', T0);
    expect(o.cells.map((c) => [c.cell, c.weight])).toEqual([['zone-a', { set: 20, actual: 20 }], ['zone-b', { set: 20, actual: 20 }]]);
    // Mid-step the route lags what Gantry sets: the two differ, and both are shown.
    const lagging = observedFromView({ ...view, sites: [site('s', { canary: 0 })] }, NEW, plannedWeights(view, NEW, { 'zone-a': 3, 'zone-b': 3 }), 'apply', T0);
    expect(lagging.cells[0]!.weight).toEqual({ set: 60, actual: 0 });
    // A route not created yet has no actual weight; rollback and finalize set 0.
    const noRoute = observedFromView({ ...view, sites: [site('s', {})] }, NEW, plannedWeights(view, NEW), 'rollback', T0);
    expect(noRoute.cells[0]!.weight).toEqual({ set: 0 });
  });

  it('plannedWeights: a first release (no other revision) gives the new pods everything they have', () => {
    const first: CellView = { cell: 'zone-a', site: 's', replicas: 5, drainGraceMs: 0, workloads: [{ revision: NEW, specReplicas: 1, exists: true, pods: [pod('n1')] }] };
    expect(plannedWeights({ cells: [first], sites: [site('s', { canary: 0 })] }, NEW, { 'zone-a': 1 })).toEqual(new Map([['s', 100]]));
    expect(plannedWeights({ cells: [first], sites: [site('s')] }, NEW, { 'zone-a': 1 })).toEqual(new Map());
  });

  it('is bounded: at most MAX_OBSERVED_CELLS cells', () => {
    const many = Array.from({ length: MAX_OBSERVED_CELLS + 5 }, (_, i) => cell(`c${i}`, 's', [pod(`p${i}`)], []));
    expect(observedFromView({ cells: many, sites: [site('s')] }, NEW, new Map(), 'sim', T0).cells).toHaveLength(MAX_OBSERVED_CELLS);
  });
});

const good: ObservedState = {
  at: '2026-12-02T10:00:00.000Z', by: 'health',
  cells: [{ cell: 'zone-a', stable: { pods: 4, ready: 4, serving: 4, draining: 0 }, new: { pods: 1, ready: 1, serving: 1, draining: 0 }, weight: { set: 20, actual: 20 } }],
};

describe('parseObserved: a heartbeat is checked field by field', () => {
  it('keeps a valid observation and drops anything extra', () => {
    expect(parseObserved(good)).toEqual(good);
    const extra = { ...good, token: 'secret', cells: [{ ...good.cells[0]!, env: { PASSWORD: 'x' }, stable: { ...good.cells[0]!.stable, note: 'x' } }] };
    expect(parseObserved(extra)).toEqual(good);
    expect(JSON.stringify(parseObserved(extra))).not.toMatch(/secret|PASSWORD|note/);
  });

  it.each([
    ['not an object', 'observed'],
    ['null', null],
    ['a bad time', { ...good, at: 'yesterday' }],
    ['an unknown source', { ...good, by: 'kubectl' }],
    ['cells not a list', { ...good, cells: {} }],
    ['too many cells', { ...good, cells: Array.from({ length: MAX_OBSERVED_CELLS + 1 }, () => good.cells[0]) }],
    ['an empty cell name', { ...good, cells: [{ ...good.cells[0]!, cell: '' }] }],
    ['a negative count', { ...good, cells: [{ ...good.cells[0]!, new: { ...good.cells[0]!.new, ready: -1 } }] }],
    ['a fractional count', { ...good, cells: [{ ...good.cells[0]!, new: { ...good.cells[0]!.new, pods: 1.5 } }] }],
    ['a weight over 100', { ...good, cells: [{ ...good.cells[0]!, weight: { set: 120 } }] }],
    ['a weight without set', { ...good, cells: [{ ...good.cells[0]!, weight: { actual: 20 } }] }],
    ['missing the new side', { ...good, cells: [{ cell: 'zone-a', stable: good.cells[0]!.stable }] }],
  ])('refuses %s', (_name, x) => {
    expect(parseObserved(x)).toBeUndefined();
  });
});

function env(): EnvironmentConfig {
  return {
    name: 'production', cells: [{ name: 'zone-a', namespace: 'shop', replicas: 5 }, { name: 'zone-b', namespace: 'shop', replicas: 5 }],
    groups: [{ name: 'g1', pods: 1, confirm: { type: 'manual', onTimeout: 'hold' } }, { name: 'g2', pods: 'rest', confirm: { type: 'auto' } }],
    analysis: [], deadlines: { progress: '1m', analysis: '1m' }, bake: '0s',
    approvers: { users: ['bob'], groups: [], required: 1, allowStarter: false },
  };
}

describe('the workflow keeps the newest observation; the API merges a newer heartbeat', () => {
  const e = env();
  const state = () => {
    const s = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, T0);
    recordApplied(s, 0, T0);
    recordHealth(s, true, 'ok', T0);
    return s;
  };
  const at = (ms: number, by: ObservedState['by'] = 'health', readyNew = 1): ObservedState => ({
    at: new Date(ms).toISOString(), by,
    cells: ['zone-b', 'zone-a', 'zone-x'].map((c) => ({ cell: c, stable: { pods: 4, ready: 4, serving: 4, draining: 0 }, new: { pods: 1, ready: readyNew, serving: readyNew, draining: 0 } })),
  });

  it('recordObserved: keeps a valid, newer observation; ignores junk and older ones; no event, no rev bump', () => {
    const s = state();
    const rev = s.rev;
    recordObserved(s, undefined);
    recordObserved(s, { nonsense: true });
    expect(s.observed).toBeUndefined();
    recordObserved(s, at(T0 + 1000));
    recordObserved(s, at(T0, 'apply'));
    expect(s.observed?.at).toBe(new Date(T0 + 1000).toISOString());
    expect(s.rev).toBe(rev);
    expect(releaseStatus(s, e, T0 + 2000).observed?.by).toBe('health');
  });

  it.each([
    ['no observation anywhere: unchanged', undefined, [], undefined],
    ['the workflow\'s own, when no heartbeat', T0 + 1000, [], 'health'],
    ['a newer heartbeat wins', T0 + 1000, [at(T0 + 5000, 'apply')], 'apply'],
    ['an older heartbeat loses', T0 + 5000, [at(T0 + 1000, 'apply')], 'health'],
    ['junk heartbeats are ignored', T0 + 1000, [{ at: 'x' }, 42, null, { ...at(T0 + 9000, 'apply'), by: 'evil' }], 'health'],
    ['a heartbeat alone', undefined, [at(T0 + 1000, 'rollback')], 'rollback'],
  ])('mergeObserved: %s', (_name, own, heartbeats, wantBy) => {
    const s = state();
    if (own !== undefined) recordObserved(s, at(own));
    const merged = mergeObserved(releaseStatus(s, e, T0 + 10_000), heartbeats);
    expect(merged.observed?.by).toBe(wantBy);
    // Cells follow the plan's order; a cell the plan does not name is dropped.
    if (wantBy) expect(merged.observed!.cells.map((c) => c.cell)).toEqual(['zone-a', 'zone-b']);
    // The plan stays next to it, unchanged.
    expect(merged.cells).toEqual(releaseStatus(s, e, T0 + 10_000).cells);
  });
});
