// Pipelines: the newest runs (one visibility list), one commit's stage strip, gate report and image
// card (its status query), and per app the environment matrix (which revision each environment runs
// now and what is in flight, from the release runs' memos).
//
// Gate logs stay on the disk of the worker that ran the gate (log.path on log.host): the log page asks
// that very host for the tail (HistoryReader.gateLog: one activity on the host's own task queue) and,
// when the host is gone, says where the file was.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GateResult } from '../../../core/gates.js';
import type { PipelineStatus, StageStatus } from '../../../core/pipeline.js';
import type { Revision } from '../../../core/release.js';
import { GantryError } from '../../errors.js';
import { type EnvironmentRow } from '../../history.js';
import { MAX_GATE_LOG_TAIL } from '../../../workflows/gate-log.js';
import { html, type SafeHtml } from '../html.js';
import { page } from '../layout.js';
import type { ConsoleRoutes } from '../types.js';
import { bytes, duration, pipelineHref, shortDigest, stateBadge, when } from './history-format.js';

const appRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function revisionCell(r: Revision | undefined): SafeHtml {
  if (!r) return html`<span class="muted">none</span>`;
  return html`<code title="${r.digest ?? r.image}">${r.digest ? shortDigest(r.digest) : r.image}</code>${r.sha ? html` <span class="muted">commit</span> <code>${r.sha.slice(0, 10)}</code>` : ''}${r.author ? html` <span class="muted">by</span> ${r.author}` : ''}`;
}

function stageHref(s: StageStatus): string | undefined {
  const m = s.workflowId ? /^release\/([^/]+)\/([^/]+)$/.exec(s.workflowId) : null;
  return m ? `/ui/releases/${encodeURIComponent(m[1]!)}/${encodeURIComponent(m[2]!)}` : undefined;
}

function stageStrip(p: PipelineStatus): SafeHtml {
  return html`<ol class="stages" data-testid="stage-strip">${p.stages.map((s) => {
    const href = stageHref(s);
    return html`<li class="stage ${s.state}" data-testid="stage-${s.name}">
  <div class="stage-name">${href ? html`<a href="${href}">${s.name}</a>` : s.name}</div>
  ${stateBadge(s.state)}
  ${s.durationMs !== undefined ? html`<div class="muted">${duration(s.durationMs)}${s.toolMs !== undefined ? html` (tools ${duration(s.toolMs)})` : ''}</div>` : s.startedAt && s.state === 'running' ? html`<div class="muted">since ${when(s.startedAt)}</div>` : ''}
  ${s.reason ? html`<div class="reason">${s.reason}</div>` : ''}
  ${s.hint ? html`<div class="hint">${s.hint}</div>` : ''}
</li>`;
  })}</ol>`;
}

function logHref(p: PipelineStatus, gate: string, gatesOnly: boolean): string {
  const q = new URLSearchParams({ repo: p.repo, sha: p.sha, gate, ...(gatesOnly ? { gates: '1' } : {}) });
  return `/ui/pipeline-log?${q.toString()}`;
}

function gateLog(p: PipelineStatus, g: GateResult, gatesOnly: boolean): SafeHtml {
  if (!g.log) return html`<span class="muted">no log</span>`;
  return html`<div class="gate-log" data-testid="gate-log"><a href="${logHref(p, g.name, gatesOnly)}" data-testid="gate-log-link">last lines</a> · <code>${g.log.path}</code> on <strong>${g.log.host}</strong> <span class="muted">(${bytes(g.log.bytes)}${g.log.truncated ? ', truncated' : ''})</span></div>`;
}

function gateReport(p: PipelineStatus, gatesOnly: boolean): SafeHtml {
  if (!p.gates?.length) return html`<p class="muted" data-testid="gate-report">No quality gates ran for this commit.</p>`;
  return html`<table data-testid="gate-report"><thead><tr><th>gate</th><th>type</th><th>state</th><th>duration</th><th>result</th><th>log</th></tr></thead><tbody>
${p.gates.map((g) => html`<tr data-testid="gate-${g.name}"><td>${g.name}</td><td>${g.type}</td><td>${stateBadge(g.state)}</td><td>${duration(g.durationMs)}</td><td class="reason">${g.reason ?? ''}</td><td>${gateLog(p, g, gatesOnly)}</td></tr>`)}
</tbody></table>
<p class="muted">Gate logs stay on the worker that ran the gate; "last lines" asks that host for the last ${MAX_GATE_LOG_TAIL / 1024} KiB.</p>`;
}

