// Test bed, Kubernetes part: bring-up and tear-down of a local control plane without containers.
// etcd -> kube-apiserver (/readyz) -> kube-controller-manager, kube-scheduler, kwok -> 4 fake nodes in
// two zones (Ready) -> `default` ServiceAccount -> Gateway API CRDs (server-side apply, Established).
// Everything listens on 127.0.0.1, keeps its state in ~/.cache/gantry/state, and is idempotent:
// running components are left alone, so `up` after `up` is a quick check and `up` after `down`
// restarts on the existing PKI and etcd data.
//
// A user-supplied GANTRY_KUBECONFIG or KUBECONFIG (other than the test bed's own) wins: then `up`
// starts nothing and only checks that cluster answers.
import fs from 'node:fs';
import path from 'node:path';
import { logFile, poll, readPid, run, startDaemon, stopDaemon, tryRun } from '../proc.js';
import {
  apiserverUrl, bin, daemons, etcdDataDir, fakeNodes, gatewayCrdDir, host, k8sPins, kubeconfigPath, kwokConfigPath,
  podCidr, ports, serviceCidr, zoneLabel, type DaemonName,
} from './config.js';
import { apiserverReady, api, applyObject, conditionTrue, getJson, kubectl, probe, type List, type NodeObject } from './client.js';
import { installedEtcdVersion, installedKubernetesVersions, installedKwokVersion } from './install.js';
import { ensurePki, pki, writeKubeconfig } from './pki.js';

type Log = (m: string) => void;

/** The kubeconfig the user pointed Gantry at, if any (the test bed's own kubeconfig does not count). */
export function userKubeconfig(): string | undefined {
  for (const v of [process.env.GANTRY_KUBECONFIG, process.env.KUBECONFIG]) {
    if (!v) continue;
    return path.resolve(v) === path.resolve(kubeconfigPath) ? undefined : v;
  }
  return undefined;
}

/** The kubeconfig Gantry should use: the user's, else the local test bed's. */
export function activeKubeconfig(): string { return userKubeconfig() ?? kubeconfigPath; }

const health: Record<DaemonName, () => Promise<boolean>> = {
  etcd: () => probe(`http://${host}:${ports.etcdClient}/health`, { expect: (b) => /"health"\s*:\s*"true"/.test(b) }),
  'kube-apiserver': apiserverReady,
  'kube-controller-manager': () => probe(`https://${host}:${ports.controllerManager}/healthz`),
  'kube-scheduler': () => probe(`https://${host}:${ports.scheduler}/healthz`),
  kwok: () => probe(`http://${host}:${ports.kwok}/healthz`),
};

