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
// without image.repository fails naming the value.
//
// What this does NOT prove: kwok runs no containers. The pods are scheduled and marked Ready by kwok
// stages; the processes inside (image, probes answering, Temporal reachable) are not run here.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CoreV1Api, KubeConfig, PolicyV1Api, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { ensureTestbed } from '../k8s/support/testbed.js';
import { shippedRules } from '../k8s/rbac-support.js';
import {
  allowed, exec, find, helmTemplate, kustomize, must, parseObjects, relocate, renderReadmeKustomization, requireTools, serverSideApply, waitAvailable, chartDir,
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

/** No Secret is rendered, and no env var carries a literal credential: they come from Secret refs only. */
function expectNoInlineSecrets(objs: Obj[]): void {
  expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
  for (const d of objs.filter((o) => o.kind === 'Deployment')) {
    const spec = (d as unknown as { spec: { template: { spec: { containers: { env?: { name: string; value?: string }[]; envFrom?: { secretRef?: { optional?: boolean } }[] }[] } } } }).spec.template.spec;
    for (const ct of spec.containers) {
      const literal = (ct.env ?? []).filter((e) => e.value !== undefined && /TOKEN|SECRET|PASSWORD|API_KEY|PRIVATE_KEY/.test(e.name)).map((e) => e.name);
      expect({ d: d.metadata.name, literal }).toEqual({ d: d.metadata.name, literal: [] });
      // Every Secret it names is optional: a minimal install starts without any.
      for (const f of ct.envFrom ?? []) if (f.secretRef) expect(f.secretRef.optional).toBe(true);
    }
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
    // A wrong RBAC mode is named too.
    const bad = await helmTemplate('gantry', 'gantry', { ...HELM_IMAGE, 'rbac.mode': 'everything' });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('rbac.mode must be namespaced or cluster, got "everything"');
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
      // kustomize's Namespace enforces the restricted Pod Security profile.
      expect(find(k, 'Namespace', 'gantry').metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    }
  });

  it("the README's kustomize install renders the namespaced overlay, with its images, app namespace and Temporal address", async () => {
    const readme = await renderReadmeKustomization();
    const overlay = relocate(await kustomize('namespaced', { gantry: IMAGE, buildWorker: BUILD_IMAGE }), { namespace: 'gantry', appNamespace: 'shop', clusterSuffix: '' });
    const env = find(readme, 'ConfigMap', 'gantry-env');
    expect(env.data).toEqual({ ...(find(overlay, 'ConfigMap', 'gantry-env').data as Record<string, string>), TEMPORAL_ADDRESS: 'temporal-frontend.temporal:7233', TEMPORAL_NAMESPACE: 'gantry' });
    const rest = (objs: Obj[]) => objs.filter((o) => !(o.kind === 'ConfigMap' && o.metadata.name === 'gantry-env'));
    expect(rest(readme)).toEqual(rest(overlay));
    expect(find(readme, 'Role', 'gantry-release-worker', 'shop')).toMatchObject({ rules: shippedRules('namespaced') });
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

  it('helm with every optional value set (TLS, API key Secret, Prometheus, BuildKit TLS, extraEnv, pull secrets, scheduling): valid for the API server (server-side dry run)', async () => {
    const id = rand();
    const namespace = `gantry-hv-${id}`;
    await createNamespace(namespace, true);
    const r = await helmTemplate(`gantry-hv${id}`, namespace, {
      ...HELM_IMAGE, 'rbac.appNamespaces': `{${namespace}}`, 'temporal.secretName': 'my-temporal',
      'temporal.tls.enabled': 'true', 'temporal.tls.serverName': 'temporal.example.com', 'temporal.tls.caCertKey': 'ca.crt', 'temporal.tls.clientCertKey': 'tls.crt', 'temporal.tls.clientKeyKey': 'tls.key',
      'releaseWorker.prometheusUrl': 'http://prometheus.monitoring:9090', 'buildWorker.buildkitTlsSecret': 'buildkit-client', 'buildWorker.registryAuthSecret': 'regcred',
      'buildWorker.image.repository': 'registry.example.com/gantry-build', 'buildWorker.image.digest': `sha256:${'a'.repeat(64)}`,
      'api.publicIndex': 'true', 'api.extraEnv[0].name': 'GANTRY_DRAIN_GRACE', 'api.extraEnv[0].value': '10s', 'imagePullSecrets[0].name': 'regcred',
      'buildWorker.nodeSelector.pool': 'builds', 'buildWorker.tolerations[0].key': 'builds', 'buildWorker.tolerations[0].operator': 'Exists',
    });
    expect(r.code).toBe(0);
    const objs = parseObjects(r.stdout);
    const env = find(objs, 'ConfigMap', `gantry-hv${id}-env`).data as Record<string, string>;
    expect(env).toMatchObject({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_SERVER_NAME: 'temporal.example.com', TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/etc/gantry/temporal-tls/ca.crt', TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/gantry/temporal-tls/tls.crt', TEMPORAL_TLS_CLIENT_KEY_PATH: '/etc/gantry/temporal-tls/tls.key' });
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
