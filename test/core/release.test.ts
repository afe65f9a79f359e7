// The release decider, table-driven: decideNext over hand-built states, checkDecision over
// (state, action, caller), applyDecision's effects and audit record, releaseStatus, and full runs
// of the decider loop with a fake clock (what the release workflow does, minus Temporal).
import { describe, expect, it } from '@jest/globals';
import { assessAnalysis, type AnalysisResult, type CheckSpec, type Measurement } from '../../core/analysis.js';
import { Action, type Identity } from '../../core/approval.js';
import type { ConfirmPolicy, EnvironmentConfig } from '../../core/config.js';
import { environmentPlan } from '../../core/plan.js';
import {
  applyDecision, checkDecision, decideNext, describeStep, newReleaseState, phaseOf, recordAnalysis, recordApplied, recordConfirmed,
  recordHealth, recordOutcome, recordRollbackStarted, releaseStatus, revisionRef,
  type Decision, type DecisionRequest, type ReleaseSpec, type ReleaseState, type Step,
} from '../../core/release.js';
import { DIGEST_A, DIGEST_B } from '../support/fixtures.js';

const T0 = Date.parse('2024-06-01T12:00:00.000Z');
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();
/** Typed asymmetric matchers for the step tables. */
const like = (fields: Record<string, unknown>): Step => expect.objectContaining(fields) as unknown as Step;
const matching = (re: RegExp): string => expect.stringMatching(re) as unknown as string;

const errorRate: CheckSpec = { name: 'error-rate', query: 'sum(rate(errors[1m]))', max: 0.05 };
const analysisPass: AnalysisResult = assessAnalysis([errorRate], [{ check: 'error-rate', value: 0.01 }]);
const analysisInconclusive: AnalysisResult = assessAnalysis([errorRate], [{ check: 'error-rate', error: 'prometheus unreachable' }]);

/** The seed environment: 5 + 5 pods, groups 1 (auto), 2 (manual), rest (auto); carol writes, dave starts. */
function env(over: Partial<EnvironmentConfig> = {}): EnvironmentConfig {
  return {
    name: 'production',
    cells: [{ name: 'zone-a', namespace: 'shop', replicas: 5 }, { name: 'zone-b', namespace: 'shop', replicas: 5 }],
    groups: [
      { name: 'canary', pods: 1, confirm: { type: 'auto' } },
      { name: 'group 2', pods: 2, confirm: { type: 'manual', onTimeout: 'rollback' } },
      { name: 'group 3', pods: 'rest', confirm: { type: 'auto' } },
    ],
    analysis: [],
    approvers: { users: ['alice', 'bob'], groups: ['sre'], required: 1, allowStarter: false },
    deadlines: { progress: '20s', analysis: '5m' },
    bake: '0s',
    ...over,
  };
}

/** The seed environment with group `g` confirmed by `confirm`, and other overrides. */
function envWith(g: number, confirm: ConfirmPolicy, over: Partial<EnvironmentConfig> = {}): EnvironmentConfig {
  const e = env(over);
  return { ...e, groups: e.groups.map((x, i) => (i === g ? { ...x, confirm } : x)) };
}

function spec(e: EnvironmentConfig, over: Partial<ReleaseSpec> = {}): ReleaseSpec {
  return {
    id: 'release/shop/production', app: 'shop', environment: e,
    revision: { image: 'registry.local/shop/web', digest: DIGEST_A, sha: 'abc1234', author: 'carol' },
    previous: { image: 'registry.local/shop/web', digest: DIGEST_B },
    startedBy: { id: 'dave', channel: 'cli' },
    plan: environmentPlan(e),
    ...over,
  };
}

/** A release state as the decider would have left it, with the given fields. */
function state(e: EnvironmentConfig, patch: Partial<ReleaseState> = {}): ReleaseState {
  return { ...newReleaseState(spec(e), T0), ...patch };
}

const decision = (action: Action, by: string, extra: Partial<Decision> = {}): Decision => ({ action, by, channel: 'cli', at: iso(T0 + MIN), group: 1, ...extra });
const req = (id: string, groups: string[] = [], comment?: string): DecisionRequest => ({ identity: { id, groups }, channel: 'api', ...(comment ? { comment } : {}) });

/** Group 1 (the manual one in the seed) has just become healthy, ten minutes in. */
const G1_SINCE = T0 + 10 * MIN;
const g1 = (patch: Partial<ReleaseState> = {}): Partial<ReleaseState> => ({ group: 1, stage: 'healthy', stageSince: G1_SINCE, ...patch });
const g1Analysed = (analysis: AnalysisResult, patch: Partial<ReleaseState> = {}): Partial<ReleaseState> => g1({ stage: 'analysed', analysis, ...patch });
const withAnalysis = { analysis: [errorRate] };

describe('newReleaseState', () => {
  it('starts before the first group, with one started event', () => {
    const s = newReleaseState(spec(env()), T0);
    expect(s).toMatchObject({
      id: 'release/shop/production', app: 'shop', environment: 'production', kind: 'release',
      group: -1, stage: 'confirmed', stageSince: T0, startedAt: iso(T0), approvals: [], inconclusiveAccepted: false, decisions: [], rev: 1,
      previous: { digest: DIGEST_B },
    });
    expect(s.plan).toHaveLength(3);
    expect(s.events).toEqual([{
      at: iso(T0), type: 'started',
      message: `release of registry.local/shop/web@${DIGEST_A} to production started by dave via cli: 3 groups over 2 cell(s)`,
    }]);
    expect(s).not.toHaveProperty('stop');
    expect(s).not.toHaveProperty('outcome');
  });

  it('a rollback release with one group', () => {
    const one = env({ groups: [{ name: 'all', pods: 'rest', confirm: { type: 'auto' } }] });
    const s = newReleaseState(spec(one, { kind: 'rollback', plan: environmentPlan(one) }), T0);
    expect(s.kind).toBe('rollback');
    expect(s.events[0]!.message).toMatch(/^rollback of registry\.local\/shop\/web@sha256:a+ to production started by dave via cli: 1 group over 2 cell\(s\)$/);
  });

  it('without a previous revision, has no previous key', () => {
    const s = newReleaseState(spec(env(), { previous: undefined }), T0);
    expect(s).not.toHaveProperty('previous');
    expect(s.kind).toBe('release');
  });
});

describe('revisionRef', () => {
  it.each([
    { name: 'with digest', r: { image: 'reg/app', digest: DIGEST_A }, want: `reg/app@${DIGEST_A}` },
    { name: 'without digest', r: { image: 'reg/app' }, want: 'reg/app' },
  ])('$name', ({ r, want }) => expect(revisionRef(r)).toBe(want));
});

