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
//
// Cost: an evaluation runs inside a workflow task (a few seconds at most, shared with every other
// workflow on the worker), so it must stay cheap whatever the calendar says. The windows of each
// zone are merged in wall-clock time before any instant is computed (150 copies of one window cost
// what one costs), a zone whose windows cover the whole week is always open, the search steps from
// opening to opening rather than laying out every day ahead, and each zone's UTC offsets are read
// from Intl once per UTC midnight touched per evaluation (plus a binary search on a day when the
// offset changes). The schema bounds what is left (maxWindows, maxFreezes, maxZones): the costliest
// shape is windows of several zones that chain into one opening longer than the search, one look-up
// per zone per day searched (bench/calendar.ts prints the figures). Offsets are assumed to change
// at most once in any day in a zone (true of every zone in current use).
import { IANAZone } from 'luxon';
import { cap, displayLine, echo } from './text.js';

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

const knownZones = new Map<string, boolean>();

/** Whether Intl knows this IANA zone name (e.g. 'Europe/Berlin', 'UTC'; not 'Europe/Berln'). */
export function isTimeZone(name: string): boolean {
  // IANA names are short (the longest is 32 characters); don't hand Intl a megabyte.
  if (typeof name !== 'string' || name === '' || name.length > 64) return false;
  let known = knownZones.get(name);
  if (known === undefined) {
    known = IANAZone.isValidZone(name);
    if (knownZones.size < 1000) knownZones.set(name, known);
  }
  return known;
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
  if (!z.isValid) throw new Error(`unknown time zone ${echo(name)}: use an IANA zone name such as 'Europe/Berlin'`);
  return z;
}

/**
 * A zone's UTC offsets, read from Intl at most twice per UTC day touched and kept for one
 * evaluation. The offset at each UTC midnight is read once; a day whose two midnights disagree has
 * one offset change inside it, found once by binary search to the second (luxon reads offsets per
 * whole second). So offset(t) equals luxon's for every t, given that a zone changes its offset at
 * most once in any day, as every zone in current use does (instantsAt relies on the same).
 */
class ZoneClock {
  private readonly atMidnight = new Map<number, number>();
  private readonly changeIn = new Map<number, number>();
  constructor(readonly name: string, private readonly zone: IANAZone) {}

  private read(t: number): number {
    return Math.round(this.zone.offset(t) * MINUTE);
  }

  private midnight(day: number): number {
    let o = this.atMidnight.get(day);
    if (o === undefined) this.atMidnight.set(day, (o = this.read(day * DAY)));
    return o;
  }

  /** UTC offset of the zone at instant t, in ms. */
  offset(t: number): number {
    const day = Math.floor(t / DAY);
    const before = this.midnight(day);
    const after = this.midnight(day + 1);
    if (before === after) return before;
    let change = this.changeIn.get(day);
    if (change === undefined) {
      let lo = day * DAY; // reads `before`
      let hi = lo + DAY; // reads something else
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (this.read(mid) === before) lo = mid;
        else hi = mid;
      }
      this.changeIn.set(day, (change = hi));
    }
    return t < change ? before : after;
  }
}

/** The zones of one evaluation, each with its offset cache. */
class Zones {
  private readonly clocks = new Map<string, ZoneClock>();
  get(name: string): ZoneClock {
    let c = this.clocks.get(name);
    if (!c) this.clocks.set(name, (c = new ZoneClock(name, zoneNamed(name))));
    return c;
  }
}

/** The zone's wall clock at instant t, written as if it were UTC. */
const wallAt = (z: ZoneClock, t: number): number => t + z.offset(t);

/**
 * Every instant whose wall clock in the zone reads `wall`: one normally, two in a fall-back's
 * repeated hour, none in a spring-forward's gap. (Offsets lie within -12h..+14h, so every candidate
 * lies in wall-14h..wall+12h; sampling the offset at both ends and the middle finds them all, given
 * at most one transition per day, which holds for every zone in current use.)
 */
function instantsAt(z: ZoneClock, wall: number): number[] {
  const out: number[] = [];
  for (const o of new Set([z.offset(wall - 15 * HOUR), z.offset(wall), z.offset(wall + 13 * HOUR)])) {
    const t = wall - o;
    if (z.offset(t) === o && !out.includes(t)) out.push(t);
  }
  return out.sort((a, b) => a - b);
}

