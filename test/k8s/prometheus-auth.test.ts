// Analysis against a Prometheus behind credentials and TLS: the REAL Prometheus (Debian 2.42,
// /usr/bin/prometheus), started by this test with --web.config.file enforcing basic auth (bcrypt,
// bcryptjs) and TLS with a test CA (openssl, argv only). It scrapes itself through the same TLS and
// basic auth, so a query for its own `up` is a real measurement. Prometheus does not check bearer
// tokens; in real installs a proxy in front of it does (kube-rbac-proxy, oauth2-proxy, a managed
// Prometheus's gateway): here a small HTTPS reverse proxy that requires the bearer token and forwards
// to Prometheus with basic auth stands in for it.
//
// The worker's settings are read the production way (runtime/config.ts -> worker/activities.ts
// kubernetesOptions -> the Kubernetes activities' measure). Proven: the right credentials and CA
// measure a value; a wrong password, a missing or wrong token, and an untrusted CA each fail as a
// typed non-retryable failure naming the URL and the setting (never the secret), and measure turns
// them into inconclusive checks (a person decides, as when Prometheus is down); no secret reaches
// the output, the errors, the printed config or Prometheus's log.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import bcrypt from 'bcryptjs';
import { assessAnalysis } from '../../core/analysis.js';
import { createKubernetesActivities, queryPrometheus, type PrometheusClientOptions } from '../../activities/k8s/index.js';
import { loadWorkerConfig, RuntimeConfigError, type WorkerConfig } from '../../runtime/config.js';
import { freePort, killGroup } from '../../testbed/ephemeral-temporal.js';
import { prometheusBin } from '../../testbed/prometheus.js';
import { FailureType } from '../../workflows/failures.js';
import type { MeasureRequest } from '../../workflows/activity-types.js';
import { kubernetesOptions } from '../../worker/activities.js';

const USER = 'gantry';
const PASSWORD = `pw-${Math.random().toString(36).slice(2)}-right`;
const WRONG_PASSWORD = `pw-${Math.random().toString(36).slice(2)}-wrong`;
const TOKEN = `tok-${Math.random().toString(36).slice(2)}-right`;
const WRONG_TOKEN = `tok-${Math.random().toString(36).slice(2)}-wrong`;
const ROTATED_TOKEN = `tok-${Math.random().toString(36).slice(2)}-rotated`;
const SECRETS = [PASSWORD, WRONG_PASSWORD, TOKEN, WRONG_TOKEN, ROTATED_TOKEN];

