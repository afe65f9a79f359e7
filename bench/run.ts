// Benchmarks (npm run bench). Each prints `BENCH <name> <value> <unit>` lines.
//  1. Orchestration overhead per step: a release of 200 groups with no-op activities through a real
//     dev server; one step = one group (one applyGroup activity that also verifies, one workflow task).
//  2. Paused releases one worker holds: 1,000 releases waiting for approval on one worker process;
//     its RSS. Targets (from the issue): < 15 ms per step; 1,000 paused releases < 1 GB.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createSimClusterActivities, readEffects } from '../activities/index.js';
import { createNotifyActivities } from '../activities/notify.js';
import { GantryService } from '../api/service.js';
import { parseConfig, type GantryConfig, type RawConfig } from '../core/config.js';
import { startEphemeralTemporal } from '../testbed/ephemeral-temporal.js';
import { temporalTestServerBin } from '../testbed/paths.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createWorker } from '../worker/worker.js';
import { testActivities } from '../test/support/activities.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIGEST = `sha256:${'c'.repeat(64)}`;
const who = { identity: { id: 'bench', groups: [] }, channel: 'api' as const };

function bench(name: string, value: number, unit: string): void {
  console.log(`BENCH ${name} ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function config(app: string, raw: Omit<RawConfig['environments'][number], 'name'>): GantryConfig {
  const r = parseConfig({ app: { name: app, image: 'registry.local/bench/app' }, environments: [{ name: 'prod', ...raw }] });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

/** The same 200-group release on the Java test server (real server code path, no 50 ms dispatch floor). */
async function stepOverheadTestServer(steps: number): Promise<void> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: temporalTestServerBin } } });
  try {
    const stamps: number[] = [];
    const activities = { ...createSimClusterActivities({ onEffect: (e) => { if (e.kind === 'apply') stamps.push(performance.now()); } }), ...createNotifyActivities() };
    const worker = await createWorker({ connection: env.nativeConnection, taskQueue: 'bench-ts', activities: testActivities('bench-ts', activities) });
    await worker.runUntil(async () => {
      const service = new GantryService(env.client, 'bench-ts');
      const groups = [...Array.from({ length: steps - 1 }, () => ({ pods: 1 })), { pods: 'rest' as const }];
      await service.startRelease({ config: config('ts-warmup', { cells: [{ name: 'c', replicas: 5 }], groups: [{ pods: 1 }, { pods: 'rest' }] }), environment: 'prod', revision: { digest: DIGEST } }, who);
      await service.waitForRelease('ts-warmup', 'prod');
      stamps.length = 0;
      await service.startRelease({ config: config('ts-steps', { cells: [{ name: 'c', replicas: steps }], groups }), environment: 'prod', revision: { digest: DIGEST } }, who);
      const final = await service.waitForRelease('ts-steps', 'prod');
      if (final.phase !== 'succeeded') throw new Error(`test-server step benchmark: ${final.phase}`);
    });
    const deltas = stamps.slice(1).map((t, i) => t - stamps[i]!).sort((a, b) => a - b);
    bench('release_step_ms_p50_java_test_server', percentile(deltas, 50), 'ms');
    bench('release_step_ms_p99_java_test_server', percentile(deltas, 99), 'ms');
  } finally {
    await env.teardown();
  }
}

async function stepOverhead(client: Client, native: NativeConnection, steps: number, suffix = ''): Promise<void> {
  const stamps: number[] = [];
  const activities = createSimClusterActivities({ onEffect: (e) => { if (e.kind === 'apply') stamps.push(performance.now()); } });
  const worker = await createWorker({ connection: native, taskQueue: 'bench-steps', activities: testActivities('bench-steps', { ...activities, ...createNotifyActivities() }) });
  const running = worker.run();
  const service = new GantryService(client, 'bench-steps');
  const groups = [...Array.from({ length: steps - 1 }, () => ({ pods: 1 })), { pods: 'rest' as const }];
  // Warm-up (bundle loaded, connections up), then the measured release.
  await service.startRelease({ config: config('warmup', { cells: [{ name: 'c', replicas: 5 }], groups: [{ pods: 1 }, { pods: 'rest' }] }), environment: 'prod', revision: { digest: DIGEST } }, who);
  await service.waitForRelease('warmup', 'prod');
  stamps.length = 0;
  const t0 = performance.now();
  await service.startRelease({ config: config('steps', { cells: [{ name: 'c', replicas: steps }], groups }), environment: 'prod', revision: { digest: DIGEST } }, who);
  const final = await service.waitForRelease('steps', 'prod');
  const total = performance.now() - t0;
  if (final.phase !== 'succeeded' || stamps.length !== steps) throw new Error(`step benchmark: ${final.phase}, ${stamps.length} groups applied`);
  const deltas = stamps.slice(1).map((t, i) => t - stamps[i]!).sort((a, b) => a - b);
  // The floor: a bare workflow doing what a group does at minimum (one activity: applyGroup verifies
  // the group itself), on the same server, in the same run.
  const floorWorker = await Worker.create({ connection: native, taskQueue: 'bench-floor', workflowsPath: path.join(root, 'bench', 'floor-workflows.ts'), activities: { noop: async () => performance.now() } });
  const floor = await floorWorker.runUntil(async () => {
    await client.workflow.execute('floorSteps', { taskQueue: 'bench-floor', workflowId: 'floor-warmup', args: [5, 1] });
    return client.workflow.execute('floorSteps', { taskQueue: 'bench-floor', workflowId: 'floor', args: [steps, 1] }) as Promise<number[]>;
  });
  const floorDeltas = floor.slice(1).map((t, i) => t - floor[i]!).sort((a, b) => a - b);
  bench(`release_step_ms_p50${suffix}`, percentile(deltas, 50), 'ms');
  bench(`release_step_ms_p99${suffix}`, percentile(deltas, 99), 'ms');
  bench(`release_step_ms_mean${suffix}`, total / steps, 'ms');
  bench(`release_200_steps_total_ms${suffix}`, total, 'ms');
  bench(`server_floor_1_activity_ms_p50${suffix}`, percentile(floorDeltas, 50), 'ms');
  bench(`release_step_overhead_over_floor_ms_p50${suffix}`, percentile(deltas, 50) - percentile(floorDeltas, 50), 'ms');
  bench(`release_step_to_floor_ratio_p50${suffix}`, percentile(deltas, 50) / percentile(floorDeltas, 50), 'x');
  worker.shutdown();
  await running;
}

/** The same on a dev server with its stock dispatch settings (testbed/temporal.ts devServerFlags): the "before". */
async function stockDevServer(steps: number): Promise<void> {
  const stock = await startEphemeralTemporal([], { stock: true });
  const connection = await Connection.connect({ address: stock.address });
  const native = await NativeConnection.connect({ address: stock.address });
  try {
    console.log(`# the same on a stock dev server (history.transferProcessorMaxPollRPS etc. at their defaults) ${stock.address}`);
    await stepOverhead(new Client({ connection }), native, steps, '_stock_dev_server');
  } finally {
    await native.close();
    await connection.close();
    stock.stop();
  }
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function pausedReleases(client: Client, address: string, count: number): Promise<void> {
  const simDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-'));
  const taskQueue = 'bench-paused';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'worker', 'main.ts')], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TEMPORAL_ADDRESS: address, GANTRY_TASK_QUEUE: taskQueue, GANTRY_SIM_DIR: simDir, GANTRY_LOG_LEVEL: 'WARN', GANTRY_SIM_APPLY_DELAY_MS: '0', GANTRY_SIM_READY_DELAY_MS: '0' },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('gantry worker:')) resolve(); });
      child.once('exit', (c) => reject(new Error(`bench worker exited ${c}`)));
    });
    const service = new GantryService(client, taskQueue);
    const cfg = (i: number) => config(`paused-${i}`, { cells: [{ name: 'a', replicas: 2 }, { name: 'b', replicas: 2 }], groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest' }] });
    // Warm the worker with one release, then take the baseline.
    await service.startRelease({ config: cfg(-1), environment: 'prod', revision: { digest: DIGEST } }, who);
    await waitAll(service, [-1]);
    const baseline = rssKb(child.pid!);
    const t0 = performance.now();
    const ids = Array.from({ length: count }, (_, i) => i);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(ids.slice(i, i + 50).map((n) => service.startRelease({ config: cfg(n), environment: 'prod', revision: { digest: DIGEST } }, who)));
    }
    await waitAll(service, ids);
    const elapsed = performance.now() - t0;
    const rss = rssKb(child.pid!);
    const applied = readEffects(path.join(simDir, 'effects.jsonl')).filter((e) => e.kind === 'apply').length;
    if (applied !== count + 1) throw new Error(`expected ${count + 1} applied groups, saw ${applied}`);
    bench('paused_releases', count, 'releases');
    bench('paused_releases_worker_rss_mb', rss / 1024, 'MB');
    bench('paused_releases_rss_delta_per_1000_mb', ((rss - baseline) / 1024) * (1000 / count), 'MB');
    bench('paused_releases_start_to_waiting_ms', elapsed, 'ms');
  } finally {
    child.kill('SIGKILL');
  }
}

