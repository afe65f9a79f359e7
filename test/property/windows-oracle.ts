// The slow reference for the property tests: calendarState as it was before issue 12 (commit
// 4a12abb), kept verbatim apart from names. It lays out every window's occurrence on every day of
// the search horizon and asks Intl for each instant, so it is slow but simple; the optimized
// core/windows.ts must give the same answers (test/property/windows.property.test.ts).
import { IANAZone } from 'luxon';
import { parseClock, parseFreezeBound, searchDays, weekdays, type CalendarState, type Freeze, type FreezeBound, type ReleaseCalendar, type WeeklyWindow } from '../../core/windows.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const dayNames = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;

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
function describeOpening(ms: number, timeZone: string): string {
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
function describeWindow(w: WeeklyWindow): string {
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
function freezeInterval(freeze: Freeze, defaultZone?: string): { start: number; end: number } {
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
export function oracleCalendarState(cal: ReleaseCalendar, atMs: number): CalendarState {
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
