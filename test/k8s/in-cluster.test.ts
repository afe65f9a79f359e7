// The worker's in-cluster access against the real API server (issue 8). A pod cannot be run here (the
// test bed's nodes are kwok's: nothing runs in them), so the pod is emulated: the service account
// files the kubelet mounts (a token minted with the TokenRequest API, the cluster CA, the namespace)
// are written to a directory, and KUBERNETES_SERVICE_HOST/_PORT point at the test bed's API server.
// From there it is the production path: runtime/config.ts chooses in-cluster access, the client
// library's loadFromCluster loads it, and the API server authenticates the requests as the
// ServiceAccount (allowed in its namespace, forbidden elsewhere: not the test bed's admin).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { KubeClients, statusCode } from '../../activities/k8s/client.js';
import { SERVICE_ACCOUNT_DIR } from '../../activities/k8s/choose.js';
import { loadWorkerConfig, realProbe } from '../../runtime/config.js';
import { kubernetesOptions } from '../../worker/activities.js';
import { apiserverUrl } from '../../testbed/k8s/config.js';
import { pki } from '../../testbed/k8s/pki.js';
import { mintToken } from './rbac-support.js';
import { ensureTestbed } from './support/testbed.js';
import { unique } from '../support/temporal.js';

jest.setTimeout(300_000);

const ns = unique('incluster');
let admin: KubeConfig;
let prefix: string;
const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };

beforeAll(async () => {
  const tb = await ensureTestbed();
  admin = new KubeConfig();
  admin.loadFromFile(tb.kubeconfig);
  const core = admin.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'gantry-worker' } } });
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: 'read-configmaps' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] } });
  await rbac.createNamespacedRoleBinding({ namespace: ns, body: {
    metadata: { name: 'gantry-worker' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
    subjects: [{ kind: 'ServiceAccount', name: 'gantry-worker', namespace: ns }],
  } });
  // What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount.
  prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-pod-'));
  const dir = path.join(prefix, SERVICE_ACCOUNT_DIR);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'token'), await mintToken(admin, { name: 'gantry-worker', namespace: ns }));
  fs.copyFileSync(pki.caCrt, path.join(dir, 'ca.crt'));
  fs.writeFileSync(path.join(dir, 'namespace'), ns);
});

afterAll(async () => {
  for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
    if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
  if (prefix) fs.rmSync(prefix, { recursive: true, force: true });
  await admin?.makeApiClient(CoreV1Api).deleteNamespace({ name: ns }).catch(() => undefined);
});

describe('in-cluster access (an emulated pod)', () => {
  it('GANTRY_CLUSTER=kubernetes in a pod: the service account, authenticated by the real API server as itself', async () => {
    const url = new URL(apiserverUrl);
    // A pod's environment: the kubelet sets these; the library's loadFromCluster reads them from process.env.
    Object.assign(process.env, { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port });
    const env = { PATH: process.env.PATH, HOME: os.tmpdir(), GANTRY_CLUSTER: 'kubernetes', KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port };
    const config = loadWorkerConfig(env, { ...realProbe(env), serviceAccountPrefix: prefix });
    expect(config.cluster).toMatchObject({ kind: 'kubernetes', access: { kind: 'in-cluster', host: url.hostname, port: url.port, pathPrefix: prefix } });
    if (config.cluster.kind !== 'kubernetes') throw new Error('not kubernetes');

    const kube = new KubeClients(kubernetesOptions(config.cluster)).for();
    expect(kube.context).toBe('inClusterContext');
    // Allowed by its Role in its own namespace…
    const list = await kube.core.listNamespacedConfigMap({ namespace: ns }, kube.opts());
    expect(Array.isArray(list.items)).toBe(true);
    // …and forbidden elsewhere: these requests are the ServiceAccount's, not an admin's.
    const err = await kube.core.listNamespacedConfigMap({ namespace: 'default' }, kube.opts()).catch((e: unknown) => e);
    expect(statusCode(err)).toBe(403);
    expect(String((err as { body?: unknown }).body)).toMatch(new RegExp(`system:serviceaccount:${ns}:gantry-worker`));
  });
});
