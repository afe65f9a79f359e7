// Issue 9: the console in a real browser. Debian's Chromium (test/support/browser.ts) against the real
// API server on 127.0.0.1 (its console on, sign-in by the auth proxy's headers, the proxy trusted at
// 127.0.0.1), on the run's Temporal dev server with a worker and the simulated cluster:
//  - a release that waits is under "waiting for me" for alice (sre) and not for carol (its author);
//  - carol sees Approve disabled with the workflow's reason;
//  - forged posts (a form on another site, a same-origin post without the token) are refused and decide nothing;
//  - alice approves from one tab; the release page open in another moves to the next group live, no reload;
//  - a release held by its window says when the window opens.
// Every view is saved as a screenshot (test-artifacts/console; docs/console with GANTRY_UPDATE_SCREENSHOTS=1).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Fastify, { type FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { createConsoleAuth } from '../../api/console/auth.js';
import { ReleaseStreams } from '../../api/stream.js';
import type { Identity } from '../../core/approval.js';
import { loadApiConfig } from '../../runtime/config.js';
import { releaseWorkflowId } from '../../workflows/messages.js';
import { launchBrowser, screenshot, type TestBrowser } from '../support/browser.js';
import { startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { DIGEST_A, listenOnLoopback, startWaitingRelease, testServer, until } from '../api/helpers.js';

const SECRET = 'c0ns0le-browser-test-'.padEnd(48, 'x');
/** The people of these tests as the auth proxy names them: alice approves (sre), carol wrote the change. */
const alice: Identity = { id: 'alice', groups: ['sre'] };
const carol: Identity = { id: 'carol', groups: ['dev'] };

let h: Harness;
let server: FastifyInstance;
let base: string;
let tb: TestBrowser;
/** Another site (another port is another origin) whose page posts a form to the console. */
let evil: FastifyInstance;
let evilUrl: string;
const contexts: BrowserContext[] = [];
/** Uncaught page errors and CSP violations, per page: each test asserts its pages had none. */
const problems = new Map<Page, string[]>();
/** The release page's stream requests, to say why a page never went live. */
const sseLog = new Map<Page, string[]>();

beforeAll(async () => {
  h = await startHarness();
  const streams = new ReleaseStreams(h.service, { pollMs: 200, heartbeatMs: 5000 });
  const settings = loadApiConfig({ GANTRY_UI_SESSION_SECRET: SECRET, GANTRY_UI_TRUSTED_PROXIES: '127.0.0.1' }).console;
  if (!settings) throw new Error('expected the console to be configured');
  server = testServer(h.service, { streams, console: { auth: createConsoleAuth(settings) } });
  base = await listenOnLoopback(server);

  evil = Fastify();
  evil.get('/', async (req, reply) => {
    const target = String((req.query as { target?: unknown }).target ?? '');
    // The attacker knows the URL and the field names, not the viewer's CSRF token.
    return reply.type('text/html; charset=utf-8').send(`<!doctype html><html><body>
<form id="f" method="post" action="${target.replace(/"/g, '&quot;')}"><input name="comment" value="forged"></form>
<script>document.getElementById('f').submit()</script></body></html>`);
  });
  evilUrl = await listenOnLoopback(evil);

  tb = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await tb?.close();
  await evil?.close();
  await server?.close();
  await h?.close();
});

/** A browser signed in through the trusted proxy's headers (every request carries them, as behind the proxy). */
async function as(who: Identity): Promise<BrowserContext> {
  const c = await tb.browser.newContext({
    extraHTTPHeaders: { 'x-forwarded-user': who.id, 'x-forwarded-groups': who.groups.join(',') },
    viewport: { width: 1280, height: 900 },
  });
  contexts.push(c);
  return c;
}

async function open(c: BrowserContext, path: string): Promise<Page> {
  const p = await c.newPage();
  const seen: string[] = [];
  problems.set(p, seen);
  const events: string[] = [];
  sseLog.set(p, events);
  p.on('pageerror', (e) => seen.push(`page error: ${e.message}`));
  p.on('request', (r) => { if (r.url().endsWith('/live')) events.push(`live requested`); });
  p.on('response', (r) => { if (r.url().endsWith('/live')) events.push(`live ${r.status()}`); });
  p.on('requestfailed', (r) => events.push(`failed ${r.url()} ${r.failure()?.errorText ?? ''}`));
  p.on('console', (m) => {
    if (m.type() !== 'error' || !/Content Security Policy|Refused to/i.test(m.text())) return;
    // Every violation fails, htmx's own included (layout.ts sets defaultSettleDelay 0 so its settle step
    // never writes a style attribute).
    seen.push(`console on ${p.url()}: ${m.text()} at ${JSON.stringify(m.location())}`);
  });
  // Destructive buttons ask first (console.js, window.confirm); none of these tests sends one.
  p.on('dialog', (d) => { seen.push(`unexpected dialog: ${d.message()}`); void d.dismiss(); });
  const res = await p.goto(`${base}${path}`);
  expect(res?.status()).toBe(200);
  return p;
}

const releasePath = (app: string) => `/ui/releases/${app}/production`;
const rowOf = (p: Page, table: string, app: string) => p.locator(`[data-testid="${table}"] tr[data-release="${app}/production"]`);
const cleanPage = (p: Page) => expect(problems.get(p) ?? []).toEqual([]);

/** The WCAG contrast ratio of two computed `rgb(r, g, b)` colours. */
function contrast(a: string, b: string): number {
  const lum = (c: string) => {
    const [r, g, bl] = (c.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((x) => Number(x) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** The release page's stream is connected (console.js sets the indicator on htmx's SSE events). */
async function live(p: Page): Promise<void> {
  try {
    await p.locator('#live-indicator[data-state="live"]').waitFor({ timeout: 15_000 });
  } catch (err) {
    const el = p.locator('#live-indicator');
    throw new Error(`${p.url()}: the live indicator did not say live: state ${await el.getAttribute('data-state')}, "${await el.textContent()}"; events: ${(sseLog.get(p) ?? []).join(', ')}`, { cause: err });
  }
}

/** Reloads a list page until `ready` holds: the list is a visibility query, which lags the workflow a little. */
async function reloadUntil(p: Page, what: string, ready: () => Promise<boolean>): Promise<void> {
  await until(what, async () => {
    if (await ready()) return true;
    await p.reload();
    return undefined;
  }, 20_000, 500);
}

describe('the console in Chromium', () => {
  let waiting: string;

  beforeAll(async () => {
    // carol's change, started by dave; approvers alice, bob, carol and group sre; group 2 needs a person.
    waiting = await startWaitingRelease(h.service, 'ui');
  }, 60_000);

  it('home: a waiting release is under "waiting for me" for alice, not for carol (its author), who still sees it listed', async () => {
    const pa = await open(await as(alice), '/ui');
    await reloadUntil(pa, 'the release under alice\'s "waiting for me"', async () => (await rowOf(pa, 'waiting-for-me', waiting).count()) === 1);
    await expect(rowOf(pa, 'waiting-for-me', waiting).locator('a').first().getAttribute('href')).resolves.toBe(releasePath(waiting));
    expect(await pa.locator('#h-mine').textContent()).toMatch(/waiting for me/i);
    // Who can unblock: the approvers less carol (the author) and dave (the starter); the group in progress of how many.
    const mine = rowOf(pa, 'waiting-for-me', waiting);
    expect((await mine.getByTestId('who-can-unblock').innerText()).split('\n')).toEqual(['alice, bob, group sre', 'not carol, dave']);
    expect(await mine.getByTestId('group').textContent()).toBe('2 of 3');
    expect((await mine.locator('.cells-bars li').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())).toEqual(['zone-a 3/5', 'zone-b 3/5']);
    expect(await mine.locator('.cells-bars .bar').evaluateAll((bs) => bs.map((b) => b.getAttribute('aria-label')))).toEqual(['zone-a: new pods: 3 of 5', 'zone-b: new pods: 3 of 5']);
    await screenshot(pa, 'home-alice', { docs: true });
    cleanPage(pa);

    const pc = await open(await as(carol), '/ui');
    // Listed for carol (so the lists have caught up) ...
    await reloadUntil(pc, 'the release in carol\'s list', async () => (await rowOf(pc, 'releases', waiting).count()) === 1);
    // ... but not waiting for her: she wrote the change (four-eyes).
    expect(await rowOf(pc, 'waiting-for-me', waiting).count()).toBe(0);
    expect(await pc.locator('header').textContent()).toContain('carol');
    await screenshot(pc, 'home-carol');
    cleanPage(pc);
  });

  it('release page: carol sees Approve disabled with the workflow\'s reason; alice sees it enabled', async () => {
    const expected = (await h.service.status(waiting, 'production', 0, carol)).allowedActions?.approve;
    expect(expected).toMatchObject({ allowed: false, reason: expect.any(String) });

    const pc = await open(await as(carol), releasePath(waiting));
    await live(pc);
    const approve = pc.getByTestId('action-approve');
    expect(await approve.isDisabled()).toBe(true);
    const why = pc.locator('#why-approve');
    expect((await why.textContent())?.trim()).toBe(`⊘ Not now: ${expected!.reason!}`);
    // Disabled looks disabled: no fill, grey text with a dashed border, a "not allowed" sign, and the
    // text still readable (WCAG AA 4.5:1 against the white background).
    const look = await approve.evaluate((b) => {
      // In the page (no DOM types in this project's tsconfig).
      const style = (globalThis as unknown as { getComputedStyle(e: unknown, pseudo?: string): Record<string, string> }).getComputedStyle;
      const cs = style(b);
      return { background: cs.backgroundColor!, color: cs.color!, border: cs.borderTopStyle!, before: style(b, '::before').content!, opacity: cs.opacity! };
    });
    expect(look).toMatchObject({ background: 'rgb(255, 255, 255)', border: 'dashed', opacity: '1' });
    expect(look.before).toMatch(/⊘/);
    expect(contrast(look.color, look.background)).toBeGreaterThanOrEqual(4.5);
    // The reason is tied to the button for screen readers.
    expect(await approve.getAttribute('aria-describedby')).toBe('why-approve');
    await screenshot(pc, 'release-carol', { docs: true });
    cleanPage(pc);

    const pa = await open(await as(alice), releasePath(waiting));
    await live(pa);
    expect(await pa.getByTestId('action-approve').isEnabled()).toBe(true);
    expect(await pa.getByTestId('current-group').textContent()).toContain('Group 2 of 3');
    cleanPage(pa);
  });

  it('forged posts are refused and decide nothing: a form on another site, and a same-origin post without the CSRF token', async () => {
    const before = await h.service.status(waiting, 'production', 0);
    expect(before.phase).toBe('waiting-approval');
    const c = await as(alice);

    // Another site's page auto-submits a form to the console: alice's browser sends her proxy headers
    // along (as a proxy session would), but not her token, and the Origin is the other site's.
    const pe = await c.newPage();
    problems.set(pe, []);
    const answer = pe.waitForResponse((r) => r.url() === `${base}${releasePath(waiting)}/approve` && r.request().method() === 'POST');
    await pe.goto(`${evilUrl}/?target=${encodeURIComponent(`${base}${releasePath(waiting)}/approve`)}`);
    const res = await answer;
    expect(res.status()).toBe(403);
    await pe.waitForURL(`${base}${releasePath(waiting)}/approve`);
    const refused = pe.getByTestId('error');
    expect(await refused.textContent()).toMatch(/Refused:.*not sent by the Gantry console.*it comes from http:\/\/127\.0\.0\.1:\d+/s);
    await screenshot(pe, 'csrf-refused');

    // From the console's own origin (a script on the page, say) without the token.
    const pa = await open(c, releasePath(waiting));
    const sameOrigin = await pa.evaluate(`fetch(${JSON.stringify(`${releasePath(waiting)}/approve`)}, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'comment=no+token',
    }).then(async (r) => ({ status: r.status, text: await r.text() }))`) as { status: number; text: string };
    expect(sameOrigin.status).toBe(403);
    expect(sameOrigin.text).toContain('carries no CSRF token');

    // Nothing was decided: no decision recorded, still waiting at group 2.
    const after = await h.service.status(waiting, 'production', 0);
    expect(after.decisions).toEqual(before.decisions);
    expect(after.phase).toBe('waiting-approval');
    expect(after.group.current).toBe(before.group.current);
  });

  it('the live view connects even when the SSE extension loads after htmx (scripts not deferred)', async () => {
    // htmx initializes on a timer when loaded after parsing (defer): an extension arriving later than
    // that timer never sees hx-sse:connect. Slowing the extension down makes that race certain.
    const c = await as(alice);
    await c.route('**/ui/static/hx-sse.min.js', async (r) => { await new Promise((x) => setTimeout(x, 500)); await r.continue(); });
    const p = await open(c, releasePath(waiting));
    await live(p);
    cleanPage(p);
  });

  it('alice approves from one tab; the page open in another moves to the next group live, without a reload', async () => {
    const c = await as(alice);
    const watching = await open(c, releasePath(waiting));
    await live(watching);
    expect(await watching.getByTestId('current-group').textContent()).toContain('Group 2 of 3');
    // A mark on this document: still there at the end means it was never reloaded.
    await watching.evaluate("window.gantryMark = 'same document'");
    // carol watches too: her view follows the same release with her own (disabled) actions.
    const carolWatching = await open(await as(carol), releasePath(waiting));
    await live(carolWatching);

    const acting = await open(c, releasePath(waiting));
    await acting.locator('#action-comment').fill('looks good from the console');
    await Promise.all([acting.waitForURL(/\?decided=approve&at=/), acting.getByTestId('action-approve').click()]);
    // The console's one time format, as everywhere else on the page.
    expect(await acting.getByTestId('decision-line').textContent()).toMatch(/^Recorded: approve by alice via ui at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: looks good from the console$/);
    // Said once: the summary beside the phase, each event's group in the timeline.
    const timeline = (await acting.getByTestId('timeline').innerText());
    expect(timeline).not.toMatch(/\bgroup (\d+) group \1\b/);
    expect(timeline).not.toMatch(/\bgroup 0\b/);
    expect(await acting.getByTestId('summary').textContent()).not.toMatch(/waiting for approval: waiting|(\b\w+) \1\b/);
    await screenshot(acting, 'release-approved', { docs: true });

    // The watching tab: the release moved past group 2 (to 3 of 3, then succeeded) without a reload.
    await watching.locator('#live [data-testid="phase"]', { hasNotText: 'waiting-approval' }).waitFor({ timeout: 20_000 });
    await watching.locator('#live .head', { hasText: 'Group 3 of 3' }).waitFor({ timeout: 20_000 });
    await watching.locator('#live [data-testid="timeline-decision"]', { hasText: 'approve by alice via ui' }).waitFor({ timeout: 20_000 });
    expect(await watching.evaluate('window.gantryMark')).toBe('same document');
    await carolWatching.locator('#live .head', { hasText: 'Group 3 of 3' }).waitFor({ timeout: 20_000 });

    const final = await waitForStatus(h.service, waiting, 'production', (s) => s.phase === 'succeeded');
    expect(final.decisions).toEqual([expect.objectContaining({ action: 'approve', by: 'alice', channel: 'ui', comment: 'looks good from the console' })]);
    await watching.locator('#live [data-testid="phase"]', { hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
    await watching.locator('#live-indicator[data-state="ended"]').waitFor({ timeout: 20_000 });
    expect(await watching.evaluate('window.gantryMark')).toBe('same document');
    // Ended: said once, with when, and only what still applies (Roll back).
    expect(await watching.getByTestId('ended').textContent()).toMatch(/^The release has ended \(succeeded at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)\.$/);
    expect(await watching.locator('#live [data-testid="actions"] button').evaluateAll((bs) => bs.map((b) => b.id))).toEqual(['action-rollback']);
    // No full digest in prose (only the revision block's image reference carries one).
    expect(await watching.locator('#live .summary, #live .timeline, #live .reason').allInnerTexts()).not.toContainEqual(expect.stringMatching(/[0-9a-f]{64}/));
    await screenshot(watching, 'release-live-succeeded');
    for (const p of [watching, carolWatching, acting]) cleanPage(p);
  });

  it('a release held by its release window says when the window opens', async () => {
    const app = unique('uiwin');
    // A window two days from now (UTC), so it is closed now whatever the time.
    const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][(new Date().getUTCDay() + 2) % 7]!;
    const config = `app: { name: ${app}, image: registry.local/shop/web }
environments:
  - name: production
    replicas: 4
    cells: [{ name: zone-a }, { name: zone-b }]
    groups: [{ pods: 1 }, { pods: rest }]
    approvers: { users: [alice], groups: [sre] }
    calendar:
      windows: [{ days: [${day}], start: '10:00', end: '11:00', timeZone: UTC }]
`;
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A, sha: 'abc1234', author: 'carol' } }, { identity: { id: 'dave', groups: ['dev'] }, channel: 'api' });
    try {
      const held = await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-window');
      expect(held.waiting?.until).toBeDefined();
      const until = new Date(held.waiting!.until!);
      expect(until.getUTCHours()).toBe(10);

      const p = await open(await as(alice), releasePath(app));
      await live(p);
      const panel = p.getByTestId('waiting-panel');
      expect(await panel.locator('h2').textContent()).toBe('Waiting on window');
      const text = (await panel.textContent()) ?? '';
      expect(text).toContain(held.waiting!.reason);
      // When it opens, said once; one command to override it.
      expect(held.waiting!.reason.match(/opens/g)).toHaveLength(1);
      expect(text.match(/gantry override/g)).toHaveLength(1);
      expect(await p.getByTestId('cli-command').textContent()).toBe(`gantry override ${app} production -m "<reason>"`);
      // Its notice is about group 1, as its own text says.
      await p.locator('[data-testid="timeline"] li', { hasText: /notified|could not notify/ }).first().waitFor({ timeout: 10_000 });
      expect(await p.getByTestId('timeline').innerText()).not.toMatch(/\bgroup 0\b/);
      // When it opens, as a time and as a countdown (console.js ticks it).
      expect(text).toContain(until.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
      await p.locator(`[data-until="${held.waiting!.until!}"]`, { hasText: /\d+ h \d+ min/ }).waitFor({ timeout: 5_000 });
      // The way out of a closed window: alice may override it (with a reason).
      expect(await p.getByTestId('action-override').isEnabled()).toBe(true);
      await screenshot(p, 'release-window-hold', { docs: true });
      cleanPage(p);
    } finally {
      await h.client.workflow.getHandle(releaseWorkflowId(app, 'production')).terminate('test over').catch(() => undefined);
    }
  });
});
