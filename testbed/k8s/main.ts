// `npx tsx testbed/k8s/main.ts install|up|down|status|smoke`: the Kubernetes part of the test bed on
// its own (testbed/cli.ts wires the same exports into `npm run testbed`).
const usage = 'usage: tsx testbed/k8s/main.ts install|up|down|status|smoke';

function log(m: string): void {
  console.log(`[${new Date().toISOString().slice(11, 23)}] ${m}`);
}

async function main(argv: string[]): Promise<void> {
  const [cmd] = argv;
  const t0 = Date.now();
  switch (cmd) {
    case 'install': {
      const { installKubernetes } = await import('./install.js');
      await installKubernetes(log);
      break;
    }
    case 'up': {
      const { upKubernetes } = await import('./cluster.js');
      await upKubernetes(log);
      break;
    }
    case 'down': {
      const { downKubernetes } = await import('./cluster.js');
      await downKubernetes(log);
      break;
    }
    case 'status': {
      const { kubernetesStatus } = await import('./cluster.js');
      const s = await kubernetesStatus();
      console.log(`kubernetes: ${s.healthy ? 'healthy' : 'NOT healthy'} at ${s.apiserver}${s.embedded ? ' (local test bed)' : ' (user kubeconfig)'}`);
      console.log(`kubeconfig: ${s.kubeconfig}`);
      for (const c of s.components) console.log(`  ${c.name.padEnd(24)} ${c.up ? 'up  ' : 'DOWN'}${c.pid ? ` pid ${c.pid}` : ''}`);
      if (!s.healthy) process.exitCode = 1;
      return;
    }
    case 'smoke': {
      const { smokeKubernetes } = await import('./smoke.js');
      await smokeKubernetes(log);
      break;
    }
    default:
      console.error(usage);
      process.exitCode = 2;
      return;
  }
  log(`${cmd}: done in ${Date.now() - t0} ms`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
