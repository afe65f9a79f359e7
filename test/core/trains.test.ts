// Who may operate a release train (core/trains.ts): the environment's approvers, by its policy.
import { describe, expect, it } from '@jest/globals';
import { mayOperateTrain, recordTrainAction, trainAuditLimit, type TrainAction, type TrainAuditEntry } from '../../core/trains.js';
import type { ApproverPolicy } from '../../core/approval.js';

const policy: ApproverPolicy = { users: ['alice'], groups: ['sre'], required: 1, allowStarter: false };
const open: ApproverPolicy = { users: [], groups: [], required: 1, allowStarter: false };

describe('mayOperateTrain', () => {
  it.each<{ name: string; who: { id: string; groups: string[] }; action: TrainAction; policy: ApproverPolicy; allowed: boolean; reason?: RegExp }>([
    { name: 'a listed user may create', who: { id: 'alice', groups: [] }, action: 'create', policy, allowed: true },
    { name: 'a member of a listed group may trigger', who: { id: 'bob', groups: ['sre'] }, action: 'trigger', policy, allowed: true },
    { name: 'anyone else may not delete', who: { id: 'mallory', groups: ['dev'] }, action: 'delete', policy, allowed: false, reason: /^mallory is not an approver of production \(alice, group:sre\): only its approvers may delete its release train$/ },
    { name: 'anyone else may not change', who: { id: 'mallory', groups: [] }, action: 'update', policy, allowed: false, reason: /may change its release train/ },
    { name: 'no approvers listed: any authenticated identity (as for its releases)', who: { id: 'carol', groups: [] }, action: 'trigger', policy: open, allowed: true },
    { name: 'no identity: never', who: { id: '', groups: [] }, action: 'trigger', policy: open, allowed: false, reason: /authenticated caller/ },
  ])('$name', ({ who, action, policy: p, allowed, reason }) => {
    const a = mayOperateTrain(who, action, 'production', p);
    expect(a.allowed).toBe(allowed);
    if (!a.allowed && reason) expect(a.reason).toMatch(reason);
  });
});

describe('recordTrainAction', () => {
  it(`keeps the newest ${trainAuditLimit} entries, newest last`, () => {
    let audit: TrainAuditEntry[] | undefined;
    for (let i = 0; i < trainAuditLimit + 5; i++) audit = recordTrainAction(audit, { at: `t${i}`, by: 'alice', channel: 'api', action: 'trigger' });
    expect(audit).toHaveLength(trainAuditLimit);
    expect(audit![0]!.at).toBe('t5');
    expect(audit!.at(-1)!.at).toBe(`t${trainAuditLimit + 4}`);
  });
});
