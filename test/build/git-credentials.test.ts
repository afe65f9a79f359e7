// git credentials (activities/git.ts) against real servers that enforce them:
//  - HTTPS: git http-backend behind a TLS server (test CA, trusted through GANTRY_GIT_CA_FILE) that
//    requires Basic auth with the token: checkout and tag push with the token from the variable
//    GANTRY_GIT_HTTPS_TOKENS names; a wrong or missing token is RepoForbidden (non-retryable),
//    naming the host and the setting, never the token;
//  - SSH: OpenSSH's sshd (testbed/sshd.ts) with its own host key: the key and known_hosts work,
//    an unknown host key and a key the server does not know are refused with messages that say so;
//  - no secret on disk (the workspace) or in any message or log line.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { createGitActivities, gitCredentialSettings, type GitCredentialSettings } from '../../activities/git.js';
import type { ConfigError } from '../../core/config.js';
import { loadWorkerConfig, RuntimeConfigError } from '../../runtime/config.js';
import type { CheckoutResult, TagResult } from '../../workflows/pipeline-activity-types.js';
import { GantryService } from '../../api/service.js';
import type { PipelineStatus } from '../../core/pipeline.js';
import { gatesWorkflowId } from '../../workflows/messages.js';
import { createSampleRepo } from '../support/build-bed.js';
import { failureOf } from '../support/failures.js';
import { connectClient, testAddress, unique } from '../support/temporal.js';
import { createBareRepo, gitSync, makeTestCa, sshKeygen, startHttpsGitServer, startSshd, type HttpsGitServer, type SshServer, type TestCa } from '../support/git-servers.js';

const TOKEN = 'glpat-REAL-secret-7f3a9c2e1b';
const WRONG = 'glpat-wrong-0000000000';

let dir: string;
let ca: TestCa;
let https: HttpsGitServer;
let sshd: SshServer;
let repo: { dir: string; sha: string };
let sshKey: { file: string; pub: string };
let strangerKey: { file: string; pub: string };
const logs: LogEntry[] = [];
const messages: string[] = [];

/** An activity environment whose logger keeps every line (for the secret scan). */
const activityEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('TRACE', (e) => { logs.push(e); }) });

function settings(env: Record<string, string>, dataDir = path.join(dir, 'data')): GitCredentialSettings {
  const errors: ConfigError[] = [];
  const s = gitCredentialSettings(env, dataDir, undefined, errors);
  expect(errors).toEqual([]);
  return s!;
}

const failure = (p: Promise<unknown>): Promise<ApplicationFailure> => failureOf(p, messages);

/** Every file under `root` (the workspace: bare cache, worktrees, the generated ssh config). */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else if (e.isFile()) out.push(p); } };
  if (fs.existsSync(root)) walk(root);
  return out;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-gitcred-'));
  ca = makeTestCa(path.join(dir, 'ca'));
  repo = createBareRepo(path.join(dir, 'repos'), 'acme/shop');
  https = await startHttpsGitServer(ca, path.join(dir, 'repos'), (c) => c?.password === TOKEN);
  const keys = path.join(dir, 'keys');
  fs.mkdirSync(keys);
  sshKey = sshKeygen(keys, 'gantry_deploy_key');
  strangerKey = sshKeygen(keys, 'stranger_key');
  sshd = await startSshd(path.join(dir, 'sshd'), [sshKey.pub]);
}, 60_000);

