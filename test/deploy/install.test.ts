// Installing Gantry in a cluster, on the test bed's real kube-apiserver (RBAC and Pod Security
// admission on, kwok nodes): deploy/kustomize's two overlays and deploy/helm/gantry in both RBAC
// modes are rendered (kubectl's built-in kustomize, helm template; helm lint --strict), then
// server-side applied to fresh namespaces, where the API server validates every object against its
// schemas (strict field validation) and admits the pods under the `restricted` Pod Security profile.
// Each install waits until all three Deployments are Available, then checks what was applied: the
// API's and build worker's pods carry no ServiceAccount token (the admission plugin added none), the
// release worker's does; non-root, read-only root filesystem, no capabilities; a PodDisruptionBudget
// per Deployment that selects its pods; and, through SubjectAccessReview, that the release worker's
// ServiceAccount has exactly the rules of deploy/rbac in the application namespace (and nothing on
// Secrets, nothing elsewhere in namespaced mode), and the API and build worker none.
// Also: the chart's RBAC rules and pod specs equal the kustomize ones (no drift), and `helm template`
// without image.repository fails naming the value; values.schema.json refuses wrong values; the file
// credentials (git, GitHub App key, Prometheus CA/token) are optional Secret volumes in both renderers,
// their variables set by the chart only when keys are named; Worker Versioning: a real helm install
// then upgrade (and the kustomize example applied twice) leaves the old version's workers running
// beside the new ones, each Deployment on its own pods.
//
// What this does NOT prove: kwok runs no containers. The pods are scheduled and marked Ready by kwok
// stages; the processes inside (image, probes answering, Temporal reachable) are not run here.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AppsV1Api, CoreV1Api, KubeConfig, PolicyV1Api, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { ensureTestbed } from '../k8s/support/testbed.js';
import { shippedRules } from '../k8s/rbac-support.js';
import {
  allowed, deployDir, exec, find, helmTemplate, readmeFileEnvPatch, kustomize, must, parseObjects, relocate, renderReadmeKustomization, requireTools, serverSideApply, waitAvailable, waitServiceEndpoints, chartDir,
  SHIPPED_APP_NAMESPACE, type Access, type Obj,
} from './install-support.js';

jest.setTimeout(600_000);

const IMAGE = 'registry.example.com/gantry:0.1.0';
const BUILD_IMAGE = 'registry.example.com/gantry:0.1.0-build-worker';
const HELM_IMAGE = { 'image.repository': 'registry.example.com/gantry', 'image.tag': '0.1.0' };
const COMPONENTS = ['api', 'release-worker', 'build-worker'] as const;
const FIELD_MANAGER = 'gantry-install-test';

let tools: { kubectl: string; helm: string };
let kubeconfig: string;
let kc: KubeConfig;
const cleanups: (() => Promise<unknown>)[] = [];

const rand = () => crypto.randomBytes(3).toString('hex');

beforeAll(async () => {
  tools = requireTools();
  kubeconfig = (await ensureTestbed()).kubeconfig;
  kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
}, 900_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function createNamespace(name: string, restricted: boolean): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  cleanups.push(() => core.deleteNamespace({ name }));
  await core.createNamespace({
    body: { metadata: { name, ...(restricted ? { labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } } : {}) } },
  });
}

function deleteClusterObjects(names: { roles: string[]; bindings: string[] }): () => Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  return async () => {
    for (const name of names.bindings) await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
    for (const name of names.roles) await rbac.deleteClusterRole({ name }).catch(() => undefined);
  };
}

/** A rule's permissions as SubjectAccessReview attributes (deployments/scale: the scale subresource). */
function accesses(rules: readonly V1PolicyRule[], namespace: string): Access[] {
  return rules.flatMap((r) => (r.apiGroups ?? []).flatMap((group) => (r.resources ?? []).flatMap((res) => r.verbs.map((verb) => {
    const [resource, subresource] = res.split('/') as [string, string | undefined];
    return { verb, group, resource, namespace, ...(subresource ? { subresource } : {}) };
  }))));
}

