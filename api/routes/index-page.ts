// GET /: the read-only HTML table of releases (a loopback dashboard: without a token when publicIndex).
import type { FastifyInstance } from 'fastify';
import { listReleases, type ListedRelease } from './releases.js';
import type { RouteDeps } from './deps.js';

function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

function renderIndex(releases: ListedRelease[]): string {
  const rows = releases.map((r) => `<tr class="${esc(r.phase ?? r.status)}"><td>${esc(r.app)}</td><td>${esc(r.environment)}</td><td>${esc(r.phase ?? r.status)}</td><td>${esc(r.summary ?? '')}</td><td>${esc(r.startTime)}</td><td>${esc(r.closeTime ?? '')}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gantry releases</title>
<meta http-equiv="refresh" content="5">
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.succeeded td:nth-child(3){color:#080}.rolled-back td:nth-child(3),.failed td:nth-child(3){color:#b00}.waiting-approval td:nth-child(3),.paused td:nth-child(3){color:#a60}</style>
</head><body><h1>Gantry releases</h1>
${releases.length ? `<table><thead><tr><th>app</th><th>environment</th><th>phase</th><th>summary</th><th>started</th><th>ended</th></tr></thead><tbody>
${rows}
</tbody></table>` : '<p>No releases yet. Start one with <code>gantry release start -e &lt;env&gt; --digest sha256:…</code></p>'}
<p><small>Read-only. Decisions: <code>gantry approve &lt;app&gt; &lt;env&gt;</code> and friends.</small></p>
</body></html>`;
}

export function registerIndexRoute(app: FastifyInstance, deps: RouteDeps & { publicIndex?: boolean }): void {
  app.get('/', async (req, reply) => {
    if (!deps.publicIndex) deps.callerOf(req);
    const releases = await listReleases(deps.service, 100);
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
      .header('x-content-type-options', 'nosniff')
      .send(renderIndex(releases));
  });
}
