// The release state machine, pure: what the release does next (decideNext), how each result and
// each human decision changes its state (the record* functions and applyDecision), whether a
// decision is allowed now (checkDecision), and what `status` shows. The release workflow is a loop
// over decideNext; every decision about a release is made here, and table-tested.
//
// The release calendar is evaluated in one place only: observeCalendar, which the workflow's loop
// calls before each decideNext and which keeps the answer in the state. decideNext, releaseStatus
// and checkDecision read that answer and never evaluate the calendar themselves, so a status query,
// an abort, a rejection or a rollback never waits on it.
import { assessAnalysis, summarizeAnalysis, type AnalysisResult, type Measurement } from './analysis.js';
import { Action, mayDecide, quorumReached, type Channel, type Identity, type PolicyAnswer } from './approval.js';
import type { ConfirmPolicy, EnvironmentConfig } from './config.js';
import { durationMs, formatDuration } from './duration.js';
import { type GroupStep } from './plan.js';
import { calendarState, describeOpening } from './windows.js';
import type { ObservedState } from './observed.js';

/** An immutable version of the application: deployed by digest when known. */
export interface Revision {
  image: string;
  digest?: string;
  sha?: string;
  author?: string;
  message?: string;
}

export function revisionRef(r: Revision): string {
  return r.digest ? `${r.image}@${r.digest}` : r.image;
}

export type GroupStage = 'pending' | 'applied' | 'healthy' | 'analysed' | 'confirmed';

export type StopCause = 'abort' | 'rejected' | 'health' | 'analysis' | 'deadline' | 'cancelled' | 'rollback';

export interface Decision {
  action: Action;
  by: string;
  channel: Channel;
  at: string;
  comment?: string;
  group?: number;
}

export interface HistoryEvent { at: string; type: string; message: string; group?: number }

export type Outcome = 'succeeded' | 'rolled-back' | 'failed';

export interface ReleaseState {
  id: string;
  app: string;
  environment: string;
  kind: 'release' | 'rollback';
  revision: Revision;
  previous?: Revision;
  startedBy: { id: string; channel: Channel };
  startedAt: string;
  plan: GroupStep[];
  /** Index of the group in progress (-1 before the first is applied). */
  group: number;
  stage: GroupStage;
  /** When the current stage began (ms since epoch, workflow time). */
  stageSince: number;
  analysis?: AnalysisResult;
  /** Identities that approved the current group. */
  approvals: string[];
  /** A person accepted an inconclusive analysis for the current group. */
  inconclusiveAccepted: boolean;
  paused?: Decision;
  promoted?: Decision;
  /** A person let the release move outside its release window (for the rest of this release). */
  windowOverride?: Decision;
  /** The calendar's answer when the loop last looked (observeCalendar); read by decideNext and status. */
  calendar?: CalendarAnswer;
  /** The newest observation of the target a cluster activity's result brought (core/observed.ts recordObserved); not an event. */
  observed?: ObservedState;
  /** Keys of the notices already sent (see noticesDue), so each is sent once. */
  notices?: string[];
  /** `hint`: what a person should do, when an error (not a decision or a check) stopped the release. */
  stop?: { cause: StopCause; reason: string; by?: string; at: string; hint?: string };
  outcome?: { result: Outcome; reason: string; at: string; hint?: string };
  decisions: Decision[];
  events: HistoryEvent[];
  /** Bumped on every change, so waits can wake on "anything happened". */
  rev: number;
}

/** What the release calendar said at `at` (ms since epoch, workflow time). */
export interface CalendarAnswer {
  at: number;
  open: boolean;
  reason: string;
  opensAt?: number;
  /** opensAt as people read it, in the zone it is best described in. */
  opens?: string;
  closesAt?: number;
  timeZone?: string;
}

