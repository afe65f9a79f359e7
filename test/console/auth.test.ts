// The console's sign-in (api/console/auth.ts) over real HTTP: a Fastify server on 127.0.0.1 port 0 with
// auth.register() and a protected /ui/whoami (GET: the viewer; POST: a state change behind verifyCsrf).
//  - trusted headers: believed from an allowed peer (127.0.0.1), ignored (and logged once) from any other;
//  - CSRF: missing, wrong or another viewer's token, a foreign or absent Origin → 403 and nothing done;
//  - OIDC: the whole authorization code + PKCE flow against a real oidc-provider on 127.0.0.1, its
//    login and consent forms driven with fetch (cookies carried, redirects followed by hand); then the
//    session cookie's attributes, tampered and expired sessions, sign-out;
//  - configuration: loadApiConfig's console settings and its errors.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createConsoleAuth } from '../../api/console/auth.js';
import type { ConsoleAuth } from '../../api/console/types.js';
import { GantryError } from '../../api/errors.js';
import { loadApiConfig, RuntimeConfigError, type ConsoleSettings, type Env } from '../../runtime/config.js';

const SECRET = 'f'.repeat(20) + '0123456789abcdef0123456789abcdef';

interface Served { app: FastifyInstance; url: string; auth: ConsoleAuth; changes: string[]; logs: Record<string, unknown>[] }
const servers: FastifyInstance[] = [];
afterAll(async () => { for (const s of servers) await s.close(); });

/** The console's auth from the environment (through loadApiConfig, like the API process). */
function settings(env: Env): ConsoleSettings {
  const c = loadApiConfig({ GANTRY_UI_SESSION_SECRET: SECRET, ...env }).console;
  if (!c) throw new Error('expected the console to be on');
  return c;
}

async function serve(env: Env, now?: () => number): Promise<Served> {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } }));
  const auth = createConsoleAuth(settings(env), { log, ...(now ? { now } : {}) });
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
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, auth, changes, logs: lines };
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = 'application/x-www-form-urlencoded';

describe('trusted headers from an auth proxy', () => {
  it('are the identity when the TCP peer is a trusted proxy (127.0.0.1 in 127.0.0.0/8), groups split on commas', async () => {
    const s = await serve({ GANTRY_UI_TRUSTED_PROXIES: '10.0.0.9, 127.0.0.0/8' });
    const r = await fetch(`${s.url}/ui/whoami`, { headers: { 'x-forwarded-user': 'alice', 'x-forwarded-groups': 'sre, release-managers,,sre' } });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ id: 'alice', groups: ['sre', 'release-managers'], via: 'proxy' });
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