afterAll(async () => {
  await https?.stop();
  await sshd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('git over HTTPS with a token (git http-backend behind TLS + Basic auth)', () => {
  const url = () => `${https.url}/acme/shop.git`;
  const host = () => new URL(https.url).host;
  const env = (token: string) => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_TOKEN_SHOP: token, GANTRY_GIT_HTTPS_TOKENS: `${host()}=GIT_TOKEN_SHOP`, GANTRY_GIT_CA_FILE: ca.caFile });

  it('checks out with the token from the variable GANTRY_GIT_HTTPS_TOKENS names, over TLS trusted via GANTRY_GIT_CA_FILE; tags push too', async () => {
    const ws = path.join(dir, 'ws-https');
    const e = env(TOKEN);
    const git = createGitActivities({ workspaceRoot: ws, git: settings(e), env: e });
    https.requests.length = 0;
    const out = await activityEnv().run(git.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: url(), sha: repo.sha, ref: 'refs/heads/main' } }) as CheckoutResult;
    expect(out.sha).toBe(repo.sha);
    expect(fs.readFileSync(path.join(out.workspace, 'README.md'), 'utf8')).toBe('# acme/shop\n');
    // The server saw only authorized requests (the header is sent up front, no 401 round trip).
    expect(https.requests.length).toBeGreaterThan(0);
    expect(https.requests.every((r) => r.authorized)).toBe(true);

    const tag = await activityEnv().run(git.tagRelease, { source: { repo: 'acme/shop', url: url(), sha: repo.sha }, tag: 'v1.0.0', message: 'release v1.0.0' }) as TagResult;
    expect(tag.created).toBe(true);
    expect(gitSync(repo.dir, 'rev-parse', 'v1.0.0^{commit}').trim()).toBe(repo.sha);
    expect(https.requests.some((r) => r.path.endsWith('/git-receive-pack') && r.authorized)).toBe(true);

    // Nothing on disk holds the token (no credentials in .git/config or anywhere in the workspace).
    const b64 = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    for (const f of filesUnder(ws)) {
      const text = fs.readFileSync(f).toString('latin1');
      expect({ f, token: text.includes(TOKEN), basic: text.includes(b64) }).toEqual({ f, token: false, basic: false });
    }
    expect(fs.readFileSync(path.join(ws, fs.readdirSync(ws)[0]!, 'cache.git', 'config'), 'utf8')).toContain(`url = ${url()}`);
  }, 60_000);

  it('the token is in the environment of the git processes that talk to the server, never in an argv', async () => {
    // A `git` first on PATH (a Node script) records each invocation's argv and GIT_CONFIG_* names, then runs the real git.
    const realGit = execFileSync('which', ['git']).toString().trim();
    const shim = path.join(dir, 'git-shim');
    const record = path.join(dir, 'git-calls.jsonl');
    fs.mkdirSync(shim, { recursive: true });
    fs.writeFileSync(path.join(shim, 'git'), `#!${process.execPath}
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const env = Object.keys(process.env).filter((k) => k.startsWith('GIT_CONFIG_'));
fs.appendFileSync(${JSON.stringify(record)}, JSON.stringify({ argv: process.argv.slice(2), env, values: env.map((k) => process.env[k]) }) + '\\n');
const r = spawnSync(${JSON.stringify(realGit)}, process.argv.slice(2), { stdio: 'inherit' });
process.exit(r.status ?? 1);
`, { mode: 0o755 });
    const before = process.env.PATH;
    process.env.PATH = `${shim}:${before ?? ''}`;
    try {
      const e = env(TOKEN);
      const git = createGitActivities({ workspaceRoot: path.join(dir, 'ws-argv'), git: settings(e), env: e });
      await activityEnv().run(git.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: url(), sha: repo.sha, ref: 'refs/heads/main' } });
    } finally {
      process.env.PATH = before;
    }
    const calls = fs.readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { argv: string[]; env: string[]; values: string[] });
    const b64 = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    const network = calls.filter((c) => c.argv.includes('fetch') || c.argv.includes('ls-remote'));
    expect(network.map((c) => c.argv.find((a) => a === 'fetch' || a === 'ls-remote'))).toEqual(['ls-remote', 'fetch']);
    for (const c of network) {
      expect(c.env).toEqual(expect.arrayContaining(['GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0']));
      expect(c.values).toContain(`Authorization: Basic ${b64}`);
      expect(c.values).toContain(`http.https://${host()}/.extraHeader`);
    }
    for (const c of calls) expect(c.argv.join(' ')).not.toMatch(new RegExp(`${TOKEN}|${b64.replace(/[+/=]/g, '.')}|extraHeader`, 'i'));
  }, 60_000);

  it('a wrong token: RepoForbidden, non-retryable, naming the host and the variable, never the token', async () => {
    const e = env(WRONG);
    const git = createGitActivities({ workspaceRoot: path.join(dir, 'ws-wrong'), git: settings(e), env: e });
    const f = await failure(activityEnv().run(git.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: url(), sha: repo.sha } }));
    expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type: 'RepoForbidden', nonRetryable: true });
    expect(f.message).toContain(`${host()} refused the token in GIT_TOKEN_SHOP (the GANTRY_GIT_HTTPS_TOKENS entry for ${host()})`);
    expect(f.message).not.toContain(WRONG);
    expect(f.message).not.toContain(Buffer.from(`x-access-token:${WRONG}`).toString('base64'));
  }, 60_000);

  it('no token for the host: RepoForbidden saying which entry to add; without the CA the server is not trusted', async () => {
    const none = { PATH: process.env.PATH ?? '/usr/bin:/bin', GANTRY_GIT_CA_FILE: ca.caFile };
    const git = createGitActivities({ workspaceRoot: path.join(dir, 'ws-none'), git: settings(none), env: none });
    const f = await failure(activityEnv().run(git.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: url(), sha: repo.sha } }));
    expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type: 'RepoForbidden', nonRetryable: true });
    expect(f.message).toContain(`no token is configured for ${host()}: add ${host()}=<ENV_VAR> to GANTRY_GIT_HTTPS_TOKENS`);

    const noCa = { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_TOKEN_SHOP: TOKEN, GANTRY_GIT_HTTPS_TOKENS: `${host()}=GIT_TOKEN_SHOP` };
    const untrusting = createGitActivities({ workspaceRoot: path.join(dir, 'ws-noca'), git: settings(noCa), env: noCa });
    const t = await failure(activityEnv().run(untrusting.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: url(), sha: repo.sha } }));
    expect({ type: t.type, nonRetryable: t.nonRetryable }).toEqual({ type: 'RepoForbidden', nonRetryable: true });
    expect(t.message).toMatch(/certificate/i);
    expect(t.message).toContain('GANTRY_GIT_CA_FILE');
  }, 60_000);

  it('tokens go over https only: a plain http URL of a host with a token gets no Authorization header', async () => {
    const seen: (string | undefined)[] = [];
    const plain = http.createServer((req, res) => { seen.push(req.headers.authorization); res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' }); res.end(); });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const hostPort = `127.0.0.1:${(plain.address() as { port: number }).port}`;
      const e = { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_TOKEN_SHOP: TOKEN, GANTRY_GIT_HTTPS_TOKENS: `${hostPort}=GIT_TOKEN_SHOP` };
      const git = createGitActivities({ workspaceRoot: path.join(dir, 'ws-http'), git: settings(e), env: e });
      const f = await failure(activityEnv().run(git.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: `http://${hostPort}/acme/shop.git`, sha: repo.sha } }));
      expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type: 'RepoForbidden', nonRetryable: true });
      expect(f.message).toContain(`a token is configured for ${hostPort}, but Gantry sends tokens over https only`);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((h) => h === undefined)).toBe(true);
    } finally {
      plain.closeAllConnections();
      await new Promise((r) => plain.close(r));
    }
  }, 60_000);
});

