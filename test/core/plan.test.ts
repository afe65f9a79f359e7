// Group planning, table-driven in the style of Argo Rollouts' replica-set helpers: for each named
// case, the cells and groups in, and per group the pods each cell moves (add) and holds (canary).
import { describe, expect, it } from '@jest/globals';
import { canaryTargets, parsePodCount, planGroups, spreadReplicas, type CellSize, type GroupStep, type PodCount } from '../../core/plan.js';

describe('spreadReplicas', () => {
  it.each<{ name: string; total: number; cells: number; want: number[] }>([
    { name: '10 over 2: even', total: 10, cells: 2, want: [5, 5] },
    { name: '10 over 3: remainder to the first cell', total: 10, cells: 3, want: [4, 3, 3] },
    { name: '11 over 3: remainder to the first two cells', total: 11, cells: 3, want: [4, 4, 3] },
    { name: '0 over 2: all empty', total: 0, cells: 2, want: [0, 0] },
    { name: '1 over 3: one pod, first cell', total: 1, cells: 3, want: [1, 0, 0] },
    { name: '7 over 1: all in the one cell', total: 7, cells: 1, want: [7] },
    { name: '2 over 5: fewer pods than cells', total: 2, cells: 5, want: [1, 1, 0, 0, 0] },
  ])('$name', ({ total, cells, want }) => {
    const got = spreadReplicas(total, cells);
    expect(got).toEqual(want);
    expect(got.reduce((a, b) => a + b, 0)).toBe(total);
    expect(Math.max(...got) - Math.min(...got)).toBeLessThanOrEqual(1);
  });

  it.each<{ name: string; total: number; cells: number; error: RegExp }>([
    { name: 'negative total', total: -1, cells: 2, error: /total replicas must be a non-negative integer, got -1/ },
    { name: 'fractional total', total: 2.5, cells: 2, error: /total replicas must be a non-negative integer, got 2.5/ },
    { name: 'NaN total', total: Number.NaN, cells: 2, error: /total replicas.*NaN/ },
    { name: 'zero cells', total: 10, cells: 0, error: /cell count must be a positive integer, got 0/ },
    { name: 'negative cells', total: 10, cells: -2, error: /cell count must be a positive integer, got -2/ },
    { name: 'fractional cells', total: 10, cells: 1.5, error: /cell count must be a positive integer, got 1.5/ },
  ])('rejects $name', ({ total, cells, error }) => {
    expect(() => spreadReplicas(total, cells)).toThrow(RangeError);
    expect(() => spreadReplicas(total, cells)).toThrow(error);
  });

  it('spreads every total from 0 to 50 over 1 to 7 cells within one pod of each other', () => {
    for (let total = 0; total <= 50; total++) {
      for (let n = 1; n <= 7; n++) {
        const got = spreadReplicas(total, n);
        expect(got).toHaveLength(n);
        expect(got.reduce((a, b) => a + b, 0)).toBe(total);
        // Non-increasing: the remainder goes to the first cells.
        for (let i = 1; i < n; i++) expect(got[i - 1]! - got[i]!).toBeGreaterThanOrEqual(0);
        expect(got[0]! - got[n - 1]!).toBeLessThanOrEqual(1);
      }
    }
  });
});

describe('parsePodCount', () => {
  it.each<{ name: string; input: PodCount; want: ReturnType<typeof parsePodCount> }>([
    { name: 'count', input: 3, want: { kind: 'count', n: 3 } },
    { name: 'percentage', input: '25%', want: { kind: 'percent', pct: 25 } },
    { name: 'fractional percentage', input: '12.5%', want: { kind: 'percent', pct: 12.5 } },
    { name: 'rest', input: 'rest', want: { kind: 'rest' } },
  ])('$name: $input', ({ input, want }) => {
    expect(parsePodCount(input)).toEqual(want);
  });
});

const cells = (...replicas: number[]): CellSize[] => replicas.map((r, i) => ({ name: `c${i}`, replicas: r }));

/** Per group: [add, canary] for each cell, in cell order. */
type Expected = [add: number, canary: number][][];

function summarize(groups: readonly GroupStep[]): Expected {
  return groups.map((g) => g.perCell.map((c) => [c.add, c.canary] as [number, number]));
}

