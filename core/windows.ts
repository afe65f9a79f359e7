// Release windows and change freezes: whether releases may move at an instant, and when that next
// changes. Runs inside the release workflow, so it is deterministic: every function takes the
// instant as an argument (ms since epoch, workflow time), and nothing here reads a clock, the
// environment, the process's time zone or its locale. Time zones come from luxon's IANAZone, which
// asks Intl for the offset of an explicit zone at an explicit instant; everything else is integer
// arithmetic on "wall-clock ms" (the local date and time written as if it were UTC).
//
// Semantics, shared by every function below:
// - A WeeklyWindow opens on each listed day (in its own zone) at `start` and closes at `end` the
//   same day, or the next day when `end` <= `start` (crossing midnight; `start` == `end` is 24
//   hours). `end: '24:00'` is midnight at the end of the start day.
// - A wall-clock time maps to the first instant the zone's clock shows it. A time skipped by a
//   spring-forward maps to the instant of the jump. So on a spring-forward day a window
//   02:00-03:00 is empty, 02:00-04:00 lasts one hour, and 22:00-06:00 lasts 7 hours; on a fall-back
//   day a window 01:00-02:00 opens at the first 01:00 and closes at 02:00 (after the repeated
//   hour): two real hours; 22:00-06:00 lasts 9 hours. A window is always one interval: it does not
//   close and reopen inside a repeated hour.
// - Several windows (in any zones) form a union; windows that touch or overlap are one opening.
//   No windows at all means always open, except during freezes.
// - A Freeze blocks releases from `from` to `to`. A date 'YYYY-MM-DD' is the whole day, inclusive,
//   in the freeze's zone (else the calendar's): from 00:00 on `from` until 00:00 after `to`. A
//   date-time with an offset ('2026-12-24T18:00+01:00') is that exact instant; a date-time `to` is
//   the instant releases may move again.
// - Open intervals are half-open: a window 10:00-16:00 is open at 10:00:00.000 and closed at 16:00.
// Caveat: zone rules come from the ICU data in the Node binary. A Node upgrade that changes a
// zone's future rules changes answers for instants under those rules; the workflow should keep the
// opensAt it decided to wait for rather than recompute it on replay across such an upgrade.
import { IANAZone } from 'luxon';

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

/**
 * A weekly release window, as written in gantry.yaml.
 * @example { days: ['mon', 'tue', 'wed', 'thu'], start: '10:00', end: '16:00', timeZone: 'Europe/Berlin' }
 * @example { days: ['fri'], start: '22:00', end: '02:00', timeZone: 'Europe/Berlin' } // Fri 22:00 to Sat 02:00
 */
export interface WeeklyWindow {
  /** The days the window STARTS on (a window crossing midnight ends the next day). */
  days: Weekday[];
  /** 'HH:MM', 24-hour clock, 00:00-23:59. */
  start: string;
  /** 'HH:MM', 00:00-24:00; at or before `start` means the next day. */
  end: string;
  /** IANA zone, e.g. 'Europe/Berlin'. */
  timeZone: string;
}

/**
 * A change freeze: no release moves from `from` to `to`.
 * @example { from: '2026-11-26', to: '2026-11-30', reason: 'Black Friday' } // Thu 00:00 to Tue 00:00
 * @example { from: '2026-12-24T18:00+01:00', to: '2026-12-27T08:00+01:00', reason: 'holidays' }
 */
export interface Freeze {
  from: string;
  to: string;
  /** Shown while releases wait. */
  reason: string;
  /** Zone of date-only bounds; defaults to the calendar's timeZone. */
  timeZone?: string;
}

/** An environment's calendar. `timeZone` is the default zone of freezes given as dates. */
export interface ReleaseCalendar {
  windows: WeeklyWindow[];
  freezes: Freeze[];
  timeZone?: string;
}

