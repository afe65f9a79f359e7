// Cluster access like a real controller (issue 8): which cluster a worker releases to and how it
// reaches it, as a table over the environment and the files that exist. In-cluster detection is
// tested with a fake service account dir and env (a real pod is not possible here); the loading
// itself is the client library's loadFromCluster, checked below against such a dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { chooseCluster, ClusterChoiceError, SERVICE_ACCOUNT_DIR, type ClusterChoice, type ClusterProbe } from '../../activities/k8s/choose.js';
import { KubeClients } from '../../activities/k8s/client.js';

const SA = SERVICE_ACCOUNT_DIR;
const pod = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
const probe = (files: string[], home = '/home/gantry'): ClusterProbe => ({ exists: (f) => files.includes(f), home });
const mounted = [`${SA}/token`, `${SA}/ca.crt`, `${SA}/namespace`];

interface Row { env: Record<string, string>; files?: string[]; kind: 'kubernetes' | 'sim'; access?: string; why?: RegExp; warns?: boolean }

const rows: [string, Row][] = [
  ['GANTRY_CLUSTER=sim wins over everything', { env: { GANTRY_CLUSTER: 'sim', GANTRY_KUBECONFIG: '/k' }, files: ['/k', ...mounted], kind: 'sim' }],
  ['GANTRY_CLUSTER=simulated, any case', { env: { GANTRY_CLUSTER: 'Simulated' }, kind: 'sim' }],
  ['kubernetes + GANTRY_KUBECONFIG: that file', { env: { GANTRY_CLUSTER: 'kubernetes', GANTRY_KUBECONFIG: '/etc/gantry/kubeconfig' }, files: ['/etc/gantry/kubeconfig', ...mounted], kind: 'kubernetes', access: 'kubeconfig:/etc/gantry/kubeconfig' }],
  ['kubernetes + KUBECONFIG: the library default loading of the list', { env: { GANTRY_CLUSTER: 'k8s', KUBECONFIG: '/a:/b' }, files: ['/a', '/b'], kind: 'kubernetes', access: 'default:/a:/b' }],
  ['kubernetes + KUBECONFIG with a later file missing: the others', { env: { GANTRY_CLUSTER: 'kubernetes', KUBECONFIG: '/a:/gone' }, files: ['/a'], kind: 'kubernetes', access: 'default:/a' }],
  ['kubernetes in a pod: the service account', { env: { GANTRY_CLUSTER: 'kubernetes', ...pod }, files: mounted, kind: 'kubernetes', access: 'in-cluster:10.96.0.1:443', why: /in a pod/ }],
  ['kubernetes in a pod, port unset: 443', { env: { GANTRY_CLUSTER: 'kubernetes', KUBERNETES_SERVICE_HOST: 'fd00::1' }, files: mounted, kind: 'kubernetes', access: 'in-cluster:fd00::1:443' }],
  ['kubernetes, a kubeconfig given in a pod: the kubeconfig (remote cells need its contexts)', { env: { GANTRY_CLUSTER: 'kubernetes', GANTRY_KUBECONFIG: '/k', ...pod }, files: ['/k', ...mounted], kind: 'kubernetes', access: 'kubeconfig:/k' }],
  ['kubernetes outside a pod, only ~/.kube/config: it', { env: { GANTRY_CLUSTER: 'kubernetes' }, files: ['/home/gantry/.kube/config'], kind: 'kubernetes', access: 'default:/home/gantry/.kube/config' }],
  ['unset, GANTRY_SIM_DIR: the simulated cluster', { env: { GANTRY_SIM_DIR: '/var/lib/gantry/sim', ...pod }, files: mounted, kind: 'sim' }],
  ['unset, GANTRY_KUBECONFIG: Kubernetes', { env: { GANTRY_KUBECONFIG: '/k' }, files: ['/k'], kind: 'kubernetes', access: 'kubeconfig:/k' }],
  ['unset, in a pod: Kubernetes through the service account (never simulated)', { env: { ...pod }, files: mounted, kind: 'kubernetes', access: 'in-cluster:10.96.0.1:443' }],
  ['unset, only ~/.kube/config: simulated, with a warning (a laptop kubeconfig is not picked unasked)', { env: {}, files: ['/home/gantry/.kube/config'], kind: 'sim', warns: true }],
  ['unset, nothing: simulated, with a warning', { env: {}, kind: 'sim', warns: true }],
  ['unset, a pod without its token (automount off): simulated, with a warning', { env: { ...pod }, files: [`${SA}/ca.crt`], kind: 'sim', warns: true }],
];

