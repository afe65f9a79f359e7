// Starts a dedicated, in-memory Temporal dev server for this test run (a real server, from the
// test bed's pinned install), unless TEMPORAL_ADDRESS points at the user's own. Fails loudly when
// the binary is missing: run `npm run testbed -- install` (npm test does it first).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killGroup, startEphemeralTemporal } from '../../testbed/ephemeral-temporal.js';
import { temporalHealthy } from '../../testbed/temporal.js';

const serverInfoFile = path.join(os.tmpdir(), `gantry-test-temporal-${process.pid}.json`);

export async function startTestServer(): Promise<void> {
  if (process.env.TEMPORAL_ADDRESS) {
    if (!(await temporalHealthy(process.env.TEMPORAL_ADDRESS))) throw new Error(`TEMPORAL_ADDRESS=${process.env.TEMPORAL_ADDRESS} does not answer a health check`);
    process.env.GANTRY_TEST_TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS;
    return;
  }
  // Faster worker failover in the kill -9 tests: sticky queues are abandoned after 1s.
  const server = await startEphemeralTemporal(['--dynamic-config-value', 'matching.stickyPollerUnavailableWindow="1s"']);
  fs.writeFileSync(serverInfoFile, JSON.stringify({ pid: server.pid }));
  process.env.GANTRY_TEST_TEMPORAL_ADDRESS = server.address;
  console.log(`\n[test] real Temporal dev server ${server.address} (pid ${server.pid}, log ${server.log})`);
}

export function stopTestServer(): void {
  try {
    const { pid } = JSON.parse(fs.readFileSync(serverInfoFile, 'utf8')) as { pid: number };
    killGroup(pid);
  } catch { /* no server started (TEMPORAL_ADDRESS) */ }
  fs.rmSync(serverInfoFile, { force: true });
}
