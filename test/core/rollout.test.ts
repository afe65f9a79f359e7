// core/rollout.ts: the cluster deciders as data, table-tested (Argo Rollouts style), plus a small
// simulated cluster that runs the deciders to completion over the seed plan and checks the two
// draining invariants at every tick: no pod removed while an EndpointSlice lists it as ready, and
// ready serving capacity never below the plan's floor.
import { describe, expect, it } from '@jest/globals';
import { planGroups } from '../../core/plan.js';
import {
  FINALIZE_STEPS, GROUP_STEPS, NO_REVISION, ROLLBACK_STEPS, canaryWeight, cellFloor, countsAsServing, decideFinalize, decideGroup,
  decideHealth, decideRollback, deletionCosts, dnsName, drainOrder, newRouteRules, planFloors, resourceNames, routeCanaryWeight,
  withCanaryWeight, workloadName, type CellView, type Decision, type PodView, type RolloutAction, type RolloutView, type SiteView,
} from '../../core/rollout.js';

const pod = (name: string, o: Partial<PodView> = {}): PodView => ({
  name, node: 'n1', createdAt: 0, ready: true, serving: true, listedIn: ['app'], terminating: false, ...o,
});

describe('names', () => {
  it.each([
    ['short names are joined', ['shop', 'production'], 'shop-production'],
    ['a cell and revision', ['shop', 'production', 'zone-a', '0123456789'], 'shop-production-zone-a-0123456789'],
  ])('%s', (_n, parts, want) => { expect(dnsName(...parts)).toBe(want); });

  it('long names stay within 63 characters, distinct and deterministic', () => {
    const a = dnsName('a'.repeat(60), 'production', 'stable');
    const b = dnsName('a'.repeat(60), 'production', 'canary');
    expect(a.length).toBeLessThanOrEqual(63);
    expect(b.length).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(dnsName('a'.repeat(60), 'production', 'stable')).toBe(a);
    expect(a).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
  });

  it('a name starting with a digit gets a letter first', () => {
    expect(dnsName('1shop')).toMatch(/^[a-z]/);
  });

  it('resourceNames and workloadName', () => {
    expect(resourceNames('shop', 'production')).toEqual({ main: 'shop-production', stable: 'shop-production-stable', canary: 'shop-production-canary', record: 'shop-production-gantry' });
    expect(workloadName('shop', 'production', 'zone-a', 'abc1234567')).toBe('shop-production-zone-a-abc1234567');
  });
});

describe('drainOrder: which pods leave first', () => {
  it.each<{ name: string; pods: PodView[]; count: number; want: string[] }>([
    { name: 'newest first among equals', pods: [pod('a', { createdAt: 1 }), pod('b', { createdAt: 3 }), pod('c', { createdAt: 2 })], count: 2, want: ['b', 'c'] },
    { name: 'already drained pods first (a retry finishes what it started)', pods: [pod('a', { createdAt: 9 }), pod('b', { serving: false })], count: 1, want: ['b'] },
    { name: 'not Ready before Ready', pods: [pod('a', { createdAt: 9 }), pod('b', { ready: false })], count: 1, want: ['b'] },
    { name: 'not listed before listed', pods: [pod('a', { createdAt: 9 }), pod('b', { listedIn: [] })], count: 1, want: ['b'] },
    { name: 'the node with most pods first (keeps the rest spread)', pods: [pod('a', { node: 'n1', createdAt: 9 }), pod('b', { node: 'n2' }), pod('c', { node: 'n2' })], count: 1, want: ['b'] },
    { name: 'spread is recomputed after each pick', pods: [pod('a', { node: 'n1' }), pod('b', { node: 'n1' }), pod('c', { node: 'n2' }), pod('d', { node: 'n2' })], count: 2, want: ['a', 'c'] },
    { name: 'terminating pods are not candidates', pods: [pod('a', { terminating: true }), pod('b')], count: 1, want: ['b'] },
    { name: 'never more than there are', pods: [pod('a')], count: 3, want: ['a'] },
    { name: 'zero', pods: [pod('a')], count: 0, want: [] },
    { name: 'ties broken by name', pods: [pod('b'), pod('a')], count: 1, want: ['a'] },
  ])('$name', ({ pods, count, want }) => {
    expect(drainOrder(pods, count)).toEqual(want);
  });

  it('deletion costs: the first to go has the lowest cost', () => {
    expect(deletionCosts(['x', 'y', 'z'])).toEqual({ x: -1003, y: -1002, z: -1001 });
  });
});

