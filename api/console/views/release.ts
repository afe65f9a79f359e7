// One release, live: GET /ui/releases/:app/:env renders the release's status for the viewer (their
// allowedActions), and GET …/live streams the same body as HTML fragments over server-sent events
// (api/stream.ts ReleaseStreams: one poller per release and viewer, only on change, heartbeats,
// Last-Event-ID) that htmx's SSE extension swaps in; the stream ends with `gantry-end` when the release
// does. Actions (POST …/:action) live in ./actions.ts and render into this page.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CheckSpec } from '../../../core/analysis.js';
import type { EnvironmentConfig, GroupConfig } from '../../../core/config.js';
import type { ObservedCell, ObservedPods } from '../../../core/observed.js';
import { overrideCommand, type Decision, type HistoryEvent, type ReleaseStatus, type Revision } from '../../../core/release.js';
import { unblockingAction } from '../../../core/search-attributes.js';
import { releaseWorkflowId, type ReleaseMemo } from '../../../workflows/messages.js';
import type { GantryError } from '../../errors.js';
import { parse, releaseParams } from '../../input.js';
import { htmlFormat, STREAM_EVENTS } from '../../stream.js';
import { html, type SafeHtml } from '../html.js';
import { page } from '../layout.js';
import type { ConsoleDeps, ConsoleHelpers, ConsoleRoutes, Viewer } from '../types.js';
import { actionsPanel } from './actions.js';
import { age, approverWords, errorBox, phaseBadge, prose, repoOf, shaLink, shortDigest, time, timeText } from './parts.js';

/** How many events the page shows: as many as each live fragment (the full record: gantry release history). */
const EVENTS = STREAM_EVENTS;

export interface ReleaseContext {
  status: ReleaseStatus;
  /** The release's memo (its environment's groups and checks, its trigger), when it carries one. */
  memo?: Partial<ReleaseMemo>;
  viewer: Viewer;
  now: number;
}

export const releasePath = (app: string, env: string) => `/ui/releases/${encodeURIComponent(app)}/${encodeURIComponent(env)}`;

export function releaseParamsOf(req: FastifyRequest): { app: string; env: string } {
  const p = parse(releaseParams, req.params, 'release name');
  return { app: p.app, env: p.env };
}

export async function memoOf(deps: ConsoleDeps, app: string, env: string): Promise<Partial<ReleaseMemo> | undefined> {
  try {
    return await deps.service.releaseRunMemo(app, env);
  } catch {
    // The status (asked first) reports a missing release; without the memo the page shows less.
    return undefined;
  }
}

// ---- pieces

function revisionBlock(title: string, r: Revision | undefined, repo: string | undefined, testid: string): SafeHtml {
  if (!r) return html`<div class="rev" data-testid="${testid}"><h3>${title}</h3><p class="muted">none recorded</p></div>`;
  return html`<div class="rev" data-testid="${testid}"><h3>${title}</h3><dl>
<dt>Image</dt><dd><code class="wrap">${r.image}${r.digest ? html`@${r.digest}` : ''}</code></dd>
${r.sha ? html`<dt>Commit</dt><dd>${shaLink(r.sha, repo)}</dd>` : ''}
${r.author ? html`<dt>Author</dt><dd>${r.author}</dd>` : ''}
${r.message ? html`<dt>Message</dt><dd class="message">${r.message}</dd>` : ''}
</dl></div>`;
}

function podsText(g: GroupConfig): string {
  return g.pods === 'rest' ? 'the rest' : typeof g.pods === 'number' ? `${g.pods} pod${g.pods === 1 ? '' : 's'} per cell` : `${g.pods} of each cell`;
}

function confirmText(g: GroupConfig): string {
  const c = g.confirm;
  switch (c.type) {
    case 'auto': return 'auto (checks pass)';
    case 'pause': return `pause ${c.duration}`;
    case 'manual': return `manual approval${c.timeout ? `, ${c.timeout} then ${c.onTimeout}` : ''}`;
    default: {
      const never: never = c;
      throw new Error(`unknown confirm ${String(never)}`);
    }
  }
}

