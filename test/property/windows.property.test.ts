// Property tests of the release calendar (core/windows.ts) on generated calendars: windows in zones
// with daylight-saving changes (including Lord Howe's 30-minute one, Troll's 2-hour one, Casablanca's
// Ramadan pause), windows crossing midnight, freezes as dates and as instants, at instants near the
// zones' offset changes and on quarter-hour boundaries.
//
// CI runs a fixed seed with a few hundred cases per property (a few seconds). A longer run:
//   GANTRY_PROPERTY_RUNS=10000 NODE_OPTIONS=--experimental-vm-modules npx jest --runInBand test/property/windows.property.test.ts
// (GANTRY_PROPERTY_SEED=<n> picks another seed; a failure prints its seed and path to replay it.)
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { calendarState, describeWindow, weekdays, type CalendarState, type Freeze, type ReleaseCalendar, type WeeklyWindow } from '../../core/windows.js';
import { oracleCalendarState } from './windows-oracle.js';

const runs = (n: number): number => Number(process.env.GANTRY_PROPERTY_RUNS ?? n);
const seed = Number(process.env.GANTRY_PROPERTY_SEED ?? 42);
const params = (n: number) => ({ seed, numRuns: runs(n) });

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const zones = [
  'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'UTC', 'Asia/Kolkata', 'Pacific/Chatham',
  'America/Santiago', 'Africa/Casablanca', 'Antarctica/Troll', 'America/St_Johns',
] as const;
const zone = fc.constantFrom(...zones);

// Offset changes of those zones in 2026-2027 (UTC), so that instants cluster around them.
const changes = [
  '2026-03-08T07:00Z', '2026-11-01T06:00Z', '2027-03-14T07:00Z', '2027-11-07T06:00Z', // America/New_York, St_Johns nearby
  '2026-03-29T01:00Z', '2026-10-25T01:00Z', '2027-03-28T01:00Z', '2027-10-31T01:00Z', // EU, Antarctica/Troll
  '2026-04-04T15:00Z', '2026-10-03T15:30Z', '2027-04-03T15:00Z', '2027-10-02T15:30Z', // Australia/Lord_Howe
  '2026-04-04T14:00Z', '2026-09-26T14:00Z', // Pacific/Chatham
  '2026-04-05T03:00Z', '2026-09-06T04:00Z', // America/Santiago
  '2026-02-15T02:00Z', '2026-03-22T02:00Z', // Africa/Casablanca
].map(Date.parse);

const from2026 = Date.parse('2026-01-01T00:00:00Z');
const quarter = 15 * MINUTE;
/** An instant: anywhere in 2026-2027, or within 4 days of an offset change; often on a quarter hour. */
const instant = fc.tuple(
  fc.oneof(
    fc.integer({ min: from2026, max: Date.parse('2028-01-01T00:00:00Z') }),
    fc.tuple(fc.constantFrom(...changes), fc.integer({ min: -4 * DAY, max: 4 * DAY })).map(([c, d]) => c + d),
  ),
  fc.boolean(),
).map(([t, snap]) => (snap ? Math.floor(t / quarter) * quarter : t));

const pad = (n: number) => String(n).padStart(2, '0');
// Times cluster on the hours where offsets change (01:00-03:00) and around midnight.
const hour = fc.oneof(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 1, 2, 3, 22, 23));
const clock = fc.tuple(hour, fc.constantFrom(0, 15, 30, 45)).map(([h, m]) => `${pad(h)}:${pad(m)}`);
const endClock = fc.oneof({ weight: 9, arbitrary: clock }, { weight: 1, arbitrary: fc.constant('24:00') });

const window: fc.Arbitrary<WeeklyWindow> = fc.record({
  days: fc.subarray([...weekdays], { minLength: 1 }),
  start: clock,
  end: endClock,
  timeZone: zone,
});