describe('canaryWeight', () => {
  it.each([
    { name: 'seed group 1: 2 of 10', parts: [{ canary: 1, stable: 4 }, { canary: 1, stable: 4 }], want: 20 },
    { name: 'seed group 2: 6 of 10', parts: [{ canary: 3, stable: 2 }, { canary: 3, stable: 2 }], want: 60 },
    { name: 'seed group 3: all', parts: [{ canary: 5, stable: 0 }, { canary: 5, stable: 0 }], want: 100 },
    { name: 'first release (no stable side): everything to the canary', parts: [{ canary: 1, stable: 0 }], want: 100 },
    { name: 'nothing at all', parts: [{ canary: 0, stable: 0 }], want: 0 },
    { name: 'rounded: 1 of 3', parts: [{ canary: 1, stable: 2 }], want: 33 },
    { name: 'rounded: 2 of 3', parts: [{ canary: 2, stable: 1 }], want: 67 },
  ])('$name → $want%', ({ parts, want }) => { expect(canaryWeight(parts)).toBe(want); });
});

describe('capacity floor', () => {
  const seed = planGroups([{ name: 'zone-a', replicas: 5 }, { name: 'zone-b', replicas: 5 }], [{ pods: 1 }, { pods: 2 }, { pods: 'rest' }]);
  if (!seed.ok) throw new Error('seed plan');
  it('with a stable side, every group keeps the full size serving', () => {
    expect(planFloors(seed.groups, true)).toEqual([10, 10, 10]);
  });
  it('a first release keeps what the canary already serves', () => {
    expect(planFloors(seed.groups, false)).toEqual([0, 2, 6]);
  });
  it.each([[5, true, 3, 5], [5, false, 3, 3], [0, true, 0, 0]])('cellFloor(%i, %s, %i) = %i', (r, s, b, want) => {
    expect(cellFloor(r, s, b)).toBe(want);
  });
});