/**
 * The first instant the zone's clock reads `wall`; for a time in a spring-forward gap, the jump.
 * Monotone: a later wall time never maps to an earlier instant (see calendarState).
 */
function instantOf(z: ZoneClock, wall: number): number {
  const found = instantsAt(z, wall);
  if (found[0] !== undefined) return found[0];
  const before = z.offset(wall - 15 * HOUR);
  const after = z.offset(wall + 13 * HOUR);
  // In the gap: at wall-after the old offset still holds, at wall-before the new one already does.
  let lo = wall - after;
  let hi = wall - before;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (z.offset(mid) === before) lo = mid;
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
  return describeIn(new Zones().get(timeZone), ms);
}

function describeIn(z: ZoneClock, ms: number): string {
  const wall = wallAt(z, ms);
  const d = new Date(wall);
  const day = dayNames[weekdayIndex(Math.floor(wall / DAY))];
  const seconds = d.getUTCSeconds() || d.getUTCMilliseconds() ? `:${pad(d.getUTCSeconds())}` : '';
  const text = `${day} ${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${seconds} ${z.name}`;
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

interface Interval { start: number; end: number }
interface FreezeSpan extends Interval { freeze: Freeze }

const WEEK = 7 * DAY;
/** Wall-clock ms of Monday 00:00 of week `w` (week 0 starts Mon 1970-01-05, epoch day 4). */
const weekStart = (w: number): number => (4 + 7 * w) * DAY;

/** A window with its times parsed and its zone resolved. */
interface Compiled { window: WeeklyWindow; clock: ZoneClock; start: number; end: number; days: Set<number> }

function compile(w: WeeklyWindow, zones: Zones): Compiled {
  const start = parseClock(w.start);
  const end = parseClock(w.end, true);
  if (start === undefined || end === undefined) throw new Error(`window ${describeWindow(w)}: start and end must be 'HH:MM'`);
  return { window: w, clock: zones.get(w.timeZone), start: start * MINUTE, end: end * MINUTE, days: new Set(w.days.map((d) => weekdays.indexOf(d))) };
}

/** The occurrence of a window that starts on local day `day`, as wall-clock ms. */
function occurrenceWall(c: Compiled, day: number): Interval {
  return { start: day * DAY + c.start, end: (c.end <= c.start ? day + 1 : day) * DAY + c.end };
}

/**
 * Whether some occurrence [start, end) of the window, as instants, passes `test`, among those that
 * start on the local days around instant t (an occurrence lasts at most two wall-clock days).
 */
function someOccurrence(c: Compiled, t: number, test: (start: number, end: number) => boolean): boolean {
  const day = Math.floor(wallAt(c.clock, t) / DAY);
  for (let d = day - 2; d <= day + 2; d++) {
    if (!c.days.has(weekdayIndex(d))) continue;
    const wall = occurrenceWall(c, d);
    const s = instantOf(c.clock, wall.start);
    const e = instantOf(c.clock, wall.end);
    if (e > s && test(s, e)) return true;
  }
  return false;
}

/**
 * The windows of one zone merged into one weekly pattern: sorted, disjoint, non-touching wall-clock
 * ranges in ms from Monday 00:00, within [0, WEEK] (a range reaching WEEK continues at 0 of the next
 * week). `always` when they cover the whole week.
 */
interface ZoneWeek { clock: ZoneClock; week: Interval[]; always: boolean }

function zoneWeeks(windows: Compiled[]): ZoneWeek[] {
  const byZone = new Map<string, { clock: ZoneClock; parts: Interval[] }>();
  for (const c of windows) {
    let z = byZone.get(c.clock.name);
    if (!z) byZone.set(c.clock.name, (z = { clock: c.clock, parts: [] }));
    for (const d of c.days) {
      if (d < 0) continue;
      const { start, end } = occurrenceWall(c, d);
      if (end <= WEEK) z.parts.push({ start, end });
      else z.parts.push({ start, end: WEEK }, { start: 0, end: end - WEEK });
    }
  }
  // A zone whose windows list no known day (only unvalidated input) has no openings at all.
  return [...byZone.values()].filter(({ parts }) => parts.length > 0).map(({ clock, parts }) => {
    const week = mergeTouching(parts);
    return { clock, week, always: week.length === 1 && week[0]!.start <= 0 && week[0]!.end >= WEEK };
  });
}

/** Sorted, merged union; touching intervals merge (no closing between adjacent windows). */
function mergeTouching(parts: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const p of [...parts].sort((a, b) => a.start - b.start || a.end - b.end)) {
    const last = out[out.length - 1];
    if (last && p.start <= last.end) last.end = Math.max(last.end, p.end);
    else out.push({ start: p.start, end: p.end });
  }
  return out;
}

