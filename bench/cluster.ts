// Cluster benchmarks (`npx tsx bench/cluster.ts`): the Kubernetes activities on the local control
// plane (kube-apiserver, controllers, kwok nodes), driven by the release workflow on its own
// in-memory Temporal dev server. Prints `BENCH <name> <value> <unit>` lines.
//
//  1. Rollback latency: from the failing check observed (the workflow's analysis-fail event) to 100%
//     stable weight on the HTTPRoute and zero new pods left, both seen by an independent watch.
//     Split into the time spent waiting on the cluster (the restored stable pods becoming Ready and
//     listed, EndpointSlices dropping the drained pods, pods going away) and Gantry's own time.
//  2. The seed's 3-group release (10 pods, 2 zones, groups 1, 2, rest) with zero pauses, drain grace
//     0s: wall time, the time new pods took to become Ready and listed, the time old pods took to go,
//     and Gantry's overhead over those.
// BENCH_ITER (default 3) runs each that many times; the median and the worst are reported.
import http from 'node:http';
import { KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createKubernetesActivities, KubeClients, targetRevision, type DecisionEvent } from '../activities/k8s/index.js';
import { createNotifyActivities } from '../activities/notify.js';
import { GantryService } from '../api/service.js';
import { parseConfig, type GantryConfig, type RawConfig } from '../core/config.js';
import type { Revision } from '../core/release.js';
import { resourceNames } from '../core/rollout.js';
import { startEphemeralTemporal } from '../testbed/ephemeral-temporal.js';
import { upKubernetes } from '../testbed/k8s/cluster.js';
import { kubeconfigPath } from '../testbed/k8s/config.js';
import { embeddedPrometheusUrl, registerScrapeTarget, upPrometheus, waitForSeries } from '../testbed/prometheus.js';
import { createWorker } from '../worker/worker.js';
import { testActivities } from '../test/support/activities.js';

const ITER = Number(process.env.BENCH_ITER ?? 3);
const IMAGE = 'registry.local/bench/web';
const who = { identity: { id: 'bench', groups: ['sre'] }, channel: 'api' as const };
let seq = 0;
const digest = () => `sha256:${(++seq).toString(16).padStart(8, '0').repeat(8)}`;

function bench(name: string, value: number, unit: string): void {
  console.log(`BENCH ${name} ${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`);
}
const median = (xs: number[]) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };
const max = (xs: number[]) => Math.max(...xs);