describe('git over SSH with a key and known_hosts (a real sshd)', () => {
  const url = () => sshd.urlOf(repo.dir);
  function sshEnv(key: string, knownHosts: string): Record<string, string> {
    return { PATH: process.env.PATH ?? '/usr/bin:/bin', GANTRY_GIT_SSH_KEY_FILE: key, GANTRY_GIT_SSH_KNOWN_HOSTS_FILE: knownHosts };
  }
  const knownHosts = (name: string, line: string) => { const f = path.join(dir, name); fs.writeFileSync(f, `${line}\n`); return f; };

  it('checks out and pushes a tag with the key, the host key checked against known_hosts; the ssh config is Gantry\'s own', async () => {
    const e = sshEnv(sshKey.file, knownHosts('known_hosts', sshd.knownHostsLine));
    const dataDir = path.join(dir, 'data-ssh');
    const s = settings(e, dataDir);
    const git = createGitActivities({ workspaceRoot: path.join(dir, 'ws-ssh'), git: s, env: e });
    const out = await activityEnv().run(git.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: url(), sha: repo.sha, ref: 'refs/heads/main' } }) as CheckoutResult;
    expect(out.sha).toBe(repo.sha);
    const tag = await activityEnv().run(git.tagRelease, { source: { repo: 'acme/shop', url: url(), sha: repo.sha }, tag: 'v2.0.0-ssh', message: 'over ssh' }) as TagResult;
    expect(tag.created).toBe(true);
    expect(gitSync(repo.dir, 'rev-parse', 'v2.0.0-ssh^{commit}').trim()).toBe(repo.sha);
    expect(sshd.log()).toMatch(/Accepted publickey for \S+ from 127\.0\.0\.1/);
    const config = fs.readFileSync(s.ssh!.configFile, 'utf8');
    expect(config).toContain('StrictHostKeyChecking yes');
    expect(config).toContain('IdentitiesOnly yes');
    expect(config).toContain(`IdentityFile "${sshKey.file}"`);
    expect(fs.statSync(s.ssh!.configFile).mode & 0o077).toBe(0);
  }, 60_000);

  it('an unknown host key: refused before any key is offered, the message names GANTRY_GIT_SSH_KNOWN_HOSTS_FILE', async () => {
    const other = sshKeygen(path.join(dir, 'keys'), 'other_host_key');
    const kh = knownHosts('known_hosts_wrong', `[127.0.0.1]:${sshd.port} ${other.pub.split(' ').slice(0, 2).join(' ')}`);
    const empty = knownHosts('known_hosts_empty', '');
    for (const [name, file] of [['a different key', kh], ['no entry', empty]] as const) {
      const e = sshEnv(sshKey.file, file);
      const git = createGitActivities({ workspaceRoot: path.join(dir, `ws-ssh-${name.replace(/\W/g, '')}`), git: settings(e), env: e });
      const logFrom = sshd.log().length;
      const f = await failure(activityEnv().run(git.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: url(), sha: repo.sha } }));
      // The client hung up before authenticating: no key was offered to a server it could not verify.
      await new Promise((r) => setTimeout(r, 200));
      const during = sshd.log().slice(logFrom);
      expect(during).toMatch(/Connection (closed|reset) by 127\.0\.0\.1 port \d+ \[preauth\]/);
      expect(during).not.toMatch(/publickey/i);
      expect({ name, type: f.type, nonRetryable: f.nonRetryable }).toEqual({ name, type: 'RepoForbidden', nonRetryable: true });
      expect(f.message).toContain(`the SSH host key of 127.0.0.1:${sshd.port} is not in GANTRY_GIT_SSH_KNOWN_HOSTS_FILE (${file}) or does not match it`);
    }
  }, 60_000);

  it('a key the server does not know: RepoForbidden naming GANTRY_GIT_SSH_KEY_FILE', async () => {
    const e = sshEnv(strangerKey.file, knownHosts('known_hosts2', sshd.knownHostsLine));
    const git = createGitActivities({ workspaceRoot: path.join(dir, 'ws-ssh-stranger'), git: settings(e), env: e });
    const f = await failure(activityEnv().run(git.checkout, { pipelineId: 'p', readConfig: false, source: { repo: 'acme/shop', url: url(), sha: repo.sha } }));
    expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type: 'RepoForbidden', nonRetryable: true });
    expect(f.message).toContain(`127.0.0.1:${sshd.port} refused the key in GANTRY_GIT_SSH_KEY_FILE (${strangerKey.file})`);
    expect(f.message).toMatch(/Permission denied \(publickey\)/);
  }, 60_000);
});