/**
 * A zone's openings as instants, in order, each ending after `from`: the weekly pattern laid out
 * week by week from the week before `from`'s (any opening still open at `from` started after the
 * pattern's last gap before it, so within that week), ranges touching across a week boundary
 * merged, then each mapped through instantOf. Consecutive openings may touch (a gap inside a
 * spring-forward jump is empty); the union below merges them.
 */
function* zoneOpenings(z: ZoneWeek, from: number): Generator<Interval, void, undefined> {
  if (z.always) {
    yield { start: -Infinity, end: Infinity };
    return;
  }
  let pending: Interval | undefined;
  for (let w = Math.floor((wallAt(z.clock, from) - weekStart(0)) / WEEK) - 1; ; w++) {
    const base = weekStart(w);
    for (const r of z.week) {
      const start = base + r.start;
      const end = base + r.end;
      if (pending && start <= pending.end) {
        pending.end = Math.max(pending.end, end);
        continue;
      }
      if (pending) {
        const s = instantOf(z.clock, pending.start);
        const e = instantOf(z.clock, pending.end);
        if (e > s && e > from) yield { start: s, end: e };
      }
      pending = { start, end };
    }
  }
}

/**
 * The opening of the union of all windows that contains `t`, else the first one after `t` (touching
 * openings merged). Its end is exact below `limit`; once the merged opening reaches `limit` it stops
 * growing, so a calendar open for months costs no more than one open for a week.
 */
function unionOpening(zones: ZoneWeek[], t: number, limit: number): Interval | undefined {
  const streams = zones.map((z) => {
    const it = zoneOpenings(z, t);
    return { it, head: it.next().value };
  });
  const advance = (s: (typeof streams)[number]) => { s.head = s.it.next().value; };
  let first: (typeof streams)[number] | undefined;
  for (const s of streams) if (s.head && (!first || s.head.start < first.head!.start)) first = s;
  if (!first) return undefined;
  const cur = { ...first.head! };
  advance(first);
  for (let grew = true; grew && cur.end < limit;) {
    grew = false;
    for (const s of streams) {
      while (s.head && s.head.start <= cur.end && cur.end < limit) {
        cur.end = Math.max(cur.end, s.head.end);
        advance(s);
        grew = true;
      }
    }
  }
  return cur;
}

/**
 * The instants a freeze covers, [start, end). Date bounds are whole days in `freeze.timeZone`,
 * else `defaultZone`, else UTC (the schema requires a zone for date bounds, so UTC is reached only
 * by unvalidated input).
 * @example freezeInterval({ from: '2026-11-26', to: '2026-11-27', reason: 'x' }, 'Europe/Berlin')
 *   → { start: Date.parse('2026-11-26T00:00+01:00'), end: Date.parse('2026-11-28T00:00+01:00') }
 */
export function freezeInterval(freeze: Freeze, defaultZone?: string): { start: number; end: number } {
  return freezeSpan(freeze, defaultZone, new Zones());
}

function freezeBounds(freeze: Freeze): { from: FreezeBound; to: FreezeBound } {
  const from = parseFreezeBound(freeze.from);
  const to = parseFreezeBound(freeze.to);
  if (!from || !to) throw new Error(`freeze ${freezeText(freeze)}: from and to must be dates 'YYYY-MM-DD' or date-times with an offset`);
  return { from, to };
}

