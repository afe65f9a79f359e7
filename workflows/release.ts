// The release workflow: one per app and environment. It reads like the runbook: ask core/ what
// to do next, do it (an activity, a timer, or a wait for a person), record the result, repeat.
// On failure, abort, rejection or cancellation it rolls back inside a non-cancellable scope.
import {
  ActivityCancellationType, ActivityFailure, ApplicationFailure, CancellationScope, condition, isCancellation, log, patched,
  proxyActivities, setHandler, upsertMemo, upsertSearchAttributes, workflowInfo, allHandlersFinished,
} from '@temporalio/workflow';
import { Action } from '../core/approval.js';
import type { EnvironmentConfig } from '../core/config.js';
import {
  applyDecision, checkDecision, decideNext, newReleaseState, observeCalendar, recordAnalysis, recordApplied, recordConfirmed,
  noticesDue, recordHealth, recordNotice, recordOutcome, recordRollbackStarted, releaseStatus, revisionRef, verifyDeadlineMs, wakeAt,
  type ReleaseState, type ReleaseStatus, type Revision, type StopCause,
} from '../core/release.js';
import { canaryTargets, environmentPlan } from '../core/plan.js';
import { CANARY_ATTRIBUTE_KEYS, changedAttributes, GROUP_ATTRIBUTE_KEYS, releaseAttributes, type ReleaseAttributes } from '../core/search-attributes.js';
import { recordObserved } from '../core/observed.js';
import { durationMs } from '../core/duration.js';
import type { Channel } from '../core/approval.js';
import type { NotifyActivities, ObservedResult, ReleaseActivities, Target } from './activity-types.js';
import { failureHintOf, nonRetryableErrorTypes } from './failures.js';
import { decisionUpdates, FailureType, statusQuery, type DecisionArgs } from './messages.js';
import { countRelease, countRollback, resultLabel } from './metrics.js';
import { attributeUpdates, GantryApp, GantryEnvironment, GantryGroup, GantryKind, GantryWeight } from './search-attributes.js';

export interface ReleaseInput {
  app: string;
  environment: EnvironmentConfig;
  revision: Revision;
  /** The revision to return to on rollback; observed from the target when not given. */
  previous?: Revision;
  kind?: 'release' | 'rollback';
  startedBy: { id: string; channel: Channel };
  /**
   * The namespace has Gantry's search attributes (core/search-attributes.ts): keep them up to date
   * even if the release did not start with them (e.g. a child release of a pipeline or a train whose
   * starter checked). A release that started with them needs no flag.
   */
  searchAttributes?: boolean;
  /**
   * false: no observeTarget while the release waits. For the time-skipping test server only: it skips
   * no time while an activity runs (seen: workflow time then follows the wall clock), so a waiting
   * release's timers would take their real duration.
   */
  observeWhileWaiting?: boolean;
}

export interface ReleaseResult { outcome: 'succeeded'; status: ReleaseStatus }

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes };

