// Metrics and logs for operators (issue 9, item 4), with real components: the Gantry worker as a
// process of its own (worker/main.ts, simulated cluster) serving Prometheus at GANTRY_METRICS_ADDR,
// scraped by the test bed's Prometheus (a file_sd target, 1 s interval); the HTTP API (startApi,
// bearer tokens) on the run's Temporal dev server. A release that waits for approval is rejected
// over HTTP: gantry_rollbacks_total{app, cause="rejected"} goes from absent to 1 in a PromQL query
// at Prometheus, and the API's /metrics counts the decisions and a hook delivery. The worker's logs
// are pino JSON lines. The Grafana dashboard uses only metric names that Gantry or the SDK export.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { startApi, type RunningApi } from '../../api/main.js';
import { ApiMetrics } from '../../api/metrics.js';
import { GATE_RESULTS_METRIC } from '../../activities/metrics.js';
import { loadApiConfig, loadWorkerConfig, RuntimeConfigError } from '../../runtime/config.js';
import { REDACTED_PATHS } from '../../runtime/logging.js';
import { forwardEntry } from '../../worker/telemetry.js';
import { prometheusReady, prometheusTargetsDir, prometheusUrl } from '../../testbed/prometheus.js';
import { seedConfig, DIGEST_A } from '../support/fixtures.js';
import { connectClient, testAddress, unique } from '../support/temporal.js';
import { freePort, untilValue } from '../support/poll.js';

jest.setTimeout(240_000);
const root = fileURLToPath(new URL('../..', import.meta.url));
const dashboardFile = path.join(root, 'deploy', 'grafana', 'gantry.json');

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => { for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined); });


const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => untilValue(what, fn, timeoutMs, 250);

