// Release policy details decided in core/release.ts: how long a person may take on an
// inconclusive analysis, what a pause does to a stage's clock, what promote may not skip.
import { describe, expect, it } from '@jest/globals';
import type { CheckSpec } from '../../core/analysis.js';
import { Action } from '../../core/approval.js';
import { parseConfig, type EnvironmentConfig } from '../../core/config.js';
import { environmentPlan } from '../../core/plan.js';
import {
  applyDecision, checkDecision, decideNext, newReleaseState, recordAnalysis, recordApplied, recordHealth, type ReleaseState,
} from '../../core/release.js';
import { DIGEST_A } from '../support/fixtures.js';

const T0 = Date.parse('2026-01-05T09:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const check: CheckSpec = { name: 'error-rate', query: 'q', max: 0.05 };
const alice = { identity: { id: 'alice', groups: [] }, channel: 'api' as const };

function env(confirm: EnvironmentConfig['groups'][number]['confirm']): EnvironmentConfig {
  return {
    name: 'production', cells: [{ name: 'a', namespace: 'shop', replicas: 2 }],
    groups: [{ name: 'group 1', pods: 1, confirm }, { name: 'group 2', pods: 'rest', confirm: { type: 'auto' } }],
    analysis: [check], approvers: { users: ['alice', 'bob'], groups: [], required: 1, allowStarter: false },
    deadlines: { progress: '1m', analysis: '1m' }, bake: '0s',
  };
}

/** A release whose first group is applied, healthy and analysed with the given value (undefined: no data). */
function analysed(e: EnvironmentConfig, value: number | undefined, at = T0): ReleaseState {
  const s = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i', digest: DIGEST_A }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, at);
  recordApplied(s, 0, at);
  recordHealth(s, true, 'ok', at);
  recordAnalysis(s, e, [value === undefined ? { check: 'error-rate' } : { check: 'error-rate', value }], at);
  return s;
}

describe('inconclusive analysis and the group deadline', () => {
  it.each([
    { name: 'manual with timeout, before it: waits, with until', confirm: { type: 'manual', timeout: '2h', onTimeout: 'rollback' } as const, now: T0 + HOUR, want: { kind: 'wait-approval', until: T0 + 2 * HOUR } },
    { name: 'manual with timeout, after it: rolls back (deadline)', confirm: { type: 'manual', timeout: '2h', onTimeout: 'rollback' } as const, now: T0 + 2 * HOUR, want: { kind: 'rollback', cause: 'deadline', reason: 'no decision on the inconclusive analysis of group 1 within 2h' } },
    { name: 'manual with timeout and hold: keeps waiting', confirm: { type: 'manual', timeout: '2h', onTimeout: 'hold' } as const, now: T0 + 3 * HOUR, want: { kind: 'wait-approval' } },
    { name: 'auto group: waits for a person without a deadline', confirm: { type: 'auto' } as const, now: T0 + 100 * HOUR, want: { kind: 'wait-approval' } },
  ])('$name', ({ confirm, now, want }) => {
    const e = env(confirm);
    const step = decideNext(analysed(e, undefined), e, now);
    expect(step).toMatchObject(want);
    if (want.kind === 'wait-approval' && !('until' in want)) expect(step).not.toHaveProperty('until');
  });
});

describe('a pause stops the current stage clock', () => {
  it('a timed pause resumes with the time it had left', () => {
    const e = env({ type: 'pause', duration: '1h' });
    const s = analysed(e, 0.01);
    applyDecision(s, Action.Pause, { identity: { id: 'dave', groups: [] }, channel: 'cli' }, T0 + 10 * MIN);
    expect(decideNext(s, e, T0 + 5 * HOUR).kind).toBe('hold');
    applyDecision(s, Action.Resume, alice, T0 + 5 * HOUR);
    // 10 minutes had passed before the pause: 50 are left after the resume.
    expect(decideNext(s, e, T0 + 5 * HOUR)).toMatchObject({ kind: 'wait-timer', until: T0 + 5 * HOUR + 50 * MIN });
    expect(decideNext(s, e, T0 + 5 * HOUR + 50 * MIN).kind).toBe('confirm');
  });

  it('an approval deadline does not expire because of the pause', () => {
    const e = env({ type: 'manual', timeout: '1h', onTimeout: 'rollback' });
    const s = analysed(e, 0.01);
    applyDecision(s, Action.Pause, alice, T0 + 30 * MIN);
    applyDecision(s, Action.Resume, alice, T0 + 10 * HOUR);
    expect(decideNext(s, e, T0 + 10 * HOUR + 29 * MIN)).toMatchObject({ kind: 'wait-approval' });
    expect(decideNext(s, e, T0 + 10 * HOUR + 30 * MIN)).toMatchObject({ kind: 'rollback', cause: 'deadline' });
  });
});

describe('promote never skips analysis', () => {
  it('is refused while the analysis is inconclusive, and allowed once a person accepted it', () => {
    const e = env({ type: 'pause', duration: '1h' });
    const s = analysed(e, undefined);
    const bob = { identity: { id: 'bob', groups: [] }, channel: 'api' as const };
    const refused = checkDecision(s, e, Action.Promote, bob, T0);
    expect(refused).toEqual({ allowed: false, reason: expect.stringMatching(/inconclusive: approve to continue or reject/) });
    applyDecision(s, Action.Approve, alice, T0 + MIN);
    expect(checkDecision(s, e, Action.Promote, bob, T0 + MIN)).toEqual({ allowed: true });
  });

  it('decisions before the first group carry no group number', () => {
    const e = env({ type: 'auto' });
    const s = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, T0);
    const d = applyDecision(s, Action.Pause, alice, T0);
    expect(d).not.toHaveProperty('group');
  });
});

describe('config: analysis bounds', () => {
  it('rejects min greater than max, naming the field', () => {
    const r = parseConfig({ app: { name: 'shop', image: 'r/shop' }, environments: [{ name: 'prod', replicas: 2, cells: [{ name: 'a' }], groups: [{ pods: 'rest' }], analysis: [{ name: 'lat', query: 'q', min: 5, max: 1 }] }] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toContainEqual(expect.objectContaining({ path: 'environments[0].analysis[0].min', message: 'min is greater than max: no value could pass' }));
  });
});