describe('planGroups: valid plans', () => {
  it.each<{ name: string; cells: CellSize[]; groups: PodCount[]; want: Expected }>([
    {
      name: 'seed: 10 over 2 zones, groups 1, 2, rest -> 1, 2, 2 per zone',
      cells: [{ name: 'zone-a', replicas: 5 }, { name: 'zone-b', replicas: 5 }],
      groups: [1, 2, 'rest'],
      want: [[[1, 1], [1, 1]], [[2, 3], [2, 3]], [[2, 5], [2, 5]]],
    },
    {
      name: 'single group rest moves everything at once',
      cells: cells(5, 5), groups: ['rest'],
      want: [[[5, 5], [5, 5]]],
    },
    {
      name: '33%, 33%, rest over 10: cumulative rounding 4, 7, 10',
      cells: cells(10), groups: ['33%', '33%', 'rest'],
      want: [[[4, 4]], [[3, 7]], [[3, 10]]],
    },
    {
      name: '10% of 5 rounds up to 1 pod',
      cells: cells(5), groups: ['10%', 'rest'],
      want: [[[1, 1]], [[4, 5]]],
    },
    {
      name: '25% steps over 4 pods: one pod each',
      cells: cells(4), groups: ['25%', '25%', '25%', '25%'],
      want: [[[1, 1]], [[1, 2]], [[1, 3]], [[1, 4]]],
    },
    {
      name: 'percentages that add up to exactly 100% end the plan without rest',
      cells: cells(10, 10), groups: ['20%', '30%', '50%'],
      want: [[[2, 2], [2, 2]], [[3, 5], [3, 5]], [[5, 10], [5, 10]]],
    },
    {
      name: 'fractional percentages: 12.5% of 8 is exactly 1, cumulative 2',
      cells: cells(8), groups: ['12.5%', '12.5%', 'rest'],
      want: [[[1, 1]], [[1, 2]], [[6, 8]]],
    },
    {
      name: 'uneven cells 5 and 4: 50% rounds up per cell',
      cells: cells(5, 4), groups: ['50%', 'rest'],
      want: [[[3, 3], [2, 2]], [[2, 5], [2, 4]]],
    },
    {
      name: 'uneven cells 5 and 4 with counts: the smaller cell finishes earlier',
      cells: cells(5, 4), groups: [2, 2, 'rest'],
      want: [[[2, 2], [2, 2]], [[2, 4], [2, 4]], [[1, 5], [0, 4]]],
    },
    {
      name: 'a count larger than a cell is clamped to the cell',
      cells: cells(3, 10), groups: [5, 'rest'],
      want: [[[3, 3], [5, 5]], [[0, 3], [5, 10]]],
    },
    {
      name: 'a count larger than every cell moves everything in one group',
      cells: cells(2, 2), groups: [100],
      want: [[[2, 2], [2, 2]]],
    },
    {
      name: 'mixed: count 1 then 50% -> cumulative 1 + ceil(50% of 10) = 6',
      cells: cells(10), groups: [1, '50%', 'rest'],
      want: [[[1, 1]], [[5, 6]], [[4, 10]]],
    },
    {
      name: 'mixed: 20% then count 2 -> 2, then 2 + 2 = 4',
      cells: cells(10), groups: ['20%', 2, 'rest'],
      want: [[[2, 2]], [[2, 4]], [[6, 10]]],
    },
    {
      name: 'mixed over uneven cells: 1 then 50% of 7 and of 3',
      cells: cells(7, 3), groups: [1, '50%', 'rest'],
      // zone 7: 1, 1+ceil(3.5)=5, 7; zone 3: 1, min(3, 1+ceil(1.5)=3)=3, 3
      want: [[[1, 1], [1, 1]], [[4, 5], [2, 3]], [[2, 7], [0, 3]]],
    },
    {
      name: 'percentages over 100% are clamped to the cell',
      cells: cells(4), groups: ['60%', '60%'],
      want: [[[3, 3]], [[1, 4]]],
    },
    {
      name: 'an empty cell next to a full one: the empty one never moves',
      cells: cells(0, 4), groups: [1, 'rest'],
      want: [[[0, 0], [1, 1]], [[0, 0], [3, 4]]],
    },
    {
      name: 'every cell empty: nothing to move, nothing to complain about',
      cells: cells(0, 0), groups: [1, 'rest'],
      want: [[[0, 0], [0, 0]], [[0, 0], [0, 0]]],
    },
  ])('$name', ({ cells: cs, groups, want }) => {
    const r = planGroups(cs, groups.map((pods) => ({ pods })));
    if (!r.ok) throw new Error(`expected a plan, got errors: ${JSON.stringify(r.errors)}`);
    expect(summarize(r.groups)).toEqual(want);
    expect(r.groups.map((g) => g.index)).toEqual(groups.map((_, i) => i));
    r.groups.forEach((g) => {
      expect(g.perCell.map((c) => c.cell)).toEqual(cs.map((c) => c.name));
      g.perCell.forEach((c, ci) => expect(c.stable).toBe(cs[ci]!.replicas - c.canary));
    });
  });

  it('the seed plan spells out stable pods per zone after each group', () => {
    const r = planGroups([{ name: 'zone-a', replicas: 5 }, { name: 'zone-b', replicas: 5 }], [{ pods: 1 }, { pods: 2 }, { pods: 'rest' }]);
    expect(r).toEqual({
      ok: true,
      groups: [
        { index: 0, perCell: [{ cell: 'zone-a', add: 1, canary: 1, stable: 4 }, { cell: 'zone-b', add: 1, canary: 1, stable: 4 }] },
        { index: 1, perCell: [{ cell: 'zone-a', add: 2, canary: 3, stable: 2 }, { cell: 'zone-b', add: 2, canary: 3, stable: 2 }] },
        { index: 2, perCell: [{ cell: 'zone-a', add: 2, canary: 5, stable: 0 }, { cell: 'zone-b', add: 2, canary: 5, stable: 0 }] },
      ],
    });
  });
});