function config(app: string, env: Partial<RawConfig['environments'][number]>): GantryConfig {
  const r = parseConfig({
    app: { name: app, image: IMAGE },
    environments: [{
      name: 'production', replicas: 10,
      cells: [{ name: 'zone-a', zone: 'zone-a' }, { name: 'zone-b', zone: 'zone-b' }],
      groups: [{ pods: 1 }, { pods: 2 }, { pods: 'rest' }],
      deadlines: { progress: '2m' }, drain: { grace: '0s' }, traffic: { httpRoute: { name: app } },
      ...env,
    }],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

/** Time spent in waits on the cluster, per activity and step, from the activities' decision log. */
function waits(events: DecisionEvent[], releaseId: string, activity: string, steps: RegExp): number {
  const mine = events.filter((e) => e.releaseId === releaseId && e.activity === activity);
  let total = 0;
  for (let i = 0; i < mine.length - 1; i++) {
    const d = mine[i]!.decision;
    if (d.type === 'wait' && steps.test(d.step)) total += mine[i + 1]!.at - mine[i]!.at;
  }
  return total;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const quiet = () => undefined;
  await upKubernetes(quiet);
  await upPrometheus(quiet);
  const temporal = await startEphemeralTemporal();
  const decisions: DecisionEvent[] = [];
  const native = await NativeConnection.connect({ address: temporal.address });
  const activities = createKubernetesActivities({ kubeconfig: kubeconfigPath, prometheusUrl: embeddedPrometheusUrl(), onDecision: (e) => decisions.push(e) });
  const worker = await createWorker({ connection: native, taskQueue: 'bench-cluster', activities: testActivities('bench-cluster', { ...activities, ...createNotifyActivities() }) });
  const running = worker.run();
  const connection = await Connection.connect({ address: temporal.address });
  const service = new GantryService(new Client({ connection }), 'bench-cluster');
  const clients = new KubeClients({ kubeconfig: kubeconfigPath });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);

  // A failing error rate for the rollback runs.
  const metrics = http.createServer((_q, res) => { res.end('gantry_bench_error_ratio 0.5\n'); });
  await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
  const unregister = registerScrapeTarget('bench-cluster', `127.0.0.1:${(metrics.address() as { port: number }).port}`, { bench: 'cluster' });
  await waitForSeries('gantry_bench_error_ratio{bench="cluster"}', 60_000);

  const namespaces: string[] = [];
  const baseline = async (cfg: GantryConfig, rev: Revision) => {
    namespaces.push(cfg.app.name);
    const env = cfg.environments[0]!;
    await service.startRelease({ config: { ...cfg, environments: [{ ...env, groups: [{ name: 'all', pods: 'rest', confirm: { type: 'auto' } }], analysis: [] }] }, environment: 'production', revision: rev }, who);
    const s = await service.waitForRelease(cfg.app.name, 'production');
    if (s.phase !== 'succeeded') throw new Error(`baseline: ${s.summary}`);
  };

  try {
    // ---- 1. rollback latency
    const rb = { total: [] as number[], cluster: [] as number[], gantry: [] as number[] };
    for (let i = 0; i < ITER; i++) {
      const app = `bench-rb-${Date.now().toString(36)}`;
      const cfg = config(app, { analysis: [{ name: 'error-rate', query: 'gantry_bench_error_ratio{bench="cluster"}', max: 0.01 }] });
      const v1: Revision = { image: IMAGE, digest: digest() };
      const v2: Revision = { image: IMAGE, digest: digest() };
      await baseline(cfg, v1);
      const target = { app, environment: 'production', cells: cfg.environments[0]!.cells.map((c) => ({ ...c })) };
      const canary = targetRevision(target, v2);
      // An independent watch: new pods (any state) and the route's weights.
      const pods = new Map<string, V1Pod>();
      let canaryWeight: number | undefined;
      let doneAt: number | undefined;
      const check = () => {
        const left = [...pods.values()].filter((p) => p.metadata?.labels?.['gantry.dev/revision'] === canary).length;
        if (doneAt === undefined && sawCanary && left === 0 && canaryWeight === 0) doneAt = Date.now();
      };
      let sawCanary = false;
      const w1 = await new Watch(kc).watch(`/api/v1/namespaces/${app}/pods`, {}, (type, p: V1Pod) => {
        if (type === 'DELETED') pods.delete(p.metadata!.uid!); else pods.set(p.metadata!.uid!, p);
        if (p.metadata?.labels?.['gantry.dev/revision'] === canary) sawCanary = true;
        check();
      }, () => undefined);
      const names = resourceNames(app, 'production');
      const w2 = await new Watch(kc).watch(`/apis/gateway.networking.k8s.io/v1/namespaces/${app}/httproutes`, {}, (_t, r: { spec?: { rules?: { backendRefs?: { name: string; weight?: number }[] }[] } }) => {
        const refs = r.spec?.rules?.[0]?.backendRefs ?? [];
        canaryWeight = refs.find((b) => b.name === names.canary)?.weight;
        check();
      }, () => undefined);
      await service.startRelease({ config: cfg, environment: 'production', revision: v2 }, who);
      const final = await service.waitForRelease(app, 'production');
      const t = Date.now();
      while (doneAt === undefined && Date.now() - t < 10_000) await new Promise((r) => setTimeout(r, 20));
      w1.abort(); w2.abort();
      if (final.phase !== 'rolled-back' || final.stop?.cause !== 'analysis') throw new Error(`rollback run: ${final.phase} ${final.summary}`);
      const failAt = Date.parse(final.events.find((e) => e.type === 'analysis-fail')!.at);
      if (doneAt === undefined) throw new Error('rollback run: the watch never saw 100% stable weight and zero new pods');
      const total = doneAt - failAt;
      const releaseId = `release/${app}/production`;
      const cluster = waits(decisions, releaseId, 'rollback', /stable-serving|drain-canary|remove-canary/);
      rb.total.push(total); rb.cluster.push(cluster); rb.gantry.push(total - cluster);
      console.log(`# rollback run ${i + 1}: ${total} ms from the failing check to 100% stable and zero new pods (${cluster} ms waiting on the cluster)`);
    }
    bench('cluster_rollback_latency_ms_p50', median(rb.total), 'ms');
    bench('cluster_rollback_latency_ms_max', max(rb.total), 'ms');
    bench('cluster_rollback_cluster_wait_ms_p50', median(rb.cluster), 'ms');
    bench('cluster_rollback_gantry_ms_p50', median(rb.gantry), 'ms');
    bench('cluster_rollback_gantry_ms_max', max(rb.gantry), 'ms');

    // ---- 2. the seed's 3-group release, zero pauses
    const sr = { wall: [] as number[], ready: [] as number[], gone: [] as number[], overhead: [] as number[] };
    for (let i = 0; i < ITER; i++) {
      const app = `bench-seed-${Date.now().toString(36)}`;
      const cfg = config(app, {});
      await baseline(cfg, { image: IMAGE, digest: digest() });
      const t0 = Date.now();
      await service.startRelease({ config: cfg, environment: 'production', revision: { image: IMAGE, digest: digest() } }, who);
      const final = await service.waitForRelease(app, 'production');
      const wall = Date.now() - t0;
      if (final.phase !== 'succeeded') throw new Error(`seed run: ${final.summary}`);
      const releaseId = `release/${app}/production`;
      const ready = waits(decisions, releaseId, 'applyGroup', /canary-serving/) + waits(decisions, releaseId, 'waitHealthy', /health/);
      const gone = waits(decisions, releaseId, 'applyGroup', /drain-stable|settle/) + waits(decisions, releaseId, 'finalize', /./);
      sr.wall.push(wall); sr.ready.push(ready); sr.gone.push(gone); sr.overhead.push(wall - ready - gone);
      console.log(`# seed release run ${i + 1}: ${wall} ms wall; new pods becoming Ready and listed ${ready} ms, old pods leaving ${gone} ms; Gantry ${wall - ready - gone} ms`);
    }
    bench('cluster_seed_release_wall_ms_p50', median(sr.wall), 'ms');
    bench('cluster_seed_release_pod_ready_wait_ms_p50', median(sr.ready), 'ms');
    bench('cluster_seed_release_pod_removal_wait_ms_p50', median(sr.gone), 'ms');
    bench('cluster_seed_release_gantry_overhead_ms_p50', median(sr.overhead), 'ms');
    bench('cluster_seed_release_gantry_overhead_ms_max', max(sr.overhead), 'ms');
  } finally {
    unregister();
    metrics.close();
    for (const ns of namespaces) await clients.for().core.deleteNamespace({ name: ns }).catch(() => undefined);
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    temporal.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`bench/cluster failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
