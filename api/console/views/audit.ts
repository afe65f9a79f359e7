// History and audit: every run of one release (paged with Temporal's page token), and the audit log
// of human decisions across releases and trains, filterable and exportable as CSV and JSON. What it
// reads and its bounds are api/history.ts's (HistoryReader.runs, HistoryReader.audit).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditCsv, auditFilters, auditQuery, runsQuery, type AuditLog, type AuditQuery, type ReleaseRun } from '../../history.js';
import { parse, releaseParams } from '../../input.js';
import { html, type SafeHtml } from '../html.js';
import { page } from '../layout.js';
import type { ConsoleRoutes } from '../types.js';
import { duration, shortDigest, stateBadge, when } from './history-format.js';

const RUNS_PAGE = 20;

function runRow(r: ReleaseRun): SafeHtml {
  const rev = r.revision;
  return html`<tr data-testid="run-row">
<td>${when(r.startTime)}</td>
<td>${stateBadge(r.outcome)}${r.kind === 'rollback' ? html` <span class="badge wait">rollback release</span>` : ''}</td>
<td>${duration(r.durationMs)}</td>
<td>${rev ? html`<code title="${rev.digest ?? rev.image}">${rev.digest ? shortDigest(rev.digest) : rev.image}</code>${rev.sha ? html` <code>${rev.sha.slice(0, 10)}</code>` : ''}${rev.author ? html` <span class="muted">by</span> ${rev.author}` : ''}` : ''}</td>
<td>${r.startedBy ?? html`<span class="muted" title="no worker answered this run's status in time">?</span>`}</td>
<td class="reason" data-testid="run-cause">${r.stop ? html`${r.stop.cause}: ${r.stop.reason}${r.stop.by ? html` (by ${r.stop.by})` : ''}` : r.outcome === 'rolled-back' || r.outcome === 'failed' ? r.reason ?? '' : ''}</td>
<td><code class="muted" title="${r.runId}">…${r.runId.slice(-8)}</code></td>
</tr>`;
}

function filterForm(q: AuditQuery): SafeHtml {
  return html`<form class="filters" method="get" action="/ui/audit" data-testid="audit-filters">
<label>person <input name="person" value="${q.person ?? ''}" size="12"></label>
<label>action <input name="action" value="${q.action ?? ''}" size="10" placeholder="approve"></label>
<label>app <input name="app" value="${q.app ?? ''}" size="12"></label>
<label>environment <input name="env" value="${q.environment ?? ''}" size="12"></label>
<button type="submit">Filter</button> <a href="/ui/audit">clear</a>
</form>`;
}

function queryString(q: AuditQuery): string {
  const p = new URLSearchParams();
  if (q.person) p.set('person', q.person);
  if (q.action) p.set('action', q.action);
  if (q.app) p.set('app', q.app);
  if (q.environment) p.set('env', q.environment);
  if (q.runs) p.set('runs', String(q.runs));
  const s = p.toString();
  return s ? `?${s}` : '';
}

function auditTable(log: AuditLog): SafeHtml {
  if (!log.entries.length) return html`<p class="muted" data-testid="audit-table">No decisions match.</p>`;
  return html`<table data-testid="audit-table"><thead><tr><th>when</th><th>who</th><th>what</th><th>channel</th><th>release</th><th>comment</th></tr></thead><tbody>
${log.entries.map((e) => html`<tr data-testid="audit-row"><td>${when(e.at)}</td><td>${e.by}</td><td>${e.action}${e.group !== undefined ? html` <span class="muted">group ${e.group + 1}</span>` : ''}</td><td>${e.channel}</td>
<td>${e.release.startsWith('release/') ? html`<a href="/ui/releases/${encodeURIComponent(e.app)}/${encodeURIComponent(e.environment)}/runs">${e.app} → ${e.environment}</a>` : html`train ${e.app} → ${e.environment}`}</td>
<td class="comment">${e.comment ?? ''}</td></tr>`)}
</tbody></table>`;
}

export const auditRoutes: ConsoleRoutes = (app, deps, h) => {
  const history = deps.service.history;

  app.get('/ui/releases/:app/:env/runs', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const p = parse(releaseParams, req.params, 'release name');
    const q = parse(runsQuery, req.query, 'query');
    const token = q.pageToken;
    const size = q.pageSize ?? RUNS_PAGE;
    const res = await history.runs(p.app, p.env, { pageSize: size, ...(token ? { pageToken: token } : {}) });
    const base = `/ui/releases/${encodeURIComponent(p.app)}/${encodeURIComponent(p.env)}`;
    const body = html`<h1><a href="${base}">${p.app} → ${p.env}</a>: every run</h1>
${res.runs.length ? html`<table data-testid="runs-table"><thead><tr><th>started</th><th>outcome</th><th>duration</th><th>revision</th><th>started by</th><th>stop or rollback cause</th><th>run</th></tr></thead><tbody>
${res.runs.map(runRow)}
</tbody></table>` : html`<p class="muted" data-testid="runs-table">No runs.</p>`}
<p>${token ? html`<a href="${base}/runs">newest runs</a> ` : ''}${res.nextPageToken ? html`<a data-testid="runs-next" href="${base}/runs?${size !== RUNS_PAGE ? `pageSize=${size}&` : ''}pageToken=${res.nextPageToken}">older runs →</a>` : ''}</p>
<p class="muted">${size} runs a page, newest first; starter and cause come from each run's status (one query per run on the page).</p>`;
    return h.sendPage(reply, page({ title: `${p.app} → ${p.env} runs`, viewer, nav: 'audit', body }).value);
  });

  async function readAudit(req: FastifyRequest): Promise<{ q: AuditQuery; log: AuditLog }> {
    // Empty form fields mean "any".
    const raw = Object.fromEntries(Object.entries((req.query ?? {}) as Record<string, unknown>).filter(([, v]) => v !== ''));
    const q = auditFilters(parse(auditQuery, raw, 'filter'));
    return { q, log: await history.audit(q) };
  }

  app.get('/ui/audit', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const { q, log } = await readAudit(req);
    const qs = queryString(q);
    const body = html`<h1>Audit log</h1>
${filterForm(q)}
<p>Export: <a data-testid="audit-csv" href="/ui/audit.csv${qs}">CSV</a> · <a data-testid="audit-json" href="/ui/audit.json${qs}">JSON</a></p>
${auditTable(log)}
<p class="muted" data-testid="audit-bound">The decisions of the newest ${log.runsRead} release run${log.runsRead === 1 ? '' : 's'} (at most ${log.runsLimit}; <code>runs=</code> up to 200) and every release train's trail.${log.unanswered ? ` ${log.unanswered} run${log.unanswered === 1 ? '' : 's'} did not answer (no worker in time): their decisions are missing.` : ''}</p>`;
    return h.sendPage(reply, page({ title: 'Audit log', viewer, nav: 'audit', body }).value);
  });

  app.get('/ui/audit.csv', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const { log } = await readAudit(req);
    return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="gantry-audit.csv"')
      .header('x-content-type-options', 'nosniff').header('cache-control', 'no-store').send(auditCsv(log.entries));
  });

  app.get('/ui/audit.json', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const { log } = await readAudit(req);
    return reply.type('application/json; charset=utf-8').header('content-disposition', 'attachment; filename="gantry-audit.json"')
      .header('x-content-type-options', 'nosniff').header('cache-control', 'no-store').send(log);
  });
};