describe('HTTPRoute rules', () => {
  const be = { stable: 'shop-production-stable', canary: 'shop-production-canary', port: 80 };
  it.each<{ name: string; rules: Parameters<typeof routeCanaryWeight>[0]; want: number | undefined }>([
    { name: 'no rule routes to the app', rules: [{ backendRefs: [{ name: 'other', port: 80 }] }], want: undefined },
    { name: 'stable only: 0%', rules: [{ backendRefs: [{ name: be.stable, port: 80 }] }], want: 0 },
    { name: 'weights 80/20', rules: [{ backendRefs: [{ name: be.stable, weight: 80 }, { name: be.canary, weight: 20 }] }], want: 20 },
    { name: 'default weight 1 each', rules: [{ backendRefs: [{ name: be.stable }, { name: be.canary }] }], want: 50 },
    { name: 'both zero', rules: [{ backendRefs: [{ name: be.stable, weight: 0 }, { name: be.canary, weight: 0 }] }], want: 0 },
    { name: 'a non-Service backend of the same name is not ours', rules: [{ backendRefs: [{ group: 'x.io', kind: 'Thing', name: be.canary, weight: 5 }] }], want: undefined },
  ])('routeCanaryWeight: $name', ({ rules, want }) => { expect(routeCanaryWeight(rules, be)).toBe(want); });

  it('withCanaryWeight sets both weights, adds the missing backend, keeps other rules, matches and backends', () => {
    const rules = [
      { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: be.stable, port: 80 }, { name: 'mirror', port: 81, weight: 0 }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/static' } }], backendRefs: [{ name: 'cdn', port: 80 }] },
    ];
    const next = withCanaryWeight(rules, be, 30)!;
    expect(next[0]).toEqual({
      matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
      backendRefs: [{ name: be.stable, port: 80, weight: 70 }, { name: be.canary, port: 80, weight: 30 }, { name: 'mirror', port: 81, weight: 0 }],
    });
    expect(next[1]).toBe(rules[1]);
    expect(routeCanaryWeight(next, be)).toBe(30);
    expect(withCanaryWeight([{ backendRefs: [{ name: 'other' }] }], be, 30)).toBeUndefined();
  });

  it('newRouteRules: one rule, stable and canary, services in another namespace named', () => {
    expect(newRouteRules({ ...be, namespace: 'shop' }, 0)).toEqual([{ backendRefs: [
      { name: be.stable, namespace: 'shop', port: 80, weight: 100 }, { name: be.canary, namespace: 'shop', port: 80, weight: 0 }] }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Deciders, step by step

const S = 'stablerev0';
const C = 'canaryrev0';
const site = (o: Partial<SiteView> = {}): SiteView => ({
  site: 's', services: { main: 'app', stable: 'app-stable', canary: 'app-canary' }, selects: { stable: S, canary: C }, recordedStable: S, ...o,
});
const pods = (prefix: string, n: number, o: Partial<PodView> = {}) => Array.from({ length: n }, (_, i) => pod(`${prefix}${i}`, { createdAt: i, ...o }));
const cell = (name: string, stable: PodView[] | undefined, canary: PodView[] | undefined, o: Partial<CellView> = {}, spec: { stable?: number; canary?: number } = {}): CellView => ({
  cell: name, site: 's', replicas: 5, drainGraceMs: 1000,
  workloads: [
    ...(stable ? [{ revision: S, specReplicas: spec.stable ?? stable.filter((p) => !p.terminating).length, exists: true, pods: stable }] : []),
    ...(canary ? [{ revision: C, specReplicas: spec.canary ?? canary.length, exists: true, pods: canary }] : []),
  ],
  ...o,
});
const view = (cells: CellView[], s: SiteView = site()): RolloutView => ({ cells, sites: [s] });
const group = (v: RolloutView, targets: Record<string, number>, now = 0, deadline = 10_000) => decideGroup({ view: v, stable: S, canary: C, targets, now, deadline });
const kinds = (d: Decision) => (d.type === 'act' ? d.actions.map((a) => a.kind) : []);

describe('step order, as data', () => {
  it('a group adds and waits before it shifts traffic and drains', () => {
    expect(GROUP_STEPS.map((s) => s.name)).toEqual(['clean-leftovers', 'surge-canary', 'canary-serving', 'shift-traffic', 'drain-stable', 'settle']);
  });
  it('a rollback restores capacity first, then traffic, then drains and removes', () => {
    expect(ROLLBACK_STEPS.map((s) => s.name)).toEqual(['restore-stable', 'stable-serving', 'traffic-to-stable', 'drain-canary', 'remove-canary']);
  });
  it('finalize promotes the stable Service before traffic moves and before anything is deleted', () => {
    expect(FINALIZE_STEPS.map((s) => s.name)).toEqual(['complete', 'promote-service', 'stable-service-serving', 'traffic-to-stable', 'record', 'remove-old']);
  });
});

describe('decideGroup', () => {
  it.each<{ name: string; v: RolloutView; targets: Record<string, number>; now?: number; want: { type: Decision['type']; step?: string; kinds?: string[]; reason?: RegExp } }>([
    { name: 'surge: the canary workload is created, nothing old touched', v: view([cell('a', pods('s', 5), undefined)]), targets: { a: 1 },
      want: { type: 'act', step: 'surge-canary', kinds: ['ensure-canary'] } },
    { name: 'surge: a canary workload below target is scaled up', v: view([cell('a', pods('s', 4), pods('c', 1))]), targets: { a: 3 },
      want: { type: 'act', step: 'surge-canary', kinds: ['ensure-canary'] } },
    { name: 'canary-serving: new pods not Ready yet → wait until the deadline', v: view([cell('a', pods('s', 5), pods('c', 1, { ready: false, listedIn: [] }))]), targets: { a: 1 },
      want: { type: 'wait', step: 'canary-serving', reason: /a 0\/1 new pods ready and serving \(c0: not Ready\)/ } },
    { name: 'canary-serving: Ready but not yet in the EndpointSlices does not count', v: view([cell('a', pods('s', 5), pods('c', 1, { listedIn: [] }))]), targets: { a: 1 },
      want: { type: 'wait', step: 'canary-serving', reason: /not listed ready in the EndpointSlices/ } },
    { name: 'canary-serving: past the deadline → stuck, nothing drained', v: view([cell('a', pods('s', 5), pods('c', 1, { ready: false, listedIn: [], waiting: 'CrashLoopBackOff' }))]), targets: { a: 1 }, now: 10_000,
      want: { type: 'stuck', step: 'canary-serving', reason: /CrashLoopBackOff/ } },
    { name: 'drain: serving new pods → the leaving old pods go out of service', v: view([cell('a', pods('s', 5), pods('c', 1))]), targets: { a: 1 },
      want: { type: 'act', step: 'drain-stable', kinds: ['drain'] } },
    { name: 'drain: still listed in an EndpointSlice → wait', v: view([cell('a', [...pods('s', 4), pod('s9', { serving: false, createdAt: 9, drainedAt: 0 })], pods('c', 1))]), targets: { a: 1 },
      want: { type: 'wait', step: 'drain-stable', reason: /EndpointSlices still list s9 \(app\)/ } },
    { name: 'drain: out of every EndpointSlice but within the grace → wait', v: view([cell('a', [...pods('s', 4), pod('s9', { serving: false, listedIn: [], drainedAt: 500 })], pods('c', 1))]), targets: { a: 1 }, now: 1000,
      want: { type: 'wait', step: 'drain-stable', reason: /drain grace/ } },
    { name: 'drain: grace over → the stable workload scales down', v: view([cell('a', [...pods('s', 4), pod('s9', { serving: false, listedIn: [], drainedAt: 500 })], pods('c', 1))]), targets: { a: 1 }, now: 1500,
      want: { type: 'act', step: 'drain-stable', kinds: ['scale'] } },
    { name: 'drain: a pod that never served needs no grace', v: view([cell('a', [...pods('s', 4), pod('s9', { serving: false, listedIn: [], ready: false })], pods('c', 1))]), targets: { a: 1 }, now: 0,
      want: { type: 'act', step: 'drain-stable', kinds: ['scale'] } },
    { name: 'settle: drained pods terminating → wait', v: view([cell('a', [...pods('s', 4), pod('s9', { serving: false, listedIn: [], terminating: true })], pods('c', 1))]), targets: { a: 1 },
      want: { type: 'wait', step: 'settle' } },
    { name: 'done: the cell matches the plan', v: view([cell('a', pods('s', 4), pods('c', 1))]), targets: { a: 1 },
      want: { type: 'done', reason: /a 1 new\/4 old/ } },
    { name: 'a leftover revision (abandoned release) is rolled back first', v: view([{ ...cell('a', pods('s', 5), undefined), workloads: [{ revision: S, specReplicas: 5, exists: true, pods: pods('s', 5) }, { revision: 'old', specReplicas: 1, exists: true, pods: pods('x', 1) }] }]), targets: { a: 1 },
      want: { type: 'act', step: 'clean-leftovers/drain-canary', kinds: ['drain'] } },
  ])('$name', ({ v, targets, now, want }) => {
    const d = group(v, targets, now ?? 0);
    expect(d.type).toBe(want.type);
    if (want.step) expect('step' in d ? d.step : undefined).toBe(want.step);
    if (want.kinds) expect(kinds(d)).toEqual(want.kinds);
    if (want.reason) expect(d.reason).toMatch(want.reason);
  });

  it('the stable and canary Services are pointed at their revisions before anything else', () => {
    const d = group(view([cell('a', pods('s', 5), undefined)], site({ selects: {} })), { a: 1 });
    expect(d.type === 'act' && d.actions.filter((a) => a.kind === 'point-service')).toEqual([
      { kind: 'point-service', site: 's', role: 'stable', revision: S }, { kind: 'point-service', site: 's', role: 'canary', revision: C }]);
  });

  it('without a stable revision the stable Service selects nothing', () => {
    const d = decideGroup({ view: view([cell('a', undefined, undefined)], site({ selects: {} })), canary: C, targets: { a: 1 }, now: 0, deadline: 1 });
    expect(d.type === 'act' && d.actions.find((a) => a.kind === 'point-service' && a.role === 'stable')).toMatchObject({ revision: NO_REVISION });
  });

  it('the canary Service is re-pointed only while it carries no traffic', () => {
    const d = group(view([cell('a', pods('s', 5), undefined)], site({ selects: { stable: S, canary: 'other' }, router: { canary: 40 } })), { a: 1 });
    expect(d.type === 'act' && d.actions.filter((a) => a.kind === 'set-weight' || a.kind === 'point-service')).toEqual([{ kind: 'set-weight', site: 's', canary: 0 }]);
  });

  it('shift-traffic: the router gets the group\'s share once the new pods serve (they count only when listed by the canary Service too)', () => {
    const routed = site({ router: { canary: 0 } });
    const notInCanarySvc = group(view([cell('a', pods('s', 5), pods('c', 1, { listedIn: ['app'] }))], routed), { a: 1 });
    expect(notInCanarySvc).toMatchObject({ type: 'wait', step: 'canary-serving' });
    const d = group(view([cell('a', pods('s', 5, { listedIn: ['app', 'app-stable'] }), pods('c', 1, { listedIn: ['app', 'app-canary'] }))], routed), { a: 1 });
    expect(d).toMatchObject({ type: 'act', step: 'shift-traffic', actions: [{ kind: 'set-weight', site: 's', canary: 20 }] });
  });

  it('drain picks the newest old pods and gives them the lowest deletion cost, marks only listed ones for the grace', () => {
    const d = group(view([cell('a', [...pods('s', 4), pod('s-unlisted', { listedIn: [], ready: false, createdAt: -1 })], pods('c', 2))]), { a: 2 });
    expect(d.type).toBe('act');
    const drain = (d as Decision & { type: 'act' }).actions[0] as RolloutAction & { kind: 'drain' };
    expect(drain.pods).toEqual(['s-unlisted', 's3']);
    expect(drain.graced).toEqual(['s3']);
    expect(drain.costs).toEqual({ 's-unlisted': -1002, s3: -1001 });
  });

  it('old pods that serve nothing leave first: no capacity is lost by draining them', () => {
    const v = view([cell('a', [pod('s0', { listedIn: [] }), pod('s1', { listedIn: [] }), pod('s2'), pod('s3'), pod('s4')], pods('c', 1))]);
    // 5 old (2 not listed, they go first: no capacity lost), 1 new → drain exactly the 1 unlisted, fine.
    const ok = group(v, { a: 1 });
    expect(ok.type === 'act' && (ok.actions[0] as { pods: string[] }).pods).toEqual(['s0']);
  });

  it('re-releasing the stable revision moves nothing (its workload is both sides)', () => {
    const d = decideGroup({ view: view([cell('a', pods('s', 5), undefined)]), stable: S, canary: S, targets: { a: 1 }, now: 0, deadline: 1 });
    expect(d).toEqual({ type: 'done', reason: `${S} is already the stable revision on every pod: nothing to move` });
    expect(decideFinalize({ view: view([cell('a', pods('s', 5, { listedIn: ['app', 'app-stable'] }), undefined)], site({ router: { canary: 0 } })), revision: S, now: 0 }).type).toBe('done');
  });
});

describe('decideHealth', () => {
  it.each([
    { name: 'all new pods serving', c: pods('c', 2), now: 0, want: 'done' },
    { name: 'one not Ready: wait', c: [pod('c0'), pod('c1', { ready: false })], now: 0, want: 'wait' },
    { name: 'one not Ready past the deadline: stuck', c: [pod('c0'), pod('c1', { ready: false })], now: 5000, want: 'stuck' },
  ])('$name', ({ c, now, want }) => {
    expect(decideHealth({ view: view([cell('a', pods('s', 3), c)]), canary: C, targets: { a: 2 }, now, deadline: 5000 }).type).toBe(want);
  });
});

describe('decideRollback: capacity first, then traffic, then the new pods go', () => {
  const routed = site({ router: { canary: 60 } });
  const stableOk = (n: number) => pods('s', n, { listedIn: ['app', 'app-stable'] });
  const canaryOk = (n: number) => pods('c', n, { listedIn: ['app', 'app-canary'] });
  it.each<{ name: string; v: RolloutView; now?: number; step?: string; kinds?: string[]; type: Decision['type'] }>([
    { name: '1. restore-stable: stable scales back to full size', v: view([cell('a', stableOk(2), canaryOk(3))], routed), type: 'act', step: 'restore-stable', kinds: ['scale'] },
    { name: '1. restore-stable: drained stable pods go back in service', v: view([cell('a', [...stableOk(4), pod('s9', { serving: false, listedIn: [] })], canaryOk(1), {}, { stable: 5 })], routed), type: 'act', step: 'restore-stable', kinds: ['undrain'] },
    { name: '2. stable-serving: wait until the full size serves', v: view([cell('a', [...stableOk(2), ...pods('n', 3, { ready: false, listedIn: [] })], canaryOk(3), {}, { stable: 5 })], routed), type: 'wait', step: 'stable-serving' },
    { name: '3. traffic-to-stable', v: view([cell('a', stableOk(5), canaryOk(3))], routed), type: 'act', step: 'traffic-to-stable', kinds: ['set-weight'] },
    { name: '4. drain-canary', v: view([cell('a', stableOk(5), canaryOk(3))], site({ router: { canary: 0 } })), type: 'act', step: 'drain-canary', kinds: ['drain'] },
    { name: '4. drain-canary: still listed → wait', v: view([cell('a', stableOk(5), pods('c', 1, { serving: false, drainedAt: 0 }))], site({ router: { canary: 0 } })), type: 'wait', step: 'drain-canary' },
    { name: '4. drain-canary: grace → wait', v: view([cell('a', stableOk(5), pods('c', 1, { serving: false, listedIn: [], drainedAt: 0 }))], site({ router: { canary: 0 } })), now: 500, type: 'wait', step: 'drain-canary' },
    { name: '5. remove-canary: delete the workload', v: view([cell('a', stableOk(5), pods('c', 1, { serving: false, listedIn: [], drainedAt: 0 }))], site({ router: { canary: 0 } })), now: 1000, type: 'act', step: 'remove-canary', kinds: ['delete-workload'] },
    { name: '5. never-ready canary pods need no grace', v: view([cell('a', stableOk(5), pods('c', 1, { serving: false, listedIn: [], ready: false }))], site({ router: { canary: 0 } })), now: 0, type: 'act', step: 'remove-canary', kinds: ['delete-workload'] },
    { name: 'done', v: view([cell('a', stableOk(5), undefined)], site({ router: { canary: 0 } })), type: 'done' },
  ])('$name', ({ v, now, step, kinds: k, type }) => {
    const d = decideRollback({ view: v, stable: S, now: now ?? 0 });
    expect(d.type).toBe(type);
    if (step) expect('step' in d ? d.step : undefined).toBe(step);
    if (k) expect(kinds(d)).toEqual(k);
  });

  it('without a stable revision everything new is removed', () => {
    const d = decideRollback({ view: view([cell('a', undefined, pods('c', 2, { ready: false, listedIn: [] }))]), now: 0 });
    expect(d).toMatchObject({ type: 'act', step: 'drain-canary' });
  });
});

describe('decideFinalize', () => {
  const newPods = (listed: string[]) => pods('c', 5, { listedIn: listed });
  const fin = (v: RolloutView) => decideFinalize({ view: v, revision: C, now: 0 });
  it('promotes the stable Service to the new revision', () => {
    expect(fin(view([cell('a', [], newPods(['app', 'app-canary']), {}, { stable: 0 })], site({ router: { canary: 100 } })))).toMatchObject({ type: 'act', step: 'promote-service', actions: [{ kind: 'point-service', role: 'stable', revision: C }] });
  });
  it('waits until the stable Service lists every pod, then moves traffic, then records', () => {
    const s = site({ selects: { stable: C, canary: C }, router: { canary: 100 } });
    expect(fin(view([cell('a', [], newPods(['app', 'app-canary']), {}, { stable: 0 })], s))).toMatchObject({ type: 'wait', step: 'stable-service-serving' });
    expect(fin(view([cell('a', [], newPods(['app', 'app-canary', 'app-stable']), {}, { stable: 0 })], s))).toMatchObject({ type: 'act', step: 'traffic-to-stable' });
    expect(fin(view([cell('a', [], newPods(['app', 'app-canary', 'app-stable']), {}, { stable: 0 })], { ...s, router: { canary: 0 } }))).toMatchObject({ type: 'act', step: 'record', actions: [{ kind: 'record-stable', revision: C }] });
  });
  it('after the record the old, empty workloads are deleted', () => {
    const s = site({ selects: { stable: C, canary: C }, router: { canary: 0 }, recordedStable: C });
    expect(fin(view([cell('a', [], newPods(['app', 'app-stable']), {}, { stable: 0 })], s))).toMatchObject({ type: 'act', step: 'remove-old/remove-canary', actions: [{ kind: 'delete-workload', revision: S }] });
    expect(fin(view([cell('a', undefined, newPods(['app', 'app-stable']))], s))).toMatchObject({ type: 'done' });
  });
});

// ---------------------------------------------------------------------------------------------
// A simulated cluster: the deciders driven to completion, invariants checked at every tick.

interface SimPod extends PodView { revision: string; cell: string; cost: number }

class SimCluster {
  pods: SimPod[] = [];
  spec = new Map<string, number>(); // cell/revision -> replicas
  weight: number | undefined = 0;
  selects: { stable?: string; canary?: string } = { stable: S, canary: C };
  recorded: string | undefined = S;
  seq = 0;
  now = 0;
  violations: string[] = [];
  minServing = Number.POSITIVE_INFINITY;

  constructor(readonly cells: string[], readonly replicas: number, routed: boolean) {
    if (!routed) this.weight = undefined;
    for (const c of cells) {
      this.spec.set(`${c}/${S}`, replicas);
      for (let i = 0; i < replicas; i++) this.add(c, S, true);
    }
  }

  add(cell: string, revision: string, ready = false): void {
    const name = `${cell}-${revision}-${this.seq++}`;
    this.pods.push({ name, revision, cell, node: `n${this.seq % 2}`, createdAt: this.seq, ready, serving: true, listedIn: [], terminating: false, cost: 0 });
  }

  /** One tick of the cluster: RS controller, kubelet (kwok), EndpointSlice controller, pod deletion. */
  tick(): void {
    this.now += 100;
    // Deletion completes one tick after it started.
    this.pods = this.pods.filter((p) => !p.terminating);
    for (const [key, want] of this.spec) {
      const [cell, revision] = key.split('/') as [string, string];
      const live = this.pods.filter((p) => p.cell === cell && p.revision === revision && !p.terminating);
      for (let i = live.length; i < want; i++) this.add(cell, revision);
      if (live.length > want) {
        // ReplicaSet: not ready first, then lowest deletion cost, then newest.
        const order = live.slice().sort((a, b) => Number(a.ready) - Number(b.ready) || a.cost - b.cost || b.createdAt - a.createdAt);
        for (const p of order.slice(0, live.length - want)) {
          if (p.listedIn.length > 0) this.violations.push(`${p.name} deleted while listed ready by ${p.listedIn.join(', ')}`);
          p.terminating = true;
        }
      }
    }
    for (const p of this.pods) if (!p.terminating) p.ready = true; // kwok: Ready at once
    // EndpointSlices follow one tick behind the pods.
    for (const p of this.pods) {
      const ready = p.ready && p.serving && !p.terminating;
      p.listedIn = ready ? ['app', ...(this.selects.stable === p.revision ? ['app-stable'] : []), ...(this.selects.canary === p.revision ? ['app-canary'] : [])].sort() : [];
    }
    const serving = this.pods.filter((p) => countsAsServing(p, ['app'])).length;
    this.minServing = Math.min(this.minServing, serving);
  }

  view(): RolloutView {
    const cells = this.cells.map((c): CellView => {
      const revs = new Set([...this.pods.filter((p) => p.cell === c).map((p) => p.revision), ...[...this.spec.keys()].filter((k) => k.startsWith(`${c}/`)).map((k) => k.split('/')[1]!)]);
      return {
        cell: c, site: 's', replicas: this.replicas, drainGraceMs: 300,
        workloads: [...revs].map((r) => ({ revision: r, specReplicas: this.spec.get(`${c}/${r}`) ?? 0, exists: this.spec.has(`${c}/${r}`), pods: this.pods.filter((p) => p.cell === c && p.revision === r).map((p) => ({ ...p })) })),
      };
    });
    return { cells, sites: [site({ selects: { ...this.selects }, ...(this.weight !== undefined ? { router: { canary: this.weight } } : {}), ...(this.recorded ? { recordedStable: this.recorded } : {}) })] };
  }

  act(actions: RolloutAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'ensure-canary': this.spec.set(`${a.cell}/${C}`, a.replicas); break;
        case 'scale': this.spec.set(`${a.cell}/${a.revision}`, a.replicas); break;
        case 'drain': for (const p of this.pods.filter((x) => a.pods.includes(x.name))) { p.serving = false; p.cost = a.costs[p.name] ?? -1000; if (a.graced.includes(p.name)) p.drainedAt = this.now; } break;
        case 'undrain': for (const p of this.pods.filter((x) => a.pods.includes(x.name))) { p.serving = true; p.cost = 0; delete p.drainedAt; } break;
        case 'point-service': this.selects[a.role] = a.revision; break;
        case 'set-weight': this.weight = a.canary; break;
        case 'delete-workload': this.spec.delete(`${a.cell}/${a.revision}`); for (const p of this.pods.filter((x) => x.cell === a.cell && x.revision === a.revision)) { if (p.listedIn.length) this.violations.push(`${p.name} deleted with its workload while listed`); p.terminating = true; } break;
        case 'record-stable': this.recorded = a.revision; break;
      }
    }
  }

  run(decide: (v: RolloutView, now: number) => Decision, maxTicks = 500): Decision {
    for (let i = 0; i < maxTicks; i++) {
      const d = decide(this.view(), this.now);
      if (d.type === 'done' || d.type === 'stuck') return d;
      if (d.type === 'act') this.act(d.actions);
      this.tick();
    }
    throw new Error('did not converge');
  }

  counts(cell: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of this.pods.filter((x) => x.cell === cell && !x.terminating)) out[p.revision] = (out[p.revision] ?? 0) + 1;
    return out;
  }
}

describe('the deciders on a simulated cluster (seed plan: 10 pods over 2 zones, groups 1, 2, rest)', () => {
  const plan = planGroups([{ name: 'zone-a', replicas: 5 }, { name: 'zone-b', replicas: 5 }], [{ pods: 1 }, { pods: 2 }, { pods: 'rest' }]);
  if (!plan.ok) throw new Error('plan');

  it.each([true, false])('release to the end (router: %s): counts per zone after each group match the plan, never a loss', (routed) => {
    const sim = new SimCluster(['zone-a', 'zone-b'], 5, routed);
    sim.tick();
    const weights: (number | undefined)[] = [];
    for (const g of plan.groups) {
      const targets = Object.fromEntries(g.perCell.map((c) => [c.cell, c.canary]));
      const d = sim.run((v, now) => decideGroup({ view: v, stable: S, canary: C, targets, now, deadline: now + 60_000 }));
      expect(d.type).toBe('done');
      for (const c of g.perCell) expect(sim.counts(c.cell)).toEqual({ ...(c.stable ? { [S]: c.stable } : {}), ...(c.canary ? { [C]: c.canary } : {}) });
      weights.push(sim.weight);
    }
    expect(weights).toEqual(routed ? [20, 60, 100] : [undefined, undefined, undefined]);
    expect(sim.run((v, now) => decideFinalize({ view: v, revision: C, now })).type).toBe('done');
    expect(sim.recorded).toBe(C);
    expect(sim.selects.stable).toBe(C);
    expect([...sim.spec.keys()].sort()).toEqual([`zone-a/${C}`, `zone-b/${C}`]);
    if (routed) expect(sim.weight).toBe(0);
    expect(sim.violations).toEqual([]);
    expect(sim.minServing).toBeGreaterThanOrEqual(10);
  });

  it.each([0, 1, 2])('rollback after group %i: stable back to full size, canary gone, never a loss', (upTo) => {
    const sim = new SimCluster(['zone-a', 'zone-b'], 5, true);
    sim.tick();
    for (const g of plan.groups.slice(0, upTo + 1)) {
      const targets = Object.fromEntries(g.perCell.map((c) => [c.cell, c.canary]));
      expect(sim.run((v, now) => decideGroup({ view: v, stable: S, canary: C, targets, now, deadline: now + 60_000 })).type).toBe('done');
    }
    expect(sim.run((v, now) => decideRollback({ view: v, stable: S, now })).type).toBe('done');
    expect(sim.counts('zone-a')).toEqual({ [S]: 5 });
    expect(sim.counts('zone-b')).toEqual({ [S]: 5 });
    expect(sim.weight).toBe(0);
    expect(sim.violations).toEqual([]);
    expect(sim.minServing).toBeGreaterThanOrEqual(10);
  });
});
