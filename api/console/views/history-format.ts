// Small pieces the pipelines, calendar and audit views share: instants (written in a given zone by
// the server, in the viewer's own by console.js from data-utc), durations, outcome badges, and
// forms that carry the viewer's CSRF token.
import { DateTime } from 'luxon';
import { html, type SafeHtml } from '../html.js';
import type { Viewer } from '../types.js';

/** 'Mon 2026-11-23 10:00' in `zone` (UTC by default). */
export function zoned(isoOrMs: string | number, zone = 'UTC', withZone = true): string {
  const d = typeof isoOrMs === 'number' ? DateTime.fromMillis(isoOrMs, { zone }) : DateTime.fromISO(isoOrMs, { zone });
  if (!d.isValid) return String(isoOrMs);
  return `${d.toFormat('ccc yyyy-LL-dd HH:mm')}${withZone ? ` ${zone}` : ''}`;
}

/**
 * An instant: the text in `zone` (the environment's, else UTC), the UTC instant in data-utc for
 * console.js to add the viewer's local time next to it.
 */
export function when(isoOrMs: string | number | undefined, zone = 'UTC', testid?: string): SafeHtml {
  if (isoOrMs === undefined) return html``;
  const utc = typeof isoOrMs === 'number' ? new Date(isoOrMs).toISOString() : isoOrMs;
  return html`<time datetime="${utc}" data-utc="${utc}"${testid ? html` data-testid="${testid}"` : ''}>${zoned(utc, zone)}</time>`;
}

/** '4 min 12 s', '850 ms', '2 h 5 min'. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A badge whose text is the state itself (colour is never the only signal). */
export function stateBadge(state: string, testid?: string): SafeHtml {
  const tone = /^(succeeded|passed|completed|open)$/.test(state) ? 'ok'
    : /^(failed|rolled-back|terminated|timed-out|canceled|closed|frozen)$/.test(state) ? 'bad'
      : /^(running|applying|verifying|analysing|confirming|completing)$/.test(state) ? 'run' : 'wait';
  return html`<span class="badge ${tone}"${testid ? html` data-testid="${testid}"` : ''}>${state}</span>`;
}

export function shortDigest(d: string | undefined): string {
  return d ? d.replace(/^sha256:/, '').slice(0, 12) : '';
}

export function bytes(n: number | undefined): string {
  if (n === undefined) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A POST form of one button, with the viewer's CSRF token; `confirm` asks first (console.js). */
export function actionForm(viewer: Viewer, action: string, label: string, o: { confirm?: string; danger?: boolean; testid?: string } = {}): SafeHtml {
  return html`<form class="inline" method="post" action="${action}"${o.confirm ? html` data-confirm="${o.confirm}"` : ''}><input type="hidden" name="_csrf" value="${viewer.csrf}"><button type="submit"${o.danger ? html` class="danger"` : ''}${o.testid ? html` data-testid="${o.testid}"` : ''}>${label}</button></form>`;
}

/** /ui/pipelines/<owner>/<name>/<sha>: each segment of the repository encoded on its own. */
export function pipelineHref(repo: string, sha: string, gatesOnly = false): string {
  return `/ui/pipelines/${repo.split('/').map(encodeURIComponent).join('/')}/${encodeURIComponent(sha)}${gatesOnly ? '?gates=1' : ''}`;
}