describe('decideNext', () => {
  const whoSeed = /^approvers: alice, bob, group:sre \(not carol, dave\); 0 of 1 approval$/;

  it.each<{ name: string; env: EnvironmentConfig; state: Partial<ReleaseState>; now: number; want: Step }>([
    // Applying and verifying.
    { name: 'fresh state: apply group 1', env: env(), state: {}, now: T0, want: { kind: 'apply', group: 0 } },
    { name: 'group 1 confirmed: apply group 2', env: env(), state: { group: 0, stage: 'confirmed' }, now: T0, want: { kind: 'apply', group: 1 } },
    { name: 'group 2 confirmed: apply group 3', env: env(), state: { group: 1, stage: 'confirmed' }, now: T0, want: { kind: 'apply', group: 2 } },
    { name: 'pending stage: apply the current group', env: env(), state: { group: 1, stage: 'pending' }, now: T0, want: { kind: 'apply', group: 1 } },
    { name: 'applied: verify with the progress deadline', env: env(), state: { group: 0, stage: 'applied' }, now: T0, want: { kind: 'verify', group: 0, deadlineMs: 20 * SEC } },
    { name: 'applied, 10m progress deadline', env: env({ deadlines: { progress: '10m', analysis: '5m' } }), state: { group: 2, stage: 'applied' }, now: T0, want: { kind: 'verify', group: 2, deadlineMs: 10 * MIN } },
    // Healthy: analysis or straight to confirmation.
    { name: 'healthy, no analysis, auto: confirm as healthy', env: env(), state: { group: 0, stage: 'healthy' }, now: T0, want: { kind: 'confirm', group: 0, reason: 'healthy' } },
    { name: 'healthy with analysis: analyse', env: env(withAnalysis), state: { group: 0, stage: 'healthy' }, now: T0, want: { kind: 'analyse', group: 0 } },
    { name: 'analysed pass, auto: confirm as checks passed', env: env(withAnalysis), state: { group: 0, stage: 'analysed', analysis: analysisPass }, now: T0, want: { kind: 'confirm', group: 0, reason: 'checks passed' } },
    // Pause.
    {
      name: 'pass, pause 10m, 5m in: wait for the timer', env: envWith(0, { type: 'pause', duration: '10m' }, withAnalysis),
      state: { group: 0, stage: 'analysed', analysis: analysisPass, stageSince: T0 }, now: T0 + 5 * MIN,
      want: { kind: 'wait-timer', group: 0, until: T0 + 10 * MIN, reason: 'pausing 10m after group 1', who: 'an approver (promote) to skip the pause' },
    },
    {
      name: 'pause, 1ms before the end: still waiting', env: envWith(0, { type: 'pause', duration: '10m' }),
      state: { group: 0, stage: 'healthy', stageSince: T0 }, now: T0 + 10 * MIN - 1,
      want: like({ kind: 'wait-timer', until: T0 + 10 * MIN }),
    },
    {
      name: 'pause, exactly at the end: confirm', env: envWith(0, { type: 'pause', duration: '10m' }),
      state: { group: 0, stage: 'healthy', stageSince: T0 }, now: T0 + 10 * MIN,
      want: { kind: 'confirm', group: 0, reason: 'paused 10m' },
    },
    {
      name: 'pause, long after the end: confirm', env: envWith(0, { type: 'pause', duration: '3d' }),
      state: { group: 0, stage: 'healthy', stageSince: T0 }, now: T0 + 4 * 24 * HOUR,
      want: { kind: 'confirm', group: 0, reason: 'paused 3d' },
    },
    // Manual.
    {
      name: 'manual, no approvals: wait, no deadline', env: env(), state: g1(), now: G1_SINCE + HOUR,
      want: { kind: 'wait-approval', group: 1, reason: 'waiting for approval of group 2', who: matching(whoSeed) },
    },
    {
      name: 'manual with a timeout: wait until stage start + timeout', env: envWith(1, { type: 'manual', timeout: '48h', onTimeout: 'rollback' }), state: g1(), now: G1_SINCE,
      want: { kind: 'wait-approval', group: 1, reason: 'waiting for approval of group 2', until: G1_SINCE + 48 * HOUR, who: matching(whoSeed) },
    },
    {
      name: 'manual, one approval of one required: confirm', env: env(), state: g1({ approvals: ['bob'] }), now: G1_SINCE,
      want: { kind: 'confirm', group: 1, reason: 'approved by bob' },
    },
    {
      name: 'manual quorum 2, one approval: wait, 1 of 2', env: env({ approvers: { users: ['alice', 'bob'], groups: ['sre'], required: 2, allowStarter: false } }),
      state: g1({ approvals: ['alice'] }), now: G1_SINCE,
      want: like({ kind: 'wait-approval', who: expect.stringMatching(/; 1 of 2 approvals$/) }),
    },
    {
      name: 'manual quorum 2, the same approver twice: still 1 of 2', env: env({ approvers: { users: ['alice', 'bob'], groups: ['sre'], required: 2, allowStarter: false } }),
      state: g1({ approvals: ['alice', 'alice'] }), now: G1_SINCE,
      want: like({ kind: 'wait-approval', who: expect.stringMatching(/; 1 of 2 approvals$/) }),
    },
    {
      name: 'manual quorum 2, two distinct approvals: confirm naming both', env: env({ approvers: { users: ['alice', 'bob'], groups: ['sre'], required: 2, allowStarter: false } }),
      state: g1({ approvals: ['alice', 'alice', 'bob'] }), now: G1_SINCE,
      want: { kind: 'confirm', group: 1, reason: 'approved by alice, bob' },
    },
    {
      name: 'manual timeout passed, onTimeout rollback: roll back on deadline', env: envWith(1, { type: 'manual', timeout: '1h', onTimeout: 'rollback' }),
      state: g1(), now: G1_SINCE + HOUR,
      want: { kind: 'rollback', cause: 'deadline', reason: 'no approval for group 2 within 1h' },
    },
    {
      name: 'manual timeout passed, onTimeout hold: keep waiting, overdue, no deadline', env: envWith(1, { type: 'manual', timeout: '1h', onTimeout: 'hold' }),
      state: g1(), now: G1_SINCE + 2 * HOUR,
      want: { kind: 'wait-approval', group: 1, reason: 'approval for group 2 overdue (timeout 1h, holding)', who: matching(whoSeed) },
    },
    {
      name: 'manual timeout passed but the quorum was reached: confirm', env: envWith(1, { type: 'manual', timeout: '1h', onTimeout: 'rollback' }),
      state: g1({ approvals: ['alice'] }), now: G1_SINCE + 5 * HOUR,
      want: { kind: 'confirm', group: 1, reason: 'approved by alice' },
    },
    {
      name: 'empty approver lists: anyone, still not the author or starter', env: env({ approvers: { users: [], groups: [], required: 1, allowStarter: false } }),
      state: g1(), now: G1_SINCE,
      want: like({ kind: 'wait-approval', who: 'approvers: any authenticated user (not carol, dave); 0 of 1 approval' }),
    },
    {
      name: 'allowStarter: only the author is excluded', env: env({ approvers: { users: ['alice'], groups: [], required: 1, allowStarter: true } }),
      state: g1(), now: G1_SINCE,
      want: like({ kind: 'wait-approval', who: 'approvers: alice (not carol); 0 of 1 approval' }),
    },
    {
      name: 'author who also started it is named once', env: env(),
      state: { ...g1(), revision: { image: 'reg/app', author: 'dave' } }, now: G1_SINCE,
      want: like({ kind: 'wait-approval', who: 'approvers: alice, bob, group:sre (not dave); 0 of 1 approval' }),
    },
    // Inconclusive analysis.
    {
      name: 'inconclusive, auto group: a person decides', env: env(withAnalysis), state: { group: 0, stage: 'analysed', analysis: analysisInconclusive, stageSince: T0 }, now: T0,
      want: { kind: 'wait-approval', group: 0, reason: 'analysis inconclusive: error-rate: query failed: prometheus unreachable: a person decides (approve continues, reject rolls back)', who: matching(whoSeed) },
    },
    {
      name: 'inconclusive accepted, auto group: continue', env: env(withAnalysis), state: { group: 0, stage: 'analysed', analysis: analysisInconclusive, inconclusiveAccepted: true, approvals: ['alice'] }, now: T0,
      want: { kind: 'confirm', group: 0, reason: 'checks passed' },
    },
    {
      name: 'inconclusive accepted, manual group with quorum 2 and 1 approval: still waiting for the second', env: env({ ...withAnalysis, approvers: { users: ['alice', 'bob'], groups: [], required: 2, allowStarter: false } }),
      state: g1Analysed(analysisInconclusive, { inconclusiveAccepted: true, approvals: ['alice'] }), now: G1_SINCE,
      want: like({ kind: 'wait-approval', reason: 'waiting for approval of group 2' }),
    },
    {
      name: 'inconclusive, promoted: promotion does not accept an inconclusive analysis', env: env(withAnalysis),
      state: { group: 0, stage: 'analysed', analysis: analysisInconclusive, promoted: decision(Action.Promote, 'bob') }, now: T0,
      want: like({ kind: 'wait-approval', reason: expect.stringMatching(/^analysis inconclusive/) }),
    },
    {
      name: 'inconclusive with a pause group, accepted: the pause still runs', env: envWith(0, { type: 'pause', duration: '10m' }, withAnalysis),
      state: { group: 0, stage: 'analysed', analysis: analysisInconclusive, inconclusiveAccepted: true, stageSince: T0 }, now: T0 + MIN,
      want: like({ kind: 'wait-timer', until: T0 + 10 * MIN }),
    },
    // Promotion.
    {
      name: 'promoted: skips a pause', env: envWith(0, { type: 'pause', duration: '1h' }), state: { group: 0, stage: 'healthy', stageSince: T0, promoted: decision(Action.Promote, 'bob') }, now: T0,
      want: { kind: 'confirm', group: 0, reason: 'promoted by bob' },
    },
    {
      name: 'promoted: skips a manual approval', env: env(), state: g1({ promoted: decision(Action.Promote, 'bob') }), now: G1_SINCE,
      want: { kind: 'confirm', group: 1, reason: 'promoted by bob' },
    },
    {
      name: 'promoted: skips an expired manual timeout that would roll back', env: envWith(1, { type: 'manual', timeout: '1h', onTimeout: 'rollback' }),
      state: g1({ promoted: decision(Action.Promote, 'alice') }), now: G1_SINCE + 2 * HOUR,
      want: { kind: 'confirm', group: 1, reason: 'promoted by alice' },
    },
    // Pause, stop, outcome.
    {
      name: 'paused with a comment: hold', env: env(), state: g1({ paused: decision(Action.Pause, 'alice', { comment: 'checking dashboards' }) }), now: G1_SINCE,
      want: { kind: 'hold', group: 1, reason: 'paused by alice: checking dashboards', who: 'approvers, the author or the starter (resume)' },
    },
    {
      name: 'paused without a comment: hold', env: env(), state: { group: 0, stage: 'applied', paused: decision(Action.Pause, 'carol') }, now: T0,
      want: { kind: 'hold', group: 0, reason: 'paused by carol', who: 'approvers, the author or the starter (resume)' },
    },
    {
      name: 'paused even where it would complete', env: env(), state: { group: 2, stage: 'confirmed', paused: decision(Action.Pause, 'carol') }, now: T0,
      want: like({ kind: 'hold' }),
    },
    {
      name: 'stop: roll back with its cause and reason', env: env(), state: g1({ stop: { cause: 'abort', reason: 'abort by bob via api', at: iso(T0) } }), now: G1_SINCE,
      want: { kind: 'rollback', cause: 'abort', reason: 'abort by bob via api' },
    },
    {
      name: 'stop wins over pause', env: env(), state: g1({ stop: { cause: 'health', reason: 'group 2 not healthy', at: iso(T0) }, paused: decision(Action.Pause, 'alice') }), now: G1_SINCE,
      want: { kind: 'rollback', cause: 'health', reason: 'group 2 not healthy' },
    },
    {
      name: 'outcome: done, whatever else is set', env: env(),
      state: g1({ stop: { cause: 'abort', reason: 'x', at: iso(T0) }, outcome: { result: 'rolled-back', reason: 'x', at: iso(T0) }, paused: decision(Action.Pause, 'alice') }), now: G1_SINCE,
      want: { kind: 'done' },
    },
    // The end: complete, or bake first.
    { name: 'last group confirmed, no bake: complete', env: env(), state: { group: 2, stage: 'confirmed', stageSince: T0 }, now: T0, want: { kind: 'complete' } },
    {
      name: 'last group confirmed, bake 1h, 30m in: wait for the bake', env: env({ bake: '1h' }), state: { group: 2, stage: 'confirmed', stageSince: T0 }, now: T0 + 30 * MIN,
      want: { kind: 'wait-timer', group: 2, until: T0 + HOUR, reason: 'baking for 1h before the release is final (rollback still possible)', who: 'an approver (promote) to finish now' },
    },
    { name: 'bake over: complete', env: env({ bake: '1h' }), state: { group: 2, stage: 'confirmed', stageSince: T0 }, now: T0 + HOUR, want: { kind: 'complete' } },
    { name: 'bake, promoted: complete now', env: env({ bake: '1h' }), state: { group: 2, stage: 'confirmed', stageSince: T0, promoted: decision(Action.Promote, 'bob') }, now: T0, want: { kind: 'complete' } },
    { name: 'bake applies only after the last group', env: env({ bake: '1h' }), state: { group: 1, stage: 'confirmed', stageSince: T0 }, now: T0, want: { kind: 'apply', group: 2 } },
  ])('$name', ({ env: e, state: patch, now, want }) => {
    expect(decideNext(state(e, patch), e, now)).toEqual(want);
  });

  it('does not change the state it decides on', () => {
    const e = env();
    const s = state(e, g1());
    const before = structuredClone(s);
    decideNext(s, e, G1_SINCE + 99 * HOUR);
    expect(s).toEqual(before);
  });
});

