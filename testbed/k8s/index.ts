// Test bed, Kubernetes part: public surface for testbed/cli.ts.
//   installKubernetes(log)  build/download the pinned components into ~/.cache/gantry (skips what is current)
//   upKubernetes(log)       local control plane + kwok + 4 fake nodes + Gateway API CRDs (or check the user's cluster)
//   downKubernetes(log)     stop the local daemons (state is kept)
//   kubernetesStatus()      { healthy, kubeconfig, apiserver, embedded, components }
//   kubeconfigPath          the local cluster's admin kubeconfig
export { installKubernetes, type InstallReport } from './install.js';
export {
  activeKubeconfig, downKubernetes, kubectlActive, kubernetesStatus, upKubernetes, userKubeconfig,
  type ComponentStatus, type KubernetesStatus,
} from './cluster.js';
export { smokeKubernetes } from './smoke.js';
export { apiserverUrl, failLabel, fakeNodes, k8sPins, kubeconfigPath, zoneLabel } from './config.js';