// A stop (abort, reject, rollback) cancels the cluster step in flight; the rollback starts once that
// activity has acknowledged (WAIT_CANCELLATION_COMPLETED), so the two never act on the cluster at once.
const cluster = proxyActivities<ReleaseActivities>({
  startToCloseTimeout: '10m', heartbeatTimeout: '10s', scheduleToCloseTimeout: '30m', retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
const analysis = proxyActivities<ReleaseActivities>({
  startToCloseTimeout: '5m', heartbeatTimeout: '30s', scheduleToCloseTimeout: '10m', retry: { ...retry, maximumAttempts: 5 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

/**
 * Runs one cluster step; a stop decided while it runs cancels it (undefined: it was stopped, the loop
 * goes on to the rollback). Without this an abort waits until the group is done or its progress
 * deadline passes.
 */
async function stoppable<T>(s: ReleaseState, fn: () => Promise<T>): Promise<T | undefined> {
  if (!patched('stop-cancels-cluster-step')) return fn();
  if (s.stop) return undefined;
  const step = new CancellationScope();
  const watch = new CancellationScope();
  void watch.run(() => condition(() => s.stop !== undefined)).then(() => step.cancel(), () => undefined);
  try {
    return await step.run(fn);
  } catch (err) {
    if (s.stop && isCancellation(err)) return undefined;
    throw err;
  } finally {
    watch.cancel();
  }
}
/** Notices are best effort: a few quick tries, then the release goes on (and history says so). */
const notifier = proxyActivities<NotifyActivities>({ startToCloseTimeout: '30s', retry: { initialInterval: '1s', maximumAttempts: 3, nonRetryableErrorTypes } });
/**
 * The observer that runs while a release waits (observeTarget): a 5 s heartbeat timeout notices a dead
 * worker (the server retries it elsewhere; retries write no history), and the SDK sends its heartbeats
 * at most every 4 s (80% of it), so the status is that fresh. TRY_CANCEL: it only reads, so the next
 * step need not wait for it to acknowledge (WAIT_CANCELLATION_COMPLETED would hold the step until its
 * next heartbeat, up to 4 s).
 */
const observer = proxyActivities<ReleaseActivities>({
  startToCloseTimeout: '65m', heartbeatTimeout: '5s', retry: { ...retry, maximumInterval: '10s' },
  cancellationType: ActivityCancellationType.TRY_CANCEL,
});
const OBSERVE_MAX_MS = 60 * 60_000;

/**
 * Waits (`wait`) while observeTarget shows the cluster in the status (the API reads its heartbeats
 * from the workflow's description: no history writes), cancelled when the wait ends. Informational:
 * its failure or cancellation is swallowed here and never fails or holds the release.
 */
async function observing(s: ReleaseState, target: Target, enabled: boolean, wait: () => Promise<unknown>): Promise<void> {
  if (!enabled || !patched('observe-while-waiting')) { await wait(); return; }
  const scope = new CancellationScope();
  const canary = s.group >= 0 ? canaryTargets(s.plan, s.group) : undefined;
  const req = { releaseId: s.id, target, revision: s.revision, ...(canary ? { canary } : {}), maxMs: OBSERVE_MAX_MS };
  void scope.run(async () => {
    // It returns on its own only after maxMs: start another while the wait goes on (once per hour of waiting).
    for (let started = Date.now(); ; started = Date.now()) {
      await observer.observeTarget(req);
      if (Date.now() - started < OBSERVE_MAX_MS / 2) return; // returned early (an older worker?): don't spin
    }
  }).catch(() => undefined);
  try {
    await wait();
  } finally {
    scope.cancel();
  }
}

/** Rollback keeps trying: a half-rolled-back environment is worse than a slow rollback. */
const rescue = proxyActivities<ReleaseActivities>({ startToCloseTimeout: '10m', heartbeatTimeout: '10s', retry });

function validateArgs(args: DecisionArgs | undefined): void {
  if (!args || typeof args !== 'object' || !args.identity || typeof args.identity.id !== 'string' || !args.identity.id) {
    throw ApplicationFailure.nonRetryable('a decision needs an authenticated identity', FailureType.BadRequest);
  }
  if (!Array.isArray(args.identity.groups)) throw ApplicationFailure.nonRetryable('identity.groups must be a list', FailureType.BadRequest);
  if (args.comment !== undefined && (typeof args.comment !== 'string' || args.comment.length > 2000)) {
    throw ApplicationFailure.nonRetryable('comment must be text of at most 2000 characters', FailureType.BadRequest);
  }
}

/**
 * Keeps the release's search attributes (core/search-attributes.ts) in step with its state, upserting
 * only the keys that changed. Only for a release that started with them (its starter found them
 * registered on the namespace): an upsert of an unregistered attribute would fail every workflow task.
 */
function attributeSync(s: ReleaseState, env: EnvironmentConfig, flagged: boolean): () => void {
  const startedWith = workflowInfo().typedSearchAttributes.get(GantryApp) !== undefined;
  // GantryWeight and GantryWaitingSince came later: only a release whose starter set GantryWeight (or
  // flagged them all registered) upserts them, so one started before they were registered never fails on them.
  const canaryKeys = workflowInfo().typedSearchAttributes.get(GantryWeight) !== undefined || flagged;
  // GantryGroup and GantryCells came later still: likewise, only when the starter set GantryGroup.
  const groupKeys = workflowInfo().typedSearchAttributes.get(GantryGroup) !== undefined || flagged;
  let last: ReleaseAttributes | undefined;
  return () => {
    if ((!startedWith && !flagged) || !patched('search-attributes')) return;
    const next = releaseAttributes(s, env, Date.now());
    const withCanary = canaryKeys && patched('canary-attributes');
    const withGroup = withCanary && groupKeys && patched('group-attributes');
    const keys = changedAttributes(last, next).filter((k) => (withCanary || !CANARY_ATTRIBUTE_KEYS.includes(k)) && (withGroup || !GROUP_ATTRIBUTE_KEYS.includes(k)));
    // The first upsert of a release that started without them names it too.
    const named = !startedWith && !last ? [{ key: GantryApp, value: s.app }, { key: GantryEnvironment, value: s.environment }, { key: GantryKind, value: s.kind }] : [];
    if (keys.length > 0) upsertSearchAttributes([...named, ...attributeUpdates(next, keys)]);
    last = next;
  };
}

function targetOf(input: ReleaseInput): Target {
  return { app: input.app, environment: input.environment.name, cells: input.environment.cells.map((c) => ({ ...c })) };
}

export async function release(input: ReleaseInput): Promise<ReleaseResult> {
  const env = input.environment;
  const id = workflowInfo().workflowId;
  const plan = environmentPlan(env);
  const s: ReleaseState = newReleaseState({
    id, app: input.app, environment: env, kind: input.kind ?? 'release', revision: input.revision,
    ...(input.previous ? { previous: input.previous } : {}), startedBy: input.startedBy, plan,
  }, Date.now());
  // Look at the calendar now, so that status is right while the target is described. (A calendar
  // that cannot be evaluated fails the loop's own look below, which rolls the release back.)
  try { observeCalendar(s, env, Date.now()); } catch { /* the loop reports it */ }

  setHandler(statusQuery, (opts) => releaseStatus(s, env, Date.now(), opts ?? {}));
  for (const action of Object.values(Action)) {
    setHandler(decisionUpdates[action], (args: DecisionArgs) => {
      const decision = applyDecision(s, action, args, Date.now());
      return { decision, summary: releaseStatus(s, env, Date.now(), { events: 0 }).summary };
    }, {
      validator: (args: DecisionArgs) => {
        validateArgs(args);
        const answer = checkDecision(s, env, action, args, Date.now());
        if (!answer.allowed) throw ApplicationFailure.nonRetryable(answer.reason, FailureType.Refused);
      },
    });
  }

  const target = targetOf(input);
  const syncAttributes = attributeSync(s, env, input.searchAttributes === true);
  try {
    if (!s.previous) {
      const observed = await cluster.describeTarget({ target });
      if (observed.stable) s.previous = observed.stable;
    }
    await runGroups(s, env, target, syncAttributes, input.observeWhileWaiting !== false);
  } catch (err) {
    if (s.outcome) throw err;
    const cancelled = isCancellation(err);
    const cause: StopCause = cancelled ? 'cancelled' : s.stop?.cause ?? 'abort';
    const reason = cancelled ? 'the release was cancelled' : `an error stopped the release: ${errorMessage(err)}`;
    await rollBack(s, target, cause, reason, cancelled ? undefined : failureHintOf(err), syncAttributes);
    if (cancelled) {
      countRelease(s.app, s.environment, 'cancelled');
      throw err;
    }
  }
  await condition(allHandlersFinished);
  countRelease(s.app, s.environment, resultLabel(s.outcome?.result, false));
  // The outcome in the memo: a list tells a rolled-back release (a failed workflow) from a failed one.
  if (s.outcome && patched('memo-outcome')) upsertMemo({ outcome: s.outcome.result });
  syncAttributes();
  if (s.outcome?.result === 'succeeded') return { outcome: 'succeeded', status: releaseStatus(s, env, Date.now(), { events: 0 }) };
  const st = releaseStatus(s, env, Date.now(), { events: 0 });
  throw ApplicationFailure.create({
    message: `${s.outcome?.result ?? 'failed'}: ${s.outcome?.reason ?? 'unknown'}`,
    type: s.outcome?.result === 'rolled-back' ? FailureType.RolledBack : FailureType.RollbackFailed,
    nonRetryable: true, details: [st],
    // A rollback is the system working as designed: log it as benign, not as an error.
    ...(s.outcome?.result === 'rolled-back' ? { category: 'BENIGN' as const } : {}),
  });
}

async function runGroups(s: ReleaseState, env: EnvironmentConfig, target: Target, syncAttributes: () => void = () => undefined, observe = true): Promise<void> {
  for (;;) {
    // The one place the calendar is evaluated; status and decisions read the answer from the state.
    observeCalendar(s, env, Date.now());
    syncAttributes();
    const step = decideNext(s, env, Date.now());
    switch (step.kind) {
      case 'apply': {
        // The health check rides along in the same activity (a worker that predates it returns no `health`).
        const verify = patched('apply-verifies') ? { deadlineMs: verifyDeadlineMs(env) } : undefined;
        const r = await stoppable(s, () => cluster.applyGroup({
          releaseId: s.id, target, revision: s.revision, ...(s.previous ? { stable: s.previous } : {}), group: step.group,
          canary: canaryTargets(s.plan, step.group), deadlineMs: durationMs(env.deadlines.progress), ...(verify ? { verify } : {}),
        }));
        if (!r) break;
        recordApplied(s, step.group, Date.now());
        recordObserved(s, r.observed);
        if (r.ready === false) recordHealth(s, false, r.reason ?? 'new pods not ready within the progress deadline', Date.now());
        else if (r.health) {
          recordObserved(s, r.health.observed);
          recordHealth(s, r.health.healthy, r.health.reason, Date.now());
        }
        break;
      }
      case 'verify': {
        const h = await stoppable(s, () => cluster.waitHealthy({ releaseId: s.id, target, revision: s.revision, group: step.group, canary: canaryTargets(s.plan, step.group), deadlineMs: step.deadlineMs }));
        if (!h) break;
        recordObserved(s, h.observed);
        recordHealth(s, h.healthy, h.reason, Date.now());
        break;
      }
      case 'analyse': {
        const measurements = await stoppable(s, () => analysis.measure({ releaseId: s.id, target, revision: s.revision, group: step.group, checks: env.analysis }));
        if (!measurements) break;
        recordAnalysis(s, env, measurements, Date.now());
        break;
      }
      case 'confirm':
        recordConfirmed(s, step.reason, Date.now());
        break;
      case 'wait-timer':
      case 'wait-approval':
      case 'wait-window':
      case 'hold': {
        const due = noticesDue(s, env, step, Date.now());
        if (due.length > 0) {
          for (const n of due) {
            const delivered = await notifier.notify({ releaseId: s.id, app: s.app, environment: s.environment, kind: n.kind, message: n.message, to: n.to, group: step.group })
              .then((r) => r.delivered, () => false);
            recordNotice(s, n, delivered, Date.now());
          }
          // A decision may have arrived while the notices went out: decide again before waiting.
          break;
        }
        const rev = s.rev;
        const wake = wakeAt(s, env, step, Date.now());
        log.debug('release waiting', { release: s.id, step: step.kind, reason: step.reason });
        await observing(s, target, observe, () => wake === undefined
          ? condition(() => s.rev !== rev)
          : condition(() => s.rev !== rev, Math.max(1, wake - Date.now())));
        break;
      }
      case 'complete':
        recordObserved(s, observedOf(await cluster.finalize({ releaseId: s.id, target, revision: s.revision })));
        recordOutcome(s, 'succeeded', `${revisionRef(s.revision)} serves ${s.environment} on every pod`, Date.now());
        return;
      case 'rollback':
        await rollBack(s, target, step.cause, step.reason, undefined, syncAttributes);
        return;
      case 'done':
        return;
      default: {
        // A step kind without a case here would re-decide the same step forever without awaiting.
        const never: never = step;
        throw new Error(`unhandled release step ${JSON.stringify(never)}`);
      }
    }
  }
}

/** Rolls back without being cancellable: an operator's cancel must not leave a half-released environment. */
async function rollBack(s: ReleaseState, target: Target, cause: StopCause, reason: string, hint?: string, syncAttributes: () => void = () => undefined): Promise<void> {
  recordRollbackStarted(s, cause, reason, Date.now(), hint);
  countRollback(s.app, s.environment, cause);
  syncAttributes();
  try {
    recordObserved(s, observedOf(await CancellationScope.nonCancellable(() => rescue.rollback({
      releaseId: s.id, target, revision: s.revision, ...(s.previous ? { stable: s.previous } : {}), reason: s.stop!.reason,
    }))));
    recordOutcome(s, 'rolled-back', `${s.stop!.reason}; ${s.previous ? `back to ${revisionRef(s.previous)}` : 'new pods removed'}`, Date.now());
  } catch (err) {
    recordOutcome(s, 'failed', `rollback failed: ${errorMessage(err)} (after: ${s.stop!.reason})`, Date.now(), failureHintOf(err));
  }
  syncAttributes();
}

/** The observation a rollback or finalize returned (an older worker returns nothing). */
function observedOf(r: ObservedResult | void): unknown {
  return r ? r.observed : undefined;
}

function errorMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return `${err.activityType}: ${err.cause.message}`;
  return err instanceof Error ? err.message : String(err);
}