describe('checkDecision', () => {
  const quorum2 = { approvers: { users: ['alice', 'bob'], groups: ['sre'], required: 2, allowStarter: false } };
  const running = (): Partial<ReleaseState> => ({ group: 0, stage: 'applied', stageSince: T0 });
  const waiting = (): Partial<ReleaseState> => g1();
  const pausedWaiting = (): Partial<ReleaseState> => g1({ paused: decision(Action.Pause, 'alice') });
  const stopped = (): Partial<ReleaseState> => g1({ stop: { cause: 'abort', reason: 'abort by bob via api', at: iso(T0) } });
  const succeeded = (): Partial<ReleaseState> => ({ group: 2, stage: 'confirmed', outcome: { result: 'succeeded', reason: 'serves production on every pod', at: iso(T0) } });
  const rolledBack = (): Partial<ReleaseState> => g1({ stop: { cause: 'abort', reason: 'x', at: iso(T0) }, outcome: { result: 'rolled-back', reason: 'abort by bob', at: iso(T0) } });

  type Row = { name: string; env?: EnvironmentConfig; state: Partial<ReleaseState>; action: Action; who: Identity; now?: number; allowed: boolean; reason?: RegExp };
  const alice: Identity = { id: 'alice', groups: [] };
  const bob: Identity = { id: 'bob', groups: [] };

  it.each<Row>([
    // approve
    { name: 'approve while verifying: nothing to approve', state: running(), action: Action.Approve, who: alice, allowed: false, reason: /^nothing to approve: the release is verifying the health of group 1$/ },
    { name: 'approve while waiting for approval', state: waiting(), action: Action.Approve, who: alice, allowed: true },
    { name: 'approve by a group member while waiting', state: waiting(), action: Action.Approve, who: { id: 'frank', groups: ['sre'] }, allowed: true },
    { name: 'approve twice by the same person (quorum 2)', env: env(quorum2), state: g1({ approvals: ['alice'] }), action: Action.Approve, who: alice, allowed: false, reason: /^alice already approved group 2; another approver is needed$/ },
    { name: 'second, distinct approval (quorum 2)', env: env(quorum2), state: g1({ approvals: ['alice'] }), action: Action.Approve, who: bob, allowed: true },
    { name: 'approve by a non-approver: policy first', state: waiting(), action: Action.Approve, who: { id: 'eve', groups: [] }, allowed: false, reason: /eve is not an approver/ },
    { name: 'approve by the author (an approver by group): four-eyes', state: waiting(), action: Action.Approve, who: { id: 'carol', groups: ['sre'] }, allowed: false, reason: /carol is the author of this change/ },
    { name: 'approve by the starter (an approver by group): four-eyes', state: waiting(), action: Action.Approve, who: { id: 'dave', groups: ['sre'] }, allowed: false, reason: /dave started this release/ },
    { name: 'approve while paused in the wait: nothing to approve', state: pausedWaiting(), action: Action.Approve, who: bob, allowed: false, reason: /^nothing to approve: the release is paused by alice$/ },
    { name: 'approve an inconclusive analysis', env: env(withAnalysis), state: { group: 0, stage: 'analysed', analysis: analysisInconclusive }, action: Action.Approve, who: alice, allowed: true },
    { name: 'approve after the manual timeout rolled it back', env: envWith(1, { type: 'manual', timeout: '1h', onTimeout: 'rollback' }), state: waiting(), now: G1_SINCE + HOUR, action: Action.Approve, who: alice, allowed: false, reason: /^nothing to approve: the release is rolling back: no approval for group 2 within 1h$/ },
    { name: 'approve while overdue and holding', env: envWith(1, { type: 'manual', timeout: '1h', onTimeout: 'hold' }), state: waiting(), now: G1_SINCE + HOUR, action: Action.Approve, who: alice, allowed: true },
    { name: 'approve during a pause timer: nothing to approve', env: envWith(1, { type: 'pause', duration: '1h' }), state: waiting(), action: Action.Approve, who: alice, allowed: false, reason: /nothing to approve: the release is waiting: pausing 1h after group 2/ },
    { name: 'approve while rolling back', state: stopped(), action: Action.Approve, who: alice, allowed: false, reason: /^the release is already rolling back \(abort: abort by bob via api\)$/ },
    // reject
    { name: 'reject while waiting for approval', state: waiting(), action: Action.Reject, who: bob, allowed: true },
    { name: 'reject while verifying: use abort', state: running(), action: Action.Reject, who: bob, allowed: false, reason: /^nothing to reject: the release is verifying the health of group 1; use abort to stop it$/ },
    { name: 'reject by the author who is an approver (stopping is allowed)', state: waiting(), action: Action.Reject, who: { id: 'carol', groups: ['sre'] }, allowed: true },
    { name: 'reject by the author who is not an approver', state: waiting(), action: Action.Reject, who: { id: 'carol', groups: [] }, allowed: false, reason: /carol is not an approver/ },
    // pause / resume
    { name: 'pause while running, by the author', state: running(), action: Action.Pause, who: { id: 'carol', groups: [] }, allowed: true },
    { name: 'pause while waiting for approval', state: waiting(), action: Action.Pause, who: bob, allowed: true },
    { name: 'pause when already paused', state: pausedWaiting(), action: Action.Pause, who: bob, allowed: false, reason: /^already paused by alice$/ },
    { name: 'pause while rolling back', state: stopped(), action: Action.Pause, who: bob, allowed: false, reason: /^the release is rolling back; a rollback cannot be paused$/ },
    { name: 'pause by a stranger', state: running(), action: Action.Pause, who: { id: 'eve', groups: [] }, allowed: false, reason: /eve may not pause this release/ },
    { name: 'resume when not paused', state: running(), action: Action.Resume, who: alice, allowed: false, reason: /^the release is not paused$/ },
    { name: 'resume when paused, by the starter', state: pausedWaiting(), action: Action.Resume, who: { id: 'dave', groups: [] }, allowed: true },
    { name: 'resume while rolling back', state: stopped(), action: Action.Resume, who: alice, allowed: false, reason: /already rolling back/ },
    // promote
    { name: 'promote while waiting', state: waiting(), action: Action.Promote, who: bob, allowed: true },
    { name: 'promote while running', state: running(), action: Action.Promote, who: bob, allowed: true },
    { name: 'promote twice', state: g1({ promoted: decision(Action.Promote, 'bob') }), action: Action.Promote, who: alice, allowed: false, reason: /^already promoted by bob$/ },
    { name: 'promote by the starter: four-eyes', state: waiting(), action: Action.Promote, who: { id: 'dave', groups: ['sre'] }, allowed: false, reason: /dave started this release and may not promote it/ },
    // abort / rollback
    { name: 'abort while waiting, by the starter', state: waiting(), action: Action.Abort, who: { id: 'dave', groups: [] }, allowed: true },
    { name: 'abort while paused (the emergency brake works paused)', state: pausedWaiting(), action: Action.Abort, who: bob, allowed: true },
    { name: 'rollback while running', state: running(), action: Action.Rollback, who: alice, allowed: true },
    { name: 'abort while already rolling back', state: stopped(), action: Action.Abort, who: alice, allowed: false, reason: /already rolling back \(abort/ },
    // after the outcome: everything refused, with the reason
    ...Object.values(Action).filter((a) => a !== Action.Rollback).map((action): Row => ({
      name: `${action} after success`, state: succeeded(), action, who: alice, allowed: false,
      reason: /^the release already ended \(succeeded: serves production on every pod\)$/,
    })),
    { name: 'rollback after success: points to a rollback release', state: succeeded(), action: Action.Rollback, who: alice, allowed: false, reason: /^the release already ended \(succeeded: .*\); a finished release is rolled back by a new rollback release \(gantry rollback\)$/ },
    { name: 'rollback after a rollback', state: rolledBack(), action: Action.Rollback, who: alice, allowed: false, reason: /already ended \(rolled-back: abort by bob\).*gantry rollback/ },
    { name: 'after the outcome the ending is the reason, even for a stranger', state: succeeded(), action: Action.Approve, who: { id: 'eve', groups: [] }, allowed: false, reason: /^the release already ended/ },
  ])('$name -> allowed $allowed', ({ env: e = env(), state: patch, action, who, now = G1_SINCE, allowed, reason }) => {
    const s = state(e, patch);
    const before = structuredClone(s);
    const answer = checkDecision(s, e, action, { identity: who, channel: 'api' }, now);
    expect(answer.allowed).toBe(allowed);
    if (!answer.allowed) expect(answer.reason).toMatch(reason ?? /./);
    expect(s).toEqual(before);
  });
});

describe('applyDecision', () => {
  const NOW = G1_SINCE + 5 * MIN;

  it.each<{ name: string; env?: EnvironmentConfig; state: Partial<ReleaseState>; action: Action; req: DecisionRequest; check: (s: ReleaseState) => void; event: { type: string; message: string } }>([
    {
      name: 'approve: adds the approval', state: g1(), action: Action.Approve, req: req('alice', [], 'looks good'),
      check: (s) => { expect(s.approvals).toEqual(['alice']); expect(s.inconclusiveAccepted).toBe(false); },
      event: { type: 'approved', message: 'group 2 approved by alice via api: looks good' },
    },
    {
      name: 'approve an inconclusive analysis: also accepts it', env: env(withAnalysis), state: g1Analysed(analysisInconclusive), action: Action.Approve, req: req('bob'),
      check: (s) => { expect(s.approvals).toEqual(['bob']); expect(s.inconclusiveAccepted).toBe(true); },
      event: { type: 'approved', message: 'group 2 approved by bob via api' },
    },
    {
      name: 'approve a passed analysis: nothing inconclusive to accept', env: env(withAnalysis), state: g1Analysed(analysisPass), action: Action.Approve, req: req('bob'),
      check: (s) => expect(s.inconclusiveAccepted).toBe(false),
      event: { type: 'approved', message: 'group 2 approved by bob via api' },
    },
    {
      name: 'reject: stops with cause rejected', state: g1(), action: Action.Reject, req: req('bob', [], 'error budget'),
      check: (s) => expect(s.stop).toEqual({ cause: 'rejected', reason: 'group 2 rejected by bob via api: error budget', by: 'bob', at: iso(NOW) }),
      event: { type: 'rejected', message: 'group 2 rejected by bob via api: error budget' },
    },
    {
      name: 'pause: records who paused', state: g1(), action: Action.Pause, req: req('carol', [], 'odd logs'),
      check: (s) => expect(s.paused).toEqual({ action: 'pause', by: 'carol', channel: 'api', at: iso(NOW), comment: 'odd logs', group: 1 }),
      event: { type: 'paused', message: 'paused by carol via api: odd logs' },
    },
    {
      name: 'resume: clears the pause', state: g1({ paused: decision(Action.Pause, 'alice') }), action: Action.Resume, req: req('dave'),
      check: (s) => expect(s).not.toHaveProperty('paused'),
      event: { type: 'resumed', message: 'resumed by dave via api' },
    },
    {
      name: 'promote: records the promotion', state: g1(), action: Action.Promote, req: req('bob'),
      check: (s) => expect(s.promoted).toMatchObject({ action: 'promote', by: 'bob' }),
      event: { type: 'promoted', message: 'promoted by bob via api: remaining pauses and approvals skipped' },
    },
    {
      name: 'abort: stops with cause abort and lifts a pause', state: g1({ paused: decision(Action.Pause, 'alice') }), action: Action.Abort, req: req('alice', [], 'wrong build'),
      check: (s) => {
        expect(s.stop).toEqual({ cause: 'abort', reason: 'abort by alice via api: wrong build', by: 'alice', at: iso(NOW) });
        expect(s).not.toHaveProperty('paused');
      },
      event: { type: 'aborted', message: 'abort by alice via api: wrong build' },
    },
    {
      name: 'rollback: stops with cause rollback', state: { group: 2, stage: 'confirmed' }, action: Action.Rollback, req: req('bob'),
      check: (s) => expect(s.stop).toMatchObject({ cause: 'rollback', reason: 'rollback by bob via api', by: 'bob' }),
      event: { type: 'rollback-requested', message: 'rollback by bob via api' },
    },
  ])('$name', ({ env: e = env(), state: patch, action, req: r, check, event }) => {
    const s = state(e, patch);
    const rev = s.rev;
    const d = applyDecision(s, action, r, NOW);
    // The audit record: who, how, when, about which group, and why.
    expect(d).toEqual({ action, by: r.identity.id, channel: r.channel, at: iso(NOW), group: s.group, ...(r.comment ? { comment: r.comment } : {}) });
    expect(d.at).toBe('2024-06-01T12:15:00.000Z');
    expect(s.decisions[s.decisions.length - 1]).toBe(d);
    expect(s.events[s.events.length - 1]).toEqual({ at: iso(NOW), group: s.group, ...event });
    expect(s.rev).toBe(rev + 1);
    check(s);
  });

  it('keeps every decision, in order, with its channel and comment', () => {
    const e = env();
    const s = state(e, g1());
    applyDecision(s, Action.Pause, { identity: { id: 'carol', groups: [] }, channel: 'slack', comment: 'hold on' }, NOW);
    applyDecision(s, Action.Resume, { identity: { id: 'carol', groups: [] }, channel: 'ui' }, NOW + MIN);
    applyDecision(s, Action.Approve, { identity: { id: 'frank', groups: ['sre'] }, channel: 'github', comment: 'lgtm' }, NOW + 2 * MIN);
    expect(s.decisions).toEqual([
      { action: 'pause', by: 'carol', channel: 'slack', at: iso(NOW), comment: 'hold on', group: 1 },
      { action: 'resume', by: 'carol', channel: 'ui', at: iso(NOW + MIN), group: 1 },
      { action: 'approve', by: 'frank', channel: 'github', at: iso(NOW + 2 * MIN), comment: 'lgtm', group: 1 },
    ]);
    expect(decideNext(s, e, NOW + 2 * MIN)).toEqual({ kind: 'confirm', group: 1, reason: 'approved by frank' });
  });
});

describe('record* reducers', () => {
  it('recordApplied moves to the group, resets approvals and analysis, and describes the pods', () => {
    const e = env(withAnalysis);
    const s = state(e, g1Analysed(analysisInconclusive, { approvals: ['alice'], inconclusiveAccepted: true, stage: 'confirmed' }));
    recordApplied(s, 2, T0 + HOUR);
    expect(s).toMatchObject({ group: 2, stage: 'applied', stageSince: T0 + HOUR, approvals: [], inconclusiveAccepted: false });
    expect(s).not.toHaveProperty('analysis');
    expect(s.events.at(-1)).toEqual({ at: iso(T0 + HOUR), type: 'applied', group: 2, message: 'group 3 applied: zone-a +2 (5 new, 0 old), zone-b +2 (5 new, 0 old)' });
  });

  it.each([
    { name: 'healthy', healthy: true, stage: 'healthy', stop: undefined, event: 'healthy' },
    { name: 'not healthy', healthy: false, stage: 'applied', stop: { cause: 'health', reason: 'group 1 not healthy: 1 pod crash-looping', at: iso(T0 + MIN) }, event: 'unhealthy' },
  ])('recordHealth: $name', ({ healthy, stage, stop, event }) => {
    const e = env();
    const s = state(e, { group: 0, stage: 'applied', stageSince: T0 });
    recordHealth(s, healthy, '1 pod crash-looping', T0 + MIN);
    expect(s.stage).toBe(stage);
    expect(s.stop).toEqual(stop);
    expect(s.events.at(-1)!.type).toBe(event);
    expect(decideNext(s, e, T0 + MIN).kind).toBe(healthy ? 'confirm' : 'rollback');
  });

  it.each<{ name: string; ms: Measurement[]; verdict: string; stops: boolean; next: Step['kind'] }>([
    { name: 'pass', ms: [{ check: 'error-rate', value: 0 }], verdict: 'pass', stops: false, next: 'confirm' },
    { name: 'inconclusive', ms: [], verdict: 'inconclusive', stops: false, next: 'wait-approval' },
    { name: 'fail', ms: [{ check: 'error-rate', value: 0.5 }], verdict: 'fail', stops: true, next: 'rollback' },
  ])('recordAnalysis: $name', ({ ms, verdict, stops, next }) => {
    const e = env(withAnalysis);
    const s = state(e, { group: 0, stage: 'healthy', stageSince: T0 });
    const r = recordAnalysis(s, e, ms, T0 + MIN);
    expect(r.verdict).toBe(verdict);
    expect(s.analysis).toBe(r);
    expect(s.stage).toBe('analysed');
    expect(s.stageSince).toBe(T0 + MIN);
    expect(s.events.at(-1)!.type).toBe(`analysis-${verdict}`);
    if (stops) expect(s.stop).toMatchObject({ cause: 'analysis', reason: 'group 1: analysis fail: error-rate: 0.5 is above the maximum 0.05' });
    else expect(s).not.toHaveProperty('stop');
    expect(decideNext(s, e, T0 + MIN).kind).toBe(next);
  });

  it('recordRollbackStarted keeps an earlier stop and records the decider\'s own', () => {
    const e = env();
    const first = state(e, g1({ stop: { cause: 'abort', reason: 'abort by bob', at: iso(T0) } }));
    recordRollbackStarted(first, 'deadline', 'ignored', T0 + HOUR);
    expect(first.stop).toEqual({ cause: 'abort', reason: 'abort by bob', at: iso(T0) });
    expect(first.events.at(-1)!.message).toBe('rolling back (abort): abort by bob');

    const own = state(e, g1());
    recordRollbackStarted(own, 'deadline', 'no approval for group 2 within 1h', T0 + HOUR);
    expect(own.stop).toEqual({ cause: 'deadline', reason: 'no approval for group 2 within 1h', at: iso(T0 + HOUR) });
  });

  it('recordConfirmed and recordOutcome', () => {
    const e = env();
    const s = state(e, g1());
    recordConfirmed(s, 'approved by alice', T0 + HOUR);
    expect(s).toMatchObject({ stage: 'confirmed', stageSince: T0 + HOUR });
    expect(s.events.at(-1)).toMatchObject({ type: 'confirmed', message: 'group 2 confirmed: approved by alice', group: 1 });
    recordOutcome(s, 'succeeded', 'all pods new', T0 + 2 * HOUR);
    expect(s.outcome).toEqual({ result: 'succeeded', reason: 'all pods new', at: iso(T0 + 2 * HOUR) });
    expect(decideNext(s, e, T0 + 2 * HOUR)).toEqual({ kind: 'done' });
  });
});

describe('releaseStatus', () => {
  const e = env({ bake: '1h' });

  it.each<{ name: string; env?: EnvironmentConfig; state: Partial<ReleaseState>; now?: number; phase: string; group: { current: number; of: number; name?: string }; canary: [number, number]; summary: RegExp }>([
    { name: 'fresh', state: {}, phase: 'applying', group: { current: 1, of: 3, name: 'canary' }, canary: [0, 0], summary: /^applying group 1$/ },
    { name: 'group 1 applied', state: { group: 0, stage: 'applied' }, phase: 'verifying', group: { current: 1, of: 3, name: 'canary' }, canary: [1, 1], summary: /^verifying the health of group 1$/ },
    { name: 'group 1 confirmed: about to apply group 2', state: { group: 0, stage: 'confirmed' }, phase: 'applying', group: { current: 2, of: 3, name: 'group 2' }, canary: [1, 1], summary: /^applying group 2$/ },
    { name: 'group 2 waiting for approval', state: g1(), phase: 'waiting-approval', group: { current: 2, of: 3, name: 'group 2' }, canary: [3, 3], summary: /^waiting for approval of group 2$/ },
    { name: 'group 2 with analysis', env: env({ ...withAnalysis, bake: '1h' }), state: g1(), phase: 'analysing', group: { current: 2, of: 3, name: 'group 2' }, canary: [3, 3], summary: /^analysing group 2$/ },
    { name: 'group 3 healthy, confirming', state: { group: 2, stage: 'healthy' }, phase: 'confirming', group: { current: 3, of: 3, name: 'group 3' }, canary: [5, 5], summary: /^confirming group 3$/ },
    { name: 'baking', state: { group: 2, stage: 'confirmed', stageSince: T0 }, now: T0 + MIN, phase: 'waiting', group: { current: 3, of: 3, name: 'group 3' }, canary: [5, 5], summary: /^waiting: baking for 1h/ },
    { name: 'bake done: completing', state: { group: 2, stage: 'confirmed', stageSince: T0 }, now: T0 + HOUR, phase: 'completing', group: { current: 3, of: 3, name: 'group 3' }, canary: [5, 5], summary: /^completing: making the new revision final on every pod$/ },
    { name: 'paused', state: g1({ paused: decision(Action.Pause, 'alice', { comment: 'lunch' }) }), phase: 'paused', group: { current: 2, of: 3, name: 'group 2' }, canary: [3, 3], summary: /^paused by alice: lunch$/ },
    { name: 'rolling back: new pods still there', state: g1({ stop: { cause: 'abort', reason: 'abort by bob', at: iso(T0) } }), phase: 'rolling-back', group: { current: 2, of: 3, name: 'group 2' }, canary: [3, 3], summary: /^rolling back: abort by bob$/ },
    { name: 'succeeded', state: { group: 2, stage: 'confirmed', outcome: { result: 'succeeded', reason: 'every pod new', at: iso(T0) } }, phase: 'succeeded', group: { current: 3, of: 3, name: 'group 3' }, canary: [5, 5], summary: /^succeeded: every pod new$/ },
    { name: 'rolled back: zero canary', state: g1({ stop: { cause: 'abort', reason: 'x', at: iso(T0) }, outcome: { result: 'rolled-back', reason: 'abort by bob', at: iso(T0) } }), phase: 'rolled-back', group: { current: 2, of: 3, name: 'group 2' }, canary: [0, 0], summary: /^rolled-back: abort by bob$/ },
    { name: 'failed rollback: pods as they were', state: g1({ stop: { cause: 'abort', reason: 'x', at: iso(T0) }, outcome: { result: 'failed', reason: 'rollback failed', at: iso(T0) } }), phase: 'failed', group: { current: 2, of: 3, name: 'group 2' }, canary: [3, 3], summary: /^failed: rollback failed$/ },
  ])('$name: $phase', ({ env: en = e, state: patch, now = G1_SINCE, phase, group, canary, summary }) => {
    const st = releaseStatus(state(en, patch), en, now);
    expect(st.phase).toBe(phase);
    expect(st.group).toEqual(group);
    expect(st.cells).toEqual([
      { cell: 'zone-a', replicas: 5, canary: canary[0], stable: 5 - canary[0] },
      { cell: 'zone-b', replicas: 5, canary: canary[1], stable: 5 - canary[1] },
    ]);
    expect(st.summary).toMatch(summary);
    expect(st).toMatchObject({ id: 'release/shop/production', app: 'shop', environment: 'production', kind: 'release', startedBy: 'dave', startedAt: iso(T0) });
  });

  it.each([
    { name: 'after group 1', group: 0, canary: [1, 1] },
    { name: 'after group 2', group: 1, canary: [3, 3] },
    { name: 'after group 3', group: 2, canary: [5, 5] },
  ])('cells per cell $name', ({ group, canary }) => {
    const en = env();
    const st = releaseStatus(state(en, { group, stage: 'confirmed', stageSince: T0 }), en, T0);
    expect(st.phase).toBe(group === 2 ? 'completing' : 'applying');
    expect(st.cells.map((c) => [c.cell, c.canary, c.stable])).toEqual([['zone-a', canary[0], 5 - canary[0]!], ['zone-b', canary[1], 5 - canary[1]!]]);
  });

  it.each<{ name: string; env: EnvironmentConfig; state: Partial<ReleaseState>; now: number; waiting: object | undefined }>([
    {
      name: 'approval without a deadline', env: env(), state: g1(), now: G1_SINCE + MIN,
      waiting: {
        on: 'approval', reason: 'waiting for approval of group 2', since: iso(G1_SINCE), who: 'approvers: alice, bob, group:sre (not carol, dave); 0 of 1 approval',
        approvers: { users: ['alice', 'bob'], groups: ['sre'], required: 1, approvals: [], excluded: [{ id: 'carol', why: 'author of the change (four-eyes)' }, { id: 'dave', why: 'started this release (four-eyes)' }] },
      },
    },
    {
      name: 'approval with a deadline', env: envWith(1, { type: 'manual', timeout: '48h', onTimeout: 'rollback' }), state: g1(), now: G1_SINCE + MIN,
      waiting: { on: 'approval', reason: 'waiting for approval of group 2', since: iso(G1_SINCE), until: iso(G1_SINCE + 48 * HOUR), who: expect.stringMatching(/^approvers: /), approvers: expect.objectContaining({ required: 1 }) },
    },
    {
      name: 'pause timer', env: envWith(1, { type: 'pause', duration: '10m' }), state: g1(), now: G1_SINCE + MIN,
      waiting: { on: 'timer', reason: 'pausing 10m after group 2', since: iso(G1_SINCE), until: iso(G1_SINCE + 10 * MIN), who: 'an approver (promote) to skip the pause' },
    },
    {
      name: 'paused by a person: waits for resume since the pause', env: env(), state: g1({ paused: decision(Action.Pause, 'alice', { at: iso(G1_SINCE + 2 * MIN) }) }), now: G1_SINCE + 5 * MIN,
      waiting: { on: 'resume', reason: 'paused by alice', since: iso(G1_SINCE + 2 * MIN), who: 'approvers, the author or the starter (resume)' },
    },
    { name: 'verifying: not waiting', env: env(), state: { group: 0, stage: 'applied' }, now: T0, waiting: undefined },
    { name: 'done: not waiting', env: env(), state: { group: 2, stage: 'confirmed', outcome: { result: 'succeeded', reason: 'ok', at: iso(T0) } }, now: T0, waiting: undefined },
  ])('waiting: $name', ({ env: en, state: patch, now, waiting }) => {
    const st = releaseStatus(state(en, patch), en, now);
    if (waiting === undefined) expect(st).not.toHaveProperty('waiting');
    else expect(st.waiting).toEqual(waiting);
  });

  it('shows previous, analysis, stop and outcome only when there are some', () => {
    const en = env(withAnalysis);
    const bare = releaseStatus(newReleaseState({ ...spec(en), previous: undefined }, T0), en, T0);
    for (const k of ['previous', 'analysis', 'stop', 'outcome', 'waiting']) expect(bare).not.toHaveProperty(k);
    const full = releaseStatus(state(en, g1Analysed(analysisPass, { stop: { cause: 'abort', reason: 'x', at: iso(T0) }, outcome: { result: 'rolled-back', reason: 'x', at: iso(T0) } })), en, T0);
    expect(full.previous).toEqual({ image: 'registry.local/shop/web', digest: DIGEST_B });
    expect(full.analysis).toBe(analysisPass);
    expect(full.stop).toMatchObject({ cause: 'abort' });
    expect(full.outcome).toMatchObject({ result: 'rolled-back' });
  });

  it.each([
    { name: 'default: the last 50', opts: {}, count: 50, first: 'e10' },
    { name: 'the last 3', opts: { events: 3 }, count: 3, first: 'e57' },
    { name: '0: all of them', opts: { events: 0 }, count: 61, first: 'started' },
  ])('events: $name', ({ opts, count, first }) => {
    const en = env();
    const s = state(en);
    for (let i = 0; i < 60; i++) s.events.push({ at: iso(T0), type: `e${i}`, message: '' });
    const st = releaseStatus(s, en, T0, opts);
    expect(st.events).toHaveLength(count);
    expect(st.events[0]!.type).toBe(first);
    expect(st.events.at(-1)!.type).toBe('e59');
  });

  it('phaseOf a done step without an outcome is failed', () => {
    expect(phaseOf({ kind: 'done' }, state(env()))).toBe('failed');
  });

  it.each<{ step: Step; want: RegExp }>([
    { step: { kind: 'apply', group: 1 }, want: /^applying group 2$/ },
    { step: { kind: 'verify', group: 1, deadlineMs: 1 }, want: /^verifying the health of group 2$/ },
    { step: { kind: 'analyse', group: 0 }, want: /^analysing group 1$/ },
    { step: { kind: 'wait-timer', group: 0, until: 0, reason: 'r', who: 'w' }, want: /^waiting: r$/ },
    { step: { kind: 'wait-approval', group: 0, reason: 'r', who: 'w' }, want: /^r$/ },
    { step: { kind: 'hold', group: 0, reason: 'paused by x', who: 'w' }, want: /^paused by x$/ },
    { step: { kind: 'confirm', group: 2, reason: 'r' }, want: /^confirming group 3$/ },
    { step: { kind: 'complete' }, want: /^completing: making the new revision final on every pod$/ },
    { step: { kind: 'rollback', cause: 'abort', reason: 'r' }, want: /^rolling back: r$/ },
    { step: { kind: 'done' }, want: /^finished$/ },
  ])('describeStep $step.kind', ({ step, want }) => {
    expect(describeStep(step)).toMatch(want);
  });
});

// ---------------------------------------------------------------------------------------------
// Full runs: the workflow's loop, with the effects simulated and a fake clock.

interface Attempt { action: Action; who: Identity; comment?: string }
interface Script {
  healthy?: (group: number) => boolean;
  measurements?: (group: number) => Measurement[];
  /** People acting when the release reaches `step` (called once per step reached; return nothing to let time pass). */
  people?: (step: Step, s: ReleaseState, now: number) => Attempt[] | undefined;
}

function simulate(e: EnvironmentConfig, script: Script = {}, startAt = T0) {
  const s = newReleaseState(spec(e), startAt);
  let now = startAt;
  const log: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const step = decideNext(s, e, now);
    const key = `${JSON.stringify(step)}@${s.rev}`;
    const label = `${step.kind}${'group' in step ? ` ${step.group}` : ''}`;
    if (script.people && !seen.has(key)) {
      seen.add(key);
      const attempts = script.people(step, s, now) ?? [];
      let acted = false;
      for (const a of attempts) {
        const r: DecisionRequest = { identity: a.who, channel: 'cli', ...(a.comment ? { comment: a.comment } : {}) };
        const answer = checkDecision(s, e, a.action, r, now);
        if (answer.allowed) {
          applyDecision(s, a.action, r, now);
          log.push(`${a.action} by ${a.who.id}`);
          acted = true;
        } else {
          log.push(`refused ${a.action} by ${a.who.id}: ${answer.reason}`);
        }
      }
      if (acted) continue;
    }
    log.push(label);
    switch (step.kind) {
      case 'apply': now += SEC; recordApplied(s, step.group, now); break;
      case 'verify': now += 2 * SEC; recordHealth(s, script.healthy?.(step.group) ?? true, 'all pods ready', now); break;
      case 'analyse': now += SEC; recordAnalysis(s, e, script.measurements?.(step.group) ?? [{ check: 'error-rate', value: 0.001 }], now); break;
      case 'confirm': recordConfirmed(s, step.reason, now); break;
      case 'wait-timer': now = step.until; break;
      case 'wait-approval':
        if (step.until === undefined) throw new Error(`stuck waiting for approval: ${step.reason}\n${log.join('\n')}`);
        now = step.until;
        break;
      case 'hold': throw new Error(`stuck on hold: ${step.reason}\n${log.join('\n')}`);
      case 'complete': recordOutcome(s, 'succeeded', 'every pod serves the new revision', now); break;
      case 'rollback':
        recordRollbackStarted(s, step.cause, step.reason, now);
        now += SEC;
        recordOutcome(s, 'rolled-back', `${s.stop!.reason}; back to ${revisionRef(s.previous!)}`, now);
        break;
      case 'done': return { s, log, now };
    }
  }
  throw new Error(`the release did not finish:\n${log.join('\n')}`);
}

