// GitHub App authentication (activities/github-auth.ts) against a local GitHub over TLS that enforces
// it: the App's JWT is verified with the App's PUBLIC key (jose: RS256, iss = the App id, iat/exp),
// an installation token is issued at POST /app/installations/:id/access_tokens, and only that token
// is accepted for commit statuses, deployments, comments and git over HTTPS (git http-backend on the
// same host, as on GitHub). A key that is not the App's is refused with a clear, non-retryable
// failure naming the settings; nothing secret reaches a message or a log line.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { importSPKI, jwtVerify } from 'jose';
import { pino } from 'pino';
import { createGitActivities } from '../../activities/git.js';
import { githubAppSettings, type GitHubAppSettings } from '../../activities/github-auth.js';
import { createGitHubActivities, type GitHubResult } from '../../activities/github.js';
import { triggerConfig } from '../../api/server-config.js';
import { GantryService } from '../../api/service.js';
import type { ConfigError } from '../../core/config.js';
import { loadWorkerConfig, RuntimeConfigError } from '../../runtime/config.js';
import type { CheckoutResult } from '../../workflows/pipeline-activity-types.js';
import '../api/inject-shim.js';
import { testServer, until } from '../api/helpers.js';
import { caFetch, createBareRepo, makeTestCa, startHttpsGitServer, type HttpsGitServer, type TestCa } from '../support/git-servers.js';
import { failureOf } from '../support/failures.js';
import { signGitHub } from './recorder.js';

const APP_ID = '424242';
const INSTALLATION = 7_001_234;
const SHA = 'b'.repeat(40);

let dir: string;
let ca: TestCa;
let gh: HttpsGitServer;
let fake: ReturnType<typeof fakeGitHub>;
let repo: { dir: string; sha: string };
let appKeyFile: string;
let strangerKeyFile: string;
let appKeyPem: string;
const logs: LogEntry[] = [];
const messages: string[] = [];
/** The API server's log lines (pino JSON). */
const apiLog: string[] = [];
const apiLogger = () => pino({ level: 'debug' }, new Writable({ write(chunk, _enc, cb) { apiLog.push(String(chunk)); cb(); } }));

const activityEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('TRACE', (e) => { logs.push(e); }) });

/** A GitHub that authenticates as GitHub does for Apps: JWT -> installation token -> API and git. */
function fakeGitHub(publicKeyPem: string) {
  const issued = new Set<string>();
  const tokenRequests: { ok: boolean; iss?: unknown; lifetime?: number; why?: string }[] = [];
  const api: { method: string; path: string; authorization: string | undefined; ok: boolean }[] = [];
  const statuses: { id: number; sha: string; context: string; state: string; description: string | null; target_url: string | null }[] = [];
  const comments: { path: string; body: string }[] = [];
  let next = 1;
  const json = (res: http.ServerResponse, status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }); res.end(JSON.stringify(body)); };
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer): Promise<void> => {
    const p = new URL(req.url ?? '/', 'https://127.0.0.1').pathname.replace(/^\/api\/v3/, '');
    const auth = req.headers.authorization;
    const m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(p);
    if (m && req.method === 'POST') {
      const jwt = /^bearer (.+)$/i.exec(auth ?? '')?.[1];
      try {
        if (!jwt) throw new Error('no bearer JWT');
        const { payload } = await jwtVerify(jwt, await importSPKI(publicKeyPem, 'RS256'), { algorithms: ['RS256'] });
        if (String(payload.iss) !== APP_ID) throw new Error(`iss ${String(payload.iss)} is not the App`);
        if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number' || payload.exp - payload.iat > 660 || payload.iat > Date.now() / 1000 + 60) throw new Error('bad iat/exp');
        if (Number(m[1]) !== INSTALLATION) { tokenRequests.push({ ok: false, why: 'installation' }); json(res, 404, { message: 'Not Found' }); return; }
        const token = `ghs_${crypto.randomBytes(18).toString('hex')}`;
        issued.add(token);
        tokenRequests.push({ ok: true, iss: payload.iss, lifetime: payload.exp - payload.iat });
        json(res, 201, { token, expires_at: new Date(Date.now() + 3600_000).toISOString(), permissions: { statuses: 'write', contents: 'write', issues: 'write' }, repository_selection: 'all' });
      } catch (err) {
        tokenRequests.push({ ok: false, why: err instanceof Error ? err.message : String(err) });
        json(res, 401, { message: 'A JSON web token could not be decoded', documentation_url: 'https://docs.github.com/rest' });
      }
      return;
    }
    const token = /^(?:token|bearer) (.+)$/i.exec(auth ?? '')?.[1];
    const ok = token !== undefined && issued.has(token);
    api.push({ method: req.method ?? '', path: p, authorization: auth, ok });
    if (!ok) { json(res, 401, { message: 'Bad credentials' }); return; }
    const body = raw.length ? JSON.parse(raw.toString('utf8')) as Record<string, string> : {};
    let s: RegExpExecArray | null;
    if ((s = /^\/repos\/acme\/shop\/commits\/([0-9a-f]+)\/statuses$/.exec(p)) && req.method === 'GET') { json(res, 200, statuses.filter((x) => x.sha === s![1]).reverse()); return; }
    if ((s = /^\/repos\/acme\/shop\/statuses\/([0-9a-f]+)$/.exec(p)) && req.method === 'POST') {
      const st = { id: next++, sha: s[1]!, context: body.context!, state: body.state!, description: body.description ?? null, target_url: body.target_url ?? null };
      statuses.push(st);
      json(res, 201, st);
      return;
    }
    if (/^\/repos\/acme\/shop\/issues\/\d+\/comments$/.test(p) && req.method === 'POST') { comments.push({ path: p, body: body.body ?? '' }); json(res, 201, { id: next++ }); return; }
    json(res, 404, { message: 'Not Found' });
  };
  return { issued, tokenRequests, api, statuses, comments, handle };
}