function imageCard(p: PipelineStatus): SafeHtml {
  const i = p.image;
  if (!i) return html``;
  return html`<section class="card" data-testid="image-card"><h2>Image</h2><dl>
<dt>reference</dt><dd><code>${i.ref}</code></dd>
<dt>digest</dt><dd><code>${i.digest}</code></dd>
${i.sizeBytes !== undefined ? html`<dt>size</dt><dd>${bytes(i.sizeBytes)}</dd>` : ''}
${i.estargz !== undefined ? html`<dt>eStargz</dt><dd>${i.estargz ? 'yes (lazy pulling)' : 'no'}</dd>` : ''}
${i.layers !== undefined ? html`<dt>layers</dt><dd>${i.layers}</dd>` : ''}
${i.steps ? html`<dt>build steps</dt><dd>${i.steps.executed} run, ${i.steps.cached} cached, of ${i.steps.total}</dd>` : ''}
</dl></section>`;
}

function environmentMatrix(app: string, rows: EnvironmentRow[]): SafeHtml {
  if (!rows.length) return html`<p class="muted" data-testid="env-matrix">No releases of ${app} yet.</p>`;
  return html`<table data-testid="env-matrix"><thead><tr><th>environment</th><th>runs now</th><th>since</th><th>in flight</th><th>last outcome</th><th></th></tr></thead><tbody>
${rows.map((r) => html`<tr data-testid="env-${r.environment}">
  <td><a href="/ui/releases/${encodeURIComponent(app)}/${encodeURIComponent(r.environment)}">${r.environment}</a></td>
  <td>${r.current ? html`${revisionCell(r.current.revision)}${r.current.kind === 'rollback' ? html` <span class="badge wait">rollback</span>` : ''}` : html`<span class="muted">unknown</span>`}</td>
  <td>${r.current?.since ? when(r.current.since) : ''}</td>
  <td>${r.inFlight ? html`${revisionCell(r.inFlight.revision)} ${stateBadge(r.inFlight.phase ?? 'running')}` : html`<span class="muted">nothing</span>`}</td>
  <td>${r.last ? stateBadge(r.last.outcome) : ''}</td>
  <td><a href="/ui/releases/${encodeURIComponent(app)}/${encodeURIComponent(r.environment)}/runs">runs</a> · <a href="/ui/calendar/${encodeURIComponent(app)}/${encodeURIComponent(r.environment)}">calendar</a></td>
</tr>`)}
</tbody></table>`;
}