describe('full runs of the decider loop (fake clock)', () => {
  it('seed plan: 1, 2, rest per zone, with a manual group and four-eyes approval', () => {
    const e = env();
    const statuses: { phase: string; canary: number[] }[] = [];
    const { s, log, now } = simulate(e, {
      people: (step, st, t) => {
        statuses.push({ phase: releaseStatus(st, e, t).phase, canary: releaseStatus(st, e, t).cells.map((c) => c.canary) });
        if (step.kind !== 'wait-approval') return undefined;
        return [
          { action: Action.Approve, who: { id: 'eve', groups: [] } },
          { action: Action.Approve, who: { id: 'carol', groups: ['sre'] } },
          { action: Action.Approve, who: { id: 'dave', groups: ['sre'] } },
          { action: Action.Approve, who: { id: 'frank', groups: ['sre'] }, comment: 'metrics look fine' },
        ];
      },
    });
    expect(log).toEqual([
      'apply 0', 'verify 0', 'confirm 0',
      'apply 1', 'verify 1',
      expect.stringMatching(/^refused approve by eve: eve is not an approver/),
      expect.stringMatching(/^refused approve by carol: carol is the author/),
      expect.stringMatching(/^refused approve by dave: dave started this release/),
      'approve by frank',
      'confirm 1',
      'apply 2', 'verify 2', 'confirm 2',
      'complete', 'done',
    ]);
    expect(s.outcome).toEqual({ result: 'succeeded', reason: 'every pod serves the new revision', at: iso(now) });
    expect(s.decisions).toEqual([{ action: 'approve', by: 'frank', channel: 'cli', at: iso(T0 + 6 * SEC), comment: 'metrics look fine', group: 1 }]);
    expect(s.events.map((x) => x.type)).toEqual([
      'started', 'applied', 'healthy', 'confirmed', 'applied', 'healthy', 'approved', 'confirmed', 'applied', 'healthy', 'confirmed', 'succeeded',
    ]);
    expect(s.events.filter((x) => x.type === 'applied').map((x) => x.message)).toEqual([
      'group 1 applied: zone-a +1 (1 new, 4 old), zone-b +1 (1 new, 4 old)',
      'group 2 applied: zone-a +2 (3 new, 2 old), zone-b +2 (3 new, 2 old)',
      'group 3 applied: zone-a +2 (5 new, 0 old), zone-b +2 (5 new, 0 old)',
    ]);
    // What `status` showed along the way: pods move 1, 3, 5 per zone.
    expect(statuses.map((x) => `${x.phase} ${x.canary.join('/')}`)).toEqual([
      'applying 0/0', 'verifying 1/1', 'confirming 1/1',
      'applying 1/1', 'verifying 3/3', 'waiting-approval 3/3', 'confirming 3/3',
      'applying 3/3', 'verifying 5/5', 'confirming 5/5',
      'completing 5/5', 'succeeded 5/5',
    ]);
    const final = releaseStatus(s, e, now);
    expect(final.phase).toBe('succeeded');
    expect(final.cells.every((c) => c.canary === 5 && c.stable === 0)).toBe(true);
  });

  it('analysis, a pause group, a manual group with quorum 2, and bake time', () => {
    const e = envWith(0, { type: 'pause', duration: '10m' }, {
      ...withAnalysis, bake: '1h', approvers: { users: ['alice', 'bob'], groups: [], required: 2, allowStarter: false },
    });
    const { s, log, now } = simulate(e, {
      people: (step) => (step.kind === 'wait-approval' ? [
        { action: Action.Approve, who: { id: 'alice', groups: [] } },
        { action: Action.Approve, who: { id: 'alice', groups: [] } },
        { action: Action.Approve, who: { id: 'bob', groups: [] } },
      ] : undefined),
    });
    expect(log).toEqual([
      'apply 0', 'verify 0', 'analyse 0', 'wait-timer 0', 'confirm 0',
      'apply 1', 'verify 1', 'analyse 1',
      'approve by alice', 'refused approve by alice: alice already approved group 2; another approver is needed', 'approve by bob',
      'confirm 1',
      'apply 2', 'verify 2', 'analyse 2', 'confirm 2',
      'wait-timer 2', 'complete', 'done',
    ]);
    expect(s.outcome?.result).toBe('succeeded');
    // 10m pause after group 1's analysis, 1h bake after the last confirmation.
    const analysed0 = s.events.find((x) => x.type === 'analysis-pass' && x.group === 0)!;
    const confirmed0 = s.events.find((x) => x.type === 'confirmed' && x.group === 0)!;
    expect(Date.parse(confirmed0.at) - Date.parse(analysed0.at)).toBe(10 * MIN);
    const confirmed2 = s.events.find((x) => x.type === 'confirmed' && x.group === 2)!;
    expect(now - Date.parse(confirmed2.at)).toBe(HOUR);
  });

  it('inconclusive analysis waits for a person; approve continues', () => {
    const e = env(withAnalysis);
    const { s, log } = simulate(e, {
      measurements: (g) => (g === 0 ? [] : [{ check: 'error-rate', value: 0 }]),
      people: (step) => (step.kind === 'wait-approval' ? [{ action: Action.Approve, who: { id: 'bob', groups: [] } }] : undefined),
    });
    expect(log).toEqual([
      'apply 0', 'verify 0', 'analyse 0', 'approve by bob', 'confirm 0',
      'apply 1', 'verify 1', 'analyse 1', 'approve by bob', 'confirm 1',
      'apply 2', 'verify 2', 'analyse 2', 'confirm 2',
      'complete', 'done',
    ]);
    expect(s.events.filter((x) => x.type.startsWith('analysis-')).map((x) => x.type)).toEqual(['analysis-inconclusive', 'analysis-pass', 'analysis-pass']);
    expect(s.outcome?.result).toBe('succeeded');
  });

  it('inconclusive analysis, rejected: rolls back', () => {
    const e = env(withAnalysis);
    const { s, log, now } = simulate(e, {
      measurements: () => [{ check: 'error-rate', value: null }],
      people: (step) => (step.kind === 'wait-approval' ? [{ action: Action.Reject, who: { id: 'alice', groups: [] }, comment: 'no data, no go' }] : undefined),
    });
    expect(log).toEqual(['apply 0', 'verify 0', 'analyse 0', 'reject by alice', 'rollback', 'done']);
    expect(s.stop).toMatchObject({ cause: 'rejected', reason: 'group 1 rejected by alice via cli: no data, no go', by: 'alice' });
    expect(s.outcome?.result).toBe('rolled-back');
    expect(releaseStatus(s, e, now).cells.map((c) => c.canary)).toEqual([0, 0]);
  });

  it.each([
    { name: 'a failed analysis', script: { measurements: (g: number) => [{ check: 'error-rate', value: g === 1 ? 0.5 : 0 }] } as Script, cause: 'analysis', log: ['apply 0', 'verify 0', 'analyse 0', 'confirm 0', 'apply 1', 'verify 1', 'analyse 1', 'rollback', 'done'] },
    { name: 'an unhealthy group', script: { healthy: (g: number) => g !== 1 } as Script, cause: 'health', log: ['apply 0', 'verify 0', 'analyse 0', 'confirm 0', 'apply 1', 'verify 1', 'rollback', 'done'] },
  ])('$name rolls back to the previous revision', ({ script, cause, log }) => {
    const e = envWith(1, { type: 'auto' }, withAnalysis);
    const r = simulate(e, script);
    expect(r.log).toEqual(log);
    expect(r.s.stop?.cause).toBe(cause);
    expect(r.s.outcome).toMatchObject({ result: 'rolled-back', reason: expect.stringMatching(new RegExp(`back to registry.local/shop/web@${DIGEST_B}$`)) });
    const st = releaseStatus(r.s, e, r.now);
    expect(st.phase).toBe('rolled-back');
    expect(st.cells).toEqual([{ cell: 'zone-a', replicas: 5, canary: 0, stable: 5 }, { cell: 'zone-b', replicas: 5, canary: 0, stable: 5 }]);
  });

  it('no approval within the manual timeout: rolls back on the deadline', () => {
    const e = envWith(1, { type: 'manual', timeout: '48h', onTimeout: 'rollback' });
    const { s, log, now } = simulate(e);
    expect(log).toEqual(['apply 0', 'verify 0', 'confirm 0', 'apply 1', 'verify 1', 'wait-approval 1', 'rollback', 'done']);
    expect(s.stop).toMatchObject({ cause: 'deadline', reason: 'no approval for group 2 within 48h' });
    const healthy1 = s.events.find((x) => x.type === 'healthy' && x.group === 1)!;
    expect(now - SEC - Date.parse(healthy1.at)).toBe(48 * HOUR);
  });

  it('promote after the first group skips the manual approval, and pause/resume holds in between', () => {
    const e = env();
    let promoted = false;
    let paused = false;
    const { s, log } = simulate(e, {
      people: (step, st) => {
        if (step.kind === 'apply' && step.group === 1 && !paused) { paused = true; return [{ action: Action.Pause, who: { id: 'carol', groups: [] }, comment: 'one moment' }]; }
        if (step.kind === 'hold') return [{ action: Action.Resume, who: { id: 'carol', groups: [] } }];
        if (step.kind === 'apply' && step.group === 1 && st.paused === undefined && !promoted) {
          promoted = true;
          return [{ action: Action.Promote, who: { id: 'carol', groups: ['sre'] } }, { action: Action.Promote, who: { id: 'bob', groups: [] } }];
        }
        return undefined;
      },
    });
    expect(log).toEqual([
      'apply 0', 'verify 0', 'confirm 0',
      'pause by carol', 'resume by carol',
      expect.stringMatching(/^refused promote by carol: carol is the author of this change and may not promote/),
      'promote by bob',
      'apply 1', 'verify 1', 'confirm 1',
      'apply 2', 'verify 2', 'confirm 2',
      'complete', 'done',
    ]);
    expect(s.events.find((x) => x.type === 'confirmed' && x.group === 1)!.message).toBe('group 2 confirmed: promoted by bob');
    expect(s.decisions.map((d) => `${d.action}:${d.by}:${d.group}`)).toEqual(['pause:carol:0', 'resume:carol:0', 'promote:bob:0']);
  });

  it('abort while waiting for approval rolls back and refuses everything after', () => {
    const e = env();
    const { s, log, now } = simulate(e, {
      people: (step) => (step.kind === 'wait-approval' ? [{ action: Action.Abort, who: { id: 'bob', groups: [] }, comment: 'wrong build' }, { action: Action.Approve, who: { id: 'alice', groups: [] } }] : undefined),
    });
    expect(log).toEqual([
      'apply 0', 'verify 0', 'confirm 0', 'apply 1', 'verify 1',
      'abort by bob', 'refused approve by alice: the release is already rolling back (abort: abort by bob via cli: wrong build)',
      'rollback', 'done',
    ]);
    expect(s.outcome?.result).toBe('rolled-back');
    for (const action of Object.values(Action)) {
      const answer = checkDecision(s, e, action, { identity: { id: 'alice', groups: [] }, channel: 'api' }, now);
      expect(answer).toEqual({ allowed: false, reason: expect.stringMatching(/^the release already ended \(rolled-back: abort by bob via cli: wrong build; back to /) });
    }
  });
});
