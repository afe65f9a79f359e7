// Release calendar benchmark (`npx tsx bench/calendar.ts`): how long one calendarState evaluation
// takes (it runs inside the release workflow's tasks, whose budget is a few seconds shared with every
// other workflow on the worker), printing `BENCH calendar_eval_ms_<case> <median> ms` and
// `BENCH calendar_offset_lookups_<case> <n> count` (Intl look-ups of a zone's UTC offset, the cost
// that used to grow with every window and every day searched) lines. Cases: 1, 10 and 150
// always-open windows (150 is over the schema's bound, as an old config or a direct start could
// be), the largest calendar the schema allows, a realistic calendar at several instants, and two
// zones whose windows chain into a calendar that never closes (the costliest shape left). For
// comparison, the evaluation before issue 12 (test/property/windows-oracle.ts) on 1 and 10
// always-open windows: `calendar_eval_ms_before_*`. Measured in this process, outside the workflow
// sandbox (the sandbox is slower by a small factor).
import { performance } from 'node:perf_hooks';
import { IANAZone } from 'luxon';
import { calendarState, maxFreezes, maxWindows, maxZones, type ReleaseCalendar, type WeeklyWindow, type Weekday } from '../core/windows.js';
import { oracleCalendarState } from '../test/property/windows-oracle.js';

function bench(name: string, value: number, unit: string): void {
  console.log(`BENCH ${name} ${Number.isInteger(value) ? value : value.toFixed(3)} ${unit}`);
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };

let lookups = 0;
const offset = IANAZone.prototype.offset;
IANAZone.prototype.offset = function counted(this: IANAZone, ts: number): number {
  lookups++;
  return offset.call(this, ts);
};

/** Median ms of one evaluation over `instants` (each evaluated `rounds` times), and look-ups per evaluation. */
function measure(name: string, cal: ReleaseCalendar, instants: number[], rounds: number, evaluate = calendarState): void {
  for (const t of instants) evaluate(cal, t); // warm up (luxon's formatters, the JIT)
  const times: number[] = [];
  lookups = 0;
  for (let r = 0; r < rounds; r++) {
    for (const t of instants) {
      const t0 = performance.now();
      evaluate(cal, t);
      times.push(performance.now() - t0);
    }
  }
  bench(`calendar_eval_ms_${name}`, median(times), 'ms');
  bench(`calendar_offset_lookups_${name}`, Math.round(lookups / (rounds * instants.length)), 'count');
}

const everyDay: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const always = (timeZone = 'Europe/Berlin'): WeeklyWindow => ({ days: everyDay, start: '00:00', end: '00:00', timeZone });
const alwaysOpen = (n: number): ReleaseCalendar => ({ windows: Array.from({ length: n }, () => always()), freezes: [] });

// Instants through a year, including both Berlin offset changes and a freeze.
const instants = [
  '2026-01-05T09:00:00Z', '2026-03-28T23:30:00Z', '2026-03-29T01:30:00Z', '2026-06-15T12:00:00Z',
  '2026-10-25T00:30:00Z', '2026-11-27T15:55:00+01:00', '2026-12-25T12:00:00Z',
].map(Date.parse);

const realistic: ReleaseCalendar = {
  timeZone: 'Europe/Berlin',
  windows: [
    { days: ['mon', 'tue', 'wed', 'thu'], start: '10:00', end: '16:00', timeZone: 'Europe/Berlin' },
    { days: ['fri'], start: '22:00', end: '02:00', timeZone: 'America/New_York' },
  ],
  freezes: [
    { from: '2026-11-26', to: '2026-11-30', reason: 'Black Friday' },
    { from: '2026-12-24T18:00+01:00', to: '2026-12-27T08:00+01:00', reason: 'holidays' },
  ],
};

const zones = ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Asia/Kolkata', 'Australia/Sydney', 'America/Los_Angeles', 'Europe/London', 'America/Sao_Paulo', 'Africa/Cairo', 'UTC'];
/** The schema's maximum: maxWindows windows over maxZones zones, maxFreezes freezes through two years. */
const largest: ReleaseCalendar = {
  timeZone: 'Europe/Berlin',
  windows: Array.from({ length: maxWindows }, (_, i) => ({
    days: [everyDay[i % 7]!, everyDay[(i + 2) % 7]!], start: `${String(8 + (i % 4)).padStart(2, '0')}:00`, end: `${String(14 + (i % 5)).padStart(2, '0')}:30`, timeZone: zones[i % maxZones]!,
  })),
  freezes: Array.from({ length: maxFreezes }, (_, i) => {
    const d = new Date(Date.parse('2026-01-03T00:00:00Z') + i * 7 * 86_400_000).toISOString().slice(0, 10);
    return { from: d, to: d, reason: `freeze ${i}` };
  }),
};

/** UTC 00:00-13:00 and Berlin 12:00-02:00 every day: never closed, but neither zone alone is always open. */
const chained: ReleaseCalendar = {
  windows: [{ days: everyDay, start: '00:00', end: '13:00', timeZone: 'UTC' }, { days: everyDay, start: '12:00', end: '02:00', timeZone: 'Europe/Berlin' }],
  freezes: [],
};

measure('always_open_1', alwaysOpen(1), instants, 30);
measure('always_open_10', alwaysOpen(10), instants, 30);
measure('always_open_150', alwaysOpen(150), instants, 30);
measure(`always_open_${maxWindows}_schema_max`, alwaysOpen(maxWindows), instants, 30);
measure('realistic', realistic, instants, 30);
measure('largest_allowed', largest, instants, 5);
measure('chained_zones', chained, instants, 3);
measure('before_always_open_1', alwaysOpen(1), instants.slice(0, 2), 2, oracleCalendarState);
measure('before_always_open_10', alwaysOpen(10), instants.slice(0, 1), 1, oracleCalendarState);
