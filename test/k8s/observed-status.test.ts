// The observed state in the status, on the real local control plane (kube-apiserver + KWOK nodes in
// zone-a and zone-b) and a real Temporal dev server, read through the real HTTP API (port 0): while
// a release waits for approval after group 1, GET /v1/releases/:app/:env shows per cell the pods
// ready and serving per revision exactly as the cluster has them (counted here independently, from
// Pods and EndpointSlices), and the HTTPRoute's weight as set and as read back, equal. While the
// next group is applied, the running activity's heartbeat (read by the API from the workflow's
// description) shows the old pods draining with their grace running down.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import type { ObservedState } from '../../core/observed.js';
import type { ReleaseStatus } from '../../core/release.js';
import { auth, listenOnLoopback, testServer, until } from '../api/helpers.js';
import { V1, V2, baseline, caller, clusterCounts, dropNamespace, k8sConfig, revisionOf, siteState, startK8sHarness, unique, type K8sHarness } from './support/harness.js';

jest.setTimeout(300_000);

let h: K8sHarness;
let server: FastifyInstance;
let base: string;
beforeAll(async () => {
  h = await startK8sHarness();
  server = testServer(h.service);
  base = await listenOnLoopback(server);
}, 900_000);
afterAll(async () => { await server?.close(); await h?.close(); });

async function getStatus(app: string): Promise<ReleaseStatus> {
  const r = await fetch(`${base}/v1/releases/${app}/production`, { headers: auth('frank') });
  if (r.status !== 200) throw new Error(`GET status: ${r.status} ${await r.text()}`);
  return (await r.json()) as ReleaseStatus;
}

describe('observed state in the release status (real control plane, real API)', () => {
  const app = unique('observed');
  const manual = { type: 'manual' as const };
  // A long drain grace, so the drain of group 2 lasts across several heartbeats.
  const config = k8sConfig(app, {
    groups: [{ pods: 1, confirm: manual }, { pods: 2, confirm: manual }, { pods: 'rest', confirm: { type: 'auto' as const } }],
    traffic: { httpRoute: { name: app } }, drain: { grace: '20s' },
  });
  afterAll(async () => { await dropNamespace(h, app); });

  it('waiting for approval after group 1: observed ready/serving pods per cell match the cluster; weight set == actual', async () => {
    await baseline(h, config, V1);
    const r2 = revisionOf(config, V2);
    await h.service.startRelease({ config, environment: 'production', revision: { ...V2, author: 'carol' } }, caller('dave'));
    const st = await until('the release to wait for approval of group 1 (via GET status)', async () => {
      const s = await getStatus(app).catch(() => undefined);
      return s?.phase === 'waiting-approval' && s.group.current === 1 ? s : undefined;
    }, 180_000);

    // The plan: 1 new and 4 old pods per zone.
    expect(st.cells.map((c) => [c.cell, c.canary, c.stable])).toEqual([['zone-a', 1, 4], ['zone-b', 1, 4]]);
    const o = st.observed as ObservedState;
    expect(o).toBeDefined();
    // The health check's result, or already a look of the observer that runs while the release waits.
    expect(['health', 'observe']).toContain(o.by);
    expect(Date.parse(o.at)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(o.at)).toBeGreaterThanOrEqual(Date.parse(st.waiting!.since) - 60_000);
    // Ready and serving per cell and revision, as the API server has them now.
    const cluster = await clusterCounts(h, app, r2);
    expect(o.cells.map((c) => [c.cell, { ready: c.stable.ready, serving: c.stable.serving }, { ready: c.new.ready, serving: c.new.serving }]))
      .toEqual(['zone-a', 'zone-b'].map((z) => [z, cluster[z]!.stable, cluster[z]!.new]));
    expect(o.cells.map((c) => [c.cell, c.stable, c.new])).toEqual(['zone-a', 'zone-b'].map((z) => [z, { pods: 4, ready: 4, serving: 4, draining: 0 }, { pods: 1, ready: 1, serving: 1, draining: 0 }]));
    // The weight Gantry set is the one the HTTPRoute reads back: 2 new pods of 10.
    const route = await siteState(h, config);
    for (const c of o.cells) expect(c.weight).toEqual({ set: 20, actual: route.weight });
    expect(route.weight).toBe(20);
    // Who can approve, structured, next to the text.
    expect(st.waiting?.approvers).toMatchObject({ users: [], groups: ['sre'], required: 1, approvals: [], excluded: [{ id: 'carol' }, { id: 'dave' }] });
    expect(st.waiting?.who).toMatch(/group:sre \(not carol, dave\)/);
  });

  it('while group 2 is applied: the running activity\'s heartbeat shows the old pods draining, with grace left', async () => {
    const before = (await getStatus(app)).observed!;
    await h.service.decide(app, 'production', 'approve', caller('frank', ['sre']), 'group 1 fine');
    const seen = await until('a heartbeat observation with old pods draining (via GET status)', async () => {
      const s = await getStatus(app);
      const o = s.observed;
      return s.phase === 'applying' && o && o.by === 'apply' && Date.parse(o.at) > Date.parse(before.at) && o.cells.some((c) => c.stable.draining > 0) ? s : undefined;
    }, 90_000, 250);
    const o = seen.observed!;
    const draining = o.cells.filter((c) => c.stable.draining > 0);
    for (const c of draining) {
      expect(c.stable.graceLeftSeconds).toBeGreaterThan(0);
      expect(c.stable.graceLeftSeconds).toBeLessThanOrEqual(20);
      // 3 new pods per zone before any old one leaves.
      expect(c.new.ready).toBe(3);
      expect(c.weight).toEqual({ set: 60, actual: 60 });
    }
    // The workflow's own last observation (group 1's health check) is older: the heartbeat won.
    expect(Date.parse(o.at)).toBeGreaterThan(Date.parse(before.at));

    // Once waiting for approval of group 2, the status settles on the health check's observation.
    const st = await until('group 2 to wait for approval', async () => {
      const s = await getStatus(app);
      return s.phase === 'waiting-approval' && s.group.current === 2 ? s : undefined;
    }, 120_000);
    expect(st.observed!.cells.map((c) => [c.cell, c.stable.pods, c.new.pods, c.stable.draining, c.weight])).toEqual([
      ['zone-a', 2, 3, 0, { set: 60, actual: 60 }], ['zone-b', 2, 3, 0, { set: 60, actual: 60 }],
    ]);
    await h.service.decide(app, 'production', 'abort', caller('frank', ['sre']), 'done testing');
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('rolled-back');
    // The rollback's own observation: every pod old again, traffic back on the stable side.
    expect(final.observed?.by).toBe('rollback');
    expect(final.observed!.cells.map((c) => [c.cell, c.stable.ready, c.new.pods, c.weight])).toEqual([
      ['zone-a', 5, 0, { set: 0, actual: 0 }], ['zone-b', 5, 0, { set: 0, actual: 0 }],
    ]);
  });
});