async function waitAll(service: GantryService, ids: number[]): Promise<void> {
  let pending = ids;
  const deadline = Date.now() + 600_000;
  while (pending.length) {
    const still: number[] = [];
    for (let i = 0; i < pending.length; i += 50) {
      const batch = pending.slice(i, i + 50);
      const states = await Promise.all(batch.map((n) => service.status(`paused-${n}`, 'prod', 0).then((s) => s.phase).catch(() => 'starting')));
      states.forEach((p, j) => { if (p !== 'waiting-approval') still.push(batch[j]!); });
    }
    pending = still;
    if (pending.length && Date.now() > deadline) throw new Error(`${pending.length} releases never reached waiting-approval`);
    if (pending.length) await new Promise((r) => setTimeout(r, 500));
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await startEphemeralTemporal();
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const native = await NativeConnection.connect({ address: server.address });
  try {
    console.log(`# Temporal dev server ${server.address}; ${os.cpus().length} cores; node ${process.version}`);
    await stepOverhead(client, native, Number(process.env.BENCH_STEPS ?? 200));
    await stockDevServer(Number(process.env.BENCH_STEPS ?? 200));
    await stepOverheadTestServer(Number(process.env.BENCH_STEPS ?? 200));
    await pausedReleases(client, server.address, Number(process.env.BENCH_PAUSED ?? 1000));
  } finally {
    await native.close();
    await connection.close();
    server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