export const pipelineRoutes: ConsoleRoutes = (app, deps, h) => {
  const history = deps.service.history;

  app.get('/ui/pipelines', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const runs = await history.pipelines(50);
    const body = html`<h1>Pipelines</h1>
${runs.length ? html`<table data-testid="pipelines-table"><thead><tr><th>repository</th><th>commit</th><th>kind</th><th>state</th><th>started</th><th>ended</th></tr></thead><tbody>
${runs.map((r) => html`<tr data-testid="pipeline-row"><td>${r.repo}</td><td><a href="${pipelineHref(r.repo, r.sha, r.gatesOnly)}"><code>${r.sha.slice(0, 12)}</code></a></td><td>${r.gatesOnly ? 'gates only' : 'pipeline'}</td><td>${stateBadge(r.status)}</td><td>${when(r.startTime)}</td><td>${when(r.closeTime)}</td></tr>`)}
</tbody></table>` : html`<p class="muted" data-testid="pipelines-table">No pipelines yet. Start one with <code>gantry pipeline start</code> or a push.</p>`}
<p class="muted">The newest 50 runs, one visibility list.</p>`;
    return h.sendPage(reply, page({ title: 'Pipelines', viewer, nav: 'pipelines', body }).value);
  });

  app.get('/ui/pipelines/*', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const rest = (req.params as { '*': string })['*'].replace(/\/+$/, '');
    const i = rest.lastIndexOf('/');
    if (i <= 0) throw new GantryError('bad_request', 'expected /ui/pipelines/<repo>/<sha>', [{ path: 'url', message: 'no repository or commit', hint: 'open a pipeline from /ui/pipelines' }]);
    const repo = rest.slice(0, i);
    const sha = rest.slice(i + 1);
    const gatesOnly = (req.query as { gates?: string }).gates === '1';
    const p = await deps.service.pipelineStatus(repo, sha, gatesOnly ? { gatesOnly } : {});
    const body = html`<h1>${p.repo} <code>${p.sha.slice(0, 12)}</code> ${stateBadge(p.state, 'pipeline-state')}</h1>
<p>${p.commit ? html`${p.commit.message.split('\n')[0]} <span class="muted">by</span> ${p.commit.author}` : p.author ? html`<span class="muted">by</span> ${p.author}` : ''}${p.ref ? html` <span class="muted">on</span> <code>${p.ref}</code>` : ''}
 · started ${when(p.startedAt)}${p.endedAt ? html` · ended ${when(p.endedAt)}` : ''}${p.tag ? html` · tag <code>${p.tag}</code>` : ''}</p>
${p.reason ? html`<p class="reason" data-testid="pipeline-reason">${p.reason}${p.hint ? html` <span class="hint">${p.hint}</span>` : ''}</p>` : ''}
${stageStrip(p)}
<h2>Quality gates</h2>
${gateReport(p, gatesOnly)}
${imageCard(p)}`;
    return h.sendPage(reply, page({ title: `${p.repo}@${p.sha.slice(0, 12)}`, viewer, nav: 'pipelines', body }).value);
  });

  app.get('/ui/pipeline-log', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const q = req.query as Record<string, unknown>;
    const str = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? q[k] as string : undefined);
    const repo = str('repo');
    const sha = str('sha');
    const gate = str('gate');
    if (!repo || !sha || !gate) throw new GantryError('bad_request', 'which log?', [{ path: 'query', message: 'repo, sha and gate are required', hint: 'open a log from its pipeline page' }]);
    const gatesOnly = q.gates === '1';
    const back = pipelineHref(repo, sha, gatesOnly);
    let body: SafeHtml;
    try {
      const t = await history.gateLog(repo, sha, gate, { gatesOnly });
      body = html`<h1>Gate ${gate}: log</h1>
<p><a href="${back}">${repo} <code>${sha.slice(0, 12)}</code></a> · <code>${t.path}</code> on <strong>${t.host}</strong> · ${t.shownBytes < t.bytes ? `the last ${bytes(t.shownBytes)} of ${bytes(t.bytes)}` : bytes(t.bytes)}</p>
<pre class="log" data-testid="gate-log-text">${t.text}</pre>`;
    } catch (err) {
      if (!(err instanceof GantryError) || (err.code !== 'unavailable' && err.code !== 'not_found')) throw err;
      body = html`<h1>Gate ${gate}: log</h1>
<p><a href="${back}">${repo} <code>${sha.slice(0, 12)}</code></a></p>
<p class="reason" data-testid="gate-log-unreachable">${err.message}</p>${err.hint ? html`<p class="hint">${err.hint}</p>` : ''}`;
    }
    return h.sendPage(reply, page({ title: `${gate} log`, viewer, nav: 'pipelines', body }).value);
  });

  app.get('/ui/apps/:app', async (req: FastifyRequest, reply: FastifyReply) => {
    const viewer = h.requireViewer(req, reply);
    if (!viewer) return reply;
    const name = (req.params as { app: string }).app;
    if (!appRe.test(name) || name.length > 63) throw new GantryError('bad_request', 'invalid app', [{ path: 'app', message: 'not an app name', hint: 'a lowercase DNS label, as in gantry.yaml' }]);
    const rows = await history.environments(name);
    const body = html`<h1>${name}</h1>
<h2>Environments</h2>
${environmentMatrix(name, rows)}
<p class="muted">From the newest 200 release runs of ${name}: "runs now" is the revision of the last release that succeeded (after a rollback, the revision it went back to).</p>`;
    return h.sendPage(reply, page({ title: name, viewer, nav: 'releases', body }).value);
  });
};
