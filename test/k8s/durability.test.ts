// Durability on the real control plane: (1) the worker (its own process, Kubernetes activities) is
// killed with SIGKILL in the middle of a group, while drained old pods wait out their grace; (2) the
// kube-apiserver is stopped and restarted in the middle of a release. Both releases complete with
// exactly the planned pods per zone, each new pod created once and each old pod removed once, the
// drain grace honoured across the crash, and no pod deleted while an EndpointSlice listed it.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { upKubernetes } from '../../testbed/k8s/cluster.js';
import { stopDaemon } from '../../testbed/proc.js';
import { testAddress } from '../support/temporal.js';
import {
  V1, V2, baseline, caller, dropNamespace, k8sConfig, names, podCounts, revisionOf, startK8sHarness, unique, type K8sHarness,
} from './support/harness.js';
import { Recorder } from './support/recorder.js';

// A real control plane on a shared 2-core machine: generous per-test time (speed is measured in bench/cluster.ts).
jest.setTimeout(300_000);

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const workers: ChildProcess[] = [];
const namespaces: string[] = [];

function startWorker(h: K8sHarness): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'worker', 'main.ts')], {
    cwd: root,
    env: {
      ...process.env, NODE_OPTIONS: '', TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: h.taskQueue,
      GANTRY_CLUSTER: 'kubernetes', GANTRY_KUBECONFIG: h.testbed.kubeconfig, GANTRY_PROMETHEUS_URL: h.testbed.prometheusUrl, GANTRY_LOG_LEVEL: 'WARN',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      output += b.toString();
      if (output.includes('gantry worker: role')) {
        expect(output).toMatch(/cluster: kubernetes/);
        resolve(child);
      }
    });
    child.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready:\n${output}`)));
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once('exit', () => resolve());
    process.kill(child.pid!, 'SIGKILL');
  });
}

async function until<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let h: K8sHarness;
beforeAll(async () => { h = await startK8sHarness({ worker: false }); }, 900_000);
afterEach(async () => { for (const w of workers.splice(0)) await kill9(w); });
afterAll(async () => {
  for (const ns of namespaces) await dropNamespace(h, ns);
  await h?.close();
});

/** Pods of a revision per state in the namespace, through the API. */
async function pods(namespace: string, revision: string) {
  const list = await h.clients.for().core.listNamespacedPod({ namespace, labelSelector: `gantry.dev/revision=${revision}` });
  const live = list.items.filter((p) => !p.metadata?.deletionTimestamp);
  return { live: live.length, drained: live.filter((p) => p.metadata?.labels?.['gantry.dev/serving'] === 'false').length };
}

describe('durability on the real control plane', () => {
  it('kill -9 of the worker while a group drains: after a restart the release completes, each pod created and removed once, the grace honoured', async () => {
    const app = unique('k9');
    namespaces.push(app);
    const config = k8sConfig(app, { drain: { grace: '4s' }, traffic: { httpRoute: { name: app } } });
    const r1 = revisionOf(config, V1);
    const r2 = revisionOf(config, V2);
    let w = await startWorker(h);
    await baseline(h, config, V1);
    const rec = await Recorder.start(h.testbed.kubeconfig, app);
    try {
      await h.service.startRelease({ config, environment: 'production', revision: V2 }, caller('carol'));
      // Group 2: the new pods serve (3 per zone) and old pods are out of service, waiting out the 4 s grace.
      await until(async () => {
        const [n, o] = await Promise.all([pods(app, r2), pods(app, r1)]);
        return n.live === 6 && o.drained === 4 ? true : undefined;
      }, 'group 2 to be draining');
      await kill9(w);
      expect(w.signalCode).toBe('SIGKILL');
      const atKill = await pods(app, r1);
      expect(atKill.drained).toBe(4); // the crash left the drained pods in place
      w = await startWorker(h);
      const final = await h.service.waitForRelease(app, 'production');
      expect(final.phase).toBe('succeeded');
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      rec.stop();
    }
    expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r2]: 5 }, 'zone-b': { [r2]: 5 } });
    const replay = rec.replay(names(config).main, { graceMs: 4000 });
    expect(replay.violations).toEqual([]);
    expect(replay.graceViolations).toEqual([]);
    expect(replay.minServing.count).toBeGreaterThanOrEqual(10);
    // Exactly once, as the cluster saw it: 10 new pods created, 10 old pods removed, nothing else.
    const added = new Set(rec.events.filter((e) => e.stream === 'pod' && e.type === 'ADDED' && e.rv > rec.startRv).map((e) => e.obj.metadata!.name!));
    expect(added.size).toBe(10);
    expect(replay.deleted).toHaveLength(10);
    const deployments = await h.clients.for().apps.listNamespacedDeployment({ namespace: app });
    expect(deployments.items.map((d) => d.metadata!.name).sort()).toEqual([`${app}-production-zone-a-${r2}`, `${app}-production-zone-b-${r2}`]);
  });

  it('a kube-apiserver restart in the middle of a release: the release completes correctly', async () => {
    const app = unique('apirst');
    namespaces.push(app);
    const inproc = await startK8sHarness();
    try {
      const config = k8sConfig(app, { drain: { grace: '3s' }, traffic: { httpRoute: { name: app } } });
      const r2 = revisionOf(config, V2);
      await baseline(inproc, config, V1);
      const rec = await Recorder.start(inproc.testbed.kubeconfig, app);
      let downMs = 0;
      try {
        await inproc.service.startRelease({ config, environment: 'production', revision: V2 }, caller('carol'));
        await until(async () => ((await pods(app, r2)).live >= 3 ? true : undefined), 'group 2 to start');
        const t0 = Date.now();
        // SIGTERM, then SIGKILL after 3 s (a graceful kube-apiserver shutdown waits for every open watch).
        await stopDaemon('kube-apiserver', 3_000);
        await new Promise((r) => setTimeout(r, 2000));
        await upKubernetes(() => undefined);
        downMs = Date.now() - t0;
        const final = await inproc.service.waitForRelease(app, 'production');
        expect(final.phase).toBe('succeeded');
        await new Promise((r) => setTimeout(r, 500));
      } catch (err) {
        // What the activities saw, for the failure message.
        const t = inproc.decisions[0]?.at ?? 0;
        console.log(inproc.decisions.slice(-60).map((d) => `+${d.at - t} ${d.activity} ${d.decision.type} ${'step' in d.decision ? d.decision.step : ''}: ${d.decision.reason.slice(0, 140)}`).join('\n'));
        throw err;
      } finally {
        rec.stop();
      }
      expect(downMs).toBeGreaterThan(2000);
      expect(await podCounts(inproc, config)).toEqual({ 'zone-a': { [r2]: 5 }, 'zone-b': { [r2]: 5 } });
      expect(inproc.decisions.some((d) => d.decision.type === 'wait' && d.decision.step === 'cluster-unavailable')).toBe(true);
      const replay = rec.replay(names(config).main, { graceMs: 3000 });
      expect(rec.restarts).toBeGreaterThan(0); // the watches saw the restart and resumed (from a relist)
      expect(replay.gapDeletions).toEqual([]); // no pod went while no watch was open: every deletion is checked
      expect(replay.violations).toEqual([]);
      expect(replay.graceViolations).toEqual([]);
      expect(replay.deleted).toHaveLength(10);
      expect(replay.minServing.count).toBeGreaterThanOrEqual(10);
    } finally {
      await inproc.close();
    }
  }, 300_000);
});
