// Automatic rollback on the real control plane: new pods that never become Ready (the kwok stage
// keyed on gantry.dev/fail=true), a failing Prometheus check, and an abort; an inconclusive check
// pauses for a person. After each rollback, through the API: the stable revision at full size in
// every zone, 100% of the weight on it, zero new pods, and the reason recorded. Every release is
// watched: no pod deleted while listed ready, serving capacity never below the stable's size.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { GantryConfig } from '../../core/config.js';
import { waitForSeries } from '../../testbed/prometheus.js';
import { waitForStatus } from '../support/release-harness.js';
import { startMetricsBoard, type MetricsBoard } from './support/metrics.js';
import {
  V1, V2, baseline, caller, dropNamespace, k8sConfig, names, podCounts, revisionOf, siteState, startK8sHarness, unique, type K8sHarness,
} from './support/harness.js';
import { Recorder } from './support/recorder.js';

// A real control plane on a shared 2-core machine: generous per-test time (speed is measured in bench/cluster.ts).
jest.setTimeout(300_000);

let h: K8sHarness;
let board: MetricsBoard;
const namespaces: string[] = [];
beforeAll(async () => {
  h = await startK8sHarness();
  board = await startMetricsBoard(unique('rollback'));
}, 900_000);
afterAll(async () => {
  for (const ns of namespaces) await dropNamespace(h, ns);
  await board?.close();
  await h?.close();
});

/** Baseline V1, then watch the namespace while `run` releases. */
async function watched(config: GantryConfig, run: () => Promise<void>): Promise<ReturnType<Recorder['replay']>> {
  namespaces.push(config.app.name);
  await baseline(h, config, V1);
  const rec = await Recorder.start(h.testbed.kubeconfig, config.app.name);
  try {
    await run();
    await new Promise((res) => setTimeout(res, 500)); // the last events
  } finally {
    rec.stop();
  }
  return rec.replay(names(config).main);
}

async function expectBackOnStable(config: GantryConfig): Promise<void> {
  const r1 = revisionOf(config, V1);
  expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r1]: 5 }, 'zone-b': { [r1]: 5 } });
  const site = await siteState(h, config);
  if (config.environments[0]!.cells[0]!.traffic) expect(site.weight).toBe(0);
  expect(site.selects.stable).toBe(r1);
  expect(site.record.stable).toMatchObject({ revision: r1, digest: V1.digest });
  expect(site.record.canary).toBeUndefined();
  expect(site.deployments).toEqual([`${config.app.name}-production-zone-a-${r1}`, `${config.app.name}-production-zone-b-${r1}`]);
}

