// `npm run demo`: the whole story on this machine. Installs what is missing (the Temporal binaries,
// the Kubernetes control plane built once into ~/.cache/gantry, Prometheus from Debian), brings the
// test bed up (Temporal dev server, kube-apiserver + controllers + kwok nodes in zone-a and zone-b,
// Prometheus), starts Gantry (worker with the Kubernetes activities + HTTP API) in this process,
// and releases a sample app, webshop, in groups over the two zones:
//
//   group 1  1 pod per zone, confirmed automatically when it is healthy and its check passes
//   group 2  2 more per zone, then it WAITS for a person: the command to approve is printed
//   group 3  the rest
//
// Progress is shown live: the CLI's own `gantry release watch` (the same status the API serves) and,
// under it, what the cluster says (pods per zone and revision, the HTTPRoute's weights).
//
// Flags: --auto-approve[=seconds]  approve as alice after that many seconds (default 10), for a run
//        --exit                    exit when the release ends (default: keep Gantry up until Ctrl-C)
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { KubeClients, observe, scopeOf, targetRevision } from '../activities/k8s/index.js';
import { startApi } from '../api/main.js';
import type { GantryService } from '../api/service.js';
import { run as cli } from '../cli/main.js';
import { parseConfig, type GantryConfig, type RawConfig } from '../core/config.js';
import type { ReleaseStatus, Revision } from '../core/release.js';
import type { Target } from '../workflows/activity-types.js';
import { loadApiConfig, loadWorkerConfig } from '../runtime/config.js';
import { createGantryActivities } from '../worker/activities.js';
import { createWorker } from '../worker/worker.js';
import { testbedGantryEnv } from './gantry-env.js';
import { installKubernetes, upKubernetes, userKubeconfig } from './k8s/index.js';
import { bin, kubeconfigPath } from './k8s/config.js';
import { stateDir } from './paths.js';
import { prometheusUrl, registerScrapeTarget, upPrometheus, waitForSeries } from './prometheus.js';
import { installTemporal, upTemporal } from './temporal.js';

const APP = 'webshop';
const ENV = 'production';
const TASK_QUEUE = 'gantry-demo';
const IMAGE = 'registry.local/webshop/web';
const args = process.argv.slice(2);
const autoApprove = (() => {
  const a = args.find((x) => x.startsWith('--auto-approve'));
  if (!a) return undefined;
  const n = Number(a.split('=')[1] ?? 10);
  return Number.isFinite(n) && n >= 0 ? n : 10;
})();
const exitWhenDone = args.includes('--exit');

const t0 = Date.now();
const clock = () => `[${new Date().toTimeString().slice(0, 8)}]`;
const say = (m: string) => console.log(`${clock()} ${m}`);
const step = (m: string) => console.log(`\n${clock()} ▶ ${m}`);

interface DemoIdentity { id: string; groups: string[] }
/** The same demo identities (and token file) as `npm start`. */
function demoTokens(): Record<string, DemoIdentity> {
  const file = path.join(stateDir, 'demo-tokens.json');
  try { return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, DemoIdentity>; } catch { /* make them */ }
  const people: DemoIdentity[] = [{ id: 'alice', groups: ['sre'] }, { id: 'bob', groups: ['sre'] }, { id: 'carol', groups: ['dev'] }];
  const tokens = Object.fromEntries(people.map((p) => [`${p.id}-${crypto.randomBytes(12).toString('hex')}`, p]));
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(tokens, null, 2), { mode: 0o600 });
  return tokens;
}

