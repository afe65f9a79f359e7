// Least privilege, proven on the real API server (the test bed's kube-apiserver runs with
// --authorization-mode=Node,RBAC). The test bed's admin creates a ServiceAccount, binds exactly the
// rules shipped in deploy/rbac (namespace and subject substituted), and mints a token for it with the
// TokenRequest API. The release worker (the Kubernetes activities, on a real Temporal worker) then
// gets a kubeconfig holding nothing but that token and the test bed's CA, and runs the seed release,
// an abort with rollback, and the finalizes. A recording proxy notes every request it makes: the
// verbs used must be exactly the verbs granted. With one verb removed, the worker fails at once with
// a non-retryable Forbidden that names the verb, the resource and the namespace.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { call } from '../../activities/k8s/client.js';
import { createKubernetesActivities, KubeClients } from '../../activities/k8s/index.js';
import type { Revision } from '../../core/release.js';
import type { ApplyGroupRequest, Target } from '../../workflows/activity-types.js';
import { waitForStatus } from '../support/release-harness.js';
import {
  IMAGE, V1, V2, baseline, caller, digest, k8sConfig, podCounts, revisionOf, siteState, startK8sHarness, unique, type K8sHarness,
} from './support/harness.js';
import { ensureTestbed, type Testbed } from './support/testbed.js';
import {
  RecordingProxy, SHIPPED_SUBJECT, bindRbac, mintToken, permission, permissions, readRbac, shippedRules, tokenKubeconfig, without, type Grant,
} from './rbac-support.js';

// A real control plane on a shared 2-core machine: generous per-test time.
jest.setTimeout(300_000);

const V3: Revision = { image: IMAGE, digest: digest('3') };
const SA = SHIPPED_SUBJECT.name;

let tb: Testbed;
let admin: KubeConfig;
let adminClients: KubeClients;
const cleanups: (() => Promise<void>)[] = [];
const namespaces: string[] = [];

beforeAll(async () => {
  tb = await ensureTestbed();
  admin = new KubeConfig();
  admin.loadFromFile(tb.kubeconfig);
  adminClients = new KubeClients({ kubeconfig: tb.kubeconfig });
}, 900_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  for (const ns of namespaces) await adminClients.for().core.deleteNamespace({ name: ns }).catch(() => undefined);
});

async function createNamespace(name: string): Promise<void> {
  namespaces.push(name);
  await adminClients.for().core.createNamespace({ body: { metadata: { name } } });
}

/**
 * A namespace for "Gantry" with the release worker's ServiceAccount, the mode's shipped objects bound
 * to it, and a kubeconfig with only its token (pointing at `server`: the API server or the proxy).
 */
async function releaseWorkerIdentity(g: Omit<Grant, 'subject'>, server?: string): Promise<{ kubeconfig: string; user: string; direct: string }> {
  const home = unique('rbac-gantry');
  await createNamespace(home);
  await adminClients.for().core.createNamespacedServiceAccount({ namespace: home, body: { metadata: { name: SA } } });
  cleanups.push(await bindRbac(admin, { ...g, subject: { name: SA, namespace: home } }));
  const token = await mintToken(admin, { name: SA, namespace: home });
  return { kubeconfig: tokenKubeconfig(token, server), direct: tokenKubeconfig(token), user: `system:serviceaccount:${home}:${SA}` };
}

/** Who the API server says the kubeconfig is (SelfSubjectReview). */
async function whoAmI(kubeconfig: string): Promise<{ username?: string; groups?: string[] }> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const r = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
  return { ...(r.status?.userInfo?.username ? { username: r.status.userInfo.username } : {}), ...(r.status?.userInfo?.groups ? { groups: r.status.userInfo.groups } : {}) };
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

const applyReq = (t: Target): ApplyGroupRequest => ({
  releaseId: `release/${t.app}/production`, target: t, revision: V1, group: 0, canary: { 'zone-a': 1, 'zone-b': 1 }, deadlineMs: 60_000,
});

const twoCells = (app: string): Target => ({
  app, environment: 'production',
  cells: ['zone-a', 'zone-b'].map((z) => ({ name: z, namespace: app, replicas: 1, zone: z, drain: { grace: '0s' } })),
});

describe('the shipped RBAC (deploy/rbac)', () => {
  it('cluster mode is the namespaced Role plus namespace creation; no wildcards; the bindings name the shipped role and the documented ServiceAccount', () => {
    const ns = shippedRules('namespaced');
    const cl = shippedRules('cluster');
    for (const r of [...ns, ...cl]) {
      expect([...(r.apiGroups ?? []), ...(r.resources ?? []), ...r.verbs]).not.toContain('*');
      expect(r.resourceNames ?? []).toEqual([]);
    }
    expect(cl.slice(0, ns.length)).toEqual(ns);
    expect([...permissions(cl)].filter((p) => !permissions(ns).has(p)).sort())
      .toEqual(['create /namespaces', 'get /namespaces', 'get /serviceaccounts', 'patch /namespaces']);
    for (const mode of ['namespaced', 'cluster'] as const) {
      const objs = readRbac(mode);
      const role = objs.find((o) => o.kind === (mode === 'namespaced' ? 'Role' : 'ClusterRole'))!;
      const binding = objs.find((o) => o.kind === (mode === 'namespaced' ? 'RoleBinding' : 'ClusterRoleBinding'))!;
      expect(objs).toHaveLength(2);
      expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: role.kind, name: role.metadata!.name });
      expect(binding.subjects).toEqual([SHIPPED_SUBJECT]);
      // Namespaced objects carry no namespace: `kubectl apply -n <app-namespace>` places them.
      expect(role.metadata!.namespace).toBeUndefined();
      expect(binding.metadata!.namespace).toBeUndefined();
    }
  });
});

