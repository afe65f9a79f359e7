// The chaos run (issue 12), shared by test/durability/chaos.test.ts (>= 20 kills) and bench/chaos.ts
// (50+): releases on the local control plane (kube-apiserver, controllers, kwok nodes) driven by the
// worker in its own process, which is killed with SIGKILL at random moments (a seeded generator picks
// each uptime and each restart delay) and restarted, while its own Temporal dev server (state in a
// SQLite file) is killed and started again once in the middle. The scenario:
//
//   baseline  V1 on every pod (no chaos yet);
//   release 1 V2 in groups 1, 2, rest per zone: a pause (timer) after group 1, a manual approval after
//             group 2 (given by an approver through the Update, once enough kills have happened), succeeds;
//   release 2 V3, a failing Prometheus check after group 1: rolled back to V2 automatically;
//   release 3 V4, groups 1, 2 then a manual approval, aborted by an approver (after the last of the
//             required kills): rolled back to V2.
//
// The kills are shared out over the releases (each may use up to its share, so the run takes no
// longer than needed); the approval waits for half of release 1's share, the abort for every required
// kill, and a few more are allowed while release 3 rolls back.
//
// `rounds` repeats the three releases with new revisions (the benchmark's 50+ kills are shared out
// among rounds, so they land in every kind of step rather than mostly in one long wait).
//
// Then the effects as the cluster saw them are compared with the plan: pods created and removed per
// revision and zone (every group's pods created once and removed once, nothing more), each
// Deployment's sequence of sizes (one step per group applied: a group applied twice would show as an
// extra step), the revision record's history (one entry per release), the decisions (one each), no pod
// deleted while an EndpointSlice listed it ready, the drain grace honoured, serving capacity never
// under the plan's floor. Every excess effect counts as a duplicate.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, Watch, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { KubeClients } from '../../../activities/k8s/index.js';
import { GantryError } from '../../../api/errors.js';
import { GantryService } from '../../../api/service.js';
import { Action } from '../../../core/approval.js';
import type { GantryConfig } from '../../../core/config.js';
import { canaryTargets, environmentPlan } from '../../../core/plan.js';
import type { ReleaseStatus, Revision } from '../../../core/release.js';
import { Labels, planFloors } from '../../../core/rollout.js';
import { freePort, killGroup, startEphemeralTemporal, type EphemeralTemporal } from '../../../testbed/ephemeral-temporal.js';
import { isAlive } from '../../../testbed/proc.js';
import { waitForSeries } from '../../../testbed/prometheus.js';
import { portOpen } from '../../../testbed/temporal.js';
import { releaseWorkflowId, statusQuery } from '../../../workflows/messages.js';
import { workflowsPath } from '../../../worker/worker.js';
import { baseline, caller, dropNamespace, IMAGE, k8sConfig, names, podCounts, revisionOf, siteState, unique, V1, type K8sHarness } from './harness.js';
import { startMetricsBoard, type MetricsBoard } from './metrics.js';
import { Recorder, type Recorded } from './recorder.js';
import { ensureTestbed, type Testbed } from './testbed.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..', '..');
const ENV = 'production';
/** The n-th revision of the run (V1 is the baseline's). */
const revisionNo = (n: number): Revision => (n === 1 ? V1 : { image: IMAGE, digest: `sha256:${n.toString(16).padStart(64, '0')}` });

// ---------------------------------------------------------------------------------------------
// A seeded random generator (mulberry32): the same seed gives the same uptimes, delays and choices.

export interface Random { next(): number; between(lo: number, hi: number): number; int(lo: number, hi: number): number }

export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, between: (lo, hi) => lo + (hi - lo) * next(), int: (lo, hi) => lo + Math.floor((hi - lo + 1) * next()) };
}