function freezeSpan(freeze: Freeze, defaultZone: string | undefined, zones: Zones): Interval {
  const { from, to } = freezeBounds(freeze);
  const zoneName = freeze.timeZone ?? defaultZone ?? 'UTC';
  const at = (b: FreezeBound, nextDay: boolean) => ('instant' in b ? b.instant : instantOf(zones.get(zoneName), (b.day + (nextDay ? 1 : 0)) * DAY));
  return { start: at(from, false), end: at(to, true) };
}

/**
 * Whether a freeze certainly ended before `t`, read from its text alone (no zone look-up): a date
 * `to` ends at the next local midnight, which is within 14 hours of that UTC midnight.
 */
function endedBefore(freeze: Freeze, t: number): boolean {
  const to = parseFreezeBound(freeze.to);
  if (!to) return false;
  return 'instant' in to ? to.instant <= t : (to.day + 1) * DAY + 15 * HOUR <= t;
}

/** The open parts of `open` once the freezes are taken out, each knowing the freeze that ends it. */
function subtract(open: Interval[], freezes: FreezeSpan[]): (Interval & { endFreeze?: Freeze })[] {
  const byStart = [...freezes].sort((a, b) => a.start - b.start);
  const out: (Interval & { endFreeze?: Freeze })[] = [];
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

/** How a freeze reads in a reason: its reason (controls escaped, capped) and its bounds. */
function freezeText(f: Freeze): string {
  return `"${cap(displayLine(String(f.reason)), maxFreezeReason)}" (${f.from} to ${f.to})`;
}

/** The windows listed in a "closed" reason: each distinct one, the first few. */
function windowList(windows: WeeklyWindow[]): string {
  const shown = [...new Set(windows.map(describeWindow))];
  const listed = 10;
  return shown.length <= listed ? shown.join('; ') : `${shown.slice(0, listed).join('; ')}; and ${shown.length - listed} more`;
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
 * How (the cost does not grow with the weeks searched, nor with duplicate windows): the windows of
 * each zone are merged in wall-clock time into one weekly pattern, then mapped to instants.
 * instantOf is monotone (a later wall time never maps to an earlier instant), so mapping the
 * merged wall-clock ranges gives the same union as mapping each occurrence: for ranges [a1, b1),
 * [a2, b2) with a1 <= a2 <= b1, instantOf(a2) <= instantOf(b1), so the mapped ranges touch or
 * overlap and their union is [instantOf(a1), instantOf(max(b1, b2))); an occurrence that maps to
 * nothing (inside a spring-forward gap) adds nothing on either side. A zone whose pattern covers
 * the week is always open. The search then steps from opening to opening and over freezes, each
 * step looking only at the weeks around it, and the zone offsets it reads are cached for the
 * evaluation (see ZoneClock).
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
  const zones = new Zones();
  // Freezes over before atMs change nothing from atMs on: skip them before any zone look-up.
  // A freeze that ends before it starts (rejected by the schema) covers nothing.
  const freezes: FreezeSpan[] = cal.freezes
    .filter((f) => { freezeBounds(f); return !endedBefore(f, atMs); })
    .map((f) => ({ ...freezeSpan(f, cal.timeZone, zones), freeze: f }))
    .filter((f) => f.end > f.start);
  const active = freezes.filter((f) => f.start <= atMs && atMs < f.end).sort((a, b) => b.end - a.end)[0];
  const fallbackZone = cal.timeZone ?? cal.windows[0]?.timeZone ?? 'UTC';
  const describe = (ms: number, zone: string) => describeIn(zones.get(zone), ms);

  if (cal.windows.length === 0) {
    const segs = subtract([{ start: -Infinity, end: Infinity }], freezes);
    const seg = segs.find((s) => s.start <= atMs && atMs < s.end);
    if (seg) {
      if (!Number.isFinite(seg.end)) return { open: true, reason: 'open: no release windows and no freeze ahead' };
      const zone = seg.endFreeze?.timeZone ?? fallbackZone;
      return { open: true, closesAt: seg.end, timeZone: zone, reason: `open: no release windows; closes ${describe(seg.end, zone)} for the freeze ${freezeText(seg.endFreeze!)}` };
    }
    const next = segs.find((s) => s.start > atMs)!; // freezes are finite, so something follows
    const zone = active?.freeze.timeZone ?? fallbackZone;
    return { open: false, opensAt: next.start, timeZone: zone, freeze: active!.freeze, reason: `frozen: ${freezeText(active!.freeze)}; opens ${describe(next.start, zone)}` };
  }

  const windows = cal.windows.map((w) => compile(w, zones));
  const weeks = zoneWeeks(windows);
  const until = atMs + searchDays * DAY;
  /** The zone of the first window (in the order written) with an occurrence passing `test` near t. */
  const zoneWhere = (t: number, test: (start: number, end: number) => boolean) =>
    windows.find((c) => someOccurrence(c, t, test))?.window.timeZone ?? fallbackZone;

  const opening = active ? undefined : unionOpening(weeks, atMs, until);
  if (opening && opening.start <= atMs) {
    const inside = windows.find((c) => someOccurrence(c, atMs, (s, e) => s <= atMs && atMs < e)) ?? windows[0]!;
    const here = `open: in window ${describeWindow(inside.window)}`;
    // atMs is in no freeze, so the first freeze starting before the opening ends closes it.
    const seg = subtract([{ start: atMs, end: opening.end }], freezes)[0]!;
    if (seg.end < until) {
      const zone = zoneWhere(seg.end, (s, e) => s < seg.end && seg.end <= e);
      const cause = seg.endFreeze ? ` for the freeze ${freezeText(seg.endFreeze)}` : '';
      return { open: true, closesAt: seg.end, timeZone: zone, reason: `${here}; closes ${describe(seg.end, zone)}${cause}` };
    }
    return { open: true, reason: `${here}; no window closes within ${searchDays} days` };
  }

  const why = active ? `frozen: ${freezeText(active.freeze)}` : `closed: outside the release windows (${windowList(cal.windows)})`;
  const frozen = active ? { freeze: active.freeze } : {};
  // Step forward: out of each freeze, then to the next opening, until an instant is in a window and
  // in no freeze. Each freeze is left at most once, so this takes at most 2 * freezes + 2 steps.
  let t = atMs;
  let opensAt: number | undefined;
  while (t < until) {
    const here = t;
    const over = freezes.filter((f) => f.start <= here && here < f.end);
    if (over.length > 0) {
      t = Math.max(...over.map((f) => f.end));
      continue;
    }
    const next = t === atMs && opening ? opening : unionOpening(weeks, t, until);
    if (!next || next.start >= until) break;
    if (next.start <= t) { opensAt = t; break; }
    t = next.start;
  }
  if (opensAt !== undefined && opensAt < until) {
    const at = opensAt;
    const zone = zoneWhere(at, (s, e) => s <= at && at < e);
    return { open: false, opensAt: at, timeZone: zone, ...frozen, reason: `${why}; opens ${describe(at, zone)}` };
  }
  return { open: false, ...frozen, reason: `${why}; no window opens within ${searchDays} days` };
}

// ---------------------------------------------------------------------------------------------
// Schema

/** The most windows a calendar may have (evaluation cost grows with them; 7 days x a few zones is plenty). */
export const maxWindows = 50;
/** The most freezes a calendar may have. */
export const maxFreezes = 100;
/** The most distinct time zones a calendar may use (windows, freezes and its own). */
export const maxZones = 10;
/** The longest freeze reason, in characters. */
export const maxFreezeReason = 200;

// The workflow bundle imports this module and must not carry the schema library (see core/plan.ts),
// so zod is a type-only reference here and the caller (core/config.ts) passes its `z` in.
type Zod = typeof import('zod').z;

/**
 * The zod schema of an environment's `calendar:` in gantry.yaml, built with the caller's zod:
 * `calendar: releaseCalendarSchema(z).optional()`. `windows` and `freezes` default to [].
 * Errors say how to fix the value, at the path of the value to fix. A calendar is bounded
 * (maxWindows, maxFreezes, maxZones, maxFreezeReason) so that evaluating it inside a workflow task
 * stays cheap.
 * @example releaseCalendarSchema(z).parse({ timeZone: 'Europe/Berlin', windows: [{ days: ['mon'], start: '10:00', end: '16:00', timeZone: 'Europe/Berlin' }] })
 */
export function releaseCalendarSchema(z: Zod) {
  const zoneName = z.string({ error: "timeZone is an IANA zone name such as 'Europe/Berlin'" }).refine(isTimeZone, {
    error: (issue) => `unknown time zone ${echo(issue.input)}: use an IANA zone name such as 'Europe/Berlin', 'America/New_York' or 'UTC'`,
  });
  const startMessage = "start is a 24-hour time 'HH:MM' with two-digit hours, e.g. '09:00' or '22:30' (quote it in YAML)";
  const endMessage = "end is a 24-hour time 'HH:MM', e.g. '16:00', or '24:00' for the end of the day; an end at or before start crosses midnight";
  const dayMessage = `days are ${weekdays.join(', ')} (lowercase, three letters)`;
  const day = z.enum(weekdays, { error: (issue) => `unknown day ${echo(issue.input)}: ${dayMessage}` });
  const window = z.strictObject({
    days: z.array(day, { error: 'days is a list such as [mon, tue, wed, thu]' })
      .min(1, { error: 'a window needs at least one day, e.g. days: [mon, tue, wed, thu]' })
      .max(weekdays.length, { error: 'a day is listed twice: list each day once (a week has 7 days)' })
      .refine((ds) => new Set(ds).size === ds.length, { error: 'a day is listed twice: list each day once' }),
    start: z.string({ error: startMessage }).refine((v) => parseClock(v) !== undefined, { error: startMessage }),
    end: z.string({ error: endMessage }).refine((v) => parseClock(v, true) !== undefined, { error: endMessage }),
    timeZone: zoneName,
  });
  const boundMessage = (key: string) =>
    `${key} is a date '2026-12-24' (the whole day, in the freeze's time zone) or a date-time with an offset, e.g. '2026-12-24T18:00+01:00'`;
  const bound = (key: string) => z.string({ error: boundMessage(key) }).refine((v) => parseFreezeBound(v) !== undefined, { error: boundMessage(key) });
  const reasonMessage = "give a reason, shown while releases wait, e.g. reason: 'Black Friday'";
  const freeze = z.strictObject({
    from: bound('from'),
    to: bound('to'),
    reason: z.string({ error: reasonMessage })
      .refine((v) => v.trim() !== '', { error: reasonMessage })
      .refine((v) => v.length <= maxFreezeReason, {
        error: (issue) => `the reason is ${(issue.input as string).length} characters; keep it to ${maxFreezeReason} (it is shown in every status and notice while releases wait)`,
      }),
    timeZone: zoneName.optional(),
  });
  return z.strictObject({
    timeZone: zoneName.optional(),
    windows: z.array(window).max(maxWindows, {
      error: (issue) => `${lengthOf(issue.input)} windows; a calendar has at most ${maxWindows}: list several days in one window (days: [mon, tue, wed, thu]) and drop duplicates; a window on every day from 00:00 to 00:00 is open all the time, and so is a calendar without windows`,
    }).default([]),
    freezes: z.array(freeze).max(maxFreezes, {
      error: (issue) => `${lengthOf(issue.input)} freezes; a calendar has at most ${maxFreezes}: remove freezes that are over and join freezes that touch`,
    }).default([]),
  }).superRefine((cal, ctx) => {
    // Runs even when parts failed above, so look only at values whose own fields are valid.
    const seen = new Set<string>();
    const zonesAt: [string, (string | number)[]][] = [
      ...(cal.timeZone !== undefined ? [[cal.timeZone, ['timeZone']] as [string, (string | number)[]]] : []),
      ...cal.windows.map((w, i): [string, (string | number)[]] => [w.timeZone, ['windows', i, 'timeZone']]),
      ...cal.freezes.flatMap((f, i): [string, (string | number)[]][] => (f.timeZone !== undefined ? [[f.timeZone, ['freezes', i, 'timeZone']]] : [])),
    ];
    for (const [zone, path] of zonesAt) {
      if (typeof zone !== 'string' || seen.has(zone)) continue;
      seen.add(zone);
      if (seen.size === maxZones + 1) {
        ctx.addIssue({
          code: 'custom', path,
          message: `${echo(zone)} is time zone number ${maxZones + 1}; a calendar uses at most ${maxZones}: give windows and freezes in fewer zones (a window's times may be written in any zone)`,
        });
      }
    }
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

const lengthOf = (v: unknown): string => (Array.isArray(v) ? String(v.length) : 'too many');
