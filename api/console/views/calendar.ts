// Release windows and trains: per environment the week ahead (its windows minus its freezes, from
// core/windows.ts through core/calendar-week.ts) written in the environment's zone, with each instant
// also in the viewer's own (console.js, from data-utc); "open until …" or "opens …"; the freezes
// ahead. Then the release trains (Temporal Schedules, api/trains.ts) with their actions, each a POST
// carrying the viewer's CSRF token, done as the viewer through the same TrainService as the API.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DateTime } from 'luxon';
import { calendarSpans } from '../../../core/calendar-week.js';
import { calendarState, type ReleaseCalendar } from '../../../core/windows.js';
import { GantryError } from '../../errors.js';
import { calendarView, type CalendarView } from '../../history.js';
import { trainScheduleId, type TrainSummary } from '../../trains.js';
import { html, type SafeHtml } from '../html.js';
import { page } from '../layout.js';
import type { ConsoleRoutes, Viewer } from '../types.js';
import { actionForm, stateBadge, when, zoned } from './history-format.js';

const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function params(req: FastifyRequest): { app: string; env: string } {
  const p = req.params as { app?: string; env?: string };
  const details = [];
  if (!p.app || !label.test(p.app) || p.app.length > 63) details.push({ path: 'app', message: 'not an app name', hint: 'a lowercase DNS label, as in gantry.yaml' });
  if (!p.env || !label.test(p.env) || p.env.length > 63) details.push({ path: 'env', message: 'not an environment name', hint: 'a lowercase DNS label, as in gantry.yaml' });
  if (details.length) throw new GantryError('bad_request', 'invalid name', details);
  return { app: p.app!, env: p.env! };
}

const offset = (d: DateTime) => d.toFormat('ZZ');

/** Seven days from today (in the environment's zone), each with its open and frozen stretches. */
function week(cal: ReleaseCalendar | undefined, zone: string, now: number): SafeHtml {
  const c: ReleaseCalendar = cal ?? { windows: [], freezes: [] };
  const first = DateTime.fromMillis(now, { zone }).startOf('day');
  const days = Array.from({ length: 7 }, (_, i) => first.plus({ days: i }));
  const end = days[6]!.plus({ days: 1 });
  const spans = calendarSpans(c, first.toMillis(), end.toMillis());
  return html`<table class="week" data-testid="calendar-week"><thead><tr><th>day (${zone})</th><th>open</th><th class="bar-col">00 – 24</th></tr></thead><tbody>
${days.map((d) => {
    const from = d.toMillis();
    const to = d.plus({ days: 1 }).toMillis();
    const length = to - from;
    const inDay = spans.filter((s) => s.end > from && s.start < to).map((s) => ({ ...s, start: Math.max(s.start, from), end: Math.min(s.end, to) }));
    const open = inDay.filter((s) => s.open);
    const frozen = inDay.filter((s) => !s.open && s.freeze);
    // A DST change that day: the UTC offset at its start differs from the next day's.
    const shift = offset(d) !== offset(d.plus({ days: 1 })) ? html` <span class="badge wait" title="the clocks change this day">UTC${offset(d)} → UTC${offset(d.plus({ days: 1 }))}</span>` : '';
    const fmt = (ms: number, dayEnd: boolean) => (dayEnd && ms === to ? '24:00' : DateTime.fromMillis(ms, { zone }).toFormat('HH:mm'));
    return html`<tr data-testid="calendar-day"><td>${d.toFormat('ccc yyyy-LL-dd')}${shift}</td>
<td>${open.length ? open.map((s) => html`<span class="open-span"><time data-utc="${new Date(s.start).toISOString()}">${fmt(s.start, false)}</time>–<time data-utc="${new Date(s.end).toISOString()}">${fmt(s.end, true)}</time></span> `) : html`<span class="muted">closed</span>`}
${frozen.map((s) => html`<div class="frozen">frozen ${fmt(s.start, false)}–${fmt(s.end, true)}: ${s.freeze}</div>`)}</td>
<td><div class="day-bar">${inDay.filter((s) => s.open || s.freeze).map((s) => html`<span class="${s.open ? 'seg open' : 'seg frozen'}" data-from="${((s.start - from) / length).toFixed(4)}" data-to="${((s.end - from) / length).toFixed(4)}"></span>`)}</div></td></tr>`;
  })}
</tbody></table>`;
}