function rsaKeyFile(name: string): { file: string; pem: string; publicPem: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const file = path.join(dir, name);
  fs.writeFileSync(file, pem, { mode: 0o600 });
  return { file, pem, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const apiUrl = () => `${gh.origin}/api/v3`;
function app(keyFile: string): GitHubAppSettings {
  const errors: ConfigError[] = [];
  const s = githubAppSettings({ GANTRY_GITHUB_APP_ID: APP_ID, GANTRY_GITHUB_APP_INSTALLATION_ID: String(INSTALLATION), GANTRY_GITHUB_APP_PRIVATE_KEY_FILE: keyFile }, apiUrl(), errors);
  expect(errors).toEqual([]);
  return s!;
}

const failure = (p: Promise<unknown>): Promise<ApplicationFailure> => failureOf(p, messages);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-ghapp-'));
  ca = makeTestCa(path.join(dir, 'ca'));
  const k = rsaKeyFile('app.pem');
  appKeyFile = k.file;
  appKeyPem = k.pem;
  strangerKeyFile = rsaKeyFile('not-the-app.pem').file;
  fake = fakeGitHub(k.publicPem);
  repo = createBareRepo(path.join(dir, 'repos'), 'acme/shop');
  gh = await startHttpsGitServer(ca, path.join(dir, 'repos'), (c) => c?.user === 'x-access-token' && fake.issued.has(c.password));
  gh.other = (req, res, body) => { void fake.handle(req, res, body); };
}, 60_000);

afterAll(async () => {
  await gh?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('GitHub App: statuses through an installation token', () => {
  it('the JWT verifies with the App\'s public key; one installation token serves every call; a PAT is not needed', async () => {
    const a = createGitHubActivities({ baseUrl: apiUrl(), app: app(appKeyFile), env: {}, fetch: caFetch(ca.caPem) });
    fake.tokenRequests.length = 0;
    fake.api.length = 0;
    const input = { repo: 'acme/shop', sha: SHA, context: 'gantry/gates', state: 'pending' as const, description: 'gates running' };
    expect(await activityEnv().run(a.githubCommitStatus, input) as GitHubResult).toEqual({ changed: true, id: expect.any(Number) });
    expect(await activityEnv().run(a.githubCommitStatus, input) as GitHubResult).toMatchObject({ changed: false });
    expect(await activityEnv().run(a.githubCommitStatus, { ...input, state: 'success' as const, description: 'gates passed' }) as GitHubResult).toMatchObject({ changed: true });
    expect(fake.tokenRequests).toEqual([{ ok: true, iss: APP_ID, lifetime: expect.any(Number) }]);
    expect(fake.tokenRequests[0]!.lifetime).toBeLessThanOrEqual(660);
    expect(fake.api.length).toBeGreaterThanOrEqual(4);
    expect(fake.api.every((r) => r.ok)).toBe(true);
    expect(fake.statuses.map((s) => s.state)).toEqual(['pending', 'success']);
  });

  it('a key that is not the App\'s: GitHubRejected, non-retryable, naming the App settings, not the key', async () => {
    const a = createGitHubActivities({ baseUrl: apiUrl(), app: app(strangerKeyFile), env: {}, fetch: caFetch(ca.caPem) });
    fake.tokenRequests.length = 0;
    const f = await failure(activityEnv().run(a.githubCommitStatus, { repo: 'acme/shop', sha: SHA, context: 'gantry/gates', state: 'failure' as const }));
    expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type: 'GitHubRejected', nonRetryable: true });
    expect(f.message).toContain(`GitHub refused the GitHub App ${APP_ID} (GANTRY_GITHUB_APP_ID), installation ${INSTALLATION} (GANTRY_GITHUB_APP_INSTALLATION_ID), key from GANTRY_GITHUB_APP_PRIVATE_KEY_FILE (${strangerKeyFile}): it answered 401`);
    expect(fake.tokenRequests).toEqual([{ ok: false, why: 'signature verification failed' }]);
  });

  it('without an App the token (GANTRY_GITHUB_TOKEN) is used, and this GitHub refuses one it did not issue', async () => {
    const a = createGitHubActivities({ baseUrl: apiUrl(), env: { GANTRY_GITHUB_TOKEN: 'ghp_not_issued_here_123' }, fetch: caFetch(ca.caPem) });
    fake.api.length = 0;
    const f = await failure(activityEnv().run(a.githubCommitStatus, { repo: 'acme/shop', sha: SHA, context: 'c', state: 'pending' as const }));
    expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type: 'GitHubRejected', nonRetryable: true });
    expect(fake.api[0]!.authorization).toBe('token ghp_not_issued_here_123');
  });
});

