// People-facing policy in core/release.ts: approvals that expire, escalation notices, release
// windows with overrides, and when a waiting release must look again (wakeAt).
import { describe, expect, it } from '@jest/globals';
import { Action } from '../../core/approval.js';
import type { EnvironmentConfig } from '../../core/config.js';
import { environmentPlan } from '../../core/plan.js';
import {
  applyDecision, checkDecision, decideNext, newReleaseState, noticesDue, observeCalendar, overrideCommand, recordApplied, recordHealth, recordNotice,
  releaseStatus, validApprovals, wakeAt, type ReleaseState,
} from '../../core/release.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
// Monday 2026-11-23 09:00 UTC = 10:00 Berlin.
const MON_10_BERLIN = Date.parse('2026-11-23T10:00:00+01:00');
const who = (id: string, groups: string[] = []) => ({ identity: { id, groups }, channel: 'api' as const });

function env(over: Partial<EnvironmentConfig> = {}, approvers: Partial<EnvironmentConfig['approvers']> = {}): EnvironmentConfig {
  return {
    name: 'production', cells: [{ name: 'a', namespace: 'shop', replicas: 2 }],
    groups: [{ name: 'g1', pods: 1, confirm: { type: 'manual', onTimeout: 'rollback' } }, { name: 'g2', pods: 'rest', confirm: { type: 'auto' } }],
    analysis: [], deadlines: { progress: '1m', analysis: '1m' }, bake: '0s',
    approvers: { users: ['alice', 'bob', 'erin'], groups: [], required: 2, allowStarter: false, ...approvers },
    ...over,
  };
}

function waitingForApproval(e: EnvironmentConfig, at: number): ReleaseState {
  const s = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i', author: 'carol' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, at);
  recordApplied(s, 0, at);
  recordHealth(s, true, 'ok', at);
  return s;
}

describe('approvals that expire', () => {
  const e = env({}, { expiry: '1h' });
  it('an approval older than the expiry no longer counts toward the quorum', () => {
    const s = waitingForApproval(e, MON_10_BERLIN);
    applyDecision(s, Action.Approve, who('alice'), MON_10_BERLIN);
    expect(validApprovals(s, e, MON_10_BERLIN + 59 * MIN)).toEqual(['alice']);
    expect(validApprovals(s, e, MON_10_BERLIN + HOUR)).toEqual([]);
    // bob approves after alice's approval expired: still one valid approval, no quorum.
    applyDecision(s, Action.Approve, who('bob'), MON_10_BERLIN + 2 * HOUR);
    expect(decideNext(s, e, MON_10_BERLIN + 2 * HOUR)).toMatchObject({ kind: 'wait-approval', who: expect.stringMatching(/1 of 2 approvals/) });
    // alice may approve again (her old approval lapsed): quorum.
    expect(checkDecision(s, e, Action.Approve, who('alice'), MON_10_BERLIN + 2 * HOUR)).toEqual({ allowed: true });
    applyDecision(s, Action.Approve, who('alice'), MON_10_BERLIN + 2 * HOUR + MIN);
    expect(decideNext(s, e, MON_10_BERLIN + 2 * HOUR + MIN)).toMatchObject({ kind: 'confirm', reason: 'approved by alice, bob' });
  });

  it('a fresh approval by the same person is refused while the first still counts', () => {
    const s = waitingForApproval(e, MON_10_BERLIN);
    applyDecision(s, Action.Approve, who('alice'), MON_10_BERLIN);
    expect(checkDecision(s, e, Action.Approve, who('alice'), MON_10_BERLIN + 30 * MIN)).toEqual({ allowed: false, reason: 'alice already approved group 1; another approver is needed' });
  });

  it('the wait wakes when an approval expires, so the status count stays true', () => {
    const s = waitingForApproval(e, MON_10_BERLIN);
    applyDecision(s, Action.Approve, who('alice'), MON_10_BERLIN + 5 * MIN);
    const step = decideNext(s, e, MON_10_BERLIN + 10 * MIN);
    expect(wakeAt(s, e, step, MON_10_BERLIN + 10 * MIN)).toBe(MON_10_BERLIN + 65 * MIN);
  });

  it('without expiry approvals count for the whole wait and nothing wakes the wait', () => {
    const e2 = env();
    const s = waitingForApproval(e2, MON_10_BERLIN);
    applyDecision(s, Action.Approve, who('alice'), MON_10_BERLIN);
    expect(validApprovals(s, e2, MON_10_BERLIN + 1000 * HOUR)).toEqual(['alice']);
    expect(wakeAt(s, e2, decideNext(s, e2, MON_10_BERLIN), MON_10_BERLIN)).toBeUndefined();
  });
});

