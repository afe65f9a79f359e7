// The k8s tests run against the LOCAL test-bed control plane (kwok nodes in two zones, the
// gantry.dev/fail stage) and the test bed's Prometheus: brought up here as the tests need them
// (idempotent, quick when already up). Nothing is mocked and nothing is skipped: if the cluster
// cannot be brought up, the tests fail with the reason.
import { upKubernetes } from '../../../testbed/k8s/cluster.js';
import { kubeconfigPath } from '../../../testbed/k8s/config.js';
import { embeddedPrometheusUrl, upPrometheus } from '../../../testbed/prometheus.js';

export interface Testbed { kubeconfig: string; prometheusUrl: string }

let ready: Promise<Testbed> | undefined;

export function ensureTestbed(): Promise<Testbed> {
  // These tests are about the local control plane; a user's kubeconfig or Prometheus must not be used.
  delete process.env.KUBECONFIG;
  delete process.env.GANTRY_KUBECONFIG;
  delete process.env.GANTRY_PROMETHEUS_URL;
  ready ??= (async () => {
    const lines: string[] = [];
    const log = (m: string) => lines.push(m);
    try {
      await upKubernetes(log);
      await upPrometheus(log);
    } catch (err) {
      throw new Error(`the k8s test bed could not be brought up (npm run testbed -- install builds it):\n${lines.slice(-15).join('\n')}\n${err instanceof Error ? err.message : String(err)}`);
    }
    return { kubeconfig: kubeconfigPath, prometheusUrl: embeddedPrometheusUrl() };
  })();
  return ready;
}
