// A SIMULATED cluster: the release activities against a JSON state file (or memory) instead of
// Kubernetes. It exists so the release core can run end to end (npm start, workflow tests, the
// benchmark) before the Kubernetes activities land; it moves numbers, not pods. Every effect is
// appended to an effects log so tests can prove that no group was applied twice.
import fs from 'node:fs';
import path from 'node:path';
import { activityInfo, cancellationSignal, heartbeat, sleep } from '@temporalio/activity';
import type { Measurement } from '../core/analysis.js';
import { MAX_OBSERVED_CELLS, type ObservedState } from '../core/observed.js';
import type { Revision } from '../core/release.js';
import type {
  ApplyGroupRequest, ApplyGroupResult, DescribeTargetRequest, DescribeTargetResult, FinalizeRequest, HealthResult,
  MeasureRequest, ObserveTargetRequest, ObservedResult, ReleaseActivities, RollbackRequest, Target, WaitHealthyRequest,
} from '../workflows/activity-types.js';
import { fail, FailureType } from '../workflows/failures.js';

interface CellState { stable: number; canary: number }
interface TargetState { stable?: Revision; canaryRevision?: Revision; cells: Record<string, CellState> }
interface SimState { targets: Record<string, TargetState> }

export interface SimEffect { at: string; kind: 'apply' | 'apply-start' | 'rollback' | 'finalize'; releaseId: string; runAttempt: number; group?: number; target: string; cells?: Record<string, CellState> }

export interface SimOptions {
  /** Persist state here (survives worker restarts); memory only when absent. */
  stateFile?: string;
  /** Append every effect here as JSON lines. */
  effectsFile?: string;
  /** How long applying a group takes (heartbeating meanwhile). */
  applyDelayMs?: number;
  /** How long new pods take to become ready. */
  readyDelayMs?: number;
  /** Revisions whose pods never become ready. Default: images or digests containing "broken". */
  neverReady?: (r: Revision) => boolean;
  /** Analysis measurements; default: values from `<stateFile dir>/sim-metrics.json` ({ "<check>": number }), else no data. */
  metrics?: (check: string, req: MeasureRequest) => number | undefined;
  /** Called on every effect (tests count them in memory). */
  onEffect?: (e: SimEffect) => void;
}

