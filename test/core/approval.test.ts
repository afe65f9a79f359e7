// Approval policy: who may take which decision. Actions x identities, table-driven.
import { describe, expect, it } from '@jest/globals';
import { Action, defaultApproverPolicy, isApprover, mayDecide, quorumReached, type ApproverPolicy, type Identity, type ReleaseParties } from '../../core/approval.js';

const policy = (p: Partial<ApproverPolicy> = {}): ApproverPolicy => ({ users: ['alice', 'bob'], groups: ['sre'], required: 1, allowStarter: false, ...p });
const anyone = policy({ users: [], groups: [] });
const who = (id: string, groups: string[] = []): Identity => ({ id, groups });
/** carol wrote the change, dave started the release. */
const parties: ReleaseParties = { author: 'carol', startedBy: 'dave' };

const all = Object.values(Action);
const brakes = [Action.Pause, Action.Resume, Action.Abort, Action.Rollback];
const go = [Action.Approve, Action.Promote];

type Row = { name: string; who: Identity; action: Action; policy: ApproverPolicy; parties?: ReleaseParties; allowed: boolean; reason?: RegExp };

function rows(name: string, id: Identity, actions: readonly Action[], p: ApproverPolicy, allowed: boolean, reason?: RegExp, pt: ReleaseParties = parties): Row[] {
  return actions.map((action) => ({ name: `${name}: ${action}`, who: id, action, policy: p, parties: pt, allowed, ...(reason ? { reason } : {}) }));
}

describe('mayDecide', () => {
  it.each<Row>([
    // An approver listed by user: everything.
    ...rows('approver by user', who('alice'), all, policy(), true),
    // An approver by group membership: everything.
    ...rows('approver by group', who('frank', ['dev', 'sre']), all, policy(), true),
    // Someone else entirely: nothing.
    ...rows('non-approver', who('eve', ['dev']), go, policy(), false, /^eve is not an approver of this environment \(approvers: alice, bob, group:sre\)$/),
    ...rows('non-approver', who('eve', ['dev']), [Action.Reject], policy(), false, /eve is not an approver .*alice, bob, group:sre/),
    ...rows('non-approver', who('eve', ['dev']), brakes, policy(), false, /^eve may not \w+ this release: only approvers \(alice, bob, group:sre\), the author and the starter may$/),
    // The author (not an approver): may brake, may not approve, promote or reject.
    ...rows('author, not an approver', who('carol'), brakes, policy(), true),
    ...rows('author, not an approver', who('carol'), go, policy(), false, /carol is not an approver/),
    ...rows('author, not an approver', who('carol'), [Action.Reject], policy(), false, /carol is not an approver/),
    // The author who is also an approver: four-eyes refuses approve and promote only.
    ...rows('author who is an approver', who('carol', ['sre']), go, policy(), false, /^carol is the author of this change and may not (approve|promote) its release \(four-eyes\)$/),
    ...rows('author who is an approver', who('carol', ['sre']), [Action.Reject, ...brakes], policy(), true),
    // Author still refused when the starter is allowed: allowStarter is about the starter only.
    ...rows('author with allowStarter', who('carol', ['sre']), go, policy({ allowStarter: true }), false, /author of this change/),
    // The starter (not an approver): may brake.
    ...rows('starter, not an approver', who('dave'), brakes, policy(), true),
    ...rows('starter, not an approver', who('dave'), go, policy(), false, /dave is not an approver/),
    // The starter who is an approver: four-eyes unless allowStarter.
    ...rows('starter-approver, allowStarter false', who('dave', ['sre']), go, policy(), false, /^dave started this release and may not (approve|promote) it \(four-eyes\)$/),
    ...rows('starter-approver, allowStarter false', who('dave', ['sre']), [Action.Reject, ...brakes], policy(), true),
    ...rows('starter-approver, allowStarter true', who('dave', ['sre']), all, policy({ allowStarter: true }), true),
    // Empty approver lists: anyone authenticated is an approver, four-eyes still applies.
    ...rows('empty approver lists, stranger', who('zed'), all, anyone, true),
    ...rows('empty approver lists, author', who('carol'), go, anyone, false, /carol is the author/),
    ...rows('empty approver lists, starter', who('dave'), go, anyone, false, /dave started this release/),
    ...rows('empty approver lists, starter allowed', who('dave'), go, { ...anyone, allowStarter: true }, true),
    // No identity: nothing, whatever the policy.
    ...rows('empty id', who(''), all, anyone, false, /^no identity: decisions need an authenticated caller$/),
    ...rows('empty id even in an approver group', who('', ['sre']), all, policy(), false, /no identity/),
    // Unknown parties: no four-eyes exclusion applies.
    ...rows('approver, parties unknown', who('alice'), go, policy(), true, undefined, {}),
    // Group names are not user names, and user names are not group names.
    ...rows('user named like a group', who('sre'), go, policy(), false, /sre is not an approver/),
    ...rows('group named like a user', who('zed', ['alice']), go, policy(), false, /zed is not an approver/),
  ])('$name -> allowed $allowed', ({ who: w, action, policy: p, parties: pt, allowed, reason }) => {
    const answer = mayDecide(w, action, p, pt ?? parties);
    expect(answer.allowed).toBe(allowed);
    if (answer.allowed) return;
    expect(answer.reason).toMatch(reason ?? /./);
    if (w.id) expect(answer.reason).toContain(w.id);
  });
});

describe('isApprover', () => {
  it.each([
    { name: 'listed user', who: who('bob'), p: policy(), want: true },
    { name: 'member of a listed group', who: who('x', ['sre']), p: policy(), want: true },
    { name: 'member of one of several groups', who: who('x', ['a', 'b']), p: policy({ groups: ['b', 'c'] }), want: true },
    { name: 'not listed, no groups', who: who('x'), p: policy(), want: false },
    { name: 'not listed, other groups', who: who('x', ['dev']), p: policy(), want: false },
    { name: 'users only listed, member of no group', who: who('x', ['sre']), p: policy({ groups: [] }), want: false },
    { name: 'groups only listed, user matches no group', who: who('alice'), p: policy({ users: [] }), want: false },
    { name: 'empty lists: anyone', who: who('x'), p: anyone, want: true },
    { name: 'default policy: anyone', who: who('x'), p: defaultApproverPolicy, want: true },
  ])('$name -> $want', ({ who: w, p, want }) => {
    expect(isApprover(w, p)).toBe(want);
  });
});

describe('quorumReached', () => {
  it.each([
    { name: 'no approvals, 1 required', approvals: [], required: 1, want: false },
    { name: 'one approval, 1 required', approvals: ['alice'], required: 1, want: true },
    { name: 'one approval, 2 required', approvals: ['alice'], required: 2, want: false },
    { name: 'the same person twice does not make 2', approvals: ['alice', 'alice'], required: 2, want: false },
    { name: 'two distinct, 2 required', approvals: ['alice', 'bob'], required: 2, want: true },
    { name: 'duplicates among three distinct, 3 required', approvals: ['alice', 'bob', 'alice', 'carol', 'bob'], required: 3, want: true },
    { name: 'duplicates among two distinct, 3 required', approvals: ['alice', 'bob', 'alice', 'bob'], required: 3, want: false },
    { name: 'more than required', approvals: ['a', 'b', 'c'], required: 2, want: true },
  ])('$name -> $want', ({ approvals, required, want }) => {
    expect(quorumReached(approvals, policy({ required }))).toBe(want);
  });

  it('the default policy needs one approval and refuses the starter', () => {
    expect(defaultApproverPolicy).toEqual({ users: [], groups: [], required: 1, allowStarter: false });
  });
});
