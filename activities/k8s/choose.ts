// Which cluster implementation a worker runs (GANTRY_CLUSTER=kubernetes|sim):
//   1. GANTRY_CLUSTER, when set, decides;
//   2. GANTRY_SIM_DIR set: the simulated cluster (configuring it selects it);
//   3. GANTRY_KUBECONFIG or KUBECONFIG set: Kubernetes (a cluster is configured);
//   4. the local test bed's control plane answers: Kubernetes;
//   5. otherwise the simulated cluster.
export type ClusterKind = 'kubernetes' | 'sim';

export interface ClusterChoice { kind: ClusterKind; why: string; kubeconfig?: string }

export async function chooseCluster(env: NodeJS.ProcessEnv, local: { kubeconfig: string; up: () => Promise<boolean> }): Promise<ClusterChoice> {
  const userKubeconfig = env.GANTRY_KUBECONFIG || env.KUBECONFIG || undefined;
  const kubeconfig = userKubeconfig ?? local.kubeconfig;
  const explicit = env.GANTRY_CLUSTER?.trim().toLowerCase();
  if (explicit) {
    if (explicit === 'sim' || explicit === 'simulated') return { kind: 'sim', why: 'GANTRY_CLUSTER=sim' };
    if (explicit === 'kubernetes' || explicit === 'k8s') return { kind: 'kubernetes', why: `GANTRY_CLUSTER=${explicit}`, kubeconfig };
    throw new Error(`GANTRY_CLUSTER=${env.GANTRY_CLUSTER}: use 'kubernetes' or 'sim'`);
  }
  if (env.GANTRY_SIM_DIR) return { kind: 'sim', why: 'GANTRY_SIM_DIR is set' };
  if (userKubeconfig) return { kind: 'kubernetes', why: `${env.GANTRY_KUBECONFIG ? 'GANTRY_KUBECONFIG' : 'KUBECONFIG'} is set`, kubeconfig: userKubeconfig };
  if (await local.up()) return { kind: 'kubernetes', why: 'the local test-bed cluster is up', kubeconfig: local.kubeconfig };
  return { kind: 'sim', why: 'no cluster configured (GANTRY_KUBECONFIG/KUBECONFIG) and the local test bed is not up' };
}