export function createSimClusterActivities(opts: SimOptions = {}): ReleaseActivities & { state(): SimState } {
  let memory: SimState = { targets: {} };
  const load = (): SimState => {
    if (!opts.stateFile) return memory;
    try { return JSON.parse(fs.readFileSync(opts.stateFile, 'utf8')) as SimState; } catch { return { targets: {} }; }
  };
  const save = (s: SimState): void => {
    if (!opts.stateFile) { memory = s; return; }
    fs.mkdirSync(path.dirname(opts.stateFile), { recursive: true });
    const tmp = `${opts.stateFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(s, null, 1));
    fs.renameSync(tmp, opts.stateFile);
  };
  const key = (t: Target) => `${t.app}/${t.environment}`;
  const effect = (e: Omit<SimEffect, 'at' | 'runAttempt'>): void => {
    const full: SimEffect = { at: new Date().toISOString(), runAttempt: safeAttempt(), ...e };
    if (opts.effectsFile) {
      fs.mkdirSync(path.dirname(opts.effectsFile), { recursive: true });
      fs.appendFileSync(opts.effectsFile, `${JSON.stringify(full)}\n`);
    }
    opts.onEffect?.(full);
  };
  const targetState = (s: SimState, t: Target): TargetState => {
    for (const c of t.cells) if (c.replicas < 0) throw fail(FailureType.InvalidTarget, `cell ${c.name} has negative replicas`);
    const ts = (s.targets[key(t)] ??= { cells: {} });
    for (const c of t.cells) ts.cells[c.name] ??= { stable: c.replicas, canary: 0 };
    return ts;
  };
  const neverReady = opts.neverReady ?? ((r: Revision) => `${r.image}@${r.digest ?? ''}`.includes('broken'));
  // What the status shows as observed (core/observed.ts): the simulated counts, every pod serving
  // unless its revision never becomes ready; no drains, no router.
  const observedOf = (t: Target, ts: TargetState | undefined, newReady = true): ObservedState => ({
    at: new Date().toISOString(), by: 'sim',
    cells: t.cells.slice(0, MAX_OBSERVED_CELLS).map((c) => {
      const cs = ts?.cells[c.name] ?? { stable: c.replicas, canary: 0 };
      const up = (n: number, ready: boolean) => ({ pods: n, ready: ready ? n : 0, serving: ready ? n : 0, draining: 0 });
      return { cell: c.name, stable: up(cs.stable, true), new: up(cs.canary, newReady) };
    }),
  });

  async function applyOnly(req: ApplyGroupRequest): Promise<ApplyGroupResult> {
    const s = load();
    const ts = targetState(s, req.target);
    const done = req.target.cells.every((c) => ts.cells[c.name]!.canary === (req.canary[c.name] ?? 0));
    if (done) return { changed: false, observed: observedOf(req.target, ts, !neverReady(req.revision)) };
    effect({ kind: 'apply-start', releaseId: req.releaseId, group: req.group, target: key(req.target) });
    // Simulated drain + replace time; heartbeats so a dead worker is noticed and the retry resumes.
    const delay = opts.applyDelayMs ?? 0;
    for (let waited = 0; waited < delay; waited += 200) { heartbeat({ group: req.group, observed: observedOf(req.target, ts) }); await sleep(Math.min(200, delay - waited)); }
    const fresh = load();
    const fts = targetState(fresh, req.target);
    if (req.target.cells.every((c) => fts.cells[c.name]!.canary === (req.canary[c.name] ?? 0))) return { changed: false, observed: observedOf(req.target, fts, !neverReady(req.revision)) };
    fts.canaryRevision = req.revision;
    for (const c of req.target.cells) {
      const canary = req.canary[c.name] ?? 0;
      fts.cells[c.name] = { canary, stable: c.replicas - canary };
    }
    save(fresh);
    effect({ kind: 'apply', releaseId: req.releaseId, group: req.group, target: key(req.target), cells: structuredClone(fts.cells) });
    return { changed: true, observed: observedOf(req.target, fts, !neverReady(req.revision)) };
  }

  async function health(req: WaitHealthyRequest): Promise<HealthResult> {
    const bad = neverReady(req.revision);
    const wait = bad ? req.deadlineMs : Math.min(opts.readyDelayMs ?? 0, req.deadlineMs);
    const before = load().targets[key(req.target)];
    for (let waited = 0; waited < wait; waited += 500) { heartbeat({ group: req.group, observed: observedOf(req.target, before, false) }); await sleep(Math.min(500, wait - waited)); }
    const ts = load().targets[key(req.target)];
    const total = Object.values(req.canary).reduce((a, b) => a + b, 0);
    if (bad) return { healthy: false, reason: `new pods not ready within ${req.deadlineMs} ms (simulated: revision marked broken)`, observed: observedOf(req.target, ts, false) };
    const cells = req.target.cells.map((c) => `${c.name} ${ts?.cells[c.name]?.canary ?? 0}/${req.canary[c.name] ?? 0}`).join(', ');
    return { healthy: true, reason: `${total} new pod(s) ready and serving (${cells}) [simulated]`, observed: observedOf(req.target, ts) };
  }

  return {
    state: () => structuredClone(load()),

    async describeTarget(req: DescribeTargetRequest): Promise<DescribeTargetResult> {
      const ts = load().targets[key(req.target)];
      return ts?.stable ? { stable: ts.stable } : {};
    },

    async applyGroup(req: ApplyGroupRequest): Promise<ApplyGroupResult> {
      const r = await applyOnly(req);
      // Health in the same activity when asked (workflows/activity-types.ts ApplyGroupRequest.verify).
      if (!req.verify || r.ready === false) return r;
      const h = await health({ releaseId: req.releaseId, target: req.target, revision: req.revision, group: req.group, canary: req.canary, deadlineMs: req.verify.deadlineMs });
      return { ...r, health: h, ...(h.observed ? { observed: h.observed } : {}) };
    },

    waitHealthy: health,

    async measure(req: MeasureRequest): Promise<Measurement[]> {
      const fromFile = (): Record<string, number> => {
        if (!opts.stateFile) return {};
        try { return JSON.parse(fs.readFileSync(path.join(path.dirname(opts.stateFile), 'sim-metrics.json'), 'utf8')) as Record<string, number>; } catch { return {}; }
      };
      const file = opts.metrics ? {} : fromFile();
      return req.checks.map((c, index) => {
        const v = opts.metrics ? opts.metrics(c.name, req) : file[c.name];
        return v === undefined ? { check: c.name, index } : { check: c.name, index, value: v };
      });
    },

    async observeTarget(req: ObserveTargetRequest): Promise<void> {
      // Read-only: the simulated counts now and then, as heartbeat details, until cancelled (the
      // SDK's sleep rejects with the cancellation) or `maxMs` has passed.
      const until = Date.now() + req.maxMs;
      const newReady = !neverReady(req.revision);
      while (Date.now() < until && !cancellationSignal().aborted) {
        heartbeat({ kind: 'observe', observed: observedOf(req.target, load().targets[key(req.target)], newReady) });
        await sleep(Math.min(Math.max(100, req.intervalMs ?? 2000), until - Date.now()));
      }
    },

    async rollback(req: RollbackRequest): Promise<ObservedResult> {
      const s = load();
      const ts = targetState(s, req.target);
      // Capacity first: stable back to full size; then the new pods go.
      for (const c of req.target.cells) ts.cells[c.name] = { stable: c.replicas, canary: 0 };
      delete ts.canaryRevision;
      if (req.stable) ts.stable = req.stable;
      save(s);
      effect({ kind: 'rollback', releaseId: req.releaseId, target: key(req.target), cells: structuredClone(ts.cells) });
      return { observed: observedOf(req.target, ts) };
    },

    async finalize(req: FinalizeRequest): Promise<ObservedResult> {
      const s = load();
      const ts = targetState(s, req.target);
      ts.stable = req.revision;
      delete ts.canaryRevision;
      for (const c of req.target.cells) ts.cells[c.name] = { stable: c.replicas, canary: 0 };
      save(s);
      effect({ kind: 'finalize', releaseId: req.releaseId, target: key(req.target) });
      // Every pod runs the released revision: the new one, as the status counts it.
      return { observed: observedOf(req.target, { cells: Object.fromEntries(req.target.cells.map((c) => [c.name, { stable: 0, canary: c.replicas }])) }) };
    },
  };
}

function safeAttempt(): number {
  try { return activityInfo().attempt; } catch { return 0; }
}

export function readEffects(file: string): SimEffect[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as SimEffect);
  } catch { return []; }
}
