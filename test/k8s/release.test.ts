// The grouped canary on the real local control plane (kube-apiserver, controller-manager, scheduler,
// kwok nodes in zone-a and zone-b), driven by the release workflow on a real Temporal dev server.
// The seed's example: 10 pods over 2 zones in groups of 1, 2, 2 per zone; after each group the pods
// per zone and revision, read through the API, match the plan exactly. A watch records every Pod
// and EndpointSlice event meanwhile, to prove the draining was lossless.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { environmentPlan } from '../../core/plan.js';
import { planFloors } from '../../core/rollout.js';
import { waitForStatus } from '../support/release-harness.js';
import {
  V1, V2, baseline, caller, dropNamespace, k8sConfig, names, podCounts, revisionOf, siteState, startK8sHarness, unique, type K8sHarness,
} from './support/harness.js';
import { Recorder } from './support/recorder.js';

// A real control plane on a shared 2-core machine: generous per-test time (speed is measured in bench/cluster.ts).
jest.setTimeout(300_000);

let h: K8sHarness;
beforeAll(async () => { h = await startK8sHarness(); }, 900_000);
afterAll(async () => { await h?.close(); });

describe('grouped canary on the real control plane (seed: 10 pods, 2 zones, groups 1, 2, 2 per zone)', () => {
  const app = unique('seed');
  const manual = { type: 'manual' as const };
  const config = k8sConfig(app, {
    groups: [{ pods: 1, confirm: manual }, { pods: 2, confirm: manual }, { pods: 'rest', confirm: manual }],
    traffic: { httpRoute: { name: app } },
  });
  const env = config.environments[0]!;
  let recorder: Recorder | undefined;
  afterAll(async () => { recorder?.stop(); await dropNamespace(h, app); });

  it('after each group, the pods per zone and revision observed through the API match the plan; weights follow', async () => {
    await baseline(h, config, V1);
    const r1 = revisionOf(config, V1);
    const r2 = revisionOf(config, V2);
    expect(r1).not.toBe(r2);
    expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r1]: 5 }, 'zone-b': { [r1]: 5 } });

    recorder = await Recorder.start(h.testbed.kubeconfig, app);
    await h.service.startRelease({ config, environment: 'production', revision: V2 }, caller('carol'));
    const plan = environmentPlan(env);
    const weights = [20, 60, 100];
    for (const [gi, g] of plan.entries()) {
      const st = await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval' && s.group.current === gi + 1, 180_000);
      const want = Object.fromEntries(g.perCell.map((c) => [c.cell, { ...(c.stable ? { [r1]: c.stable } : {}), [r2]: c.canary }]));
      expect(await podCounts(h, config)).toEqual(want);
      expect(st.cells.map((c) => [c.cell, c.canary, c.stable])).toEqual(g.perCell.map((c) => [c.cell, c.canary, c.stable]));
      const site = await siteState(h, config);
      expect(site.weight).toBe(weights[gi]);
      expect(site.selects).toEqual({ stable: r1, canary: r2 });
      await h.service.decide(app, 'production', 'approve', caller('alice', ['sre']), `group ${gi + 1} looks fine`);
    }
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    expect(final.previous?.digest).toBe(V1.digest);
    expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r2]: 5 }, 'zone-b': { [r2]: 5 } });
    const site = await siteState(h, config);
    expect(site.weight).toBe(0); // all traffic through the stable Service, which now selects the new revision
    expect(site.selects.stable).toBe(r2);
    expect(site.record.stable).toMatchObject({ revision: r2, digest: V2.digest });
    expect(site.record.history.map((e) => [e.event, e.digest])).toEqual([['released', V1.digest], ['released', V2.digest]]);
    expect(site.deployments).toEqual([`${app}-production-zone-a-${r2}`, `${app}-production-zone-b-${r2}`]);

    // Every pod of a cell runs on a node of its zone (nodeSelector topology.kubernetes.io/zone).
    const pods = await h.clients.for().core.listNamespacedPod({ namespace: app });
    const nodes = await h.clients.for().core.listNode();
    const zoneOf = new Map(nodes.items.map((n) => [n.metadata!.name!, n.metadata!.labels!['topology.kubernetes.io/zone']]));
    for (const p of pods.items.filter((x) => !x.metadata?.deletionTimestamp)) {
      expect(zoneOf.get(p.spec!.nodeName!)).toBe(p.metadata!.labels!['gantry.dev/cell']);
    }
  });

  it('draining: no pod was deleted while any EndpointSlice listed it as ready, and ready serving capacity never fell below the plan\'s floor', () => {
    expect(recorder).toBeDefined();
    recorder!.stop();
    const r = recorder!.replay(names(config).main);
    expect(r.events).toBeGreaterThan(50);
    expect(r.violations).toEqual([]);
    expect(r.deleted).toHaveLength(10); // every old pod, once
    const floor = Math.min(...planFloors(environmentPlan(env), true));
    expect(floor).toBe(10);
    expect(r.minServing.count).toBeGreaterThanOrEqual(floor);
  });

  it('`gantry rollback` after the release: a rollback release returns to the recorded previous revision, in the same groups', async () => {
    const r1 = revisionOf(config, V1);
    const r2 = revisionOf(config, V2);
    const started = await h.service.decide(app, 'production', 'rollback', caller('alice', ['sre']), 'back to v1');
    expect(started.started?.workflowId).toBe(`release/${app}/production`);
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.kind).toBe('rollback');
    expect(final.phase).toBe('succeeded');
    expect(final.revision.digest).toBe(V1.digest);
    expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r1]: 5 }, 'zone-b': { [r1]: 5 } });
    const site = await siteState(h, config);
    expect(site.record.stable).toMatchObject({ revision: r1, digest: V1.digest });
    expect(site.record.history.map((e) => [e.event, e.revision])).toEqual([['released', r1], ['released', r2], ['released', r1]]);
    expect(site.deployments).toEqual([`${app}-production-zone-a-${r1}`, `${app}-production-zone-b-${r1}`]);
  });

  it('the draining check is not vacuous: a plain scale-down (no drain) is caught by the same replay', async () => {
    const r1 = revisionOf(config, V1);
    const control = await Recorder.start(h.testbed.kubeconfig, app);
    try {
      await h.clients.for().apps.patchNamespacedDeploymentScale({ name: `${app}-production-zone-a-${r1}`, namespace: app, body: { spec: { replicas: 4 } } },
        h.clients.for().opts({ contentType: 'application/merge-patch+json' }));
      const t0 = Date.now();
      while (Date.now() - t0 < 30_000 && control.replay(names(config).main).deleted.length === 0) await new Promise((res) => setTimeout(res, 100));
      await new Promise((res) => setTimeout(res, 1000));
    } finally {
      control.stop();
    }
    const r = control.replay(names(config).main);
    expect(r.deleted).toHaveLength(1);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]!.message).toMatch(/deleted at rv \d+ while listed ready by .*production/);
    expect(r.minServing.count).toBe(9);
  });
});
