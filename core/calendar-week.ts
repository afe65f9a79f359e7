// An environment's calendar laid out over a stretch of time (the console's week view and
// GET /v1/calendar): the open and closed spans between two instants, and the freezes ahead. Pure:
// built only on calendarState and freezeInterval (core/windows.ts), so the view shows exactly what
// a release would decide.
import { calendarState, freezeInterval, type Freeze, type ReleaseCalendar } from './windows.js';

export interface CalendarSpan {
  start: number;
  end: number;
  open: boolean;
  /** When closed by a freeze at `start`: its reason. */
  freeze?: string;
}

/** At most this many spans between two instants (a week of 10-minute windows is ~1000; more is not shown). */
export const maxSpans = 2000;

/**
 * The open and closed spans covering [from, to), in order, adjacent spans never alike. Steps from
 * each change to the next (calendarState's opensAt or closesAt, and a freeze's start or end while
 * closed), so its cost grows with the changes, not with the length; a calendar with no change ahead
 * is one span.
 */
export function calendarSpans(cal: ReleaseCalendar, from: number, to: number): CalendarSpan[] {
  const out: CalendarSpan[] = [];
  // A closed span is cut where a freeze starts or ends, so the frozen part carries its reason.
  const cuts = cal.freezes.flatMap((f) => { const i = freezeInterval(f, cal.timeZone); return [i.start, i.end]; }).sort((a, b) => a - b);
  let t = from;
  while (t < to && out.length < maxSpans) {
    const s = calendarState(cal, t);
    const cut = cuts.find((c) => c > t);
    const change = s.open ? s.closesAt : s.opensAt;
    const next = !s.open && cut !== undefined && (change === undefined || cut < change) ? cut : change;
    const end = next === undefined || next > to ? to : Math.max(next, t + 1);
    const span: CalendarSpan = { start: t, end, open: s.open, ...(s.freeze ? { freeze: s.freeze.reason } : {}) };
    const last = out[out.length - 1];
    if (last && last.open === span.open && last.freeze === span.freeze) last.end = end;
    else out.push(span);
    t = end;
  }
  return out;
}

export interface UpcomingFreeze { freeze: Freeze; start: number; end: number; active: boolean }

/** The freezes in force at `at` or starting later, soonest first, with their instants. */
export function upcomingFreezes(cal: ReleaseCalendar, at: number, limit = 20): UpcomingFreeze[] {
  return cal.freezes
    .map((freeze) => ({ freeze, ...freezeInterval(freeze, cal.timeZone) }))
    .filter((f) => f.end > at && f.end > f.start)
    .sort((a, b) => a.start - b.start)
    .slice(0, limit)
    .map((f) => ({ ...f, active: f.start <= at }));
}