describe('the git credential settings (runtime config)', () => {
  const base = { GANTRY_CLUSTER: 'sim', HOME: '/h' };
  const probe = { exists: () => false, home: '/h', which: () => undefined, unwritable: () => undefined };
  const errorsOf = (env: Record<string, string>): ConfigError[] => {
    try { loadWorkerConfig({ ...base, ...env }, probe); } catch (e) { if (e instanceof RuntimeConfigError) return e.errors; throw e; }
    throw new Error('expected a RuntimeConfigError');
  };

  it('are read into the pipeline settings (token values stay in the environment)', () => {
    const c = loadWorkerConfig({ ...base, GANTRY_DATA_DIR: '/data', GANTRY_GIT_HTTPS_TOKENS: 'git.example.com=T1, oauth2@gitlab.example.com:8443=T2', T1: TOKEN, T2: WRONG, GANTRY_GIT_CA_FILE: ca.caFile, GANTRY_GIT_SSH_KEY_FILE: sshKey.file, GANTRY_GIT_SSH_KNOWN_HOSTS_FILE: ca.caFile }, probe);
    expect(c.pipeline.git).toEqual({
      https: [{ host: 'git.example.com', user: 'x-access-token', tokenEnv: 'T1' }, { host: 'gitlab.example.com:8443', user: 'oauth2', tokenEnv: 'T2' }],
      caFile: ca.caFile, ssh: { keyFile: sshKey.file, knownHostsFile: ca.caFile, configFile: '/data/git/ssh_config' },
    });
    expect(JSON.stringify(c)).not.toContain(TOKEN);
  });

  it('every problem is named by its variable, with a hint; a token value is never shown', () => {
    const errs = errorsOf({ GANTRY_GIT_HTTPS_TOKENS: 'git.example.com=UNSET_VAR,not an entry,git.example.com=T1', T1: TOKEN, GANTRY_GIT_SSH_KEY_FILE: '/nope/key', GANTRY_GIT_CA_FILE: 'relative.pem' });
    expect(errs.map((e) => [e.path, e.message])).toEqual([
      ['GANTRY_GIT_HTTPS_TOKENS', 'the entry for git.example.com names UNSET_VAR, which is not set'],
      ['GANTRY_GIT_HTTPS_TOKENS', "'not' is not [user@]host[:port]=ENV_VAR"],
      ['GANTRY_GIT_HTTPS_TOKENS', "'an' is not [user@]host[:port]=ENV_VAR"],
      ['GANTRY_GIT_HTTPS_TOKENS', "'entry' is not [user@]host[:port]=ENV_VAR"],
      ['GANTRY_GIT_HTTPS_TOKENS', 'git.example.com is listed twice'],
      ['GANTRY_GIT_CA_FILE', "expected an absolute path without quotes or line breaks, got 'relative.pem'"],
      ['GANTRY_GIT_SSH_KEY_FILE', '/nope/key cannot be read: ENOENT'],
      ['GANTRY_GIT_SSH_KNOWN_HOSTS_FILE', 'not set, but GANTRY_GIT_SSH_KEY_FILE is'],
    ]);
    for (const e of errs) expect(e.hint.length).toBeGreaterThan(10);
    expect(JSON.stringify(errs)).not.toContain(TOKEN);
  });
});