function demoConfig(local: boolean): { raw: RawConfig; config: GantryConfig } {
  const raw: RawConfig = {
    app: { name: APP, image: IMAGE },
    environments: [{
      name: ENV,
      replicas: 10,
      // On the local test bed the zones are the kwok nodes' topology.kubernetes.io/zone labels.
      cells: [{ name: 'zone-a', ...(local ? { zone: 'zone-a' } : {}) }, { name: 'zone-b', ...(local ? { zone: 'zone-b' } : {}) }],
      groups: [
        { name: 'canary', pods: 1, confirm: { type: 'auto' } },
        { name: 'half', pods: 2, confirm: { type: 'manual', timeout: '2h' } },
        { name: 'rest', pods: 'rest', confirm: { type: 'auto' } },
      ],
      analysis: [{ name: 'error-rate', query: 'sum(rate(webshop_http_requests_total{code=~"5.."}[30s])) / sum(rate(webshop_http_requests_total[30s]))', max: 0.01 }],
      approvers: { groups: ['sre'] },
      deadlines: { progress: '2m', analysis: '1m' },
      traffic: { httpRoute: { name: APP } },
      drain: { grace: '2s' },
    }],
  };
  const r = parseConfig(raw);
  if (!r.ok) throw new Error(`demo config: ${JSON.stringify(r.errors)}`);
  return { raw, config: r.config };
}