describe('planGroups: invalid plans', () => {
  it.each<{ name: string; cells: CellSize[]; groups: PodCount[]; want: { group?: number; cell?: string; message: RegExp; hint: RegExp }[] }>([
    {
      name: 'no groups',
      cells: cells(5), groups: [],
      want: [{ message: /^no groups$/, hint: /declare at least one group.*pods: rest/ }],
    },
    {
      name: 'no cells',
      cells: [], groups: ['rest'],
      want: [{ message: /^no cells$/, hint: /declare at least one cell/ }],
    },
    {
      name: 'no cells and no groups: both reported',
      cells: [], groups: [],
      want: [{ message: /^no cells$/, hint: /cell/ }, { message: /^no groups$/, hint: /group/ }],
    },
    {
      name: 'rest not last: reported on the group after it (which also moves nothing)',
      cells: cells(5), groups: ['rest', 2],
      want: [
        { group: 1, message: /group 1 comes after a group with `pods: rest`/, hint: /make it the last group/ },
        { group: 1, message: /group 1 moves no pod in any cell/, hint: /remove the group/ },
      ],
    },
    {
      name: 'plan does not cover every pod: one error per short cell, with the hint to end with rest',
      cells: [{ name: 'zone-a', replicas: 5 }, { name: 'zone-b', replicas: 5 }], groups: [1, 2],
      want: [
        { group: 1, cell: 'zone-a', message: /the groups move only 3 of 5 pods in cell zone-a/, hint: /end the plan with a group `pods: rest`/ },
        { group: 1, cell: 'zone-b', message: /the groups move only 3 of 5 pods in cell zone-b/, hint: /end the plan with a group `pods: rest`/ },
      ],
    },
    {
      name: 'plan short in only the bigger of two uneven cells',
      cells: cells(6, 3), groups: [3],
      want: [{ group: 0, cell: 'c0', message: /move only 3 of 6 pods in cell c0/, hint: /rest/ }],
    },
    {
      name: 'percentages short of 100%',
      cells: cells(10), groups: ['25%', '25%'],
      want: [{ group: 1, cell: 'c0', message: /move only 5 of 10 pods/, hint: /add up to every pod/ }],
    },
    {
      name: 'a group after the cells are already full moves no pod',
      cells: cells(5, 5), groups: [5, 'rest'],
      want: [{ group: 1, message: /group 1 moves no pod in any cell/, hint: /make the groups before it smaller/ }],
    },
    {
      name: 'a tiny percentage after rounding up moves no pod (10% of 5 twice)',
      cells: cells(5), groups: ['10%', '10%', 'rest'],
      want: [{ group: 1, message: /group 1 moves no pod in any cell/, hint: /remove the group/ }],
    },
  ])('$name', ({ cells: cs, groups, want }) => {
    const r = planGroups(cs, groups.map((pods) => ({ pods })));
    if (r.ok) throw new Error(`expected errors, got a plan: ${JSON.stringify(r.groups)}`);
    expect(r.errors).toHaveLength(want.length);
    r.errors.forEach((e, i) => {
      const w = want[i]!;
      expect(e.group).toBe(w.group);
      expect(e.cell).toBe(w.cell);
      expect(e.message).toMatch(w.message);
      expect(e.hint).toMatch(w.hint);
    });
  });
});