function stepper(s: ReleaseStatus, env: EnvironmentConfig | undefined): SafeHtml {
  const n = s.group.of;
  const ended = s.phase === 'succeeded';
  const items = Array.from({ length: n }, (_, i) => {
    const g = env?.groups[i];
    const state = ended || i < s.group.current - 1 ? 'done' : i === s.group.current - 1 ? (s.phase === 'rolled-back' || s.phase === 'failed' ? 'stopped' : 'current') : 'next';
    return html`<li class="step ${state}"${state === 'current' ? html` aria-current="step" data-testid="current-group"` : ''}>
<span class="state">${state}</span> <strong>Group ${i + 1} of ${n}</strong>${g?.name && g.name !== `group ${i + 1}` ? html` (${g.name})` : ''}
${g ? html`<br><span>${podsText(g)}</span> · <span>confirm: ${confirmText(g)}</span>` : ''}
</li>`;
  });
  return html`<section aria-labelledby="h-groups"><h2 id="h-groups">Groups</h2><ol class="stepper" data-testid="group-stepper">${items}</ol></section>`;
}

function observedText(p: ObservedPods | undefined): SafeHtml {
  if (!p) return html`<span class="muted">not observed</span>`;
  return html`${p.ready} ready · ${p.serving} serving${p.draining ? html` · ${p.draining} draining${p.graceLeftSeconds ? html` (${p.graceLeftSeconds} s grace left)` : ''}` : ''}`;
}

function cellsGrid(s: ReleaseStatus): SafeHtml {
  const obs = new Map<string, ObservedCell>((s.observed?.cells ?? []).map((c) => [c.cell, c]));
  const weighted = (s.observed?.cells ?? []).some((c) => c.weight);
  const rows = s.cells.map((c) => {
    const o = obs.get(c.cell);
    return html`<tr><th scope="row">${c.cell}</th>
<td>${c.stable} planned<br><span class="obs">${o ? observedText(o.stable) : ''}</span></td>
<td>${c.canary} planned<br><span class="obs">${o ? observedText(o.new) : ''}</span></td>
<td>${c.replicas}</td>
${weighted ? html`<td>${o?.weight ? html`set ${o.weight.set} % · actual ${o.weight.actual !== undefined ? `${o.weight.actual} %` : 'not read yet'}${o.weight.actual !== undefined && o.weight.actual !== o.weight.set ? html` <span class="badge wait">differs</span>` : ''}` : html`<span class="muted">no router</span>`}</td>` : ''}
</tr>`;
  });
  return html`<section aria-labelledby="h-cells"><h2 id="h-cells">Cells</h2>
<table class="cells" data-testid="cells"><thead><tr><th scope="col">Cell</th><th scope="col">Stable</th><th scope="col">New</th><th scope="col">Replicas</th>${weighted ? html`<th scope="col">New weight</th>` : ''}</tr></thead>
<tbody>${rows}</tbody></table>
<p class="muted">${s.observed ? html`Observed ${time(s.observed.at)} by ${s.observed.by}.` : 'Nothing observed from the cluster yet: the plan only.'}</p>
</section>`;
}

function bounds(spec: CheckSpec | undefined): string {
  if (!spec) return '';
  if (spec.min !== undefined && spec.max !== undefined) return `${spec.min} ≤ value ≤ ${spec.max}`;
  if (spec.min !== undefined) return `value ≥ ${spec.min}`;
  if (spec.max !== undefined) return `value ≤ ${spec.max}`;
  return 'no bounds';
}

const verdictTone = (v: string) => (v === 'pass' ? 'ok' : v === 'fail' ? 'bad' : 'wait');

