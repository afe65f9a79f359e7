// A worker with the Kubernetes activities (in this process), the command service, and helpers that
// read the cluster through the API: pods per zone and revision, the HTTPRoute's weights, the record.
import type { Client, Connection } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createKubernetesActivities, KubeClients, observe, scopeOf, targetRevision, type DecisionEvent, type KubernetesActivityOptions } from '../../../activities/k8s/index.js';
import { GantryService } from '../../../api/service.js';
import { parseConfig, type GantryConfig, type RawConfig } from '../../../core/config.js';
import type { Revision } from '../../../core/release.js';
import { Labels, resourceNames } from '../../../core/rollout.js';
import type { Target } from '../../../workflows/activity-types.js';
import { createWorker } from '../../../worker/worker.js';
import { createGantryActivities, kubernetesOptions } from '../../../worker/activities.js';
import { testWorkerConfig } from '../../support/activities.js';
import { caller } from '../../support/release-harness.js';
import { connectClient, connectNative, unique } from '../../support/temporal.js';
import { ensureTestbed, type Testbed } from './testbed.js';

export const IMAGE = 'registry.local/shop/web';
export const digest = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;
export const V1: Revision = { image: IMAGE, digest: digest('1') };
export const V2: Revision = { image: IMAGE, digest: digest('2') };

export interface K8sHarness {
  testbed: Testbed;
  client: Client;
  service: GantryService;
  clients: KubeClients;
  decisions: DecisionEvent[];
  taskQueue: string;
  close(): Promise<void>;
}

export async function startK8sHarness(opts: Partial<KubernetesActivityOptions> & { worker?: boolean } = {}): Promise<K8sHarness> {
  const testbed = await ensureTestbed();
  const { client, connection } = await connectClient();
  const taskQueue = unique('k8s');
  const decisions: DecisionEvent[] = [];
  let close = async () => { await (connection as Connection).close(); };
  if (opts.worker !== false) {
    const native: NativeConnection = await connectNative();
    // The cluster as the worker configures it (GANTRY_KUBECONFIG, GANTRY_PROMETHEUS_URL), plus the test's options.
    const config = testWorkerConfig({
      GANTRY_TASK_QUEUE: taskQueue, GANTRY_CLUSTER: 'kubernetes', GANTRY_KUBECONFIG: testbed.kubeconfig, GANTRY_PROMETHEUS_URL: testbed.prometheusUrl,
    });
    if (config.cluster.kind !== 'kubernetes') throw new Error(`expected the Kubernetes cluster, got ${config.cluster.kind}`);
    const cluster = createKubernetesActivities({
      ...kubernetesOptions(config.cluster), ...opts,
      onDecision: (e) => { decisions.push(e); opts.onDecision?.(e); },
    });
    const worker: Worker = await createWorker({ connection: native, taskQueue, activities: createGantryActivities(config, cluster) });
    const running = worker.run();
    close = async () => {
      worker.shutdown();
      await running;
      await native.close();
      await (connection as Connection).close();
    };
  }
  return {
    testbed, client, service: new GantryService(client, taskQueue), clients: new KubeClients({ kubeconfig: testbed.kubeconfig }),
    decisions, taskQueue, close: () => close(),
  };
}

/** The seed's shape (10 pods over zone-a and zone-b, groups 1, 2, rest) on the test bed, with overrides. */
export function k8sConfig(app: string, env: Partial<RawConfig['environments'][number]> = {}, appExtra: Partial<RawConfig['app']> = {}): GantryConfig {
  const raw: RawConfig = {
    app: { name: app, image: IMAGE, ...appExtra },
    environments: [{
      name: 'production',
      replicas: 10,
      cells: [{ name: 'zone-a', zone: 'zone-a' }, { name: 'zone-b', zone: 'zone-b' }],
      groups: [{ pods: 1 }, { pods: 2 }, { pods: 'rest' }],
      approvers: { groups: ['sre'] },
      deadlines: { progress: '60s' },
      drain: { grace: '1s' },
      ...env,
    }],
  };
  const r = parseConfig(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

export function targetOf(config: GantryConfig): Target {
  const env = config.environments[0]!;
  return { app: config.app.name, environment: env.name, cells: env.cells.map((c) => ({ ...c })) };
}

export interface CellCounts { [revision: string]: number }

/** Live (not terminating) pods per cell and revision label, read through the API. */
export async function podCounts(h: K8sHarness, config: GantryConfig): Promise<Record<string, CellCounts>> {
  const o = await observe(scopeOf(targetOf(config), h.clients));
  const out: Record<string, CellCounts> = {};
  for (const c of o.view.cells) {
    out[c.cell] = {};
    for (const w of c.workloads) {
      const n = w.pods.filter((p) => !p.terminating).length;
      if (n) out[c.cell]![w.revision] = n;
    }
  }
  return out;
}

/** The HTTPRoute's canary weight and the stable/canary Services' selections, through the API. */
export async function siteState(h: K8sHarness, config: GantryConfig) {
  const o = await observe(scopeOf(targetOf(config), h.clients));
  const s = o.view.sites[0]!;
  const site = o.sites.get(s.site)!;
  return { weight: s.router?.canary, selects: s.selects, record: site.record, deployments: site.deployments.map((d) => d.metadata!.name!).sort() };
}

export function revisionOf(config: GantryConfig, r: Revision): string {
  return targetRevision(targetOf(config), r);
}

export const names = (config: GantryConfig) => resourceNames(config.app.name, config.environments[0]!.name);

/** Releases `revision` with every pod at once (one group, auto): the starting point of a test. */
export async function baseline(h: K8sHarness, config: GantryConfig, revision: Revision = V1): Promise<void> {
  const env = config.environments[0]!;
  const one: GantryConfig = { ...config, environments: [{ ...env, groups: [{ name: 'all', pods: 'rest', confirm: { type: 'auto' } }], analysis: [] }] };
  await h.service.startRelease({ config: one, environment: env.name, revision }, caller('setup'));
  const final = await h.service.waitForRelease(config.app.name, env.name);
  if (final.phase !== 'succeeded') throw new Error(`baseline release failed: ${final.summary}`);
}

/** Deletes the test's namespace (not waited for). */
export async function dropNamespace(h: K8sHarness, namespace: string): Promise<void> {
  await h.clients.for().core.deleteNamespace({ name: namespace }).catch(() => undefined);
}

export { caller, unique };

/** Per cell and role (stable: any revision but `fresh`), pods Ready and pods listed ready in an EndpointSlice, straight from the API server. */
export async function clusterCounts(h: K8sHarness, namespace: string, fresh: string): Promise<Record<string, { stable: { ready: number; serving: number }; new: { ready: number; serving: number } }>> {
  const kube = h.clients.for();
  const pods = (await kube.core.listNamespacedPod({ namespace })).items;
  const slices = (await kube.discovery.listNamespacedEndpointSlice({ namespace })).items;
  const listed = new Set(slices.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false && e.targetRef?.kind === 'Pod').map((e) => e.targetRef!.uid)));
  const out: Record<string, { stable: { ready: number; serving: number }; new: { ready: number; serving: number } }> = {};
  for (const p of pods) {
    const cell = p.metadata?.labels?.[Labels.cell];
    if (!cell) continue;
    const side = (out[cell] ??= { stable: { ready: 0, serving: 0 }, new: { ready: 0, serving: 0 } })[p.metadata?.labels?.[Labels.revision] === fresh ? 'new' : 'stable'];
    if (!p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) side.ready++;
    if (listed.has(p.metadata?.uid)) side.serving++;
  }
  return out;
}