// A small deterministic PRNG (mulberry32), so the generated cases are the same on every run.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('planGroups: invariants over generated plans', () => {
  const random = rng(20240611);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const cases: { cells: CellSize[]; groups: PodCount[] }[] = [];
  for (let i = 0; i < 2000; i++) {
    const cs = cells(...Array.from({ length: int(1, 5) }, () => int(0, 23)));
    const n = int(1, 6);
    const groups: PodCount[] = Array.from({ length: n }, () => {
      const kind = int(0, 2);
      return kind === 0 ? int(1, 6) : (`${int(1, 60)}%` as const);
    });
    // Most plans end with rest; some rely on counts/percentages adding up (and may fail).
    if (random() < 0.8) groups[n - 1] = 'rest';
    cases.push({ cells: cs, groups });
  }

  it('holds for every generated (cells, groups) combination', () => {
    let planned = 0;
    for (const { cells: cs, groups } of cases) {
      const label = JSON.stringify({ cells: cs.map((c) => c.replicas), groups });
      const r = planGroups(cs, groups.map((pods) => ({ pods })));
      if (!r.ok) {
        // A refused plan always says why, and a plan ending in rest is only refused for an empty group.
        expect(r.errors.length).toBeGreaterThan(0);
        for (const e of r.errors) {
          expect(e.hint.length).toBeGreaterThan(10);
          if (groups[groups.length - 1] === 'rest') expect(`${label} ${e.message}`).toMatch(/moves no pod in any cell/);
        }
        continue;
      }
      planned++;
      expect(r.groups).toHaveLength(groups.length);
      cs.forEach((cell, ci) => {
        const steps = r.groups.map((g) => g.perCell[ci]!);
        // Every pod is moved exactly once.
        expect([label, steps.reduce((s, c) => s + c.add, 0)]).toEqual([label, cell.replicas]);
        let previous = 0;
        for (const c of steps) {
          expect(c.cell).toBe(cell.name);
          expect(c.add).toBeGreaterThanOrEqual(0);
          // Cumulative and monotone; add is the step between groups.
          expect([label, c.canary]).toEqual([label, previous + c.add]);
          expect(c.canary).toBeGreaterThanOrEqual(previous);
          expect([label, c.canary + c.stable]).toEqual([label, cell.replicas]);
          expect(Number.isInteger(c.canary)).toBe(true);
          previous = c.canary;
        }
        expect([label, steps[steps.length - 1]!.canary]).toEqual([label, cell.replicas]);
      });
      // No group is a no-op when there is anything to move.
      if (cs.some((c) => c.replicas > 0)) {
        for (const g of r.groups) expect([label, g.perCell.some((c) => c.add > 0)]).toEqual([label, true]);
      }
      // canaryTargets agrees with the plan after every group.
      r.groups.forEach((g, gi) => {
        expect(canaryTargets(r.groups, gi)).toEqual(Object.fromEntries(g.perCell.map((c) => [c.cell, c.canary])));
      });
    }
    // The generator must exercise the valid path a lot, not just the error path.
    expect(planned).toBeGreaterThan(cases.length / 2);
  });
});

describe('canaryTargets', () => {
  const seed = planGroups([{ name: 'zone-a', replicas: 5 }, { name: 'zone-b', replicas: 5 }], [{ pods: 1 }, { pods: 2 }, { pods: 'rest' }]);
  if (!seed.ok) throw new Error('seed plan must be valid');

  it.each([
    { name: 'before the first group (-1): none', index: -1, want: { 'zone-a': 0, 'zone-b': 0 } },
    { name: 'after group 0', index: 0, want: { 'zone-a': 1, 'zone-b': 1 } },
    { name: 'after group 1 (cumulative)', index: 1, want: { 'zone-a': 3, 'zone-b': 3 } },
    { name: 'after the last group: every pod', index: 2, want: { 'zone-a': 5, 'zone-b': 5 } },
    { name: 'past the end: none (no such group)', index: 3, want: { 'zone-a': 0, 'zone-b': 0 } },
  ])('$name', ({ index, want }) => {
    expect(canaryTargets(seed.groups, index)).toEqual(want);
  });

  it('an empty plan has no targets', () => {
    expect(canaryTargets([], 0)).toEqual({});
  });
});