function accessOf(c: ClusterChoice): string | undefined {
  if (c.kind !== 'kubernetes') return undefined;
  const a = c.access;
  switch (a.kind) {
    case 'kubeconfig': return `kubeconfig:${a.path}`;
    case 'default': return `default:${a.files.join(':')}`;
    case 'in-cluster': return `in-cluster:${a.host}:${a.port}`;
    default: { const never: never = a; return never; }
  }
}

describe('chooseCluster', () => {
  it.each(rows)('%s', (_name, row) => {
    const c = chooseCluster(row.env, probe(row.files ?? []));
    expect(c.kind).toBe(row.kind);
    expect(accessOf(c)).toBe(row.access);
    if (row.why) expect(c.why).toMatch(row.why);
    expect(c.kind === 'sim' && !!c.warning).toBe(!!row.warns);
    if (row.warns) expect(c.kind === 'sim' && c.warning).toMatch(/SIMULATED.*GANTRY_CLUSTER=kubernetes/);
  });

  const errors: [string, Record<string, string>, string[], string, RegExp][] = [
    ['kubernetes and nothing found: the setting, what was looked for, and the fix',
      { GANTRY_CLUSTER: 'kubernetes' }, [], 'GANTRY_CLUSTER', /no GANTRY_KUBECONFIG or KUBECONFIG, not in a pod \(KUBERNETES_SERVICE_HOST is not set\), no \/home\/gantry\/\.kube\/config/],
    ['kubernetes in a pod whose token is not mounted', { GANTRY_CLUSTER: 'kubernetes', ...pod }, [`${SA}/ca.crt`], 'GANTRY_CLUSTER', /no service account token at \/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token \(automountServiceAccountToken: false\?\)/],
    ['kubernetes in a pod with a token and no CA', { GANTRY_CLUSTER: 'kubernetes', ...pod }, [`${SA}/token`], 'GANTRY_CLUSTER', /no ca\.crt/],
    ['GANTRY_KUBECONFIG names a missing file (even with the cluster unset)', { GANTRY_KUBECONFIG: '/gone' }, mounted, 'GANTRY_KUBECONFIG', /the kubeconfig \/gone does not exist/],
    ['KUBECONFIG whose first file is missing', { GANTRY_CLUSTER: 'kubernetes', KUBECONFIG: '/gone:/a' }, ['/a'], 'KUBECONFIG', /\/gone does not exist/],
    ['an unknown GANTRY_CLUSTER', { GANTRY_CLUSTER: 'eks' }, [], 'GANTRY_CLUSTER', /expected 'kubernetes' or 'sim'/],
  ];
  it.each(errors)('error: %s', (_name, env, files, setting, message) => {
    let err: unknown;
    try { chooseCluster(env, probe(files)); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ClusterChoiceError);
    const e = err as ClusterChoiceError;
    expect(e.setting).toBe(setting);
    expect(e.problem).toMatch(message);
    expect(e.hint.length).toBeGreaterThan(20);
  });

  it('the error for a missing cluster names every fix', () => {
    expect(() => chooseCluster({ GANTRY_CLUSTER: 'kubernetes' }, probe([]))).toThrow(/GANTRY_KUBECONFIG.*automountServiceAccountToken: true.*GANTRY_CLUSTER=sim/);
  });
});

describe('in-cluster loading (a fake service account dir)', () => {
  it('KubeClients with inCluster loads the pod service account: server from the env, the token file and CA from the dir', async () => {
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-sa-'));
    const dir = path.join(prefix, SA);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'token'), 'fake-token-abc');
    fs.writeFileSync(path.join(dir, 'ca.crt'), '');
    fs.writeFileSync(path.join(dir, 'namespace'), 'gantry-system');
    const env = { GANTRY_CLUSTER: 'kubernetes', KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '6443' };
    const choice = chooseCluster(env, { exists: (f) => fs.existsSync(f), serviceAccountPrefix: prefix });
    expect(choice.kind === 'kubernetes' && choice.access).toEqual({ kind: 'in-cluster', host: '127.0.0.1', port: '6443', pathPrefix: prefix });
    // loadFromCluster reads KUBERNETES_SERVICE_HOST/_PORT from the process environment, as in a pod.
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    Object.assign(process.env, { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '6443' });
    try {
      const kube = new KubeClients({ inCluster: { pathPrefix: prefix } }).for();
      expect(kube.kc.getCurrentCluster()).toMatchObject({ server: 'https://127.0.0.1:6443', caFile: path.join(dir, 'ca.crt') });
      expect(kube.kc.getContextObject(kube.context)?.namespace).toBe('gantry-system');
      const opts: { headers: Record<string, string> } = { headers: {} };
      await kube.kc.applyToHTTPSOptions(opts as never);
      expect(opts.headers.Authorization).toBe('Bearer fake-token-abc');
    } finally {
      for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
        if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
      fs.rmSync(prefix, { recursive: true, force: true });
    }
  });
});
