// Test bed, Kubernetes part: a smoke test proving the local cluster really schedules and "runs" pods.
// A Deployment (4 replicas, spread over the zone key) and a Service: 4 Ready pods on nodes of both
// zones and 4 ready endpoints in the EndpointSlice; then a pod labelled gantry.dev/fail=true must stay
// not Ready (kwok stage pod-never-ready); finally the namespace is deleted and waited for.
import { poll } from '../proc.js';
import { failLabel, fakeNodes, zoneLabel } from './config.js';
import {
  api, conditionTrue, createIfAbsent, getJson, kubectl, type EndpointSliceObject, type List, type NodeObject, type PodObject,
} from './client.js';
import { kubernetesStatus, userKubeconfig } from './cluster.js';

type Log = (m: string) => void;

const replicas = 4;
const appLabel = 'gantry-smoke';

export async function smokeKubernetes(log: Log = console.log): Promise<void> {
  if (userKubeconfig()) throw new Error('smoke: runs against the local test-bed cluster only; unset GANTRY_KUBECONFIG/KUBECONFIG');
  const status = await kubernetesStatus();
  if (!status.healthy) throw new Error(`smoke: the local cluster is not healthy (${JSON.stringify(status.components)}); run up first`);

  const ns = `gantry-smoke-${Date.now().toString(36)}`;
  const t0 = Date.now();
  const step = (m: string) => log(`smoke: ${m} (+${Date.now() - t0} ms)`);
  try {
    await createIfAbsent('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    step(`namespace ${ns} created`);
    // Pods are rejected by the ServiceAccount admission plugin until the controller-manager made `default`.
    await poll(async () => (await api('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200,
      { timeoutMs: 60_000, what: `ServiceAccount ${ns}/default` });
    step('ServiceAccount default present');

    const labels = { app: appLabel };
    await createIfAbsent(`/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: appLabel, labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            topologySpreadConstraints: [{ maxSkew: 1, topologyKey: zoneLabel, whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: labels } }],
            containers: [{ name: 'app', image: 'registry.invalid/gantry/smoke:1', ports: [{ containerPort: 8080 }] }],
          },
        },
      },
    });
    await createIfAbsent(`/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: appLabel },
      spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    step(`Deployment (${replicas} replicas, spread on ${zoneLabel}) and Service created`);

    const nodeZone = new Map<string, string>();
    for (const n of (await getJson<List<NodeObject>>('/api/v1/nodes')).items) {
      const z = n.metadata.labels?.[zoneLabel];
      if (z) nodeZone.set(n.metadata.name, z);
    }
    let pods: PodObject[] = [];
    await poll(async () => {
      pods = (await getJson<List<PodObject>>(`/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${appLabel}`)).items
        .filter((p) => !p.metadata.deletionTimestamp);
      return pods.length === replicas && pods.every((p) => p.spec?.nodeName && conditionTrue(p, 'Ready'));
    }, { timeoutMs: 120_000, intervalMs: 250, what: `${replicas} Ready pods of Deployment ${ns}/${appLabel}` });
    const perZone = new Map<string, number>();
    for (const p of pods) {
      const z = nodeZone.get(p.spec!.nodeName!) ?? '(no zone)';
      perZone.set(z, (perZone.get(z) ?? 0) + 1);
    }
    const zones = [...new Set(fakeNodes.map((n) => n.zone))];
    const counts = zones.map((z) => perZone.get(z) ?? 0);
    if (counts.some((c) => c === 0) || Math.max(...counts) - Math.min(...counts) > 1) {
      throw new Error(`smoke: pods not spread over the zones: ${JSON.stringify(Object.fromEntries(perZone))}`);
    }
    step(`${replicas} pods Ready: ${pods.map((p) => `${p.metadata.name}@${p.spec!.nodeName}/${p.status?.podIP}`).join(', ')}; per zone ${JSON.stringify(Object.fromEntries(perZone))}`);

    let readyEndpoints = 0;
    await poll(async () => {
      const slices = await getJson<List<EndpointSliceObject>>(
        `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${appLabel}`);
      readyEndpoints = slices.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready === true).length;
      return readyEndpoints === replicas;
    }, { timeoutMs: 60_000, intervalMs: 250, what: `EndpointSlice of Service ${ns}/${appLabel} to list ${replicas} ready endpoints` });
    step(`EndpointSlice lists ${readyEndpoints} ready endpoints`);

    const dep = await getJson<{ status?: { availableReplicas?: number; readyReplicas?: number } }>(`/apis/apps/v1/namespaces/${ns}/deployments/${appLabel}`);
    step(`Deployment status: ready ${dep.status?.readyReplicas ?? 0}, available ${dep.status?.availableReplicas ?? 0}`);

    // The failure stage: the pod is scheduled, gets an IP and a CrashLoopBackOff container, never Ready.
    await createIfAbsent(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'never-ready', labels: { [failLabel]: 'true' } },
      spec: { containers: [{ name: 'app', image: 'registry.invalid/gantry/smoke:1' }] },
    });
    const failPath = `/api/v1/namespaces/${ns}/pods/never-ready`;
    await poll(async () => {
      const p = await getJson<PodObject>(failPath);
      return !!p.status?.podIP && p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff';
    }, { timeoutMs: 60_000, intervalMs: 250, what: 'pod never-ready to get the pod-never-ready stage applied', logName: 'kwok' });
    step('pod never-ready: stage pod-never-ready applied (Running, podIP set, container CrashLoopBackOff)');
    // "Stays not Ready" can only be shown over time: watch it for a window, failing at the first Ready.
    const watchMs = 15_000;
    const becameReady = await poll(async () => conditionTrue(await getJson<PodObject>(failPath), 'Ready'),
      { timeoutMs: watchMs, intervalMs: 500, what: 'pod never-ready', throwOnTimeout: false });
    if (becameReady) throw new Error('smoke: pod never-ready (gantry.dev/fail=true) became Ready; the failure stage does not hold');
    const p = await getJson<PodObject>(failPath);
    step(`pod never-ready still not Ready after ${watchMs} ms (phase ${p.status?.phase}, Ready=${p.status?.conditions?.find((c) => c.type === 'Ready')?.status})`);

    const table = await kubectl(['get', 'pods', '-n', ns, '-o', 'wide']);
    log(table.stdout.trimEnd());
  } finally {
    const tDel = Date.now();
    const r = await api('DELETE', `/api/v1/namespaces/${ns}`);
    if (r.status !== 404) {
      await poll(async () => (await api('GET', `/api/v1/namespaces/${ns}`)).status === 404,
        { timeoutMs: 120_000, intervalMs: 250, what: `namespace ${ns} to be deleted`, logName: 'kube-controller-manager' });
      log(`smoke: namespace ${ns} deleted in ${Date.now() - tDel} ms`);
    }
  }
  log(`smoke: PASSED in ${Date.now() - t0} ms`);
}
