// Release windows and freezes. Every expected instant is written independently of the code under
// test, as an ISO string with an explicit offset (Date.parse('2026-03-30T10:00:00+02:00')): the
// offsets in these strings are the published DST rules (Europe/Berlin: CET +01:00, CEST +02:00,
// switching 2026-03-29 01:00Z and 2026-10-25 01:00Z; America/New_York: EST -05:00, EDT -04:00,
// switching 2026-03-08 07:00Z and 2026-11-01 06:00Z).
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import {
  calendarState, describeOpening, describeWindow, freezeInterval, maxFreezeReason, maxFreezes, maxWindows, maxZones, parseClock, parseFreezeBound,
  releaseCalendarSchema, searchDays, type CalendarState, type Freeze, type ReleaseCalendar, type WeeklyWindow, type Weekday,
} from '../../core/windows.js';

const at = (iso: string): number => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad test instant ${iso}`);
  return ms;
};
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const win = (days: Weekday[], start: string, end: string, timeZone = 'Europe/Berlin'): WeeklyWindow => ({ days, start, end, timeZone });
const cal = (windows: WeeklyWindow[], freezes: Freeze[] = [], timeZone?: string): ReleaseCalendar => ({ windows, freezes, ...(timeZone ? { timeZone } : {}) });

/** The fields a case asserts: open, and exactly one of opensAt/closesAt (the other must be absent). */
interface Expect { open: boolean; opensAt?: string; closesAt?: string; reason?: RegExp }
function check(c: ReleaseCalendar, when: string, want: Expect): CalendarState {
  const s = calendarState(c, at(when));
  expect({ open: s.open, opensAt: s.opensAt, closesAt: s.closesAt }).toEqual({
    open: want.open,
    opensAt: want.opensAt === undefined ? undefined : at(want.opensAt),
    closesAt: want.closesAt === undefined ? undefined : at(want.closesAt),
  });
  if (want.reason) expect(s.reason).toMatch(want.reason);
  return s;
}

describe('calendarState: Mon-Thu 10:00-16:00 Europe/Berlin', () => {
  const berlin = cal([win(['mon', 'tue', 'wed', 'thu'], '10:00', '16:00')]);
  // 2026-11-23 is a Monday; Berlin is on CET (+01:00).
  it.each<[string, string, Expect]>([
    ['Monday 09:59, before the window', '2026-11-23T09:59:00+01:00', { open: false, opensAt: '2026-11-23T10:00:00+01:00' }],
    ['Monday 09:59:59.999, the last closed ms', '2026-11-23T09:59:59.999+01:00', { open: false, opensAt: '2026-11-23T10:00:00+01:00' }],
    ['Monday 10:00 exactly, opening instant is inside', '2026-11-23T10:00:00+01:00', { open: true, closesAt: '2026-11-23T16:00:00+01:00' }],
    ['Monday 12:00, inside', '2026-11-23T12:00:00+01:00', { open: true, closesAt: '2026-11-23T16:00:00+01:00' }],
    ['Monday 16:00 exactly, closing instant is outside', '2026-11-23T16:00:00+01:00', { open: false, opensAt: '2026-11-24T10:00:00+01:00' }],
    ['Wednesday 20:00, after the window', '2026-11-25T20:00:00+01:00', { open: false, opensAt: '2026-11-26T10:00:00+01:00' }],
    ['Thursday 15:59, open until 16:00', '2026-11-26T15:59:00+01:00', { open: true, closesAt: '2026-11-26T16:00:00+01:00' }],
    ['Thursday 16:30, next opening is Monday', '2026-11-26T16:30:00+01:00', { open: false, opensAt: '2026-11-30T10:00:00+01:00' }],
    ['Friday 15:55, Friday is not a window day', '2026-11-27T15:55:00+01:00', { open: false, opensAt: '2026-11-30T10:00:00+01:00' }],
    ['Saturday noon', '2026-11-28T12:00:00+01:00', { open: false, opensAt: '2026-11-30T10:00:00+01:00' }],
    ['Sunday 23:59', '2026-11-29T23:59:00+01:00', { open: false, opensAt: '2026-11-30T10:00:00+01:00' }],
    ['Friday before spring-forward: opens Monday 10:00 CEST', '2026-03-27T12:00:00+01:00', { open: false, opensAt: '2026-03-30T10:00:00+02:00' }],
    ['Monday after spring-forward, open until 16:00 CEST', '2026-03-30T11:00:00+02:00', { open: true, closesAt: '2026-03-30T16:00:00+02:00' }],
    ['Friday before fall-back: opens Monday 10:00 CET', '2026-10-23T12:00:00+02:00', { open: false, opensAt: '2026-10-26T10:00:00+01:00' }],
    ['Thursday in CEST: closes 16:00 CEST (14:00Z)', '2026-10-22T15:00:00+02:00', { open: true, closesAt: '2026-10-22T14:00:00Z' }],
  ])('%s', (_name, when, want) => {
    check(berlin, when, want);
  });

  it('says why and when, in the window\'s zone', () => {
    expect(calendarState(berlin, at('2026-11-27T15:55:00+01:00'))).toEqual({
      open: false, opensAt: at('2026-11-30T10:00:00+01:00'), timeZone: 'Europe/Berlin',
      reason: 'closed: outside the release windows (Mon-Thu 10:00-16:00 Europe/Berlin); opens Mon 2026-11-30 10:00 Europe/Berlin',
    });
    expect(calendarState(berlin, at('2026-11-26T15:59:00+01:00'))).toEqual({
      open: true, closesAt: at('2026-11-26T16:00:00+01:00'), timeZone: 'Europe/Berlin',
      reason: 'open: in window Mon-Thu 10:00-16:00 Europe/Berlin; closes Thu 2026-11-26 16:00 Europe/Berlin',
    });
  });
});

describe('calendarState: windows crossing midnight', () => {
  const friNight = cal([win(['fri'], '22:00', '02:00')]);
  it.each<[string, ReleaseCalendar, string, Expect]>([
    ['Fri 21:59, before', friNight, '2026-11-27T21:59:00+01:00', { open: false, opensAt: '2026-11-27T22:00:00+01:00' }],
    ['Fri 23:00, inside, closes Sat 02:00', friNight, '2026-11-27T23:00:00+01:00', { open: true, closesAt: '2026-11-28T02:00:00+01:00' }],
    ['Sat 01:00, still inside (the window started Friday)', friNight, '2026-11-28T01:00:00+01:00', { open: true, closesAt: '2026-11-28T02:00:00+01:00' }],
    ['Sat 02:30, closed until next Friday', friNight, '2026-11-28T02:30:00+01:00', { open: false, opensAt: '2026-12-04T22:00:00+01:00' }],
    ['Thu 23:00, Thursday starts no window', friNight, '2026-11-26T23:00:00+01:00', { open: false, opensAt: '2026-11-27T22:00:00+01:00' }],
    ['Sun 01:00, Saturday starts no window', friNight, '2026-11-29T01:00:00+01:00', { open: false, opensAt: '2026-12-04T22:00:00+01:00' }],
    ['end 24:00 is midnight after the start day', cal([win(['sun'], '20:00', '24:00')]), '2026-11-29T23:00:00+01:00', { open: true, closesAt: '2026-11-30T00:00:00+01:00' }],
    ['start == end is a 24-hour window', cal([win(['mon'], '06:00', '06:00')]), '2026-11-24T05:00:00+01:00', { open: true, closesAt: '2026-11-24T06:00:00+01:00' }],
  ])('%s', (_name, c, when, want) => {
    check(c, when, want);
  });
});

describe('calendarState: daylight-saving transition days', () => {
  const ny = (days: Weekday[], start: string, end: string) => cal([win(days, start, end, 'America/New_York')]);
  const be = (days: Weekday[], start: string, end: string) => cal([win(days, start, end, 'Europe/Berlin')]);
  it.each<[string, ReleaseCalendar, string, Expect]>([
    // New York spring-forward, Sun 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    ['NY spring: 02:00-03:00 is empty that day, opens the next Sunday', ny(['sun'], '02:00', '03:00'), '2026-03-08T01:30:00-05:00', { open: false, opensAt: '2026-03-15T02:00:00-04:00' }],
    ['NY spring: 02:00-03:00 after the jump, still closed', ny(['sun'], '02:00', '03:00'), '2026-03-08T03:00:00-04:00', { open: false, opensAt: '2026-03-15T02:00:00-04:00' }],
    ['NY spring: 02:00-04:00 opens at the jump (03:00 EDT)', ny(['sun'], '02:00', '04:00'), '2026-03-08T01:59:00-05:00', { open: false, opensAt: '2026-03-08T03:00:00-04:00' }],
    ['NY spring: 02:00-04:00 open for one real hour', ny(['sun'], '02:00', '04:00'), '2026-03-08T03:00:00-04:00', { open: true, closesAt: '2026-03-08T04:00:00-04:00' }],
    ['NY spring: 02:30-03:30 lasts 30 minutes', ny(['sun'], '02:30', '03:30'), '2026-03-08T03:10:00-04:00', { open: true, closesAt: '2026-03-08T03:30:00-04:00' }],
    ['NY spring: Sat 22:00-06:00 opens 22:00 EST', ny(['sat'], '22:00', '06:00'), '2026-03-07T21:00:00-05:00', { open: false, opensAt: '2026-03-07T22:00:00-05:00' }],
    ['NY spring: Sat 22:00-06:00 closes 06:00 EDT (7 real hours)', ny(['sat'], '22:00', '06:00'), '2026-03-07T22:00:00-05:00', { open: true, closesAt: '2026-03-08T06:00:00-04:00' }],
    // New York fall-back, Sun 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:00-02:00 happens twice.
    ['NY fall: 01:00-02:00 opens at the first 01:00 (EDT)', ny(['sun'], '01:00', '02:00'), '2026-11-01T00:30:00-04:00', { open: false, opensAt: '2026-11-01T01:00:00-04:00' }],
    ['NY fall: 01:00-02:00, first pass, closes 02:00 EST', ny(['sun'], '01:00', '02:00'), '2026-11-01T01:30:00-04:00', { open: true, closesAt: '2026-11-01T02:00:00-05:00' }],
    ['NY fall: 01:00-02:00, repeated hour is inside', ny(['sun'], '01:00', '02:00'), '2026-11-01T01:30:00-05:00', { open: true, closesAt: '2026-11-01T02:00:00-05:00' }],
    ['NY fall: 01:00-02:00, after 02:00 EST closed', ny(['sun'], '01:00', '02:00'), '2026-11-01T02:00:00-05:00', { open: false, opensAt: '2026-11-08T01:00:00-05:00' }],
    ['NY fall: Sat 22:00-06:00 opens 22:00 EDT', ny(['sat'], '22:00', '06:00'), '2026-10-31T21:00:00-04:00', { open: false, opensAt: '2026-10-31T22:00:00-04:00' }],
    ['NY fall: Sat 22:00-06:00 closes 06:00 EST (9 real hours)', ny(['sat'], '22:00', '06:00'), '2026-10-31T22:00:00-04:00', { open: true, closesAt: '2026-11-01T06:00:00-05:00' }],
    // Berlin spring-forward, Sun 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    ['Berlin spring: 02:00-03:00 is empty that day', be(['sun'], '02:00', '03:00'), '2026-03-29T01:59:00+01:00', { open: false, opensAt: '2026-04-05T02:00:00+02:00' }],
    ['Berlin spring: Sat 22:00-06:00 opens 22:00 CET', be(['sat'], '22:00', '06:00'), '2026-03-28T12:00:00+01:00', { open: false, opensAt: '2026-03-28T22:00:00+01:00' }],
    ['Berlin spring: Sat 22:00-06:00 closes 06:00 CEST', be(['sat'], '22:00', '06:00'), '2026-03-29T03:30:00+02:00', { open: true, closesAt: '2026-03-29T06:00:00+02:00' }],
    // Berlin fall-back, Sun 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:00-03:00 happens twice.
    ['Berlin fall: 02:00-03:00 opens at the first 02:00 (CEST)', be(['sun'], '02:00', '03:00'), '2026-10-25T01:00:00+02:00', { open: false, opensAt: '2026-10-25T02:00:00+02:00' }],
    ['Berlin fall: 02:00-03:00, repeated hour is inside', be(['sun'], '02:00', '03:00'), '2026-10-25T02:15:00+01:00', { open: true, closesAt: '2026-10-25T03:00:00+01:00' }],
    ['Berlin fall: Sat 22:00-06:00 closes 06:00 CET', be(['sat'], '22:00', '06:00'), '2026-10-24T23:00:00+02:00', { open: true, closesAt: '2026-10-25T06:00:00+01:00' }],
  ])('%s', (_name, c, when, want) => {
    check(c, when, want);
  });

  it.each<[string, ReleaseCalendar, string, number]>([
    ['NY Sat 22:00-06:00 over spring-forward', ny(['sat'], '22:00', '06:00'), '2026-03-07T12:00:00-05:00', 7 * HOUR],
    ['NY Sat 22:00-06:00 over fall-back', ny(['sat'], '22:00', '06:00'), '2026-10-31T12:00:00-04:00', 9 * HOUR],
    ['NY Sun 01:00-02:00 on fall-back day', ny(['sun'], '01:00', '02:00'), '2026-10-31T12:00:00-04:00', 2 * HOUR],
    ['NY Sun 02:00-04:00 on spring-forward day', ny(['sun'], '02:00', '04:00'), '2026-03-07T12:00:00-05:00', 1 * HOUR],
    ['Berlin Sat 22:00-06:00 over spring-forward', be(['sat'], '22:00', '06:00'), '2026-03-28T12:00:00+01:00', 7 * HOUR],
    ['Berlin Sat 22:00-06:00 over fall-back', be(['sat'], '22:00', '06:00'), '2026-10-24T12:00:00+02:00', 9 * HOUR],
    ['Berlin Sat 22:00-06:00 on an ordinary weekend', be(['sat'], '22:00', '06:00'), '2026-11-28T12:00:00+01:00', 8 * HOUR],
  ])('%s: the window lasts the right real time', (_name, c, before, length) => {
    const closed = calendarState(c, at(before));
    expect(closed.open).toBe(false);
    const open = calendarState(c, closed.opensAt!);
    expect(open.open).toBe(true);
    expect(open.closesAt! - closed.opensAt!).toBe(length);
  });

  it.each<[string, number, string, string]>([
    ['Berlin winter', at('2026-11-23T09:00:00Z'), 'Europe/Berlin', 'Mon 2026-11-23 10:00 Europe/Berlin'],
    ['Berlin summer', at('2026-03-30T08:00:00Z'), 'Europe/Berlin', 'Mon 2026-03-30 10:00 Europe/Berlin'],
    ['NY, previous UTC day', at('2026-11-24T02:30:00Z'), 'America/New_York', 'Mon 2026-11-23 21:30 America/New_York'],
    ['NY repeated hour, first pass gets its offset', at('2026-11-01T05:30:00Z'), 'America/New_York', 'Sun 2026-11-01 01:30 America/New_York (UTC-04:00)'],
    ['NY repeated hour, second pass gets its offset', at('2026-11-01T06:30:00Z'), 'America/New_York', 'Sun 2026-11-01 01:30 America/New_York (UTC-05:00)'],
    ['seconds shown when not zero', at('2026-11-23T09:00:30Z'), 'Europe/Berlin', 'Mon 2026-11-23 10:00:30 Europe/Berlin'],
    ['UTC', at('2026-12-31T23:59:00Z'), 'UTC', 'Thu 2026-12-31 23:59 UTC'],
  ])('describeOpening: %s', (_name, ms, zone, text) => {
    expect(describeOpening(ms, zone)).toBe(text);
  });
});

describe('calendarState: freezes', () => {
  const week = win(['mon', 'tue', 'wed', 'thu'], '10:00', '16:00');
  const tueWed: Freeze = { from: '2026-11-24', to: '2026-11-25', reason: 'Black Friday prep' };
  const lunch: Freeze = { from: '2026-11-23T12:00:00+01:00', to: '2026-11-23T13:00:00+01:00', reason: 'db migration' };
  const lateMonday: Freeze = { from: '2026-11-23T15:00+01:00', to: '2026-11-23T18:00+01:00', reason: 'incident review' };
  const nyDay: Freeze = { from: '2026-11-24', to: '2026-11-24', reason: 'US launch', timeZone: 'America/New_York' };
  it.each<[string, ReleaseCalendar, string, Expect]>([
    ['date freeze inside the window days: closed with its reason', cal([week], [tueWed], 'Europe/Berlin'), '2026-11-24T12:00:00+01:00',
      { open: false, opensAt: '2026-11-26T10:00:00+01:00', reason: /^frozen: "Black Friday prep" \(2026-11-24 to 2026-11-25\); opens Thu 2026-11-26 10:00 Europe\/Berlin$/ }],
    ['date freeze covers the last day whole (inclusive to)', cal([week], [tueWed], 'Europe/Berlin'), '2026-11-25T15:59:00+01:00', { open: false, opensAt: '2026-11-26T10:00:00+01:00' }],
    ['the window before a date freeze closes at its end', cal([week], [tueWed], 'Europe/Berlin'), '2026-11-23T12:00:00+01:00', { open: true, closesAt: '2026-11-23T16:00:00+01:00' }],
    ['freeze inside a window: open, closes when it starts', cal([week], [lunch]), '2026-11-23T11:00:00+01:00',
      { open: true, closesAt: '2026-11-23T12:00:00+01:00', reason: /closes Mon 2026-11-23 12:00 Europe\/Berlin for the freeze "db migration"/ }],
    ['freeze inside a window: closed, opens when it ends', cal([week], [lunch]), '2026-11-23T12:30:00+01:00', { open: false, opensAt: '2026-11-23T13:00:00+01:00', reason: /^frozen: "db migration"/ }],
    ['freeze end is inside the window: open again', cal([week], [lunch]), '2026-11-23T13:00:00+01:00', { open: true, closesAt: '2026-11-23T16:00:00+01:00' }],
    ['freeze ends after the window: opens with the next window', cal([week], [lateMonday]), '2026-11-23T15:30:00+01:00', { open: false, opensAt: '2026-11-24T10:00:00+01:00' }],
    ['freeze in another zone: its own day boundaries', cal([win(['mon', 'tue', 'wed'], '00:00', '24:00')], [nyDay], 'Europe/Berlin'), '2026-11-24T05:59:00+01:00',
      { open: true, closesAt: '2026-11-24T00:00:00-05:00' }],
    ['freeze in another zone: lifts at NY midnight', cal([win(['mon', 'tue', 'wed'], '00:00', '24:00')], [nyDay], 'Europe/Berlin'), '2026-11-24T12:00:00+01:00',
      { open: false, opensAt: '2026-11-25T00:00:00-05:00' }],
    ['a reversed freeze (the schema rejects it) covers nothing', cal([week], [{ from: '2026-11-23T13:00+01:00', to: '2026-11-23T12:00+01:00', reason: 'x' }]), '2026-11-23T12:30:00+01:00',
      { open: true, closesAt: '2026-11-23T16:00:00+01:00' }],
    ['overlapping freezes: opens after both', cal([week], [lunch, { from: '2026-11-23T12:30+01:00', to: '2026-11-23T14:00+01:00', reason: 'second' }]), '2026-11-23T12:15:00+01:00',
      { open: false, opensAt: '2026-11-23T14:00:00+01:00' }],
    ['no windows: open until the freeze', cal([], [tueWed], 'Europe/Berlin'), '2026-11-20T09:00:00+01:00', { open: true, closesAt: '2026-11-24T00:00:00+01:00', reason: /for the freeze "Black Friday prep"/ }],
    ['no windows: frozen, opens at midnight after the last day', cal([], [tueWed], 'Europe/Berlin'), '2026-11-25T23:00:00+01:00', { open: false, opensAt: '2026-11-26T00:00:00+01:00' }],
    ['no windows: open after the freeze, forever', cal([], [tueWed], 'Europe/Berlin'), '2026-11-26T00:00:00+01:00', { open: true }],
    ['no windows: a freeze over 400 days still has an exact end', cal([], [{ from: '2026-01-01T00:00Z', to: '2028-01-01T00:00Z', reason: 'long' }]), '2026-02-01T00:00:00Z',
      { open: false, opensAt: '2028-01-01T00:00:00Z' }],
    ['windows and a freeze over 400 days: no opening found', cal([week], [{ from: '2026-01-01T00:00Z', to: '2028-01-01T00:00Z', reason: 'long' }]), '2026-02-01T00:00:00Z',
      { open: false, reason: new RegExp(`^frozen: "long" .*; no window opens within ${searchDays} days$`) }],
    ['always-open windows: closes for a freeze 100 days ahead', cal([win(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], '00:00', '24:00')], [{ from: '2027-03-03T00:00Z', to: '2027-03-04T00:00Z', reason: 'r' }]),
      '2026-11-23T12:00:00Z', { open: true, closesAt: '2027-03-03T00:00:00Z' }],
  ])('%s', (_name, c, when, want) => {
    check(c, when, want);
  });

  it('reports the freeze in force, the one ending last when several are', () => {
    const long: Freeze = { from: '2026-11-23T11:00+01:00', to: '2026-11-23T17:00+01:00', reason: 'long one' };
    expect(calendarState(cal([week], [lunch, long]), at('2026-11-23T12:30:00+01:00')).freeze).toBe(long);
    expect(calendarState(cal([week], [lunch]), at('2026-11-23T12:30:00+01:00')).freeze).toBe(lunch);
    expect(calendarState(cal([week], [lunch]), at('2026-11-23T11:30:00+01:00')).freeze).toBeUndefined();
  });

  it.each<[string, Freeze, string | undefined, string, string]>([
    ['dates are whole days in the freeze\'s zone', { from: '2026-11-26', to: '2026-11-27', reason: 'x', timeZone: 'America/New_York' }, 'Europe/Berlin', '2026-11-26T00:00:00-05:00', '2026-11-28T00:00:00-05:00'],
    ['else in the calendar\'s zone', { from: '2026-11-26', to: '2026-11-26', reason: 'x' }, 'Europe/Berlin', '2026-11-26T00:00:00+01:00', '2026-11-27T00:00:00+01:00'],
    ['a date range over a DST change', { from: '2026-10-24', to: '2026-10-25', reason: 'x' }, 'Europe/Berlin', '2026-10-24T00:00:00+02:00', '2026-10-26T00:00:00+01:00'],
    ['date-times are exact instants', { from: '2026-12-24T18:00+01:00', to: '2026-12-27T08:00:30.5Z', reason: 'x' }, 'Europe/Berlin', '2026-12-24T17:00:00Z', '2026-12-27T08:00:30.500Z'],
  ])('freezeInterval: %s', (_name, f, zone, from, to) => {
    expect(freezeInterval(f, zone)).toEqual({ start: at(from), end: at(to) });
  });
});

describe('calendarState: several windows', () => {
  it.each<[string, WeeklyWindow[], string, Expect]>([
    ['adjacent windows are one opening', [win(['mon'], '10:00', '12:00'), win(['mon'], '12:00', '14:00')], '2026-11-23T11:00:00+01:00', { open: true, closesAt: '2026-11-23T14:00:00+01:00' }],
    ['adjacent windows: no closing at the seam', [win(['mon'], '10:00', '12:00'), win(['mon'], '12:00', '14:00')], '2026-11-23T12:00:00+01:00', { open: true, closesAt: '2026-11-23T14:00:00+01:00' }],
    ['overlapping windows: the later end', [win(['mon'], '10:00', '13:00'), win(['mon'], '12:00', '16:00')], '2026-11-23T11:00:00+01:00', { open: true, closesAt: '2026-11-23T16:00:00+01:00' }],
    ['a window inside another changes nothing', [win(['mon'], '10:00', '16:00'), win(['mon'], '11:00', '12:00')], '2026-11-23T10:30:00+01:00', { open: true, closesAt: '2026-11-23T16:00:00+01:00' }],
    ['the earlier of two openings', [win(['wed'], '10:00', '12:00'), win(['tue'], '14:00', '15:00')], '2026-11-23T20:00:00+01:00', { open: false, opensAt: '2026-11-24T14:00:00+01:00' }],
    ['across midnight into a window starting at 00:00', [win(['fri'], '22:00', '00:00'), win(['sat'], '00:00', '02:00')], '2026-11-27T23:00:00+01:00', { open: true, closesAt: '2026-11-28T02:00:00+01:00' }],
    ['24:00 end meets next day 00:00 start', [win(['mon'], '20:00', '24:00'), win(['tue'], '00:00', '06:00')], '2026-11-23T21:00:00+01:00', { open: true, closesAt: '2026-11-24T06:00:00+01:00' }],
    ['zones meet: Berlin 09-12 then NY 06-09 is one opening (08:00Z-14:00Z)', [win(['mon'], '09:00', '12:00'), win(['mon'], '06:00', '09:00', 'America/New_York')], '2026-11-23T10:00:00Z', { open: true, closesAt: '2026-11-23T14:00:00Z' }],
    ['zones: before both', [win(['mon'], '09:00', '12:00'), win(['mon'], '06:00', '09:00', 'America/New_York')], '2026-11-23T07:00:00Z', { open: false, opensAt: '2026-11-23T09:00:00+01:00' }],
    ['zones with a gap: NY opens after Berlin closed', [win(['mon'], '09:00', '12:00'), win(['mon'], '07:00', '09:00', 'America/New_York')], '2026-11-23T11:30:00Z',
      { open: false, opensAt: '2026-11-23T07:00:00-05:00', reason: /opens Mon 2026-11-23 07:00 America\/New_York$/ }],
    ['zones: NY Monday evening is Tuesday in Berlin', [win(['tue'], '09:00', '10:00'), win(['mon'], '20:00', '22:00', 'America/New_York')], '2026-11-24T02:00:00Z', { open: true, closesAt: '2026-11-23T22:00:00-05:00' }],
  ])('%s', (_name, windows, when, want) => {
    check(cal(windows), when, want);
  });

  it('every day all day: open, no closing within the search', () => {
    const s = calendarState(cal([win(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], '00:00', '24:00')]), at('2026-11-23T12:00:00Z'));
    expect(s).toEqual({ open: true, reason: `open: in window Mon-Sun 00:00-24:00 Europe/Berlin; no window closes within ${searchDays} days` });
  });

  it('a window wholly inside a spring-forward gap is skipped that day, not an error', () => {
    // Sun 02:30-03:00 Berlin exists every week but 2026-03-29, when 02:00-03:00 is skipped.
    const s = calendarState(cal([win(['sun'], '02:30', '03:00')]), at('2026-03-29T01:00:00+01:00'));
    expect(s.opensAt).toBe(at('2026-04-05T02:30:00+02:00'));
  });
});

describe('calendarState: no windows', () => {
  it.each<[string, number]>([
    ['epoch', 0],
    ['a Monday noon', at('2026-11-23T12:00:00+01:00')],
    ['a Sunday night', at('2026-11-29T23:59:00+01:00')],
    ['a spring-forward instant', at('2026-03-29T01:00:00Z')],
    ['far future', at('2099-06-01T00:00:00Z')],
  ])('empty calendar is open at %s', (_name, ms) => {
    expect(calendarState(cal([]), ms)).toEqual({ open: true, reason: 'open: no release windows and no freeze ahead' });
  });
});

describe('determinism: results depend on the instant and the calendar\'s zones only', () => {
  const berlin = cal([win(['mon', 'tue', 'wed', 'thu'], '10:00', '16:00')]);
  const ny = cal([win(['mon'], '20:00', '22:00', 'America/New_York')]);
  // Each instant's UTC (or a local machine's) date or hour says the opposite of the right answer.
  it.each<[string, ReleaseCalendar, string, boolean]>([
    ['09:30Z is 10:30 in Berlin: open', berlin, '2026-11-23T09:30:00Z', true],
    ['15:30Z is 16:30 in Berlin: closed', berlin, '2026-11-23T15:30:00Z', false],
    ['08:30Z in summer is 10:30 CEST: open', berlin, '2026-06-01T08:30:00Z', true],
    ['Tue 01:30Z is Mon 20:30 in New York: open', ny, '2026-11-24T01:30:00Z', true],
    ['Mon 21:00Z is Mon 16:00 in New York: closed', ny, '2026-11-23T21:00:00Z', false],
    ['Thu 23:30Z is Fri 00:30 in Berlin: closed', berlin, '2026-11-26T23:30:00Z', false],
  ])('%s', (_name, c, when, open) => {
    expect(calendarState(c, at(when)).open).toBe(open);
  });

  const saved = { now: Date.now, DateTimeFormat: Intl.DateTimeFormat, proto: { ...Object.getOwnPropertyDescriptors(Date.prototype) } };
  afterEach(() => {
    Date.now = saved.now;
    Intl.DateTimeFormat = saved.DateTimeFormat;
    Object.defineProperties(Date.prototype, saved.proto);
  });

  it('reads no clock, no local-time Date method and no default zone (they all throw here)', () => {
    const c = cal([win(['mon', 'tue', 'wed', 'thu'], '10:00', '16:00'), win(['sat'], '22:00', '06:00', 'America/New_York')],
      [{ from: '2026-11-24', to: '2026-11-24', reason: 'r' }], 'Europe/Berlin');
    const instants = ['2026-11-23T12:00:00Z', '2026-11-24T12:00:00Z', '2026-10-31T23:00:00Z', '2026-03-07T21:00:00-05:00'].map(at);
    const before = instants.map((t) => [calendarState(c, t), describeOpening(t, 'America/New_York')]);

    const boom = (what: string) => () => { throw new Error(`windows.ts used ${what}`); };
    Date.now = boom('Date.now');
    for (const m of ['getTimezoneOffset', 'getFullYear', 'getMonth', 'getDate', 'getDay', 'getHours', 'getMinutes', 'getSeconds', 'toString', 'toLocaleString', 'toLocaleDateString', 'toLocaleTimeString']) {
      Object.defineProperty(Date.prototype, m, { value: boom(`Date.prototype.${m}`), configurable: true, writable: true });
    }
    // Every formatter luxon builds from now on must name its zone (none may fall back to the host's).
    const Original = saved.DateTimeFormat;
    let made = 0;
    Intl.DateTimeFormat = function (this: unknown, locales?: string | string[], options?: Intl.DateTimeFormatOptions) {
      if (!options?.timeZone) throw new Error('windows.ts built a DateTimeFormat without a timeZone');
      made++;
      return new Original(locales, options);
    } as unknown as typeof Intl.DateTimeFormat;
    // A zone luxon has not cached yet forces new formatters through the check above.
    const fresh = cal([win(['mon'], '10:00', '16:00', 'Asia/Kolkata')]);
    const kolkata = calendarState(fresh, at('2026-11-23T04:00:00Z'));

    const after = instants.map((t) => [calendarState(c, t), describeOpening(t, 'America/New_York')]);
    expect(after).toEqual(before);
    expect(made).toBeGreaterThan(0);
    expect(kolkata).toMatchObject({ open: false, opensAt: at('2026-11-23T10:00:00+05:30') });
  });
});

// Issue 12: 150 always-open windows cost ~85 ms each per evaluation, inside every workflow task and
// status query (a release could no longer be queried or aborted). The cost is counted in look-ups
// of a zone's UTC offset (each one an Intl call), not in wall time; bench/calendar.ts times it.
describe('cost: zone offset look-ups per evaluation', () => {
  const lookups = (c: ReleaseCalendar, when: number): { state: CalendarState; count: number } => {
    const spy = jest.spyOn(IANAZone.prototype, 'offset');
    try {
      const state = calendarState(c, when);
      return { state, count: spy.mock.calls.length };
    } finally {
      spy.mockRestore();
    }
  };
  const always = win(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], '00:00', '00:00');
  const monday = at('2026-11-23T12:00:00Z');

  it('150 always-open windows cost what one costs, and answer what one answers', () => {
    const one = lookups(cal([always]), monday);
    const many = lookups(cal(Array.from({ length: 150 }, () => always)), monday);
    expect(many.state).toEqual(one.state);
    expect(one.state.open).toBe(true);
    expect(one.state.closesAt).toBeUndefined();
    expect(many.count).toBe(one.count);
    expect(many.count).toBeLessThanOrEqual(10);
  });

  it('duplicates of an ordinary window cost nothing more either', () => {
    const w = win(['mon', 'tue', 'wed', 'thu'], '10:00', '16:00');
    const one = lookups(cal([w]), at('2026-11-27T15:55:00+01:00'));
    const many = lookups(cal(Array.from({ length: maxWindows }, () => w)), at('2026-11-27T15:55:00+01:00'));
    expect(many.state).toEqual(one.state);
    expect(many.count).toBe(one.count);
  });

  it('a realistic calendar costs a few dozen look-ups wherever the answer lies', () => {
    const c = cal([win(['mon', 'tue', 'wed', 'thu'], '10:00', '16:00'), win(['fri'], '22:00', '02:00', 'America/New_York')],
      [{ from: '2026-11-26', to: '2026-11-30', reason: 'Black Friday' }, { from: '2026-12-24T18:00+01:00', to: '2026-12-27T08:00+01:00', reason: 'holidays' },
        { from: '2025-12-24', to: '2025-12-26', reason: 'last year' }], 'Europe/Berlin');
    for (const when of ['2026-11-27T12:00:00Z', '2026-11-23T12:00:00Z', '2026-12-25T12:00:00Z', '2026-03-28T12:00:00Z', '2026-10-24T23:00:00Z']) {
      expect(lookups(c, at(when)).count).toBeLessThanOrEqual(80);
    }
  });

  it('a freeze longer than the search costs no more than a short one', () => {
    const c = cal([win(['mon', 'tue', 'wed', 'thu'], '10:00', '16:00')], [{ from: '2026-01-01T00:00Z', to: '2028-01-01T00:00Z', reason: 'long' }]);
    const { state, count } = lookups(c, at('2026-02-01T00:00:00Z'));
    expect(state.open).toBe(false);
    expect(state.opensAt).toBeUndefined();
    expect(count).toBeLessThanOrEqual(20);
  });
});

describe('helpers', () => {
  it.each<[string, boolean, number | undefined]>([
    ['00:00', false, 0], ['09:30', false, 570], ['23:59', false, 1439], ['24:00', true, 1440],
    ['24:00', false, undefined], ['9:30', false, undefined], ['12:60', false, undefined], ['25:00', true, undefined], ['1000', false, undefined],
  ])('parseClock(%s, end=%s)', (text, end, minutes) => {
    expect(parseClock(text, end)).toBe(minutes);
  });

  it.each<[string, ReturnType<typeof parseFreezeBound>]>([
    ['2026-11-27', { day: at('2026-11-27T00:00:00Z') / DAY }],
    ['2026-11-27T08:00+01:00', { instant: at('2026-11-27T07:00:00Z') }],
    ['2026-11-27T08:00:05.25Z', { instant: at('2026-11-27T08:00:05.250Z') }],
    ['2026-02-30', undefined], ['2026-11-27T08:00', undefined], ['2026-11-27T24:00Z', undefined], ['27.11.2026', undefined], ['2026-11-27 08:00+01:00', undefined],
  ])('parseFreezeBound(%s)', (text, want) => {
    expect(parseFreezeBound(text)).toEqual(want);
  });

  it.each<[Weekday[], string]>([
    [['mon', 'tue', 'wed', 'thu'], 'Mon-Thu'], [['fri'], 'Fri'], [['sat', 'mon', 'wed', 'fri'], 'Mon, Wed, Fri-Sat'], [['sun', 'mon'], 'Mon, Sun'],
  ])('describeWindow(%j)', (days, text) => {
    expect(describeWindow(win(days, '10:00', '16:00'))).toBe(`${text} 10:00-16:00 Europe/Berlin`);
  });
});

describe('releaseCalendarSchema', () => {
  const schema = releaseCalendarSchema(z);
  const ok = { days: ['mon'], start: '10:00', end: '16:00', timeZone: 'Europe/Berlin' };
  const issues = (value: unknown) => {
    const r = schema.safeParse(value);
    return r.success ? [] : r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  };

  it('accepts a full calendar, defaults the lists, and yields a ReleaseCalendar', () => {
    const parsed: ReleaseCalendar = schema.parse({
      timeZone: 'Europe/Berlin',
      windows: [ok, { days: ['fri'], start: '22:00', end: '02:00', timeZone: 'America/New_York' }, { ...ok, end: '24:00' }],
      freezes: [{ from: '2026-11-26', to: '2026-11-30', reason: 'Black Friday' }, { from: '2026-12-24T18:00+01:00', to: '2026-12-27T08:00Z', reason: 'holidays' }],
    });
    expect(parsed.windows).toHaveLength(3);
    expect(schema.parse({})).toEqual({ windows: [], freezes: [] });
  });

  it.each<[string, unknown, string, RegExp]>([
    ['misspelt zone', { windows: [{ ...ok, timeZone: 'Europe/Berln' }] }, 'windows.0.timeZone', /unknown time zone 'Europe\/Berln': use an IANA zone name such as 'Europe\/Berlin'/],
    ['offset is not a zone', { windows: [{ ...ok, timeZone: '+01:00' }] }, 'windows.0.timeZone', /unknown time zone '\+01:00'/],
    ['one-digit hour', { windows: [{ ...ok, start: '9:00' }] }, 'windows.0.start', /'HH:MM' with two-digit hours, e.g. '09:00'/],
    ['hour 24 as a start', { windows: [{ ...ok, start: '24:00' }] }, 'windows.0.start', /'HH:MM'/],
    ['minutes past 59', { windows: [{ ...ok, end: '16:75' }] }, 'windows.0.end', /end is a 24-hour time 'HH:MM'.*'24:00' for the end of the day/],
    ['a number (YAML sexagesimal or unquoted)', { windows: [{ ...ok, end: 600 }] }, 'windows.0.end', /'HH:MM'/],
    ['long day name', { windows: [{ ...ok, days: ['monday'] }] }, 'windows.0.days.0', /unknown day 'monday': days are mon, tue, wed, thu, fri, sat, sun/],
    ['no days', { windows: [{ ...ok, days: [] }] }, 'windows.0.days', /at least one day, e.g. days: \[mon, tue, wed, thu\]/],
    ['a day twice', { windows: [{ ...ok, days: ['mon', 'mon'] }] }, 'windows.0.days', /listed twice/],
    ['unknown key', { windows: [{ ...ok, weekdays: ['mon'] }] }, 'windows.0', /weekdays/],
    ['freeze to before from', { timeZone: 'UTC', freezes: [{ from: '2026-11-30', to: '2026-11-26', reason: 'r' }] }, 'freezes.0.to', /ends before it starts.*swap them/],
    ['freeze date-times reversed', { freezes: [{ from: '2026-11-30T10:00Z', to: '2026-11-30T09:00Z', reason: 'r' }] }, 'freezes.0.to', /ends before it starts/],
    ['freeze mixing a date and an earlier date-time', { timeZone: 'Europe/Berlin', freezes: [{ from: '2026-11-30', to: '2026-11-29T23:30:00+01:00', reason: 'r' }] }, 'freezes.0.to', /ends before it starts/],
    ['freeze date without a zone', { freezes: [{ from: '2026-11-26', to: '2026-11-30', reason: 'r' }] }, 'freezes.0.timeZone', /needs a time zone: add timeZone to the freeze or to the calendar/],
    ['freeze date-time without offset', { freezes: [{ from: '2026-11-26T10:00', to: '2026-11-30T10:00Z', reason: 'r' }] }, 'freezes.0.from', /date-time with an offset, e.g. '2026-12-24T18:00\+01:00'/],
    ['impossible date', { timeZone: 'UTC', freezes: [{ from: '2026-02-30', to: '2026-03-01', reason: 'r' }] }, 'freezes.0.from', /from is a date '2026-12-24'/],
    ['blank reason', { timeZone: 'UTC', freezes: [{ from: '2026-11-26', to: '2026-11-26', reason: ' ' }] }, 'freezes.0.reason', /give a reason/],
    ['bad freeze zone', { freezes: [{ from: '2026-11-26', to: '2026-11-26', reason: 'r', timeZone: 'Mars/Olympus' }] }, 'freezes.0.timeZone', /unknown time zone 'Mars\/Olympus'/],
  ])('rejects %s, saying how to fix it', (_name, value, path, message) => {
    const found = issues(value);
    expect(found).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  // Issue 12: an unbounded calendar could stall every workflow task that evaluates it.
  const everyDay = { ...ok, days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', end: '00:00' };
  const someZones = ['UTC', 'Europe/Berlin', 'Europe/London', 'America/New_York', 'America/Chicago', 'America/Los_Angeles', 'Asia/Tokyo', 'Asia/Kolkata', 'Australia/Sydney', 'Australia/Lord_Howe', 'Africa/Cairo'];
  const freezeOn = (i: number) => ({ from: `2026-${String(1 + (i % 12)).padStart(2, '0')}-01`, to: `2026-${String(1 + (i % 12)).padStart(2, '0')}-02`, reason: `r${i}` });
  it.each<[string, unknown, string, RegExp]>([
    ['too many windows', { windows: Array.from({ length: maxWindows + 1 }, () => everyDay) }, 'windows',
      new RegExp(`^${maxWindows + 1} windows; a calendar has at most ${maxWindows}: list several days in one window .*open all the time`)],
    ['150 always-open windows', { windows: Array.from({ length: 150 }, () => everyDay) }, 'windows', /^150 windows; a calendar has at most/],
    ['too many freezes', { timeZone: 'UTC', freezes: Array.from({ length: maxFreezes + 1 }, (_, i) => freezeOn(i)) }, 'freezes',
      new RegExp(`^${maxFreezes + 1} freezes; a calendar has at most ${maxFreezes}: remove freezes that are over`)],
    ['too many zones', { windows: someZones.map((timeZone) => ({ ...ok, timeZone })) }, `windows.${maxZones}.timeZone`,
      new RegExp(`'Africa/Cairo' is time zone number ${maxZones + 1}; a calendar uses at most ${maxZones}`)],
    ['a long freeze reason', { timeZone: 'UTC', freezes: [{ ...freezeOn(0), reason: 'x'.repeat(maxFreezeReason + 1) }] }, 'freezes.0.reason',
      new RegExp(`the reason is ${maxFreezeReason + 1} characters; keep it to ${maxFreezeReason}`)],
    ['a day listed eight times', { windows: [{ ...ok, days: Array.from({ length: 8 }, () => 'mon') }] }, 'windows.0.days', /listed twice/],
  ])('bounds the calendar: %s', (_name, value, path, message) => {
    expect(issues(value)).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('caps what it echoes: a huge zone or day name is cut, not repeated whole', () => {
    const found = issues({ windows: [{ ...ok, timeZone: `Europe/${'x'.repeat(100_000)}`, days: ['y'.repeat(100_000)] }] });
    expect(found.map((i) => i.path)).toEqual(['windows.0.days.0', 'windows.0.timeZone']);
    for (const i of found) expect(i.message.length).toBeLessThan(300);
    expect(found[1]!.message).toMatch(/^unknown time zone 'Europe\/x+… \(\d+ more characters\)': use an IANA zone name/);
  });

  it('the most a calendar may hold is accepted', () => {
    expect(issues({
      timeZone: 'UTC',
      windows: Array.from({ length: maxWindows }, (_, i) => ({ ...everyDay, timeZone: someZones[i % maxZones]! })),
      freezes: Array.from({ length: maxFreezes }, (_, i) => ({ ...freezeOn(i), reason: 'r'.repeat(maxFreezeReason) })),
    })).toEqual([]);
  });

  it('a one-day freeze (from == to) and a freeze with its own zone are valid', () => {
    expect(issues({ freezes: [{ from: '2026-11-26', to: '2026-11-26', reason: 'r', timeZone: 'Asia/Tokyo' }] })).toEqual([]);
  });

  it('reports each problem once, in every window', () => {
    expect(issues({ windows: [{ ...ok, start: '9:00' }, { ...ok, timeZone: 'Nowhere' }] }).map((i) => i.path)).toEqual(['windows.0.start', 'windows.1.timeZone']);
  });
});
