// `npm start`: Gantry on the embedded Temporal dev server (or TEMPORAL_ADDRESS): the worker and the
// HTTP API, the worker as a supervised child process. Releases go to the SIMULATED cluster (a JSON
// file under the state dir), and the output says so; `npm run demo` shows the same on the local
// Kubernetes test bed. The worker serves every activity the workflows call (worker/main.ts).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLogger, startApi } from '../api/main.js';
import { loadApiConfig, loadWorkerConfig } from '../runtime/config.js';
import { describeTemporal } from '../runtime/temporal.js';
import { taskQueueFrom } from '../workflows/messages.js';
import { superviseWorker } from '../worker/worker.js';
import { testbedConsoleEnv, testbedGantryEnv } from './gantry-env.js';
import { stateDir } from './paths.js';
import { upTemporal } from './temporal.js';

interface DemoIdentity { id: string; groups: string[] }
const demoPeople: DemoIdentity[] = [
  { id: 'alice', groups: ['sre'] },
  { id: 'bob', groups: ['sre'] },
  { id: 'carol', groups: ['dev'] },
];

/** Demo tokens, made once per machine (random, stored 0600 in the state dir), unless the user configured tokens. */
function demoTokens(): Record<string, DemoIdentity> {
  const file = path.join(stateDir, 'demo-tokens.json');
  try { return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, DemoIdentity>; } catch { /* make them */ }
  const tokens = Object.fromEntries(demoPeople.map((p) => [`${p.id}-${crypto.randomBytes(12).toString('hex')}`, p]));
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(tokens, null, 2), { mode: 0o600 });
  return tokens;
}

const exampleConfig = `# An example gantry.yaml: the seed's 10 pods over 2 zones, in groups of 1, 2 and the rest per zone.
app:
  name: shop
  image: registry.local/shop/web
environments:
  - name: staging
    replicas: 4
    cells: [{ name: zone-a }, { name: zone-b }]
    groups:
      - { pods: 1, confirm: { type: auto } }
      - { pods: rest }
  - name: production
    replicas: 10
    cells: [{ name: zone-a }, { name: zone-b }]
    groups:
      - { pods: 1, confirm: { type: pause, duration: 30s } }
      - { pods: 2, confirm: { type: manual, timeout: 48h } }
      - { pods: rest }
    approvers: { groups: [sre] }
    deadlines: { progress: 5m }
`;

async function main(): Promise<void> {
  // The embedded dev server only when nothing configures Temporal (TEMPORAL_ADDRESS, a profile, TLS:
  // runtime/temporal.ts); otherwise the worker and the API connect with that configuration.
  const own = loadApiConfig(process.env).temporal;
  const t = own.configured
    ? { address: own.address, embedded: false, uiUrl: undefined }
    : await upTemporal((m) => console.log(`  ${m}`));
  const simDir = path.join(stateDir, 'sim');
  const taskQueue = taskQueueFrom(process.env);
  // The worker runs as a supervised child process (worker/main.ts, the same activities as
  // `npm run worker`: the simulated cluster, notices, pipeline, GitHub, build catalog), so that a
  // workflow that takes the worker down (Node ends a process whose workflow task is interrupted
  // inside a cancellation scope: "async hook stack has become corrupted") never takes the API with
  // it; the supervisor starts it again and the durable workflows carry on.
  // Its settings are the environment (runtime/config.ts): the test bed's addresses, tools and dirs.
  const base = testbedGantryEnv(process.env, { temporalAddress: t.address, taskQueue });
  const workerEnv = {
    ...base, GANTRY_CLUSTER: 'sim', GANTRY_SIM_DIR: simDir,
    GANTRY_SIM_APPLY_DELAY_MS: '1500', GANTRY_SIM_READY_DELAY_MS: '1500', GANTRY_LOG_LEVEL: process.env.GANTRY_LOG_LEVEL ?? 'WARN',
  };
  // Checked here first: a configuration problem stops `npm start` with its hint, not a restart loop.
  loadWorkerConfig(workerEnv);
  let tokens: Record<string, DemoIdentity> | undefined;
  if (!process.env.GANTRY_TOKENS && !process.env.GANTRY_SERVER_CONFIG) tokens = demoTokens();
  // The API logs warnings and errors (a 500 points at this log), not every request. The console
  // signs people in with an API token and links to the dev server's Temporal UI.
  const apiConfig = loadApiConfig({
    ...base, ...testbedConsoleEnv(base, { temporalUiUrl: t.uiUrl }),
    GANTRY_LOG_LEVEL: process.env.GANTRY_LOG_LEVEL ?? 'warn', ...(tokens ? { GANTRY_TOKENS: JSON.stringify(tokens) } : {}),
  });
  const worker = superviseWorker({
    entry: fileURLToPath(new URL('../worker/main.ts', import.meta.url)),
    env: workerEnv,
    onExit: ({ code, signal, restartInMs }) => {
      if (restartInMs !== undefined) console.error(`gantry: the worker process died (${signal ?? `code ${code}`}); starting it again in ${restartInMs} ms`);
    },
  });
  await worker.started();

  const api = await startApi({ config: apiConfig, logger: defaultLogger(apiConfig.logLevel) }).catch(async (err: unknown) => {
    await worker.stop();
    throw err;
  });
  const example = path.join(stateDir, 'example', 'gantry.yaml');
  fs.mkdirSync(path.dirname(example), { recursive: true });
  fs.writeFileSync(example, exampleConfig);

  const tokenOf = (id: string) => Object.entries(tokens ?? {}).find(([, v]) => v.id === id)?.[0] ?? '<token>';
  console.log(`
Gantry is running.
  Temporal   ${t.embedded ? `${t.address} (embedded dev server)  UI: ${t.uiUrl}` : describeTemporal(apiConfig.temporal)}
  API        ${api.url}
${apiConfig.console ? `  Console    ${api.url}/ui  ${apiConfig.console.tokenLogin ? (tokens ? `sign in with alice's token: ${tokenOf('alice')}` : 'sign in with an API token') : 'sign in through your OIDC provider or auth proxy'}\n` : ''}  Cluster    SIMULATED (${simDir}): releases move numbers, not pods (npm run demo releases to the local Kubernetes test bed).
${tokens ? `  Tokens     ${Object.entries(tokens).map(([tok, p]) => `${p.id} (${p.groups.join(',')}): ${tok}`).join('\n             ')}\n             (demo identities, stored in ${path.join(stateDir, 'demo-tokens.json')})` : '  Tokens     from GANTRY_TOKENS / GANTRY_SERVER_CONFIG'}

Try it (in another terminal):
  export GANTRY_API=${api.url}
  GANTRY_TOKEN=${tokenOf('carol')} npm run --silent gantry -- release start -f ${example} -e production --digest sha256:${'1'.repeat(64)} --author carol
  GANTRY_TOKEN=${tokenOf('carol')} npm run --silent gantry -- release watch shop production
  GANTRY_TOKEN=${tokenOf('alice')} npm run --silent gantry -- approve shop production -m "looks good"

Ctrl-C stops Gantry (releases in flight are durable: they continue on the next start).`);

  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log('stopping Gantry (the Temporal dev server keeps running: npm run testbed -- down stops it)');
    await api.close().catch((err: unknown) => console.error('gantry: API shutdown:', err instanceof Error ? err.message : err));
    await worker.stop();
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  await worker.done;
}

main().catch((err: unknown) => {
  console.error('gantry: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
