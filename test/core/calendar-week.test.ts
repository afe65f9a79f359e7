// The week view's spans and the freezes ahead (core/calendar-week.ts). Expected instants are written
// as ISO strings with explicit offsets (Europe/Berlin: CET +01:00 until 2026-03-29 01:00Z, then CEST +02:00).
import { describe, expect, it } from '@jest/globals';
import { calendarSpans, upcomingFreezes } from '../../core/calendar-week.js';
import type { ReleaseCalendar } from '../../core/windows.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const berlin: ReleaseCalendar = {
  windows: [{ days: ['mon', 'tue', 'wed', 'thu'], start: '10:00', end: '16:00', timeZone: 'Europe/Berlin' }],
  freezes: [{ from: '2026-11-25', to: '2026-11-25', reason: 'Black Friday prep' }],
  timeZone: 'Europe/Berlin',
};

describe('calendarSpans', () => {
  it('lays out a week: windows open, the rest closed, a freeze day closed with its reason', () => {
    const spans = calendarSpans(berlin, at('2026-11-23T00:00:00+01:00'), at('2026-11-30T00:00:00+01:00'));
    expect(spans.map((s) => [iso(s.start), iso(s.end), s.open, s.freeze ?? ''])).toEqual([
      [iso(at('2026-11-23T00:00:00+01:00')), iso(at('2026-11-23T10:00:00+01:00')), false, ''],
      [iso(at('2026-11-23T10:00:00+01:00')), iso(at('2026-11-23T16:00:00+01:00')), true, ''],
      [iso(at('2026-11-23T16:00:00+01:00')), iso(at('2026-11-24T10:00:00+01:00')), false, ''],
      [iso(at('2026-11-24T10:00:00+01:00')), iso(at('2026-11-24T16:00:00+01:00')), true, ''],
      // Closed by the windows until the frozen Wednesday, by the freeze all Wednesday, by the windows after.
      [iso(at('2026-11-24T16:00:00+01:00')), iso(at('2026-11-25T00:00:00+01:00')), false, ''],
      [iso(at('2026-11-25T00:00:00+01:00')), iso(at('2026-11-26T00:00:00+01:00')), false, 'Black Friday prep'],
      [iso(at('2026-11-26T00:00:00+01:00')), iso(at('2026-11-26T10:00:00+01:00')), false, ''],
      [iso(at('2026-11-26T10:00:00+01:00')), iso(at('2026-11-26T16:00:00+01:00')), true, ''],
      [iso(at('2026-11-26T16:00:00+01:00')), iso(at('2026-11-30T00:00:00+01:00')), false, ''],
    ]);
  });

  it('follows a DST change: the window stays at 10:00 local, one hour earlier in UTC', () => {
    const spans = calendarSpans(berlin, at('2026-03-26T00:00:00+01:00'), at('2026-03-31T00:00:00+02:00')).filter((s) => s.open);
    expect(spans.map((s) => iso(s.start))).toEqual([iso(at('2026-03-26T10:00:00+01:00')), iso(at('2026-03-30T10:00:00+02:00'))]);
  });

  it('is one open span without windows or freezes', () => {
    const spans = calendarSpans({ windows: [], freezes: [] }, 0, 7 * 86_400_000);
    expect(spans).toEqual([{ start: 0, end: 7 * 86_400_000, open: true }]);
  });
});

describe('upcomingFreezes', () => {
  it('lists freezes in force or ahead, soonest first, not those over', () => {
    const cal: ReleaseCalendar = {
      windows: [], timeZone: 'Europe/Berlin',
      freezes: [
        { from: '2026-12-24', to: '2026-12-26', reason: 'holidays' },
        { from: '2026-11-01', to: '2026-11-02', reason: 'over' },
        { from: '2026-12-01T08:00+01:00', to: '2026-12-02T08:00+01:00', reason: 'migration' },
      ],
    };
    const f = upcomingFreezes(cal, at('2026-12-01T12:00:00+01:00'));
    expect(f.map((x) => [x.freeze.reason, x.active, iso(x.end)])).toEqual([
      ['migration', true, iso(at('2026-12-02T08:00:00+01:00'))],
      ['holidays', false, iso(at('2026-12-27T00:00:00+01:00'))],
    ]);
  });
});
