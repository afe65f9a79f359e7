// Starts a dedicated, in-memory Temporal dev server for this test run (a real server, from the
// test bed's pinned install), unless TEMPORAL_ADDRESS points at the user's own. Fails loudly when
// the binary is missing: run `npm run testbed -- install` (npm test does it first).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { temporalBin } from '../../testbed/paths.js';
import { poll } from '../../testbed/proc.js';
import { temporalHealthy } from '../../testbed/temporal.js';

export const serverInfoFile = path.join(os.tmpdir(), `gantry-test-temporal-${process.ppid}-${process.pid}.json`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export async function startTestServer(): Promise<void> {
  if (process.env.TEMPORAL_ADDRESS) {
    if (!(await temporalHealthy(process.env.TEMPORAL_ADDRESS))) throw new Error(`TEMPORAL_ADDRESS=${process.env.TEMPORAL_ADDRESS} does not answer a health check`);
    process.env.GANTRY_TEST_TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS;
    return;
  }
  if (!fs.existsSync(temporalBin)) {
    throw new Error(`Temporal dev server binary missing at ${temporalBin}: run \`npm run testbed -- install\` (npm test does this first)`);
  }
  const port = await freePort();
  const uiPort = await freePort();
  const address = `127.0.0.1:${port}`;
  const log = path.join(os.tmpdir(), `gantry-test-temporal-${port}.log`);
  const out = fs.openSync(log, 'w');
  const child = spawn(temporalBin, ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort),
    '--headless', '--namespace', 'default', '--log-level', 'warn',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true',
    // Faster worker failover in the kill -9 tests: sticky queues time out after 1s (default 5s).
    '--dynamic-config-value', 'matching.stickyPollerUnavailableWindow="1s"',
  ], { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  await poll(() => temporalHealthy(address), { timeoutMs: 60_000, what: `test Temporal dev server at ${address} (log: ${log})` });
  fs.writeFileSync(serverInfoFile, JSON.stringify({ address, pid: child.pid, log }));
  process.env.GANTRY_TEST_TEMPORAL_ADDRESS = address;
  console.log(`\n[test] real Temporal dev server ${address} (pid ${child.pid}, log ${log})`);
}

export function stopTestServer(): void {
  try {
    const { pid } = JSON.parse(fs.readFileSync(serverInfoFile, 'utf8')) as { pid: number };
    try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  } catch { /* no server started (TEMPORAL_ADDRESS) */ }
  fs.rmSync(serverInfoFile, { force: true });
}
