// `npm run bench [-- <name> ...]`: runs the benchmarks as child processes, in order, each with
// inherited output, stopping at the first that fails. Without names, the default list; with names,
// only those (in the order given). `peers` (Gantry vs Argo Rollouts) is not in the default list:
// it builds Argo Rollouts on first use and takes several minutes; ask for it by name.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Name -> what it measures (bench/<name>.ts). */
const benches = {
  run: 'dispatch and workflow-task floor on the dev server',
  build: 'pipeline builds (BuildKit)',
  webhooks: 'webhook intake',
  hostile: 'hostile input handling',
  cluster: 'Kubernetes activities: rollback latency, the seed release',
  chaos: 'releases under injected faults',
  calendar: 'release calendar decisions',
  console: 'the web console',
  peers: 'Gantry vs Argo Rollouts on the test bed (not in the default list: builds Argo Rollouts, takes several minutes)',
} as const;
type Name = keyof typeof benches;
const defaults: Name[] = ['run', 'build', 'webhooks', 'hostile', 'cluster', 'chaos', 'calendar', 'console'];

function help(): string {
  const list = Object.entries(benches).map(([n, d]) => `  ${n.padEnd(9)} ${d}${defaults.includes(n as Name) ? '' : ' [by name only]'}`).join('\n');
  return `usage: npm run bench [-- <name> ...]\n\nWithout names runs: ${defaults.join(', ')}.\n\n${list}\n`;
}

function runOne(name: Name): Promise<number> {
  // The project's own tsx (also when run without npm); argv array, output inherited.
  const child = spawn(path.join(here, '..', 'node_modules', '.bin', 'tsx'), [path.join(here, `${name}.ts`)], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) { process.stdout.write(help()); return; }
  const unknown = args.filter((a) => !(a in benches));
  if (unknown.length) {
    process.stderr.write(`bench: unknown benchmark ${unknown.map((u) => `'${u}'`).join(', ')}; choose from ${Object.keys(benches).join(', ')}\n\n${help()}`);
    process.exit(2);
  }
  const names = args.length ? (args as Name[]) : defaults;
  for (const name of names) {
    const code = await runOne(name);
    if (code !== 0) {
      process.stderr.write(`bench: ${name} failed (exit ${code}); not running ${names.slice(names.indexOf(name) + 1).join(', ') || 'anything else'}\n`);
      process.exit(code);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