describe('notices and escalation', () => {
  const e = env({}, { escalateAfter: '1h', escalateTo: { users: ['oncall-lead'], groups: ['sre-leads'] } });
  it.each([
    { name: 'just started waiting: one waiting notice to the approvers', after: 0, sent: [], want: [{ kind: 'waiting-approval', to: { users: ['alice', 'bob', 'erin'], groups: [] } }] },
    { name: 'waiting notice already sent, before the escalation: nothing', after: 59 * MIN, sent: ['waiting-approval'], want: [] },
    { name: 'an hour later: the escalation, to escalateTo', after: HOUR, sent: ['waiting-approval'], want: [{ kind: 'escalation', to: { users: ['oncall-lead'], groups: ['sre-leads'] }, message: expect.stringMatching(/group 1 has waited 1h for approval/) }] },
    { name: 'both sent: nothing more', after: 5 * HOUR, sent: ['waiting-approval', 'escalation'], want: [] },
  ])('$name', ({ after, sent, want }) => {
    const s = waitingForApproval(e, MON_10_BERLIN);
    const now = MON_10_BERLIN + after;
    for (const kind of sent) {
      const n = noticesDue(s, e, decideNext(s, e, MON_10_BERLIN + HOUR), MON_10_BERLIN + HOUR).find((x) => x.kind === kind)!;
      recordNotice(s, n, true, now);
    }
    const due = noticesDue(s, e, decideNext(s, e, now), now);
    expect(due).toEqual(want.map((w) => expect.objectContaining(w)));
  });

  it('the wait wakes at the escalation time, and the notice is recorded in history', () => {
    const s = waitingForApproval(e, MON_10_BERLIN);
    const step = decideNext(s, e, MON_10_BERLIN);
    expect(wakeAt(s, e, step, MON_10_BERLIN)).toBe(MON_10_BERLIN + HOUR);
    const [n] = noticesDue(s, e, step, MON_10_BERLIN);
    recordNotice(s, n!, false, MON_10_BERLIN);
    expect(s.events.at(-1)).toMatchObject({ type: 'notice', message: expect.stringMatching(/^could not notify alice, bob, erin: shop → production: group 1 of 2 waits for approval/) });
  });
});