describe('GitHub App: git over HTTPS with the installation token', () => {
  it('checks out a repository of the App\'s GitHub host; a wrong key is RepoForbidden naming the App settings', async () => {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    const fetchCa = caFetch(ca.caPem);
    const git = createGitActivities({ workspaceRoot: path.join(dir, 'ws'), git: { https: [], caFile: ca.caFile, githubApp: app(appKeyFile) }, env, fetch: fetchCa });
    gh.requests.length = 0;
    const out = await activityEnv().run(git.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: `${gh.origin}/acme/shop.git`, sha: repo.sha } }) as CheckoutResult;
    expect(out.sha).toBe(repo.sha);
    expect(gh.requests.length).toBeGreaterThan(0);
    expect(gh.requests.every((r) => r.authorized)).toBe(true);

    // A new worker process (no cached token) whose key is not the App's.
    const wrongApp = { ...app(strangerKeyFile), installationId: INSTALLATION };
    const bad = createGitActivities({ workspaceRoot: path.join(dir, 'ws-bad'), git: { https: [], caFile: ca.caFile, githubApp: wrongApp }, env, fetch: fetchCa });
    const f = await failure(activityEnv().run(bad.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: `${gh.origin}/acme/shop.git`, sha: repo.sha } }));
    expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type: 'RepoForbidden', nonRetryable: true });
    expect(f.message).toContain(`the GitHub App ${APP_ID} (GANTRY_GITHUB_APP_ID), installation ${INSTALLATION} (GANTRY_GITHUB_APP_INSTALLATION_ID), key from GANTRY_GITHUB_APP_PRIVATE_KEY_FILE (${strangerKeyFile}) got no installation token: GitHub answered 401`);
  }, 60_000);
});