function argvFor(name: DaemonName): string[] {
  const kc = `--kubeconfig=${kubeconfigPath}`;
  const healthPaths = '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics';
  switch (name) {
    case 'etcd': return [bin.etcd, '--name=gantry', `--data-dir=${etcdDataDir}`,
      `--listen-client-urls=http://${host}:${ports.etcdClient}`, `--advertise-client-urls=http://${host}:${ports.etcdClient}`,
      `--listen-peer-urls=http://${host}:${ports.etcdPeer}`, `--initial-advertise-peer-urls=http://${host}:${ports.etcdPeer}`,
      `--initial-cluster=gantry=http://${host}:${ports.etcdPeer}`, '--auto-compaction-retention=1',
      '--unsafe-no-fsync=true', // test bed only: no fsync, much faster on a shared disk
      '--log-level=warn'];
    case 'kube-apiserver': return [bin.kubeApiserver, `--etcd-servers=http://${host}:${ports.etcdClient}`, '--etcd-prefix=/registry',
      `--bind-address=${host}`, `--secure-port=${ports.apiserver}`, `--advertise-address=${host}`,
      // The "kubernetes" Endpoints would get the loopback advertise address, which validation rejects.
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${pki.apiserverCrt}`, `--tls-private-key-file=${pki.apiserverKey}`, `--client-ca-file=${pki.caCrt}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`,
      `--service-cluster-ip-range=${serviceCidr}`, '--authorization-mode=Node,RBAC', '--allow-privileged=true'];
    case 'kube-controller-manager': return [bin.kubeControllerManager, kc, '--leader-elect=false',
      `--bind-address=${host}`, `--secure-port=${ports.controllerManager}`, healthPaths,
      `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.caCrt}`,
      `--cluster-signing-cert-file=${pki.caCrt}`, `--cluster-signing-key-file=${pki.caKey}`,
      '--use-service-account-credentials=false', '--cluster-name=gantry-testbed'];
    case 'kube-scheduler': return [bin.kubeScheduler, kc, '--leader-elect=false',
      `--bind-address=${host}`, `--secure-port=${ports.scheduler}`, healthPaths];
    case 'kwok': return [bin.kwok, kc, `--config=${kwokConfigPath}`,
      // kwok v0.7.0 manages no node unless told which: only our fake nodes carry this annotation.
      '--manage-all-nodes=false', '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-lease-duration-seconds=40', `--cidr=${podCidr}`, '--node-ip=10.0.0.1',
      `--server-address=${host}:${ports.kwok}`,
      '--v=WARN']; // INFO logs every lease renewal (4 nodes x every 10 s)
  }
}

const startTimeoutMs: Record<DaemonName, number> = {
  etcd: 60_000, 'kube-apiserver': 180_000, 'kube-controller-manager': 120_000, 'kube-scheduler': 120_000, kwok: 120_000,
};

function logTail(name: string, lines = 25): string {
  try { return fs.readFileSync(logFile(name), 'utf8').trimEnd().split('\n').slice(-lines).join('\n'); } catch { return '(no log)'; }
}

/** Starts `name` unless it is already healthy (or already starting); returns a waiter for its readiness. */
async function ensureStarted(name: DaemonName, log: Log): Promise<() => Promise<void>> {
  if (await health[name]()) {
    const pid = readPid(name);
    log(`${name}: already running${pid ? ` (pid ${pid})` : ' (not started by the test bed)'}`);
    return async () => {};
  }
  let pid = readPid(name);
  if (pid) log(`${name}: pid ${pid} is running but not healthy yet; waiting for it`);
  else {
    pid = startDaemon(name, argvFor(name));
    log(`${name}: started pid ${pid}, log ${logFile(name)}`);
  }
  return async () => {
    const t0 = Date.now();
    let died = false;
    await poll(async () => {
      if (await health[name]()) return true;
      if (!readPid(name)) { died = true; return true; }
      return false;
    }, { timeoutMs: startTimeoutMs[name], intervalMs: 250, what: `${name} to become healthy`, logName: name });
    if (died) throw new Error(`${name} exited during start-up; last lines of ${logFile(name)}:\n${logTail(name)}`);
    log(`${name}: healthy after ${Date.now() - t0} ms`);
  };
}

async function checkInstalled(): Promise<void> {
  const missing: string[] = [];
  const k8s = await installedKubernetesVersions();
  for (const [n, v] of Object.entries(k8s)) if (v !== k8sPins.kubernetes) missing.push(`${n} ${k8sPins.kubernetes} (found ${v ?? 'none'})`);
  const etcd = await installedEtcdVersion();
  if (etcd !== k8sPins.etcd.slice(1)) missing.push(`etcd ${k8sPins.etcd} (found ${etcd ?? 'none'})`);
  const kwok = await installedKwokVersion();
  if (kwok !== k8sPins.kwok) missing.push(`kwok ${k8sPins.kwok} (found ${kwok ?? 'none'})`);
  if (!fs.existsSync(kwokConfigPath)) missing.push(`kwok stage config ${kwokConfigPath}`);
  if (!fs.existsSync(gatewayCrdDir)) missing.push(`Gateway API CRDs ${gatewayCrdDir}`);
  if (missing.length) throw new Error(`k8s: not installed: ${missing.join('; ')}. Run: npx tsx testbed/k8s/main.ts install`);
}

async function releaseNodeLeases(log: Log): Promise<void> {
  const released: string[] = [];
  for (const n of fakeNodes) {
    const r = await api('DELETE', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${n.name}`);
    if (r.status >= 200 && r.status < 300) released.push(n.name);
    else if (r.status !== 404) throw new Error(`k8s: deleting the lease of ${n.name}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  }
  if (released.length) log(`kwok: released the stale node leases of a previous kwok process (${released.join(', ')})`);
}

interface LeaseObject { spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } }

/** Applies the fake nodes and waits until kwok manages them: lease held and renewed, Ready, no not-ready taints. */
async function ensureNodes(log: Log, kwokStartedAt?: number): Promise<void> {
  for (const n of fakeNodes) {
    await applyObject(`/api/v1/nodes/${n.name}`, {
      apiVersion: 'v1', kind: 'Node',
      metadata: {
        name: n.name,
        annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kwok.x-k8s.io/node': 'fake' },
        labels: {
          'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok',
          [zoneLabel]: n.zone, 'topology.kubernetes.io/region': 'gantry-local',
        },
      },
    });
  }
  const t0 = Date.now();
  await poll(async () => {
    for (const n of fakeNodes) {
      // A lease renewed by the running kwok: after our start of kwok if we started it, else recently.
      const lease = await getJson<LeaseObject>(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${n.name}`);
      const renewed = Date.parse(lease.spec?.renewTime ?? '');
      const fresh = kwokStartedAt !== undefined ? renewed >= kwokStartedAt - 1_000
        : Date.now() - renewed < (lease.spec?.leaseDurationSeconds ?? 40) * 1_000;
      if (!fresh) return false;
      const node = await getJson<NodeObject>(`/api/v1/nodes/${n.name}`);
      if (!conditionTrue(node, 'Ready')) return false;
      // The node lifecycle controller taints new nodes not-ready until it sees them Ready; wait for it to
      // lift that, so pods created right after `up` schedule at once.
      if (node.spec?.taints?.some((t) => t.key.startsWith('node.kubernetes.io/'))) return false;
    }
    return true;
  }, { timeoutMs: 120_000, intervalMs: 250, what: `fake nodes ${fakeNodes.map((n) => n.name).join(', ')} to be managed by kwok and Ready`, logName: 'kwok' });
  log(`k8s: ${fakeNodes.length} fake nodes Ready (${fakeNodes.map((n) => `${n.name}/${n.zone}`).join(', ')}) after ${Date.now() - t0} ms`);
}

