// GET /ui: the console's home. "Waiting for me" first (the running releases the viewer can unblock now,
// across every app and environment), then every release as a table. Both come from visibility lists over
// the search attributes (api/service.ts list): one call for the table and one for "waiting for me", never
// a status query per row. htmx polls the fragment (/ui/fragments/releases) every 10 s; "as of" says when
// the lists were read.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GantryError } from '../../errors.js';
import { label, parse } from '../../input.js';
import type { ReleaseSummary } from '../../service.js';
import { html, type SafeHtml } from '../html.js';
import { page } from '../layout.js';
import type { ConsoleDeps, ConsoleHelpers, ConsoleRoutes, Viewer } from '../types.js';
import { age, approverWords, bar, errorBox, phaseBadge, repoOf, revisionLine, time } from './parts.js';

/** The most releases the table shows (newest first). */
const LIMIT = 200;
const POLL = '10s';

/**
 * A listed release: what the one visibility list carries (api/service.ts ReleaseSummary: search
 * attributes and memo), never a status query per row. The group in progress (GantryGroup) and the
 * per-cell split (GantryCells) are there for releases started since they exist.
 */
export type Row = ReleaseSummary;

export const SHOW = ['all', 'mine', 'waiting', 'running', 'rolled-back'] as const;
export type Show = (typeof SHOW)[number];

const filterQuery = z.object({
  show: z.enum(SHOW).optional(),
  app: z.union([z.literal(''), label('app')]).optional(),
  env: z.union([z.literal(''), label('environment')]).optional(),
});
export interface Filters { show: Show; app?: string; env?: string }

export function filtersOf(req: FastifyRequest): Filters {
  const q = parse(filterQuery, req.query ?? {}, 'filter');
  return { show: q.show ?? 'all', ...(q.app ? { app: q.app } : {}), ...(q.env ? { env: q.env } : {}) };
}

function keep(r: Row, f: Filters): boolean {
  if (f.env && r.environment !== f.env) return false;
  switch (f.show) {
    case 'all': case 'mine': return true;
    case 'waiting': return r.status === 'running' && !!r.waitingOn;
    case 'running': return r.status === 'running';
    case 'rolled-back': return r.status === 'rolled-back' || r.phase === 'rolled-back';
    default: {
      const never: never = f.show;
      throw new Error(`unknown filter ${String(never)}`);
    }
  }
}

const query = (f: Filters) => new URLSearchParams({ ...(f.show !== 'all' ? { show: f.show } : {}), ...(f.app ? { app: f.app } : {}), ...(f.env ? { env: f.env } : {}) }).toString();

async function lists(deps: ConsoleDeps, viewer: Viewer, f: Filters): Promise<{ mine: Row[] | GantryError; rows: Row[] }> {
  const mine = deps.service.list(50, { waitingFor: viewer.identity, ...(f.app ? { app: f.app } : {}) }).then(
    (r) => r as Row[],
    // Without the search attributes there is no "waiting for me": say so there, show the rest.
    (err: unknown) => { if (err instanceof GantryError) return err; throw err; },
  );
  const rows = f.show === 'mine'
    ? undefined
    : deps.service.list(LIMIT, { ...(f.app ? { app: f.app } : {}), ...(f.show === 'waiting' || f.show === 'running' ? { running: true } : {}) });
  const m = await mine;
  return { mine: m, rows: ((rows ? await rows : m instanceof GantryError ? [] : m) as Row[]).filter((r) => keep(r, f)) };
}

const releaseHref = (r: Row) => `/ui/releases/${encodeURIComponent(r.app)}/${encodeURIComponent(r.environment)}`;

function waitingCell(r: Row, now: number): SafeHtml {
  if (!r.waitingOn) return html`<span class="muted">—</span>`;
  return html`${r.waitingOn}${r.waitingSince ? html`<br><span class="muted">since ${time(r.waitingSince)} (${age(r.waitingSince, now)} ago)</span>` : ''}`;
}

/** "2 of 3" when the list knows the group in progress, else how many groups. */
function groupCell(r: Row): SafeHtml {
  if (r.group !== undefined && r.groups !== undefined) return html`<span data-testid="group">${r.group} of ${r.groups}</span>`;
  if (r.groups !== undefined) return html`${r.groups} group${r.groups === 1 ? '' : 's'}`;
  return html`<span class="muted">—</span>`;
}

/** The approvers less those excluded now (author, starter, who already approved), and who those are. */
function whoCell(r: Row): SafeHtml {
  if (!r.approvers?.length) return html`<span class="muted">—</span>`;
  const excluded = new Set(r.excluded ?? []);
  const may = r.approvers.filter((a) => !excluded.has(a));
  // Whom the note names: the excluded the list names, or anyone excluded when a group or * may include them.
  const broad = may.some((a) => a === '*' || a.startsWith('group:'));
  const not = [...excluded].filter((id) => broad || r.approvers!.includes(id));
  return html`${may.length ? approverWords(may) : html`<span class="muted">nobody named</span>`}${not.length ? html`<br><span class="muted">not ${not.join(', ')}</span>` : ''}`;
}

