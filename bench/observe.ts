// Observe benchmark (npx tsx bench/observe.ts): what one look at a site costs the cluster activities
// (issue 13), on the test bed's kube-apiserver. A namespace with the seed's shape (two cells, a
// Deployment of 5 pods each, the three Services, the record, an HTTPRoute read) is observed N times
// in a row through observe() (Kube.getJson: one keep-alive agent, JSON.parse), then the same six
// reads through the typed clients of @kubernetes/client-node (a new TLS connection per call, model
// deserialization), as observeSite made them before. Also one read alone both ways.
// Prints `BENCH <name> <value> <unit>` lines. BENCH_OBSERVE_N (default 100) looks per variant.
import { performance } from 'node:perf_hooks';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { KubeClients, resourcePath } from '../activities/k8s/client.js';
import { observe, scopeOf } from '../activities/k8s/observe.js';
import { renderDeployment, renderRecord, renderServices } from '../activities/k8s/render.js';
import { labelSelector, resourceNames, selectorLabels } from '../core/rollout.js';
import type { Target } from '../workflows/activity-types.js';
import { upKubernetes } from '../testbed/k8s/cluster.js';
import { kubeconfigPath } from '../testbed/k8s/config.js';

const N = Number(process.env.BENCH_OBSERVE_N ?? 100);

function bench(name: string, value: number, unit: string): void {
  console.log(`BENCH ${name} ${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`);
}
const percentile = (xs: number[], p: number) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!; };

async function timed(n: number, f: () => Promise<unknown>): Promise<number[]> {
  await f(); // warm: the first call pays the TLS handshake either way
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    out.push(performance.now() - t);
  }
  return out;
}

async function main(): Promise<void> {
  await upKubernetes(() => undefined);
  const app = `bench-observe-${Date.now().toString(36)}`;
  const target: Target = { app, environment: 'production', cells: ['zone-a', 'zone-b'].map((zone) => ({
    name: zone, namespace: app, replicas: 5, zone, traffic: { httpRoute: { name: app, namespace: app } },
  })) };
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const clients = new KubeClients({ kubeconfig: kubeconfigPath });
  const kube = clients.for();
  await core.createNamespace({ body: { metadata: { name: app } } });
  try {
    const names = resourceNames(app, 'production');
    const revision = { image: 'registry.local/bench/web', digest: `sha256:${'1'.repeat(64)}` };
    for (const cell of target.cells) {
      const body = renderDeployment({ target, cell, revision, hash: 'bench00001', replicas: 5 });
      await kube.apps.createNamespacedDeployment({ namespace: app, body }, kube.opts());
    }
    for (const s of Object.values(renderServices(names, app, target, 'bench00001', 'bench00001'))) await core.createNamespacedService({ namespace: app, body: s });
    await core.createNamespacedConfigMap({ namespace: app, body: renderRecord(names.record, app, target, { history: [] }) });
    const sel = labelSelector(selectorLabels(app, 'production'));
    for (let i = 0; ; i++) {
      const pods = await core.listNamespacedPod({ namespace: app, labelSelector: sel });
      if (pods.items.length >= 10) break;
      if (i > 600) throw new Error(`only ${pods.items.length} of 10 pods after 60 s`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const scope = scopeOf(target, clients);
    const fast = await timed(N, () => observe(scope));
    const o = kube.opts();
    const typed = await timed(N, () => Promise.all([
      kube.apps.listNamespacedDeployment({ namespace: app, labelSelector: sel }, o),
      kube.core.listNamespacedPod({ namespace: app, labelSelector: sel }, o),
      kube.discovery.listNamespacedEndpointSlice({ namespace: app }, o),
      kube.core.listNamespacedService({ namespace: app, labelSelector: sel }, o),
      kube.core.readNamespacedConfigMap({ name: names.record, namespace: app }, o),
      kube.custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: app, plural: 'httproutes', name: app }, o).catch(() => undefined),
    ]));
    const recordPath = resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace: app, name: names.record });
    const readFast = await timed(N, () => kube.getJson(recordPath));
    const readTyped = await timed(N, () => kube.core.readNamespacedConfigMap({ name: names.record, namespace: app }, o));

    console.log(`# ${N} looks at one site (10 pods, 2 Deployments, 3 Services, the record, an HTTPRoute read)`);
    bench('kube_observe_site_ms_p50', percentile(fast, 50), 'ms');
    bench('kube_observe_site_ms_p90', percentile(fast, 90), 'ms');
    bench('kube_observe_site_typed_client_ms_p50', percentile(typed, 50), 'ms');
    bench('kube_observe_site_typed_client_ms_p90', percentile(typed, 90), 'ms');
    bench('kube_read_ms_p50', percentile(readFast, 50), 'ms');
    bench('kube_read_typed_client_ms_p50', percentile(readTyped, 50), 'ms');
  } finally {
    await core.deleteNamespace({ name: app }).catch(() => undefined);
  }
}
main().catch((err: unknown) => { console.error(err); process.exit(1); });
