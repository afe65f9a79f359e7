// status.waiting.approvers: who can approve a waiting release, structured, from the same policy as the
// Update validators (core/approval.ts mayDecide, core/release.ts validApprovals) and next to the
// existing `who` text. Every exclusion it names is one the validators refuse.
import { describe, expect, it } from '@jest/globals';
import { Action, type Identity } from '../../core/approval.js';
import type { EnvironmentConfig } from '../../core/config.js';
import { environmentPlan } from '../../core/plan.js';
import {
  applyDecision, approversStatus, checkDecision, newReleaseState, recordApplied, recordHealth, recordNotice, noticesDue, decideNext, releaseStatus,
  type ReleaseState,
} from '../../core/release.js';

const T0 = Date.parse('2026-12-02T10:00:00Z');
const MIN = 60_000;
const id = (name: string, groups: string[] = []): Identity => ({ id: name, groups });
const req = (who: Identity) => ({ identity: who, channel: 'api' as const });

function env(approvers: Partial<EnvironmentConfig['approvers']> = {}): EnvironmentConfig {
  return {
    name: 'production', cells: [{ name: 'a', namespace: 'shop', replicas: 4 }],
    groups: [{ name: 'g1', pods: 1, confirm: { type: 'manual', onTimeout: 'hold' } }, { name: 'g2', pods: 'rest', confirm: { type: 'auto' } }],
    analysis: [], deadlines: { progress: '1m', analysis: '1m' }, bake: '0s',
    approvers: { users: ['bob'], groups: ['sre'], required: 2, allowStarter: false, ...approvers },
  };
}

/** carol wrote the change, dave started it; group 1 waits for approval since T0. */
function waiting(e: EnvironmentConfig): ReleaseState {
  const s = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i', author: 'carol' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, T0);
  recordApplied(s, 0, T0);
  recordHealth(s, true, 'ok', T0);
  return s;
}

const alice = id('alice', ['sre']);
const bob = id('bob');

describe('approversStatus', () => {
  it.each([
    ['four-eyes: the author and the starter are excluded', {}, [], {
      users: ['bob'], groups: ['sre'], required: 2, approvals: [],
      excluded: [{ id: 'carol', why: 'author of the change (four-eyes)' }, { id: 'dave', why: 'started this release (four-eyes)' }],
    }],
    ['allowStarter: only the author', { allowStarter: true }, [], {
      users: ['bob'], groups: ['sre'], required: 2, approvals: [], excluded: [{ id: 'carol', why: 'author of the change (four-eyes)' }],
    }],
    ['one approval of two: who approved, when, and excluded from approving again', {}, [[alice, 5]], {
      users: ['bob'], groups: ['sre'], required: 2, approvals: [{ by: 'alice', at: new Date(T0 + 5 * MIN).toISOString() }],
      excluded: [{ id: 'carol', why: 'author of the change (four-eyes)' }, { id: 'dave', why: 'started this release (four-eyes)' }, { id: 'alice', why: 'already approved this group' }],
    }],
    ['expiry: each approval says when it stops counting', { expiry: '1h' }, [[alice, 5]], {
      approvals: [{ by: 'alice', at: new Date(T0 + 5 * MIN).toISOString(), expiresAt: new Date(T0 + 65 * MIN).toISOString() }],
    }],
    ['escalation: when and to whom (escalateTo)', { escalateAfter: '30m', escalateTo: { users: ['erin'], groups: ['leads'] } }, [], {
      escalation: { at: new Date(T0 + 30 * MIN).toISOString(), to: { users: ['erin'], groups: ['leads'] }, sent: false },
    }],
    ['escalation without escalateTo goes to the approvers', { escalateAfter: '30m' }, [], {
      escalation: { at: new Date(T0 + 30 * MIN).toISOString(), to: { users: ['bob'], groups: ['sre'] }, sent: false },
    }],
  ] as const)('%s', (_name, over, approvals, want) => {
    const e = env(over as Partial<EnvironmentConfig['approvers']>);
    const s = waiting(e);
    for (const [who, min] of approvals) applyDecision(s, Action.Approve, req(who), T0 + min * MIN);
    const a = approversStatus(e, s, T0 + 10 * MIN);
    expect(a).toMatchObject(want);
    if (!('escalation' in want)) expect(a.escalation).toBeUndefined();
    // Every excluded id is refused by the validators (as an approver they would otherwise be).
    for (const x of a.excluded) {
      expect(checkDecision(s, e, Action.Approve, req(id(x.id, ['sre'])), T0 + 10 * MIN).allowed).toBe(false);
    }
  });

  it('an expired approval is no longer listed nor excluded', () => {
    const e = env({ expiry: '1h' });
    const s = waiting(e);
    applyDecision(s, Action.Approve, req(alice), T0);
    expect(approversStatus(e, s, T0 + 30 * MIN).approvals.map((x) => x.by)).toEqual(['alice']);
    const late = approversStatus(e, s, T0 + 61 * MIN);
    expect(late.approvals).toEqual([]);
    expect(late.excluded.map((x) => x.id)).toEqual(['carol', 'dave']);
  });

  it('the escalation notice, once sent, is marked sent', () => {
    const e = env({ escalateAfter: '30m' });
    const s = waiting(e);
    const now = T0 + 31 * MIN;
    for (const n of noticesDue(s, e, decideNext(s, e, now), now)) recordNotice(s, n, true, now);
    expect(approversStatus(e, s, now).escalation?.sent).toBe(true);
  });

  it('status.waiting carries it only while waiting for approval, next to the `who` text', () => {
    const e = env({ required: 1 });
    const s = waiting(e);
    const st = releaseStatus(s, e, T0 + MIN);
    expect(st.waiting?.on).toBe('approval');
    expect(st.waiting?.who).toMatch(/approvers: bob, group:sre \(not carol, dave\); 0 of 1 approval/);
    expect(st.waiting?.approvers).toEqual(approversStatus(e, s, T0 + MIN));
    applyDecision(s, Action.Pause, req(bob), T0 + MIN);
    const paused = releaseStatus(s, e, T0 + 2 * MIN);
    expect(paused.waiting?.on).toBe('resume');
    expect(paused.waiting?.approvers).toBeUndefined();
  });
});