describe('a worker process with a token, and pipelines on the dev server: no secret in its output or the workflow history', () => {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
  let worker: ChildProcess | undefined;
  let output = '';
  let client: Client;
  let connection: Connection;
  const taskQueue = unique('tq-gitcred');
  const app = unique('cred');

  beforeAll(async () => {
    const host = new URL(https.url).host;
    worker = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'worker', 'main.ts')], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: taskQueue, GANTRY_CLUSTER: 'sim',
        GANTRY_DATA_DIR: path.join(dir, 'worker-data'), GANTRY_LOG_LEVEL: 'DEBUG',
        GANTRY_GIT_HTTPS_TOKENS: `${host}=GIT_TOKEN_SHOP`, GIT_TOKEN_SHOP: TOKEN, GANTRY_GIT_CA_FILE: ca.caFile,
      },
    });
    await new Promise<void>((resolve, reject) => {
      worker!.stdout!.on('data', (b: Buffer) => { output += b.toString(); if (output.includes('gantry worker: role')) resolve(); });
      worker!.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
      worker!.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready:\n${output}`)));
    });
    ({ client, connection } = await connectClient());
  }, 240_000);

  afterAll(async () => {
    const c = worker;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const kill = setTimeout(() => c.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(kill);
    }
    await connection?.close();
  });

  it('a gates-only pipeline checks out over HTTPS with the token; with the token refused it fails on RepoForbidden; neither history nor the worker\'s log holds the token', async () => {
    const sample = createSampleRepo(path.join(dir, 'repos', 'acme'), { app, image: `127.0.0.1:5000/gantry/${app}`, gates: "  - { name: smoke, type: command, run: [sh, -c, 'test -s src/index.html'] }\n" });
    const url = `${https.url}/acme/${app}.git`;
    const service = new GantryService(client, taskQueue);
    const caller = { identity: { id: 'carol', groups: ['developers'] }, channel: 'api' as const };
    const finished = async (sha: string) => {
      const deadline = Date.now() + 180_000;
      for (;;) {
        const st = await service.pipelineStatus(app, sha, { gatesOnly: true }).catch(() => undefined) as PipelineStatus | undefined;
        if (st && st.state !== 'running') return st;
        if (Date.now() > deadline) throw new Error(`pipeline ${sha} did not finish:\n${output}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    const ok = sample.head();
    await service.startPipeline({ repo: app, sha: ok, revision: {}, source: { url }, gatesOnly: true }, caller);
    const p = await finished(ok);
    expect({ state: p.state, gates: p.gates?.map((g) => [g.name, g.state]) }).toEqual({ state: 'succeeded', gates: [['smoke', 'passed']] });

    // The server stops taking the token (revoked): the next commit's checkout is refused, once (non-retryable).
    https.accept = () => false;
    try {
      const refused = sample.commit({ 'src/version.txt': 'v2\n' }, 'second');
      https.requests.length = 0;
      await service.startPipeline({ repo: app, sha: refused, revision: {}, source: { url }, gatesOnly: true }, caller);
      const q = await finished(refused);
      expect(q.state).toBe('failed');
      const history = await client.workflow.getHandle(gatesWorkflowId(app, refused)).fetchHistory();
      const failed = (history.events ?? []).map((e) => e.activityTaskFailedEventAttributes?.failure).filter(Boolean);
      expect(failed).toHaveLength(1);
      expect(failed[0]!.cause?.applicationFailureInfo?.type ?? failed[0]!.applicationFailureInfo?.type).toBe('RepoForbidden');
      expect(JSON.stringify(failed[0])).toContain(`refused the token in GIT_TOKEN_SHOP (the GANTRY_GIT_HTTPS_TOKENS entry for ${new URL(https.url).host})`);

      const histories = JSON.stringify([await client.workflow.getHandle(gatesWorkflowId(app, ok)).fetchHistory(), history]);
      const b64 = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
      expect(histories).toContain(url);
      expect([histories.includes(TOKEN), histories.includes(b64)]).toEqual([false, false]);
      // The worker logged at DEBUG, activity failures included; none of it holds the token.
      expect(output).toMatch(/RepoForbidden|refused the token/);
      expect([output.includes(TOKEN), output.includes(b64)]).toEqual([false, false]);
    } finally {
      https.accept = (c) => c?.password === TOKEN;
    }
  }, 300_000);
});

describe('secrets in logs and messages', () => {
  it('no token, no Basic header value and no private key in any log line or failure of this file', () => {
    expect(logs.length + messages.length).toBeGreaterThan(0);
    const text = [...logs.map((l) => `${l.message} ${JSON.stringify(l.meta ?? {})}`), ...messages].join('\n');
    const key = fs.readFileSync(sshKey.file, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const secret of [TOKEN, WRONG, Buffer.from(`x-access-token:${TOKEN}`).toString('base64'), Buffer.from(`x-access-token:${WRONG}`).toString('base64'), ...key]) {
      expect(text.includes(secret)).toBe(false);
    }
  });
});
