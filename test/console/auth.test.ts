// The console's sign-in (api/console/auth.ts) over real HTTP: a Fastify server on 127.0.0.1 port 0 with
// auth.register() and a protected /ui/whoami (GET: the viewer; POST: a state change behind verifyCsrf).
//  - trusted headers: believed from an allowed peer (127.0.0.1), ignored (and logged once) from any other;
//  - CSRF: missing, wrong or another viewer's token, a foreign or absent Origin → 403 and nothing done;
//  - OIDC: the whole authorization code + PKCE flow against a real oidc-provider on 127.0.0.1, its
//    login and consent forms driven with fetch (cookies carried, redirects followed by hand); then the
//    session cookie's attributes, tampered and expired sessions, sign-out;
//  - API-token sign-in (GANTRY_UI_TOKEN_LOGIN): a token from the API's IdentityTable posted from the
//    console's origin becomes the same session cookie; a wrong one or a foreign origin signs nobody in;
//  - configuration: loadApiConfig's console settings and its errors.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { identityTable } from '../../api/auth.js';
import { createConsoleAuth, LOGIN_COOKIE, SESSION_COOKIE } from '../../api/console/auth.js';
import type { ConsoleAuth } from '../../api/console/types.js';
import { GantryError } from '../../api/errors.js';
import { loadApiConfig, RuntimeConfigError, type ConsoleSettings, type Env } from '../../runtime/config.js';
import { startOidcProvider, type RunningProvider } from '../support/oidc-provider.js';
import { freePort } from '../support/poll.js';

const SECRET = 'f'.repeat(20) + '0123456789abcdef0123456789abcdef';
/** The API's tokens (as GANTRY_TOKENS gives them), for token sign-in. */
const ALICE_TOKEN = 'alice-token-5f1e2d3c4b5a69788796a5b4';
const identities = identityTable([{ identity: { id: 'alice', groups: ['sre'] }, token: ALICE_TOKEN }, { identity: { id: 'carol', groups: ['dev'] }, token: 'carol-token-0a1b2c3d4e5f60718293a4b5' }]);

interface Served { app: FastifyInstance; url: string; auth: ConsoleAuth; changes: string[]; logs: Record<string, unknown>[] }
const servers: FastifyInstance[] = [];
afterAll(async () => { for (const s of servers) await s.close(); });

/** The console's auth from the environment (through loadApiConfig, like the API process). */
function settings(env: Env): ConsoleSettings {
  const c = loadApiConfig({ GANTRY_UI_SESSION_SECRET: SECRET, ...env }).console;
  if (!c) throw new Error('expected the console to be on');
  return c;
}

async function serve(env: Env, now?: () => number, port = 0): Promise<Served> {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } }));
  const auth = createConsoleAuth(settings(env), { log, identities, ...(now ? { now } : {}) });
  const app = Fastify({ loggerInstance: log }) as unknown as FastifyInstance;
  servers.push(app);
  const changes: string[] = [];
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof GantryError) return reply.code(err.httpStatus).send(err.toJSON());
    return reply.code(500).send({ error: 'internal', message: (err as Error).message });
  });
  // As registerConsole (api/console/index.ts) does: forms parsed in the console's scope.
  await app.register(formbody);
  auth.register(app);
  app.get('/ui/whoami', async (req, reply) => {
    const v = auth.viewer(req);
    if (!v) return reply.code(401).send({ signedIn: false });
    return { id: v.identity.id, groups: v.identity.groups, via: v.via, csrf: v.csrf };
  });
  app.post('/ui/whoami', async (req, reply) => {
    const v = auth.viewer(req);
    if (!v) return reply.code(401).send({ signedIn: false });
    const body = req.body as Record<string, unknown> | undefined;
    const header = req.headers['x-csrf-token'];
    auth.verifyCsrf(req, v, typeof body?._csrf === 'string' ? body._csrf : typeof header === 'string' ? header : undefined);
    changes.push(v.identity.id);
    return { done: true, by: v.identity.id };
  });
  await app.listen({ host: '127.0.0.1', port });
  const bound = (app.server.address() as AddressInfo).port;
  return { app, url: `http://127.0.0.1:${bound}`, auth, changes, logs: lines };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = 'application/x-www-form-urlencoded';

