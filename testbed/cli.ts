// `npm run testbed -- install|up|down|status`: the local stack Gantry runs and is tested on.
import { downTemporal, installTemporal, temporalStatus, upTemporal } from './temporal.js';
import { home } from './paths.js';
import { buildkitStatus, downBuildkit, installBuildkit, upBuildkit } from './buildkit.js';
import { ensureBaseImage, prepareBaseRootfs } from './base-image.js';
import { installHadolint } from './hadolint.js';
import { installSshd } from './sshd.js';
import { installChromium } from './chromium.js';
import { installHelm } from './helm.js';
import { downRegistry, installRegistry, registryStatus, upRegistry } from './registry.js';
import { downKubernetes, installKubernetes, kubernetesStatus, upKubernetes } from './k8s/index.js';
import { downPrometheus, installPrometheus, prometheusStatus, upPrometheus } from './prometheus.js';

const usage = 'usage: npm run testbed -- install|up|down|status';

async function main(argv: string[]): Promise<void> {
  const [cmd] = argv;
  switch (cmd) {
    case 'install':
      await installTemporal();
      // Build tools (registry, BuildKit + runc, hadolint).
      await installRegistry();
      await installHadolint();
      // OpenSSH's server for the git-over-SSH tests (started per test, never as a service).
      await installSshd();
      // Chromium's headless shell for the console's browser tests (launched per test, never a service).
      await installChromium();
      await installBuildkit();
      // The local Node base image's rootfs (Gantry's own image builds on it; no Docker Hub here).
      await prepareBaseRootfs();
      // Cluster: the local Kubernetes control plane (built once into the cache) and Prometheus.
      await installKubernetes(console.log);
      await installPrometheus();
      // Helm (the chart in deploy/helm is templated and linted by test/deploy).
      await installHelm();
      return;
    case 'up': {
      await upTemporal();
      const registryAddr = await upRegistry();
      await installHadolint();
      const buildkit = await upBuildkit();
      // The local Node base image in the test bed's registry (skipped when it is there).
      await ensureBaseImage({ registryAddr, buildkitAddr: buildkit.addr });
      await upKubernetes(console.log);
      await upPrometheus();
      return;
    }
    case 'down':
      await downTemporal();
      await downBuildkit();
      await downRegistry();
      await downPrometheus();
      await downKubernetes(console.log);
      return;
    case 'status': {
      const t = await temporalStatus();
      console.log(`cache: ${home}`);
      console.log(`temporal: ${t.healthy ? 'serving' : 'down'} at ${t.address}${t.embedded ? ' (embedded)' : ' (TEMPORAL_ADDRESS)'}${t.pid ? ` pid ${t.pid}` : ''}${t.uiUrl && t.healthy ? ` UI ${t.uiUrl}` : ''}`);
      const r = await registryStatus();
      console.log(`registry: ${r.healthy ? 'serving' : 'down'} at http://${r.addr}${r.pid ? ` pid ${r.pid}` : ''}`);
      const b = await buildkitStatus();
      console.log(`buildkit: ${b.snapshotter ? `serving (snapshotter ${b.snapshotter})` : 'down'} at ${b.addr}${b.pid ? ` pid ${b.pid}` : ''}`);
      const k = await kubernetesStatus();
      console.log(`kubernetes: ${k.healthy ? 'healthy' : 'down'} at ${k.apiserver} (${k.embedded ? 'local test bed' : 'user kubeconfig'}; kubeconfig ${k.kubeconfig})${k.components.length ? `: ${k.components.map((c) => `${c.name} ${c.up ? 'up' : 'DOWN'}`).join(', ')}` : ''}`);
      const p = await prometheusStatus();
      console.log(`prometheus: ${p.healthy ? 'ready' : 'down'} at ${p.url}${p.embedded ? '' : ' (GANTRY_PROMETHEUS_URL)'}${p.pid ? ` pid ${p.pid}` : ''}`);
      return;
    }
    default:
      console.error(usage);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