/** A seed from CHAOS_SEED when set (to replay a run), else a fresh one. */
export function chaosSeed(env: NodeJS.ProcessEnv = process.env): number {
  const s = env.CHAOS_SEED;
  if (s === undefined || s === '') return Math.floor(Math.random() * 2 ** 31);
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new Error(`CHAOS_SEED=${s}: use a whole number from 0 to 4294967295 (the seed a chaos run printed)`);
  return n;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The Temporal dev server with its state on disk, on a fixed port, restartable.

const SERVER_ARGS = ['--dynamic-config-value', 'matching.stickyPollerUnavailableWindow="1s"'];

export class DiskTemporal {
  /** The server never outlives this process (e.g. jest's forceExit after a timeout). */
  private readonly onExit = () => killGroup(this.server.pid);

  private constructor(private server: EphemeralTemporal, readonly port: number, readonly dbFilename: string) {
    process.on('exit', this.onExit);
  }

  static async start(dir: string): Promise<DiskTemporal> {
    const port = await freePort();
    const dbFilename = path.join(dir, 'temporal.db');
    return new DiskTemporal(await startEphemeralTemporal(SERVER_ARGS, { port, dbFilename }), port, dbFilename);
  }

  get address(): string { return this.server.address; }
  get pid(): number { return this.server.pid; }
  get log(): string { return this.server.log; }

  /** SIGKILL (no chance to flush anything but what SQLite already committed), `downMs` later start again on the same port and file. */
  async restart(downMs: number): Promise<{ outageMs: number; pidBefore: number; pidAfter: number }> {
    const t0 = Date.now();
    const pidBefore = this.server.pid;
    this.server.stop();
    for (let i = 0; i < 200 && (isAlive(pidBefore) || await portOpen(this.address)); i++) await sleep(50);
    await sleep(downMs);
    this.server = await startEphemeralTemporal(SERVER_ARGS, { port: this.port, dbFilename: this.dbFilename });
    return { outageMs: Date.now() - t0, pidBefore, pidAfter: this.server.pid };
  }

  stop(): void {
    killGroup(this.server.pid);
    process.off('exit', this.onExit);
  }
}

// ---------------------------------------------------------------------------------------------
// The worker process and the monkey that kills it.

export interface WorkerProc {
  child: ChildProcess;
  pid: number;
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  tail(): string;
}

export function spawnWorker(env: NodeJS.ProcessEnv, logFile: string, n: number): WorkerProc {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'chaos-worker.ts')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  fs.appendFileSync(logFile, `--- worker #${n} pid ${pid} at ${new Date().toISOString()}\n`);
  let out = '';
  const keep = (b: Buffer) => {
    const s = b.toString();
    fs.appendFileSync(logFile, s);
    out = (out + s).slice(-8000);
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => { keep(b); if (out.includes('gantry worker: role')) resolve(); });
    child.stderr!.on('data', keep);
    void exited.then(({ code, signal }) => reject(new Error(`worker #${n} exited (${signal ?? code}) before it was ready:\n${out.slice(-2000)}`)));
  });
  ready.catch(() => undefined);
  return { child, pid, ready, exited, tail: () => out.slice(-2000) };
}

const running = (w: WorkerProc | undefined): w is WorkerProc => !!w && w.child.exitCode === null && w.child.signalCode === null;

async function kill9(w: WorkerProc): Promise<void> {
  if (!running(w)) return;
  try { process.kill(w.pid, 'SIGKILL'); } catch { /* already gone */ }
  await w.exited;
}

export interface KillRecord { n: number; at: number; pid: number; uptimeMs: number; phase: string }
export interface ServerRestart { afterKill: number; at: number; phase: string; outageMs: number; pidBefore: number; pidAfter: number }
export interface UnexpectedExit { at: number; pid: number; code: number | null; signal: string | null; phase: string; tail: string }

export interface MonkeyOptions {
  random: Random;
  spawn: () => WorkerProc;
  uptimeMs: [number, number];
  downMs: [number, number];
  serverDownMs: [number, number];
  /** The server is restarted during the uptime of the worker started after this many kills. */
  restartServerAfterKill: number;
  server: DiskTemporal;
  log: (m: string) => void;
}

export class Monkey {
  readonly kills: KillRecord[] = [];
  readonly unexpectedExits: UnexpectedExit[] = [];
  serverRestart: ServerRestart | undefined;
  starts = 0;
  startFailures = 0;
  /** What the release was doing, last seen (kills and the restart are labelled with it). */
  phase = 'setup';
  private current: WorkerProc | undefined;
  private readyAt = 0;
  /** Kills allowed so far (the scenario shares them out over its steps). */
  private limit = Number.POSITIVE_INFINITY;
  private stopping = false;
  private down = false;
  /** Every worker started (so none outlives the run, whatever happens). */
  private readonly all = new Set<WorkerProc>();
  private readonly onExit = () => { for (const w of this.all) if (running(w)) { try { process.kill(w.pid, 'SIGKILL'); } catch { /* gone */ } } };
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  error: unknown;

  constructor(private readonly o: MonkeyOptions) {
    process.on('exit', this.onExit);
  }