describe('namespaced mode: the Role and RoleBinding in the app namespace; the worker holds only the ServiceAccount\'s token', () => {
  let h: K8sHarness;
  let proxy: RecordingProxy;
  let identity: Awaited<ReturnType<typeof releaseWorkerIdentity>>;
  const app = unique('rbac');
  const manual = { type: 'manual' as const };
  // The seed: 10 pods over 2 zones in groups 1, 2, rest, weights through an HTTPRoute.
  const seed = k8sConfig(app, { traffic: { httpRoute: { name: app } } });
  const aborted = k8sConfig(app, { traffic: { httpRoute: { name: app } }, groups: [{ pods: 1 }, { pods: 2, confirm: manual }, { pods: 'rest' }] });

  beforeAll(async () => {
    await ensureTestbed();
    await createNamespace(app); // namespaced mode: the platform team creates the namespace
    proxy = await RecordingProxy.start();
    identity = await releaseWorkerIdentity({ mode: 'namespaced', namespace: app }, proxy.url);
    h = await startK8sHarness({ kubeconfig: identity.kubeconfig });
  }, 900_000);
  afterAll(async () => {
    await h?.close();
    await proxy?.close();
  });

  it('the token is the ServiceAccount\'s, not an admin: it may not read Secrets in the app namespace', async () => {
    const me = await whoAmI(identity.direct);
    expect(me.username).toBe(identity.user);
    expect(me.groups).not.toContain('system:masters');
    const kube = new KubeClients({ kubeconfig: identity.direct }).for();
    const f = await failure(call(`list Secrets in ${app}`, () => kube.core.listNamespacedSecret({ namespace: app })));
    expect(f.type).toBe('Forbidden');
    expect(f.message).toContain(`User "${identity.user}" may not list secrets in namespace "${app}"`);
  });

  it('the seed release (3 groups, HTTPRoute weights), each finalize, and an abort that rolls back: all with that token', async () => {
    const r1 = revisionOf(seed, V1);
    const r2 = revisionOf(seed, V2);
    const r3 = revisionOf(seed, V3);
    await baseline(h, seed, V1); // creates the Deployments, Services, the record and the HTTPRoute; finalize
    expect(await podCounts(h, seed)).toEqual({ 'zone-a': { [r1]: 5 }, 'zone-b': { [r1]: 5 } });

    await h.service.startRelease({ config: seed, environment: 'production', revision: V2 }, caller('carol'));
    const done = await h.service.waitForRelease(app, 'production');
    expect(done.phase).toBe('succeeded');
    expect(await podCounts(h, seed)).toEqual({ 'zone-a': { [r2]: 5 }, 'zone-b': { [r2]: 5 } });
    const after = await siteState(h, seed);
    expect(after.weight).toBe(0);
    expect(after.selects.stable).toBe(r2);
    expect(after.deployments).toEqual([`${app}-production-zone-a-${r2}`, `${app}-production-zone-b-${r2}`]); // finalize deleted V1's

    await h.service.startRelease({ config: aborted, environment: 'production', revision: V3 }, caller('carol'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval', 120_000);
    expect(await podCounts(h, seed)).toEqual({ 'zone-a': { [r2]: 2, [r3]: 3 }, 'zone-b': { [r2]: 2, [r3]: 3 } });
    await h.service.decide(app, 'production', 'abort', caller('bob', ['sre']), 'wrong build');
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('rolled-back');
    expect(await podCounts(h, seed)).toEqual({ 'zone-a': { [r2]: 5 }, 'zone-b': { [r2]: 5 } });
    const back = await siteState(h, seed);
    expect(back.weight).toBe(0);
    expect(back.record.stable).toMatchObject({ revision: r2, digest: V2.digest });
    expect(back.deployments).toEqual([`${app}-production-zone-a-${r2}`, `${app}-production-zone-b-${r2}`]);
  });

  it('every verb the Role grants was used, and nothing else was (reading the Namespace is refused, as expected, and tolerated)', () => {
    expect(proxy.requests.length).toBeGreaterThan(100);
    expect(proxy.nonResource()).toEqual([]);
    expect([...proxy.used()].sort()).toEqual([...permissions(shippedRules('namespaced'))].sort());
    expect([...proxy.refused()]).toEqual([permission('get', '', 'namespaces')]);
    // Every request was in the app's namespace.
    expect([...new Set(proxy.requests.map((r) => r.namespace))]).toEqual([app]);
  });
});

describe('cluster mode: one ClusterRole and ClusterRoleBinding; Gantry creates the namespace', () => {
  let h: K8sHarness;
  let proxy: RecordingProxy;
  const app = unique('rbacc');

  beforeAll(async () => {
    await ensureTestbed();
    namespaces.push(app); // created by Gantry, deleted by the test
    proxy = await RecordingProxy.start();
    const identity = await releaseWorkerIdentity({ mode: 'cluster', suffix: `-${app}` }, proxy.url);
    h = await startK8sHarness({ kubeconfig: identity.kubeconfig });
  }, 900_000);
  afterAll(async () => {
    await h?.close();
    await proxy?.close();
  });

  it('a release into a namespace that does not exist yet creates it, waits for its default ServiceAccount, and succeeds; every request was granted', async () => {
    const config = k8sConfig(app, { traffic: { httpRoute: { name: app } } });
    await baseline(h, config, V1);
    await h.service.startRelease({ config, environment: 'production', revision: V2 }, caller('carol'));
    expect((await h.service.waitForRelease(app, 'production')).phase).toBe('succeeded');
    const r2 = revisionOf(config, V2);
    expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r2]: 5 }, 'zone-b': { [r2]: 5 } });
    expect(proxy.refused()).toEqual(new Set());
    expect(proxy.nonResource()).toEqual([]);
    // The same scenario as namespaced mode minus the abort, plus the namespace: every granted verb used.
    expect([...proxy.used()].sort()).toEqual([...permissions(shippedRules('cluster'))].sort());
  });
});