export interface ReleaseSpec {
  id: string;
  app: string;
  environment: EnvironmentConfig;
  kind?: 'release' | 'rollback';
  revision: Revision;
  previous?: Revision;
  startedBy: { id: string; channel: Channel };
  plan: GroupStep[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function newReleaseState(spec: ReleaseSpec, now: number): ReleaseState {
  const s: ReleaseState = {
    id: spec.id, app: spec.app, environment: spec.environment.name, kind: spec.kind ?? 'release',
    revision: spec.revision, ...(spec.previous ? { previous: spec.previous } : {}),
    startedBy: spec.startedBy, startedAt: iso(now), plan: spec.plan,
    group: -1, stage: 'confirmed', stageSince: now, approvals: [], inconclusiveAccepted: false,
    decisions: [], events: [], rev: 0,
  };
  event(s, now, 'started', `${s.kind} of ${revisionRef(spec.revision)} to ${s.environment} started by ${spec.startedBy.id} via ${spec.startedBy.channel}: ${spec.plan.length} group${spec.plan.length === 1 ? '' : 's'} over ${spec.plan[0]?.perCell.length ?? 0} cell(s)`);
  return s;
}

function event(s: ReleaseState, now: number, type: string, message: string, group?: number): void {
  s.events.push({ at: iso(now), type, message, ...(group !== undefined ? { group } : {}) });
  s.rev++;
}

// ---------------------------------------------------------------------------------------------
// What to do next

export type Step =
  | { kind: 'apply'; group: number }
  | { kind: 'verify'; group: number; deadlineMs: number }
  | { kind: 'analyse'; group: number }
  | { kind: 'wait-timer'; group: number; until: number; reason: string; who: string }
  | { kind: 'wait-approval'; group: number; reason: string; until?: number; who: string }
  | { kind: 'hold'; group: number; reason: string; who: string }
  | { kind: 'wait-window'; group: number; reason: string; until?: number; who: string }
  | { kind: 'confirm'; group: number; reason: string }
  | { kind: 'complete' }
  | { kind: 'rollback'; cause: StopCause; reason: string }
  | { kind: 'done' };

/** When each current approval was given (the latest approve decision by that person for this group). */
function approvalTimes(s: ReleaseState): Map<string, number> {
  const at = new Map<string, number>();
  for (const d of s.decisions) {
    if (d.action === Action.Approve && d.group === s.group && s.approvals.includes(d.by)) at.set(d.by, Date.parse(d.at));
  }
  return at;
}

/** The approvals of the current group that still count: all of them, or those younger than `expiry`. */
export function validApprovals(s: ReleaseState, env: EnvironmentConfig, now: number): string[] {
  const expiry = env.approvers.expiry ? durationMs(env.approvers.expiry) : undefined;
  const unique = [...new Set(s.approvals)];
  if (expiry === undefined) return unique;
  const at = approvalTimes(s);
  return unique.filter((id) => { const t = at.get(id); return t === undefined || now < t + expiry; });
}

/** Who can approve a waiting release, structured (status.waiting.approvers): the same policy as approverText and the validators. */
export interface ApproversStatus {
  /** Empty users and groups: any authenticated user. */
  users: string[];
  groups: string[];
  required: number;
  /** The approvals of this group that count now, with when each stops counting (approvers.expiry). */
  approvals: { by: string; at: string; expiresAt?: string }[];
  /** Who may not approve now, and why (four-eyes; already approved). */
  excluded: { id: string; why: string }[];
  /** When the wait escalates (approvers.escalateAfter), to whom, and whether that notice went out. */
  escalation?: { at: string; to: { users: string[]; groups: string[] }; sent: boolean };
}

export function approversStatus(env: EnvironmentConfig, s: ReleaseState, now: number): ApproversStatus {
  const a = env.approvers;
  const expiry = a.expiry ? durationMs(a.expiry) : undefined;
  const times = approvalTimes(s);
  const approvals = validApprovals(s, env, now).map((by) => {
    const t = times.get(by);
    return { by, at: t !== undefined ? iso(t) : iso(s.stageSince), ...(t !== undefined && expiry !== undefined ? { expiresAt: iso(t + expiry) } : {}) };
  });
  const parties = { author: s.revision.author, startedBy: s.startedBy.id };
  const excluded: ApproversStatus['excluded'] = [];
  const add = (id: string | undefined, why: string) => { if (id && !excluded.some((e) => e.id === id)) excluded.push({ id, why }); };
  // A party who, were they an approver, would still be refused (the validators' own rule).
  for (const id of [parties.author, parties.startedBy]) {
    if (!id) continue;
    const answer = mayDecide({ id, groups: a.groups }, Action.Approve, { ...a, users: [...a.users, id] }, parties);
    if (!answer.allowed) add(id, id === parties.author ? 'author of the change (four-eyes)' : 'started this release (four-eyes)');
  }
  for (const x of approvals) add(x.by, 'already approved this group');
  const escalateAt = a.escalateAfter ? s.stageSince + durationMs(a.escalateAfter) : undefined;
  const to = a.escalateTo ?? { users: a.users, groups: a.groups };
  return {
    users: [...a.users], groups: [...a.groups], required: a.required, approvals, excluded,
    ...(escalateAt !== undefined ? { escalation: { at: iso(escalateAt), to: { users: [...to.users], groups: [...to.groups] }, sent: (s.notices ?? []).includes(`escalation:${s.group}:${s.stageSince}`) } } : {}),
  };
}

function approverText(env: EnvironmentConfig, s: ReleaseState, now: number): string {
  const a = env.approvers;
  const list = [...a.users, ...a.groups.map((g) => `group:${g}`)].join(', ') || 'any authenticated user';
  const excluded = [s.revision.author, a.allowStarter ? undefined : s.startedBy.id].filter((x): x is string => !!x);
  const have = validApprovals(s, env, now).length;
  return `approvers: ${list}${excluded.length ? ` (not ${[...new Set(excluded)].join(', ')})` : ''}; ${have} of ${a.required} approval${a.required === 1 ? '' : 's'}`;
}

/** How long a group's new pods have to become healthy once applied (the 'verify' step, or applyGroup's own check). */
export function verifyDeadlineMs(env: EnvironmentConfig): number {
  return durationMs(env.deadlines.progress);
}

/** The next step of a release, from its state, its environment's config, and the current time. */
export function decideNext(s: ReleaseState, env: EnvironmentConfig, now: number): Step {
  if (s.outcome) return { kind: 'done' };
  if (s.stop) return { kind: 'rollback', cause: s.stop.cause, reason: s.stop.reason };
  const last = s.plan.length - 1;
  const g = s.group;
  if (s.paused) return { kind: 'hold', group: g, reason: `paused by ${s.paused.by}${s.paused.comment ? `: ${s.paused.comment}` : ''}`, who: 'approvers, the author or the starter (resume)' };

  switch (s.stage) {
    case 'pending':
      return { kind: 'apply', group: g };
    case 'applied':
      return { kind: 'verify', group: g, deadlineMs: verifyDeadlineMs(env) };
    case 'healthy':
      if (env.analysis.length > 0) return { kind: 'analyse', group: g };
      return confirmation(s, env, now);
    case 'analysed':
      return confirmation(s, env, now);
    case 'confirmed': {
      if (g < last) return windowGate(s, env, now, g + 1) ?? { kind: 'apply', group: g + 1 };
      const bake = durationMs(env.bake);
      if (bake > 0 && !s.promoted && now < s.stageSince + bake) {
        return { kind: 'wait-timer', group: g, until: s.stageSince + bake, reason: `baking for ${formatDuration(bake)} before the release is final (rollback still possible)`, who: 'an approver (promote) to finish now' };
      }
      return { kind: 'complete' };
    }
  }
}

/** Whether the next step depends on the release window: the next group would start now. */
function atWindowGate(s: ReleaseState, env: EnvironmentConfig): boolean {
  return !!env.calendar && !s.windowOverride && !s.outcome && !s.stop && !s.paused && s.stage === 'confirmed' && s.group < s.plan.length - 1;
}

/**
 * The loop's calendar look-up, made before each decideNext: when the next group would start now,
 * evaluate the calendar at `now` and keep the answer in the state (it is not an event and does not
 * bump `rev`). Nothing else evaluates the calendar.
 */
export function observeCalendar(s: ReleaseState, env: EnvironmentConfig, now: number): void {
  if (!atWindowGate(s, env)) return;
  const c = calendarState(env.calendar!, now);
  s.calendar = {
    at: now, open: c.open, reason: c.reason,
    ...(c.opensAt !== undefined ? { opensAt: c.opensAt, opens: describeOpening(c.opensAt, c.timeZone ?? 'UTC') } : {}),
    ...(c.closesAt !== undefined ? { closesAt: c.closesAt } : {}),
    ...(c.timeZone !== undefined ? { timeZone: c.timeZone } : {}),
  };
}

/**
 * A group starts only while the environment's release window is open (unless overridden), as the
 * loop last observed it. Read by status and decisions at later instants too: a closed answer whose
 * opening has come counts as open (the loop is about to look again); an answer that was never
 * taken counts as not known yet, never as a reason to evaluate the calendar here.
 */
function windowGate(s: ReleaseState, env: EnvironmentConfig, now: number, group: number): Step | undefined {
  if (!atWindowGate(s, env)) return undefined;
  const who = `an approver may override with a reason (${overrideCommand(s.app, s.environment)})`;
  const c = s.calendar;
  if (!c) return { kind: 'wait-window', group, reason: 'waiting for window: the release calendar has not been looked at yet', who };
  if (c.open || (c.opensAt !== undefined && now >= c.opensAt)) return undefined;
  const opens = c.opens !== undefined ? `opens ${c.opens}` : 'no opening found';
  // The calendar's reason ends with the same opening ("…; opens Fri …"): say it once.
  const closed = c.opens !== undefined ? c.reason.replace(/; opens [^;]*$/, '') : c.reason;
  return {
    kind: 'wait-window', group, reason: `waiting for window, ${opens} (${closed})`,
    ...(c.opensAt !== undefined ? { until: c.opensAt } : {}),
    who,
  };
}

function confirmation(s: ReleaseState, env: EnvironmentConfig, now: number): Step {
  const g = s.group;
  const policy: ConfirmPolicy = env.groups[g]?.confirm ?? { type: 'auto' };
  const verdict = s.analysis?.verdict ?? 'pass';
  if (verdict === 'inconclusive' && !s.inconclusiveAccepted) {
    // The group's approval deadline, if it has one, also bounds the wait for a person here.
    const deadline = policy.type === 'manual' && policy.timeout ? s.stageSince + durationMs(policy.timeout) : undefined;
    if (deadline !== undefined && now >= deadline && policy.type === 'manual' && policy.onTimeout === 'rollback') {
      return { kind: 'rollback', cause: 'deadline', reason: `no decision on the inconclusive analysis of group ${g + 1} within ${policy.timeout}` };
    }
    return { kind: 'wait-approval', group: g, reason: `${summarizeAnalysis(s.analysis!)}: a person decides (approve continues, reject rolls back)`, ...(deadline !== undefined && now < deadline ? { until: deadline } : {}), who: approverText(env, s, now) };
  }
  if (s.promoted) return { kind: 'confirm', group: g, reason: `promoted by ${s.promoted.by}` };
  switch (policy.type) {
    case 'auto':
      return { kind: 'confirm', group: g, reason: env.analysis.length ? 'checks passed' : 'healthy' };
    case 'pause': {
      const until = s.stageSince + durationMs(policy.duration);
      if (now >= until) return { kind: 'confirm', group: g, reason: `paused ${policy.duration}` };
      return { kind: 'wait-timer', group: g, until, reason: `pausing ${policy.duration} after group ${g + 1}`, who: 'an approver (promote) to skip the pause' };
    }
    case 'manual': {
      const valid = validApprovals(s, env, now);
      if (quorumReached(valid, env.approvers)) {
        return { kind: 'confirm', group: g, reason: `approved by ${valid.join(', ')}` };
      }
      const until = policy.timeout ? s.stageSince + durationMs(policy.timeout) : undefined;
      if (until !== undefined && now >= until) {
        if (policy.onTimeout === 'rollback') return { kind: 'rollback', cause: 'deadline', reason: `no approval for group ${g + 1} within ${policy.timeout}` };
        return { kind: 'wait-approval', group: g, reason: `approval for group ${g + 1} overdue (timeout ${policy.timeout}, holding)`, who: approverText(env, s, now) };
      }
      return { kind: 'wait-approval', group: g, reason: `waiting for approval of group ${g + 1}`, ...(until !== undefined ? { until } : {}), who: approverText(env, s, now) };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Recording results (called by the workflow after each step's effect)

export function recordApplied(s: ReleaseState, group: number, now: number): void {
  s.group = group;
  s.stage = 'applied';
  s.stageSince = now;
  s.approvals = [];
  s.inconclusiveAccepted = false;
  delete s.analysis;
  const step = s.plan[group];
  event(s, now, 'applied', `group ${group + 1} applied: ${step?.perCell.map((c) => `${c.cell} +${c.add} (${c.canary} new, ${c.stable} old)`).join(', ')}`, group);
}

export function recordHealth(s: ReleaseState, healthy: boolean, reason: string, now: number): void {
  if (healthy) {
    s.stage = 'healthy';
    s.stageSince = now;
    event(s, now, 'healthy', `group ${s.group + 1} healthy: ${reason}`, s.group);
  } else {
    s.stop = { cause: 'health', reason: `group ${s.group + 1} not healthy: ${reason}`, at: iso(now) };
    event(s, now, 'unhealthy', s.stop.reason, s.group);
  }
}

export function recordAnalysis(s: ReleaseState, env: EnvironmentConfig, measurements: readonly Measurement[], now: number): AnalysisResult {
  const result = assessAnalysis(env.analysis, measurements);
  s.analysis = result;
  s.stage = 'analysed';
  s.stageSince = now;
  event(s, now, `analysis-${result.verdict}`, `group ${s.group + 1}: ${summarizeAnalysis(result)}`, s.group);
  if (result.verdict === 'fail') s.stop = { cause: 'analysis', reason: `group ${s.group + 1}: ${summarizeAnalysis(result)}`, at: iso(now) };
  return result;
}

export function recordConfirmed(s: ReleaseState, reason: string, now: number): void {
  s.stage = 'confirmed';
  s.stageSince = now;
  event(s, now, 'confirmed', `group ${s.group + 1} confirmed: ${reason}`, s.group);
}

export function recordRollbackStarted(s: ReleaseState, cause: StopCause, reason: string, now: number, hint?: string): void {
  s.stop ??= { cause, reason, at: iso(now), ...(hint ? { hint } : {}) };
  event(s, now, 'rollback-started', `rolling back (${s.stop.cause}): ${s.stop.reason}`);
}

export function recordOutcome(s: ReleaseState, result: Outcome, reason: string, now: number, hint?: string): void {
  s.outcome = { result, reason, at: iso(now), ...(hint ? { hint } : {}) };
  event(s, now, result, reason);
}

// ---------------------------------------------------------------------------------------------
// Human decisions

export interface DecisionRequest {
  identity: Identity;
  channel: Channel;
  comment?: string;
}

/**
 * Whether `action` by this caller is allowed now: policy first, then the release's state, then what
 * the request itself must carry (an override needs a reason). The Update validators call this.
 */
export function checkDecision(s: ReleaseState, env: EnvironmentConfig, action: Action, req: DecisionRequest, now: number): PolicyAnswer {
  const answer = checkAction(s, env, action, req.identity, now);
  if (!answer.allowed) return answer;
  if (action === Action.Override && !req.comment?.trim()) return { allowed: false, reason: `an override of the release window needs a reason (${REASON_FLAG})` };
  return answer;
}

/** What the caller may do now, per action, with the reason when not: checkAction for every action. */
export type AllowedActions = Record<Action, { allowed: boolean; reason?: string }>;

export function allowedActions(s: ReleaseState, env: EnvironmentConfig, who: Identity, now: number): AllowedActions {
  const out = {} as AllowedActions;
  for (const action of Object.values(Action)) {
    const a = checkAction(s, env, action, who, now);
    out[action] = a.allowed
      ? (action === Action.Override ? { allowed: true, reason: `needs a reason (${REASON_FLAG})` } : { allowed: true })
      : { allowed: false, reason: a.reason };
  }
  return out;
}

/**
 * Whether `who` may take `action` now, by policy and state alone (not what a request must carry):
 * shared by checkDecision (the Update validators) and allowedActions (status), so the two never differ.
 */
export function checkAction(s: ReleaseState, env: EnvironmentConfig, action: Action, who: Identity, now: number): PolicyAnswer {
  if (s.outcome) {
    return { allowed: false, reason: `the release already ended (${s.outcome.result}: ${s.outcome.reason})${action === Action.Rollback ? '; a finished release is rolled back by a new rollback release (gantry rollback)' : ''}` };
  }
  const policy = mayDecide(who, action, env.approvers, { author: s.revision.author, startedBy: s.startedBy.id });
  if (!policy.allowed) return policy;
  if (s.stop && action !== Action.Pause) return { allowed: false, reason: `the release is already rolling back (${s.stop.cause}: ${s.stop.reason})` };
  // Only approve, reject and override depend on the step (none of them evaluates the calendar).
  const next = () => decideNext(s, env, now);
  switch (action) {
    case Action.Approve: {
      const step = next();
      if (step.kind !== 'wait-approval') return { allowed: false, reason: `nothing to approve: the release is ${describeStep(step)}` };
      if (validApprovals(s, env, now).includes(who.id)) return { allowed: false, reason: `${who.id} already approved group ${s.group + 1}; another approver is needed` };
      return { allowed: true };
    }
    case Action.Reject: {
      const step = next();
      if (step.kind !== 'wait-approval') return { allowed: false, reason: `nothing to reject: the release is ${describeStep(step)}; use abort to stop it` };
      return { allowed: true };
    }
    case Action.Pause:
      if (s.stop) return { allowed: false, reason: 'the release is rolling back; a rollback cannot be paused' };
      if (s.paused) return { allowed: false, reason: `already paused by ${s.paused.by}` };
      return { allowed: true };
    case Action.Resume:
      if (!s.paused) return { allowed: false, reason: 'the release is not paused' };
      return { allowed: true };
    case Action.Promote:
      if (s.promoted) return { allowed: false, reason: `already promoted by ${s.promoted.by}` };
      if (s.stage === 'analysed' && s.analysis?.verdict === 'inconclusive' && !s.inconclusiveAccepted) {
        return { allowed: false, reason: 'the analysis of this group is inconclusive: approve to continue or reject to roll back (promote never skips analysis)' };
      }
      return { allowed: true };
    case Action.Abort:
    case Action.Rollback:
      return { allowed: true };
    case Action.Override: {
      const step = next();
      if (step.kind !== 'wait-window') return { allowed: false, reason: `nothing to override: the release is ${describeStep(step)}` };
      return { allowed: true };
    }
  }
}

/** How a reason goes on the command line, in every hint that names one. */
export const REASON_FLAG = '-m "<reason>"';

/** The one command that overrides a release window (hints, chat notices and the console show it). */
export function overrideCommand(app: string, env: string): string {
  return `gantry override ${app} ${env} ${REASON_FLAG}`;
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'apply': return `applying group ${step.group + 1}`;
    case 'verify': return `verifying the health of group ${step.group + 1}`;
    case 'analyse': return `analysing group ${step.group + 1}`;
    case 'wait-timer': return `waiting: ${step.reason}`;
    // Its reasons say what waits ("waiting for approval of group 2", "approval for group 2 overdue …").
    case 'wait-approval': return step.reason;
    case 'hold': return step.reason;
    case 'wait-window': return step.reason;
    case 'confirm': return `confirming group ${step.group + 1}`;
    case 'complete': return 'completing: making the new revision final on every pod';
    case 'rollback': return `rolling back: ${step.reason}`;
    case 'done': return 'finished';
  }
}

/** Applies an allowed decision to the state and records it in the audit trail. */
export function applyDecision(s: ReleaseState, action: Action, req: DecisionRequest, now: number): Decision {
  const d: Decision = { action, by: req.identity.id, channel: req.channel, at: iso(now), ...(s.group >= 0 ? { group: s.group } : {}), ...(req.comment ? { comment: req.comment } : {}) };
  s.decisions.push(d);
  const note = `${req.identity.id} via ${req.channel}${req.comment ? `: ${req.comment}` : ''}`;
  switch (action) {
    case Action.Approve:
      s.approvals.push(req.identity.id);
      if (s.analysis?.verdict === 'inconclusive') s.inconclusiveAccepted = true;
      event(s, now, 'approved', `group ${s.group + 1} approved by ${note}`, s.group);
      break;
    case Action.Reject:
      s.stop = { cause: 'rejected', reason: `group ${s.group + 1} rejected by ${note}`, by: req.identity.id, at: d.at };
      event(s, now, 'rejected', s.stop.reason, s.group);
      break;
    case Action.Pause:
      s.paused = d;
      event(s, now, 'paused', `paused by ${note}`, s.group);
      break;
    case Action.Resume:
      // The current stage's clock stops while paused: a pause timer or an approval deadline does
      // not run out because a person paused the release.
      if (s.paused) s.stageSince += Math.max(0, now - Date.parse(s.paused.at));
      delete s.paused;
      event(s, now, 'resumed', `resumed by ${note}`, s.group);
      break;
    case Action.Promote:
      s.promoted = d;
      event(s, now, 'promoted', `promoted by ${note}: remaining pauses and approvals skipped`, s.group);
      break;
    case Action.Override:
      s.windowOverride = d;
      event(s, now, 'window-overridden', `release window overridden by ${note}`, s.group);
      break;
    case Action.Abort:
    case Action.Rollback:
      s.stop = { cause: action === Action.Abort ? 'abort' : 'rollback', reason: `${action} by ${note}`, by: req.identity.id, at: d.at };
      delete s.paused;
      event(s, now, action === Action.Abort ? 'aborted' : 'rollback-requested', s.stop.reason, s.group);
      break;
    default: {
      const never: never = action;
      throw new Error(`unhandled decision ${String(never)}`);
    }
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// Status

export type Phase =
  | 'applying' | 'verifying' | 'analysing' | 'confirming' | 'waiting' | 'waiting-approval' | 'waiting-window' | 'paused'
  | 'completing' | 'rolling-back' | 'succeeded' | 'rolled-back' | 'failed';

export interface CellStatus { cell: string; replicas: number; canary: number; stable: number }

export interface ReleaseStatus {
  id: string;
  app: string;
  environment: string;
  kind: 'release' | 'rollback';
  phase: Phase;
  summary: string;
  revision: Revision;
  previous?: Revision;
  startedBy: string;
  startedAt: string;
  /** 1-based group number in progress, and the count. */
  group: { current: number; of: number; name?: string };
  cells: CellStatus[];
  /** `approvers`: when it waits on approval, who can give it (structured; `who` says the same in words). */
  waiting?: { on: 'timer' | 'approval' | 'resume' | 'window'; reason: string; since: string; until?: string; who: string; approvers?: ApproversStatus };
  analysis?: AnalysisResult;
  outcome?: ReleaseState['outcome'];
  stop?: ReleaseState['stop'];
  decisions: Decision[];
  events: HistoryEvent[];
  /** What the caller who asked may do now (present when the status was asked for a caller). */
  allowedActions?: AllowedActions;
  /** What the cluster showed when last looked at (core/observed.ts), next to the plan in `cells`. */
  observed?: ObservedState;
}

function isIdentity(x: unknown): x is Identity {
  const i = x as Identity | undefined;
  return !!i && typeof i === 'object' && typeof i.id === 'string' && i.id !== '' && Array.isArray(i.groups) && i.groups.every((g) => typeof g === 'string');
}

export function phaseOf(step: Step, s: ReleaseState): Phase {
  switch (step.kind) {
    case 'apply': return 'applying';
    case 'verify': return 'verifying';
    case 'analyse': return 'analysing';
    case 'confirm': return 'confirming';
    case 'wait-timer': return 'waiting';
    case 'wait-approval': return 'waiting-approval';
    case 'hold': return 'paused';
    case 'wait-window': return 'waiting-window';
    case 'complete': return 'completing';
    case 'rollback': return 'rolling-back';
    case 'done': return s.outcome?.result ?? 'failed';
  }
}

export function releaseStatus(s: ReleaseState, env: EnvironmentConfig, now: number, opts: { events?: number; identity?: Identity } = {}): ReleaseStatus {
  const step = decideNext(s, env, now);
  const phase = phaseOf(step, s);
  const shownGroup = step.kind === 'apply' || step.kind === 'wait-window' ? step.group : Math.max(s.group, 0);
  const done = s.group >= 0 ? s.plan[s.group] : undefined;
  const rolledBack = s.outcome?.result === 'rolled-back';
  const cells: CellStatus[] = (s.plan[0]?.perCell ?? []).map((c, i) => {
    const replicas = c.canary + c.stable;
    const canary = rolledBack ? 0 : done?.perCell[i]?.canary ?? 0;
    return { cell: c.cell, replicas, canary, stable: replicas - canary };
  });
  let waiting: ReleaseStatus['waiting'];
  if (step.kind === 'wait-timer') waiting = { on: 'timer', reason: step.reason, since: iso(s.stageSince), until: iso(step.until), who: step.who };
  if (step.kind === 'wait-approval') waiting = { on: 'approval', reason: step.reason, since: iso(s.stageSince), ...(step.until !== undefined ? { until: iso(step.until) } : {}), who: step.who, approvers: approversStatus(env, s, now) };
  if (step.kind === 'wait-window') waiting = { on: 'window', reason: step.reason, since: iso(s.stageSince), ...(step.until !== undefined ? { until: iso(step.until) } : {}), who: step.who };
  if (step.kind === 'hold') waiting = { on: 'resume', reason: step.reason, since: s.paused?.at ?? iso(now), who: step.who };
  const keep = opts.events ?? 50;
  return {
    id: s.id, app: s.app, environment: s.environment, kind: s.kind, phase,
    summary: s.outcome ? `${s.outcome.result}: ${s.outcome.reason}` : describeStep(step),
    revision: s.revision, ...(s.previous ? { previous: s.previous } : {}),
    startedBy: s.startedBy.id, startedAt: s.startedAt,
    group: { current: shownGroup + 1, of: s.plan.length, ...(env.groups[shownGroup]?.name ? { name: env.groups[shownGroup]!.name } : {}) },
    cells,
    ...(waiting ? { waiting } : {}),
    ...(s.analysis ? { analysis: s.analysis } : {}),
    ...(s.outcome ? { outcome: s.outcome } : {}),
    ...(s.stop ? { stop: s.stop } : {}),
    decisions: s.decisions,
    events: keep > 0 ? s.events.slice(-keep) : s.events,
    ...(isIdentity(opts.identity) ? { allowedActions: allowedActions(s, env, opts.identity, now) } : {}),
    ...(s.observed ? { observed: s.observed } : {}),
  };
}


// ---------------------------------------------------------------------------------------------
// Notices (to chat, by the notify activity) and when a wait must look again

export interface Notice {
  /** Sent once per key. */
  key: string;
  /** The group (0-based) it is about: the one waiting, which before group 1 applies is not s.group (-1). */
  group?: number;
  kind: 'waiting-approval' | 'escalation' | 'waiting-window';
  message: string;
  /** Who should hear it (chat adapters map these to people and channels). */
  to: { users: string[]; groups: string[] };
}

/** The notices a waiting release owes now: one when it starts waiting for people, one escalation. */
export function noticesDue(s: ReleaseState, env: EnvironmentConfig, step: Step, now: number): Notice[] {
  const sent = new Set(s.notices ?? []);
  const a = env.approvers;
  const approvers = { users: [...a.users], groups: [...a.groups] };
  const name = `${s.app} → ${s.environment}`;
  const out: Notice[] = [];
  if (step.kind === 'wait-approval') {
    out.push({ key: `waiting-approval:${step.group}:${s.stageSince}`, group: step.group, kind: 'waiting-approval', to: approvers,
      // The plain reason only repeats "waits for approval": say it once, keep any other reason (overdue, inconclusive).
      message: `${name}: group ${step.group + 1} of ${s.plan.length} waits for approval${step.reason === `waiting for approval of group ${step.group + 1}` ? '' : `: ${step.reason}`} (${step.who}). gantry approve ${s.app} ${s.environment}` });
    if (a.escalateAfter && now >= s.stageSince + durationMs(a.escalateAfter)) {
      out.push({ key: `escalation:${step.group}:${s.stageSince}`, group: step.group, kind: 'escalation', to: a.escalateTo ?? approvers,
        message: `${name}: group ${step.group + 1} has waited ${a.escalateAfter} for approval (${step.who})` });
    }
  }
  if (step.kind === 'wait-window') {
    out.push({ key: `waiting-window:${step.group}:${step.until ?? 'never'}`, group: step.group, kind: 'waiting-window', to: approvers, message: `${name}: group ${step.group + 1} ${step.reason}` });
  }
  return out.filter((n) => !sent.has(n.key));
}

export function recordNotice(s: ReleaseState, n: Notice, delivered: boolean, now: number): void {
  (s.notices ??= []).push(n.key);
  event(s, now, n.kind === 'escalation' ? 'escalated' : 'notice', `${delivered ? 'notified' : 'could not notify'} ${[...n.to.users, ...n.to.groups.map((g) => `group:${g}`)].join(', ') || 'the channel'}: ${n.message}`, n.group ?? s.group);
}

/**
 * The earliest instant at which a waiting release's next step could change without any message:
 * its timer or deadline, an escalation falling due, or an approval expiring.
 */
export function wakeAt(s: ReleaseState, env: EnvironmentConfig, step: Step, now: number): number | undefined {
  const times: number[] = [];
  if ('until' in step && step.until !== undefined) times.push(step.until);
  if (step.kind === 'wait-approval') {
    const a = env.approvers;
    if (a.escalateAfter && !(s.notices ?? []).includes(`escalation:${step.group}:${s.stageSince}`)) times.push(s.stageSince + durationMs(a.escalateAfter));
    if (a.expiry) {
      const valid = new Set(validApprovals(s, env, now));
      for (const [id, t] of approvalTimes(s)) if (valid.has(id)) times.push(t + durationMs(a.expiry));
    }
  }
  const future = times.filter((t) => t > now);
  return future.length ? Math.min(...future) : times.length ? now : undefined;
}

/**
 * The environment a rollback release runs with: the same cells and groups, every group confirmed
 * automatically (the person who asked for the rollback is the approval; it must not wait on another).
 */
export function rollbackEnvironment(env: EnvironmentConfig): EnvironmentConfig {
  return { ...env, groups: env.groups.map((g) => ({ ...g, confirm: { type: 'auto' as const } })) };
}
