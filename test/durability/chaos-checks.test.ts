// The chaos run's bookkeeping (test/k8s/support/chaos.ts), without a cluster: the effects the plan
// requires, and that the comparison with what the cluster showed catches a group applied twice, a
// pod created or removed twice, a step missing; the seeded generator replays the same schedule.
import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import { chaosSeed, compareEffects, plannedEffects, podEffects, seededRandom, type PlannedRelease } from '../k8s/support/chaos.js';
import type { Recorded } from '../k8s/support/recorder.js';

const replicas = { 'zone-a': 5, 'zone-b': 5 };
const steps = (...ns: number[]) => ns.map((n) => ({ 'zone-a': n, 'zone-b': n }));
// The run's three releases: V2 succeeds (groups 1, 2, rest), V3 rolled back after group 1, V4 after group 2.
const scenario: PlannedRelease[] = [
  { revision: 'r2', expected: 'succeeded', steps: steps(1, 3, 5) },
  { revision: 'r3', expected: 'rolled-back', steps: steps(1) },
  { revision: 'r4', expected: 'rolled-back', steps: steps(1, 3) },
];

/** A pod stream as the cluster would show it for `effects`: created pods ADDED after rv 100, removed ones terminating then gone. */
function podStream(effects: Map<string, { created: number; removed: number }>, initial: Record<string, number>): Recorded[] {
  const events: Recorded[] = [];
  let rv = 0;
  let uid = 0;
  const pod = (key: string, id: string, deleting = false): V1Pod => {
    const [revision, cell] = key.split('/');
    return { metadata: { uid: id, name: `p-${id}`, labels: { 'gantry.dev/revision': revision!, 'gantry.dev/cell': cell! }, ...(deleting ? { deletionTimestamp: new Date() } : {}) } };
  };
  const push = (type: string, obj: V1Pod, gap = false) => { rv++; events.push({ stream: 'pod', type, rv, at: rv, obj: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } }, ...(gap ? { gap } : {}) }); };
  const live = new Map<string, string[]>();
  for (const [key, n] of Object.entries(initial)) for (let i = 0; i < n; i++) { const id = `u${++uid}`; live.set(key, [...(live.get(key) ?? []), id]); push('ADDED', pod(key, id)); }
  rv = 100;
  for (const [key, e] of effects) {
    for (let i = 0; i < e.created; i++) {
      const id = `u${++uid}`;
      live.set(key, [...(live.get(key) ?? []), id]);
      push('ADDED', pod(key, id));
      push('MODIFIED', pod(key, id)); // Ready: not a second creation
    }
  }
  for (const [key, e] of effects) {
    for (let i = 0; i < e.removed; i++) {
      const id = live.get(key)!.shift()!;
      push('MODIFIED', pod(key, id, true));
      push('DELETED', pod(key, id, true));
    }
  }
  return events;
}

describe('the chaos run\'s effect checks', () => {
  it('plans the effects of the three releases per revision and zone', () => {
    const { want, stable } = plannedEffects('r1', replicas, scenario);
    expect(stable).toBe('r2');
    expect(Object.fromEntries([...want].filter(([k]) => k.endsWith('/zone-a')))).toEqual({
      'r1/zone-a': { created: 0, removed: 5, sizes: [5, 4, 2, 0], deleted: true },
      'r2/zone-a': { created: 5 + 1 + 3, removed: 1 + 3, sizes: [1, 3, 5, 4, 5, 4, 2, 5], deleted: false },
      'r3/zone-a': { created: 1, removed: 1, sizes: [1], deleted: true },
      'r4/zone-a': { created: 3, removed: 3, sizes: [1, 3], deleted: true },
    });
  });

  it('the cluster doing exactly the plan passes; a repeated status update or a relist is no new pod', () => {
    const { want } = plannedEffects('r1', replicas, scenario);
    const events = podStream(want, { 'r1/zone-a': 5, 'r1/zone-b': 5 });
    // A relist after a watch restart shows a known pod again (gap): still one pod.
    const known = events.find((e) => e.rv > 100 && e.type === 'ADDED')!;
    events.push({ ...known, rv: 1000, type: 'ADDED', gap: true });
    const sizes = new Map([...want].map(([k, w]) => [k, { sizes: w.sizes, deleted: w.deleted }]));
    const checks = compareEffects(want, podEffects(events, 100), sizes);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.length).toBe(want.size * 4);
  });

  it('catches a duplicate: a pod created and removed once more, a group applied twice, a missing step, an unplanned revision', () => {
    const { want } = plannedEffects('r1', replicas, scenario);
    const actual = new Map([...want].map(([k, w]) => [k, { created: w.created, removed: w.removed }]));
    actual.set('r3/zone-a', { created: 2, removed: 2 }); // one more new pod, then removed
    actual.set('r9/zone-b', { created: 1, removed: 1 });
    const sizes = new Map([...want].map(([k, w]) => [k, { sizes: w.sizes, deleted: w.deleted }]));
    sizes.set('r2/zone-b', { sizes: [1, 3, 1, 3, 5, 4, 5, 4, 2, 5], deleted: false }); // group 1 applied again after group 2
    sizes.set('r4/zone-a', { sizes: [3], deleted: true }); // group 1 never seen
    const checks = compareEffects(want, podEffects(podStream(actual, { 'r1/zone-a': 5, 'r1/zone-b': 5 }), 100), sizes);
    const failed = checks.filter((c) => !c.ok);
    expect(failed.map((c) => [c.what, c.excess])).toEqual([
      ['Deployment sizes r2/zone-b', 2],
      ['pods created r3/zone-a', 1],
      ['pods removed r3/zone-a', 1],
      ['Deployment sizes r4/zone-a', 0],
      ['pods of an unplanned revision r9/zone-b', 2],
    ]);
  });

  it('the seeded generator gives the same schedule for the same seed; CHAOS_SEED must be a whole number', () => {
    const a = seededRandom(1234);
    const b = seededRandom(1234);
    const xs = Array.from({ length: 50 }, () => a.between(300, 4000));
    expect(Array.from({ length: 50 }, () => b.between(300, 4000))).toEqual(xs);
    expect(xs.every((x) => x >= 300 && x < 4000)).toBe(true);
    expect(new Set(xs).size).toBe(50);
    expect(Array.from({ length: 50 }, () => seededRandom(7).next())).toEqual(Array.from({ length: 50 }, () => seededRandom(7).next()));
    expect(seededRandom(1).next()).not.toBe(seededRandom(2).next());
    expect(chaosSeed({ CHAOS_SEED: '42' })).toBe(42);
    expect(() => chaosSeed({ CHAOS_SEED: 'abc' })).toThrow(/CHAOS_SEED=abc: use a whole number from 0 to 4294967295/);
    expect(Number.isInteger(chaosSeed({}))).toBe(true);
  });
});