function analysisPanel(s: ReleaseStatus, env: EnvironmentConfig | undefined): SafeHtml {
  const specs = new Map((env?.analysis ?? []).map((c) => [c.name, c]));
  if (!s.analysis && !specs.size) return html``;
  const checks = s.analysis?.checks ?? [];
  return html`<section aria-labelledby="h-analysis"><h2 id="h-analysis">Analysis ${s.analysis ? html`<span class="badge ${verdictTone(s.analysis.verdict)}">${s.analysis.verdict}</span>` : html`<span class="muted">(not run yet)</span>`}</h2>
<table data-testid="analysis"><thead><tr><th scope="col">Check</th><th scope="col">Bounds</th><th scope="col">Measured</th><th scope="col">Verdict</th></tr></thead><tbody>
${(checks.length ? checks.map((c) => ({ name: c.check, result: c })) : [...specs.keys()].map((name) => ({ name, result: undefined }))).map(({ name, result }) => {
    const spec = specs.get(name);
    return html`<tr><td>${name}${spec ? html`<details><summary>query</summary><code class="wrap">${spec.query}</code></details>` : ''}</td>
<td>${bounds(spec)}</td>
<td>${result?.value !== undefined ? html`<strong>${String(result.value)}</strong>` : html`<span class="muted">—</span>`}</td>
<td>${result ? html`<span class="badge ${verdictTone(result.verdict)}">${result.verdict}</span> ${result.reason}${result.verdict === 'inconclusive' ? html` <span class="muted">(needs a person)</span>` : ''}` : html`<span class="muted">not measured</span>`}</td></tr>`;
  })}
</tbody></table></section>`;
}

function cliCommand(s: ReleaseStatus): string | undefined {
  if (!s.waiting) return undefined;
  const action = unblockingAction(s.waiting.on);
  if (!action) return undefined;
  // The override command is the one the workflow's own hint names (core overrideCommand).
  if (action === 'override') return overrideCommand(s.app, s.environment);
  return `gantry ${action} ${s.app} ${s.environment}${action === 'approve' ? ' -m "<comment>"' : ''}`;
}

function waitingPanel(s: ReleaseStatus): SafeHtml {
  const w = s.waiting;
  if (!w) return html``;
  const a = w.approvers;
  const cmd = cliCommand(s);
  return html`<section class="waiting" aria-labelledby="h-waiting" data-testid="waiting-panel"><h2 id="h-waiting">Waiting on ${w.on}</h2>
<p>${prose(w.reason)}</p>
<dl>
<dt>Since</dt><dd>${time(w.since)}</dd>
${w.until ? html`<dt>Until</dt><dd>${time(w.until)} (<span data-until="${w.until}">${w.until}</span> left)</dd>` : ''}
${a ? html`<dt>Approvals</dt><dd data-testid="approvals"><strong>${a.approvals.length} of ${a.required}</strong>${a.approvals.length ? html`: ${a.approvals.map((x, i) => html`${i ? ', ' : ''}${x.by} at ${time(x.at)}${x.expiresAt ? html` (counts until ${time(x.expiresAt)})` : ''}`)}` : ''}</dd>
<dt>Who can approve</dt><dd data-testid="approvers">${a.users.length || a.groups.length ? approverWords([...a.users.filter((u) => !a.excluded.some((x) => x.id === u)), ...a.groups.map((g) => `group:${g}`)]) || 'nobody named' : 'anyone signed in'}</dd>
${a.excluded.length ? html`<dt>May not approve</dt><dd><ul class="plain">${a.excluded.map((x) => html`<li>${x.id}: ${x.why}</li>`)}</ul></dd>` : ''}
${a.escalation ? html`<dt>Escalation</dt><dd>${time(a.escalation.at)} to ${approverWords([...a.escalation.to.users, ...a.escalation.to.groups.map((g) => `group:${g}`)])}${a.escalation.sent ? ' (sent)' : ''}</dd>` : ''}` : html`<dt>Who can unblock it</dt><dd>${cmd ? w.who.replace(` (${cmd})`, '') : w.who}</dd>`}
${cmd ? html`<dt>From a terminal</dt><dd><code data-testid="cli-command">${cmd}</code></dd>` : ''}
</dl></section>`;
}

type Entry = { at: string; kind: 'event'; e: HistoryEvent } | { at: string; kind: 'decision'; d: Decision };

export function decisionText(d: Decision): string {
  return `${d.action} by ${d.by} via ${d.channel} at ${timeText(d.at)}${d.comment ? `: ${d.comment}` : ''}`;
}

/** " group 2" before an event's message, unless the message names its group itself (most do). */
function eventGroup(e: HistoryEvent): string {
  if (e.group === undefined || e.group < 0 || new RegExp(`\\bgroup ${e.group + 1}\\b`).test(e.message)) return '';
  return ` group ${e.group + 1}`;
}

