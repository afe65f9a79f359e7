// Test bed: the Argo Rollouts controller (the peer in bench/peers.ts), built from the Go module proxy
// into the cache and run as a local process against the test bed's kube-apiserver.
//
// Its go.mod has replace directives (so `go install pkg@version` refuses it) and asks for a newer Go
// than some machines have: the module is downloaded with `go mod download`, copied to a writable
// directory under the cache and built there with `go build`, stamped like upstream's Makefile
// (utils/version.version). One patch to the copy: the controller binds its metrics and health
// servers to the constant "0.0.0.0:%d"; the test bed listens on loopback only, so the copy says
// "127.0.0.1:%d". Skipped when the built binary reports the pin; the cold build time is recorded in
// state/build-tools-times.json.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { buildTimesFile } from './buildkit.js';
import { apiserverReady, conditionTrue, getJson, kubectl, probe, type List } from './k8s/client.js';
import { kubeconfigPath } from './k8s/config.js';
import { argoRolloutsBin, binDir, logDir, pins, srcDir } from './paths.js';
import { poll, run, tryRun } from './proc.js';

type Log = (m: string) => void;
const MODULE = 'github.com/argoproj/argo-rollouts';
const LISTEN_FROM = '"0.0.0.0:%d"';
const LISTEN_TO = '"127.0.0.1:%d"';

/** The module copy the binary is built from (and the CRDs are applied from). */
export const argoRolloutsSrc = path.join(srcDir, `argo-rollouts-${pins.argoRollouts}`);

/** "v1.10.1+unknown" for a build stamped 1.10.1 without git metadata: the pin, or undefined. */
export async function argoRolloutsVersion(): Promise<string | undefined> {
  if (!fs.existsSync(argoRolloutsBin)) return undefined;
  const out = await tryRun([argoRolloutsBin, '--version'], { timeoutMs: 30_000 });
  return out?.stdout.trim().split(/\s+/)[0]?.replace(/\+.*$/, '') || undefined;
}

function recordTime(entry: Record<string, unknown>): void {
  let all: Record<string, unknown> = {};
  try { all = JSON.parse(fs.readFileSync(buildTimesFile, 'utf8')) as Record<string, unknown>; } catch { /* first */ }
  all.argoRollouts = { ...entry, at: new Date().toISOString() };
  fs.mkdirSync(path.dirname(buildTimesFile), { recursive: true });
  fs.writeFileSync(buildTimesFile, JSON.stringify(all, null, 2));
}

function makeWritable(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    fs.chmodSync(p, e.isDirectory() ? 0o755 : 0o644);
    if (e.isDirectory()) makeWritable(p);
  }
  fs.chmodSync(dir, 0o755);
}

/** Downloads the pinned module into a writable copy under the cache (kept: the CRDs come from it too). */
async function ensureSource(log: Log): Promise<void> {
  const stamp = path.join(argoRolloutsSrc, '.gantry-patched');
  if (fs.existsSync(stamp)) return;
  log(`argo-rollouts: downloading ${MODULE}@${pins.argoRollouts} from the Go module proxy`);
  const { stdout } = await run(['go', 'mod', 'download', '-json', `${MODULE}@${pins.argoRollouts}`], { cwd: binDir, timeoutMs: 10 * 60_000 });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (info.Error || !info.Dir) throw new Error(`argo-rollouts: go mod download ${MODULE}@${pins.argoRollouts}: ${info.Error ?? 'no Dir'}`);
  fs.rmSync(argoRolloutsSrc, { recursive: true, force: true });
  fs.mkdirSync(srcDir, { recursive: true });
  fs.cpSync(info.Dir, argoRolloutsSrc, { recursive: true });
  makeWritable(argoRolloutsSrc); // the module cache is read-only
  const ctl = path.join(argoRolloutsSrc, 'controller', 'controller.go');
  const text = fs.readFileSync(ctl, 'utf8');
  if (!text.includes(LISTEN_FROM)) throw new Error(`argo-rollouts: ${ctl} has no ${LISTEN_FROM} to bind to loopback; update testbed/argo-rollouts.ts for ${pins.argoRollouts}`);
  fs.writeFileSync(ctl, text.split(LISTEN_FROM).join(LISTEN_TO));
  fs.writeFileSync(stamp, `${MODULE}@${pins.argoRollouts}: listen ${LISTEN_TO}\n`);
}