  /** Sleeps `ms`, or less when the monkey is stopped. */
  private nap(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); this.wake = undefined; resolve(); };
    });
  }

  /** Starts workers until one is ready (a start can fail, e.g. while the server is down). */
  async ensureWorker(): Promise<WorkerProc> {
    if (running(this.current)) return this.current;
    for (let attempt = 1; ; attempt++) {
      if (this.down) throw new Error('the chaos run is shutting down');
      const w = this.o.spawn();
      this.all.add(w);
      this.starts++;
      try {
        await w.ready;
        this.current = w;
        this.readyAt = Date.now();
        return w;
      } catch (err) {
        this.startFailures++;
        if (attempt >= 20) throw err;
        this.o.log(`worker start failed (attempt ${attempt}): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
        await sleep(500);
      }
    }
  }

  start(): void {
    this.loopDone = this.loop().catch((err: unknown) => { this.error = err; this.o.log(`monkey stopped by an error: ${String(err)}`); });
  }

  private async loop(): Promise<void> {
    const { random, log } = this.o;
    while (!this.stopping) {
      const w = await this.ensureWorker();
      // At the allowance: no kill now, the worker lives on until more kills are allowed (allow()).
      const held = this.kills.length >= this.limit;
      const up = held ? 1000 : random.between(...this.o.uptimeMs);
      const ended = await Promise.race([this.nap(up).then(() => 'up' as const), w.exited.then(() => 'exited' as const)]);
      if (ended === 'exited') {
        const { code, signal } = await w.exited;
        this.unexpectedExits.push({ at: Date.now(), pid: w.pid, code, signal, phase: this.phase, tail: w.tail() });
        log(`worker ${w.pid} exited on its own (${signal ?? code}) during ${this.phase}`);
        this.current = undefined;
        continue;
      }
      if (this.stopping) break;
      if (held) continue;
      if (!this.serverRestart && this.kills.length >= this.o.restartServerAfterKill) {
        // The worker stays up: it (and every client) must ride out the server's restart.
        const phase = this.phase;
        const r = await this.o.server.restart(random.between(...this.o.serverDownMs));
        this.serverRestart = { afterKill: this.kills.length, at: Date.now(), phase, ...r };
        log(`Temporal dev server killed and restarted (${r.outageMs} ms, pid ${r.pidBefore} -> ${r.pidAfter}) during ${phase}`);
        continue;
      }
      await kill9(w);
      this.current = undefined;
      const k: KillRecord = { n: this.kills.length + 1, at: Date.now(), pid: w.pid, uptimeMs: Date.now() - this.readyAt, phase: this.phase };
      this.kills.push(k);
      log(`kill #${k.n}: SIGKILL worker ${w.pid} after ${k.uptimeMs} ms up, during ${k.phase}`);
      await this.nap(random.between(...this.o.downMs));
    }
  }

  /** Allows kills up to `n` in all. */
  allow(n: number): void {
    this.limit = n;
    this.wake?.();
  }

  /** No more kills; a worker is left running so the releases can end and answer queries. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loopDone;
    await this.ensureWorker();
  }

  /** Kills every worker this monkey started. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.down = true;
    this.wake?.();
    for (const w of this.all) await kill9(w);
    await this.loopDone;
    for (const w of this.all) await kill9(w);
    process.off('exit', this.onExit);
  }
}

// ---------------------------------------------------------------------------------------------
// Every Deployment's size over time (the size steps are the groups applied, as the cluster saw them).

interface DeploymentEvent { rv: number; type: string; name: string; revision?: string; cell?: string; replicas?: number }

export class DeploymentLog {
  readonly events: DeploymentEvent[] = [];
  private ctrl: AbortController | undefined;
  private stopped = false;
  private last: string | undefined;
  restarts = 0;

  private constructor(private readonly kc: KubeConfig, readonly namespace: string) {}

  static async start(kubeconfig: string, namespace: string): Promise<DeploymentLog> {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const d = new DeploymentLog(kc, namespace);
    await d.watch();
    const t0 = Date.now();
    while (Date.now() - t0 < 10_000 && d.events.length === 0) await sleep(50);
    return d;
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    const params: Record<string, string | boolean> = { allowWatchBookmarks: true, ...(this.last ? { resourceVersion: this.last } : {}) };
    const restart = () => {
      if (this.stopped) return;
      this.restarts++;
      setTimeout(() => { void this.watch().catch(() => setTimeout(restart, 500)); }, 500);
    };
    this.ctrl = await new Watch(this.kc).watch(`/apis/apps/v1/namespaces/${this.namespace}/deployments`, params, (type, d: V1Deployment) => {
      if (type === 'ERROR') return;
      const rv = d?.metadata?.resourceVersion;
      if (rv) this.last = rv;
      if (type === 'BOOKMARK') return;
      const labels = d.metadata?.labels ?? {};
      this.events.push({
        rv: Number(rv), type, name: d.metadata!.name!, ...(labels[Labels.revision] ? { revision: labels[Labels.revision] } : {}),
        ...(labels[Labels.cell] ? { cell: labels[Labels.cell] } : {}), ...(d.spec?.replicas !== undefined ? { replicas: d.spec.replicas } : {}),
      });
    }, restart);
  }

  stop(): void {
    this.stopped = true;
    this.ctrl?.abort();
  }

  /** Per revision and cell: the distinct sizes in order (repeats collapsed), and whether the Deployment was deleted. */
  sizes(): Map<string, { sizes: number[]; deleted: boolean }> {
    const out = new Map<string, { sizes: number[]; deleted: boolean }>();
    for (const e of this.events.slice().sort((a, b) => a.rv - b.rv)) {
      if (!e.revision || !e.cell) continue;
      const key = `${e.revision}/${e.cell}`;
      const s = out.get(key) ?? { sizes: [], deleted: false };
      out.set(key, s);
      if (e.type === 'DELETED') { s.deleted = true; continue; }
      if (e.replicas !== undefined && s.sizes.at(-1) !== e.replicas) s.sizes.push(e.replicas);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// The effects a run must have, and the comparison with what the cluster saw (pure: unit-tested).

export interface Check { what: string; expected: unknown; observed: unknown; ok: boolean; excess: number }

/** One comparison; `excess`: how many effects beyond the plan it saw (counted as duplicates when it differs). */
export function compare(what: string, expected: unknown, observed: unknown, excess = 0): Check {
  const ok = JSON.stringify(expected) === JSON.stringify(observed);
  return { what, expected, observed, ok, excess: ok ? 0 : Math.max(0, excess) };
}

/** A release as planned: its revision (hash), how it ends, and the new pods per cell after each group it applies. */
export interface PlannedRelease { revision: string; expected: 'succeeded' | 'rolled-back'; steps: Record<string, number>[] }

/** What happens to one revision in one cell: pods created and removed, the Deployment's sizes in order, and whether it is removed. */
export interface CellEffects { created: number; removed: number; sizes: number[]; deleted: boolean }

/**
 * The effects the releases must have on the cluster, per `<revision>/<cell>`, from the plan alone:
 * starting from `initial` at full size, each group applied once moves its new pods in and as many old
 * ones out; a success removes the old workload, a rollback brings the old pods back, then removes the
 * new ones and their workload. `stable`: the revision serving at the end.
 */
export function plannedEffects(initial: string, replicas: Record<string, number>, releases: PlannedRelease[]): { want: Map<string, CellEffects>; stable: string } {
  const want = new Map<string, CellEffects>();
  const at = (r: string, c: string) => {
    const k = `${r}/${c}`;
    if (!want.has(k)) want.set(k, { created: 0, removed: 0, sizes: [], deleted: false });
    return want.get(k)!;
  };
  const size = (w: CellEffects, n: number) => { if (w.sizes.at(-1) !== n) w.sizes.push(n); };
  const cells = Object.keys(replicas);
  let stable = initial;
  for (const c of cells) size(at(stable, c), replicas[c]!);
  for (const r of releases) {
    for (const c of cells) {
      const steps = r.steps.map((s) => s[c] ?? 0);
      const last = steps.at(-1) ?? 0;
      for (const n of steps) { size(at(r.revision, c), n); size(at(stable, c), replicas[c]! - n); }
      at(r.revision, c).created += last;
      at(stable, c).removed += last;
      if (r.expected === 'succeeded') {
        at(stable, c).deleted = true; // finalize removes the old workload
      } else {
        size(at(stable, c), replicas[c]!); // capacity back first: the removed old pods come back
        at(stable, c).created += last;
        at(r.revision, c).removed += last;
        at(r.revision, c).deleted = true;
      }
    }
    if (r.expected === 'succeeded') stable = r.revision;
  }
  return { want, stable };
}

/** Pods created (first seen after the recording began at `startRv`) and removed (once each), per `<revision>/<cell>`. */
export function podEffects(events: readonly Recorded[], startRv: number): Map<string, { created: number; removed: number }> {
  const seen = new Map<string, { created: number; removed: number }>();
  const known = new Set<string>();
  const gone = new Set<string>();
  for (const e of events.filter((x) => x.stream === 'pod').sort((a, b) => a.rv - b.rv)) {
    const p = e.obj as V1Pod;
    const uid = p.metadata!.uid!;
    const key = `${p.metadata?.labels?.[Labels.revision]}/${p.metadata?.labels?.[Labels.cell]}`;
    const s = seen.get(key) ?? { created: 0, removed: 0 };
    seen.set(key, s);
    if (!known.has(uid)) {
      known.add(uid);
      if (e.rv > startRv) s.created++;
    }
    if ((e.type === 'DELETED' || p.metadata?.deletionTimestamp) && !gone.has(uid)) { gone.add(uid); s.removed++; }
  }
  return seen;
}

/** The planned effects against the pods and Deployment sizes the cluster showed. */
export function compareEffects(want: Map<string, CellEffects>, pods: Map<string, { created: number; removed: number }>, sizes: Map<string, { sizes: number[]; deleted: boolean }>): Check[] {
  const checks: Check[] = [];
  for (const [k, w] of [...want].sort(([a], [b]) => a.localeCompare(b))) {
    const o = pods.get(k) ?? { created: 0, removed: 0 };
    checks.push(compare(`pods created ${k}`, w.created, o.created, o.created - w.created));
    checks.push(compare(`pods removed ${k}`, w.removed, o.removed, o.removed - w.removed));
    const d = sizes.get(k) ?? { sizes: [], deleted: false };
    checks.push(compare(`Deployment sizes ${k}`, w.sizes, d.sizes, d.sizes.length - w.sizes.length));
    checks.push(compare(`Deployment removed ${k}`, w.deleted, d.deleted));
  }
  for (const [k, o] of pods) if (!want.has(k)) checks.push(compare(`pods of an unplanned revision ${k}`, { created: 0, removed: 0 }, o, o.created + o.removed));
  for (const [k, d] of sizes) if (!want.has(k)) checks.push(compare(`Deployment of an unplanned revision ${k}`, { sizes: [], deleted: false }, d, d.sizes.length));
  return checks;
}

// ---------------------------------------------------------------------------------------------
// The scenario.

export interface ChaosOptions {
  /** The least number of SIGKILLs of a ready worker; the last decision waits for it. */
  kills: number;
  seed: number;
  log?: (m: string) => void;
  /** How long a ready worker lives before its SIGKILL (uniform, ms). Default 300..3000. */
  uptimeMs?: [number, number];
  /** How long the worker stays dead before it is started again (uniform, ms). Default 100..1000. */
  downMs?: [number, number];
  /** How long the Temporal dev server stays down (uniform, ms). Default 500..2500. */
  serverDownMs?: [number, number];
  /** Rounds of the three releases (approve, failing check, abort); the kills are shared out among them. Default 1. */
  rounds?: number;
  /** The whole run's time limit. Default 15 minutes. */
  timeoutMs?: number;
}

type Expected = 'succeeded' | 'rolled-back';

export interface ReleaseReport {
  name: string;
  revision: string;
  expected: Expected;
  phase: string;
  stopCause?: string;
  decisions: string[];
  /** Groups the workflow recorded as applied (its 'applied' events). */
  groupsApplied: number;
  /** Activity attempts beyond the first (an attempt cut short by a kill is retried), from the workflow's history. */
  activityRetries: number;
  /** Workflow tasks that timed out or failed (a kill while the worker held one), from the history. */
  workflowTaskTimeouts: number;
  ms: number;
}

export interface ChaosReport {
  seed: number;
  wallMs: number;
  kills: KillRecord[];
  killsByPhase: Record<string, number>;
  serverRestart?: ServerRestart;
  unexpectedExits: UnexpectedExit[];
  workerStarts: number;
  workerStartFailures: number;
  releases: ReleaseReport[];
  /** Every comparison of an effect with the plan. */
  checks: Check[];
  /** Effects seen beyond the plan (pods created or removed, Deployment size steps, record entries, decisions). */
  duplicates: number;
  /** Pods deleted while an EndpointSlice listed them ready. */
  violations: string[];
  graceViolations: string[];
  gapDeletions: string[];
  minServing: number;
  floor: number;
  podEvents: number;
  logDir: string;
  temporalLog: string;
}

/** approve: a pause, then an approval (succeeds); check: a failing Prometheus check (rolled back); abort: aborted while waiting for approval. */
type ReleaseKind = 'approve' | 'check' | 'abort';

interface Release {
  kind: ReleaseKind;
  round: number;
  name: string;
  config: GantryConfig;
  revision: Revision;
  expected: Expected;
  /** Groups applied before the release stops (all of them when it succeeds). */
  applied: number;
}

function count<T extends string>(xs: T[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/** Kills are labelled `<release>: <phase> g<group>`; counted by phase (applying, waiting-approval, rolling-back, ...). */
const phaseKind = (label: string) => (label.split(': ').at(-1) ?? label).replace(/ g\d+$/, '');

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? ((m: string) => console.log(`[chaos] ${m}`));
  const random = seededRandom(opts.seed);
  const rounds = opts.rounds ?? 1;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error(`rounds: ${rounds}: use a whole number from 1 to 20`);
  if (!Number.isInteger(opts.kills) || opts.kills < 1) throw new Error(`kills: ${opts.kills}: use a whole number of at least 1`);
  const testbed: Testbed = await ensureTestbed(); // the control plane (brought up when it is not), outside the time limit
  const t0 = Date.now();
  const deadline = t0 + (opts.timeoutMs ?? 15 * 60_000);
  const left = () => Math.max(1000, deadline - Date.now());
  log(`seed ${opts.seed} (replay with CHAOS_SEED=${opts.seed}); at least ${opts.kills} kills`);

  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), `gantry-chaos-${opts.seed}-`));
  const workerLog = path.join(logDir, 'worker.log');
  const bundle = path.join(logDir, 'workflows.js');
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  fs.writeFileSync(bundle, code);

  const server = await DiskTemporal.start(logDir);
  log(`Temporal dev server ${server.address}, state in ${server.dbFilename}; logs in ${logDir}`);
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: 'default' });
  const taskQueue = unique('chaos');
  const service = new GantryService(client, taskQueue);
  const clients = new KubeClients({ kubeconfig: testbed.kubeconfig });
  const h: K8sHarness = { testbed, client, service, clients, decisions: [], taskQueue, close: async () => undefined };
  const app = unique('chaos');
  let board: MetricsBoard | undefined;
  try {
    let nWorker = 0;
    const workerEnv: NodeJS.ProcessEnv = {
      ...process.env, NODE_OPTIONS: '', TEMPORAL_ADDRESS: server.address, GANTRY_TASK_QUEUE: taskQueue, GANTRY_CLUSTER: 'kubernetes',
      GANTRY_KUBECONFIG: testbed.kubeconfig, GANTRY_PROMETHEUS_URL: testbed.prometheusUrl, GANTRY_LOG_LEVEL: 'WARN', GANTRY_CHAOS_WORKFLOW_BUNDLE: bundle,
    };
    const monkey = new Monkey({
      random, spawn: () => spawnWorker(workerEnv, workerLog, ++nWorker),
      uptimeMs: opts.uptimeMs ?? [300, 3000], downMs: opts.downMs ?? [100, 1000], serverDownMs: opts.serverDownMs ?? [500, 2500],
      restartServerAfterKill: random.int(Math.min(3, opts.kills), Math.max(3, Math.floor(opts.kills * 0.6))),
      server, log,
    });

    const query = `gantry_test_error_ratio{run="${app}"}`;
    const base = { drain: { grace: '2s' }, deadlines: { progress: '3m' }, traffic: { httpRoute: { name: app } } };
    const releases: Release[] = [];
    for (let round = 1; round <= rounds; round++) {
      const n = releases.length;
      const tag = rounds > 1 ? `round ${round}, ` : '';
      releases.push(
        { kind: 'approve', round, name: `${tag}release ${n + 1} (pause, approval)`, revision: revisionNo(n + 2), expected: 'succeeded', applied: 3,
          config: k8sConfig(app, { ...base, groups: [{ pods: 1, confirm: { type: 'pause', duration: '8s' } }, { pods: 2, confirm: { type: 'manual' } }, { pods: 'rest' }] }) },
        { kind: 'check', round, name: `${tag}release ${n + 2} (failing check)`, revision: revisionNo(n + 3), expected: 'rolled-back', applied: 1,
          config: k8sConfig(app, { ...base, analysis: [{ name: 'error-rate', query, max: 0.05 }] }) },
        { kind: 'abort', round, name: `${tag}release ${n + 3} (abort)`, revision: revisionNo(n + 4), expected: 'rolled-back', applied: 2,
          config: k8sConfig(app, { ...base, groups: [{ pods: 1 }, { pods: 2, confirm: { type: 'manual' } }, { pods: 'rest' }] }) },
      );
    }

    let rec: Recorder | undefined;
    let deps: DeploymentLog | undefined;
    let tracking = true;
    const reports: ReleaseReport[] = [];
    try {
      board = await startMetricsBoard(unique('chaos'));
      board.set('gantry_test_error_ratio', app, 0.2);
      await waitForSeries(query);

      // No chaos yet: V1 everywhere.
      await monkey.ensureWorker();
      await baseline(h, releases[0]!.config, V1);
      rec = await Recorder.start(testbed.kubeconfig, app);
      deps = await DeploymentLog.start(testbed.kubeconfig, app);

      const wfId = releaseWorkflowId(app, ENV);
      /** One attempt of a Temporal call, with a deadline (a call in flight when the server dies must not hang). */
      const within = <T>(ms: number, fn: () => Promise<T>) => client.withDeadline(Date.now() + ms, fn);
      const status = (): Promise<ReleaseStatus | undefined> => within(5000, () => service.status(app, ENV, 0)).catch(() => undefined);
      const until = async (what: string, pred: (s: ReleaseStatus) => boolean): Promise<ReleaseStatus> => {
        const end = Date.now() + left();
        for (;;) {
          const s = await status();
          if (s && pred(s)) return s;
          if (monkey.error) throw monkey.error;
          if (Date.now() > end) throw new Error(`chaos run (seed ${opts.seed}): timed out waiting for ${what}; last status: ${s ? `${s.phase} ${s.summary}` : 'none'}`);
          await sleep(300);
        }
      };
      const killsAtLeast = async (n: number) => {
        while (monkey.kills.length < n) {
          if (Date.now() > deadline) throw new Error(`chaos run (seed ${opts.seed}): only ${monkey.kills.length} of ${n} kills before the time limit`);
          if (monkey.error) throw monkey.error;
          await sleep(200);
        }
      };
      /** A decision through the Update, retried across kills and the restart; the same update id makes a retry the same decision. */
      const decide = async (action: Action, who: string, comment: string) => {
        const updateId = `${wfId}/${action}/${unique('chaos')}`;
        for (let attempt = 1; ; attempt++) {
          try {
            await within(20_000, () => service.decide(app, ENV, action, caller(who, ['sre']), comment, { updateId }));
            return;
          } catch (err) {
            // A retry may find the decision already taken and the release ended: the decisions check tells.
            if (attempt > 1 && err instanceof GantryError && err.code === 'conflict') return;
            if (err instanceof GantryError && err.code !== 'unavailable') throw err;
            if (Date.now() > deadline) throw err;
            log(`${action} by ${who}: attempt ${attempt} failed (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); retrying`);
            await sleep(500);
          }
        }
      };
      const started = async (r: Release): Promise<string> => {
        for (;;) {
          try {
            return (await within(20_000, () => service.startRelease({ config: r.config, environment: ENV, revision: r.revision }, caller('carol')))).runId;
          } catch (err) {
            if (err instanceof GantryError || Date.now() > deadline) throw err;
            await sleep(500);
          }
        }
      };
      const ended = async (r: Release, runId: string, at: number): Promise<ReleaseReport> => {
        const handle = client.workflow.getHandle(wfId, runId);
        for (;;) {
          const d = await within(10_000, () => handle.describe()).catch(() => undefined);
          if (d && d.status.name !== 'RUNNING') break;
          if (monkey.error) throw monkey.error;
          if (Date.now() > deadline) throw new Error(`chaos run (seed ${opts.seed}): ${r.name} did not end in time (${(await status())?.summary ?? 'no status'})`);
          await sleep(500);
        }
        const ms = Date.now() - at;
        let st: ReleaseStatus | undefined;
        while (!st) {
          st = await within(10_000, () => handle.query(statusQuery, { events: 500 })).catch(() => undefined);
          if (!st) { if (Date.now() > deadline) throw new Error(`no final status of ${r.name}`); await sleep(500); }
        }
        const history = await within(30_000, () => handle.fetchHistory());
        let activityRetries = 0;
        let workflowTaskTimeouts = 0;
        for (const e of history.events ?? []) {
          const attempt = e.activityTaskStartedEventAttributes?.attempt;
          if (attempt) activityRetries += attempt - 1;
          if (e.workflowTaskTimedOutEventAttributes || e.workflowTaskFailedEventAttributes) workflowTaskTimeouts++;
        }
        const report: ReleaseReport = {
          name: r.name, revision: revisionOf(r.config, r.revision), expected: r.expected, phase: st.phase, ...(st.stop?.cause ? { stopCause: st.stop.cause } : {}),
          decisions: st.decisions.map((x) => `${x.action}:${x.by}`), groupsApplied: st.events.filter((e) => e.type === 'applied').length,
          activityRetries, workflowTaskTimeouts, ms,
        };
        log(`${r.name}: ${st.phase} in ${Math.round(ms / 1000)} s (${st.summary}); ${monkey.kills.length} kills so far`);
        return report;
      };

      // What the release does, for the kill log (a status query needs a live worker: the last answer stays).
      let label = 'setup';
      const tracker = (async () => {
        while (tracking) {
          const s = await status();
          if (s) monkey.phase = `${label}: ${s.phase} g${s.group.current}`;
          await sleep(700);
        }
      })();

      monkey.start();
      for (const [i, r] of releases.entries()) {
        // Each release gets its share of the kills (more are not allowed, so the run is not longer than
        // needed): before an approval, half of it at least; before the abort, all of it (so the run has
        // every required kill), and a quarter more while it rolls back.
        const before = Math.ceil((opts.kills * i) / releases.length);
        const quota = Math.ceil((opts.kills * (i + 1)) / releases.length);
        label = r.name;
        monkey.phase = `${label}: starting`;
        monkey.allow(quota);
        const at = Date.now();
        const runId = await started(r);
        switch (r.kind) {
          case 'approve':
            await until(`${r.name} to wait for approval after group 2`, (s) => s.phase === 'waiting-approval' && s.group.current === 2);
            await killsAtLeast(before + Math.ceil((quota - before) / 2));
            await decide(Action.Approve, 'alice', 'chaos: group 2 looks fine');
            break;
          case 'check': // the failing check rolls it back on its own
            break;
          case 'abort':
            await until(`${r.name} to wait for approval after group 2`, (s) => s.phase === 'waiting-approval' && s.group.current === 2);
            await killsAtLeast(quota);
            monkey.allow(quota + Math.ceil((quota - before) / 4));
            await decide(Action.Abort, 'bob', 'chaos: abort');
            break;
          default: {
            const never: never = r.kind;
            throw new Error(`unknown release kind ${String(never)}`);
          }
        }
        reports.push(await ended(r, runId, at));
      }

      await monkey.stop();
      tracking = false;
      await tracker;
      await sleep(1000); // the last watch events
    } finally {
      tracking = false;
      rec?.stop();
      deps?.stop();
      await monkey.shutdown();
    }

    // ---- the effects, against the plan
    const checks: Check[] = [];
    const check = (what: string, expected: unknown, observed: unknown, excess = 0) => { checks.push(compare(what, expected, observed, excess)); };
    const cfg = releases[0]!.config;
    const cells = cfg.environments[0]!.cells;
    const rev = (r: Revision, c: GantryConfig = cfg) => revisionOf(c, r);
    const revs = [rev(V1), ...releases.map((r) => rev(r.revision, r.config))];
    const replicas = Object.fromEntries(cells.map((c) => [c.name, c.replicas]));
    const { want, stable } = plannedEffects(rev(V1), replicas, releases.map((r) => {
      const plan = environmentPlan(r.config.environments[0]!);
      return { revision: rev(r.revision, r.config), expected: r.expected, steps: Array.from({ length: r.applied }, (_, g) => canaryTargets(plan, g)) };
    }));
    checks.push(...compareEffects(want, podEffects(rec!.events, rec!.startRv), deps!.sizes()));

    // The releases ended as designed, each decision once, each group applied once (workflow's view).
    for (const [i, r] of releases.entries()) {
      const got = reports[i];
      check(`${r.name}: outcome`, r.expected, got?.phase);
      check(`${r.name}: groups applied`, r.applied, got?.groupsApplied, (got?.groupsApplied ?? 0) - r.applied);
      const decisions = r.kind === 'approve' ? ['approve:alice'] : r.kind === 'abort' ? ['abort:bob'] : [];
      check(`${r.name}: decisions`, decisions, got?.decisions, (got?.decisions.length ?? 0) - decisions.length);
      check(`${r.name}: stop cause`, r.kind === 'check' ? 'analysis' : r.kind === 'abort' ? 'abort' : null, got?.stopCause ?? null);
    }

    // The cluster at the end: the last successful release on every pod; the record's history one entry per release.
    check('pods at the end', Object.fromEntries(cells.map((c) => [c.name, { [stable]: c.replicas }])), await podCounts(h, cfg));
    const site = await siteState(h, cfg);
    const history = site.record.history.map((e) => `${e.event} ${e.revision}`);
    const wantHistory = [`released ${revs[0]}`, ...releases.map((r, i) => `${r.expected === 'succeeded' ? 'released' : 'rolled-back'} ${revs[i + 1]}`)];
    check('revision record history', wantHistory, history, history.length - wantHistory.length);
    check('stable in the record', stable, site.record.stable?.revision);
    check('HTTPRoute canary weight at the end', 0, site.weight);

    const replay = rec!.replay(names(releases[0]!.config).main, { graceMs: 2000 });
    const floor = Math.min(...releases.map((r) => Math.min(...planFloors(environmentPlan(r.config.environments[0]!), true))));
    const kills = monkey.kills;
    return {
      seed: opts.seed, wallMs: Date.now() - t0, kills, killsByPhase: count(kills.map((k) => phaseKind(k.phase))),
      ...(monkey.serverRestart ? { serverRestart: monkey.serverRestart } : {}),
      unexpectedExits: monkey.unexpectedExits, workerStarts: monkey.starts, workerStartFailures: monkey.startFailures,
      releases: reports, checks, duplicates: checks.reduce((n, c) => n + c.excess, 0),
      violations: replay.violations.map((v) => v.message), graceViolations: replay.graceViolations, gapDeletions: replay.gapDeletions,
      minServing: replay.minServing.count, floor, podEvents: replay.events, logDir, temporalLog: server.log,
    };
  } finally {
    await board?.close();
    await dropNamespace(h, app);
    await connection.close();
    server.stop();
    fs.rmSync(bundle, { force: true }); // 3 MB; the logs and the server's database stay for a post-mortem
  }
}