/** Rights a release worker must not have anywhere (secrets; exec into pods; deleting what it only updates). */
const NEVER: Omit<Access, 'namespace'>[] = [
  { verb: 'get', group: '', resource: 'secrets' },
  { verb: 'list', group: '', resource: 'secrets' },
  { verb: 'watch', group: '', resource: 'secrets' },
  { verb: 'create', group: '', resource: 'pods', subresource: 'exec' },
  { verb: 'delete', group: '', resource: 'configmaps' },
  { verb: 'delete', group: '', resource: 'services' },
  { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings' },
  { verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token' },
];

interface Installed { namespace: string; appNamespace: string; names: Record<(typeof COMPONENTS)[number], string>; mode: 'namespaced' | 'cluster' }

/** Everything checked on an applied install (objects read back from the API server). */
async function checkInstall(i: Installed): Promise<void> {
  const deployments = await waitAvailable(kc, i.namespace, COMPONENTS.map((c) => i.names[c]));
  const core = kc.makeApiClient(CoreV1Api);
  const byComponent = Object.fromEntries(COMPONENTS.map((c, n) => [c, deployments[n]!])) as Record<(typeof COMPONENTS)[number], (typeof deployments)[number]>;
  expect(byComponent.api.spec?.replicas).toBe(2);

  // The pods as admitted: the ServiceAccount admission plugin mounts a token only where allowed.
  const pods = (await core.listNamespacedPod({ namespace: i.namespace })).items;
  for (const c of COMPONENTS) {
    const mine = pods.filter((p) => p.metadata?.labels?.['app.kubernetes.io/component'] === c && !p.metadata?.deletionTimestamp);
    expect({ c, pods: mine.length }).toEqual({ c, pods: byComponent[c].spec?.replicas });
    for (const p of mine) {
      const tokenVolume = (p.spec?.volumes ?? []).some((v) => v.projected?.sources?.some((s) => s.serviceAccountToken));
      const tokenMount = (p.spec?.containers ?? []).some((ct) => (ct.volumeMounts ?? []).some((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount'));
      expect({ c, tokenVolume, tokenMount }).toEqual({ c, tokenVolume: c === 'release-worker', tokenMount: c === 'release-worker' });
      expect(p.spec?.serviceAccountName).toBe(i.names[c]);
      expect(p.spec?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
      for (const ct of p.spec?.containers ?? []) {
        expect(ct.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
        expect(ct.resources?.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
        expect(ct.readinessProbe?.httpGet?.path).toBe('/readyz');
        expect(ct.livenessProbe?.httpGet?.path).toBe('/healthz');
      }
      // Only /tmp, GANTRY_DATA_DIR and read-only mounts are writable paths.
      const writable = (p.spec?.containers ?? []).flatMap((ct) => (ct.volumeMounts ?? []).filter((m) => !m.readOnly).map((m) => m.mountPath));
      expect(writable.sort()).toEqual(c === 'api' ? ['/tmp'] : ['/tmp', '/var/lib/gantry']);
    }
  }
  // Mounted Secrets are readable by the owner and group only (0440: decimal 288 in the manifests, unambiguous in YAML 1.1 and 1.2).
  for (const d of deployments) {
    for (const v of d.spec?.template.spec?.volumes ?? []) if (v.secret) expect({ v: v.name, mode: v.secret.defaultMode }).toEqual({ v: v.name, mode: 0o440 });
  }
  // The build worker's workspace emptyDir is bounded.
  const buildVolumes = byComponent['build-worker'].spec?.template.spec?.volumes ?? [];
  expect(buildVolumes.find((v) => v.name === 'workspace')?.emptyDir?.sizeLimit).toBe('20Gi');

  // ServiceAccounts: the API's and the build worker's do not automount a token.
  for (const c of COMPONENTS) {
    const sa = await core.readNamespacedServiceAccount({ namespace: i.namespace, name: i.names[c] });
    expect({ c, automount: sa.automountServiceAccountToken }).toEqual({ c, automount: c === 'release-worker' });
  }

  // A PodDisruptionBudget per Deployment, selecting its pods (the disruption controller counts them).
  const policy = kc.makeApiClient(PolicyV1Api);
  for (const c of COMPONENTS) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ namespace: i.namespace, name: i.names[c] });
      expect(pdb.spec?.maxUnavailable).toBe(1);
      if (pdb.status?.expectedPods === byComponent[c].spec?.replicas && pdb.status?.currentHealthy === byComponent[c].spec?.replicas) break;
      if (Date.now() > deadline) throw new Error(`PDB ${i.names[c]}: ${JSON.stringify(pdb.status)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  // Metrics: every pod as admitted carries the prometheus.io/* annotations naming its metrics port
  // (the API's `http`, a worker's `metrics`, which is not its probes' `health` port); each worker's
  // headless metrics Service lists exactly its ready pods' IPs (kwok gives pods IPs; the
  // endpointslice controller fills the slices) on port `metrics`.
  const fresh = (await core.listNamespacedPod({ namespace: i.namespace })).items.filter((p) => !p.metadata?.deletionTimestamp);
  for (const c of COMPONENTS) {
    const portName = c === 'api' ? 'http' : 'metrics';
    for (const p of fresh.filter((q) => q.metadata?.labels?.['app.kubernetes.io/component'] === c)) {
      const ct = p.spec!.containers[0]!;
      const port = ct.ports?.find((q) => q.name === portName)?.containerPort;
      expect({ c, port, annotations: pick(p.metadata?.annotations, SCRAPE_KEYS) })
        .toEqual({ c, port: c === 'api' ? 8080 : 9464, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' } });
      if (c !== 'api') {
        expect(ct.readinessProbe?.httpGet?.port).toBe('health');
        expect(ct.env?.find((e) => e.name === 'GANTRY_METRICS_ADDR')?.value).toBe('0.0.0.0:9464');
      }
    }
  }
  for (const c of ['release-worker', 'build-worker'] as const) {
    const ips = await waitServiceEndpoints(kc, i.namespace, `${i.names[c]}-metrics`, { name: 'metrics', port: 9464 });
    const mine = fresh.filter((p) => p.metadata?.labels?.['app.kubernetes.io/component'] === c).map((p) => p.status?.podIP).sort();
    expect({ c, ips }).toEqual({ c, ips: mine });
    expect(ips.length).toBe(byComponent[c].spec?.replicas);
  }

  // RBAC, as the API server's authorizer answers for each ServiceAccount.
  const release = { namespace: i.namespace, name: i.names['release-worker'] };
  const granted = accesses(shippedRules(i.mode), i.appNamespace);
  const denied = (ns: string) => NEVER.map((a) => ({ ...a, namespace: ns }));
  const answers = async (sa: { namespace: string; name: string }, list: Access[]) =>
    Promise.all(list.map(async (a) => `${a.verb} ${a.group}/${a.resource}${a.subresource ? `/${a.subresource}` : ''} in ${a.namespace ?? '(cluster)'}: ${await allowed(kc, sa, a)}`));
  const expectAll = async (sa: { namespace: string; name: string }, list: Access[], value: boolean) => {
    const got = await answers(sa, list);
    expect(got).toEqual(got.map((l) => l.replace(/: (true|false)$/, `: ${value}`)));
  };
  // Every shipped permission is granted in the application namespace (cluster-mode extras are cluster-scoped).
  await expectAll(release, granted.filter((a) => a.resource !== 'namespaces'), true);
  await expectAll(release, denied(i.appNamespace), false);
  await expectAll(release, denied(i.namespace), false);
  const patchDeployments = (namespace: string): Access => ({ verb: 'patch', group: 'apps', resource: 'deployments', namespace });
  if (i.mode === 'namespaced') {
    // Nowhere else: not in Gantry's own namespace, not in `default`, no namespace creation.
    await expectAll(release, [patchDeployments(i.namespace), patchDeployments('default'), { verb: 'create', group: '', resource: 'namespaces' }], false);
  } else {
    await expectAll(release, [patchDeployments('default'), { verb: 'create', group: '', resource: 'namespaces' }, { verb: 'get', group: '', resource: 'namespaces' }], true);
  }
  // The API and the build worker: nothing on the cluster.
  for (const c of ['api', 'build-worker'] as const) {
    await expectAll({ namespace: i.namespace, name: i.names[c] }, [patchDeployments(i.appNamespace), { verb: 'list', group: '', resource: 'pods', namespace: i.namespace }, ...denied(i.appNamespace)], false);
  }
}

const SCRAPE_KEYS = ['prometheus.io/scrape', 'prometheus.io/port', 'prometheus.io/path'];
const pick = (o: Record<string, string> | undefined, keys: string[]): Record<string, string> => Object.fromEntries(keys.filter((k) => o?.[k] !== undefined).map((k) => [k, o![k]!]));

/** No Secret is rendered, and no env var carries a literal credential: they come from Secret refs only. */
function expectNoInlineSecrets(objs: Obj[]): void {
  expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
  for (const d of objs.filter((o) => o.kind === 'Deployment')) {
    const spec = (d as unknown as { spec: { template: { spec: { containers: { env?: { name: string; value?: string }[]; envFrom?: { secretRef?: { optional?: boolean } }[] }[] } } } }).spec.template.spec;
    for (const ct of spec.containers) {
      // A *_FILE variable holds a path into a mounted Secret, never the credential itself.
      const isFilePath = (e: { name: string; value?: string }) => e.name.endsWith('_FILE') && /^\/etc\/gantry\/[a-z-]+\/[-._a-zA-Z0-9]+$/.test(e.value ?? '');
      const literal = (ct.env ?? []).filter((e) => e.value !== undefined && /TOKEN|SECRET|PASSWORD|API_KEY|PRIVATE_KEY/.test(e.name) && !isFilePath(e)).map((e) => e.name);
      expect({ d: d.metadata.name, literal }).toEqual({ d: d.metadata.name, literal: [] });
      // Every Secret it names is optional: a minimal install starts without any.
      for (const f of ct.envFrom ?? []) if (f.secretRef) expect(f.secretRef.optional).toBe(true);
    }
  }
}

type PodSpec = { containers: { name: string; env?: { name: string; value?: string }[]; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[]; volumes?: { name: string; secret?: { secretName: string; optional?: boolean; defaultMode?: number } }[] };
type Dep = { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };
const podOf = (objs: Obj[], name: string): PodSpec => (find(objs, 'Deployment', name) as unknown as Dep).spec.template.spec;
const envOf = (pod: PodSpec): Record<string, string | undefined> => Object.fromEntries((pod.containers[0]!.env ?? []).map((e) => [e.name, e.value]));

/** The file credentials: optional Secret volumes (0440), where they are mounted, and the variables that point into them. */
const FILE_SECRETS = {
  api: [{ volume: 'github-app', secret: 'github-app', mountPath: '/etc/gantry/github-app' }],
  'release-worker': [{ volume: 'github-app', secret: 'github-app', mountPath: '/etc/gantry/github-app' }, { volume: 'prometheus', secret: 'prometheus', mountPath: '/etc/gantry/prometheus' }],
  'build-worker': [{ volume: 'git', secret: 'git', mountPath: '/etc/gantry/git' }],
} as const;
const FILE_ENV = ['GANTRY_GIT_SSH_KEY_FILE', 'GANTRY_GIT_SSH_KNOWN_HOSTS_FILE', 'GANTRY_GIT_CA_FILE', 'GANTRY_GITHUB_APP_PRIVATE_KEY_FILE', 'GANTRY_PROMETHEUS_CA_FILE', 'GANTRY_PROMETHEUS_TOKEN_FILE', 'GANTRY_WORKER_DEPLOYMENT', 'GANTRY_BUILD_ID'];

/** Each component mounts exactly its file Secrets (optional, 0440, read-only), named <prefix>-<secret>. */
function expectFileSecretVolumes(objs: Obj[], prefix: string): void {
  const all = new Set<string>(Object.values(FILE_SECRETS).flatMap((l) => l.map((f) => f.volume)));
  for (const c of COMPONENTS) {
    const pod = podOf(objs, `${prefix}-${c}`);
    for (const f of FILE_SECRETS[c]) {
      expect({ c, v: pod.volumes?.find((v) => v.name === f.volume)?.secret }).toEqual({ c, v: { secretName: `${prefix}-${f.secret}`, optional: true, defaultMode: 0o440 } });
      expect({ c, m: pod.containers[0]!.volumeMounts?.find((m) => m.name === f.volume) }).toEqual({ c, m: { name: f.volume, mountPath: f.mountPath, readOnly: true } });
    }
    // Not elsewhere: the App's key never next to repository code, git's key never on the release worker.
    const mine = new Set<string>(FILE_SECRETS[c].map((f) => f.volume));
    expect({ c, others: (pod.volumes ?? []).map((v) => v.name).filter((n) => all.has(n) && !mine.has(n)) }).toEqual({ c, others: [] });
  }
}

describe('rendering: helm lint, helm template, kustomize', () => {
  it('helm lint --strict passes in both RBAC modes', async () => {
    for (const mode of ['namespaced', 'cluster']) {
      const set = { ...HELM_IMAGE, 'rbac.mode': mode, ...(mode === 'namespaced' ? { 'rbac.appNamespaces': '{shop,payments}' } : {}) };
      const r = await exec([tools.helm, 'lint', '--strict', chartDir, ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`])]);
      expect({ mode, code: r.code, out: r.stdout.includes('1 chart(s) linted, 0 chart(s) failed') }).toEqual({ mode, code: 0, out: true });
    }
  });

  it('helm template without image.repository fails, naming the value and why', async () => {
    const r = await helmTemplate('gantry', 'gantry', {});
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('image.repository is required: Gantry publishes no image');
    expect(r.stderr).toContain('--set image.repository=');
  });

  it('values.schema.json: a value of the wrong type, outside its enum or unknown fails helm template, naming it', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ 'api.replicas': 'two' }, "at '/api/replicas': got string, want integer"],
      [{ 'rbac.mode': 'everything' }, "at '/rbac/mode': value must be one of 'namespaced', 'cluster'"],
      [{ 'workerVersioning.enabled': 'yes' }, "at '/workerVersioning/enabled': got string, want boolean"],
      [{ 'logLevel': 'loud' }, "at '/logLevel': value must be one of 'trace', 'debug', 'info', 'warn', 'error'"],
      [{ 'releaseWorker.replica': '3' }, "at '/releaseWorker': additional properties 'replica' not allowed"],
      [{ 'buildWorker.git.caKey': 'a/b' }, "at '/buildWorker/git/caKey'"],
      [{ 'workerVersioning.deploymentName': 'gantry.prod' }, "at '/workerVersioning/deploymentName'"],
      [{ publicUrl: 'https://gantry.example.com/gantry' }, "at '/publicUrl'"],
    ];
    for (const [set, message] of cases) {
      const r = await helmTemplate('gantry', 'gantry', { ...HELM_IMAGE, ...set });
      expect({ set, code: r.code, schema: r.stderr.includes("values don't meet the specifications of the schema"), message: r.stderr.includes(message) ? message : r.stderr })
        .toEqual({ set, code: 1, schema: true, message });
    }
    // The shipped values and the README's install values pass it.
    expect((await helmTemplate('gantry', 'gantry', { ...HELM_IMAGE, 'temporal.address': 'temporal-frontend.temporal:7233', 'temporal.namespace': 'gantry', 'rbac.appNamespaces': '{shop}' })).code).toBe(0);
  });

  it('publicUrl: GANTRY_PUBLIC_URL in the shared ConfigMap every Deployment (API and both workers) takes its env from; unset, absent', async () => {
    type Pod = { spec: { template: { spec: { containers: { envFrom?: { configMapRef?: { name: string } }[] }[] } } } };
    const envFrom = (objs: Obj[]) => COMPONENTS.map((c) => (find(objs, 'Deployment', `gantry-${c}`) as unknown as Pod).spec.template.spec.containers[0]!.envFrom?.some((e) => e.configMapRef?.name === 'gantry-env'));
    const set = parseObjects((await helmTemplate('gantry', 'gantry', { ...HELM_IMAGE, publicUrl: 'https://gantry.example.com/' })).stdout);
    expect((find(set, 'ConfigMap', 'gantry-env').data as Record<string, string>).GANTRY_PUBLIC_URL).toBe('https://gantry.example.com');
    expect(envFrom(set)).toEqual([true, true, true]);
    const unset = parseObjects((await helmTemplate('gantry', 'gantry', HELM_IMAGE)).stdout);
    expect(find(unset, 'ConfigMap', 'gantry-env').data).not.toHaveProperty('GANTRY_PUBLIC_URL');
    expect(find(await kustomize('namespaced', { gantry: IMAGE, buildWorker: BUILD_IMAGE }), 'ConfigMap', 'gantry-env').data).not.toHaveProperty('GANTRY_PUBLIC_URL');
  });

  it('helm template refuses half-set file credentials, naming the values', async () => {
    const ssh = await helmTemplate('gantry', 'gantry', { ...HELM_IMAGE, 'buildWorker.git.sshKeyKey': 'ssh-privatekey' });
    expect(ssh.code).not.toBe(0);
    expect(ssh.stderr).toContain('buildWorker.git.sshKeyKey and buildWorker.git.knownHostsKey: set both or neither');
    const prom = await helmTemplate('gantry', 'gantry', { ...HELM_IMAGE, 'releaseWorker.prometheus.caKey': 'ca.crt' });
    expect(prom.code).not.toBe(0);
    expect(prom.stderr).toContain('releaseWorker.prometheus.caKey/tokenKey are set, but releaseWorker.prometheusUrl is not');
  });

  it('the chart and kustomize ship the same RBAC rules as deploy/rbac, and the same pods (no drift)', async () => {
    for (const mode of ['namespaced', 'cluster'] as const) {
      const k = await kustomize(mode, { gantry: IMAGE, buildWorker: BUILD_IMAGE });
      const h = (await must([tools.helm, 'template', 'gantry', chartDir, '--namespace', 'gantry', '--set', 'image.repository=registry.example.com/gantry', '--set', 'image.tag=0.1.0',
        '--set', `rbac.mode=${mode}`, ...(mode === 'namespaced' ? ['--set', `rbac.appNamespaces={${SHIPPED_APP_NAMESPACE}}`] : [])]));
      const hObjs = parseObjects(h);
      const roleKind = mode === 'namespaced' ? 'Role' : 'ClusterRole';
      const rulesOf = (objs: Obj[]) => (find(objs, roleKind, 'gantry-release-worker') as unknown as { rules: V1PolicyRule[] }).rules;
      expect(rulesOf(k)).toEqual(shippedRules(mode));
      expect(rulesOf(hObjs)).toEqual(shippedRules(mode));
      const bindingKind = mode === 'namespaced' ? 'RoleBinding' : 'ClusterRoleBinding';
      for (const objs of [k, hObjs]) {
        expect(find(objs, bindingKind, 'gantry-release-worker')).toMatchObject({ subjects: [{ kind: 'ServiceAccount', name: 'gantry-release-worker', namespace: 'gantry' }] });
        if (mode === 'namespaced') expect(find(objs, 'Role', 'gantry-release-worker').metadata.namespace).toBe(SHIPPED_APP_NAMESPACE);
        expectNoInlineSecrets(objs);
      }
      // Same kinds and names of objects (the chart adds no Namespace: helm --create-namespace or the README's command).
      const ids = (objs: Obj[]) => objs.filter((o) => o.kind !== 'Namespace').map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
      expect(ids(hObjs)).toEqual(ids(k));
      // The same pods, the same Deployment strategy and size, the same settings and Service.
      for (const c of COMPONENTS) {
        const kd = find(k, 'Deployment', `gantry-${c}`) as unknown as { spec: { replicas: number; strategy?: unknown; template: { spec: unknown } } };
        const hd = find(hObjs, 'Deployment', `gantry-${c}`) as unknown as typeof kd;
        // The chart's selectors also carry app.kubernetes.io/instance (one install per release).
        const hPod = structuredClone(hd.spec.template.spec) as { topologySpreadConstraints?: { labelSelector: { matchLabels: Record<string, string> } }[] };
        for (const t of hPod.topologySpreadConstraints ?? []) delete t.labelSelector.matchLabels['app.kubernetes.io/instance'];
        expect({ c, replicas: hd.spec.replicas, strategy: hd.spec.strategy, pod: hPod }).toEqual({ c, replicas: kd.spec.replicas, strategy: kd.spec.strategy, pod: kd.spec.template.spec });
        expect((find(hObjs, 'PodDisruptionBudget', `gantry-${c}`).spec as { maxUnavailable: number }).maxUnavailable).toBe(1);
        expect(find(hObjs, 'ServiceAccount', `gantry-${c}`).automountServiceAccountToken).toBe(find(k, 'ServiceAccount', `gantry-${c}`).automountServiceAccountToken);
      }
      expect(find(hObjs, 'ConfigMap', 'gantry-env').data).toEqual(find(k, 'ConfigMap', 'gantry-env').data);
      const serverYaml = (objs: Obj[]) => parseYaml((find(objs, 'ConfigMap', 'gantry-server-config').data as Record<string, string>)['server.yaml']!) as unknown;
      expect(serverYaml(hObjs)).toEqual(serverYaml(k));
      expect((find(hObjs, 'Service', 'gantry-api').spec as { ports: unknown }).ports).toEqual((find(k, 'Service', 'gantry-api').spec as { ports: unknown }).ports);
      // The same scrape annotations on the pods, and the same metrics Services (the chart's selectors add the instance).
      for (const c of COMPONENTS) {
        const annotations = (objs: Obj[]) => pick((find(objs, 'Deployment', `gantry-${c}`) as unknown as { spec: { template: { metadata: { annotations?: Record<string, string> } } } }).spec.template.metadata.annotations, SCRAPE_KEYS);
        expect({ c, a: annotations(hObjs) }).toEqual({ c, a: annotations(k) });
        expect(Object.keys(annotations(k))).toHaveLength(3);
      }
      for (const name of ['gantry-api', 'gantry-release-worker-metrics', 'gantry-build-worker-metrics']) {
        const svc = (objs: Obj[]) => {
          const o = find(objs, 'Service', name) as unknown as { metadata: { labels: Record<string, string> }; spec: { selector: Record<string, string> } };
          const selector = { ...o.spec.selector };
          delete selector['app.kubernetes.io/instance'];
          return { spec: { ...o.spec, selector }, metricsLabel: o.metadata.labels['gantry.dev/metrics'] };
        };
        expect({ name, svc: svc(hObjs) }).toEqual({ name, svc: svc(k) });
        expect(svc(k).metricsLabel).toBe('true');
      }
      // kustomize's Namespace enforces the restricted Pod Security profile.
      expect(find(k, 'Namespace', 'gantry').metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    }
  });

  it('file credentials: both renderers mount the same optional Secret volumes; helm points the variables into them only when keys are named', async () => {
    const k = await kustomize('namespaced', { gantry: IMAGE, buildWorker: BUILD_IMAGE });
    const hDefault = parseObjects(await must([tools.helm, 'template', 'gantry', chartDir, '--namespace', 'gantry', '--set', 'image.repository=registry.example.com/gantry', '--set', 'image.tag=0.1.0']));
    for (const objs of [k, hDefault]) {
      expectFileSecretVolumes(objs, 'gantry');
      // Without keys, no variable names a file that may not exist (the worker would refuse to start).
      for (const c of COMPONENTS) expect({ c, set: FILE_ENV.filter((n) => n in envOf(podOf(objs, `gantry-${c}`))) }).toEqual({ c, set: [] });
    }
    const r = await helmTemplate('gantry', 'gantry', {
      ...HELM_IMAGE, 'buildWorker.git.sshKeyKey': 'ssh-privatekey', 'buildWorker.git.knownHostsKey': 'known_hosts', 'buildWorker.git.caKey': 'ca.crt',
      'githubApp.privateKeyKey': 'private-key.pem', 'releaseWorker.prometheusUrl': 'https://prometheus.monitoring:9090',
      'releaseWorker.prometheus.caKey': 'ca.crt', 'releaseWorker.prometheus.tokenKey': 'token',
      'buildWorker.git.secretName': 'deploy-key', 'githubApp.secretName': 'gh-app', 'releaseWorker.prometheus.secretName': 'prom',
    });
    expect(r.code).toBe(0);
    const objs = parseObjects(r.stdout);
    const files = (c: (typeof COMPONENTS)[number]) => Object.fromEntries(Object.entries(envOf(podOf(objs, `gantry-${c}`))).filter(([n]) => FILE_ENV.includes(n)));
    expect(files('build-worker')).toEqual({ GANTRY_GIT_SSH_KEY_FILE: '/etc/gantry/git/ssh-privatekey', GANTRY_GIT_SSH_KNOWN_HOSTS_FILE: '/etc/gantry/git/known_hosts', GANTRY_GIT_CA_FILE: '/etc/gantry/git/ca.crt' });
    expect(files('release-worker')).toEqual({ GANTRY_GITHUB_APP_PRIVATE_KEY_FILE: '/etc/gantry/github-app/private-key.pem', GANTRY_PROMETHEUS_CA_FILE: '/etc/gantry/prometheus/ca.crt', GANTRY_PROMETHEUS_TOKEN_FILE: '/etc/gantry/prometheus/token' });
    expect(files('api')).toEqual({ GANTRY_GITHUB_APP_PRIVATE_KEY_FILE: '/etc/gantry/github-app/private-key.pem' });
    // Each file variable points into a read-only mount of the Secret it names.
    const secretOf = { git: 'deploy-key', 'github-app': 'gh-app', prometheus: 'prom' } as Record<string, string>;
    for (const c of COMPONENTS) {
      const pod = podOf(objs, `gantry-${c}`);
      for (const [name, value] of Object.entries(files(c))) {
        const mount = pod.containers[0]!.volumeMounts!.find((m) => path.dirname(value ?? '') === m.mountPath);
        const volume = pod.volumes!.find((v) => v.name === mount?.name);
        expect({ name, readOnly: mount?.readOnly, secret: volume?.secret }).toEqual({ name, readOnly: true, secret: { secretName: secretOf[mount!.name], optional: true, defaultMode: 0o440 } });
      }
    }
  });

  it('metrics: helm metrics.enabled/port drive the workers\' GANTRY_METRICS_ADDR, port `metrics`, annotations and Services (off: none of them); the health port stays apart', async () => {
    type Pod = { metadata: { annotations?: Record<string, string> }; spec: { containers: { ports?: { name: string; containerPort: number }[]; env?: { name: string; value?: string }[]; livenessProbe?: { httpGet?: { port: string } } }[] } };
    const podTemplate = (objs: Obj[], c: string) => (find(objs, 'Deployment', `gantry-${c}`) as unknown as { spec: { template: Pod } }).spec.template;
    const summary = (objs: Obj[]) => Object.fromEntries(COMPONENTS.map((c) => {
      const t = podTemplate(objs, c);
      const ct = t.spec.containers[0]!;
      const env = Object.fromEntries((ct.env ?? []).map((e) => [e.name, e.value]));
      return [c, { ports: Object.fromEntries((ct.ports ?? []).map((p) => [p.name, p.containerPort])), metricsAddr: env.GANTRY_METRICS_ADDR, healthAddr: env.GANTRY_HEALTH_ADDR, probe: ct.livenessProbe?.httpGet?.port, annotations: pick(t.metadata.annotations, SCRAPE_KEYS) }];
    }));
    const services = (objs: Obj[]) => objs.filter((o) => o.kind === 'Service').map((o) => o.metadata.name).sort();
    const scrape = (port: number) => ({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' });
    const worker = (port: number) => ({ ports: { health: 9090, metrics: port }, metricsAddr: `0.0.0.0:${port}`, healthAddr: '0.0.0.0:9090', probe: 'health', annotations: scrape(port) });
    const api = { ports: { http: 8080 }, metricsAddr: undefined, healthAddr: undefined, probe: 'http', annotations: scrape(8080) };
    const k = await kustomize('namespaced', { gantry: IMAGE, buildWorker: BUILD_IMAGE });
    const hDefault = parseObjects((await helmTemplate('gantry', 'gantry', HELM_IMAGE)).stdout);
    for (const objs of [k, hDefault]) {
      expect(summary(objs)).toEqual({ api, 'release-worker': worker(9464), 'build-worker': worker(9464) });
      expect(services(objs)).toEqual(['gantry-api', 'gantry-build-worker-metrics', 'gantry-release-worker-metrics']);
    }
    const moved = parseObjects((await helmTemplate('gantry', 'gantry', { ...HELM_IMAGE, 'metrics.port': '9500' })).stdout);
    expect(summary(moved)).toEqual({ api, 'release-worker': worker(9500), 'build-worker': worker(9500) });
    expect((find(moved, 'Service', 'gantry-build-worker-metrics').spec as { ports: unknown }).ports).toEqual([{ name: 'metrics', port: 9500, targetPort: 'metrics', protocol: 'TCP' }]);
    const off = parseObjects((await helmTemplate('gantry', 'gantry', { ...HELM_IMAGE, 'metrics.enabled': 'false' })).stdout);
    const bare = { metricsAddr: undefined, healthAddr: '0.0.0.0:9090', probe: 'health', annotations: {}, ports: { health: 9090 } };
    expect(summary(off)).toEqual({ api: { ...api, annotations: {} }, 'release-worker': bare, 'build-worker': bare });
    expect(services(off)).toEqual(['gantry-api']);
    expect(find(off, 'Service', 'gantry-api').metadata.labels).not.toHaveProperty('gantry.dev/metrics');
    // The schema refuses the health port as the metrics port, and a non-number.
    for (const [set, message] of [[{ 'metrics.port': '9090' }, "at '/metrics/port'"], [{ 'metrics.port': 'x' }, "at '/metrics/port': got string, want integer"]] as const) {
      const r = await helmTemplate('gantry', 'gantry', { ...HELM_IMAGE, ...set });
      expect({ set, code: r.code, message: r.stderr.includes(message) ? message : r.stderr }).toEqual({ set, code: 1, message });
    }
  });

  // Rendered and checked here, never applied: its CRD (monitoring.coreos.com/v1, the Prometheus
  // Operator's) is not installed on the test bed's API server, so it cannot be created there.
  it('metrics.serviceMonitor: off by default; on, a ServiceMonitor selecting exactly the release\'s scraped Services, on their ports, in its namespace', async () => {
    const release = 'gantry-sm';
    const plain = parseObjects((await helmTemplate(release, 'monitoring-test', HELM_IMAGE)).stdout);
    expect(plain.filter((o) => o.kind === 'ServiceMonitor')).toEqual([]);
    const r = await helmTemplate(release, 'monitoring-test', { ...HELM_IMAGE, 'metrics.serviceMonitor.enabled': 'true', 'metrics.serviceMonitor.interval': '15s', 'metrics.serviceMonitor.labels.release': 'kube-prometheus-stack' });
    expect(r.code).toBe(0);
    const objs = parseObjects(r.stdout);
    const sm = find(objs, 'ServiceMonitor', release) as unknown as { apiVersion: string; metadata: { namespace: string; labels: Record<string, string> }; spec: { namespaceSelector: { matchNames: string[] }; selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string; interval: string }[] } };
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata.namespace).toBe('monitoring-test');
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: ['monitoring-test'] });
    // Its selector, evaluated on the rendered Services' labels: the API's and the two workers' metrics Services, no other.
    const svcs = objs.filter((o) => o.kind === 'Service') as unknown as { metadata: { name: string; labels: Record<string, string> }; spec: { ports: { name: string; targetPort: string }[]; selector: Record<string, string> } }[];
    const selected = svcs.filter((o) => Object.entries(sm.spec.selector.matchLabels).every(([key, v]) => o.metadata.labels[key] === v));
    expect(selected.map((o) => o.metadata.name).sort()).toEqual([`${release}-api`, `${release}-build-worker-metrics`, `${release}-release-worker-metrics`]);
    expect(sm.spec.selector.matchLabels['app.kubernetes.io/instance']).toBe(release);
    // Each selected Service is scraped on exactly one endpoint, whose port targets the pods' metrics port (annotated on the pods).
    expect(sm.spec.endpoints.map((e) => ({ port: e.port, path: e.path, interval: e.interval }))).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }, { port: 'http', path: '/metrics', interval: '15s' }]);
    for (const svc of selected) {
      const matched = sm.spec.endpoints.filter((e) => svc.spec.ports.some((p) => p.name === e.port));
      expect({ svc: svc.metadata.name, matched: matched.length }).toEqual({ svc: svc.metadata.name, matched: 1 });
      const port = svc.spec.ports.find((p) => p.name === matched[0]!.port)!;
      const dep = objs.find((o) => o.kind === 'Deployment' && Object.entries(svc.spec.selector).every(([key, v]) => (o as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template.metadata.labels[key] === v)) as unknown as { spec: { template: { metadata: { annotations: Record<string, string> }; spec: { containers: { ports: { name: string; containerPort: number }[] }[] } } } };
      const containerPort = dep.spec.template.spec.containers[0]!.ports.find((p) => p.name === port.targetPort)!.containerPort;
      expect({ svc: svc.metadata.name, annotated: dep.spec.template.metadata.annotations['prometheus.io/port'] }).toEqual({ svc: svc.metadata.name, annotated: String(containerPort) });
    }
    // It needs the workers' metrics Services.
    const bad = await helmTemplate(release, 'monitoring-test', { ...HELM_IMAGE, 'metrics.enabled': 'false', 'metrics.serviceMonitor.enabled': 'true' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('metrics.serviceMonitor.enabled needs metrics.enabled=true');
    const lint = await exec([tools.helm, 'lint', '--strict', chartDir, '--set', 'image.repository=registry.example.com/gantry', '--set', 'metrics.serviceMonitor.enabled=true']);
    expect(lint.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it("the README's kustomize install renders the namespaced overlay, with its images, app namespace and Temporal address", async () => {
    const readme = await renderReadmeKustomization();
    const overlay = relocate(await kustomize('namespaced', { gantry: IMAGE, buildWorker: BUILD_IMAGE }), { namespace: 'gantry', appNamespace: 'shop', clusterSuffix: '' });
    const env = find(readme, 'ConfigMap', 'gantry-env');
    expect(env.data).toEqual({ ...(find(overlay, 'ConfigMap', 'gantry-env').data as Record<string, string>), TEMPORAL_ADDRESS: 'temporal-frontend.temporal:7233', TEMPORAL_NAMESPACE: 'gantry' });
    const rest = (objs: Obj[]) => objs.filter((o) => !(o.kind === 'ConfigMap' && o.metadata.name === 'gantry-env'));
    expect(rest(readme)).toEqual(rest(overlay));
    expect(find(readme, 'Role', 'gantry-release-worker', 'shop')).toMatchObject({ rules: shippedRules('namespaced') });
    // Its patch for the file variables sets them on the build worker, pointing into the mounted gantry-git.
    const patched = await renderReadmeKustomization(readmeFileEnvPatch());
    const pod = podOf(patched, 'gantry-build-worker');
    expect(envOf(pod)).toMatchObject({ GANTRY_GIT_SSH_KEY_FILE: '/etc/gantry/git/ssh-privatekey', GANTRY_GIT_SSH_KNOWN_HOSTS_FILE: '/etc/gantry/git/known_hosts', GANTRY_WORKER_ROLE: 'build' });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({ name: 'git', mountPath: '/etc/gantry/git', readOnly: true });
    expect(podOf(patched, 'gantry-release-worker')).toEqual(podOf(readme, 'gantry-release-worker'));
  });
});

describe('install on the test bed kube-apiserver (server-side apply, fresh namespaces)', () => {
  it('kustomize, namespaced mode: applied, every Deployment Available, tokens, security, PDBs, RBAC', async () => {
    const id = rand();
    const namespace = `gantry-k-${id}`;
    const appNamespace = `app-k-${id}`;
    await createNamespace(appNamespace, false);
    const objs = relocate(await kustomize('namespaced', { gantry: IMAGE, buildWorker: BUILD_IMAGE }), { namespace, appNamespace, clusterSuffix: `-${id}` });
    cleanups.push(() => kc.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace }));
    const out = await serverSideApply(kubeconfig, objs, FIELD_MANAGER);
    expect(out).toContain(`namespace/${namespace} serverside-applied`);
    expect(out).toContain('role.rbac.authorization.k8s.io/gantry-release-worker serverside-applied');
    // The Namespace came from the overlay, with its Pod Security label; enforcement is on in this API
    // server (a root pod is refused there), so the Gantry pods passed the restricted profile.
    const ns = await kc.makeApiClient(CoreV1Api).readNamespace({ name: namespace });
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const root = await exec([tools.kubectl, '--kubeconfig', kubeconfig, '-n', namespace, 'run', 'root-probe', '--image=registry.example.com/x:1', '--restart=Never', '--dry-run=server', '--overrides={"spec":{"securityContext":{"runAsUser":0}}}']);
    expect(root.code).not.toBe(0);
    expect(root.stderr).toMatch(/violates PodSecurity "restricted/);
    // Re-applying the same objects changes nothing (idempotent install).
    expect(await serverSideApply(kubeconfig, objs, FIELD_MANAGER)).toContain('gantry-api serverside-applied');
    await checkInstall({ namespace, appNamespace, mode: 'namespaced', names: { api: 'gantry-api', 'release-worker': 'gantry-release-worker', 'build-worker': 'gantry-build-worker' } });
  });

  it('kustomize, cluster mode: ClusterRole bound to the release worker, any namespace', async () => {
    const id = rand();
    const namespace = `gantry-kc-${id}`;
    const appNamespace = `app-kc-${id}`;
    await createNamespace(appNamespace, false);
    const objs = relocate(await kustomize('cluster', { gantry: IMAGE, buildWorker: BUILD_IMAGE }), { namespace, clusterSuffix: `-${id}` });
    cleanups.push(deleteClusterObjects({ roles: [`gantry-release-worker-${id}`], bindings: [`gantry-release-worker-${id}`] }));
    cleanups.push(() => kc.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace }));
    const out = await serverSideApply(kubeconfig, objs, FIELD_MANAGER);
    expect(out).toContain(`clusterrolebinding.rbac.authorization.k8s.io/gantry-release-worker-${id} serverside-applied`);
    await checkInstall({ namespace, appNamespace, mode: 'cluster', names: { api: 'gantry-api', 'release-worker': 'gantry-release-worker', 'build-worker': 'gantry-build-worker' } });
  });

  it('helm, namespaced mode (two app namespaces): applied, every Deployment Available, tokens, security, PDBs, RBAC', async () => {
    const id = rand();
    const release = `gantry-h${id}`;
    const namespace = `gantry-h-${id}`;
    const [app1, app2] = [`app-h1-${id}`, `app-h2-${id}`];
    await createNamespace(namespace, true);
    await createNamespace(app1, false);
    await createNamespace(app2, false);
    const r = await helmTemplate(release, namespace, { ...HELM_IMAGE, 'rbac.appNamespaces': `{${app1},${app2}}` });
    expect(r.code).toBe(0);
    const objs = parseObjects(r.stdout);
    await serverSideApply(kubeconfig, objs, FIELD_MANAGER);
    const names = { api: `${release}-api`, 'release-worker': `${release}-release-worker`, 'build-worker': `${release}-build-worker` };
    await checkInstall({ namespace, appNamespace: app1, mode: 'namespaced', names });
    // The second application namespace got its Role too.
    expect(await allowed(kc, { namespace, name: names['release-worker'] }, { verb: 'patch', group: 'apps', resource: 'deployments', namespace: app2 })).toBe(true);
  });

  it('helm with every optional value set (TLS, API key Secret, Prometheus CA and token files, BuildKit TLS, git and GitHub App files, extraEnv, pull secrets, scheduling): valid for the API server (server-side dry run)', async () => {
    const id = rand();
    const namespace = `gantry-hv-${id}`;
    await createNamespace(namespace, true);
    const r = await helmTemplate(`gantry-hv${id}`, namespace, {
      ...HELM_IMAGE, 'rbac.appNamespaces': `{${namespace}}`, 'temporal.secretName': 'my-temporal',
      'temporal.tls.enabled': 'true', 'temporal.tls.serverName': 'temporal.example.com', 'temporal.tls.caCertKey': 'ca.crt', 'temporal.tls.clientCertKey': 'tls.crt', 'temporal.tls.clientKeyKey': 'tls.key',
      'releaseWorker.prometheusUrl': 'https://prometheus.monitoring:9090', 'buildWorker.buildkitTlsSecret': 'buildkit-client', 'buildWorker.registryAuthSecret': 'regcred',
      'releaseWorker.prometheus.caKey': 'ca.crt', 'releaseWorker.prometheus.tokenKey': 'token', 'githubApp.privateKeyKey': 'private-key.pem',
      'buildWorker.git.sshKeyKey': 'ssh-privatekey', 'buildWorker.git.knownHostsKey': 'known_hosts', 'buildWorker.git.caKey': 'ca.crt',
      'buildWorker.image.repository': 'registry.example.com/gantry-build', 'buildWorker.image.digest': `sha256:${'a'.repeat(64)}`,
      'api.publicIndex': 'true', 'api.extraEnv[0].name': 'GANTRY_DRAIN_GRACE', 'api.extraEnv[0].value': '10s', 'imagePullSecrets[0].name': 'regcred',
      'buildWorker.nodeSelector.pool': 'builds', 'buildWorker.tolerations[0].key': 'builds', 'buildWorker.tolerations[0].operator': 'Exists',
      publicUrl: 'https://gantry.example.com',
    });
    expect(r.code).toBe(0);
    const objs = parseObjects(r.stdout);
    const env = find(objs, 'ConfigMap', `gantry-hv${id}-env`).data as Record<string, string>;
    expect(env).toMatchObject({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_SERVER_NAME: 'temporal.example.com', TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/etc/gantry/temporal-tls/ca.crt', TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/gantry/temporal-tls/tls.crt', TEMPORAL_TLS_CLIENT_KEY_PATH: '/etc/gantry/temporal-tls/tls.key', GANTRY_PUBLIC_URL: 'https://gantry.example.com' });
    const build = find(objs, 'Deployment', `gantry-hv${id}-build-worker`) as unknown as { spec: { template: { spec: { containers: { image: string; env: { name: string; value: string }[] }[] } } } };
    expect(build.spec.template.spec.containers[0]!.image).toBe(`registry.example.com/gantry-build@sha256:${'a'.repeat(64)}`);
    expect(build.spec.template.spec.containers[0]!.env).toContainEqual({ name: 'GANTRY_BUILDKIT_TLS_DIR', value: '/etc/gantry/buildkit-tls' });
    expectNoInlineSecrets(objs);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-dry-'));
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'objects.yaml'), r.stdout);
    const out = await must([tools.kubectl, '--kubeconfig', kubeconfig, 'apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--validate=strict', '--dry-run=server', '-f', path.join(dir, 'objects.yaml')]);
    expect(out).toContain(`deployment.apps/gantry-hv${id}-build-worker serverside-applied (server dry run)`);
  });

  it('helm, cluster mode: ClusterRole bound to the release worker', async () => {
    const id = rand();
    const release = `gantry-hc${id}`;
    const namespace = `gantry-hc-${id}`;
    const appNamespace = `app-hc-${id}`;
    await createNamespace(namespace, true);
    await createNamespace(appNamespace, false);
    cleanups.push(deleteClusterObjects({ roles: [`${release}-release-worker`], bindings: [`${release}-release-worker`] }));
    const r = await helmTemplate(release, namespace, { ...HELM_IMAGE, 'rbac.mode': 'cluster' });
    expect(r.code).toBe(0);
    await serverSideApply(kubeconfig, parseObjects(r.stdout), FIELD_MANAGER);
    await checkInstall({ namespace, appNamespace, mode: 'cluster', names: { api: `${release}-api`, 'release-worker': `${release}-release-worker`, 'build-worker': `${release}-build-worker` } });
  });
});

