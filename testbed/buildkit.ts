// Test bed, part 3b: BuildKit. buildkitd and buildctl built from the Go module proxy into the cache
// (moby/buildkit v0.19+ has `exclude` directives in its go.mod, so `go install …@v0.31.2` is
// refused; a wrapper module that records both commands as tools builds them in one `go build`),
// runc from Debian for RUN steps, and busybox-static (the one binary test images copy in, as
// FROM scratch images have no shell). buildkitd runs as root: OCI worker, no containerd, host
// networking, overlayfs snapshotter when an overlay mount works here, else native.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { killGroup } from './ephemeral-temporal.js';
import {
  binDir, buildctlBin, buildkitdBin, buildkitStateDir, embeddedBuildkitAddr, pins, runcBin, srcDir, stateDir,
} from './paths.js';
import { isAlive, poll, readPid, run, startDaemon, stopDaemon, tryRun } from './proc.js';
import { aptInstallPinned } from './registry.js';

type Log = (m: string) => void;
const NAME = 'buildkitd';
const MODULE = 'github.com/moby/buildkit';
// Upstream's own exclude block (mirrored so the wrapper resolves the same graph).
const EXCLUDES = [
  'github.com/davecgh/go-spew@v1.1.2-0.20180830191138-d8f796af33cc',
  'github.com/pmezard/go-difflib@v1.0.1-0.20181226105442-5d4384ee4fb2',
];
export const buildTimesFile = path.join(stateDir, 'build-tools-times.json');

async function versionOf(bin: string): Promise<string | undefined> {
  if (!fs.existsSync(bin)) return undefined;
  const out = await tryRun([bin, '--version'], { timeoutMs: 30_000 });
  return out ? / (v\d+\.\d+\.\d+\S*)/.exec(out.stdout)?.[1] : undefined;
}

function recordTime(component: string, entry: Record<string, unknown>): void {
  let all: Record<string, unknown> = {};
  try { all = JSON.parse(fs.readFileSync(buildTimesFile, 'utf8')) as Record<string, unknown>; } catch { /* first */ }
  all[component] = { ...entry, at: new Date().toISOString() };
  fs.mkdirSync(path.dirname(buildTimesFile), { recursive: true });
  fs.writeFileSync(buildTimesFile, JSON.stringify(all, null, 2));
}

/** go at lower priority with at most 2 parallel compiles (the machine is shared with other builds). */
function go(args: string[], cwd: string) {
  return run(['nice', '-n', '10', 'go', ...args], { cwd, env: { ...process.env, CGO_ENABLED: '0' }, timeoutMs: 60 * 60_000 });
}

export async function installBuildkit(log: Log = console.log): Promise<void> {
  await aptInstallPinned({ runc: pins.runc, 'busybox-static': pins.busyboxStatic }, log);
  const [d, c] = [await versionOf(buildkitdBin), await versionOf(buildctlBin)];
  if (d === pins.buildkit && c === pins.buildkit) {
    log(`buildkit: buildkitd and buildctl ${pins.buildkit} already built in ${binDir}`);
    return;
  }
  const dir = path.join(srcDir, 'buildkit');
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(binDir, { recursive: true });
  const t0 = performance.now();
  log(`buildkit: building buildkitd and buildctl ${pins.buildkit} (wrapper module in ${dir}; several minutes on 2 cores)`);
  for (const f of ['go.mod', 'go.sum']) fs.rmSync(path.join(dir, f), { force: true });
  await go(['mod', 'init', 'testbed.local/buildkit'], dir);
  await go(['mod', 'edit', ...EXCLUDES.map((e) => `-exclude=${e}`)], dir);
  await go(['get', '-tool', `${MODULE}/cmd/buildkitd@${pins.buildkit}`, `${MODULE}/cmd/buildctl@${pins.buildkit}`], dir);
  const resolveMs = performance.now() - t0;
  // Like upstream's release build, minus the seccomp tag (it needs cgo and libseccomp).
  await go(['build', '-p', '2', '-trimpath', '-tags', 'osusergo netgo static_build',
    '-ldflags', `-s -w -X ${MODULE}/version.Version=${pins.buildkit} -X ${MODULE}/version.Package=${MODULE}`,
    '-o', `${binDir}/`, `${MODULE}/cmd/buildkitd`, `${MODULE}/cmd/buildctl`], dir);
  const ms = performance.now() - t0;
  recordTime('buildkit', { pin: pins.buildkit, ms: Math.round(ms), resolveMs: Math.round(resolveMs), buildMs: Math.round(ms - resolveMs) });
  const [d2, c2] = [await versionOf(buildkitdBin), await versionOf(buildctlBin)];
  if (d2 !== pins.buildkit || c2 !== pins.buildkit) throw new Error(`buildkit: expected ${pins.buildkit} after the build, found buildkitd ${d2 ?? 'none'}, buildctl ${c2 ?? 'none'}`);
  log(`buildkit: built ${pins.buildkit} in ${(ms / 1000).toFixed(0)} s`);
}

/** Whether an overlay mount works under `dir` (not when the root fs is itself overlayfs, say). */
export async function overlayWorks(dir: string): Promise<boolean> {
  const probe = fs.mkdtempSync(path.join(dir, 'overlay-probe-'));
  const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => path.join(probe, d)) as [string, string, string, string];
  for (const d of [lower, upper, work, merged]) fs.mkdirSync(d);
  try {
    const ok = await tryRun(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged], { timeoutMs: 10_000 });
    if (!ok) return false;
    await tryRun(['umount', merged], { timeoutMs: 10_000 });
    return true;
  } finally {
    fs.rmSync(probe, { recursive: true, force: true });
  }
}