const dateText = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** A freeze in 2026-2027: whole days (in its own zone or the calendar's) or exact instants; sometimes reversed. */
const freeze: fc.Arbitrary<Freeze> = fc.tuple(
  fc.integer({ min: from2026, max: Date.parse('2027-12-20T00:00:00Z') }),
  fc.oneof(fc.integer({ min: 0, max: 3 * DAY }), fc.integer({ min: 0, max: 60 * DAY }), fc.integer({ min: -DAY, max: 0 })),
  fc.boolean(),
  fc.option(zone, { nil: undefined }),
  fc.constantFrom('Black Friday', 'holidays', 'db migration'),
).map(([start, length, dates, tz, reason]) => {
  const q = (t: number) => Math.floor(t / quarter) * quarter;
  const f: Freeze = dates
    ? { from: dateText(start), to: dateText(start + length), reason }
    : { from: new Date(q(start)).toISOString(), to: new Date(q(start + length)).toISOString(), reason };
  return tz ? { ...f, timeZone: tz } : f;
});

const calendar: fc.Arbitrary<ReleaseCalendar> = fc.record({
  windows: fc.array(window, { minLength: 0, maxLength: 5 }),
  freezes: fc.array(freeze, { maxLength: 3 }),
  timeZone: zone,
});

/**
 * The old evaluation lists every window in a "closed" reason; the new one lists each distinct window
 * once (and at most 10): the same text when no window repeats.
 */
function oracle(cal: ReleaseCalendar, at: number): CalendarState {
  const want = oracleCalendarState(cal, at);
  const all = cal.windows.map(describeWindow);
  const distinct = [...new Set(all)];
  return { ...want, reason: want.reason.replace(`(${all.join('; ')})`, `(${distinct.join('; ')})`) };
}

describe('calendarState on generated calendars (property tests, seed ' + seed + ')', () => {
  it('answers exactly what the old day-by-day evaluation answered (slow reference)', () => {
    fc.assert(fc.property(calendar, instant, (cal, at) => {
      expect(calendarState(cal, at)).toEqual(oracle(cal, at));
    }), params(200));
  });

  it('when open, it closes at closesAt: open just before, closed at it, the same answer in between', () => {
    fc.assert(fc.property(calendar, instant, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (cal, at, frac) => {
      const s = calendarState(cal, at);
      fc.pre(s.open && s.closesAt !== undefined);
      const closes = s.closesAt!;
      expect(closes).toBeGreaterThan(at);
      expect(calendarState(cal, closes - 1)).toMatchObject({ open: true, closesAt: closes });
      expect(calendarState(cal, closes).open).toBe(false);
      const between = at + Math.floor((closes - at) * frac);
      expect(calendarState(cal, between)).toMatchObject({ open: true, closesAt: closes });
    }), params(150));
  });

  it('when closed, it opens at opensAt: closed just before, open at it, the same answer in between', () => {
    fc.assert(fc.property(calendar, instant, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (cal, at, frac) => {
      const s = calendarState(cal, at);
      fc.pre(!s.open && s.opensAt !== undefined);
      const opens = s.opensAt!;
      expect(opens).toBeGreaterThan(at);
      expect(calendarState(cal, opens - 1)).toMatchObject({ open: false, opensAt: opens });
      expect(calendarState(cal, opens).open).toBe(true);
      const between = at + Math.floor((opens - at) * frac);
      expect(calendarState(cal, between)).toMatchObject({ open: false, opensAt: opens });
    }), params(150));
  });

  it('inside a freeze it is closed, names that freeze, and opens no earlier than the freeze ends', () => {
    fc.assert(fc.property(calendar, freeze, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (cal, f, frac) => {
      const withFreeze = { ...cal, freezes: [...cal.freezes, f] };
      const probe = calendarState({ windows: [], freezes: [f], timeZone: cal.timeZone }, from2026 - DAY);
      fc.pre(probe.closesAt !== undefined); // the freeze covers something
      const state = calendarState({ windows: [], freezes: [f], timeZone: cal.timeZone }, probe.closesAt!);
      const start = probe.closesAt!;
      const end = state.opensAt!;
      const at = start + Math.floor((end - start) * frac);
      const s = calendarState(withFreeze, at);
      expect(s.open).toBe(false);
      expect(s.reason).toMatch(/^frozen: /);
      expect(s.freeze).toBeDefined();
      if (s.opensAt !== undefined) expect(s.opensAt).toBeGreaterThanOrEqual(end);
    }), params(150));
  });

  it('repeating windows changes nothing (the cost of duplicates is nil, and so is their effect)', () => {
    fc.assert(fc.property(calendar, instant, fc.integer({ min: 2, max: 30 }), (cal, at, times) => {
      fc.pre(cal.windows.length > 0);
      const repeated = { ...cal, windows: Array.from({ length: times }, () => cal.windows).flat() };
      expect(calendarState(repeated, at)).toEqual(calendarState(cal, at));
    }), params(150));
  });

  it('a zone whose windows cover the whole week is open until a freeze, however the week is cut', () => {
    // Cut the week at random points into windows of one zone; their union is the whole week.
    const cuts = fc.uniqueArray(fc.integer({ min: 1, max: 7 * 96 - 1 }), { maxLength: 12 }).map((cs) => [0, ...cs.sort((a, b) => a - b), 7 * 96]);
    fc.assert(fc.property(cuts, zone, instant, (points, tz, at) => {
      const windows: WeeklyWindow[] = [];
      for (let i = 0; i + 1 < points.length; i++) {
        // [a, b) in quarter hours from Monday 00:00; a window starts on one day and lasts up to 24h,
        // so split long pieces into whole days.
        for (let a = points[i]!; a < points[i + 1]!;) {
          const b = Math.min(points[i + 1]!, a + 96);
          const day = Math.floor(a / 96);
          const hm = (q: number) => `${pad(Math.floor(q / 4))}:${pad((q % 4) * 15)}`;
          const endQ = b - day * 96; // 1..192
          windows.push({ days: [weekdays[day % 7]!], start: hm(a - day * 96), end: endQ >= 96 ? (endQ === 96 ? '24:00' : hm(endQ - 96)) : hm(endQ), timeZone: tz });
          a = b;
        }
      }
      const s = calendarState({ windows, freezes: [] }, at);
      expect(s.open).toBe(true);
      expect(s.closesAt).toBeUndefined();
    }), params(200));
  });
});
