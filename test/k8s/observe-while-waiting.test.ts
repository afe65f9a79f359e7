// The observed state stays current while a release waits (issue 9), on the real local control plane
// (kube-apiserver + controller-manager + KWOK) and a real Temporal dev server, read through the real
// HTTP API: while the release waits for approval after group 1, its observeTarget activity heartbeats
// what it sees, so a new pod marked not Ready shows in GET /v1/releases/:app/:env within seconds (and
// its recovery too), with `at` moving on; the history does not grow meanwhile (heartbeats are not
// events); an approval cancels the observer at once and the release completes.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { PatchStrategy } from '@kubernetes/client-node';
import type { FastifyInstance } from 'fastify';
import type { ReleaseStatus } from '../../core/release.js';
import { Labels } from '../../core/rollout.js';
import { releaseWorkflowId } from '../../workflows/messages.js';
import { auth, listenOnLoopback, testServer, until } from '../api/helpers.js';
import { V1, V2, baseline, caller, dropNamespace, k8sConfig, revisionOf, startK8sHarness, unique, type K8sHarness } from './support/harness.js';

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

/** Sets a pod's Ready condition, as a kubelet would (status subresource; KWOK leaves a running pod's status alone). */
async function setReady(namespace: string, name: string, ready: boolean): Promise<void> {
  const kube = h.clients.for();
  const now = new Date().toISOString();
  await kube.core.patchNamespacedPodStatus({
    name, namespace, body: { status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now }, { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now }] } },
  }, kube.opts({ contentType: PatchStrategy.StrategicMergePatch }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('observed state while a release waits (real control plane, real API)', () => {
  const app = unique('watching');
  const config = k8sConfig(app, {
    groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest', confirm: { type: 'auto' } }],
    traffic: { httpRoute: { name: app } }, drain: { grace: '1s' },
  });
  afterAll(async () => { await dropNamespace(h, app); });

  it('a new pod going not Ready during the approval wait shows within seconds; no history grows; approval cancels the observer and the release completes', async () => {
    await baseline(h, config, V1);
    const r2 = revisionOf(config, V2);
    await h.service.startRelease({ config, environment: 'production', revision: { ...V2, author: 'carol' } }, caller('dave'));
    const handle = h.client.workflow.getHandle(releaseWorkflowId(app, 'production'));
    // The observer's first look arrives (by: observe), newer than the health check that preceded the wait.
    const first = await until('the release to wait for approval with an observeTarget look (via GET status)', async () => {
      const s = await getStatus(app).catch(() => undefined);
      return s?.phase === 'waiting-approval' && s.group.current === 1 && s.observed?.by === 'observe' ? s : undefined;
    }, 180_000, 250);
    expect(first.observed!.cells.map((c) => [c.cell, c.new.ready, c.new.serving, c.stable.ready, c.weight])).toEqual([
      ['zone-a', 1, 1, 4, { set: 20, actual: 20 }], ['zone-b', 1, 1, 4, { set: 20, actual: 20 }],
    ]);
    const desc = await handle.describe();
    expect((desc.raw.pendingActivities ?? []).map((a) => a.activityType?.name)).toEqual(['observeTarget']);
    const eventsBefore = (await handle.fetchHistory()).events!.length;
    const t0 = Date.now();

    // One new pod in zone-a stops being Ready: the status shows it (ready and serving 0) within seconds.
    const kube = h.clients.for();
    const pods = (await kube.core.listNamespacedPod({ namespace: app })).items;
    const pod = pods.find((p) => p.metadata?.labels?.[Labels.revision] === r2 && p.metadata?.labels?.[Labels.cell] === 'zone-a' && !p.metadata?.deletionTimestamp);
    expect(pod).toBeDefined();
    const marked = Date.now();
    await setReady(app, pod!.metadata!.name!, false);
    const down = await until('the status to show the not-Ready pod', async () => {
      const o = (await getStatus(app)).observed;
      const a = o?.cells.find((c) => c.cell === 'zone-a');
      return a && a.new.pods === 1 && a.new.ready === 0 && a.new.serving === 0 ? o : undefined;
    }, 15_000, 250); // a look every 2 s, heartbeats sent at most every 4 s, the EndpointSlice controller: seconds
    console.log(`not-Ready pod shown in the status after ${Date.now() - marked} ms`);
    expect(Date.parse(down!.at)).toBeGreaterThan(Date.parse(first.observed!.at));
    expect(down!.cells.find((c) => c.cell === 'zone-b')!.new).toMatchObject({ pods: 1, ready: 1, serving: 1 });

    // `at` keeps moving while nothing changes.
    const later = await until('a newer look', async () => {
      const o = (await getStatus(app)).observed;
      return o && Date.parse(o.at) > Date.parse(down!.at) ? o : undefined;
    }, 15_000, 250);
    expect(later.by).toBe('observe');

    // Ready again: shown too.
    await setReady(app, pod!.metadata!.name!, true);
    await until('the status to show the pod Ready and serving again', async () => {
      const a = (await getStatus(app)).observed?.cells.find((c) => c.cell === 'zone-a');
      return a && a.new.ready === 1 && a.new.serving === 1 ? a : undefined;
    }, 20_000, 250);

    // 20 s of waiting and observing: not one history event (heartbeats live in the pending activity).
    await sleep(Math.max(0, 20_000 - (Date.now() - t0)));
    expect((await handle.fetchHistory()).events!.length).toBe(eventsBefore);
    expect((await getStatus(app)).phase).toBe('waiting-approval');

    // Approval: the observer is cancelled without holding the next group (same workflow task).
    await h.service.decide(app, 'production', 'approve', caller('frank', ['sre']), 'looks fine');
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    const events = (await handle.fetchHistory()).events!;
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => ({
      id: Number(e.eventId), name: e.activityTaskScheduledEventAttributes!.activityType!.name, task: Number(e.activityTaskScheduledEventAttributes!.workflowTaskCompletedEventId),
    }));
    const observer = scheduled.filter((s) => s.name === 'observeTarget');
    expect(observer).toHaveLength(1);
    const cancel = events.find((e) => Number(e.activityTaskCancelRequestedEventAttributes?.scheduledEventId) === observer[0]!.id);
    expect(cancel).toBeDefined();
    const nextApply = scheduled.find((s) => s.name === 'applyGroup' && s.id > observer[0]!.id);
    expect(nextApply).toBeDefined();
    // Group 2 went out in the same workflow task as the cancel request: not held up by the observer's cancellation.
    expect(Number(cancel!.activityTaskCancelRequestedEventAttributes!.workflowTaskCompletedEventId)).toBe(nextApply!.task);
    expect(final.observed?.by).toBe('finalize');
  });
});
