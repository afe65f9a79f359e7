// The console at /ui: server-rendered HTML (api/console/html.ts), htmx 4 and its SSE extension served
// from node_modules (no build step), sign-in by api/console/auth.ts. Every view reads through the same
// GantryService as the JSON API, and every action goes through the same Update validators: the console
// holds no authority of its own.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CONTENT_SECURITY_POLICY } from './layout.js';
import type { ConsoleDeps, ConsoleHelpers, Viewer } from './types.js';
import { VIEWS } from './views/index.js';
import { renderError } from './views/parts.js';

const require = createRequire(import.meta.url);
const here = path.dirname(new URL(import.meta.url).pathname);

/** The console's static files: name → [content type, path]. htmx is pinned exactly in package.json. */
function staticFiles(): Map<string, { type: string; body: Buffer }> {
  const htmxDist = path.dirname(require.resolve('htmx.org/dist/htmx.min.js'));
  const files: [string, string, string][] = [
    ['htmx.min.js', 'text/javascript; charset=utf-8', path.join(htmxDist, 'htmx.min.js')],
    ['hx-sse.min.js', 'text/javascript; charset=utf-8', path.join(htmxDist, 'ext', 'hx-sse.min.js')],
    ['console.js', 'text/javascript; charset=utf-8', path.join(here, 'static', 'console.js')],
    ['console.css', 'text/css; charset=utf-8', path.join(here, 'static', 'console.css')],
  ];
  return new Map(files.map(([name, type, file]) => [name, { type, body: fs.readFileSync(file) }]));
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-store');
}

export function registerConsole(app: FastifyInstance, deps: ConsoleDeps): void {
  const files = staticFiles();
  const helpers: ConsoleHelpers = {
    requireViewer(req: FastifyRequest, reply: FastifyReply): Viewer | undefined {
      const viewer = deps.auth.viewer(req);
      if (viewer) return viewer;
      const back = encodeURIComponent(req.url);
      // htmx requests follow HX-Location-style redirects poorly: tell them to reload the whole page.
      if (req.headers['hx-request']) void secure(reply).code(401).header('hx-redirect', `/ui/login?next=${back}`).send('');
      else void secure(reply).redirect(`/ui/login?next=${back}`, 303);
      return undefined;
    },
    sendPage: (reply, body, status = 200) => secure(reply).code(status).type('text/html; charset=utf-8').send(body),
    sendFragment: (reply, body, status = 200) => secure(reply).code(status).type('text/html; charset=utf-8').send(body),
  };
  void app.register(async (scope) => {
    await scope.register(formbody);
    scope.get('/ui/static/:file', async (req, reply) => {
      const f = files.get((req.params as { file: string }).file);
      if (!f) return reply.code(404).type('text/plain').send('not found');
      return reply.type(f.type).header('cache-control', 'public, max-age=300').header('x-content-type-options', 'nosniff').send(f.body);
    });
    // Errors under /ui are pages (or, for htmx, fragments) with the message and hint, never JSON.
    scope.setErrorHandler((err, req, reply) => renderError(req, reply, err, deps, helpers));
    deps.auth.register(scope);
    for (const routes of VIEWS) routes(scope, deps, helpers);
  });
}
