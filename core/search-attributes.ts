// Custom search attributes of a release: what the release list, "waiting for me" and the metrics
// read in one visibility query instead of one status query per release. Pure: the names and types
// (registered on every Temporal server Gantry starts), the values a release's state gives them, and
// the visibility queries over them. The release workflow upserts the values when they change.
import { Action, mayDecide, type Identity } from './approval.js';
import type { EnvironmentConfig } from './config.js';
import { decideNext, phaseOf, validApprovals, type Phase, type ReleaseState, type Step } from './release.js';

/** The attributes, by role. Register each with its type (searchAttributeTypes) on the namespace. */
export const SearchAttribute = {
  /** The app (gantry.yaml app.name). */
  App: 'GantryApp',
  /** The environment's name. */
  Environment: 'GantryEnvironment',
  /** release | rollback */
  Kind: 'GantryKind',
  /** The status phase (applying, waiting-approval, paused, succeeded, …): ReleaseStatus.phase. */
  Phase: 'GantryPhase',
  /** approval | timer | window | resume | none */
  WaitingOn: 'GantryWaitingOn',
  /** Who can unblock a release waiting on people: user ids, `group:<name>`, or `*` (any authenticated user). */
  Approvers: 'GantryApprovers',
  /** Ids that the approvers list would name but who may not unblock it now (author, starter: four-eyes; who already approved). */
  Excluded: 'GantryExcluded',
  /** The new revision's planned share of the pods, in percent (0 before the first group and after a rollback; 100 once all moved). */
  Weight: 'GantryWeight',
  /** When the current wait began (absent when the release does not wait): gantry_release_waiting_seconds. */
  WaitingSince: 'GantryWaitingSince',
  /** The group in progress, 1-based, as status shows it (the count is in the memo). */
  Group: 'GantryGroup',
  /** Per cell, the new revision's planned pods of all: `zone-a=3/5` (a bar per cell in the list). */
  Cells: 'GantryCells',
} as const;
export type SearchAttributeName = (typeof SearchAttribute)[keyof typeof SearchAttribute];

/** Temporal's indexed value type of each attribute, as `temporal operator search-attribute create --type` spells it. */
export type SearchAttributeTypeName = 'Keyword' | 'KeywordList' | 'Int' | 'Datetime';
export const searchAttributeTypes: Readonly<Record<SearchAttributeName, SearchAttributeTypeName>> = {
  GantryApp: 'Keyword', GantryEnvironment: 'Keyword', GantryKind: 'Keyword', GantryPhase: 'Keyword',
  GantryWaitingOn: 'Keyword', GantryApprovers: 'KeywordList', GantryExcluded: 'KeywordList',
  GantryWeight: 'Int', GantryWaitingSince: 'Datetime', GantryGroup: 'Int', GantryCells: 'KeywordList',
};