describe('automatic rollback on the real control plane', () => {
  it('new pods that never become Ready: rolled back at the progress deadline, stable at full size and 100% weight, zero new pods, reason recorded', async () => {
    const app = unique('never');
    const base = { deadlines: { progress: '8s' }, traffic: { httpRoute: { name: app } } };
    const config = k8sConfig(app, base);
    const broken = k8sConfig(app, { ...base, pod: { labels: { 'gantry.dev/fail': 'true' } } });
    let final: Awaited<ReturnType<typeof h.service.waitForRelease>> | undefined;
    const replay = await watched(config, async () => {
      await h.service.startRelease({ config: broken, environment: 'production', revision: V2 }, caller('carol'));
      final = await h.service.waitForRelease(app, 'production');
    });
    expect(final!.phase).toBe('rolled-back');
    expect(final!.stop?.cause).toBe('health');
    expect(final!.stop?.reason).toMatch(/group 1 not healthy: new pods not ready and serving within the progress deadline \(8s\): zone-a 0\/1 new pods ready and serving \(.*not Ready \(CrashLoopBackOff\)/);
    expect(final!.outcome?.reason).toMatch(/back to registry\.local\/shop\/web@sha256:1{64}/);
    expect(final!.events.map((e) => e.type)).toEqual(expect.arrayContaining(['applied', 'unhealthy', 'rollback-started', 'rolled-back']));
    await expectBackOnStable(config);
    const site = await siteState(h, config);
    expect(site.record.history.at(-1)).toMatchObject({ event: 'rolled-back', digest: V2.digest, revision: revisionOf(broken, V2) });
    expect(site.record.history.at(-1)!.reason).toMatch(/not healthy/);
    expect(replay.violations).toEqual([]);
    expect(replay.minServing.count).toBeGreaterThanOrEqual(10);
  });

  it('a failing Prometheus check: rolled back after group 1 (stable scaled back up first), reason recorded', async () => {
    const app = unique('fail');
    const query = `gantry_test_error_ratio{run="${app}"}`;
    board.set('gantry_test_error_ratio', app, 0.2);
    await waitForSeries(query);
    const config = k8sConfig(app, { analysis: [{ name: 'error-rate', query, max: 0.05 }] });
    let final: Awaited<ReturnType<typeof h.service.waitForRelease>> | undefined;
    const replay = await watched(config, async () => {
      await h.service.startRelease({ config, environment: 'production', revision: V2 }, caller('carol'));
      final = await h.service.waitForRelease(app, 'production');
    });
    expect(final!.phase).toBe('rolled-back');
    expect(final!.stop?.cause).toBe('analysis');
    expect(final!.stop?.reason).toBe('group 1: analysis fail: error-rate: 0.2 is above the maximum 0.05');
    await expectBackOnStable(config);
    // Group 1 had drained one old pod per zone; the rollback brought the stable back to 5 first.
    expect(replay.deleted.length).toBeGreaterThanOrEqual(4); // 2 old (group 1) + 2 new (rollback)
    expect(replay.violations).toEqual([]);
    expect(replay.minServing.count).toBeGreaterThanOrEqual(10);
  });

  it('an inconclusive check (no data) pauses for a person; approve continues', async () => {
    const app = unique('incon');
    const query = `gantry_test_latency_ok{run="${app}"}`;
    const config = k8sConfig(app, { analysis: [{ name: 'latency', query, min: 0.9 }], traffic: { httpRoute: { name: app } } });
    const r1 = revisionOf(config, V1);
    const r2 = revisionOf(config, V2);
    let final: Awaited<ReturnType<typeof h.service.waitForRelease>> | undefined;
    const replay = await watched(config, async () => {
      await h.service.startRelease({ config, environment: 'production', revision: V2 }, caller('carol'));
      const waiting = await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval', 120_000);
      expect(waiting.group.current).toBe(1);
      expect(waiting.analysis?.verdict).toBe('inconclusive');
      expect(waiting.waiting?.reason).toMatch(/latency: query returned no data: a person decides/);
      // It waits: nothing moves while nobody decides.
      await new Promise((res) => setTimeout(res, 3000));
      const still = await h.service.status(app, 'production');
      expect(still.phase).toBe('waiting-approval');
      expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r1]: 4, [r2]: 1 }, 'zone-b': { [r1]: 4, [r2]: 1 } });
      expect((await siteState(h, config)).weight).toBe(20);
      // The data arrives; a person accepts this group; the next groups pass on their own.
      board.set('gantry_test_latency_ok', app, 0.99);
      await waitForSeries(query);
      await h.service.decide(app, 'production', 'approve', caller('alice', ['sre']), 'checked the dashboards');
      final = await h.service.waitForRelease(app, 'production');
    });
    expect(final!.phase).toBe('succeeded');
    expect(final!.decisions.map((d) => `${d.action}:${d.by}`)).toEqual(['approve:alice']);
    expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r2]: 5 }, 'zone-b': { [r2]: 5 } });
    expect(replay.violations).toEqual([]);
    expect(replay.minServing.count).toBeGreaterThanOrEqual(10);
  });

  it('abort while waiting for approval (replica-ratio traffic, no router): capacity first, then the new pods go', async () => {
    const app = unique('abort');
    const config = k8sConfig(app, { groups: [{ pods: 1 }, { pods: 2, confirm: { type: 'manual' } }, { pods: 'rest' }] });
    const r1 = revisionOf(config, V1);
    const r2 = revisionOf(config, V2);
    let final: Awaited<ReturnType<typeof h.service.waitForRelease>> | undefined;
    const replay = await watched(config, async () => {
      await h.service.startRelease({ config, environment: 'production', revision: V2 }, caller('carol'));
      await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval', 120_000);
      expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r1]: 2, [r2]: 3 }, 'zone-b': { [r1]: 2, [r2]: 3 } });
      // Without a router, the main Service carries both revisions: traffic follows the replica ratio.
      const slices = await h.clients.for().discovery.listNamespacedEndpointSlice({ namespace: app, labelSelector: `kubernetes.io/service-name=${names(config).main}` });
      const ready = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length;
      expect(ready).toBe(10);
      await h.service.decide(app, 'production', 'abort', caller('bob', ['sre']), 'wrong build');
      final = await h.service.waitForRelease(app, 'production');
    });
    expect(final!.phase).toBe('rolled-back');
    expect(final!.stop).toMatchObject({ cause: 'abort', by: 'bob' });
    await expectBackOnStable(config);
    expect(replay.violations).toEqual([]);
    expect(replay.minServing.count).toBeGreaterThanOrEqual(10);
  });
});