async function applyGatewayCrds(log: Log): Promise<void> {
  const t0 = Date.now();
  // Server-side apply: httproutes' CRD is larger than the 256 KiB last-applied annotation allows.
  await kubectl(['apply', '--server-side', '--field-manager=gantry-testbed', '--force-conflicts', '-f', gatewayCrdDir]);
  await poll(async () => {
    const crds = await getJson<List<{ metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }>>(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
    const gw = crds.items.filter((c) => c.metadata.name.endsWith('.gateway.networking.k8s.io'));
    return gw.length > 0 && gw.every((c) => conditionTrue(c, 'Established'));
  }, { timeoutMs: 60_000, what: 'Gateway API CRDs to be Established' });
  log(`k8s: Gateway API ${k8sPins.gatewayApi} CRDs applied (server-side) and Established in ${Date.now() - t0} ms`);
}

/** Brings the local cluster up (or checks the user's cluster) and returns its status. */
export async function upKubernetes(log: Log = console.log): Promise<KubernetesStatus> {
  const user = userKubeconfig();
  if (user) {
    log(`k8s: using the user's kubeconfig ${user} (local cluster not started)`);
    await poll(() => userClusterAnswers(user), { timeoutMs: 30_000, what: `the cluster of kubeconfig ${user} to answer /readyz` });
    return kubernetesStatus();
  }
  const t0 = Date.now();
  await checkInstalled();
  if (await ensurePki(log)) log(`k8s: PKI ready in ${path.dirname(pki.caCrt)}`);
  if (!fs.existsSync(kubeconfigPath)) writeKubeconfig();
  fs.mkdirSync(etcdDataDir, { recursive: true, mode: 0o700 });

  await (await ensureStarted('etcd', log))();
  await (await ensureStarted('kube-apiserver', log))();
  // kwok takes a node over only once it holds the node's Lease, and every kwok process has a new
  // random holder identity: a restarted kwok would wait for the previous process's leases to expire
  // (40 s) before touching any node or pod. No kwok runs now, so nobody holds them: delete them.
  const kwokStarting = !(await health.kwok()) && !readPid('kwok');
  if (kwokStarting) await releaseNodeLeases(log);
  const kwokStartedAt = Date.now();
  // The three clients of the apiserver start together and are waited for together.
  const waiters = [];
  for (const name of ['kube-controller-manager', 'kube-scheduler', 'kwok'] as const) waiters.push(await ensureStarted(name, log));
  for (const w of waiters) await w();

  await ensureNodes(log, kwokStarting ? kwokStartedAt : undefined);
  const tSa = Date.now();
  await poll(async () => (await api('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
    { timeoutMs: 60_000, what: 'ServiceAccount default/default (created by the controller-manager)', logName: 'kube-controller-manager' });
  log(`k8s: ServiceAccount default/default present (${Date.now() - tSa} ms)`);
  await applyGatewayCrds(log);

  const status = await kubernetesStatus();
  if (!status.healthy) throw new Error(`k8s: up finished but status is not healthy: ${JSON.stringify(status.components)}`);
  log(`k8s: up in ${Date.now() - t0} ms; apiserver ${apiserverUrl}`);
  log(`export KUBECONFIG=${kubeconfigPath} ; kubectl get nodes -L ${zoneLabel}`);
  log(`(kubectl ${k8sPins.kubernetes} is ${bin.kubectl})`);
  return status;
}

/** Stops the local cluster's daemons (reverse start order). State (PKI, etcd data) is kept. */
export async function downKubernetes(log: Log = console.log): Promise<void> {
  const stop = async (name: DaemonName, grace: number) => {
    if (await stopDaemon(name, grace)) log(`${name}: stopped`); else log(`${name}: not running`);
  };
  // The apiserver's clients together, then the apiserver, then etcd.
  await Promise.all((['kwok', 'kube-scheduler', 'kube-controller-manager'] as const).map((n) => stop(n, 10_000)));
  await stop('kube-apiserver', 30_000);
  await stop('etcd', 30_000);
}

export interface ComponentStatus { name: string; pid?: number; up: boolean }
export interface KubernetesStatus {
  healthy: boolean;
  /** The kubeconfig to use (the user's or the local test bed's). */
  kubeconfig: string;
  apiserver: string;
  /** True for the local test-bed cluster, false for a user-supplied kubeconfig. */
  embedded: boolean;
  components: ComponentStatus[];
}

function userKubectl(): string { return fs.existsSync(bin.kubectl) ? bin.kubectl : 'kubectl'; }

/** The user's kubeconfig goes through KUBECONFIG (it may be a path list); kubectl handles any auth method. */
async function userClusterAnswers(kubeconfig: string): Promise<boolean> {
  const out = await tryRun([userKubectl(), 'get', '--raw=/readyz', '--request-timeout=5s'],
    { env: { ...process.env, KUBECONFIG: kubeconfig }, timeoutMs: 15_000 });
  return out?.stdout.trim() === 'ok';
}

export async function kubernetesStatus(): Promise<KubernetesStatus> {
  const user = userKubeconfig();
  if (user) {
    const server = await tryRun([userKubectl(), 'config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'],
      { env: { ...process.env, KUBECONFIG: user }, timeoutMs: 15_000 });
    return { healthy: await userClusterAnswers(user), kubeconfig: user, apiserver: server?.stdout.trim() || '(unknown)', embedded: false, components: [] };
  }
  const components: ComponentStatus[] = [];
  for (const name of daemons) {
    const pid = readPid(name);
    components.push({ name, ...(pid ? { pid } : {}), up: await health[name]() });
  }
  return { healthy: components.every((c) => c.up), kubeconfig: kubeconfigPath, apiserver: apiserverUrl, embedded: true, components };
}

/** For callers that want kubectl against whatever cluster is active (user's or local). */
export function kubectlActive(args: string[], timeoutMs = 120_000) {
  const user = userKubeconfig();
  return user ? run([userKubectl(), ...args], { env: { ...process.env, KUBECONFIG: user }, timeoutMs }) : kubectl(args, timeoutMs);
}
