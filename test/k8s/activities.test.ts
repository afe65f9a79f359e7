// The Kubernetes activities one by one, in an activity context (MockActivityEnvironment) against the
// real local control plane: idempotency, error mapping (422 InvalidSpec, 403 Forbidden, unknown
// context InvalidTarget: non-retryable), cancellation, resuming the progress deadline from an
// earlier attempt's heartbeat details, and raw Prometheus measurements.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createKubernetesActivities, KubeClients, observe, scopeOf } from '../../activities/k8s/index.js';
import { pki } from '../../testbed/k8s/pki.js';
import { apiserverUrl } from '../../testbed/k8s/config.js';
import { run } from '../../testbed/proc.js';
import { waitForSeries } from '../../testbed/prometheus.js';
import type { ApplyGroupRequest, ApplyGroupResult, Target } from '../../workflows/activity-types.js';
import { startMetricsBoard, type MetricsBoard } from './support/metrics.js';
import { V1, V2, unique } from './support/harness.js';
import { ensureTestbed, type Testbed } from './support/testbed.js';

// A real control plane on a shared 2-core machine: generous per-test time (speed is measured in bench/cluster.ts).
jest.setTimeout(300_000);

let tb: Testbed;
let board: MetricsBoard;
const namespaces: string[] = [];
beforeAll(async () => {
  tb = await ensureTestbed();
  board = await startMetricsBoard(unique('acts'));
}, 900_000);
afterAll(async () => {
  const core = new KubeClients({ kubeconfig: tb.kubeconfig }).for().core;
  for (const ns of namespaces) await core.deleteNamespace({ name: ns }).catch(() => undefined);
  await board?.close();
});

function target(app: string, extra: Partial<Target['cells'][number]> = {}): Target {
  namespaces.push(app);
  return {
    app, environment: 'production',
    cells: ['zone-a', 'zone-b'].map((z) => ({ name: z, namespace: app, replicas: 2, zone: z, drain: { grace: '0s' }, ...extra })),
  };
}

