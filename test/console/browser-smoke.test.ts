// The browser the console tests drive, proved on its own: Debian's Chromium 156 from the test bed
// loads the vendored htmx 4.0.1 and its SSE extension from a real Fastify server and swaps the
// stream's messages into the page live, without a reload.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { launchBrowser, screenshot, type TestBrowser } from '../support/browser.js';

const require = createRequire(import.meta.url);
const htmxDist = path.dirname(require.resolve('htmx.org/dist/htmx.min.js'));
const scripts: Record<string, string> = {
  '/htmx.min.js': path.join(htmxDist, 'htmx.min.js'),
  '/hx-sse.min.js': path.join(htmxDist, 'ext', 'hx-sse.min.js'),
};

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>smoke</title>
<script src="/htmx.min.js"></script><script src="/hx-sse.min.js"></script></head>
<body>
<div id="live" hx-sse:connect="/events" hx-swap="innerHTML">not connected</div>
<p id="named">no named event</p>
<script>document.body.addEventListener('done', (e) => { document.getElementById('named').textContent = 'done: ' + e.detail.data; });</script>
</body></html>`;

let app: FastifyInstance;
let url: string;
let tb: TestBrowser;
const streams = new Set<ServerResponse>();
let streamAccept: string | undefined;

function send(raw: string): void {
  for (const res of streams) res.write(raw);
}

beforeAll(async () => {
  app = Fastify();
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));
  for (const [route, file] of Object.entries(scripts)) {
    app.get(route, async (_req, reply) => reply.type('text/javascript').send(fs.readFileSync(file)));
  }
  app.get('/events', (req, reply) => {
    streamAccept = req.headers.accept;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    res.write('id: 1\ndata: <b id="tick">tick 1</b>\n\n');
    streams.add(res);
    res.on('close', () => streams.delete(res));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address();
  if (!a || typeof a === 'string') throw new Error('smoke server: no TCP address');
  url = `http://127.0.0.1:${a.port}`;
  tb = await launchBrowser();
});

afterAll(async () => {
  await tb?.close();
  for (const res of streams) res.end();
  await app?.close();
});

const text = (p: Page, sel: string) => p.locator(sel).textContent({ timeout: 10_000 });
/** Waits until the element's whole text is exactly `want` (tsconfig has no DOM lib: locators, not page functions). */
const untilText = (p: Page, sel: string, want: string) => p.locator(sel).filter({ hasText: new RegExp(`^${want}$`) }).waitFor({ timeout: 10_000 });

test('the test bed browser is Debian Chromium 156', () => {
  expect(tb.version).toMatch(/^156\./);
});

test('htmx 4 with hx-sse swaps stream messages into the page live, without a reload', async () => {
  const ctx = await tb.browser.newContext();
  try {
    const p = await ctx.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(url);
    await untilText(p, '#tick', 'tick 1');
    expect(streamAccept).toContain('text/event-stream');
    // A mark on this document: still there after the next swaps means no reload happened.
    await p.evaluate("window.mark = 'same document'");

    send('id: 2\ndata: <b id="tick">tick 2</b>\n\n');
    await untilText(p, '#tick', 'tick 2');
    // A named event is a DOM event on the connecting element (bubbling to body), not a swap.
    send('id: 3\nevent: done\ndata: finished\n\n');
    await untilText(p, '#named', 'done: finished');
    expect(await text(p, '#tick')).toBe('tick 2');
    expect(await p.evaluate('window.mark')).toBe('same document');
    expect(errors).toEqual([]);
    await screenshot(p, 'browser-smoke');
  } finally {
    await ctx.close();
  }
});