/** The summary beside the phase badge, without saying the phase twice ("succeeded: …", "completing"). */
export function summaryText(s: Pick<ReleaseStatus, 'phase' | 'summary'>): string {
  if (s.summary === s.phase) return '';
  return prose(s.summary.startsWith(`${s.phase}: `) ? s.summary.slice(s.phase.length + 2) : s.summary);
}

function timeline(s: ReleaseStatus): SafeHtml {
  const entries: Entry[] = [...s.events.map((e): Entry => ({ at: e.at, kind: 'event', e })), ...s.decisions.map((d): Entry => ({ at: d.at, kind: 'decision', d }))];
  entries.sort((x, y) => Date.parse(y.at) - Date.parse(x.at));
  return html`<section aria-labelledby="h-timeline"><h2 id="h-timeline">Timeline <span class="muted">(newest first; the full record: gantry release history ${s.app} ${s.environment})</span></h2>
<ol class="timeline" data-testid="timeline">${entries.map((x) => x.kind === 'event'
    ? html`<li>${time(x.e.at)} <span class="badge muted">${x.e.type}</span>${eventGroup(x.e)} ${prose(x.e.message)}</li>`
    : html`<li class="decision" data-testid="timeline-decision">${time(x.d.at)} <span class="badge run">decision</span> <strong>${x.d.action}</strong> by ${x.d.by} via ${x.d.channel}${x.d.comment ? html`: “${x.d.comment}”` : ''}</li>`)}</ol></section>`;
}

/** Everything about the release that changes: what the page renders first and each live fragment replaces. */
export function liveBody(c: ReleaseContext): SafeHtml {
  const s = c.status;
  const env = c.memo?.environment;
  const repo = repoOf(c.memo?.trigger);
  return html`<section class="head" aria-labelledby="h-phase">
<h2 id="h-phase" class="sr-only">Phase</h2>
<p data-testid="phase">${phaseBadge(s.phase)} ${s.kind === 'rollback' ? html`<span class="badge muted">rollback release</span> ` : ''}<span class="summary" data-testid="summary">${summaryText(s)}</span></p>
<p class="muted">Group ${s.group.current} of ${s.group.of}${s.group.name && s.group.name !== `group ${s.group.current}` ? html` (${s.group.name})` : ''} · started by ${s.startedBy} at ${time(s.startedAt)} (${age(s.startedAt, c.now)} ago)${s.stop ? html` · stopped: ${s.stop.cause}, ${prose(s.stop.reason)}` : ''}</p>
${s.outcome?.hint ?? s.stop?.hint ? html`<p class="hint">${s.outcome?.hint ?? s.stop?.hint}</p>` : ''}
<div class="revs">${revisionBlock('Revision', s.revision, repo, 'revision')}${revisionBlock('Replaces', s.previous, repo, 'previous')}</div>
</section>
${waitingPanel(s)}
${actionsPanel(s, c.viewer, env?.approvers)}
<div class="cols">${stepper(s, env)}${cellsGrid(s)}</div>
${analysisPanel(s, env)}
${timeline(s)}`;
}

function links(s: ReleaseStatus, memo: Partial<ReleaseMemo> | undefined, deps: ConsoleDeps): SafeHtml {
  const repo = repoOf(memo?.trigger);
  const ns = deps.service.client.options.namespace;
  const out: SafeHtml[] = [];
  if (deps.temporalUiUrl) out.push(html`<a href="${deps.temporalUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(ns)}/workflows/${encodeURIComponent(releaseWorkflowId(s.app, s.environment))}" rel="noreferrer" data-testid="temporal-link">Temporal UI workflow</a>`);
  if (repo && s.revision.sha) out.push(html`<a href="https://github.com/${repo}/commit/${s.revision.sha}" rel="noreferrer">GitHub commit ${s.revision.sha.slice(0, 7)}</a>`);
  return out.length ? html`<p class="links">${out.map((l, i) => html`${i ? ' · ' : ''}${l}`)}</p>` : html``;
}

