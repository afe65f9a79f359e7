// allowedActions (what a caller may do now, with the reason when not) and the search attribute
// values of a release (who can unblock it): both from the same policy as the Update validators.
import { describe, expect, it } from '@jest/globals';
import { Action, type Identity } from '../../core/approval.js';
import type { EnvironmentConfig } from '../../core/config.js';
import { environmentPlan } from '../../core/plan.js';
import {
  allowedActions, applyDecision, checkDecision, newReleaseState, observeCalendar, recordApplied, recordConfirmed, recordHealth, recordOutcome,
  releaseStatus, type ReleaseState,
} from '../../core/release.js';
import {
  canUnblock, changedAttributes, parseCellAttribute, plannedWeight, queryLiteral, registerHint, releaseAttributes, searchAttributeFlags, waitingForClause,
} from '../../core/search-attributes.js';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const MIN = 60_000;
const id = (name: string, groups: string[] = []): Identity => ({ id: name, groups });
const req = (who: Identity, comment?: string) => ({ identity: who, channel: 'api' as const, ...(comment ? { comment } : {}) });

function env(over: Partial<EnvironmentConfig> = {}): EnvironmentConfig {
  return {
    name: 'production', cells: [{ name: 'a', namespace: 'shop', replicas: 4 }],
    groups: [{ name: 'g1', pods: 1, confirm: { type: 'manual', onTimeout: 'hold' } }, { name: 'g2', pods: 'rest', confirm: { type: 'auto' } }],
    analysis: [], deadlines: { progress: '1m', analysis: '1m' }, bake: '0s',
    approvers: { users: ['bob'], groups: ['sre'], required: 2, allowStarter: false },
    ...over,
  };
}

/** carol wrote the change, dave started it; group 1 is healthy and waits for approval. */
function waiting(e: EnvironmentConfig): ReleaseState {
  const s = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i', author: 'carol' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, T0);
  recordApplied(s, 0, T0);
  recordHealth(s, true, 'ok', T0);
  return s;
}

const alice = id('alice', ['sre']);
const bob = id('bob');
const carol = id('carol', ['sre']); // the author, though in sre
const dave = id('dave', ['sre']); // the starter
const mallory = id('mallory', ['dev']);

describe('allowedActions: every action, for the caller, with the validators\' reasons', () => {
  const e = env();
  const at = T0 + MIN;
  it.each([
    // [who, action, allowed, reason pattern]
    [alice, Action.Approve, true, undefined],
    [alice, Action.Reject, true, undefined],
    [alice, Action.Pause, true, undefined],
    [alice, Action.Resume, false, /not paused/],
    [alice, Action.Promote, true, undefined],
    [alice, Action.Abort, true, undefined],
    [alice, Action.Override, false, /nothing to override/],
    [carol, Action.Approve, false, /carol is the author of this change/],
    [carol, Action.Promote, false, /carol is the author of this change/],
    [carol, Action.Reject, true, undefined],
    [carol, Action.Abort, true, undefined],
    [dave, Action.Approve, false, /dave started this release .* \(four-eyes\)/],
    [mallory, Action.Approve, false, /mallory is not an approver of this environment \(approvers: bob, group:sre\)/],
    [mallory, Action.Reject, false, /mallory is not an approver/],
    [mallory, Action.Pause, false, /only approvers .* the author and the starter may/],
    [mallory, Action.Rollback, false, /only approvers/],
  ] as const)('%j %s → %s', (who, action, allowed, reason) => {
    const s = waiting(e);
    const all = allowedActions(s, e, who, at);
    expect(Object.keys(all).sort()).toEqual(Object.values(Action).sort());
    expect(all[action].allowed).toBe(allowed);
    if (reason) expect(all[action].reason).toMatch(reason);
    // The very answer the Update validator gives (override: given a reason, which a request must carry).
    const validator = checkDecision(s, e, action, req(who, 'why'), at);
    expect(validator.allowed).toBe(allowed);
    if (!validator.allowed) expect(all[action].reason).toBe(validator.reason);
  });

  it('already approved by you: approve refused with the reason, reject still allowed', () => {
    const s = waiting(e);
    applyDecision(s, Action.Approve, req(alice), at);
    const all = allowedActions(s, e, alice, at + MIN);
    expect(all.approve).toEqual({ allowed: false, reason: 'alice already approved group 1; another approver is needed' });
    expect(all.reject.allowed).toBe(true);
    expect(allowedActions(s, e, bob, at + MIN).approve).toEqual({ allowed: true });
  });

  it('paused: resume allowed for the author, pause refused with who paused', () => {
    const s = waiting(e);
    applyDecision(s, Action.Pause, req(alice), at);
    const all = allowedActions(s, e, carol, at + MIN);
    expect(all.resume).toEqual({ allowed: true });
    expect(all.pause).toEqual({ allowed: false, reason: 'already paused by alice' });
  });

  it('an ended release: nothing is allowed, each says why', () => {
    const s = waiting(e);
    recordOutcome(s, 'succeeded', 'done', at);
    const all = allowedActions(s, e, alice, at);
    for (const a of Object.values(all)) expect(a).toEqual({ allowed: false, reason: expect.stringMatching(/^the release already ended \(succeeded: done\)/) });
  });

  it('a window hold: override allowed for an approver, noting that it needs a reason; the validator refuses it without one', () => {
    const we = env({
      groups: [{ name: 'g1', pods: 1, confirm: { type: 'auto' } }, { name: 'g2', pods: 'rest', confirm: { type: 'auto' } }],
      calendar: { timeZone: 'UTC', windows: [{ days: ['tue'], start: '09:00', end: '17:00', timeZone: 'UTC' }], freezes: [] },
    });
    const s = waiting(we);
    recordConfirmed(s, 'healthy', T0);
    observeCalendar(s, we, T0);
    expect(allowedActions(s, we, alice, T0).override).toEqual({ allowed: true, reason: 'needs a reason (-m "<reason>")' });
    expect(checkDecision(s, we, Action.Override, req(alice), T0)).toEqual({ allowed: false, reason: 'an override of the release window needs a reason (-m "<reason>")' });
    expect(allowedActions(s, we, dave, T0).override).toEqual({ allowed: false, reason: expect.stringMatching(/dave started this release/) });
    expect(releaseAttributes(s, we, T0)).toEqual({ phase: 'waiting-window', waitingOn: 'window', approvers: ['bob', 'group:sre'], excluded: ['carol', 'dave'], weight: 25, waitingSince: s.stageSince, group: 2, cells: ['a=1/4'] });
  });

  it('status carries allowedActions only when asked for a caller', () => {
    const s = waiting(e);
    expect(releaseStatus(s, e, at).allowedActions).toBeUndefined();
    expect(releaseStatus(s, e, at, { identity: carol }).allowedActions?.approve).toEqual({ allowed: false, reason: expect.stringMatching(/author/) });
    // A malformed identity (not from the API) gives no answer rather than a wrong one.
    expect(releaseStatus(s, e, at, { identity: { id: '', groups: [] } }).allowedActions).toBeUndefined();
  });
});