describe('GitHub App: the API replies to /gantry comments as the App', () => {
  const SECRET = 'whsec-app-5f6e7d';
  const server = (key: string) => {
    const triggers = triggerConfig({
      github: { api_url: apiUrl() },
      repos: [{ name: 'acme/shop', config: '/nonexistent/gantry.yaml', secret_env: 'HOOK_SECRET' }],
      chat: { github: { octocat: 'carol' } },
    }, { env: { HOOK_SECRET: SECRET, GANTRY_GITHUB_APP_ID: APP_ID, GANTRY_GITHUB_APP_INSTALLATION_ID: String(INSTALLATION), GANTRY_GITHUB_APP_PRIVATE_KEY: key } });
    expect(JSON.stringify(triggers.github)).not.toContain('PRIVATE KEY');
    // `/gantry help` needs no workflow: the service's client never connects.
    return testServer(new GantryService(new Client()), { triggers, fetch: caFetch(ca.caPem), logger: apiLogger() });
  };
  const helpComment = async (srv: ReturnType<typeof server>) => {
    const payload = { action: 'created', repository: { full_name: 'acme/shop' }, sender: { login: 'octocat', type: 'User' }, issue: { number: 12 }, comment: { id: 1, body: '/gantry help', user: { login: 'octocat', type: 'User' } } };
    const body = JSON.stringify(payload);
    return srv.inject({ method: 'POST', url: '/v1/webhooks/github', payload: body, headers: { 'content-type': 'application/json', 'x-github-event': 'issue_comment', 'x-github-delivery': crypto.randomUUID(), 'x-hub-signature-256': await signGitHub(SECRET, body) } });
  };

  it('the reply comment carries an installation token the App obtained', async () => {
    const srv = server(appKeyPem);
    try {
      await srv.ready();
      fake.comments.length = 0;
      expect((await helpComment(srv)).statusCode).toBe(200);
      const replies = await until('the reply comment', () => (fake.comments.length ? fake.comments : undefined));
      expect(replies).toEqual([{ path: '/repos/acme/shop/issues/12/comments', body: expect.stringMatching(/^@octocat usage:/) }]);
      const post = fake.api.filter((a) => a.path === '/repos/acme/shop/issues/12/comments');
      expect(post.map((a) => a.ok)).toEqual([true]);
    } finally {
      await srv.close();
    }
  });

  it('with a key that is not the App\'s, no reply is posted and the log names the App settings', async () => {
    const srv = server(fs.readFileSync(strangerKeyFile, 'utf8'));
    try {
      await srv.ready();
      fake.comments.length = 0;
      apiLog.length = 0;
      expect((await helpComment(srv)).statusCode).toBe(200);
      const line = await until('the failed reply in the log', () => apiLog.find((l) => l.includes('GitHub reply failed')));
      expect(line).toContain(`GitHub refused the GitHub App ${APP_ID} (GANTRY_GITHUB_APP_ID), installation ${INSTALLATION} (GANTRY_GITHUB_APP_INSTALLATION_ID), key from GANTRY_GITHUB_APP_PRIVATE_KEY`);
      expect(fake.comments).toEqual([]);
    } finally {
      await srv.close();
    }
  });
});

describe('GitHub App settings (runtime config)', () => {
  const base = { GANTRY_CLUSTER: 'sim', HOME: '/h', GANTRY_GITHUB_API_URL: 'https://ghe.example.com/api/v3' };
  const probe = { exists: () => false, home: '/h', which: () => undefined, unwritable: () => undefined };

  it('the worker uses the App for its GitHub API and for git to that GitHub\'s host', () => {
    const c = loadWorkerConfig({ ...base, GANTRY_GITHUB_APP_ID: APP_ID, GANTRY_GITHUB_APP_INSTALLATION_ID: String(INSTALLATION), GANTRY_GITHUB_APP_PRIVATE_KEY_FILE: appKeyFile }, probe);
    const expected = { appId: APP_ID, installationId: INSTALLATION, key: { file: appKeyFile }, apiUrl: 'https://ghe.example.com/api/v3' };
    expect(c.github.app).toEqual(expected);
    expect(c.pipeline.git).toEqual({ https: [], githubApp: expected });
  });

  it('an incomplete App or a key that is not a PEM private key is named by its variable; the key is never shown', () => {
    let errors: ConfigError[] = [];
    try {
      loadWorkerConfig({ ...base, GANTRY_GITHUB_APP_ID: 'my-app', GANTRY_GITHUB_APP_PRIVATE_KEY: 'not a key: s3cr3t-material' }, probe);
    } catch (e) { if (e instanceof RuntimeConfigError) errors = e.errors; else throw e; }
    expect(errors.map((e) => [e.path, e.message])).toEqual([
      ['GANTRY_GITHUB_APP_ID', "expected the App's numeric id, got 'my-app'"],
      ['GANTRY_GITHUB_APP_INSTALLATION_ID', 'not set, but other GitHub App settings are'],
      ['GANTRY_GITHUB_APP_PRIVATE_KEY', 'the value is not a PEM private key'],
    ]);
    expect(JSON.stringify(errors)).not.toContain('s3cr3t');
  });
});

describe('secrets in logs and messages', () => {
  it('no installation token and no private key in any log line or failure of this file', () => {
    expect(fake.issued.size).toBeGreaterThan(0);
    expect(apiLog.length).toBeGreaterThan(0);
    const text = [...logs.map((l) => `${l.message} ${JSON.stringify(l.meta ?? {})}`), ...messages, ...apiLog].join('\n');
    for (const t of fake.issued) expect(text.includes(t)).toBe(false);
    for (const pem of [appKeyPem, fs.readFileSync(strangerKeyFile, 'utf8')]) {
      for (const line of pem.split('\n').filter((l) => l && !l.startsWith('-----'))) expect(text.includes(line)).toBe(false);
    }
  });
});