describe('Worker Versioning: the new version\'s workers run beside the old ones', () => {
  const WORKERS = ['release-worker', 'build-worker'] as const;

  /**
   * Each Deployment's own pods (its selector): as many as its replicas, all of its image. Polled: a
   * Deployment that rolled (the API, whose image changed too) reports Available while the old
   * ReplicaSet's last pod may still be being removed.
   */
  async function expectOwnPods(namespace: string, names: string[]): Promise<void> {
    const deployments = await waitAvailable(kc, namespace, names);
    const core = kc.makeApiClient(CoreV1Api);
    const deadline = Date.now() + 60_000;
    for (const d of deployments) {
      const labelSelector = Object.entries(d.spec!.selector.matchLabels!).map(([k, v]) => `${k}=${v}`).join(',');
      const want = { d: d.metadata!.name, pods: d.spec!.replicas, images: [d.spec!.template.spec!.containers[0]!.image] };
      for (;;) {
        const pods = (await core.listNamespacedPod({ namespace, labelSelector })).items.filter((p) => !p.metadata?.deletionTimestamp);
        const got = { d: d.metadata!.name, pods: pods.length, images: [...new Set(pods.map((p) => p.spec!.containers[0]!.image))] };
        if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > deadline) {
          expect(got).toEqual(want);
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  it('kustomize example (deploy/kustomize/examples/worker-versioning): 0.1.0 and 0.2.0 applied one after the other both run, each on its own pods', async () => {
    const example = fs.readFileSync(path.join(deployDir, 'kustomize', 'examples', 'worker-versioning', 'kustomization.yaml'), 'utf8');
    // As the example says: replace every 0.1.0 (a copy next to a link to the overlays, so its relative path resolves).
    const render = async (version: string): Promise<Obj[]> => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-wv-'));
      try {
        fs.symlinkSync(path.join(deployDir, 'kustomize', 'overlays'), path.join(dir, 'overlays'));
        fs.mkdirSync(path.join(dir, 'examples', 'v'), { recursive: true });
        fs.writeFileSync(path.join(dir, 'examples', 'v', 'kustomization.yaml'), example.replaceAll('0.1.0', version).replaceAll('0-1-0', version.replaceAll('.', '-')));
        return parseObjects(await must([tools.kubectl, 'kustomize', path.join(dir, 'examples', 'v')]));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    };
    const v1 = await render('0.1.0');
    const v2 = await render('0.2.0');
    for (const [objs, version] of [[v1, '0.1.0'], [v2, '0.2.0']] as const) {
      for (const w of WORKERS) {
        const d = find(objs, 'Deployment', `gantry-${w}-${version.replaceAll('.', '-')}`) as unknown as Dep;
        expect(d.spec.selector.matchLabels['gantry.dev/build-id']).toBe(version);
        expect(d.spec.template.metadata.labels['gantry.dev/build-id']).toBe(version);
        expect(envOf(d.spec.template.spec)).toMatchObject({ GANTRY_WORKER_DEPLOYMENT: 'gantry', GANTRY_BUILD_ID: version });
        expect((d.spec.template.spec.containers[0] as unknown as { image: string }).image).toBe(`registry.example.com/gantry:${version}${w === 'build-worker' ? '-build-worker' : ''}`);
        expect(() => find(objs, 'Deployment', `gantry-${w}`)).toThrow();
      }
      expect(envOf(podOf(objs, 'gantry-api'))).not.toHaveProperty('GANTRY_BUILD_ID');
    }
    const id = rand();
    const namespace = `gantry-kv-${id}`;
    const appNamespace = `app-kv-${id}`;
    await createNamespace(appNamespace, false);
    cleanups.push(() => kc.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace }));
    const moved = (objs: Obj[]) => relocate(objs, { namespace, appNamespace, clusterSuffix: `-${id}` });
    await serverSideApply(kubeconfig, moved(v1), FIELD_MANAGER);
    await serverSideApply(kubeconfig, moved(v2), FIELD_MANAGER);
    await expectOwnPods(namespace, ['gantry-api', ...WORKERS.flatMap((w) => [`gantry-${w}-0-1-0`, `gantry-${w}-0-2-0`])]);
  });

  it('helm install, then helm upgrade to a new tag: the old version\'s Deployments are kept beside the new ones; the README\'s delete command removes only them', async () => {
    const id = rand();
    const release = `gantry-wv${id}`;
    const namespace = `gantry-wv-${id}`;
    const appNamespace = `app-wv-${id}`;
    await createNamespace(namespace, true);
    await createNamespace(appNamespace, false);
    const helm = (verb: 'install' | 'upgrade', tag: string) => must([tools.helm, verb, release, chartDir, '--kubeconfig', kubeconfig, '--namespace', namespace,
      '--set', 'image.repository=registry.example.com/gantry', '--set', `image.tag=${tag}`, '--set', 'workerVersioning.enabled=true', '--set', `rbac.appNamespaces={${appNamespace}}`], { timeoutMs: 180_000 });
    cleanups.push(() => exec([tools.helm, 'uninstall', release, '--kubeconfig', kubeconfig, '--namespace', namespace]));
    // The build key, computed here independently of the chart: the id in lower case with runs of other characters as '-', and 6 hex of its sha256.
    const key = (buildId: string) => `${buildId.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 20).replace(/^-+|-+$/g, '')}-${crypto.createHash('sha256').update(buildId).digest('hex').slice(0, 6)}`;
    const names = (tag: string) => WORKERS.map((w) => `${release}-${w}-${key(tag)}`);
    await helm('install', '0.1.0');
    await expectOwnPods(namespace, [`${release}-api`, ...names('0.1.0')]);
    await helm('upgrade', '0.2.0');
    await expectOwnPods(namespace, [`${release}-api`, ...names('0.1.0'), ...names('0.2.0')]);
    // Each worker's metrics Service (no build id in its selector) lists both versions' pods: both are scraped while the old one drains.
    for (const w of WORKERS) expect({ w, pods: (await waitServiceEndpoints(kc, namespace, `${release}-${w}-metrics`, { name: 'metrics', port: 9464 })).length }).toEqual({ w, pods: 4 });
    const apps = kc.makeApiClient(AppsV1Api);
    for (const [tag, list] of [['0.1.0', names('0.1.0')], ['0.2.0', names('0.2.0')]] as const) {
      for (const name of list) {
        const d = await apps.readNamespacedDeployment({ namespace, name });
        const env = Object.fromEntries((d.spec!.template.spec!.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
        expect({ name, deployment: env.GANTRY_WORKER_DEPLOYMENT, buildId: env.GANTRY_BUILD_ID, label: d.spec!.selector.matchLabels!['gantry.dev/build-id'], keep: d.metadata!.annotations!['helm.sh/resource-policy'] })
          .toEqual({ name, deployment: release, buildId: tag, label: key(tag), keep: 'keep' });
      }
    }
    // The release's manifest holds only the new version; the old one runs on, outside it.
    const manifest = await must([tools.helm, 'get', 'manifest', release, '--kubeconfig', kubeconfig, '--namespace', namespace]);
    expect(manifest).toContain(`name: ${names('0.2.0')[0]}`);
    expect(manifest).not.toContain(`name: ${names('0.1.0')[0]}`);
    // Once drained: the README's command deletes the old version's Deployments only.
    await must([tools.kubectl, '--kubeconfig', kubeconfig, '-n', namespace, 'delete', 'deployment', '-l', `app.kubernetes.io/instance=${release},gantry.dev/build-id=${key('0.1.0')}`]);
    const left = (await apps.listNamespacedDeployment({ namespace })).items.map((d) => d.metadata!.name!).sort();
    expect(left).toEqual([`${release}-api`, ...names('0.2.0')].sort());
  });
});