describe('search attribute values: who can unblock a release', () => {
  const e = env();
  it('waiting for approval: the approvers, less the author, the starter and who already approved', () => {
    const s = waiting(e);
    // Group 1 moved 1 of 4 pods: GantryWeight 25; the wait began when it became healthy.
    expect(releaseAttributes(s, e, T0)).toEqual({ phase: 'waiting-approval', waitingOn: 'approval', approvers: ['bob', 'group:sre'], excluded: ['carol', 'dave'], weight: 25, waitingSince: T0, group: 1, cells: ['a=1/4'] });
    applyDecision(s, Action.Approve, req(alice), T0 + MIN);
    const a = releaseAttributes(s, e, T0 + MIN);
    expect(a.excluded).toEqual(['alice', 'carol', 'dave']);
    // The list's answer matches what each may do.
    for (const who of [alice, bob, carol, dave, mallory]) {
      expect([who.id, canUnblock(who, a.approvers, a.excluded)]).toEqual([who.id, allowedActions(s, e, who, T0 + MIN).approve.allowed]);
    }
  });

  it('a starter allowed to approve is not excluded; an empty policy is anyone (*)', () => {
    const open = env({ approvers: { users: [], groups: [], required: 1, allowStarter: true } });
    const s = waiting(open);
    expect(releaseAttributes(s, open, T0)).toMatchObject({ approvers: ['*'], excluded: ['carol'] });
    expect(canUnblock(mallory, ['*'], ['carol'])).toBe(true);
    expect(canUnblock(carol, ['*'], ['carol'])).toBe(false);
  });

  it('paused: approvers plus the author and the starter may resume; a timer and running steps need nobody', () => {
    const s = waiting(e);
    applyDecision(s, Action.Pause, req(alice), T0 + MIN);
    expect(releaseAttributes(s, e, T0 + 2 * MIN)).toEqual({ phase: 'paused', waitingOn: 'resume', approvers: ['bob', 'group:sre', 'carol', 'dave'], excluded: [], weight: 25, waitingSince: T0 + MIN, group: 1, cells: ['a=1/4'] });
    const fresh = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, T0);
    recordApplied(fresh, 0, T0);
    expect(releaseAttributes(fresh, e, T0)).toEqual({ phase: 'verifying', waitingOn: 'none', approvers: [], excluded: [], weight: 25, group: 1, cells: ['a=1/4'] });
    const baking = waiting(env({ bake: '10m', groups: [{ name: 'only', pods: 'rest', confirm: { type: 'auto' } }] }));
    recordConfirmed(baking, 'healthy', T0);
    expect(releaseAttributes(baking, env({ bake: '10m', groups: [{ name: 'only', pods: 'rest', confirm: { type: 'auto' } }] }), T0)).toMatchObject({ phase: 'waiting', waitingOn: 'timer', approvers: [] });
  });

  it('changedAttributes: only what changed (so the workflow upserts rarely)', () => {
    const a = { phase: 'waiting-approval' as const, waitingOn: 'approval' as const, approvers: ['bob'], excluded: [], weight: 25, waitingSince: T0, group: 1, cells: ['a=1/4'] };
    expect(changedAttributes(undefined, a)).toEqual(['phase', 'waitingOn', 'approvers', 'excluded', 'weight', 'waitingSince', 'group', 'cells']);
    expect(changedAttributes(a, { ...a, group: 2, cells: ['a=4/4'] })).toEqual(['group', 'cells']);
    expect(changedAttributes(a, { ...a })).toEqual([]);
    expect(changedAttributes(a, { ...a, excluded: ['alice'] })).toEqual(['excluded']);
    expect(changedAttributes(a, { ...a, weight: 100 })).toEqual(['weight']);
    const { waitingSince: _gone, ...running } = a;
    expect(changedAttributes(a, running)).toEqual(['waitingSince']);
  });

  it('GantryWeight: the planned share of the new pods; 0 before the first group and after a rollback, 100 when all moved', () => {
    const fresh = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, T0);
    expect(plannedWeight(fresh)).toBe(0);
    recordApplied(fresh, 0, T0);
    expect(plannedWeight(fresh)).toBe(25);
    recordApplied(fresh, 1, T0);
    expect(plannedWeight(fresh)).toBe(100);
    recordOutcome(fresh, 'rolled-back', 'test', T0);
    expect(plannedWeight(fresh)).toBe(0);
    expect(releaseAttributes(fresh, e, T0)).toMatchObject({ phase: 'rolled-back', weight: 0, cells: ['a=0/4'] });
    expect(releaseAttributes(fresh, e, T0).waitingSince).toBeUndefined();
  });

  it('GantryGroup and GantryCells: the group in progress (1-based, as status shows it) and each cell as new/all; parsed back by the list', () => {
    const two = env({ cells: [{ name: 'zone-a', namespace: 'shop', replicas: 5 }, { name: 'zone-b', namespace: 'shop', replicas: 3 }] });
    const fresh = newReleaseState({ id: 'r', app: 'shop', environment: two, revision: { image: 'i' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(two) }, T0);
    const before = releaseAttributes(fresh, two, T0);
    expect([before.group, before.cells]).toEqual([1, ['zone-a=0/5', 'zone-b=0/3']]);
    recordApplied(fresh, 0, T0);
    const st = releaseStatus(fresh, two, T0);
    const after = releaseAttributes(fresh, two, T0);
    expect(after.group).toBe(st.group.current);
    expect(after.cells).toEqual(st.cells.map((c) => `${c.cell}=${c.canary}/${c.replicas}`));
    expect(parseCellAttribute('zone-a=1/5')).toEqual({ cell: 'zone-a', part: 1, whole: 5 });
    expect(parseCellAttribute('zone-a')).toBeUndefined();
  });

  it('the waiting-for query names the caller, their groups and anyone, with quotes escaped', () => {
    expect(waitingForClause(id('alice', ['sre', "o'neil"]))).toBe("ExecutionStatus = 'Running' AND GantryApprovers IN ('*', 'alice', 'group:sre', 'group:o\\'neil')");
    expect(queryLiteral('a\\b')).toBe("'a\\\\b'");
  });

  it('the production hint registers them with the CLI, one type per command', () => {
    expect(registerHint('prod')).toBe('temporal operator search-attribute create --namespace prod --name GantryApp --name GantryEnvironment --name GantryKind --name GantryPhase --name GantryWaitingOn --type Keyword; '
      + 'temporal operator search-attribute create --namespace prod --name GantryApprovers --name GantryExcluded --name GantryCells --type KeywordList; '
      + 'temporal operator search-attribute create --namespace prod --name GantryWeight --name GantryGroup --type Int; '
      + 'temporal operator search-attribute create --namespace prod --name GantryWaitingSince --type Datetime');
  });

  it('the dev server flags register every attribute with its type', () => {
    expect(searchAttributeFlags()).toEqual([
      '--search-attribute', 'GantryApp=Keyword', '--search-attribute', 'GantryEnvironment=Keyword', '--search-attribute', 'GantryKind=Keyword',
      '--search-attribute', 'GantryPhase=Keyword', '--search-attribute', 'GantryWaitingOn=Keyword',
      '--search-attribute', 'GantryApprovers=KeywordList', '--search-attribute', 'GantryExcluded=KeywordList',
      '--search-attribute', 'GantryWeight=Int', '--search-attribute', 'GantryWaitingSince=Datetime',
      '--search-attribute', 'GantryGroup=Int', '--search-attribute', 'GantryCells=KeywordList',
    ]);
  });
});