/** `quick`: a link to the release's actions (a waiting-for-me row: what to do is on that page, with its reasons). */
function row(r: Row, now: number, quick: boolean): SafeHtml {
  const phase = r.phase ?? r.status;
  return html`<tr data-release="${r.app}/${r.environment}">
<td class="app"><a href="${releaseHref(r)}">${r.app}</a>${r.kind === 'rollback' ? html` <span class="badge muted">rollback</span>` : ''}</td>
<td>${r.environment}</td>
<td>${phaseBadge(phase)}</td>
<td>${groupCell(r)}</td>
<td>${r.canaryWeight !== undefined ? bar(r.canaryWeight, 100, 'new revision share of the pods', true) : html`<span class="muted">—</span>`}${r.cells?.length ? html`<ul class="plain cells-bars">${r.cells.map((c) => html`<li><span class="cell">${c.cell}</span> ${bar(c.part, c.whole, `${c.cell}: new pods`)}</li>`)}</ul>` : ''}</td>
<td>${waitingCell(r, now)}</td>
<td data-testid="who-can-unblock">${whoCell(r)}</td>
<td>${revisionLine(r.revision, repoOf(r.trigger))}</td>
<td>${r.startedBy ?? html`<span class="muted">—</span>`}</td>
<td>${time(r.startTime)}</td>
${quick ? html`<td><a href="${releaseHref(r)}#h-actions" data-testid="decide-link">${r.waitingOn === 'window' ? 'Override…' : r.waitingOn === 'resume' ? 'Resume…' : 'Approve or reject…'}</a></td>` : ''}
</tr>`;
}

const HEAD = (quick: boolean) => html`<tr><th scope="col">App</th><th scope="col">Environment</th><th scope="col">Phase</th><th scope="col">Group</th><th scope="col">New revision (per cell)</th><th scope="col">Waiting on</th><th scope="col">Who can unblock</th><th scope="col">Revision</th><th scope="col">Started by</th><th scope="col">Started</th>${quick ? html`<th scope="col">Decide</th>` : ''}</tr>`;

function table(rows: Row[], now: number, caption: string, testid: string, empty: string, quick = false): SafeHtml {
  return html`<table data-testid="${testid}"><caption class="sr-only">${caption}</caption><thead>${HEAD(quick)}</thead>
<tbody>${rows.length ? rows.map((r) => row(r, now, quick)) : html`<tr><td colspan="${quick ? 11 : 10}" class="muted">${empty}</td></tr>`}</tbody></table>`;
}

/** The polled part: both lists and when they were read. */
export function releasesFragment(mine: Row[] | GantryError, rows: Row[], f: Filters, now: number): SafeHtml {
  return html`<section aria-labelledby="h-mine" class="attention">
<h2 id="h-mine">Needs attention: waiting for me</h2>
${mine instanceof GantryError ? errorBox(mine) : table(mine, now, 'Releases waiting for you', 'waiting-for-me', 'Nothing waits for you.', true)}
</section>
${f.show === 'mine' ? '' : html`<section aria-labelledby="h-all">
<h2 id="h-all">Releases</h2>
${table(rows, now, 'Releases, newest first', 'releases', 'No release matches.')}
</section>`}
<p class="muted asof" data-testid="as-of">As of ${time(new Date(now).toISOString())}; refreshed every 10 s.</p>`;
}

function filterForm(f: Filters): SafeHtml {
  const opt = (v: Show, text: string) => html`<option value="${v}"${f.show === v ? html` selected` : ''}>${text}</option>`;
  return html`<form class="filters" method="get" action="/ui" role="search">
<label for="f-show">Show</label>
<select id="f-show" name="show">${opt('all', 'All releases')}${opt('mine', 'Waiting for me')}${opt('waiting', 'Waiting')}${opt('running', 'Running')}${opt('rolled-back', 'Rolled back')}</select>
<label for="f-app">App</label><input id="f-app" name="app" value="${f.app ?? ''}" size="14" pattern="[a-z0-9]([-a-z0-9]*[a-z0-9])?">
<label for="f-env">Environment</label><input id="f-env" name="env" value="${f.env ?? ''}" size="12" pattern="[a-z0-9]([-a-z0-9]*[a-z0-9])?">
<button type="submit">Filter</button> <a href="/ui">Clear</a>
</form>`;
}

export const homeRoutes: ConsoleRoutes = (app: FastifyInstance, deps: ConsoleDeps, helpers: ConsoleHelpers) => {
  const now = deps.now ?? Date.now;
  app.get('/ui', async (req, reply) => {
    const viewer = helpers.requireViewer(req, reply);
    if (!viewer) return reply;
    const f = filtersOf(req);
    const { mine, rows } = await lists(deps, viewer, f);
    const q = query(f);
    const body = html`<h1>Releases</h1>
${filterForm(f)}
<div id="releases" hx-get="/ui/fragments/releases${q ? `?${q}` : ''}" hx-trigger="every ${POLL}" hx-swap="innerHTML" aria-live="off">
${releasesFragment(mine, rows, f, now())}
</div>`;
    return helpers.sendPage(reply, page({ title: 'Releases', viewer, nav: 'releases', body }).toString());
  });

  app.get('/ui/fragments/releases', async (req, reply) => {
    const viewer = helpers.requireViewer(req, reply);
    if (!viewer) return reply;
    const f = filtersOf(req);
    const { mine, rows } = await lists(deps, viewer, f);
    return helpers.sendFragment(reply, releasesFragment(mine, rows, f, now()).toString());
  });
};
