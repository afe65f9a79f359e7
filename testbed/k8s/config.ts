// Test bed, Kubernetes part: pins, paths and ports. Binaries go to the shared cache bin dir
// (~/.cache/gantry/bin), other installed files to ~/.cache/gantry/k8s, and all run-time state
// (PKI, etcd data, kubeconfig) to ~/.cache/gantry/state. Nothing lives in the repository.
import path from 'node:path';
import { binDir, home, srcDir, stateDir } from '../paths.js';

/** Pinned versions. Change one and the next `install` rebuilds just that component. */
export const k8sPins = {
  /** kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (module k8s.io/kubernetes; staging modules v0.33.13). */
  kubernetes: 'v1.33.13',
  /** go.etcd.io/etcd/server/v3: what kwokctl v0.7.0 pairs with Kubernetes 1.31-1.33. */
  etcd: 'v3.5.24',
  /** sigs.k8s.io/kwok: v0.7.0 (go 1.24.0, default KubeVersion 1.33.0, matching the control plane). */
  kwok: 'v0.7.0',
  /** sigs.k8s.io/gateway-api: only the standard-channel CRD YAML is used. */
  gatewayApi: 'v1.5.1',
} as const;

/** The `go` line (and GODEBUG default) of the k8s wrapper module, as upstream k8s.io/kubernetes 1.33 has it. */
export const k8sGoLine = '1.24.0';

export const k8sCommands = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'] as const;

export const bin = {
  kubeApiserver: path.join(binDir, 'kube-apiserver'),
  kubeControllerManager: path.join(binDir, 'kube-controller-manager'),
  kubeScheduler: path.join(binDir, 'kube-scheduler'),
  kubectl: path.join(binDir, 'kubectl'),
  etcd: path.join(binDir, 'etcd'),
  kwok: path.join(binDir, 'kwok'),
};

/** Wrapper Go modules (go.mod/go.sum only; sources stay in GOMODCACHE). */
export const wrapperDir = {
  kubernetes: path.join(srcDir, 'k8s'),
  etcd: path.join(srcDir, 'etcd'),
};

/** Installed non-binary files: Gateway API CRDs and the kwok stage configuration. */
export const k8sHome = path.join(home, 'k8s');
export const gatewayCrdDir = path.join(k8sHome, `gateway-api-${k8sPins.gatewayApi}`, 'standard');
export const kwokConfigPath = path.join(k8sHome, `kwok-${k8sPins.kwok}.yaml`);
export const buildTimesPath = path.join(k8sHome, 'build-times.json');

/** Run-time state of the local cluster. */
export const k8sStateDir = path.join(stateDir, 'k8s');
export const pkiDir = path.join(k8sStateDir, 'pki');
export const etcdDataDir = path.join(k8sStateDir, 'etcd');
/** The admin kubeconfig of the local cluster (certificates embedded, so it can be copied anywhere). */
export const kubeconfigPath = path.join(stateDir, 'kubeconfig');

export const host = '127.0.0.1';
export const ports = {
  etcdClient: 2379,
  etcdPeer: 2380,
  apiserver: 6443,
  controllerManager: 10257,
  scheduler: 10259,
  kwok: 10247,
};
export const apiserverUrl = `https://${host}:${ports.apiserver}`;
export const serviceCidr = '10.96.0.0/16';
/** kwok hands out pod IPs from this CIDR starting AT the given address (its own default is 10.0.0.1/24). */
export const podCidr = '10.244.0.1/16';

/** The label key Gantry tests use to make a pod deliberately never Ready (kwok stage `pod-never-ready`). */
export const failLabel = 'gantry.dev/fail';
export const zoneLabel = 'topology.kubernetes.io/zone';

/** Fake nodes simulated by kwok: two per zone. */
export const fakeNodes = [
  { name: 'kwok-node-a1', zone: 'zone-a' },
  { name: 'kwok-node-a2', zone: 'zone-a' },
  { name: 'kwok-node-b1', zone: 'zone-b' },
  { name: 'kwok-node-b2', zone: 'zone-b' },
] as const;

/** Daemon names, in start order (stop order is the reverse). */
export const daemons = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;
export type DaemonName = (typeof daemons)[number];
