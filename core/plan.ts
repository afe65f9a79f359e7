// Group planning: how many pods of each cell each group moves from the stable to the new revision.
// Pure and deterministic; table-tested in test/core/plan.test.ts.
//
// Worked example (the seed's): 10 replicas over 2 zones -> 5 per zone; groups `1, 2, rest`
// -> group 0 moves 1 pod per zone, group 1 two more, group 2 the remaining two.

import type { ErrorDetail } from './errors.js';

/** How many pods per cell a group moves: a count, a percentage of the cell's replicas, or the rest. */
export type PodCount = number | `${number}%` | 'rest';

export interface CellSize { name: string; replicas: number }

export interface CellStep {
  cell: string;
  /** Pods of this cell moved to the new revision in this group. */
  add: number;
  /** New-revision (canary) pods in this cell once the group is done (cumulative). */
  canary: number;
  /** Old-revision (stable) pods left in this cell once the group is done. */
  stable: number;
}

export interface GroupStep { index: number; perCell: CellStep[] }

/** A plan problem: placed by group and cell (core/config.ts turns these into a path). */
export type PlanError = Omit<ErrorDetail, 'path'> & { group?: number; cell?: string };

export type PlanResult = { ok: true; groups: GroupStep[] } | { ok: false; errors: PlanError[] };

/**
 * Spreads `total` replicas evenly over cells; the remainder goes one each to the first cells,
 * so no two cells differ by more than one. spreadReplicas(10, 3) = [4, 3, 3].
 */
export function spreadReplicas(total: number, cellCount: number): number[] {
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`total replicas must be a non-negative integer, got ${total}`);
  if (!Number.isInteger(cellCount) || cellCount < 1) throw new RangeError(`cell count must be a positive integer, got ${cellCount}`);
  const base = Math.floor(total / cellCount);
  const remainder = total % cellCount;
  return Array.from({ length: cellCount }, (_, i) => base + (i < remainder ? 1 : 0));
}

export function parsePodCount(value: PodCount): { kind: 'count'; n: number } | { kind: 'percent'; pct: number } | { kind: 'rest' } {
  if (value === 'rest') return { kind: 'rest' };
  if (typeof value === 'number') return { kind: 'count', n: value };
  return { kind: 'percent', pct: Number(value.slice(0, -1)) };
}

/**
 * Plans the groups. Each group's target is cumulative: counts add up, percentages add up (of the
 * cell's replicas, rounded up, so a non-empty percentage moves at least one pod), `rest` takes all.
 * Rounding the cumulative target (not each group) spreads remainders over the groups, and every pod
 * is moved exactly once. The plan must end with every pod of every cell moved.
 */
export function planGroups(cells: readonly CellSize[], groups: readonly { pods: PodCount }[]): PlanResult {
  const errors: PlanError[] = [];
  if (cells.length === 0) errors.push({ message: 'no cells', hint: 'declare at least one cell' });
  if (groups.length === 0) errors.push({ message: 'no groups', hint: 'declare at least one group, e.g. `- pods: rest`' });
  if (errors.length) return { ok: false, errors };

  let countSum = 0;
  let pctSum = 0;
  let rest = false;
  const cumulative: number[][] = []; // [group][cell]
  groups.forEach((g, gi) => {
    const p = parsePodCount(g.pods);
    if (rest) errors.push({ group: gi, message: `group ${gi} comes after a group with \`pods: rest\``, hint: '`rest` moves every remaining pod: make it the last group' });
    if (p.kind === 'count') countSum += p.n;
    else if (p.kind === 'percent') pctSum += p.pct;
    else rest = true;
    cumulative.push(cells.map((c) => rest ? c.replicas : Math.min(c.replicas, countSum + Math.ceil((c.replicas * pctSum) / 100 - 1e-9))));
  });

  const steps: GroupStep[] = groups.map((_, gi) => ({
    index: gi,
    perCell: cells.map((c, ci) => {
      const canary = cumulative[gi]![ci]!;
      const before = gi === 0 ? 0 : cumulative[gi - 1]![ci]!;
      return { cell: c.name, add: canary - before, canary, stable: c.replicas - canary };
    }),
  }));

  const totalReplicas = cells.reduce((s, c) => s + c.replicas, 0);
  steps.forEach((s) => {
    if (totalReplicas > 0 && s.perCell.every((c) => c.add === 0)) {
      errors.push({ group: s.index, message: `group ${s.index} moves no pod in any cell`, hint: 'remove the group, or make the groups before it smaller' });
    }
  });
  const last = steps[steps.length - 1]!;
  for (const c of last.perCell) {
    if (c.stable > 0) {
      const replicas = c.canary + c.stable;
      errors.push({ group: last.index, cell: c.cell, message: `the groups move only ${c.canary} of ${replicas} pods in cell ${c.cell}`, hint: 'end the plan with a group `pods: rest`, or make the groups add up to every pod' });
    }
  }
  return errors.length ? { ok: false, errors } : { ok: true, groups: steps };
}

/** Canary pods per cell once `groupIndex` is done (-1: none yet). */
export function canaryTargets(groups: readonly GroupStep[], groupIndex: number): Record<string, number> {
  const out: Record<string, number> = {};
  const g = groups[groupIndex];
  for (const c of groups[0]?.perCell ?? []) out[c.cell] = 0;
  if (g) for (const c of g.perCell) out[c.cell] = c.canary;
  return out;
}

/**
 * The group plan of an already-validated environment. Lives here rather than in config.ts so the
 * workflow bundle does not carry the schema library.
 */
export function environmentPlan(env: { name: string; cells: readonly CellSize[]; groups: readonly { pods: PodCount }[] }): GroupStep[] {
  const plan = planGroups(env.cells, env.groups);
  if (!plan.ok) throw new Error(`invalid plan for ${env.name}: ${plan.errors.map((e) => e.message).join('; ')}`);
  return plan.groups;
}