/** `--search-attribute Name=Type` for each attribute: for `temporal server start-dev`. */
export function searchAttributeFlags(): string[] {
  return Object.entries(searchAttributeTypes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
}

/** How to register the attributes on a namespace (self-hosted; Temporal Cloud: tcld namespace search-attributes add). */
export function registerHint(namespace = 'default'): string {
  const types = [...new Set(Object.values(searchAttributeTypes))];
  const byType = (type: SearchAttributeTypeName) => Object.entries(searchAttributeTypes).filter(([, ty]) => ty === type).map(([n]) => `--name ${n}`).join(' ');
  // One --type per command.
  return types.map((t) => `temporal operator search-attribute create --namespace ${namespace} ${byType(t)} --type ${t}`).join('; ');
}

export type WaitingOn = 'approval' | 'timer' | 'window' | 'resume' | 'none';

/** The action that unblocks a release waiting on people, by what it waits on (a timer needs nobody). */
export function unblockingAction(on: WaitingOn): Action | undefined {
  switch (on) {
    case 'approval': return Action.Approve;
    case 'window': return Action.Override;
    case 'resume': return Action.Resume;
    case 'timer': case 'none': return undefined;
    default: {
      const never: never = on;
      throw new Error(`unknown wait ${String(never)}`);
    }
  }
}
export const ANYONE = '*';

/** The values that change while a release runs (app, environment and kind are set when it starts). */
export interface ReleaseAttributes {
  phase: Phase;
  waitingOn: WaitingOn;
  approvers: string[];
  excluded: string[];
  /** The new revision's planned share of the pods in percent (GantryWeight). */
  weight: number;
  /** When the current wait began, ms since epoch (GantryWaitingSince); absent when not waiting. */
  waitingSince?: number;
  /** The group in progress, 1-based, as status shows it (GantryGroup). */
  group: number;
  /** Per cell `<cell>=<new>/<all>`, planned pods as status shows them (GantryCells). */
  cells: string[];
}

/** The keys added after the first four: upserted only by releases that carry them (see the release workflow). */
export const CANARY_ATTRIBUTE_KEYS: readonly (keyof ReleaseAttributes)[] = ['weight', 'waitingSince'];
/** Added after those (patched 'group-attributes'): upserted only by releases whose starter set GantryGroup. */
export const GROUP_ATTRIBUTE_KEYS: readonly (keyof ReleaseAttributes)[] = ['group', 'cells'];

/** The group in progress and each cell's planned new pods, as status shows them (core/release.ts releaseStatus). */
export function groupAttributes(s: ReleaseState, step: Step): { group: number; cells: string[] } {
  const shown = step.kind === 'apply' || step.kind === 'wait-window' ? step.group : Math.max(s.group, 0);
  const done = s.group >= 0 ? s.plan[s.group] : undefined;
  const rolledBack = s.outcome?.result === 'rolled-back';
  const cells = (s.plan[0]?.perCell ?? []).map((c, i) => `${c.cell}=${rolledBack ? 0 : done?.perCell[i]?.canary ?? 0}/${c.canary + c.stable}`);
  return { group: s.plan.length ? shown + 1 : 0, cells };
}

/** `zone-a=3/5` → { cell: 'zone-a', part: 3, whole: 5 }; undefined for anything else. */
export function parseCellAttribute(v: string): { cell: string; part: number; whole: number } | undefined {
  const m = /^(.+)=(\d+)\/(\d+)$/.exec(v);
  return m ? { cell: m[1]!, part: Number(m[2]), whole: Number(m[3]) } : undefined;
}

/** The new revision's planned share of all pods now, in percent, as status shows the cells. */
export function plannedWeight(s: ReleaseState): number {
  if (s.outcome?.result === 'rolled-back') return 0;
  const done = s.group >= 0 ? s.plan[s.group] : undefined;
  const total = (s.plan[0]?.perCell ?? []).reduce((n, c) => n + c.canary + c.stable, 0);
  const canary = (done?.perCell ?? []).reduce((n, c) => n + c.canary, 0);
  return total === 0 ? 0 : Math.round((100 * canary) / total);
}

/**
 * The attribute values of a release now: its phase and what it waits on as status shows them, and
 * who can unblock it, by the approval policy (core/approval.ts mayDecide) for the action that
 * unblocks each wait: approve (approval), override (window), resume (resume). A timer needs nobody.
 */
export function releaseAttributes(s: ReleaseState, env: EnvironmentConfig, now: number): ReleaseAttributes {
  const step = decideNext(s, env, now);
  const phase = phaseOf(step, s);
  const policy = env.approvers;
  const named = policy.users.length === 0 && policy.groups.length === 0 ? [ANYONE] : [...policy.users, ...policy.groups.map((g) => `group:${g}`)];
  const parties = { author: s.revision.author, startedBy: s.startedBy.id };
  const weight = plannedWeight(s);
  const since = s.stageSince;
  const at = groupAttributes(s, step);
  // The four-eyes exclusions: a party who, were they an approver, would still be refused.
  const fourEyes = (action: Action) => [...new Set([parties.author, parties.startedBy].filter((id): id is string => !!id))]
    .filter((id) => !mayDecide({ id, groups: policy.groups }, action, { ...policy, users: [...policy.users, id] }, parties).allowed);
  switch (step.kind) {
    case 'wait-approval':
      return { phase, waitingOn: 'approval', approvers: named, excluded: [...new Set([...fourEyes(Action.Approve), ...validApprovals(s, env, now)])].sort(), weight, waitingSince: since, ...at };
    case 'wait-window':
      return { phase, waitingOn: 'window', approvers: named, excluded: fourEyes(Action.Override).sort(), weight, waitingSince: since, ...at };
    case 'hold': {
      // Resume: approvers, the author and the starter (mayDecide's emergency-brake rule).
      const extra = [parties.author, parties.startedBy].filter((id): id is string => !!id && mayDecide({ id, groups: [] }, Action.Resume, policy, parties).allowed);
      const paused = s.paused ? Date.parse(s.paused.at) : now;
      return { phase, waitingOn: 'resume', approvers: [...new Set([...named, ...extra])], excluded: [], weight, waitingSince: paused, ...at };
    }
    case 'wait-timer':
      return { phase, waitingOn: 'timer', approvers: [], excluded: [], weight, waitingSince: since, ...at };
    case 'apply': case 'verify': case 'analyse': case 'confirm': case 'complete': case 'rollback': case 'done':
      return { phase, waitingOn: 'none', approvers: [], excluded: [], weight, ...at };
    default: {
      const never: never = step;
      throw new Error(`unhandled step ${JSON.stringify(never)}`);
    }
  }
}

/** The keys whose values differ between two attribute sets (all of them when there is no previous). */
export function changedAttributes(prev: ReleaseAttributes | undefined, next: ReleaseAttributes): (keyof ReleaseAttributes)[] {
  const keys: (keyof ReleaseAttributes)[] = ['phase', 'waitingOn', 'approvers', 'excluded', ...CANARY_ATTRIBUTE_KEYS, ...GROUP_ATTRIBUTE_KEYS];
  if (!prev) return keys;
  return keys.filter((k) => JSON.stringify(prev[k]) !== JSON.stringify(next[k]));
}

/** A string literal for a visibility query (single quotes; quote and backslash escaped). */
export function queryLiteral(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The keywords that name `who` in GantryApprovers: their id, each of their groups, and anyone. */
export function approverKeys(who: Identity): string[] {
  return [ANYONE, who.id, ...who.groups.map((g) => `group:${g}`)];
}

/**
 * The visibility query clause "waiting for `who`": running releases that wait on a person whom
 * `who` is among. Exclusions (four-eyes, already approved) are in GantryExcluded: see canUnblock.
 */
export function waitingForClause(who: Identity): string {
  return `ExecutionStatus = 'Running' AND ${SearchAttribute.Approvers} IN (${approverKeys(who).map(queryLiteral).join(', ')})`;
}

/** Whether `who` can unblock a release with these approvers and exclusions (the list's answer, from attributes alone). */
export function canUnblock(who: Identity, approvers: readonly string[], excluded: readonly string[]): boolean {
  if (excluded.includes(who.id)) return false;
  const keys = new Set(approverKeys(who));
  return approvers.some((a) => keys.has(a));
}