describe('one verb removed', () => {
  it('namespaced mode without `create` on deployments: the first server-side apply of a Deployment fails at once, non-retryable, naming verb, resource and namespace', async () => {
    const app = unique('rbacnc');
    await createNamespace(app);
    const id = await releaseWorkerIdentity({ mode: 'namespaced', namespace: app, rules: without(shippedRules('namespaced'), 'create', 'deployments') });
    const acts = createKubernetesActivities({ kubeconfig: id.kubeconfig });
    const t0 = Date.now();
    const f = await failure(new MockActivityEnvironment().run(acts.applyGroup, applyReq(twoCells(app))));
    expect(f.type).toBe('Forbidden');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(new RegExp(`^apply Deployment ${app}/${app}-production-zone-[ab]-\\w+: HTTP 403: `));
    expect(f.message).toContain(`User "${id.user}" may not create deployments (API group "apps") in namespace "${app}"`);
    expect(Date.now() - t0).toBeLessThan(30_000); // at once, not after riding out "transient" errors
  });

  it('cluster mode without `get` on serviceaccounts: waiting for a new namespace\'s default ServiceAccount fails the same way', async () => {
    const app = unique('rbacsa');
    namespaces.push(app);
    const id = await releaseWorkerIdentity({ mode: 'cluster', suffix: `-${app}`, rules: without(shippedRules('cluster'), 'get', 'serviceaccounts') });
    const acts = createKubernetesActivities({ kubeconfig: id.kubeconfig });
    const f = await failure(new MockActivityEnvironment().run(acts.applyGroup, applyReq(twoCells(app))));
    expect(f.type).toBe('Forbidden');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toBe(`read ServiceAccount default: HTTP 403: User "${id.user}" may not get serviceaccounts in namespace "${app}": grant it as deploy/rbac/ does (check the kubeconfig's user and its RBAC permissions)`);
  });

  it('without `watch` (pods, EndpointSlices) the worker still converges, polling: watch buys latency, not correctness', async () => {
    const app = unique('rbacnw');
    await createNamespace(app);
    const proxy = await RecordingProxy.start();
    try {
      const rules = without(without(shippedRules('namespaced'), 'watch', 'pods'), 'watch', 'endpointslices');
      const id = await releaseWorkerIdentity({ mode: 'namespaced', namespace: app, rules }, proxy.url);
      const acts = createKubernetesActivities({ kubeconfig: id.kubeconfig });
      expect(await new MockActivityEnvironment().run(acts.applyGroup, applyReq(twoCells(app)))).toMatchObject({ ready: true });
      expect([...proxy.refused()].sort()).toEqual([permission('get', '', 'namespaces'), permission('watch', '', 'pods'), permission('watch', 'discovery.k8s.io', 'endpointslices')]);
    } finally {
      await proxy.close();
    }
  });

  it('with the full Role the same request succeeds (the refusal above is the removed verb\'s)', async () => {
    const app = unique('rbacok');
    await createNamespace(app);
    const id = await releaseWorkerIdentity({ mode: 'namespaced', namespace: app });
    const acts = createKubernetesActivities({ kubeconfig: id.kubeconfig });
    expect(await new MockActivityEnvironment().run(acts.applyGroup, applyReq(twoCells(app)))).toMatchObject({ ready: true });
  });
});