interface Sample { metric: Record<string, string>; value: [number, string] }
async function promQuery(q: string): Promise<Sample[]> {
  const r = await fetch(`${prometheusUrl()}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(5000) });
  const body = (await r.json()) as { status: string; data?: { result: Sample[] }; error?: string };
  if (body.status !== 'success') throw new Error(`PromQL ${q}: ${body.error ?? r.status}`);
  return body.data!.result;
}

/** Metric names of a Prometheus text exposition (series names, without the _bucket/_sum/_count of histograms). */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

/** The value of one series in an exposition, matched by name and a subset of its labels. */
function sampleValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const tok = (who: string) => `${who}-${crypto.randomBytes(12).toString('hex')}`;
const T = { alice: tok('alice'), carol: tok('carol'), dave: tok('dave') };
const TOKENS = { [T.alice]: { id: 'alice', groups: ['sre'] }, [T.carol]: { id: 'carol', groups: [] }, [T.dave]: { id: 'dave', groups: [] } };

describe('metrics and logs for operators', () => {
  let client: Client;
  let connection: Connection;
  let api: RunningApi;
  let worker: ChildProcess;
  let workerOutput = '';
  let metricsPort = 0;
  const queue = unique('metrics-q');

  beforeAll(async () => {
    if (!(await prometheusReady())) throw new Error(`the test bed's Prometheus is not ready at ${prometheusUrl()}: start it with npm run testbed -- up`);
    ({ client, connection } = await connectClient());
    cleanups.push(() => connection.close());
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-metrics-'));
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    metricsPort = await freePort();
    worker = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '', HOME: dataDir, TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: queue,
        GANTRY_CLUSTER: 'sim', GANTRY_DATA_DIR: dataDir, GANTRY_SIM_APPLY_DELAY_MS: '100', GANTRY_SIM_READY_DELAY_MS: '100',
        GANTRY_LOG_LEVEL: 'info', GANTRY_METRICS_ADDR: `127.0.0.1:${metricsPort}`,
      },
    });
    worker.stdout!.on('data', (b: Buffer) => { workerOutput += b.toString(); });
    worker.stderr!.on('data', (b: Buffer) => { workerOutput += b.toString(); });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    cleanups.push(async () => { worker.kill('SIGTERM'); await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]); worker.kill('SIGKILL'); });
    await until(`the worker process to start (output so far: ${workerOutput})`, async () => (/gantry worker: role all/.test(workerOutput) ? true : undefined), 150_000);

    const config = loadApiConfig({ HOME: dataDir, TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: queue, GANTRY_TOKENS: JSON.stringify(TOKENS) });
    api = await startApi({ config, client, listen: '127.0.0.1:0', logger: false });
    cleanups.push(() => api.close());
  });

  it('a rejected release moves gantry_rollbacks_total at Prometheus; the API counts decisions and deliveries', async () => {
    // The worker's endpoint, as the test bed's Prometheus scrapes it (file_sd, removed afterwards).
    const target = `127.0.0.1:${metricsPort}`;
    const targetsFile = path.join(prometheusTargetsDir, `${queue}.json`);
    fs.mkdirSync(prometheusTargetsDir, { recursive: true });
    fs.writeFileSync(targetsFile, JSON.stringify([{ targets: [target], labels: { gantry_test: queue } }]));
    cleanups.push(() => fs.rmSync(targetsFile, { force: true }));
    await until(`Prometheus to scrape the worker at ${target}`, async () => ((await promQuery(`gantry_build_info{instance="${target}",component="worker"}`)).length === 1 ? true : undefined), 60_000);

    const app = unique('metrics');
    const rollbacks = `gantry_rollbacks_total{app="${app}",environment="production",cause="rejected"}`;
    expect(await promQuery(rollbacks)).toEqual([]); // absent before the release

    const http = (token: string, method: string, url: string, body?: unknown) => fetch(`${api.url}${url}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const start = await http(T.dave, 'POST', '/v1/releases', { config: seedConfig(app), environment: 'production', revision: { digest: DIGEST_A, author: 'dave' } });
    expect(start.status).toBe(201);
    await until('the release to wait for approval', async () => {
      const s = (await (await http(T.dave, 'GET', `/v1/releases/${app}/production`)).json()) as { phase?: string };
      return s.phase === 'waiting-approval' ? true : undefined;
    }, 90_000);
    // The API's release gauges, computed at scrape time from the search attributes (one List per 15 s).
    await until('the waiting release in the API\'s gauges', async () => {
      const text = await (await fetch(`${api.url}/metrics`)).text();
      const info = sampleValue(text, 'gantry_release_info', { app, environment: 'production', kind: 'release', phase: 'waiting-approval' });
      return info === 1 && sampleValue(text, 'gantry_release_waiting', { app, environment: 'production', on: 'approval' }) === 1
        && sampleValue(text, 'gantry_release_list_up', {}) === 1 ? true : undefined;
    }, 60_000);
    // Canary weight and seconds waiting, from GantryWeight and GantryWaitingSince: group 2 moved 3 of
    // 5 pods per zone (60 %); the seconds grow between scrapes (computed at scrape time, not cached).
    const waitingSince = Date.parse((await (await http(T.dave, 'GET', `/v1/releases/${app}/production`)).json() as { waiting: { since: string } }).waiting.since);
    const scrape = async () => {
      const text = await (await fetch(`${api.url}/metrics`)).text();
      return { weight: sampleValue(text, 'gantry_release_canary_weight', { app, environment: 'production' }), waited: sampleValue(text, 'gantry_release_waiting_seconds', { app, environment: 'production', on: 'approval' }) };
    };
    const first = await until('the canary weight and seconds waiting in the API\'s gauges', async () => {
      const m = await scrape();
      return m.weight === 60 && m.waited !== undefined ? m : undefined;
    }, 60_000);
    await new Promise((r) => setTimeout(r, 1200));
    const second = await scrape();
    expect(second.weight).toBe(60);
    expect(second.waited!).toBeGreaterThanOrEqual(first.waited! + 1);
    expect(second.waited!).toBeLessThanOrEqual((Date.now() - waitingSince) / 1000 + 1);
    // carol may not approve (not an approver): refused by the release; alice rejects: accepted, rolls back.
    expect((await http(T.carol, 'POST', `/v1/releases/${app}/production/approve`, {})).status).toBe(403);
    expect((await http(T.alice, 'POST', `/v1/releases/${app}/production/reject`, { comment: 'metrics test' })).status).toBe(200);

    const after = await until(`${rollbacks} at Prometheus`, async () => {
      const r = await promQuery(rollbacks);
      return r.length === 1 && Number(r[0]!.value[1]) >= 1 ? r : undefined;
    }, 90_000);
    expect(Number(after[0]!.value[1])).toBe(1);
    expect(after[0]!.metric).toMatchObject({ app, environment: 'production', cause: 'rejected', job: 'gantry', instance: target });
    const released = await until('gantry_releases_total at Prometheus', async () => {
      const r = await promQuery(`gantry_releases_total{app="${app}"}`);
      return r.length === 1 ? r : undefined;
    }, 60_000);
    expect(released[0]!.metric).toMatchObject({ environment: 'production', result: 'rolled_back' });
    expect((await promQuery(`gantry_release_duration_seconds_count{app="${app}",result="rolled_back"}`)).map((s) => s.value[1])).toEqual(['1']);
    // The SDK's own metrics come from the same endpoint.
    expect((await promQuery(`temporal_workflow_task_execution_latency_count{instance="${target}"}`)).length).toBeGreaterThan(0);

    // A pipeline (release stages only) that succeeds: its stage is timed.
    const app2 = unique('metrics-pipe');
    const pipe = await http(T.dave, 'POST', '/v1/pipelines', { config: seedConfig(app2, { groups: [{ pods: 'rest' }] }), repo: `acme/${app2}`, sha: 'abcdef2', revision: { digest: DIGEST_A } });
    expect(pipe.status).toBe(201);
    const stageQuery = `gantry_pipeline_stage_duration_seconds_count{instance="${target}",stage="release:production",result="passed"}`;
    const stages = await until(`${stageQuery} at Prometheus`, async () => { const r = await promQuery(stageQuery); return r.length === 1 ? r : undefined; }, 90_000);
    expect(stages[0]!.value[1]).toBe('1');

    // A hook delivery that starts nothing (a tag no rule matches): ignored; the same delivery again: duplicate.
    const push = { repo: `acme/${app}`, ref: 'refs/tags/v0.0.1', sha: 'abcdef1', delivery: unique('d'), config: `app:\n  name: ${app}\n  image: registry.local/${app}\nenvironments:\n  - name: production\n    replicas: 2\n    cells:\n      - name: zone-a\n    groups:\n      - pods: rest\n` };
    expect((await http(T.dave, 'POST', '/v1/triggers/push', push)).status).toBe(200);
    expect((await http(T.dave, 'POST', '/v1/triggers/push', push)).status).toBe(200);
    // A delivery without a token: refused.
    expect((await fetch(`${api.url}/v1/triggers/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(push) })).status).toBe(401);

    const res = await fetch(`${api.url}/metrics`); // no token, like /healthz
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(sampleValue(text, 'gantry_decisions_total', { action: 'reject', channel: 'api', result: 'accepted' })).toBe(1);
    expect(sampleValue(text, 'gantry_decisions_total', { action: 'approve', channel: 'api', result: 'refused' })).toBe(1);
    expect(sampleValue(text, 'gantry_webhook_deliveries_total', { source: 'hook', event: 'push', outcome: 'ignored' })).toBe(1);
    expect(sampleValue(text, 'gantry_webhook_deliveries_total', { source: 'hook', event: 'push', outcome: 'duplicate' })).toBe(1);
    expect(sampleValue(text, 'gantry_webhook_deliveries_total', { source: 'hook', event: 'push', outcome: 'refused' })).toBe(1);
    // Durations by route pattern, never by raw URL (the app name is not in any label).
    expect(sampleValue(text, 'gantry_http_request_duration_seconds_count', { method: 'POST', route: '/v1/releases/:app/:env/:action', status_code: '200' })).toBe(1);
    expect(text).not.toContain(`/v1/releases/${app}`);
    expect(sampleValue(text, 'gantry_build_info', { component: 'api' })).toBe(1);
    expect(text).toContain('process_cpu_seconds_total');
    for (const l of ['namespace=', 'job=', 'instance=']) expect(text).not.toContain(l);

    // The worker's logs: pino JSON lines (the SDK's worker logs among them), the start lines as text.
    const json = workerOutput.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json.some((l) => l.component === 'worker' && typeof l.msg === 'string' && l.level === 30)).toBe(true);
    expect(workerOutput).toContain(`gantry worker: metrics at http://${target}/metrics`);
  });

  it('the Grafana dashboard uses only metrics that Gantry or the SDK export', async () => {
    const dashboard = JSON.parse(fs.readFileSync(dashboardFile, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[]; templating: { list: { query?: unknown }[] } };
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.map((v) => v.query).filter((q): q is string => typeof q === 'string' && q.startsWith('label_values')),
    ];
    expect(exprs.length).toBeGreaterThan(5);
    // Exported: the API's registry, the worker's endpoint (as scraped above), and the activity counter
    // (only present once a gate ran).
    const apiMetrics = new ApiMetrics();
    apiMetrics.watchReleases(async () => []);
    const apiNames = new Set((await apiMetrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const workerNames = exposedNames(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
    const known = new Set([...apiNames, ...workerNames, GATE_RESULTS_METRIC]);
    const used = new Set<string>();
    for (const e of exprs) {
      // Identifiers followed by { or ( or space that look like metric names: gantry_*, temporal_*, process_*, nodejs_*.
      for (const m of e.matchAll(/\b((?:gantry|temporal|process|nodejs)_[a-z0-9_]+)/g)) used.add(m[1]!.replace(/_(bucket|sum|count)$/, ''));
    }
    expect([...used].filter((n) => !known.has(n))).toEqual([]);
    expect(used.has('gantry_rollbacks_total')).toBe(true);
    // The release gauges the API computes at scrape time each have a panel.
    expect(['gantry_release_info', 'gantry_release_waiting', 'gantry_release_canary_weight', 'gantry_release_waiting_seconds'].filter((n) => !used.has(n))).toEqual([]);
    // Labels: never namespace/job/instance in Gantry's own label sets on the dashboard's by() clauses.
    for (const e of exprs) expect(e).not.toMatch(/by \([^)]*\b(namespace|job|instance)\b/);
  });
});

describe('worker logs', () => {
  it('log forwarding keeps the message and fields and censors secrets', () => {
    const lines: string[] = [];
    const log = pino({ level: 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, new Writable({ write(c: Buffer, _e, cb) { lines.push(c.toString()); cb(); } }));
    forwardEntry(log, { level: 'WARN', message: 'Activity failed', timestampNanos: 1_700_000_000_000_000_000n, meta: { activityType: 'apply', token: 's3cret', headers: { authorization: 'Bearer s3cret' } } });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 40, msg: 'Activity failed', activityType: 'apply', token: '[redacted]', headers: { authorization: '[redacted]' }, temporalTime: '2023-11-14T22:13:20.000Z' });
    expect(lines[0]).not.toContain('s3cret');
  });
});