/** The sample app's traffic, as Prometheus sees it: ~1,000 requests a second, 0.1% errors. */
async function startAppMetrics(): Promise<() => void> {
  let ok = 0;
  let errors = 0;
  let last = Date.now();
  const server = http.createServer((_req, res) => {
    const dt = (Date.now() - last) / 1000;
    last = Date.now();
    ok += Math.round(999 * dt);
    errors += Math.round(1 * dt);
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(`# TYPE webshop_http_requests_total counter\nwebshop_http_requests_total{code="200"} ${ok}\nwebshop_http_requests_total{code="500"} ${errors}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const unregister = registerScrapeTarget('demo-webshop', `127.0.0.1:${port}`, { app: APP });
  return () => { unregister(); server.close(); };
}

function clusterLine(o: Awaited<ReturnType<typeof observe>>, stable?: string, canary?: string): string {
  const cells = o.view.cells.map((c) => {
    const n = (rev?: string) => (rev ? c.workloads.find((w) => w.revision === rev)?.pods.filter((p) => !p.terminating).length ?? 0 : 0);
    const out = c.workloads.flatMap((w) => w.pods).filter((p) => !p.terminating && !p.serving).length;
    return `${c.cell}: ${n(stable)} stable + ${n(canary)} new${out ? ` (${out} draining)` : ''}`;
  });
  const w = o.view.sites[0]?.router?.canary;
  return `${cells.join(' │ ')} │ HTTPRoute weights: stable ${w === undefined ? '-' : 100 - w}% / new ${w ?? '-'}%`;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  console.log('Gantry demo: a grouped canary release on a real Kubernetes control plane (local, no containers: kwok nodes).');

  step('Test bed: installing what is missing (the Kubernetes build takes about 10 minutes the first time, then it is cached)');
  const quiet = (prefix: string) => (m: string) => { if (!/already|skipped/.test(m)) say(`${prefix}${m}`); };
  await installTemporal(quiet(''));
  const local = !userKubeconfig();
  if (local) await installKubernetes(quiet(''));
  step('Test bed: bringing it up (Temporal dev server, Kubernetes control plane with 4 nodes in 2 zones, Prometheus)');
  const temporal = await upTemporal(quiet(''));
  const k8s = await upKubernetes(quiet(''));
  await upPrometheus(quiet(''));
  say(`Temporal ${temporal.address}${temporal.uiUrl ? ` (UI ${temporal.uiUrl})` : ''} · Kubernetes ${k8s.apiserver}${local ? ' (local test bed)' : ' (your kubeconfig)'} · Prometheus ${prometheusUrl()}`);

  step('Gantry: worker (Kubernetes activities) and HTTP API in this process');
  const kubeconfig = local ? kubeconfigPath : userKubeconfig();
  const tokens = demoTokens();
  const tokenOf = (id: string) => Object.entries(tokens).find(([, v]) => v.id === id)![0];
  // Gantry's settings are the environment (runtime/config.ts): the test bed's addresses as variables.
  const base = testbedGantryEnv(process.env, { temporalAddress: temporal.address, taskQueue: TASK_QUEUE });
  const workerConfig = loadWorkerConfig({
    ...base, GANTRY_CLUSTER: 'kubernetes', ...(kubeconfig ? { GANTRY_KUBECONFIG: kubeconfig } : {}), GANTRY_PROMETHEUS_URL: prometheusUrl(),
  });
  const { GANTRY_SERVER_CONFIG: _ignored, ...apiEnv } = base;
  const apiConfig = loadApiConfig({ ...apiEnv, GANTRY_TOKENS: JSON.stringify(tokens), GANTRY_API_ADDR: process.env.GANTRY_DEMO_API_ADDR ?? '127.0.0.1:8090' });
  const connection = await NativeConnection.connect({ address: workerConfig.temporal.address });
  const activities = createGantryActivities(workerConfig);
  const worker = await createWorker({ connection, namespace: workerConfig.temporal.namespace, taskQueue: workerConfig.taskQueue, activities, identity: `gantry-demo@${process.pid}` });
  const running = worker.run();
  const api = await startApi({ config: apiConfig, logger: false });
  say(`API ${api.url} (task queue ${TASK_QUEUE}); identities alice, bob (group sre) and carol (dev), tokens in ${path.join(stateDir, 'demo-tokens.json')}`);

  const { raw, config } = demoConfig(local);
  const configFile = path.join(stateDir, 'demo', 'gantry.yaml');
  fs.mkdirSync(path.dirname(configFile), { recursive: true });
  fs.writeFileSync(configFile, `${JSON.stringify(raw, null, 2)}\n`);
  const env = config.environments[0]!;
  const target: Target = { app: APP, environment: ENV, cells: env.cells.map((c) => ({ ...c })) };
  const clients = new KubeClients({ ...(kubeconfig ? { kubeconfig } : {}) });
  const service: GantryService = api.service;
  const carol = { identity: { id: 'carol', groups: ['dev'] }, channel: 'api' as const };

  step('Sample app metrics for the analysis (Prometheus scrapes them every second)');
  const stopMetrics = await startAppMetrics();
  const errorRate = await waitForSeries(env.analysis[0]!.query, 60_000);
  say(`error-rate = ${errorRate.toFixed(4)} (the check passes below ${env.analysis[0]!.max})`);

  // A release still running from an earlier demo is aborted (it rolls back) so this one can start.
  try {
    const s = await service.status(APP, ENV, 0);
    if (!['succeeded', 'rolled-back', 'failed'].includes(s.phase)) {
      say(`an earlier demo release is still ${s.phase}: aborting it (it rolls back)`);
      await service.decide(APP, ENV, 'abort', { identity: { id: 'alice', groups: ['sre'] }, channel: 'api' }, 'a new demo run');
      await service.waitForRelease(APP, ENV);
    }
  } catch { /* none yet */ }

  let stable = (await activities.describeTarget({ target })).stable;
  if (!stable) {
    step(`Nothing of ${APP} runs yet: deploying a first revision (all pods in one group) as the starting point`);
    const first: Revision = { image: IMAGE, digest: `sha256:${crypto.createHash('sha256').update(`webshop-v1-${Date.now()}`).digest('hex')}`, sha: 'a1b2c3d', author: 'carol', message: 'first version' };
    const one = { ...config, environments: [{ ...env, groups: [{ name: 'all', pods: 'rest' as const, confirm: { type: 'auto' as const } }], analysis: [] }] };
    await service.startRelease({ config: one, environment: ENV, revision: first }, carol);
    const done = await service.waitForRelease(APP, ENV);
    if (done.phase !== 'succeeded') throw new Error(`the first deployment did not succeed: ${done.summary}`);
    stable = first;
    say(`${APP} runs ${stable.digest!.slice(0, 19)}… on 10 pods`);
  }
  const next: Revision = { image: IMAGE, digest: `sha256:${crypto.createHash('sha256').update(`webshop-${Date.now()}`).digest('hex')}`, sha: crypto.randomBytes(4).toString('hex'), author: 'carol', message: 'new checkout page' };
  const stableRev = targetRevision(target, stable);
  const canaryRev = targetRevision(target, next);

  step(`Releasing ${IMAGE}@${next.digest!.slice(0, 19)}… to ${ENV}: 10 pods over zone-a and zone-b in groups of 1, 2 and 2 per zone`);
  console.log(`  config: ${configFile}`);
  console.log('  the same release from the CLI would be:');
  console.log(`  GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('carol')} npm run --silent gantry -- release start -f ${configFile} -e ${ENV} --digest ${next.digest} --author carol`);
  await service.startRelease({ config, environment: ENV, revision: next }, carol);

  // Live: the CLI's watch (the API's status), and under it what the cluster says.
  const cliEnv = { ...process.env, GANTRY_API: api.url, GANTRY_TOKEN: tokenOf('carol') };
  const watching = cli(['release', 'watch', APP, ENV, '--interval', '300'], { env: cliEnv, stdout: (t) => process.stdout.write(t.replace(/^/gm, '  watch   │ ').replace(/ {2}watch {3}│ $/, '')) });
  let lastCluster = '';
  let approvePrinted = false;
  let approveTimer: NodeJS.Timeout | undefined;
  const poller = setInterval(() => {
    void (async () => {
      try {
        const line = clusterLine(await observe(scopeOf(target, clients)), stableRev, canaryRev);
        if (line !== lastCluster) { lastCluster = line; console.log(`  cluster │ ${line}`); }
        const s: ReleaseStatus = await service.status(APP, ENV, 0);
        if (s.phase === 'waiting-approval' && !approvePrinted) {
          approvePrinted = true;
          console.log(`
  ┌─ group ${s.group.current} waits for a person (${s.waiting?.who}). To approve it, in another terminal:
  │  GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('alice')} npm run --silent gantry -- approve ${APP} ${ENV} -m "looks good"
  │  (or reject it, which rolls back:  ... gantry -- reject ${APP} ${ENV} -m "not yet")
  └─ carol started the release, so carol may not approve it (four-eyes); alice and bob (group sre) may.
`);
          if (autoApprove !== undefined) {
            approveTimer = setTimeout(() => {
              say(`--auto-approve: approving as alice after ${autoApprove} s`);
              void cli(['approve', APP, ENV, '-m', 'auto-approved by the demo'], { env: { ...process.env, GANTRY_API: api.url, GANTRY_TOKEN: tokenOf('alice') } });
            }, autoApprove * 1000);
          }
        }
        if (s.phase !== 'waiting-approval') approvePrinted = s.phase === 'succeeded' || s.phase === 'rolled-back' ? approvePrinted : false;
      } catch { /* next tick */ }
    })();
  }, 400);
  const code = await watching;
  clearInterval(poller);
  if (approveTimer) clearTimeout(approveTimer);
  const final = await service.status(APP, ENV, 0);
  // After a success the new revision is the stable one; after a rollback the old one still is.
  console.log(`  cluster │ ${final.phase === 'succeeded' ? clusterLine(await observe(scopeOf(target, clients)), canaryRev) : clusterLine(await observe(scopeOf(target, clients)), stableRev, canaryRev)}`);
  step(`The release ${final.phase === 'succeeded' ? 'succeeded' : `ended: ${final.phase}`} (${((Date.now() - t0) / 1000).toFixed(0)} s since the demo started): ${final.summary}`);
  console.log(`  history: GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('carol')} npm run --silent gantry -- release history ${APP} ${ENV}`);
  console.log(`  the pods: ${local ? `${bin.kubectl} --kubeconfig ${kubeconfigPath}` : 'kubectl'} get pods -n ${APP} -L gantry.dev/revision,gantry.dev/cell,gantry.dev/serving -o wide`);
  console.log(`  roll it back: GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('alice')} npm run --silent gantry -- rollback ${APP} ${ENV}`);
  stopMetrics();

  const stop = async () => {
    await api.close();
    // The Temporal runtime shuts workers down on SIGINT/SIGTERM itself; a second shutdown would throw.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection.close();
  };
  if (exitWhenDone) {
    await stop();
    process.exit(code);
  }
  console.log(`\nGantry keeps running (API ${api.url}); Ctrl-C stops it. The test bed stays up: npm run testbed -- down stops it.`);
  let stopping = false;
  const onSignal = () => { if (stopping) process.exit(1); stopping = true; void stop().then(() => process.exit(0)); };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

main().catch((err: unknown) => {
  console.error(`\ngantry demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