describe('trusted headers from an auth proxy', () => {
  it('are the identity when the TCP peer is a trusted proxy (127.0.0.1 in 127.0.0.0/8), groups split on commas', async () => {
    const s = await serve({ GANTRY_UI_TRUSTED_PROXIES: '10.0.0.9, 127.0.0.0/8' });
    const r = await fetch(`${s.url}/ui/whoami`, { headers: { 'x-forwarded-user': 'alice', 'x-forwarded-groups': 'sre, release-managers,,sre, Domain Users' } });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ id: 'alice', groups: ['sre', 'release-managers', 'Domain Users'], via: 'proxy' });
  });

  it('are ignored from a peer that is not a trusted proxy (127.0.0.2 configured, 127.0.0.1 connects), even with X-Forwarded-For naming the proxy, and logged once', async () => {
    const s = await serve({ GANTRY_UI_TRUSTED_PROXIES: '127.0.0.2' });
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${s.url}/ui/whoami`, { headers: { 'x-forwarded-user': 'mallory', 'x-forwarded-groups': 'admins', 'x-forwarded-for': '127.0.0.2' } });
      expect(r.status).toBe(401);
    }
    const warned = s.logs.filter((l) => String(l.msg).includes('not in GANTRY_UI_TRUSTED_PROXIES'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ peer: '127.0.0.1', header: 'x-forwarded-user' });
    // The sign-in page says why.
    const page = await (await fetch(`${s.url}/ui/login`, { headers: { 'x-forwarded-user': 'mallory' } })).text();
    expect(page).toContain('came from 127.0.0.1, which is not a trusted proxy');
  });

  it('are believed by the TCP peer address only: the same server refuses 127.0.0.1 and accepts 127.0.0.2 when only 127.0.0.2 is trusted', async () => {
    const s = await serve({ GANTRY_UI_TRUSTED_PROXIES: '127.0.0.2' });
    const from = (localAddress: string) => new Promise<number>((resolve, reject) => {
      const req = http.get(`${s.url}/ui/whoami`, { localAddress, headers: { 'x-forwarded-user': 'alice' } }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', reject);
    });
    expect(await from('127.0.0.1')).toBe(401);
    expect(await from('127.0.0.2')).toBe(200);
  });

  it('reads the configured header names only', async () => {
    const s = await serve({ GANTRY_UI_TRUSTED_PROXIES: '127.0.0.1', GANTRY_UI_PROXY_USER_HEADER: 'X-Auth-Request-User', GANTRY_UI_PROXY_GROUPS_HEADER: 'x-auth-request-groups' });
    expect((await fetch(`${s.url}/ui/whoami`, { headers: { 'x-forwarded-user': 'alice' } })).status).toBe(401);
    const r = await fetch(`${s.url}/ui/whoami`, { headers: { 'x-auth-request-user': 'bob@example.com', 'x-auth-request-groups': 'dev' } });
    expect(await r.json()).toMatchObject({ id: 'bob@example.com', groups: ['dev'], via: 'proxy' });
  });

  it('refuses a user that is not one line without spaces (two headers joined, a space)', async () => {
    const s = await serve({ GANTRY_UI_TRUSTED_PROXIES: '127.0.0.1' });
    const joined = await fetch(`${s.url}/ui/whoami`, { headers: [['x-forwarded-user', 'alice'], ['x-forwarded-user', 'bob']] });
    expect(joined.status).toBe(401);
    const spaced = await fetch(`${s.url}/ui/whoami`, { headers: { 'x-forwarded-user': 'alice admin' } });
    expect(spaced.status).toBe(401);
  });
});

describe('CSRF on state-changing requests', () => {
  let s: Served;
  let token: string;
  const alice = { 'x-forwarded-user': 'alice', 'x-forwarded-groups': 'sre' };
  beforeAll(async () => {
    s = await serve({ GANTRY_UI_TRUSTED_PROXIES: '127.0.0.1', GANTRY_PUBLIC_URL: 'https://gantry.example.com' });
    token = ((await (await fetch(`${s.url}/ui/whoami`, { headers: alice })).json()) as { csrf: string }).csrf;
  });
  const post = (headers: Record<string, string>, body?: string) => fetch(`${s.url}/ui/whoami`, { method: 'POST', headers: { ...alice, ...headers }, ...(body !== undefined ? { body } : {}) });

  it('a missing token: 403 naming the token, nothing done', async () => {
    const r = await post({ origin: 'https://gantry.example.com', 'content-type': FORM }, form({ comment: 'x' }));
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: 'refused', message: expect.stringMatching(/no CSRF token/) });
    expect(s.changes).toEqual([]);
  });

  it('a wrong token, or another viewer\'s: 403, nothing done', async () => {
    const wrong = await post({ origin: 'https://gantry.example.com', 'content-type': FORM }, form({ _csrf: token.slice(0, -2) + 'AA' }));
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ message: expect.stringMatching(/not this viewer's/) });
    const bobs = ((await (await fetch(`${s.url}/ui/whoami`, { headers: { 'x-forwarded-user': 'bob' } })).json()) as { csrf: string }).csrf;
    expect(bobs).not.toBe(token);
    expect((await post({ origin: 'https://gantry.example.com', 'x-csrf-token': bobs })).status).toBe(403);
    expect(s.changes).toEqual([]);
  });

  it('a foreign Origin, a foreign Referer, or neither: 403 even with the right token', async () => {
    const foreign = await post({ origin: 'https://evil.example', 'content-type': FORM }, form({ _csrf: token }));
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ message: expect.stringMatching(/comes from https:\/\/evil\.example, not https:\/\/gantry\.example\.com/) });
    expect((await post({ origin: 'null', 'x-csrf-token': token })).status).toBe(403);
    expect((await post({ referer: 'https://gantry.example.com.evil.example/ui', 'x-csrf-token': token })).status).toBe(403);
    const none = await post({ 'x-csrf-token': token });
    expect(none.status).toBe(403);
    expect(await none.json()).toMatchObject({ message: expect.stringMatching(/neither an Origin nor a Referer/) });
    expect(s.changes).toEqual([]);
  });

  it('the viewer\'s token from the public origin (form field or header; Referer when no Origin): 200, done', async () => {
    const r = await post({ origin: 'https://gantry.example.com', 'content-type': FORM }, form({ _csrf: token }));
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ done: true, by: 'alice' });
    expect((await post({ referer: 'https://gantry.example.com/ui/releases/api/prod', 'x-csrf-token': token })).status).toBe(200);
    expect(s.changes).toEqual(['alice', 'alice']);
  });

  it('without GANTRY_PUBLIC_URL the Origin must name the Host', async () => {
    const h = await serve({ GANTRY_UI_TRUSTED_PROXIES: '127.0.0.1' });
    const t = ((await (await fetch(`${h.url}/ui/whoami`, { headers: alice })).json()) as { csrf: string }).csrf;
    const ok = await fetch(`${h.url}/ui/whoami`, { method: 'POST', headers: { ...alice, origin: h.url, 'x-csrf-token': t } });
    expect(ok.status).toBe(200);
    const other = await fetch(`${h.url}/ui/whoami`, { method: 'POST', headers: { ...alice, origin: 'http://127.0.0.1:1', 'x-csrf-token': t } });
    expect(other.status).toBe(403);
    expect(h.changes).toEqual(['alice']);
  });
});

// ---------------------------------------------------------------------------------------------
// A browser, by hand: one cookie jar per origin, redirects followed one at a time.

class Browser {
  private jars = new Map<string, Map<string, string>>();
  /** Every Set-Cookie seen, raw (attributes asserted by the tests). */
  readonly setCookies: string[] = [];

  cookie(origin: string, name: string): string | undefined { return this.jars.get(origin)?.get(name); }
  setCookie(origin: string, name: string, value: string): void { this.jar(origin).set(name, value); }
  private jar(origin: string): Map<string, string> {
    let j = this.jars.get(origin);
    if (!j) this.jars.set(origin, j = new Map());
    return j;
  }

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Response> {
    const u = new URL(url);
    const jar = this.jar(u.origin);
    const headers: Record<string, string> = { ...init.headers };
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.form) headers['content-type'] = FORM;
    const r = await fetch(u, { method: init.method ?? 'GET', headers, redirect: 'manual', ...(init.form ? { body: form(init.form) } : {}) });
    for (const c of r.headers.getSetCookie()) {
      this.setCookies.push(c);
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /;\s*max-age=0/i.test(c) || /;\s*expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(name);
      else jar.set(name, value);
    }
    return r;
  }

  /**
   * From `start` through the provider's login and consent pages (forms posted as a person would:
   * login = the account, any password) until the provider redirects to the console's callback;
   * returns that callback URL (not requested yet).
   */
  async throughProvider(start: string, login: string): Promise<URL> {
    let url = new URL(start);
    let r = await this.request(url.href);
    for (let step = 0; step < 20; step++) {
      if (r.status >= 300 && r.status < 400) {
        url = new URL(r.headers.get('location')!, url);
        if (url.pathname === '/ui/callback') return url;
        r = await this.request(url.href);
        continue;
      }
      const html = await r.text();
      const action = /<form[^>]*action="([^"]+)"[^>]*method="post"/i.exec(html)?.[1];
      const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
      if (r.status !== 200 || !action || !prompt) throw new Error(`unexpected page at ${url.href} (${r.status}): ${html.slice(0, 500)}`);
      url = new URL(action.replace(/&amp;/g, '&'), url);
      r = await this.request(url.href, { method: 'POST', form: prompt === 'login' ? { prompt, login, password: 'any' } : { prompt } });
    }
    throw new Error('the provider did not redirect back to /ui/callback in 20 steps');
  }
}

/** A Set-Cookie header's attributes, lower-cased names. */
function attributes(setCookie: string): Record<string, string> {
  const [, ...attrs] = setCookie.split(';');
  return Object.fromEntries(attrs.map((a) => { const [k, ...v] = a.trim().split('='); return [k!.toLowerCase(), v.join('=')]; }));
}

describe('OIDC sign-in against a real provider (oidc-provider), authorization code + PKCE', () => {
  let idp: RunningProvider;
  let s: Served;
  let clock = Date.now();
  /** Ports of more consoles against the same provider (their redirect URIs are registered there). */
  const more: number[] = [];
  const oidcEnv = (publicUrl: string): Env => ({
    GANTRY_PUBLIC_URL: publicUrl, GANTRY_UI_OIDC_ISSUER: idp.issuer, GANTRY_UI_OIDC_CLIENT_ID: idp.clientId,
    GANTRY_UI_OIDC_CLIENT_SECRET: idp.clientSecret, GANTRY_UI_OIDC_SCOPES: 'openid profile email groups',
  });
  beforeAll(async () => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    more.push(...ports.slice(1));
    idp = await startOidcProvider({
      redirectUris: ports.map((p) => `http://127.0.0.1:${p}/ui/callback`),
      accounts: {
        alice: { groups: ['sre'], roles: ['release-managers'], email: 'alice@example.com' }, bob: { groups: [] },
        crowd: { groups: Array.from({ length: 150 }, (_, i) => `a-rather-long-directory-group-name-${i}`) },
        many: { groups: Array.from({ length: 201 }, (_, i) => `g${i}`) },
      },
    });
    s = await serve(oidcEnv(`http://127.0.0.1:${ports[0]}`), () => clock, ports[0]);
  });
  afterAll(async () => { await idp?.close(); });

  /** Signs `who` in through the provider; the browser then holds the session cookie. */
  async function signIn(who: string, at: Served = s, next?: string): Promise<{ b: Browser; callback: Response }> {
    const b = new Browser();
    const login = await (await b.request(`${at.url}/ui/login${next ? `?next=${encodeURIComponent(next)}` : ''}`)).text();
    const start = /href="(\/ui\/login\/oidc[^"]*)"/.exec(login)?.[1];
    if (!start) throw new Error(`no OIDC sign-in link on ${at.url}/ui/login: ${login.slice(0, 500)}`);
    const back = await b.throughProvider(`${at.url}${start}`, who);
    return { b, callback: await b.request(back.href) };
  }

  it('goes from /ui/login through the provider and back to /ui/callback: a Strict, HttpOnly session cookie on /ui, then /ui/whoami says alice (sre)', async () => {
    const { b, callback } = await signIn('alice');
    expect(callback.status).toBe(200);
    expect(await callback.text()).toContain('<meta http-equiv="refresh" content="0;url=/ui">');
    const loginCookie = b.setCookies.find((c) => c.startsWith(`${LOGIN_COOKIE}=`) && !/max-age=0/i.test(c))!;
    expect(attributes(loginCookie)).toMatchObject({ httponly: '', samesite: 'Lax', path: '/ui', 'max-age': '600' });
    const session = b.setCookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(attributes(session)).toEqual({ httponly: '', samesite: 'Strict', path: '/ui', 'max-age': String(8 * 3600) });
    expect(b.cookie(s.url, LOGIN_COOKIE)).toBeUndefined(); // cleared by the callback
    const me = await b.request(`${s.url}/ui/whoami`);
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ id: 'alice', groups: ['sre'], via: 'oidc' });
    // The session is sealed: neither the id nor the CSRF secret can be read from the cookie.
    expect(Buffer.from(b.cookie(s.url, SESSION_COOKIE)!, 'base64url').toString('latin1')).not.toMatch(/alice|sre/);
  });

  it('an OIDC viewer\'s CSRF token works from the public origin and only with the session it belongs to', async () => {
    const { b } = await signIn('alice');
    const { csrf } = (await (await b.request(`${s.url}/ui/whoami`)).json()) as { csrf: string };
    const other = await signIn('alice');
    const { csrf: otherCsrf } = (await (await other.b.request(`${s.url}/ui/whoami`)).json()) as { csrf: string };
    expect(otherCsrf).not.toBe(csrf); // the same user, another session: another token
    const before = s.changes.length;
    expect((await b.request(`${s.url}/ui/whoami`, { method: 'POST', form: { _csrf: otherCsrf }, headers: { origin: s.url } })).status).toBe(403);
    expect((await b.request(`${s.url}/ui/whoami`, { method: 'POST', form: { _csrf: csrf }, headers: { origin: 'http://127.0.0.1:1' } })).status).toBe(403);
    expect((await b.request(`${s.url}/ui/whoami`, { method: 'POST', form: { _csrf: csrf }, headers: { origin: s.url } })).status).toBe(200);
    expect(s.changes.slice(before)).toEqual(['alice']);
  });

  it('a tampered session cookie, or a login cookie in its place, is not a session', async () => {
    const { b } = await signIn('alice');
    const good = b.cookie(s.url, SESSION_COOKIE)!;
    const raw = Buffer.from(good, 'base64url');
    raw[raw.length - 3]! ^= 0x01;
    b.setCookie(s.url, SESSION_COOKIE, raw.toString('base64url'));
    expect((await b.request(`${s.url}/ui/whoami`)).status).toBe(401);
    // A sealed cookie of another purpose (the login state) is not a session either.
    await b.request(`${s.url}/ui/login/oidc`);
    b.setCookie(s.url, SESSION_COOKIE, b.cookie(s.url, LOGIN_COOKIE)!);
    expect((await b.request(`${s.url}/ui/whoami`)).status).toBe(401);
    b.setCookie(s.url, SESSION_COOKIE, good);
    expect((await b.request(`${s.url}/ui/whoami`)).status).toBe(200);
  });

  it('an expired session is not a session (8 h by default)', async () => {
    const { b } = await signIn('bob');
    const me = await b.request(`${s.url}/ui/whoami`);
    expect(await me.json()).toMatchObject({ id: 'bob', groups: [], via: 'oidc' });
    const start = clock;
    try {
      clock = start + 8 * 3600_000 - 1000;
      expect((await b.request(`${s.url}/ui/whoami`)).status).toBe(200);
      clock = start + 8 * 3600_000 + 1000;
      expect((await b.request(`${s.url}/ui/whoami`)).status).toBe(401);
    } finally {
      clock = start;
    }
  });

  it('a callback without this browser\'s login cookie, or with another sign-in\'s, is refused and signs nobody in', async () => {
    const victim = new Browser();
    const attacker = new Browser();
    // The attacker completes a sign-in at the provider but hands the code to the victim (login CSRF).
    const back = await attacker.throughProvider(`${s.url}/ui/login/oidc`, 'bob');
    const none = await victim.request(back.href);
    expect(none.status).toBe(400);
    expect(await none.text()).toContain('was not started here');
    // The victim has a sign-in of their own under way: the state does not match.
    await victim.request(`${s.url}/ui/login/oidc`);
    const mismatch = await victim.request(back.href);
    expect(mismatch.status).toBe(400);
    expect(await mismatch.text()).toMatch(/answer was refused: .*state/);
    expect(victim.cookie(s.url, SESSION_COOKIE)).toBeUndefined();
    expect((await victim.request(`${s.url}/ui/whoami`)).status).toBe(401);
  });

  it('sign-out (POST /ui/logout) needs the CSRF token, then clears the session', async () => {
    const { b } = await signIn('alice');
    const page = await (await b.request(`${s.url}/ui/login`)).text();
    expect(page).toContain('Signed in as <b>alice</b> (sre) with OIDC');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;
    const refused = await b.request(`${s.url}/ui/logout`, { method: 'POST', form: {}, headers: { origin: s.url } });
    expect(refused.status).toBe(403);
    expect((await b.request(`${s.url}/ui/whoami`)).status).toBe(200);
    const out = await b.request(`${s.url}/ui/logout`, { method: 'POST', form: { _csrf: csrf }, headers: { origin: s.url } });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/ui/login');
    expect(b.cookie(s.url, SESSION_COOKIE)).toBeUndefined();
    expect((await b.request(`${s.url}/ui/whoami`)).status).toBe(401);
  });

  it('goes back to the page asked for (?next= of /ui/login, a console path only)', async () => {
    const { callback } = await signIn('alice', s, '/ui/releases/api/prod?tab=history');
    expect(await callback.text()).toContain('<meta http-equiv="refresh" content="0;url=/ui/releases/api/prod?tab=history">');
    for (const elsewhere of ['//evil.example/ui', 'https://evil.example/ui', '/ui//evil.example', '/ui\\evil', '/uix']) {
      const page = await (await fetch(`${s.url}/ui/login?next=${encodeURIComponent(elsewhere)}`)).text();
      expect(page).toContain('href="/ui/login/oidc"');
    }
    const { callback: home } = await signIn('alice', s, '//evil.example/ui');
    expect(await home.text()).toContain('content="0;url=/ui"');
  });

  it('takes the groups from the configured claim (GANTRY_UI_OIDC_GROUPS_CLAIM=roles) and the id from GANTRY_UI_OIDC_USER_CLAIM', async () => {
    const roles = await serve({ ...oidcEnv(`http://127.0.0.1:${more[0]}`), GANTRY_UI_OIDC_GROUPS_CLAIM: 'roles', GANTRY_UI_OIDC_USER_CLAIM: 'email' }, undefined, more[0]);
    const { b } = await signIn('alice', roles);
    expect(await (await b.request(`${roles.url}/ui/whoami`)).json()).toMatchObject({ id: 'alice@example.com', groups: ['release-managers'], via: 'oidc' });
  });

  it('refuses an account without the user claim, saying which claim and how to change it', async () => {
    const byEmail = await serve({ ...oidcEnv(`http://127.0.0.1:${more[1]}`), GANTRY_UI_OIDC_USER_CLAIM: 'email' }, undefined, more[1]);
    const { b, callback } = await signIn('bob', byEmail);
    expect(callback.status).toBe(403);
    const text = await callback.text();
    expect(text).toContain('no usable email claim');
    expect(text).toContain('GANTRY_UI_OIDC_USER_CLAIM');
    expect(b.cookie(byEmail.url, SESSION_COOKIE)).toBeUndefined();
  });

  it('works as a public client (no GANTRY_UI_OIDC_CLIENT_SECRET: PKCE only)', async () => {
    const env = oidcEnv(`http://127.0.0.1:${more[3]}`);
    delete (env as Record<string, string | undefined>).GANTRY_UI_OIDC_CLIENT_SECRET;
    const pub = await serve({ ...env, GANTRY_UI_OIDC_CLIENT_ID: idp.publicClientId }, undefined, more[3]);
    const { b, callback } = await signIn('alice', pub);
    expect(callback.status).toBe(200);
    expect(await (await b.request(`${pub.url}/ui/whoami`)).json()).toMatchObject({ id: 'alice', groups: ['sre'], via: 'oidc' });
  });

  it('refuses identities that cannot be kept: more than 200 groups, or a session cookie over 3800 bytes', async () => {
    const many = await signIn('many');
    expect(many.callback.status).toBe(403);
    expect(await many.callback.text()).toContain('the groups claim is not a list of at most 200 group names');
    const crowd = await signIn('crowd');
    expect(crowd.callback.status).toBe(403);
    expect(await crowd.callback.text()).toContain('does not fit in a session cookie (150 groups)');
    expect(crowd.b.cookie(s.url, SESSION_COOKIE)).toBeUndefined();
  });

  it('a wrong client secret: the provider refuses the code exchange (invalid_client), nobody is signed in', async () => {
    const wrong = await serve({ ...oidcEnv(`http://127.0.0.1:${more[2]}`), GANTRY_UI_OIDC_CLIENT_SECRET: 'not-the-client-secret' }, undefined, more[2]);
    const { b, callback } = await signIn('alice', wrong);
    expect(callback.status).toBe(400);
    expect(await callback.text()).toContain('invalid_client');
    expect(b.cookie(wrong.url, SESSION_COOKIE)).toBeUndefined();
  });

  it('a provider that cannot be reached: 503 naming the issuer; once it is up, the next try discovers it', async () => {
    const closed = await freePort();
    const down = await serve({ GANTRY_PUBLIC_URL: 'http://127.0.0.1:9', GANTRY_UI_OIDC_ISSUER: `http://127.0.0.1:${closed}`, GANTRY_UI_OIDC_CLIENT_ID: 'gantry' });
    const r = await fetch(`${down.url}/ui/login/oidc`, { redirect: 'manual' });
    expect(r.status).toBe(503);
    expect(await r.text()).toContain(`the sign-in provider http://127.0.0.1:${closed} could not be reached`);
    const late = await startOidcProvider({ redirectUris: ['http://127.0.0.1:9/ui/callback'], accounts: {}, port: closed });
    try {
      const again = await fetch(`${down.url}/ui/login/oidc`, { redirect: 'manual' });
      expect(again.status).toBe(303);
      expect(again.headers.get('location')).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${closed}/`));
    } finally {
      await late.close();
    }
  });

  it('the login cookie is Secure when the public URL is https', async () => {
    const h = await serve({
      GANTRY_PUBLIC_URL: 'https://gantry.example.com', GANTRY_UI_OIDC_ISSUER: idp.issuer, GANTRY_UI_OIDC_CLIENT_ID: idp.clientId,
    });
    const r = await fetch(`${h.url}/ui/login/oidc?next=/ui/releases`, { redirect: 'manual' });
    expect(r.status).toBe(303);
    const to = new URL(r.headers.get('location')!);
    expect(to.origin).toBe(idp.issuer);
    expect(to.searchParams.get('code_challenge_method')).toBe('S256');
    expect(to.searchParams.get('redirect_uri')).toBe('https://gantry.example.com/ui/callback');
    expect(attributes(r.headers.getSetCookie()[0]!)).toMatchObject({ secure: '', httponly: '', samesite: 'Lax', path: '/ui' });
  });
});

describe('API-token sign-in (GANTRY_UI_TOKEN_LOGIN)', () => {
  let s: Served;
  beforeAll(async () => { s = await serve({ GANTRY_UI_TOKEN_LOGIN: 'true' }); });
  const login = (token: string, headers: Record<string, string> = { origin: s.url }, next?: string) => fetch(`${s.url}/ui/login/token`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': FORM, ...headers }, body: form({ token, ...(next ? { next } : {}) }),
  });
  const cookieOf = (r: Response) => r.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));

  it('the sign-in page offers a password field for the token, posting to /ui/login/token (no identity field)', async () => {
    const page = await (await fetch(`${s.url}/ui/login`)).text();
    expect(page).toMatch(/<form class="token-login" method="post" action="\/ui\/login\/token">/);
    expect(page).toMatch(/<input id="token" name="token" type="password"/);
    expect(page).toContain('API token');
    expect(page).not.toMatch(/name="(id|user|identity|groups)"/);
  });

  it('a known token from the console\'s origin: 303 to the page asked for, a Strict HttpOnly session cookie on /ui; whoami says alice (sre) via token', async () => {
    const r = await login(` ${ALICE_TOKEN}\n`, { origin: s.url }, '/ui/releases/api/prod');
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/ui/releases/api/prod');
    const set = cookieOf(r);
    expect(set).toBeDefined();
    expect(attributes(set!)).toEqual({ httponly: '', samesite: 'Strict', path: '/ui', 'max-age': String(8 * 3600) });
    // The cookie is sealed: neither the token nor the identity in clear.
    expect(set).not.toContain(ALICE_TOKEN);
    expect(set).not.toContain('alice');
    const cookie = set!.split(';')[0]!;
    const who = await fetch(`${s.url}/ui/whoami`, { headers: { cookie } });
    expect(who.status).toBe(200);
    const v = (await who.json()) as { id: string; groups: string[]; via: string; csrf: string };
    expect(v).toMatchObject({ id: 'alice', groups: ['sre'], via: 'token' });
    // The session is a viewer like any other: its CSRF token works, and the sign-in page offers Sign out.
    const post = await fetch(`${s.url}/ui/whoami`, { method: 'POST', headers: { cookie, origin: s.url, 'x-csrf-token': v.csrf } });
    expect(await post.json()).toEqual({ done: true, by: 'alice' });
    const page = await (await fetch(`${s.url}/ui/login`, { headers: { cookie } })).text();
    expect(page).toContain('Signed in as <b>alice</b> (sre) with an API token');
    expect(page).toContain('action="/ui/logout"');
    const out = await fetch(`${s.url}/ui/logout`, { method: 'POST', redirect: 'manual', headers: { cookie, origin: s.url, 'content-type': FORM }, body: form({ _csrf: v.csrf }) });
    expect(out.status).toBe(303);
    expect(cookieOf(out)).toMatch(/^gantry_session=; Max-Age=0;/);
    // The token never reaches the log.
    expect(JSON.stringify(s.logs)).not.toContain(ALICE_TOKEN);
    expect(s.logs.some((l) => l.msg === 'console: signed in with an API token' && l.id === 'alice')).toBe(true);
  });

  it('a wrong, empty or over-long token: 401 "unknown or revoked token", no cookie, nobody signed in', async () => {
    for (const token of [`${ALICE_TOKEN}x`, '', 'x'.repeat(5000)]) {
      const r = await login(token);
      expect(r.status).toBe(401);
      expect(await r.text()).toContain('unknown or revoked token');
      expect(r.headers.getSetCookie()).toEqual([]);
    }
    expect(JSON.stringify(s.logs)).not.toContain(`${ALICE_TOKEN}x`);
  });

  it('a cross-origin POST (login CSRF: another site posting a token), or one with no Origin or Referer: 403, no cookie, even with a good token', async () => {
    for (const headers of [{ origin: 'http://evil.example' }, { referer: 'http://evil.example/page' }, {}] as Record<string, string>[]) {
      const r = await login(ALICE_TOKEN, headers);
      expect(r.status).toBe(403);
      expect(await r.text()).toMatch(/not sent by the Gantry console/);
      expect(r.headers.getSetCookie()).toEqual([]);
    }
  });

  it('is off unless configured: no form, and the route says how to turn it on', async () => {
    const o = await serve({ GANTRY_UI_TRUSTED_PROXIES: '10.0.0.1' });
    expect(await (await fetch(`${o.url}/ui/login`)).text()).not.toContain('/ui/login/token');
    const r = await fetch(`${o.url}/ui/login/token`, { method: 'POST', headers: { 'content-type': FORM, origin: o.url }, body: form({ token: ALICE_TOKEN }) });
    expect(r.status).toBe(404);
    expect(await r.text()).toContain('GANTRY_UI_TOKEN_LOGIN=true');
  });

  it('createConsoleAuth refuses token sign-in without the API\'s IdentityTable', () => {
    expect(() => createConsoleAuth(settings({ GANTRY_UI_TOKEN_LOGIN: 'true' }))).toThrow(/GANTRY_UI_TOKEN_LOGIN: token sign-in needs the API's tokens/);
  });
});

describe('the console configuration (loadApiConfig)', () => {
  const errorsOf = (env: Env) => {
    try { loadApiConfig(env); } catch (err) { if (err instanceof RuntimeConfigError) return err.errors; throw err; }
    throw new Error('expected a RuntimeConfigError');
  };

  it('is off with no sign-in method', () => {
    expect(loadApiConfig({}).console).toBeUndefined();
  });

  it('needs a session secret of at least 32 bytes, naming the variable and how to make one, without echoing it', () => {
    const errors = errorsOf({ GANTRY_UI_TRUSTED_PROXIES: '10.0.0.1', GANTRY_UI_SESSION_SECRET: 'short-secret-value' });
    expect(errors).toEqual([{ path: 'GANTRY_UI_SESSION_SECRET', message: expect.stringMatching(/too short \(18 bytes, at least 32\)/), hint: expect.stringContaining('openssl rand -hex 32') }]);
    expect(JSON.stringify(errors)).not.toContain('short-secret-value');
    expect(errorsOf({ GANTRY_UI_TRUSTED_PROXIES: '10.0.0.1' })).toEqual([{ path: 'GANTRY_UI_SESSION_SECRET', message: expect.stringMatching(/has no session secret/), hint: expect.stringContaining('openssl rand -hex 32') }]);
  });

  it('GANTRY_UI_TOKEN_LOGIN turns the console on with token sign-in, and then needs the session secret', () => {
    expect(loadApiConfig({ GANTRY_UI_TOKEN_LOGIN: 'true', GANTRY_UI_SESSION_SECRET: SECRET }).console).toMatchObject({ tokenLogin: true });
    expect(loadApiConfig({ GANTRY_UI_TOKEN_LOGIN: 'false' }).console).toBeUndefined();
    expect(errorsOf({ GANTRY_UI_TOKEN_LOGIN: 'true' })).toEqual([{
      path: 'GANTRY_UI_SESSION_SECRET', message: 'the console is on (sign-in by GANTRY_UI_TOKEN_LOGIN) but has no session secret to seal its session cookies', hint: expect.stringContaining('openssl rand -hex 32'),
    }]);
    expect(errorsOf({ GANTRY_UI_TOKEN_LOGIN: 'sure', GANTRY_UI_SESSION_SECRET: SECRET })).toEqual([
      { path: 'GANTRY_UI_TOKEN_LOGIN', message: "expected 1 or 0, got 'sure'", hint: expect.stringContaining('pasting an API token') },
    ]);
  });

  it('refuses half-configured OIDC, naming each missing variable', () => {
    const errors = errorsOf({ GANTRY_UI_OIDC_ISSUER: 'https://id.example.com', GANTRY_UI_SESSION_SECRET: SECRET });
    expect(errors.map((e) => e.path)).toEqual(['GANTRY_UI_OIDC_CLIENT_ID', 'GANTRY_PUBLIC_URL']);
    expect(errors[0]!.message).toMatch(/OIDC sign-in is half configured/);
    expect(errorsOf({ GANTRY_UI_OIDC_CLIENT_ID: 'gantry', GANTRY_UI_SESSION_SECRET: SECRET, GANTRY_PUBLIC_URL: 'https://g.example.com' }).map((e) => e.path)).toEqual(['GANTRY_UI_OIDC_ISSUER']);
  });

  it('checks the proxies, header names, public URL and issuer', () => {
    const errors = errorsOf({
      GANTRY_UI_TRUSTED_PROXIES: '10.0.0.1, 10.0.0.0/33, proxy.local', GANTRY_UI_PROXY_USER_HEADER: 'x user',
      GANTRY_PUBLIC_URL: 'https://g.example.com/gantry', GANTRY_UI_OIDC_ISSUER: 'http://id.example.com', GANTRY_UI_OIDC_CLIENT_ID: 'gantry',
      GANTRY_UI_SESSION_SECRET: SECRET,
    });
    expect(errors.map((e) => [e.path, e.message])).toEqual([
      ['GANTRY_PUBLIC_URL', "expected a scheme, host and optional port only, got 'https://g.example.com/gantry'"],
      ['GANTRY_UI_TRUSTED_PROXIES', "expected IP addresses or CIDRs, not '10.0.0.0/33', 'proxy.local', got '10.0.0.1, 10.0.0.0/33, proxy.local'"],
      ['GANTRY_UI_PROXY_USER_HEADER', "expected an HTTP header name (letters, digits, -), got 'x user'"],
      ['GANTRY_UI_OIDC_ISSUER', "expected an https URL (http only for a provider on this machine), got 'http://id.example.com'"],
    ]);
  });

  it('reads a full configuration with defaults, keeping secrets off the printed config', () => {
    const c = loadApiConfig({
      GANTRY_UI_TRUSTED_PROXIES: '10.0.0.1,fd00::/8', GANTRY_PUBLIC_URL: 'https://gantry.example.com/', GANTRY_UI_SESSION_SECRET: SECRET,
      GANTRY_UI_OIDC_ISSUER: 'https://id.example.com', GANTRY_UI_OIDC_CLIENT_ID: 'gantry', GANTRY_UI_OIDC_CLIENT_SECRET: 'client-secret-value',
    }).console!;
    expect(c).toEqual({
      publicUrl: 'https://gantry.example.com', sessionSecretEnv: 'GANTRY_UI_SESSION_SECRET', sessionTtlMs: 8 * 3600_000,
      proxy: { trusted: ['10.0.0.1', 'fd00::/8'], userHeader: 'x-forwarded-user', groupsHeader: 'x-forwarded-groups' },
      oidc: { issuer: 'https://id.example.com', clientId: 'gantry', clientSecretEnv: 'GANTRY_UI_OIDC_CLIENT_SECRET', scopes: ['openid', 'profile', 'email'], userClaim: 'preferred_username', groupsClaim: 'groups' },
    });
    expect(JSON.stringify(c)).not.toMatch(/client-secret-value|0123456789abcdef/);
  });
});
