// Small pieces the console's release views share: phase badges (text and colour, never colour alone),
// times, revisions, who can unblock a release, and the HTML error page. Every value goes through html``.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Phase, Revision } from '../../../core/release.js';
import { GantryError } from '../../errors.js';
import { html, type SafeHtml } from '../html.js';
import { page } from '../layout.js';
import type { ConsoleDeps, ConsoleHelpers, Viewer } from '../types.js';

export type Tone = 'ok' | 'bad' | 'wait' | 'run' | 'muted';

export function phaseTone(phase: Phase): Tone {
  switch (phase) {
    case 'succeeded': return 'ok';
    case 'rolled-back': case 'failed': case 'rolling-back': return 'bad';
    case 'waiting': case 'waiting-approval': case 'waiting-window': case 'paused': return 'wait';
    case 'applying': case 'verifying': case 'analysing': case 'confirming': case 'completing': return 'run';
    default: {
      const never: never = phase;
      throw new Error(`unknown phase ${String(never)}`);
    }
  }
}

const PHASES = new Set<string>(['applying', 'verifying', 'analysing', 'confirming', 'waiting', 'waiting-approval', 'waiting-window', 'paused', 'completing', 'rolling-back', 'succeeded', 'rolled-back', 'failed']);

/** A phase (or, for a release listed without one, its workflow status) as a badge: the word is always there. */
export function phaseBadge(phase: string): SafeHtml {
  const tone: Tone = PHASES.has(phase) ? phaseTone(phase as Phase) : phase === 'running' ? 'run' : phase === 'completed' ? 'ok' : 'bad';
  return html`<span class="badge ${tone}">${phase}</span>`;
}

/** 2026-12-02T12:00:00.000Z → 2026-12-02 12:00:00 UTC: the console's one way to write an instant as text. */
export function timeText(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** An instant as timeText, in a <time> element. */
export function time(iso: string | undefined): SafeHtml {
  if (!iso) return html`<span class="muted">—</span>`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`${iso}`;
  return html`<time datetime="${d.toISOString()}">${timeText(iso)}</time>`;
}

/** Text for people: every full sha256 digest in it shortened to 12 hex digits (the full one is in the revision block). */
export function prose(text: string): string {
  return text.replace(/sha256:([0-9a-f]{12})[0-9a-f]{52}/g, 'sha256:$1');
}

/** How long ago, in words (3 min, 2 h 5 min). */
export function age(iso: string | undefined, now: number): string {
  if (!iso) return '';
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** sha256:abcdef… → sha256:abcdef123456 (12 hex digits: enough to tell revisions apart on screen). */
export function shortDigest(digest: string | undefined): string {
  if (!digest) return '';
  return digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]*$/, '$1');
}

/** A GitHub repository (owner/name) a release names through its trigger (tag:<owner/name>:<tag>:<sha>), when it does. */
export function repoOf(trigger: string | undefined): string | undefined {
  const m = /^tag:([A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+):/.exec(trigger ?? '');
  return m ? m[1] : undefined;
}

export function shaLink(sha: string | undefined, repo: string | undefined): SafeHtml {
  if (!sha) return html``;
  const short = sha.slice(0, 7);
  return repo ? html`<a href="https://github.com/${repo}/commit/${sha}" rel="noreferrer"><code>${short}</code></a>` : html`<code title="${sha}">${short}</code>`;
}

/** One line for a revision: digest (short), sha, author. */
export function revisionLine(r: Revision | undefined, repo?: string): SafeHtml {
  if (!r) return html`<span class="muted">—</span>`;
  return html`${r.digest ? html`<code title="${r.image}@${r.digest}">${shortDigest(r.digest)}</code>` : html`<code>${r.image}</code>`}${r.sha ? html` ${shaLink(r.sha, repo)}` : ''}${r.author ? html` <span class="muted">by ${r.author}</span>` : ''}`;
}

/** `group:sre` → "group sre", `*` → "anyone signed in". */
export function approverWords(list: readonly string[] | undefined): string {
  if (!list?.length) return '';
  return list.map((a) => (a === '*' ? 'anyone signed in' : a.startsWith('group:') ? `group ${a.slice(6)}` : a)).join(', ');
}

/** A bar of `part` out of `whole` with its numbers as text beside it (the bar alone says nothing to a screen reader). */
export function bar(part: number, whole: number, label: string, percent = false): SafeHtml {
  const pct = whole > 0 ? Math.round((part / whole) * 100) : 0;
  // Widths come from classes in steps of 10 %: the CSP allows no inline style.
  const step = Math.min(10, Math.max(0, Math.round(pct / 10)));
  return html`<span class="bar" role="img" aria-label="${label}: ${percent ? `${pct} %` : `${part} of ${whole}`}"><span class="w${step * 10}"></span></span> <span class="num">${percent ? `${pct} %` : `${part}/${whole}`}</span>`;
}

/** The error of a console request as a page (or, for an htmx request, a fragment) with its message and hint. */
export function renderError(req: FastifyRequest, reply: FastifyReply, err: unknown, deps: Pick<ConsoleDeps, 'auth'>, helpers: Pick<ConsoleHelpers, 'sendPage' | 'sendFragment'>): FastifyReply {
  const { status, body } = errorOf(err, req);
  if (err instanceof GantryError && err.retryAfterSeconds) void reply.header('retry-after', String(err.retryAfterSeconds));
  if (req.headers['hx-request']) return helpers.sendFragment(reply, body.toString(), status);
  let viewer: Viewer | undefined;
  try { viewer = deps.auth.viewer(req); } catch { viewer = undefined; }
  return helpers.sendPage(reply, page({ title: 'Error', ...(viewer ? { viewer } : {}), body: html`${body}<p><a href="/ui">Back to the releases</a></p>` }).toString(), status);
}

function errorOf(err: unknown, req: FastifyRequest): { status: number; body: SafeHtml } {
  if (err instanceof GantryError) return { status: err.httpStatus, body: errorBox(err) };
  const status = (err as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own (a body too large, a bad content type): its message says what.
    return { status, body: errorBox(new GantryError(status === 413 ? 'too_large' : 'bad_request', (err as Error).message)) };
  }
  req.log.error({ err }, 'console: request failed');
  return { status: 500, body: html`<div class="error" role="alert" data-testid="error"><p><strong>Error:</strong> the request failed (request ${req.id}); the details are in the Gantry API server log.</p></div>` };
}

export function errorBox(e: GantryError): SafeHtml {
  const j = e.toJSON();
  const title = e.code === 'refused' ? 'Refused' : 'Error';
  // Messages often start with their own "refused: …": the title says it once.
  const message = prose(j.message.replace(new RegExp(`^${title}:\\s*`, 'i'), ''));
  return html`<div class="error" role="alert" data-testid="error">
<p><strong>${title}:</strong> ${message}</p>
${j.hint ? html`<p class="hint">${j.hint}</p>` : ''}
${j.details?.length ? html`<ul>${j.details.map((d) => html`<li><code>${d.path}</code>: ${d.message}${d.hint ? html` — ${d.hint}` : ''}</li>`)}</ul>` : ''}
</div>`;
}