/**
 * What a redirect after an action names, if it is the viewer's and the release records it: a decision
 * (?decided=<action>&at=<time>), or the rollback release a rollback after success started (?started=<run>).
 */
function flashOf(req: FastifyRequest, s: ReleaseStatus, viewer: Viewer): string | undefined {
  const q = (req.query ?? {}) as Record<string, unknown>;
  if (typeof q.started === 'string') {
    return s.kind === 'rollback' && s.startedBy === viewer.identity.id ? `rollback by ${s.startedBy} via ui at ${timeText(s.startedAt)}: a rollback release to ${s.revision.image}@${shortDigest(s.revision.digest) || '(no digest)'} started` : undefined;
  }
  if (typeof q.decided !== 'string' || typeof q.at !== 'string') return undefined;
  const d = s.decisions.find((x) => x.action === q.decided && x.at === q.at && x.by === viewer.identity.id);
  return d ? decisionText(d) : undefined;
}

/** The whole page: the static head (name, links, the outcome of the viewer's last action) and the live body. */
export function releasePage(c: ReleaseContext, deps: ConsoleDeps, opts: { decided?: string; error?: GantryError } = {}): SafeHtml {
  const s = c.status;
  const path = releasePath(s.app, s.environment);
  const body = html`<h1><a href="/ui">Releases</a> / ${s.app} → ${s.environment}</h1>
${links(s, c.memo, deps)}
${opts.error ? errorBox(opts.error) : ''}
${opts.decided ? html`<p class="flash" role="status" data-testid="decision-line">Recorded: ${opts.decided}</p>` : ''}
<p class="live-indicator" role="status" data-testid="live-indicator" id="live-indicator" data-state="static">Not live: reload for the latest.</p>
<div id="live" hx-sse:connect="${path}/live" hx-sse:close="gantry-end" hx-swap="innerHTML">
${liveBody(c)}
</div>`;
  return page({ title: `${s.app} → ${s.environment}`, viewer: c.viewer, nav: 'releases', body });
}

export async function sendReleasePage(req: FastifyRequest, reply: FastifyReply, deps: ConsoleDeps, helpers: ConsoleHelpers, viewer: Viewer, app: string, env: string, error?: GantryError): Promise<FastifyReply> {
  const [status, memo] = await Promise.all([deps.service.status(app, env, EVENTS, viewer.identity), memoOf(deps, app, env)]);
  const c: ReleaseContext = { status, ...(memo ? { memo } : {}), viewer, now: (deps.now ?? Date.now)() };
  const decided = error ? undefined : flashOf(req, status, viewer);
  return helpers.sendPage(reply, releasePage(c, deps, { ...(decided ? { decided } : {}), ...(error ? { error } : {}) }).toString(), error?.httpStatus ?? 200);
}

export const releaseRoutes: ConsoleRoutes = (app: FastifyInstance, deps: ConsoleDeps, helpers: ConsoleHelpers) => {
  app.get('/ui/releases/:app/:env', async (req, reply) => {
    const viewer = helpers.requireViewer(req, reply);
    if (!viewer) return reply;
    const p = releaseParamsOf(req);
    return sendReleasePage(req, reply, deps, helpers, viewer, p.app, p.env);
  });

  // The live body as HTML fragments over server-sent events (htmx's hx-sse:connect).
  app.get('/ui/releases/:app/:env/live', async (req, reply) => {
    const viewer = helpers.requireViewer(req, reply);
    if (!viewer) return reply;
    const p = releaseParamsOf(req);
    const h = req.headers['last-event-id'];
    const lastRaw = (Array.isArray(h) ? h[0] : h)?.trim();
    const lastEventId = lastRaw && /^\d{1,16}$/.test(lastRaw) ? Number(lastRaw) : undefined;
    const memo = await memoOf(deps, p.app, p.env);
    const now = deps.now ?? Date.now;
    const format = htmlFormat((status) => liveBody({ status, ...(memo ? { memo } : {}), viewer, now: now() }).toString(), 'gantry-end');
    const err = await deps.streams.serve(req, reply.raw, { identity: viewer.identity, channel: 'ui' }, p.app, p.env, lastEventId, format);
    if (err) throw err;
    return reply.hijack();
  });
};
