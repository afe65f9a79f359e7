// Which cluster a worker releases to, and how it reaches it: the decision a controller makes at
// start (the order of controller-runtime's GetConfig: an explicit kubeconfig, KUBECONFIG, the pod's
// service account, ~/.kube/config). Pure apart from the file-existence probe, which is passed in.
//
//   GANTRY_CLUSTER=sim (or simulated)    the simulated cluster
//   GANTRY_CLUSTER=kubernetes (or k8s)   Kubernetes, reached through the first of:
//       1. GANTRY_KUBECONFIG             one kubeconfig file (it must exist)
//       2. KUBECONFIG                    the client library's default loading (a list of files)
//       3. the pod's service account     KUBERNETES_SERVICE_HOST set and the token file mounted
//       4. ~/.kube/config
//     none of them: a startup error naming the setting and the fix (never a simulated cluster)
//   GANTRY_CLUSTER unset:
//       GANTRY_SIM_DIR set               the simulated cluster (configuring it selects it)
//       1, 2 or 3 above                  Kubernetes (a cluster is configured, or this runs in a pod)
//       otherwise                        the simulated cluster, and `warning` says so
//
// Nothing here knows the local test bed: the test bed passes its kubeconfig as GANTRY_KUBECONFIG.
import path from 'node:path';

export type ClusterKind = 'kubernetes' | 'sim';

/** The service account files a pod gets (the client library's in-cluster paths). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How the Kubernetes client is loaded. */
export type ClusterAccess =
  /** One kubeconfig file (GANTRY_KUBECONFIG). */
  | { kind: 'kubeconfig'; path: string }
  /** The client library's default loading: KUBECONFIG (a list of files), else ~/.kube/config. */
  | { kind: 'default'; from: 'KUBECONFIG' | '~/.kube/config'; files: string[] }
  /**
   * The pod's service account (loadFromCluster): the API server from KUBERNETES_SERVICE_HOST/_PORT,
   * the token and CA from the service account dir. `pathPrefix` is put before the standard paths
   * (tests point it at a fake dir; '' in a pod).
   */
  | { kind: 'in-cluster'; host: string; port: string; pathPrefix: string };

export type ClusterChoice =
  | { kind: 'sim'; why: string; warning?: string }
  | { kind: 'kubernetes'; why: string; access: ClusterAccess };

/** A problem in the cluster settings: the variable, what is wrong, and how to fix it. */
export class ClusterChoiceError extends Error {
  constructor(readonly setting: string, readonly problem: string, readonly hint: string) {
    super(`${setting}: ${problem}; ${hint}`);
    this.name = 'ClusterChoiceError';
  }
}

export interface ClusterProbe {
  /** Whether a file exists (fs.existsSync in the worker; a table in tests). */
  exists(file: string): boolean;
  /** The home directory (for ~/.kube/config); undefined when there is none. */
  home?: string;
  /** Put before the service account paths (tests); default ''. */
  serviceAccountPrefix?: string;
}

const FIX_ACCESS = 'set GANTRY_KUBECONFIG to a kubeconfig file, or run the worker in a pod with a service account token mounted ' +
  '(automountServiceAccountToken: true), or set GANTRY_CLUSTER=sim for the simulated cluster';

function inCluster(env: Readonly<Record<string, string | undefined>>, probe: ClusterProbe): { access?: Extract<ClusterAccess, { kind: 'in-cluster' }>; why: string } {
  const host = env.KUBERNETES_SERVICE_HOST?.trim();
  const prefix = probe.serviceAccountPrefix ?? '';
  const token = `${prefix}${SERVICE_ACCOUNT_DIR}/token`;
  if (!host) return { why: 'not in a pod (KUBERNETES_SERVICE_HOST is not set)' };
  const port = env.KUBERNETES_SERVICE_PORT?.trim() || '443';
  if (!probe.exists(token)) return { why: `KUBERNETES_SERVICE_HOST is set but there is no service account token at ${token} (automountServiceAccountToken: false?)` };
  if (!probe.exists(`${prefix}${SERVICE_ACCOUNT_DIR}/ca.crt`)) return { why: `there is a service account token but no ca.crt in ${prefix}${SERVICE_ACCOUNT_DIR}` };
  return { access: { kind: 'in-cluster', host, port, pathPrefix: prefix }, why: `in a pod: the service account (${host}:${port})` };
}

function kubeconfigList(value: string): string[] {
  return value.split(path.delimiter).map((f) => f.trim()).filter(Boolean);
}