/** What calendarState answers. `timeZone` is the zone opensAt/closesAt are best described in. */
export interface CalendarState {
  open: boolean;
  reason: string;
  /** When closed: the next instant releases may move (undefined: none within searchDays). */
  opensAt?: number;
  /** When open: the next instant releases stop (undefined: never, or not within searchDays). */
  closesAt?: number;
  /** When closed by a freeze: the freeze in force (of several, the one ending last). */
  freeze?: Freeze;
  timeZone?: string;
}

/** How far ahead calendarState looks for the next opening or closing of a window. */
export const searchDays = 400;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const dayNames = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

// ---------------------------------------------------------------------------------------------
// Parsing (shared by the schema and the evaluation)

/**
 * Minutes after midnight of a 'HH:MM' time; '24:00' (1440) only when `allowEndOfDay`.
 * @example parseClock('09:30') === 570; parseClock('9:30') === undefined; parseClock('24:00', true) === 1440
 */
export function parseClock(text: string, allowEndOfDay = false): number | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (m) return Number(m[1]) * 60 + Number(m[2]);
  return allowEndOfDay && text === '24:00' ? 1440 : undefined;
}

/** Whether Intl knows this IANA zone name (e.g. 'Europe/Berlin', 'UTC'; not 'Europe/Berln'). */
export function isTimeZone(name: string): boolean {
  return typeof name === 'string' && name !== '' && IANAZone.isValidZone(name);
}

/** A freeze bound: a whole day (days since epoch, in some zone) or an exact instant. */
export type FreezeBound = { day: number } | { instant: number };

/**
 * Parses a freeze bound: 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM[:SS[.sss]]' with 'Z' or '±HH:MM'.
 * @example parseFreezeBound('2026-11-27') → { day: 20784 }
 * @example parseFreezeBound('2026-11-27T08:00+01:00') → { instant: Date.parse('2026-11-27T07:00:00Z') }
 * @example parseFreezeBound('2026-02-30') and parseFreezeBound('2026-11-27T08:00') → undefined
 */