const req = (t: Target, o: Partial<ApplyGroupRequest> = {}): ApplyGroupRequest => ({
  releaseId: `release/${t.app}/production`, target: t, revision: V1, group: 0, canary: { 'zone-a': 2, 'zone-b': 2 }, deadlineMs: 60_000, ...o,
});

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('Kubernetes activities in an activity context', () => {
  it('applyGroup is idempotent: the same request twice changes nothing the second time', async () => {
    const acts = createKubernetesActivities({ kubeconfig: tb.kubeconfig });
    const t = target(unique('idem'));
    const env = new MockActivityEnvironment();
    const first = await env.run(acts.applyGroup, req(t));
    expect(first).toMatchObject({ changed: true, ready: true });
    const second = await env.run(acts.applyGroup, req(t));
    expect(second).toMatchObject({ changed: false, ready: true });
    await env.run(acts.finalize, { releaseId: 'r', target: t, revision: V1 });
    await env.run(acts.finalize, { releaseId: 'r', target: t, revision: V1 }); // again: nothing left to do
    expect(await env.run(acts.describeTarget, { target: t })).toEqual({ stable: { image: V1.image, digest: V1.digest } });
  });

  it('cells in different namespaces are separate sites: each gets its workloads, Services, route and record', async () => {
    const acts = createKubernetesActivities({ kubeconfig: tb.kubeconfig });
    const app = unique('sites');
    namespaces.push(`${app}-a`, `${app}-b`);
    const t: Target = { app, environment: 'production', cells: [
      { name: 'zone-a', namespace: `${app}-a`, replicas: 2, zone: 'zone-a', drain: { grace: '0s' }, traffic: { httpRoute: { name: app, namespace: `${app}-a` } } },
      { name: 'zone-b', namespace: `${app}-b`, replicas: 3, zone: 'zone-b', drain: { grace: '0s' }, traffic: { httpRoute: { name: app, namespace: `${app}-b` } } },
    ] };
    const env = new MockActivityEnvironment();
    await env.run(acts.applyGroup, req(t, { canary: { 'zone-a': 2, 'zone-b': 3 } }));
    await env.run(acts.finalize, { releaseId: 'r1', target: t, revision: V1 });
    expect(await env.run(acts.applyGroup, req(t, { releaseId: 'r2', revision: V2, canary: { 'zone-a': 1, 'zone-b': 1 } }))).toMatchObject({ ready: true });
    const o = await observe(scopeOf(t, new KubeClients({ kubeconfig: tb.kubeconfig })));
    expect(o.view.sites.map((s) => [s.site, s.router?.canary])).toEqual([[`/${app}-a`, 50], [`/${app}-b`, 33]]);
    expect(o.view.cells.map((c) => [c.cell, c.workloads.map((w) => w.pods.filter((p) => !p.terminating).length).sort()])).toEqual([['zone-a', [1, 1]], ['zone-b', [1, 2]]]);
    await env.run(acts.rollback, { releaseId: 'r2', target: t, revision: V2, reason: 'test' });
    const back = await observe(scopeOf(t, new KubeClients({ kubeconfig: tb.kubeconfig })));
    expect(back.view.cells.map((c) => c.workloads.map((w) => w.pods.filter((p) => !p.terminating).length))).toEqual([[2], [3]]);
    expect(back.view.sites.map((s) => s.router?.canary)).toEqual([0, 0]);
  });

  it('a spec the API server rejects (HTTP 422) is a non-retryable InvalidSpec failure naming the object', async () => {
    const acts = createKubernetesActivities({ kubeconfig: tb.kubeconfig });
    const t = target(unique('inval'), { pod: { labels: { 'not a valid key!': 'x' } } });
    const f = await failure(new MockActivityEnvironment().run(acts.applyGroup, req(t)));
    expect(f.type).toBe('InvalidSpec');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/apply Deployment .*: HTTP 422: .*not a valid key!/);
  });

  it('an unknown kubeconfig context is a non-retryable InvalidTarget failure', async () => {
    const acts = createKubernetesActivities({ kubeconfig: tb.kubeconfig });
    const t = target(unique('ctx'), { context: 'no-such-context' });
    const f = await failure(new MockActivityEnvironment().run(acts.applyGroup, req(t)));
    expect(f.type).toBe('InvalidTarget');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/has no context 'no-such-context' \(it has: gantry-testbed\)/);
  });

  it('a user without RBAC permissions (HTTP 403) is a non-retryable Forbidden failure', async () => {
    // A client certificate from the test bed's CA for a user nobody granted anything.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-nobody-'));
    const key = path.join(dir, 'nobody.key');
    const csr = path.join(dir, 'nobody.csr');
    const crt = path.join(dir, 'nobody.crt');
    await run(['openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=gantry-nobody']);
    await run(['openssl', 'x509', '-req', '-in', csr, '-CA', pki.caCrt, '-CAkey', pki.caKey, '-CAcreateserial', '-CAserial', path.join(dir, 'ca.srl'), '-days', '1', '-out', crt]);
    const b64 = (f: string) => fs.readFileSync(f).toString('base64');
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'nobody',
      clusters: [{ name: 'tb', cluster: { server: apiserverUrl, 'certificate-authority-data': b64(pki.caCrt) } }],
      users: [{ name: 'nobody', user: { 'client-certificate-data': b64(crt), 'client-key-data': b64(key) } }],
      contexts: [{ name: 'nobody', context: { cluster: 'tb', user: 'nobody' } }],
    }));
    const acts = createKubernetesActivities({ kubeconfig });
    const f = await failure(new MockActivityEnvironment().run(acts.applyGroup, req(target(unique('forb')))));
    expect(f.type).toBe('Forbidden');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/HTTP 403: .*gantry-nobody.* \(check the kubeconfig's user and its RBAC permissions\)/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('cancellation ends a wait at once (CancelledFailure), without draining anything', async () => {
    const acts = createKubernetesActivities({ kubeconfig: tb.kubeconfig });
    const t = target(unique('cancel'));
    const env = new MockActivityEnvironment();
    await env.run(acts.applyGroup, req(t));
    await env.run(acts.finalize, { releaseId: 'r', target: t, revision: V1 });
    const broken = { ...t, cells: t.cells.map((c) => ({ ...c, pod: { labels: { 'gantry.dev/fail': 'true' } } })) };
    const env2 = new MockActivityEnvironment();
    const p = env2.run(acts.applyGroup, req(broken, { revision: V2, canary: { 'zone-a': 1, 'zone-b': 1 } }));
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    env2.cancel();
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(Date.now() - t0).toBeLessThan(2000);
    const o = await observe(scopeOf(t, new KubeClients({ kubeconfig: tb.kubeconfig })));
    for (const c of o.view.cells) {
      const stable = c.workloads.find((w) => w.pods.some((p2) => p2.ready))!;
      expect(stable.pods.filter((x) => !x.terminating && x.serving)).toHaveLength(2); // nothing drained
    }
  });

  it('the progress deadline resumes from an earlier attempt\'s heartbeat details (not restarted by a retry)', async () => {
    const acts = createKubernetesActivities({ kubeconfig: tb.kubeconfig });
    const t = target(unique('resume'));
    const env = new MockActivityEnvironment();
    await env.run(acts.applyGroup, req(t));
    await env.run(acts.finalize, { releaseId: 'r', target: t, revision: V1 });
    const broken = { ...t, cells: t.cells.map((c) => ({ ...c, pod: { labels: { 'gantry.dev/fail': 'true' } } })) };
    // An earlier attempt of the same group began 50 s ago; the deadline is 52 s: about 2 s remain.
    const startedAt = Date.now() - 50_000;
    const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { kind: 'apply', group: 0, startedAt } });
    const beats: unknown[] = [];
    retry.on('heartbeat', (d: unknown) => beats.push(d));
    const t0 = Date.now();
    const r: ApplyGroupResult = await retry.run(acts.applyGroup, req(broken, { revision: V2, canary: { 'zone-a': 1, 'zone-b': 1 }, deadlineMs: 52_000 }));
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.ready).toBe(false);
    expect(r.reason).toMatch(/within the progress deadline \(52s\): zone-a 0\/1 new pods ready and serving/);
    expect(beats[0]).toMatchObject({ kind: 'apply', group: 0, startedAt });
    // The heartbeats and the result carry what the activity saw: the new pod exists, never Ready nor serving.
    const stuck = { pods: 1, ready: 0, serving: 0, draining: 0 };
    expect(beats.some((b) => JSON.stringify((b as { observed?: { cells?: { new?: unknown }[] } }).observed?.cells?.map((c) => c.new)) === JSON.stringify([stuck, stuck]))).toBe(true);
    expect(r.observed).toMatchObject({ by: 'apply', cells: [{ cell: 'zone-a', new: stuck }, { cell: 'zone-b', new: stuck }] });
  });

  it('measure returns raw Prometheus values: a number, no data, an error (the verdict is core\'s)', async () => {
    const acts = createKubernetesActivities({ kubeconfig: tb.kubeconfig, prometheusUrl: tb.prometheusUrl });
    const run1 = unique('m');
    board.set('gantry_test_value', run1, 0.5);
    board.set('gantry_test_multi', `${run1}-a`, 1);
    board.set('gantry_test_multi', `${run1}-b`, 2);
    await waitForSeries(`gantry_test_value{run="${run1}"}`);
    await waitForSeries(`gantry_test_multi{run="${run1}-b"}`);
    const m = await new MockActivityEnvironment().run(acts.measure, {
      releaseId: 'r', target: target(unique('meas')), revision: V1, group: 0,
      checks: [
        { name: 'value', query: `gantry_test_value{run="${run1}"}`, max: 1 },
        { name: 'scalar', query: 'scalar(vector(2))', max: 1 },
        { name: 'nodata', query: `gantry_test_value{run="missing-${run1}"}`, max: 1 },
        { name: 'multi', query: `gantry_test_multi{run=~"${run1}-.*"}`, max: 1 },
        { name: 'bad', query: 'sum((', max: 1 },
      ],
    });
    expect(m).toEqual([
      { check: 'value', index: 0, value: 0.5 },
      { check: 'scalar', index: 1, value: 2 },
      { check: 'nodata', index: 2 },
      { check: 'multi', index: 3, error: 'the query returned 2 series; a check needs one number (aggregate it, e.g. sum(...) or max(...))' },
      { check: 'bad', index: 4, error: expect.stringMatching(/^bad_data: .*parse error/) },
    ]);
    const down = createKubernetesActivities({ kubeconfig: tb.kubeconfig, prometheusUrl: 'http://127.0.0.1:1' });
    const m2 = await new MockActivityEnvironment().run(down.measure, { releaseId: 'r', target: target(unique('meas')), revision: V1, group: 0, checks: [{ name: 'x', query: 'up', max: 1 }] });
    expect(m2).toEqual([{ check: 'x', index: 0, error: expect.stringMatching(/Prometheus at http:\/\/127\.0\.0\.1:1 did not answer/) }]);
  });
});