function stateLine(v: CalendarView): SafeHtml {
  if (!v.configured) return html`<p data-testid="calendar-state">${stateBadge('open')} No release windows or freezes: releases may move at any time.</p>`;
  if (v.open) {
    return html`<p data-testid="calendar-state">${stateBadge('open')} ${v.closesAt ? html`open until ${when(v.closesAt, v.timeZone, 'calendar-closes')}` : 'open, no window closes within 400 days'}</p>`;
  }
  const frozen = v.freezes.find((f) => f.active);
  return html`<p data-testid="calendar-state">${stateBadge(frozen ? 'frozen' : 'closed')} ${frozen ? html`frozen: ${frozen.reason}; ` : 'waiting for window; '}${v.opensAt ? html`opens at ${when(v.opensAt, v.timeZone, 'calendar-opens')}` : 'no window opens within 400 days'}</p>`;
}

function freezes(v: CalendarView): SafeHtml {
  if (!v.freezes.length) return html`<p class="muted">No freezes ahead.</p>`;
  return html`<table data-testid="calendar-freezes"><thead><tr><th>freeze</th><th>from</th><th>until</th><th></th></tr></thead><tbody>
${v.freezes.map((f) => html`<tr data-testid="freeze-row"><td>${f.reason}</td><td>${when(f.start, v.timeZone)}</td><td>${when(f.end, v.timeZone)}</td><td>${f.active ? stateBadge('frozen') : ''}</td></tr>`)}
</tbody></table>`;
}

function environmentSection(v: CalendarView, cal: ReleaseCalendar | undefined, now: number): SafeHtml {
  const id = `cal-${v.app}-${v.environment}`;
  return html`<section class="card" id="${id}" data-testid="${id}">
<h2><a href="/ui/calendar/${encodeURIComponent(v.app)}/${encodeURIComponent(v.environment)}">${v.app} → ${v.environment}</a> <span class="muted">${v.timeZone}</span></h2>
${stateLine(v)}
${v.windows.length ? html`<p class="muted">Windows: ${v.windows.join('; ')}</p>` : ''}
${v.configured ? week(cal, v.timeZone, now) : ''}
<h3>Freezes ahead</h3>
${freezes(v)}
<p class="muted">From the ${v.source === 'release' ? 'newest release' : v.source === 'train' ? 'release train' : '(none)'}'s configuration. Times in ${v.timeZone}; your own zone is shown next to each when scripts run.</p>
</section>`;
}

/** A departure at a closed window or in a freeze waits (its release holds): say so next to it. */
function departureNote(cal: ReleaseCalendar | undefined, at: string): SafeHtml {
  if (!cal) return html``;
  const st = calendarState(cal, Date.parse(at));
  if (st.open) return html``;
  return html` <span class="badge wait" title="${st.reason}">${st.freeze ? 'frozen' : 'window closed'}: waits</span>`;
}

function trainsTable(viewer: Viewer, trains: TrainSummary[], cal?: ReleaseCalendar): SafeHtml {
  if (!trains.length) return html`<p class="muted" data-testid="trains-table">No release trains. Create one with <code>gantry train create</code> or POST /v1/trains.</p>`;
  return html`<table data-testid="trains-table"><thead><tr><th>train</th><th>departures</th><th>state</th><th>next departures</th><th>recent runs</th><th>skipped (overlap)</th><th>actions</th></tr></thead><tbody>
${trains.map((t) => {
    const base = `/ui/trains/${encodeURIComponent(t.app)}/${encodeURIComponent(t.environment)}`;
    const last = t.audit[t.audit.length - 1];
    return html`<tr id="train-${t.app}-${t.environment}" data-testid="train-${t.app}-${t.environment}">
<td>${t.app} → ${t.environment}</td>
<td><code>${t.cron.join(' | ')}</code> <span class="muted">${t.timeZone}</span></td>
<td data-testid="train-state">${t.paused ? stateBadge('paused') : stateBadge('running')}</td>
<td data-testid="train-next"><ul class="plain">${t.nextDepartures.map((d) => html`<li>${when(d, t.timeZone)}${departureNote(cal, d)}</li>`)}</ul></td>
<td><ul class="plain">${t.recentRuns.slice(-5).reverse().map((r) => html`<li>${when(r.scheduledAt, t.timeZone)}</li>`)}</ul></td>
<td data-testid="train-skipped">${t.skippedOverlap}</td>
<td class="actions">
${actionForm(viewer, `${base}/trigger`, 'Depart now', { confirm: `Start a release of ${t.app} to ${t.environment} now?`, testid: 'train-trigger' })}
${t.paused ? actionForm(viewer, `${base}/unpause`, 'Unpause', { testid: 'train-unpause' }) : actionForm(viewer, `${base}/pause`, 'Pause', { testid: 'train-pause' })}
${actionForm(viewer, `${base}/delete`, 'Delete', { confirm: `Delete the release train of ${t.app} to ${t.environment}? Its schedule and audit trail go with it.`, danger: true, testid: 'train-delete' })}
${last ? html`<div class="muted">last: ${last.action} by ${last.by} via ${last.channel} ${when(last.at)}</div>` : ''}
</td></tr>`;
  })}
</tbody></table>`;
}