describe('worker settings', () => {
  it('GANTRY_METRICS_ADDR is off by default and GANTRY_LOG_FORMAT json; bad values are named with their hint', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-metrics-config-'));
    try {
      const base = { GANTRY_CLUSTER: 'sim', GANTRY_DATA_DIR: dataDir, HOME: dataDir };
      const plain = loadWorkerConfig(base);
      expect(plain.metricsAddr).toBeUndefined();
      expect(plain.logFormat).toBe('json');
      const set = loadWorkerConfig({ ...base, GANTRY_METRICS_ADDR: ':9464', GANTRY_LOG_FORMAT: 'TEXT' });
      expect(set.metricsAddr).toEqual({ host: '127.0.0.1', port: 9464 });
      expect(set.logFormat).toBe('text');
      let err: unknown;
      try { loadWorkerConfig({ ...base, GANTRY_METRICS_ADDR: 'everywhere', GANTRY_LOG_FORMAT: 'pretty' }); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(RuntimeConfigError);
      expect((err as RuntimeConfigError).errors).toEqual(expect.arrayContaining([
        { path: 'GANTRY_METRICS_ADDR', message: expect.stringContaining("got 'everywhere'"), hint: expect.stringContaining('0.0.0.0:9464 in a pod') },
        { path: 'GANTRY_LOG_FORMAT', message: expect.stringContaining('expected json or text'), hint: expect.stringContaining('json (the default') },
      ]));
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