let dir: string;
let ca: string;
let otherCa: string;
let promUrl: string;
let proxyUrl: string;
let promPid: number | undefined;
let promLog: string;
let proxy: https.Server | undefined;
let tokenFile: string;
/** Tokens the proxy accepts (the rotation test adds one). */
const accepted = new Set([TOKEN]);
/** Everything this process wrote while the tests ran (stdout, stderr). */
const captured: string[] = [];
const restore: (() => void)[] = [];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
function makeCa(name: string): string {
  openssl(['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  return path.join(dir, `${name}.pem`);
}
function makeServerCert(caName: string, name: string): { cert: string; key: string } {
  fs.writeFileSync(path.join(dir, `${name}.ext`), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { if (await check()) return; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${promLog ? ` (Prometheus log: ${fs.readFileSync(promLog, 'utf8').slice(-1500)})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The worker's config, read the production way, for this test's Prometheus. */
function workerConfig(env: Record<string, string>): WorkerConfig {
  const kubeconfig = path.join(dir, 'kubeconfig');
  return loadWorkerConfig({
    PATH: process.env.PATH, HOME: process.env.HOME, GANTRY_DATA_DIR: path.join(dir, 'data'),
    GANTRY_CLUSTER: 'kubernetes', GANTRY_KUBECONFIG: kubeconfig, ...env,
  });
}
function prometheusOf(config: WorkerConfig): PrometheusClientOptions {
  if (config.cluster.kind !== 'kubernetes') throw new Error(`expected a kubernetes cluster config, got ${config.cluster.kind}`);
  const p = kubernetesOptions(config.cluster, config.env).prometheus;
  if (!p) throw new Error('no Prometheus options');
  return p;
}
/** The failure a query throws (or a failed expectation when it does not throw). */
async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}
const UP = 'up{job="prometheus"}';
const measureReq = (checks: MeasureRequest['checks']): MeasureRequest => ({
  releaseId: 'r1', target: { app: 'shop', environment: 'production', cells: [] } as unknown as MeasureRequest['target'],
  revision: { image: 'registry.local/shop/web', digest: `sha256:${'a'.repeat(64)}` }, group: 0, checks,
});

beforeAll(async () => {
  if (!fs.existsSync(prometheusBin)) throw new Error(`Prometheus missing at ${prometheusBin}: run \`npm run testbed -- install\``);
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => { captured.push(String(chunk)); return (write as (...a: unknown[]) => boolean)(chunk, ...rest); }) as typeof stream.write;
    restore.push(() => { stream.write = write; });
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-prom-auth-'));
  fs.writeFileSync(path.join(dir, 'kubeconfig'), [
    'apiVersion: v1', 'kind: Config', 'current-context: none',
    'clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]',
    'users: [{name: none, user: {}}]', 'contexts: [{name: none, context: {cluster: none, user: none}}]', '',
  ].join('\n'));
  ca = makeCa('test-ca');
  otherCa = makeCa('other-ca');
  const server = makeServerCert('test-ca', 'prometheus');
  const port = await freePort();
  promUrl = `https://127.0.0.1:${port}`;

  // Prometheus: TLS and basic auth on its web endpoint, scraping itself through both.
  const passwordFile = path.join(dir, 'scrape-password');
  fs.writeFileSync(passwordFile, PASSWORD, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'web.yml'), [
    'tls_server_config:', `  cert_file: ${server.cert}`, `  key_file: ${server.key}`,
    'basic_auth_users:', `  ${USER}: ${bcrypt.hashSync(PASSWORD, 10)}`, '',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), [
    'global: {scrape_interval: 1s}',
    'scrape_configs:',
    '  - job_name: prometheus',
    '    scheme: https',
    `    tls_config: {ca_file: ${ca}}`,
    `    basic_auth: {username: ${USER}, password_file: ${passwordFile}}`,
    `    static_configs: [{targets: ['127.0.0.1:${port}']}]`, '',
  ].join('\n'));
  promLog = path.join(dir, 'prometheus.log');
  const out = fs.openSync(promLog, 'w');
  const child = spawn(prometheusBin, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--web.config.file=${path.join(dir, 'web.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=info'],
  { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.unref();
  promPid = child.pid;

  // The bearer-token proxy (what kube-rbac-proxy or oauth2-proxy do): HTTPS with the test CA's
  // certificate, 401 without the token, else forwarded to Prometheus with its basic auth.
  const proxyCert = makeServerCert('test-ca', 'proxy');
  const proxyPort = await freePort();
  proxyUrl = `https://127.0.0.1:${proxyPort}`;
  const upstreamCa = fs.readFileSync(ca, 'utf8');
  proxy = https.createServer({ cert: fs.readFileSync(proxyCert.cert), key: fs.readFileSync(proxyCert.key) }, (req, res) => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m || !accepted.has(m[1]!)) { res.writeHead(401, { 'www-authenticate': 'Bearer' }).end('Unauthorized\n'); return; }
    const up = https.request(`${promUrl}${req.url ?? '/'}`, {
      method: req.method, ca: upstreamCa,
      headers: { accept: req.headers.accept ?? '*/*', authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` },
    }, (r) => { res.writeHead(r.statusCode ?? 502, { 'content-type': r.headers['content-type'] ?? 'application/json' }); r.pipe(res); });
    up.on('error', (err) => { res.writeHead(502).end(err.message); });
    up.end();
  });
  await new Promise<void>((resolve) => proxy!.listen(proxyPort, '127.0.0.1', resolve));
  tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });

  // Ready, enforcing, and scraping itself: the right credentials see up == 1.
  const right = { url: promUrl, auth: { kind: 'basic' as const, setting: 'test', username: USER, password: () => PASSWORD }, caFile: ca };
  await until(`Prometheus at ${promUrl} to answer with its own up series`, async () => (await queryPrometheus(right, UP, { timeoutMs: 2000 })).value === 1);
}, 120_000);

afterAll(async () => {
  for (const r of restore) r();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  if (promPid) killGroup(promPid);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('Prometheus with TLS and basic auth (the real Prometheus 2.42, --web.config.file)', () => {
  it('the right user, password and CA measure a real value; without credentials Prometheus says 401 (it enforces)', async () => {
    const config = workerConfig({ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_USERNAME: USER, GANTRY_PROMETHEUS_PASSWORD: PASSWORD, GANTRY_PROMETHEUS_CA_FILE: ca });
    expect(config.cluster).toMatchObject({ prometheusUrl: promUrl, prometheusAccess: { auth: { kind: 'basic', username: USER, passwordEnv: 'GANTRY_PROMETHEUS_PASSWORD' }, caFile: ca } });
    expect(await queryPrometheus(prometheusOf(config), UP)).toEqual({ value: 1 });
    // Through the activity the release calls, built by the composition root's options.
    const acts = createKubernetesActivities(kubernetesOptions(config.cluster as Extract<WorkerConfig['cluster'], { kind: 'kubernetes' }>, config.env));
    const m = await acts.measure(measureReq([{ name: 'up', query: UP, min: 1 }, { name: 'scrapes', query: 'sum(scrape_samples_scraped{job="prometheus"})', min: 1 }]));
    expect(m).toEqual([{ check: 'up', index: 0, value: 1 }, { check: 'scrapes', index: 1, value: expect.any(Number) }]);
    expect(assessAnalysis([{ name: 'up', query: UP, min: 1 }, { name: 'scrapes', query: 'x', min: 1 }], m).verdict).toBe('pass');

    // The server really enforces: a plain request (no credentials) is refused.
    const status = await new Promise<number>((resolve, reject) => {
      https.get(`${promUrl}/api/v1/query?query=up`, { ca: fs.readFileSync(ca) }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
    });
    expect(status).toBe(401);
  });

  it('a wrong password: PrometheusUnauthorized, non-retryable, naming the URL and the settings, never the password', async () => {
    const config = workerConfig({ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_USERNAME: USER, GANTRY_PROMETHEUS_PASSWORD: WRONG_PASSWORD, GANTRY_PROMETHEUS_CA_FILE: ca });
    const f = await failureOf(queryPrometheus(prometheusOf(config), UP));
    expect(f.type).toBe(FailureType.PrometheusUnauthorized);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain(promUrl);
    expect(f.message).toMatch(/HTTP 401.*GANTRY_PROMETHEUS_USERNAME \(gantry\) and GANTRY_PROMETHEUS_PASSWORD/);
    expect(f.message).not.toContain(WRONG_PASSWORD);

    // In a release: every check inconclusive with that reason (a person decides), after ONE query.
    const acts = createKubernetesActivities(kubernetesOptions(config.cluster as Extract<WorkerConfig['cluster'], { kind: 'kubernetes' }>, config.env));
    const checks = [{ name: 'up', query: UP, min: 1 }, { name: 'other', query: 'vector(1)', max: 2 }];
    const m = await acts.measure(measureReq(checks));
    expect(m.map((x) => [x.check, x.index, x.value])).toEqual([['up', 0, undefined], ['other', 1, undefined]]);
    for (const x of m) expect(x.error).toMatch(/^PrometheusUnauthorized: Prometheus at https:\/\/127\.0\.0\.1:\d+ refused the worker's credentials \(HTTP 401\)/);
    const verdict = assessAnalysis(checks, m);
    expect(verdict.verdict).toBe('inconclusive');
    expect(verdict.checks[0]!.reason).toMatch(/query failed: PrometheusUnauthorized/);

    // No credentials at all: the message says none is set.
    const none = await failureOf(queryPrometheus({ url: promUrl, caFile: ca }, UP));
    expect(none.type).toBe(FailureType.PrometheusUnauthorized);
    expect(none.message).toMatch(/none is set: set GANTRY_PROMETHEUS_TOKEN/);
  });

  it('an untrusted CA: PrometheusUntrusted naming GANTRY_PROMETHEUS_CA_FILE; without a CA the system roots do not trust it either', async () => {
    const wrong = workerConfig({ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_USERNAME: USER, GANTRY_PROMETHEUS_PASSWORD: PASSWORD, GANTRY_PROMETHEUS_CA_FILE: otherCa });
    const f = await failureOf(queryPrometheus(prometheusOf(wrong), UP));
    expect(f.type).toBe(FailureType.PrometheusUntrusted);
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain(promUrl);
    expect(f.message).toContain(`check GANTRY_PROMETHEUS_CA_FILE (${otherCa})`);
    expect(f.message).not.toContain(PASSWORD);

    const noCa = workerConfig({ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_USERNAME: USER, GANTRY_PROMETHEUS_PASSWORD: PASSWORD });
    const g = await failureOf(queryPrometheus(prometheusOf(noCa), UP));
    expect(g.type).toBe(FailureType.PrometheusUntrusted);
    expect(g.message).toMatch(/set GANTRY_PROMETHEUS_CA_FILE to the CA that signed it/);
  });
});

describe('Prometheus behind a bearer-token proxy (as kube-rbac-proxy or oauth2-proxy in front of it)', () => {
  it('the right token measures; a wrong one is PrometheusUnauthorized naming GANTRY_PROMETHEUS_TOKEN, never the token', async () => {
    const right = workerConfig({ GANTRY_PROMETHEUS_URL: proxyUrl, GANTRY_PROMETHEUS_TOKEN: TOKEN, GANTRY_PROMETHEUS_CA_FILE: ca });
    expect(await queryPrometheus(prometheusOf(right), UP)).toEqual({ value: 1 });

    const wrong = workerConfig({ GANTRY_PROMETHEUS_URL: proxyUrl, GANTRY_PROMETHEUS_TOKEN: WRONG_TOKEN, GANTRY_PROMETHEUS_CA_FILE: ca });
    const f = await failureOf(queryPrometheus(prometheusOf(wrong), UP));
    expect(f.type).toBe(FailureType.PrometheusUnauthorized);
    expect(f.message).toBe(`Prometheus at ${proxyUrl} refused the worker's credentials (HTTP 401): check GANTRY_PROMETHEUS_TOKEN`);
  });

  it('a token file is read at every query: a rotated token is used without a restart', async () => {
    const config = workerConfig({ GANTRY_PROMETHEUS_URL: proxyUrl, GANTRY_PROMETHEUS_TOKEN_FILE: tokenFile, GANTRY_PROMETHEUS_CA_FILE: ca });
    const p = prometheusOf(config);
    expect(await queryPrometheus(p, UP)).toEqual({ value: 1 });
    // Rotation: the proxy accepts only the new token, the file gets it.
    accepted.clear();
    accepted.add(ROTATED_TOKEN);
    const stale = await failureOf(queryPrometheus(p, UP));
    expect(stale.message).toContain(`check GANTRY_PROMETHEUS_TOKEN_FILE (${tokenFile})`);
    fs.writeFileSync(tokenFile, `${ROTATED_TOKEN}\n`);
    expect(await queryPrometheus(p, UP)).toEqual({ value: 1 });
  });
});

describe('the settings (runtime/config.ts)', () => {
  const errorsOf = (env: Record<string, string>): { path: string; message: string }[] => {
    try { workerConfig(env); } catch (err) {
      if (err instanceof RuntimeConfigError) return err.errors;
      throw err;
    }
    return [];
  };

  it('names each wrong setting with a fix, and never echoes a secret', () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_USERNAME: USER }, 'GANTRY_PROMETHEUS_PASSWORD', /is not set, but GANTRY_PROMETHEUS_USERNAME is/],
      [{ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_PASSWORD: PASSWORD }, 'GANTRY_PROMETHEUS_USERNAME', /is not set, but GANTRY_PROMETHEUS_PASSWORD is/],
      [{ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_TOKEN: TOKEN, GANTRY_PROMETHEUS_USERNAME: USER, GANTRY_PROMETHEUS_PASSWORD: PASSWORD }, 'GANTRY_PROMETHEUS_TOKEN', /more than one way/],
      [{ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_CA_FILE: path.join(dir, 'missing.pem') }, 'GANTRY_PROMETHEUS_CA_FILE', /no file at/],
      [{ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_CA_FILE: path.join(dir, 'kubeconfig') }, 'GANTRY_PROMETHEUS_CA_FILE', /is not a PEM certificate/],
      [{ GANTRY_PROMETHEUS_URL: promUrl.replace('https:', 'http:'), GANTRY_PROMETHEUS_CA_FILE: ca }, 'GANTRY_PROMETHEUS_CA_FILE', /not https:\/\//],
      [{ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_TOKEN_FILE: path.join(dir, 'nope') }, 'GANTRY_PROMETHEUS_TOKEN_FILE', /does not exist/],
      [{ GANTRY_PROMETHEUS_TOKEN: TOKEN }, 'GANTRY_PROMETHEUS_URL', /is not set, but Prometheus credentials or a CA are/],
    ];
    for (const [env, setting, message] of cases) {
      const errors = errorsOf(env);
      expect(errors.find((e) => e.path === setting)?.message).toMatch(message);
      for (const s of SECRETS) expect(JSON.stringify(errors)).not.toContain(s);
    }
    // A printed config carries names and paths, never a secret.
    const config = workerConfig({ GANTRY_PROMETHEUS_URL: promUrl, GANTRY_PROMETHEUS_USERNAME: USER, GANTRY_PROMETHEUS_PASSWORD: PASSWORD, GANTRY_PROMETHEUS_CA_FILE: ca });
    const printed = [JSON.stringify(config), util.inspect(config, { depth: 10 }), util.inspect(kubernetesOptions(config.cluster as Extract<WorkerConfig['cluster'], { kind: 'kubernetes' }>, config.env), { depth: 10 })].join('\n');
    expect(printed).toContain('GANTRY_PROMETHEUS_PASSWORD');
    expect(printed).not.toContain(PASSWORD);
  });

  it('no secret reached this process\'s output or Prometheus\'s log', () => {
    const logs = [captured.join(''), fs.readFileSync(promLog, 'utf8')];
    expect(logs[1]).toMatch(/Server is ready to receive web requests|TLS is enabled/);
    for (const text of logs) for (const s of SECRETS) expect(text).not.toContain(s);
  });
});
