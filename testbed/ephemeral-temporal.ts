// A throwaway, in-memory Temporal dev server on free loopback ports: one per test run or benchmark,
// so they never see each other's workflows. Same pinned binary as the embedded server. Optionally on a
// fixed port with its state in a SQLite file, so it can be stopped and started again with its state
// (the chaos run restarts it in the middle of a release).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { temporalBin } from './paths.js';
import { poll } from './proc.js';
import { searchAttributeFlags } from '../core/search-attributes.js';
import { devServerFlags, temporalHealthy } from './temporal.js';

export interface EphemeralTemporal { address: string; pid: number; log: string; stop(): void }

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no free port'))));
    });
  });
}

export function killGroup(pid: number): void {
  try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

export interface EphemeralTemporalOptions {
  /** The frontend port (default: a free one). A restart on the same port keeps the address; the log is then appended to. */
  port?: number;
  /** Keep the server's state in this SQLite file (default: in memory), so a restart finds it again. */
  dbFilename?: string;
  /** Register Gantry's search attributes at start (default true; false: a server like one set up without them). */
  searchAttributes?: boolean;
  /** Without the dispatch tuning of devServerFlags (the benchmarks' "before"). */
  stock?: boolean;
}

export async function startEphemeralTemporal(extraArgs: string[] = [], opts: EphemeralTemporalOptions = {}): Promise<EphemeralTemporal> {
  if (!fs.existsSync(temporalBin)) {
    throw new Error(`Temporal dev server binary missing at ${temporalBin}: run \`npm run testbed -- install\``);
  }
  const port = opts.port ?? await freePort();
  const uiPort = await freePort();
  const address = `127.0.0.1:${port}`;
  const log = path.join(os.tmpdir(), `gantry-temporal-${port}.log`);
  const out = fs.openSync(log, opts.port === undefined ? 'w' : 'a');
  const child = spawn(temporalBin, ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort),
    '--headless', '--namespace', 'default', '--log-level', 'warn',
    ...devServerFlags({ file: opts.dbFilename !== undefined, stock: opts.stock === true }),
    // Gantry's custom search attributes (release list, "waiting for me", metrics).
    ...(opts.searchAttributes === false ? [] : searchAttributeFlags()),
    ...(opts.dbFilename ? ['--db-filename', opts.dbFilename] : []),
    ...extraArgs,
  ], { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.unref();
  const pid = child.pid!;
  let exited = false;
  child.once('exit', () => { exited = true; });
  // poll() treats a throwing check as "not ready yet": an early exit must end the wait by returning true.
  await poll(async () => exited || temporalHealthy(address), { timeoutMs: 60_000, what: `Temporal dev server at ${address} (log: ${log})` })
    .catch((err: unknown) => { killGroup(pid); throw err; });
  if (exited) throw new Error(`Temporal dev server exited at start; log ${log}:\n${fs.readFileSync(log, 'utf8').slice(-2000)}`);
  return { address, pid, log, stop: () => killGroup(pid) };
}