describe('release windows', () => {
  // Mon-Thu 10:00-16:00 Berlin; a freeze on Wednesday 2026-11-25.
  const calendar = {
    windows: [{ days: ['mon', 'tue', 'wed', 'thu'] as ('mon' | 'tue' | 'wed' | 'thu')[], start: '10:00', end: '16:00', timeZone: 'Europe/Berlin' }],
    freezes: [{ from: '2026-11-25', to: '2026-11-25', reason: 'payments migration', timeZone: 'Europe/Berlin' }],
  };
  const e = env({ calendar, groups: [{ name: 'g1', pods: 1, confirm: { type: 'auto' } }, { name: 'g2', pods: 'rest', confirm: { type: 'auto' } }] });
  /** A release just started, as the workflow's loop leaves it before deciding: the calendar looked at. */
  const fresh = (at: number) => {
    const s = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i', author: 'carol' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, at);
    observeCalendar(s, e, at);
    return s;
  };

  it.each([
    { name: 'Monday 10:00: open, apply', at: MON_10_BERLIN, want: { kind: 'apply', group: 0 } },
    { name: 'Monday 09:59: closed until 10:00', at: MON_10_BERLIN - MIN, want: { kind: 'wait-window', group: 0, until: MON_10_BERLIN, reason: expect.stringMatching(/^waiting for window, opens Mon 2026-11-23 10:00 Europe\/Berlin/) } },
    { name: 'Friday 15:55: closed until Monday 10:00', at: Date.parse('2026-11-27T15:55:00+01:00'), want: { kind: 'wait-window', until: Date.parse('2026-11-30T10:00:00+01:00') } },
    { name: 'the freeze on Wednesday: closed until Thursday 10:00, reason named', at: Date.parse('2026-11-25T11:00:00+01:00'), want: { kind: 'wait-window', until: Date.parse('2026-11-26T10:00:00+01:00'), reason: expect.stringMatching(/payments migration/) } },
  ])('$name', ({ at, want }) => {
    expect(decideNext(fresh(at), e, at)).toMatchObject(want);
  });

  it('a hold says when the window opens once, names the one override command, and its notice is about group 1 (not group 0)', () => {
    const at = MON_10_BERLIN - MIN;
    const s = fresh(at);
    const step = decideNext(s, e, at);
    if (step.kind !== 'wait-window') throw new Error(`expected a window hold, got ${step.kind}`);
    expect(step.reason.match(/opens Mon 2026-11-23 10:00/g)).toHaveLength(1);
    expect(step.who).toBe('an approver may override with a reason (gantry override shop production -m "<reason>")');
    expect(overrideCommand('shop', 'production')).toBe('gantry override shop production -m "<reason>"');
    const [n] = noticesDue(s, e, step, at);
    expect(n).toMatchObject({ kind: 'waiting-window', group: 0, message: expect.stringContaining('group 1 waiting for window') });
    recordNotice(s, n!, true, at);
    // Nothing applied yet (s.group is -1): the notice's event is about the group it names.
    expect(s.events.at(-1)).toMatchObject({ type: 'notice', group: 0 });
  });

  it('a waiting-approval notice says "waits for approval" once', () => {
    const m = env({ groups: [{ name: 'g1', pods: 1, confirm: { type: 'manual', onTimeout: 'hold' } }, { name: 'g2', pods: 'rest', confirm: { type: 'auto' } }] });
    const s = newReleaseState({ id: 'r', app: 'shop', environment: m, revision: { image: 'i', author: 'carol' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(m) }, MON_10_BERLIN);
    observeCalendar(s, m, MON_10_BERLIN);
    recordApplied(s, 0, MON_10_BERLIN);
    recordHealth(s, true, 'ok', MON_10_BERLIN);
    const step = decideNext(s, m, MON_10_BERLIN);
    expect(step.kind).toBe('wait-approval');
    const [n] = noticesDue(s, m, step, MON_10_BERLIN);
    expect(n!.message).toMatch(/^shop → production: group 1 of 2 waits for approval \(/);
    expect(n!.message).not.toMatch(/waiting for approval/);
  });

  it('holds only at a group boundary: a group in progress finishes', () => {
    const s = fresh(MON_10_BERLIN);
    recordApplied(s, 0, MON_10_BERLIN);
    const late = Date.parse('2026-11-23T16:30:00+01:00');
    expect(decideNext(s, e, late)).toMatchObject({ kind: 'verify', group: 0 }); // no window check mid-group
    recordHealth(s, true, 'ok', late);
    expect(decideNext(s, e, late)).toMatchObject({ kind: 'confirm' });
  });

  it('an approver overrides with a reason; the author cannot; no reason, no override', () => {
    const at = Date.parse('2026-11-27T15:55:00+01:00');
    const s = fresh(at);
    expect(checkDecision(s, e, Action.Override, who('alice'), at)).toEqual({ allowed: false, reason: 'an override of the release window needs a reason (-m "<reason>")' });
    const withCarol: EnvironmentConfig = { ...e, approvers: { ...e.approvers, users: [...e.approvers.users, 'carol'] } };
    expect(checkDecision(s, withCarol, Action.Override, { ...who('carol'), comment: 'hotfix' }, at)).toMatchObject({ allowed: false, reason: expect.stringMatching(/carol is the author of this change and may not override/) });
    expect(checkDecision(s, e, Action.Override, { ...who('alice'), comment: 'security hotfix' }, at)).toEqual({ allowed: true });
    applyDecision(s, Action.Override, { ...who('alice'), comment: 'security hotfix' }, at);
    expect(decideNext(s, e, at)).toEqual({ kind: 'apply', group: 0 });
    expect(s.decisions.at(-1)).toMatchObject({ action: 'override', by: 'alice', comment: 'security hotfix' });
    expect(checkDecision(s, e, Action.Override, { ...who('bob'), comment: 'x' }, at)).toMatchObject({ allowed: false, reason: expect.stringMatching(/^nothing to override/) });
  });

  it('status says what it waits on and when the window opens', () => {
    const at = Date.parse('2026-11-27T15:55:00+01:00');
    const st = releaseStatus(fresh(at), e, at);
    expect(st.phase).toBe('waiting-window');
    expect(st.waiting).toMatchObject({ on: 'window', until: '2026-11-30T09:00:00.000Z', reason: expect.stringMatching(/opens Mon 2026-11-30 10:00 Europe\/Berlin/) });
  });
});