export function buildkitdConfig(snapshotter: 'overlayfs' | 'native'): string {
  return [
    '[worker.oci]', '  enabled = true', `  snapshotter = "${snapshotter}"`, '  gc = true',
    '[worker.containerd]', '  enabled = false', '',
  ].join('\n');
}

function buildkitdArgv(o: { root: string; addr: string; config: string; snapshotter: string }): string[] {
  return [buildkitdBin, '--config', o.config, '--root', o.root, '--addr', o.addr,
    '--oci-worker=true', '--containerd-worker=false', '--oci-worker-net=host', `--oci-worker-snapshotter=${o.snapshotter}`];
}

/** buildkitd answers and has a worker; returns the snapshotter it reports. */
export async function buildkitWorkers(addr: string): Promise<string | undefined> {
  const out = await tryRun([buildctlBin, '--addr', addr, 'debug', 'workers', '--verbose'], { timeoutMs: 10_000 });
  if (!out) return undefined;
  return /org\.mobyproject\.buildkit\.worker\.snapshotter:\s*(\S+)/.exec(out.stdout)?.[1] ?? (/ID:/.test(out.stdout) ? 'unknown' : undefined);
}

function requireBinaries(): void {
  for (const b of [buildkitdBin, buildctlBin, runcBin]) {
    if (!fs.existsSync(b)) throw new Error(`${b} is missing: run \`npm run testbed -- install\``);
  }
}

export async function upBuildkit(log: Log = console.log): Promise<{ addr: string; snapshotter: string }> {
  await installBuildkit(log);
  const addr = embeddedBuildkitAddr;
  const running = await buildkitWorkers(addr);
  if (running) { log(`buildkit: already serving at ${addr} (snapshotter ${running})`); return { addr, snapshotter: running }; }
  const root = path.join(buildkitStateDir, 'root');
  fs.mkdirSync(root, { recursive: true });
  const snapshotter = (await overlayWorks(buildkitStateDir)) ? 'overlayfs' : 'native';
  const config = path.join(buildkitStateDir, 'buildkitd.toml');
  fs.writeFileSync(config, buildkitdConfig(snapshotter));
  startDaemon(NAME, buildkitdArgv({ root, addr, config, snapshotter }));
  let reported: string | undefined;
  await poll(async () => (reported = await buildkitWorkers(addr)) !== undefined, { timeoutMs: 60_000, what: `buildkitd at ${addr}`, logName: NAME });
  log(`buildkit: serving at ${addr}, OCI worker, snapshotter ${reported}`);
  return { addr, snapshotter: reported ?? snapshotter };
}

export async function downBuildkit(log: Log = console.log): Promise<void> {
  if (await stopDaemon(NAME, 30_000)) log('buildkit: stopped'); else log('buildkit: not running');
}

export async function buildkitStatus(): Promise<{ addr: string; snapshotter?: string; pid?: number }> {
  const snapshotter = await buildkitWorkers(embeddedBuildkitAddr);
  return { addr: embeddedBuildkitAddr, ...(snapshotter ? { snapshotter } : {}), ...(readPid(NAME) ? { pid: readPid(NAME)! } : {}) };
}

export interface EphemeralBuildkit { addr: string; pid: number; root: string; snapshotter: string; log: string; stop(): Promise<void> }

function mountsUnder(dir: string): string[] {
  try {
    return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '')
      .map((m) => m.replace(/\\040/g, ' ')).filter((m) => m.startsWith(`${dir}/`)).reverse();
  } catch { return []; }
}

/** A throwaway buildkitd with its own root and socket (tests, benchmarks): a cold local cache. */
export async function startEphemeralBuildkit(): Promise<EphemeralBuildkit> {
  requireBinaries();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-buildkit-'));
  const addr = `unix://${path.join(root, 'buildkitd.sock')}`;
  const snapshotter = (await overlayWorks(root)) ? 'overlayfs' : 'native';
  const config = path.join(root, 'buildkitd.toml');
  fs.writeFileSync(config, buildkitdConfig(snapshotter));
  const log = path.join(root, 'buildkitd.log');
  const out = fs.openSync(log, 'w');
  const argv = buildkitdArgv({ root: path.join(root, 'state'), addr, config, snapshotter });
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.unref();
  const pid = child.pid!;
  let exited = false;
  child.once('exit', () => { exited = true; });
  let reported: string | undefined;
  // poll() treats a throwing check as "not ready", so an early exit ends the wait by returning true.
  await poll(async () => exited || (reported = await buildkitWorkers(addr)) !== undefined, { timeoutMs: 60_000, what: `buildkitd at ${addr} (log ${log})` })
    .catch((err: unknown) => { killGroup(pid); throw err; });
  if (exited) throw new Error(`buildkitd exited at start: ${fs.readFileSync(log, 'utf8').slice(-2000)}`);
  return {
    addr, pid, root, log, snapshotter: reported ?? snapshotter,
    async stop() {
      try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ }
      const stopped = await poll(() => !isAlive(pid), { timeoutMs: 20_000, what: 'buildkitd to stop', throwOnTimeout: false });
      if (!stopped) killGroup(pid);
      for (const m of mountsUnder(root)) await tryRun(['umount', '-l', m], { timeoutMs: 10_000 });
      if (mountsUnder(root).length === 0) fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
