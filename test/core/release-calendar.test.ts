// Issue 12: the release calendar is evaluated by the workflow's loop only (observeCalendar), and
// the answer is kept in the state. Status, abort, reject, rollback, pause and the other decisions
// read it and never evaluate the calendar, so a slow or failing calendar cannot make a release
// impossible to query or to stop. Evaluations are counted as zone offset look-ups (Intl calls).
import { describe, expect, it, jest } from '@jest/globals';
import { IANAZone } from 'luxon';
import { Action } from '../../core/approval.js';
import type { EnvironmentConfig } from '../../core/config.js';
import { environmentPlan } from '../../core/plan.js';
import {
  applyDecision, checkDecision, decideNext, newReleaseState, observeCalendar, recordApplied, recordConfirmed, recordHealth, releaseStatus,
  type ReleaseState,
} from '../../core/release.js';
import { maxWindows, type ReleaseCalendar, type Weekday } from '../../core/windows.js';

const MIN = 60_000;
const who = (id: string, comment?: string) => ({ identity: { id, groups: ['sre'] }, channel: 'api' as const, ...(comment ? { comment } : {}) });
const everyDay: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
// Friday 2026-11-27 15:55 Berlin; the freeze lasts the whole weekend.
const FRI = Date.parse('2026-11-27T15:55:00+01:00');
const MON = Date.parse('2026-11-30T00:00:00+01:00');

function env(calendar: ReleaseCalendar): EnvironmentConfig {
  return {
    name: 'production', cells: [{ name: 'a', namespace: 'shop', replicas: 4 }],
    groups: [{ name: 'g1', pods: 1, confirm: { type: 'auto' } }, { name: 'g2', pods: 'rest', confirm: { type: 'auto' } }],
    analysis: [], deadlines: { progress: '1m', analysis: '1m' }, bake: '0s',
    approvers: { users: [], groups: ['sre'], required: 1, allowStarter: true },
    calendar,
  };
}

/** The largest calendar the schema allows, always open, frozen over the weekend. */
const big: ReleaseCalendar = {
  timeZone: 'Europe/Berlin',
  windows: Array.from({ length: maxWindows }, () => ({ days: everyDay, start: '00:00', end: '00:00', timeZone: 'Europe/Berlin' })),
  freezes: [{ from: '2026-11-28', to: '2026-11-29', reason: 'weekend' }],
};

/** Group 1 done and confirmed Friday evening: the next group waits at the window gate for Monday. */
function atGate(e: EnvironmentConfig): ReleaseState {
  const s = newReleaseState({ id: 'r', app: 'shop', environment: e, revision: { image: 'i', author: 'carol' }, startedBy: { id: 'dave', channel: 'cli' }, plan: environmentPlan(e) }, FRI);
  recordApplied(s, 0, FRI);
  recordHealth(s, true, 'ok', FRI);
  recordConfirmed(s, 'healthy', FRI + 10 * MIN);
  return s;
}

function lookups<T>(fn: () => T): { value: T; count: number } {
  const spy = jest.spyOn(IANAZone.prototype, 'offset');
  try {
    const value = fn();
    return { value, count: spy.mock.calls.length };
  } finally {
    spy.mockRestore();
  }
}

describe('the calendar is evaluated by the loop only', () => {
  const e = env(big);
  const night = Date.parse('2026-11-28T03:00:00+01:00');

  it('the loop looks once and keeps the answer; deciding then reads it', () => {
    const s = atGate(e);
    const looked = lookups(() => observeCalendar(s, e, night));
    expect(looked.count).toBeGreaterThan(0);
    expect(s.calendar).toMatchObject({ at: night, open: false, opensAt: MON, reason: expect.stringMatching(/^frozen: "weekend"/) });
    const decided = lookups(() => decideNext(s, e, night));
    expect(decided.value).toMatchObject({ kind: 'wait-window', group: 1, until: MON });
    expect(decided.count).toBe(0);
  });

  it('status and every decision read the kept answer: no offset is looked up', () => {
    const s = atGate(e);
    observeCalendar(s, e, night);
    const later = night + 5 * MIN;
    const status = lookups(() => releaseStatus(s, e, later));
    expect(status.value).toMatchObject({ phase: 'waiting-window', waiting: { on: 'window', until: new Date(MON).toISOString() } });
    for (const action of [Action.Abort, Action.Rollback, Action.Reject, Action.Pause, Action.Promote, Action.Approve, Action.Override]) {
      expect(lookups(() => checkDecision(s, e, action, who('alice', 'why'), later)).count).toBe(0);
    }
    const aborted = lookups(() => {
      applyDecision(s, Action.Abort, who('alice', 'stop'), later);
      return releaseStatus(s, e, later).summary;
    });
    expect(aborted).toEqual({ value: 'rolling back: abort by alice via api: stop', count: 0 });
  });

  it('once the kept opening has come, status shows the next group starting (the loop looks again)', () => {
    const s = atGate(e);
    observeCalendar(s, e, night);
    const st = lookups(() => releaseStatus(s, e, MON + MIN));
    expect(st).toMatchObject({ value: { phase: 'applying', group: { current: 2 } }, count: 0 });
  });

  it('a stop never waits on the calendar, even one that cannot be evaluated', () => {
    // An unknown zone (refused by the schema) makes calendarState throw: a stop, a status and the
    // decisions that do not depend on the window must work all the same.
    const broken = env({ windows: [{ days: ['mon'], start: '10:00', end: '11:00', timeZone: 'Mars/Olympus' }], freezes: [] });
    const s = atGate(broken);
    expect(() => observeCalendar(s, broken, night)).toThrow(/unknown time zone 'Mars\/Olympus'/);
    expect(checkDecision(s, broken, Action.Abort, who('alice'), night)).toEqual({ allowed: true });
    expect(checkDecision(s, broken, Action.Rollback, who('alice'), night)).toEqual({ allowed: true });
    expect(releaseStatus(s, broken, night).phase).toBe('waiting-window');
    applyDecision(s, Action.Abort, who('alice'), night);
    observeCalendar(s, broken, night); // the loop's next look: a stopped release does not look
    expect(decideNext(s, broken, night)).toMatchObject({ kind: 'rollback', cause: 'abort' });
  });

  it('only a release at a group boundary looks: mid-group, paused or overridden it does not', () => {
    const s = atGate(e);
    applyDecision(s, Action.Pause, who('alice'), night);
    expect(lookups(() => observeCalendar(s, e, night)).count).toBe(0);
    applyDecision(s, Action.Resume, who('alice'), night);
    applyDecision(s, Action.Override, who('alice', 'hotfix'), night);
    expect(lookups(() => observeCalendar(s, e, night)).count).toBe(0);
    expect(s.calendar).toBeUndefined();
    expect(decideNext(s, e, night)).toEqual({ kind: 'apply', group: 1 });
  });
});