export function parseFreezeBound(text: string): FreezeBound | undefined {
  if (typeof text !== 'string') return undefined;
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (d) {
    const ms = utc(Number(d[1]), Number(d[2]), Number(d[3]), 0, 0, 0, 0);
    return ms === undefined ? undefined : { day: ms / DAY };
  }
  const t = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (!t) return undefined;
  const [, y, mo, da, h, mi, s, frac, , sign, oh, om] = t;
  const local = utc(Number(y), Number(mo), Number(da), Number(h), Number(mi), Number(s ?? 0), Number((frac ?? '0').padEnd(3, '0')));
  if (local === undefined || Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) return undefined;
  if (!sign) return { instant: local };
  if (Number(oh) > 18 || Number(om) > 59) return undefined;
  return { instant: local - (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * MINUTE };
}

function utc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number | undefined {
  const v = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(v);
  return back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d ? v : undefined;
}

// ---------------------------------------------------------------------------------------------
// Zones: wall-clock ms <-> instants

function zoneNamed(name: string): IANAZone {
  const z = IANAZone.create(name);
  if (!z.isValid) throw new Error(`unknown time zone '${name}': use an IANA zone name such as 'Europe/Berlin'`);
  return z;
}

/** UTC offset of the zone at instant t, in ms. */
const offsetAt = (z: IANAZone, t: number): number => Math.round(z.offset(t) * MINUTE);

/** The zone's wall clock at instant t, written as if it were UTC. */
const wallAt = (z: IANAZone, t: number): number => t + offsetAt(z, t);

/**
 * Every instant whose wall clock in the zone reads `wall`: one normally, two in a fall-back's
 * repeated hour, none in a spring-forward's gap. (Offsets lie within -12h..+14h, so every candidate
 * lies in wall-14h..wall+12h; sampling the offset at both ends and the middle finds them all, given
 * at most one transition per day, which holds for every zone in current use.)
 */
function instantsAt(z: IANAZone, wall: number): number[] {
  const out: number[] = [];
  for (const o of new Set([offsetAt(z, wall - 15 * HOUR), offsetAt(z, wall), offsetAt(z, wall + 13 * HOUR)])) {
    const t = wall - o;
    if (offsetAt(z, t) === o && !out.includes(t)) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

/** The first instant the zone's clock reads `wall`; for a time in a spring-forward gap, the jump. */
function instantOf(z: IANAZone, wall: number): number {
  const found = instantsAt(z, wall);
  if (found[0] !== undefined) return found[0];
  const before = offsetAt(z, wall - 15 * HOUR);
  const after = offsetAt(z, wall + 13 * HOUR);
  // In the gap: at wall-after the old offset still holds, at wall-before the new one already does.
  let lo = wall - after;
  let hi = wall - before;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetAt(z, mid) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

const weekdayIndex = (day: number): number => (((day + 3) % 7) + 7) % 7; // epoch day 0 was a Thursday
const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function formatOffset(ms: number): string {
  const m = Math.round(Math.abs(ms) / MINUTE);
  return `UTC${ms < 0 ? '-' : '+'}${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
}

/**
 * The instant as people in that zone read it: weekday, date, 24-hour time (seconds only when not
 * zero) and the zone. In a fall-back's repeated hour the offset is added, since the time alone is
 * ambiguous.
 * @example describeOpening(Date.parse('2026-11-23T09:00:00Z'), 'Europe/Berlin') === 'Mon 2026-11-23 10:00 Europe/Berlin'
 * @example describeOpening(Date.parse('2026-11-01T06:30:00Z'), 'America/New_York') === 'Sun 2026-11-01 01:30 America/New_York (UTC-05:00)'
 */
export function describeOpening(ms: number, timeZone: string): string {
  const z = zoneNamed(timeZone);
  const wall = wallAt(z, ms);
  const d = new Date(wall);
  const day = dayNames[weekdayIndex(Math.floor(wall / DAY))];
  const seconds = d.getUTCSeconds() || d.getUTCMilliseconds() ? `:${pad(d.getUTCSeconds())}` : '';
  const text = `${day} ${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${seconds} ${timeZone}`;
  return instantsAt(z, wall).length > 1 ? `${text} (${formatOffset(wall - ms)})` : text;
}

/**
 * A window as people read it.
 * @example describeWindow({ days: ['mon', 'tue', 'wed', 'thu'], start: '10:00', end: '16:00', timeZone: 'Europe/Berlin' }) === 'Mon-Thu 10:00-16:00 Europe/Berlin'
 * @example days ['mon', 'wed', 'fri', 'sat'] read 'Mon, Wed, Fri-Sat'
 */
export function describeWindow(w: WeeklyWindow): string {
  const idx = [...new Set(w.days.map((d) => weekdays.indexOf(d)))].filter((i) => i >= 0).sort((a, b) => a - b);
  const runs: string[] = [];
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1] === idx[j]! + 1) j++;
    runs.push(i === j ? dayNames[idx[i]!]! : `${dayNames[idx[i]!]}-${dayNames[idx[j]!]}`);
    i = j + 1;
  }
  return `${runs.join(', ')} ${w.start}-${w.end} ${w.timeZone}`;
}

// ---------------------------------------------------------------------------------------------
// Intervals

interface Span { start: number; end: number; zone: string; window: number }
interface Segment { start: number; end: number; endFreeze?: Freeze }

/** Occurrences of window `w` starting on local days that cover [from - 1 day, to + 1 day]. */
function windowSpans(w: WeeklyWindow, window: number, from: number, to: number): Span[] {
  const z = zoneNamed(w.timeZone);
  const start = parseClock(w.start);
  const end = parseClock(w.end, true);
  if (start === undefined || end === undefined) throw new Error(`window ${describeWindow(w)}: start and end must be 'HH:MM'`);
  const days = new Set(w.days.map((d) => weekdays.indexOf(d)));
  const spans: Span[] = [];
  const last = Math.floor(wallAt(z, to) / DAY) + 2;
  for (let day = Math.floor(wallAt(z, from) / DAY) - 2; day <= last; day++) {
    if (!days.has(weekdayIndex(day))) continue;
    const s = instantOf(z, day * DAY + start * MINUTE);
    const e = instantOf(z, (end <= start ? day + 1 : day) * DAY + end * MINUTE);
    if (e > s) spans.push({ start: s, end: e, zone: w.timeZone, window });
  }
  return spans;
}

/**
 * The instants a freeze covers, [start, end). Date bounds are whole days in `freeze.timeZone`,
 * else `defaultZone`, else UTC (the schema requires a zone for date bounds, so UTC is reached only
 * by unvalidated input).
 * @example freezeInterval({ from: '2026-11-26', to: '2026-11-27', reason: 'x' }, 'Europe/Berlin')
 *   → { start: Date.parse('2026-11-26T00:00+01:00'), end: Date.parse('2026-11-28T00:00+01:00') }
 */
export function freezeInterval(freeze: Freeze, defaultZone?: string): { start: number; end: number } {
  const from = parseFreezeBound(freeze.from);
  const to = parseFreezeBound(freeze.to);
  if (!from || !to) throw new Error(`freeze "${freeze.reason}": from and to must be dates 'YYYY-MM-DD' or date-times with an offset`);
  const zoneName = freeze.timeZone ?? defaultZone ?? 'UTC';
  const at = (b: FreezeBound, nextDay: boolean) => ('instant' in b ? b.instant : instantOf(zoneNamed(zoneName), (b.day + (nextDay ? 1 : 0)) * DAY));
  return { start: at(from, false), end: at(to, true) };
}

/** Sorted, merged union of spans; touching spans merge (no closing between adjacent windows). */
function union(spans: Span[]): { start: number; end: number }[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: { start: number; end: number }[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ start: s.start, end: s.end });
  }
  return out;
}

/** The open parts of `open` once the freezes are taken out, each knowing the freeze that ends it. */
function subtract(open: { start: number; end: number }[], freezes: { start: number; end: number; freeze: Freeze }[]): Segment[] {
  const byStart = [...freezes].sort((a, b) => a.start - b.start);
  const out: Segment[] = [];
  for (const o of open) {
    let cur = o.start;
    for (const f of byStart) {
      if (f.end <= cur || f.start >= o.end) continue;
      if (f.start > cur) out.push({ start: cur, end: f.start, endFreeze: f.freeze });
      cur = Math.max(cur, f.end);
      if (cur >= o.end) break;
    }
    if (cur < o.end) out.push({ start: cur, end: o.end });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The answer

/**
 * Whether releases may move at `atMs`, and when that next changes. When open, `closesAt` is the
 * first instant after `atMs` that is outside every window or inside a freeze; when closed,
 * `opensAt` is the first instant inside a window and outside every freeze. Both are searched up to
 * `searchDays` ahead (an opening after a freeze of a calendar without windows is exact however
 * far). Throws on an unknown zone or a bad time: validate with releaseCalendarSchema first.
 *
 * @example Mon-Thu 10:00-16:00 Europe/Berlin, at Fri 2026-11-27 15:55 Berlin:
 *   { open: false, opensAt: Date.parse('2026-11-30T10:00:00+01:00'), timeZone: 'Europe/Berlin',
 *     reason: 'closed: outside the release windows (Mon-Thu 10:00-16:00 Europe/Berlin); opens Mon 2026-11-30 10:00 Europe/Berlin' }
 * @example the same at Thu 2026-11-26 15:59 Berlin:
 *   { open: true, closesAt: Date.parse('2026-11-26T16:00:00+01:00'), timeZone: 'Europe/Berlin',
 *     reason: 'open: in window Mon-Thu 10:00-16:00 Europe/Berlin; closes Thu 2026-11-26 16:00 Europe/Berlin' }
 */
export function calendarState(cal: ReleaseCalendar, atMs: number): CalendarState {
  if (!Number.isFinite(atMs)) throw new Error(`calendarState needs an instant in ms, got ${atMs}`);
  // A freeze that ends before it starts (rejected by the schema) covers nothing.
  const freezes = cal.freezes.map((f) => ({ ...freezeInterval(f, cal.timeZone), freeze: f })).filter((f) => f.end > f.start);
  const active = freezes.filter((f) => f.start <= atMs && atMs < f.end).sort((a, b) => b.end - a.end)[0];
  const fallbackZone = cal.timeZone ?? cal.windows[0]?.timeZone ?? 'UTC';
  const freezeText = (f: Freeze) => `"${f.reason}" (${f.from} to ${f.to})`;

  if (cal.windows.length === 0) {
    const segs = subtract([{ start: -Infinity, end: Infinity }], freezes);
    const seg = segs.find((s) => s.start <= atMs && atMs < s.end);
    if (seg) {
      if (!Number.isFinite(seg.end)) return { open: true, reason: 'open: no release windows and no freeze ahead' };
      const zone = seg.endFreeze?.timeZone ?? fallbackZone;
      return { open: true, closesAt: seg.end, timeZone: zone, reason: `open: no release windows; closes ${describeOpening(seg.end, zone)} for the freeze ${freezeText(seg.endFreeze!)}` };
    }
    const next = segs.find((s) => s.start > atMs)!; // freezes are finite, so something follows
    const zone = active?.freeze.timeZone ?? fallbackZone;
    return { open: false, opensAt: next.start, timeZone: zone, freeze: active!.freeze, reason: `frozen: ${freezeText(active!.freeze)}; opens ${describeOpening(next.start, zone)}` };
  }

  // Look a week ahead first, then further: the common answer costs a few dozen offset look-ups.
  for (const horizon of [8, 64, searchDays]) {
    const until = atMs + horizon * DAY;
    const spans = cal.windows.flatMap((w, i) => windowSpans(w, i, atMs, until));
    const segs = subtract(union(spans), freezes);
    const last = horizon === searchDays;
    const seg = segs.find((s) => s.start <= atMs && atMs < s.end);
    if (seg) {
      const inside = spans.find((s) => s.start <= atMs && atMs < s.end)!;
      const here = `open: in window ${describeWindow(cal.windows[inside.window]!)}`;
      if (seg.end < until) {
        const zone = spans.find((s) => s.start < seg.end && seg.end <= s.end)?.zone ?? fallbackZone;
        const cause = seg.endFreeze ? ` for the freeze ${freezeText(seg.endFreeze)}` : '';
        return { open: true, closesAt: seg.end, timeZone: zone, reason: `${here}; closes ${describeOpening(seg.end, zone)}${cause}` };
      }
      if (last) return { open: true, reason: `${here}; no window closes within ${searchDays} days` };
      continue;
    }
    const next = segs.find((s) => s.start > atMs);
    const why = active
      ? `frozen: ${freezeText(active.freeze)}`
      : `closed: outside the release windows (${cal.windows.map(describeWindow).join('; ')})`;
    const frozen = active ? { freeze: active.freeze } : {};
    if (next && next.start < until) {
      const zone = spans.find((s) => s.start <= next.start && next.start < s.end)?.zone ?? fallbackZone;
      return { open: false, opensAt: next.start, timeZone: zone, ...frozen, reason: `${why}; opens ${describeOpening(next.start, zone)}` };
    }
    if (last) return { open: false, ...frozen, reason: `${why}; no window opens within ${searchDays} days` };
  }
  throw new Error('unreachable: the last horizon always answers');
}

// ---------------------------------------------------------------------------------------------
// Schema

// The workflow bundle imports this module and must not carry the schema library (see core/plan.ts),
// so zod is a type-only reference here and the caller (core/config.ts) passes its `z` in.
type Zod = typeof import('zod').z;

/**
 * The zod schema of an environment's `calendar:` in gantry.yaml, built with the caller's zod:
 * `calendar: releaseCalendarSchema(z).optional()`. `windows` and `freezes` default to [].
 * Errors say how to fix the value, at the path of the value to fix.
 * @example releaseCalendarSchema(z).parse({ timeZone: 'Europe/Berlin', windows: [{ days: ['mon'], start: '10:00', end: '16:00', timeZone: 'Europe/Berlin' }] })
 */
export function releaseCalendarSchema(z: Zod) {
  const zoneName = z.string({ error: "timeZone is an IANA zone name such as 'Europe/Berlin'" }).refine(isTimeZone, {
    error: (issue) => `unknown time zone ${JSON.stringify(issue.input)}: use an IANA zone name such as 'Europe/Berlin', 'America/New_York' or 'UTC'`,
  });
  const startMessage = "start is a 24-hour time 'HH:MM' with two-digit hours, e.g. '09:00' or '22:30' (quote it in YAML)";
  const endMessage = "end is a 24-hour time 'HH:MM', e.g. '16:00', or '24:00' for the end of the day; an end at or before start crosses midnight";
  const dayMessage = `days are ${weekdays.join(', ')} (lowercase, three letters)`;
  const day = z.enum(weekdays, { error: (issue) => `unknown day ${JSON.stringify(issue.input)}: ${dayMessage}` });
  const window = z.strictObject({
    days: z.array(day, { error: 'days is a list such as [mon, tue, wed, thu]' })
      .min(1, { error: 'a window needs at least one day, e.g. days: [mon, tue, wed, thu]' })
      .refine((ds) => new Set(ds).size === ds.length, { error: 'a day is listed twice: list each day once' }),
    start: z.string({ error: startMessage }).refine((v) => parseClock(v) !== undefined, { error: startMessage }),
    end: z.string({ error: endMessage }).refine((v) => parseClock(v, true) !== undefined, { error: endMessage }),
    timeZone: zoneName,
  });
  const boundMessage = (key: string) =>
    `${key} is a date '2026-12-24' (the whole day, in the freeze's time zone) or a date-time with an offset, e.g. '2026-12-24T18:00+01:00'`;
  const bound = (key: string) => z.string({ error: boundMessage(key) }).refine((v) => parseFreezeBound(v) !== undefined, { error: boundMessage(key) });
  const freeze = z.strictObject({
    from: bound('from'),
    to: bound('to'),
    reason: z.string({ error: "give a reason, shown while releases wait, e.g. reason: 'Black Friday'" })
      .refine((v) => v.trim() !== '', { error: "give a reason, shown while releases wait, e.g. reason: 'Black Friday'" }),
    timeZone: zoneName.optional(),
  });
  return z.strictObject({
    timeZone: zoneName.optional(),
    windows: z.array(window).default([]),
    freezes: z.array(freeze).default([]),
  }).superRefine((cal, ctx) => {
    // Runs even when parts failed above, so look only at freezes whose own fields are valid.
    const calZone = cal.timeZone !== undefined && isTimeZone(cal.timeZone) ? cal.timeZone : undefined;
    cal.freezes.forEach((f, i) => {
      const from = parseFreezeBound(f.from);
      const to = parseFreezeBound(f.to);
      if (!from || !to || (f.timeZone !== undefined && !isTimeZone(f.timeZone))) return;
      if (('day' in from || 'day' in to) && f.timeZone === undefined && cal.timeZone === undefined) {
        ctx.addIssue({
          code: 'custom', path: ['freezes', i, 'timeZone'],
          message: "a freeze given as dates needs a time zone: add timeZone to the freeze or to the calendar (e.g. timeZone: 'Europe/Berlin'), or give from and to as date-times with an offset",
        });
        return;
      }
      if (f.timeZone === undefined && calZone === undefined && ('day' in from || 'day' in to)) return; // the bad zone is reported already
      const { start, end } = freezeInterval(f, calZone);
      if (start >= end) {
        ctx.addIssue({
          code: 'custom', path: ['freezes', i, 'to'],
          message: `the freeze ends before it starts: to (${f.to}) is not after from (${f.from}); swap them (dates are whole days, inclusive: from and to the same date freezes that one day)`,
        });
      }
    });
  });
}