/** Builds the controller (idempotent) and applies its CRDs to the test bed (server-side, Established). */
export async function installArgoRollouts(log: Log = console.log): Promise<void> {
  const have = await argoRolloutsVersion();
  if (have === pins.argoRollouts) log(`argo-rollouts: ${pins.argoRollouts} already built at ${argoRolloutsBin}`);
  else {
    fs.mkdirSync(binDir, { recursive: true });
    const t0 = performance.now();
    await ensureSource(log);
    log(`argo-rollouts: building ${MODULE}/cmd/rollouts-controller@${pins.argoRollouts} into ${binDir} (about 4-5 minutes cold on 2 cores)`);
    const ldflags = ['-s', '-w', `-X ${MODULE}/utils/version.version=${pins.argoRollouts.replace(/^v/, '')}`];
    // Lower CPU priority, at most 2 parallel compiles: the machine is shared.
    await run(['nice', '-n', '10', 'go', 'build', '-p', '2', '-trimpath', '-ldflags', ldflags.join(' '), '-o', argoRolloutsBin, './cmd/rollouts-controller'],
      { cwd: argoRolloutsSrc, env: { ...process.env, CGO_ENABLED: '0' }, timeoutMs: 60 * 60_000 });
    const ms = performance.now() - t0;
    const now = await argoRolloutsVersion();
    if (now !== pins.argoRollouts) throw new Error(`argo-rollouts: expected ${pins.argoRollouts} after the build, found ${now ?? 'nothing'} at ${argoRolloutsBin}`);
    recordTime({ pin: pins.argoRollouts, ms: Math.round(ms) });
    log(`argo-rollouts: built ${pins.argoRollouts} in ${(ms / 1000).toFixed(0)} s`);
  }
  await ensureSource(log);
  await applyCrds(log);
}

async function applyCrds(log: Log): Promise<void> {
  const t0 = Date.now();
  const dir = path.join(argoRolloutsSrc, 'manifests', 'crds');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('-crd.yaml')).map((f) => path.join(dir, f));
  if (files.length === 0) throw new Error(`argo-rollouts: no *-crd.yaml in ${dir}`);
  // Server-side: the Rollout CRD is larger than the last-applied annotation allows.
  await kubectl(['apply', '--server-side', '--field-manager=gantry-testbed', '--force-conflicts', ...files.flatMap((f) => ['-f', f])]);
  await poll(async () => {
    const crds = await getJson<List<{ metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }>>(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
    const mine = crds.items.filter((c) => c.metadata.name.endsWith('.argoproj.io'));
    return mine.length >= files.length && mine.every((c) => conditionTrue(c, 'Established'));
  }, { timeoutMs: 60_000, what: 'Argo Rollouts CRDs to be Established' });
  log(`argo-rollouts: ${files.length} CRDs applied (server-side) and Established in ${Date.now() - t0} ms`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
  });
}

export interface ArgoRollouts { pid: number; logFile: string; healthzPort: number; metricsPort: number; stop(): Promise<void> }

/**
 * Runs the controller in the foreground of this process (a child, killed by stop()), namespaced to
 * `namespace`, without leader election, health and metrics on loopback free ports; resolves once
 * /healthz answers. It exits at once when the apiserver does not answer (e.g. restarted by another
 * test): then it is started again once /readyz answers, at most 3 times.
 */
export async function startArgoRollouts(opts: { namespace: string; logLevel?: 'debug' | 'info' | 'warn' | 'error' }): Promise<ArgoRollouts> {
  if (!fs.existsSync(argoRolloutsBin)) throw new Error(`argo-rollouts: ${argoRolloutsBin} is missing; call installArgoRollouts() first`);
  for (let attempt = 1; ; attempt++) {
    const r = await startOnce(opts);
    if (typeof r !== 'string') return r;
    if (attempt >= 3) throw new Error(r);
    await poll(apiserverReady, { timeoutMs: 120_000, what: 'the test bed kube-apiserver /readyz (argo-rollouts exited early)' });
  }
}

/** The controller once healthy, or why it exited before. */
async function startOnce(opts: { namespace: string; logLevel?: string }): Promise<ArgoRollouts | string> {
  const [healthzPort, metricsPort] = [await freePort(), await freePort()];
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `argo-rollouts-${opts.namespace}.log`);
  const out = fs.openSync(logFile, 'a');
  const argv = [argoRolloutsBin, `--kubeconfig=${kubeconfigPath}`, '--namespaced', `--namespace=${opts.namespace}`, '--leader-elect=false',
    `--healthzPort=${healthzPort}`, `--metricsPort=${metricsPort}`, `--loglevel=${opts.logLevel ?? 'info'}`];
  // POD_NAMESPACE: where it looks for its notification ConfigMap (none here; keeps it off other namespaces).
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, POD_NAMESPACE: opts.namespace }, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  if (!child.pid) throw new Error(`argo-rollouts: could not start ${argv.join(' ')}`);
  let exited: string | undefined;
  child.on('exit', (code, signal) => { exited = `exited (${signal ?? code})`; });
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const gone = await poll(() => exited !== undefined, { timeoutMs: 10_000, what: 'argo-rollouts to stop', throwOnTimeout: false });
    if (!gone) child.kill('SIGKILL');
  };
  try {
    await poll(async () => exited !== undefined || await probe(`http://127.0.0.1:${healthzPort}/healthz`, { timeoutMs: 1_000 }),
      { timeoutMs: 60_000, intervalMs: 50, what: `argo-rollouts /healthz on 127.0.0.1:${healthzPort} (log ${logFile})` });
  } catch (err) {
    await stop();
    throw err;
  }
  if (exited) return `argo-rollouts ${exited} before it was healthy; see ${logFile}`;
  return { pid: child.pid, logFile, healthzPort, metricsPort, stop };
}