/** The explicit kubeconfig settings (1 and 2), checked: a named file that does not exist is an error. */
function configured(env: Readonly<Record<string, string | undefined>>, probe: ClusterProbe): { access: ClusterAccess; why: string } | undefined {
  const gantry = env.GANTRY_KUBECONFIG?.trim();
  if (gantry) {
    if (!probe.exists(gantry)) throw new ClusterChoiceError('GANTRY_KUBECONFIG', `the kubeconfig ${gantry} does not exist`, 'give the path of a kubeconfig file readable by the worker (mounted from a Secret in a pod)');
    return { access: { kind: 'kubeconfig', path: gantry }, why: 'GANTRY_KUBECONFIG is set' };
  }
  const list = env.KUBECONFIG?.trim();
  if (list) {
    const files = kubeconfigList(list);
    const missing = files.filter((f) => !probe.exists(f));
    // kubectl skips missing files in a KUBECONFIG list, but the first one is where the client library starts.
    if (files.length === 0 || missing.length === files.length || (files[0] && missing.includes(files[0]))) {
      throw new ClusterChoiceError('KUBECONFIG', `${missing.length ? `${missing.join(', ')} does not exist` : 'lists no file'}`, 'give existing kubeconfig files (separated by ":"), or unset it');
    }
    return { access: { kind: 'default', from: 'KUBECONFIG', files: files.filter((f) => !missing.includes(f)) }, why: 'KUBECONFIG is set' };
  }
  return undefined;
}

export function chooseCluster(env: Readonly<Record<string, string | undefined>>, probe: ClusterProbe): ClusterChoice {
  const raw = env.GANTRY_CLUSTER?.trim();
  const explicit = raw?.toLowerCase();
  if (explicit) {
    if (explicit === 'sim' || explicit === 'simulated') return { kind: 'sim', why: `GANTRY_CLUSTER=${raw}` };
    if (explicit !== 'kubernetes' && explicit !== 'k8s') throw new ClusterChoiceError('GANTRY_CLUSTER', `expected 'kubernetes' or 'sim'`, "set GANTRY_CLUSTER=kubernetes to release to a real cluster, or GANTRY_CLUSTER=sim for the simulated one");
    const why = `GANTRY_CLUSTER=${raw}`;
    const c = configured(env, probe);
    if (c) return { kind: 'kubernetes', why: `${why}; ${c.why}`, access: c.access };
    const pod = inCluster(env, probe);
    if (pod.access) return { kind: 'kubernetes', why: `${why}; ${pod.why}`, access: pod.access };
    const home = probe.home ? path.join(probe.home, '.kube', 'config') : undefined;
    if (home && probe.exists(home)) return { kind: 'kubernetes', why: `${why}; ${home}`, access: { kind: 'default', from: '~/.kube/config', files: [home] } };
    throw new ClusterChoiceError('GANTRY_CLUSTER', `asks for Kubernetes, but no cluster access was found: no GANTRY_KUBECONFIG or KUBECONFIG, ${pod.why}, no ${home ?? '~/.kube/config'}`, FIX_ACCESS);
  }
  if (env.GANTRY_SIM_DIR?.trim()) return { kind: 'sim', why: 'GANTRY_SIM_DIR is set' };
  const c = configured(env, probe);
  if (c) return { kind: 'kubernetes', why: c.why, access: c.access };
  const pod = inCluster(env, probe);
  if (pod.access) return { kind: 'kubernetes', why: pod.why, access: pod.access };
  return {
    kind: 'sim', why: 'GANTRY_CLUSTER is not set and no cluster is configured',
    warning: 'releases go to the SIMULATED cluster (nothing is deployed): set GANTRY_CLUSTER=kubernetes (with GANTRY_KUBECONFIG, or in a pod with a service account) to release to Kubernetes, or GANTRY_CLUSTER=sim to silence this',
  };
}

/** One line for the startup banner (no secrets: paths and addresses only). */
export function describeAccess(a: ClusterAccess): string {
  switch (a.kind) {
    case 'kubeconfig': return `kubeconfig ${a.path}`;
    case 'default': return `kubeconfig ${a.files.join(path.delimiter)} (${a.from})`;
    case 'in-cluster': return `the service account of this pod (API server ${a.host}:${a.port})`;
    default: { const never: never = a; throw new Error(`unknown access ${JSON.stringify(never)}`); }
  }
}