export const calendarRoutes: ConsoleRoutes = (app, deps, h) => {
  const history = deps.service.history;
  const trains = deps.service.trains;
  const now = () => (deps.now ?? Date.now)();

  async function section(a: string, e: string, at: number): Promise<SafeHtml> {
    const found = await history.environmentConfig(a, e);
    const v = calendarView(a, e, found?.source ?? 'none', found?.env.calendar, at);
    return environmentSection(v, found?.env.calendar, at);
  }

  app.get('/ui/calendar', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const at = now();
    const [envs, list] = await Promise.all([history.knownEnvironments(50), trains.list()]);
    const sections = await Promise.all(envs.map((x) => section(x.app, x.environment, at)));
    const body = html`<h1>Windows &amp; trains</h1>
<h2>Release trains</h2>
${trainsTable(viewer, list)}
<h2>Release windows</h2>
${sections.length ? sections : html`<p class="muted">No environments yet: the calendar of an environment is read from its newest release or its release train.</p>`}
<p class="muted">At most 50 environments, from the newest 200 release runs and the trains.</p>`;
    return h.sendPage(reply, page({ title: 'Windows & trains', viewer, nav: 'calendar', body }).value);
  });

  app.get('/ui/calendar/:app/:env', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const p = params(req);
    const at = now();
    const found = await history.environmentConfig(p.app, p.env);
    if (!found) throw new GantryError('not_found', `Gantry has seen no release or train of ${p.app} to ${p.env}`, [], 'the calendar is read from the newest release (or the release train) of that environment');
    const train = await trains.describe(p.app, p.env).catch((err: unknown) => { if (err instanceof GantryError && err.code === 'not_found') return undefined; throw err; });
    const v = calendarView(p.app, p.env, found.source, found.env.calendar, at);
    const body = html`<h1>${p.app} → ${p.env}: windows</h1>
${environmentSection(v, found.env.calendar, at)}
${train ? html`<h2>Release train</h2>${trainsTable(viewer, [train], found.env.calendar)}` : ''}
<p class="muted">Now: ${zoned(at, v.timeZone)}.</p>`;
    return h.sendPage(reply, page({ title: `${p.app} → ${p.env} windows`, viewer, nav: 'calendar', body }).value);
  });

  // Train actions: the viewer's identity, channel ui, CSRF checked before anything else.
  for (const action of ['trigger', 'pause', 'unpause', 'delete'] as const) {
    app.post(`/ui/trains/:app/:env/${action}`, async (req: FastifyRequest, reply: FastifyReply) => {
      const viewer = h.requireViewer(req, reply);
      if (!viewer) return reply;
      const body = req.body as Record<string, unknown> | undefined;
      const token = body && typeof body === 'object' && typeof body._csrf === 'string' ? body._csrf : undefined;
      deps.auth.verifyCsrf(req, viewer, token);
      const p = params(req);
      const caller = { identity: viewer.identity, channel: 'ui' as const };
      let entry;
      switch (action) {
        case 'trigger': entry = await trains.trigger(p.app, p.env, caller); break;
        case 'pause': entry = await trains.setPaused(p.app, p.env, true, caller); break;
        case 'unpause': entry = await trains.setPaused(p.app, p.env, false, caller); break;
        case 'delete': entry = await trains.remove(p.app, p.env, caller); break;
        default: {
          const never: never = action;
          throw new Error(`unknown train action ${String(never)}`);
        }
      }
      req.log.info({ audit: { train: trainScheduleId(p.app, p.env), ...entry } }, `release train ${action} from the console`);
      return reply.redirect(`/ui/calendar#train-${p.app}-${p.env}`, 303);
    });
  }
};