/** The figures, one line each, for a test's output or the benchmark. */
export function summarize(r: ChaosReport): string[] {
  const failed = r.checks.filter((c) => !c.ok);
  return [
    `seed ${r.seed} (replay: CHAOS_SEED=${r.seed}), ${Math.round(r.wallMs / 1000)} s`,
    `kills survived: ${r.kills.length} SIGKILLs of a ready worker (${Object.entries(r.killsByPhase).map(([k, v]) => `${k} ${v}`).join(', ')}); worker starts ${r.workerStarts} (${r.workerStartFailures} failed), exits on its own ${r.unexpectedExits.length}`,
    r.serverRestart
      ? `Temporal dev server SIGKILLed and restarted once after kill ${r.serverRestart.afterKill}, during ${r.serverRestart.phase}: ${r.serverRestart.outageMs} ms without a server`
      : 'Temporal dev server: not restarted',
    ...r.releases.map((x) => `${x.name}: ${x.phase}${x.stopCause ? ` (${x.stopCause})` : ''} in ${Math.round(x.ms / 1000)} s, groups applied ${x.groupsApplied}, decisions [${x.decisions.join(', ')}], activity attempts retried ${x.activityRetries}, workflow tasks timed out ${x.workflowTaskTimeouts}`),
    `duplicate effects: ${r.duplicates}; checks ${r.checks.length - failed.length}/${r.checks.length} as planned${failed.length ? `; differing: ${failed.map((c) => `${c.what}: expected ${JSON.stringify(c.expected)}, saw ${JSON.stringify(c.observed)}`).join('; ')}` : ''}`,
    `pods deleted while listed ready: ${r.violations.length}; drain grace cut short: ${r.graceViolations.length}; least serving capacity ${r.minServing} (floor ${r.floor}); ${r.podEvents} pod and EndpointSlice events`,
    `logs: ${r.logDir} (worker.log), ${r.temporalLog}`,
  ];
}
