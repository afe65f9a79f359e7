// Signing in to the console in a real browser (Debian's Chromium, test/support/browser.ts), against the
// real API server on 127.0.0.1 with its console on (OIDC and API-token sign-in, no auth proxy), on the
// run's Temporal dev server:
//  - OIDC: the sign-in page's link goes to a real local provider (oidc-provider, test/support/oidc-provider.ts),
//    whose development login and consent forms are filled in the browser, and back: /ui, as alice (sre);
//  - API token: the token typed into the sign-in page's password field: /ui, as alice (sre); a wrong
//    token stays out.
// Screenshots: test-artifacts/console/signin-oidc.png, signin-token.png (and the sign-in page, signin-page.png).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { identityTable } from '../../api/auth.js';
import { createConsoleAuth, SESSION_COOKIE } from '../../api/console/auth.js';
import { ReleaseStreams } from '../../api/stream.js';
import { loadApiConfig } from '../../runtime/config.js';
import { launchBrowser, screenshot, type TestBrowser } from '../support/browser.js';
import { startOidcProvider, type RunningProvider } from '../support/oidc-provider.js';
import { freePort } from '../support/poll.js';
import { startHarness, type Harness } from '../support/release-harness.js';
import { testServer } from '../api/helpers.js';

const SECRET = 'signin-browser-test-'.padEnd(48, 's');
/** alice's API token, as GANTRY_TOKENS would give it to the API and the CLI. */
const ALICE_TOKEN = 'alice-browser-9d8c7b6a5f4e3d2c1b0a';

let h: Harness;
let idp: RunningProvider;
let server: FastifyInstance;
let base: string;
let tb: TestBrowser;
const contexts: BrowserContext[] = [];
/** Uncaught page errors and CSP violations on the console's pages. */
const problems: string[] = [];

beforeAll(async () => {
  h = await startHarness();
  // The OIDC redirect names the console's address, so the port is chosen before either starts.
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  idp = await startOidcProvider({ redirectUris: [`${base}/ui/callback`], accounts: { alice: { groups: ['sre'] } } });
  const settings = loadApiConfig({
    GANTRY_UI_SESSION_SECRET: SECRET, GANTRY_PUBLIC_URL: base, GANTRY_UI_TOKEN_LOGIN: 'true',
    GANTRY_UI_OIDC_ISSUER: idp.issuer, GANTRY_UI_OIDC_CLIENT_ID: idp.clientId, GANTRY_UI_OIDC_CLIENT_SECRET: idp.clientSecret,
    GANTRY_UI_OIDC_SCOPES: 'openid profile groups',
  }).console;
  if (!settings) throw new Error('expected the console to be configured');
  const identities = identityTable([{ identity: { id: 'alice', groups: ['sre'] }, token: ALICE_TOKEN }]);
  const streams = new ReleaseStreams(h.service, { pollMs: 200, heartbeatMs: 5000 });
  server = testServer(h.service, { identities, streams, console: { auth: createConsoleAuth(settings, { identities }) } });
  await server.listen({ host: '127.0.0.1', port });
  tb = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await tb?.close();
  await server?.close();
  await idp?.close();
  await h?.close();
});

async function fresh(): Promise<{ c: BrowserContext; p: Page }> {
  const c = await tb.browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(c);
  const p = await c.newPage();
  p.on('pageerror', (e) => problems.push(`page error on ${p.url()}: ${e.message}`));
  p.on('console', (m) => {
    // The provider's development pages are not ours; the console's must have no CSP violation.
    if (m.type() === 'error' && p.url().startsWith(base) && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`console on ${p.url()}: ${m.text()}`);
  });
  return { c, p };
}

/** The console's home page, signed in: its header names the viewer and offers Sign out. */
async function expectSignedInHome(p: Page, c: BrowserContext): Promise<void> {
  await p.waitForURL(`${base}/ui`, { timeout: 15_000 });
  const who = p.locator('header form.who');
  await expect(who.locator('span').textContent()).resolves.toBe('You are alice (sre)');
  await expect(who.locator('button[type="submit"]').textContent()).resolves.toBe('Sign out');
  const cookie = (await c.cookies(`${base}/ui`)).find((k) => k.name === SESSION_COOKIE);
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui' });
}

describe('signing in to the console in Chromium', () => {
  it('with OIDC: the sign-in link, the provider\'s login and consent forms, back to /ui as alice (sre)', async () => {
    const { c, p } = await fresh();
    // An unsigned visit goes to the sign-in page.
    await p.goto(`${base}/ui`);
    await p.waitForURL(/\/ui\/login/);
    await p.getByRole('link', { name: `Sign in with ${new URL(idp.issuer).host}` }).click();
    // oidc-provider's development login (any password; the login is the account) and consent pages.
    await p.waitForURL((u) => u.origin === idp.issuer, { timeout: 15_000 });
    await p.locator('input[name="login"]').fill('alice');
    await p.locator('input[name="password"]').fill('any password');
    await p.locator('button[type="submit"]').click();
    await p.locator('button:has-text("Continue")').click({ timeout: 15_000 });
    await expectSignedInHome(p, c);
    await screenshot(p, 'signin-oidc');
    expect(problems).toEqual([]);
  });

  it('with an API token: typed into the sign-in page\'s password field, lands on /ui as alice (sre); a wrong one stays out', async () => {
    const { c, p } = await fresh();
    await p.goto(`${base}/ui/login`);
    const field = p.getByLabel('API token');
    await expect(field.getAttribute('type')).resolves.toBe('password');
    await screenshot(p, 'signin-page');
    await field.fill(`${ALICE_TOKEN}-wrong`);
    await p.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect(p.locator('main').textContent()).resolves.toContain('unknown or revoked token');
    expect(await c.cookies(`${base}/ui`)).toEqual([]);

    await p.goto(`${base}/ui/login`);
    await p.getByLabel('API token').fill(ALICE_TOKEN);
    await p.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectSignedInHome(p, c);
    await screenshot(p, 'signin-token');
    // Sign out from the header: back to the sign-in page, and /ui asks again.
    await p.locator('header form.who button[type="submit"]').click();
    await p.waitForURL(`${base}/ui/login`);
    await p.goto(`${base}/ui`);
    await p.waitForURL(/\/ui\/login\?next=/);
    expect(problems).toEqual([]);
  });
});
