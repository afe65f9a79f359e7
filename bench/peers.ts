// Peer benchmark (`npm run bench -- peers`, not in the default bench list: it builds Argo Rollouts and
// takes several minutes): Gantry and Argo Rollouts v1.10.1 on the same test bed (kube-apiserver,
// kube-scheduler, kwok nodes in zone-a/zone-b), 10 replicas from v1 to v2, runs interleaved (Gantry,
// Argo, Gantry, ...; BENCH_ITER each, default 4), each in a fresh namespace, all timed by one
// independent watch of the namespace's Pods and EndpointSlices (test/k8s/support/recorder.ts, the
// recorder the draining tests use).
//
// Scenarios:
//  a. seed release: Gantry's seed plan (groups 1, 2, rest pods per zone, drain grace 0 s, auto
//     confirm, HTTPRoute traffic, no analysis); Argo basic canary setWeight 20, 60, 100, no pauses.
//  b. abort after group 1: Gantry group 1 confirm manual, aborted while it waits; Argo setWeight 20
//     then pause {}, aborted once paused (status.abort, as `kubectl argo rollouts abort`).
//  c. failing analysis: an error ratio of 0.5 against a max of 0.01 after group 1 / setWeight 20
//     (Gantry's analysis; Argo's AnalysisTemplate with the prometheus provider, same query).
//
// Rules, the same for both tools (pods told apart by the image digest of v1 and v2):
//  * a pod is gone once its deletionTimestamp is set (it no longer serves) or it is deleted;
//  * "10 new Ready and 0 old": 10 v2 pods with condition Ready=True and not gone, and no v1 pod left;
//    "10 stable Ready and 0 canary" the same with v1 and v2 swapped, counted from the abort/failure;
//  * deleted while listed: a pod gone while any EndpointSlice of the namespace listed it ready;
//  * capacity floor: the least number of pods Ready, not gone and listed ready by the app's Service
//    (Gantry's main Service, Argo's Service) at any point of the run;
//  * zones even: after each step (Gantry: each group's `applied` event; Argo: each advance of
//    .status.currentStepIndex) and at the end, the non-gone scheduled pods per zone have new pods
//    differing by at most 1 between zones and the same total in each zone.
import fs from 'node:fs';
import http from 'node:http';
import { KubeConfig, Watch, type V1EndpointSlice, type V1Pod } from '@kubernetes/client-node';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createKubernetesActivities, KubeClients, type DecisionEvent } from '../activities/k8s/index.js';
import { createNotifyActivities } from '../activities/notify.js';
import { GantryService } from '../api/service.js';
import { parseConfig, type GantryConfig, type RawConfig } from '../core/config.js';
import type { Revision, ReleaseStatus } from '../core/release.js';
import { resourceNames } from '../core/rollout.js';
import { installArgoRollouts, startArgoRollouts, type ArgoRollouts } from '../testbed/argo-rollouts.js';
import { buildTimesFile } from '../testbed/buildkit.js';
import { startEphemeralTemporal } from '../testbed/ephemeral-temporal.js';
import { upKubernetes } from '../testbed/k8s/cluster.js';
import { api, apiserverReady } from '../testbed/k8s/client.js';
import { kubeconfigPath, zoneLabel } from '../testbed/k8s/config.js';
import { pins } from '../testbed/paths.js';
import { poll } from '../testbed/proc.js';
import { embeddedPrometheusUrl, registerScrapeTarget, upPrometheus, waitForSeries } from '../testbed/prometheus.js';
import { createWorker } from '../worker/worker.js';
import { testActivities } from '../test/support/activities.js';
import { Recorder } from '../test/k8s/support/recorder.js';

const HELP = `npm run bench -- peers: Gantry vs Argo Rollouts ${pins.argoRollouts} on the test bed (seed release, abort after
group 1, failing analysis), runs interleaved, timed by one Pod/EndpointSlice watch. Builds the Argo Rollouts
controller from the Go module proxy into the cache on first use (about 4-5 minutes cold). Not part of the default
\`npm run bench\`: it takes several minutes. BENCH_ITER (default 4) runs per tool and scenario;
PEERS_ARGO_MAX_UNAVAILABLE (default 0, Argo's own default 25%) Argo's canary maxUnavailable.`;

const ITER = Number(process.env.BENCH_ITER ?? 4);
// Argo's canary maxUnavailable: 0 (default here) never goes below the replica count, like Gantry; Argo's own default is 25%.
const ARGO_MAX_UNAVAILABLE = process.env.PEERS_ARGO_MAX_UNAVAILABLE ?? '0';
const IMAGE = 'registry.local/bench/web';
const REPLICAS = 10;
const STEP_TIMEOUT_MS = 180_000;
const who = { identity: { id: 'bench', groups: ['sre'] }, channel: 'api' as const };
const QUERY = 'gantry_bench_error_ratio{bench="peers"}';
const runId = Date.now().toString(36);
let seq = 0;
const digest = () => `sha256:${(++seq).toString(16).padStart(8, '0').repeat(8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bench(name: string, value: number, unit: string): void {
  console.log(`BENCH ${name} ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}`);
}
const median = (xs: number[]) => { const s = xs.slice().sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

type Tool = 'gantry' | 'argo';
type Scenario = 'seed' | 'abort' | 'fail';

// ---------------------------------------------------------------------------------------------
// The independent watch: Pods + EndpointSlices (the Recorder), read back under the rules above.

interface PodState { uid: string; revision: 'old' | 'new' | 'other'; ready: boolean; gone: boolean; node?: string }

class RunWatch {
  private constructor(readonly rec: Recorder, private readonly v1: string, private readonly v2: string, private readonly zones: Map<string, string>) {}

  static async start(namespace: string, v1: Revision, v2: Revision, zones: Map<string, string>): Promise<RunWatch> {
    return new RunWatch(await Recorder.start(kubeconfigPath, namespace), v1.digest!, v2.digest!, zones);
  }

  private revisionOf(p: V1Pod): PodState['revision'] {
    const images = (p.spec?.containers ?? []).map((c) => c.image ?? '');
    if (images.some((i) => i.endsWith(`@${this.v2}`))) return 'new';
    if (images.some((i) => i.endsWith(`@${this.v1}`))) return 'old';
    return 'other';
  }

  /** The pods after every event, in resourceVersion order: calls `visit` with the event's receive time. */
  private replay(visit: (at: number, pods: Map<string, PodState>) => boolean | void): void {
    const pods = new Map<string, PodState>();
    const sorted = this.rec.events.filter((e) => e.stream === 'pod').sort((a, b) => a.rv - b.rv);
    for (const e of sorted) {
      const p = e.obj as V1Pod;
      const uid = p.metadata!.uid!;
      if (e.type === 'DELETED') pods.delete(uid);
      else {
        pods.set(uid, {
          uid, revision: this.revisionOf(p), gone: !!p.metadata?.deletionTimestamp,
          ready: !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
        });
      }
      if (visit(e.at, pods) === true) return;
    }
  }

  /** The first receive time at or after `from` when `want` (new or old) has REPLICAS Ready pods and the other revision none. */
  settledAt(want: 'new' | 'old', from: number): number | undefined {
    const other = want === 'new' ? 'old' : 'new';
    let at: number | undefined;
    let before = false; // true when the state just before `from` already had it (not expected: a run starts from the other revision)
    const ok = (pods: Map<string, PodState>) => {
      const live = [...pods.values()].filter((p) => !p.gone);
      return live.filter((p) => p.revision === want && p.ready).length >= REPLICAS && !live.some((p) => p.revision === other);
    };
    this.replay((t, pods) => {
      const now = ok(pods);
      if (t < from) { before = now; return; }
      at = before ? from : now ? t : undefined;
      return at !== undefined;
    });
    if (at === undefined && before) at = from;
    return at;
  }

  /** Per zone, new and old pods that are scheduled and not gone, as of `at`. */
  zonesAt(at: number): Record<string, { new: number; old: number }> {
    const out: Record<string, { new: number; old: number }> = {};
    for (const z of new Set(this.zones.values())) out[z] = { new: 0, old: 0 };
    let snap: PodState[] = [];
    this.replay((t, pods) => { if (t > at) return true; snap = [...pods.values()]; });
    for (const p of snap) {
      if (p.gone || !p.node || p.revision === 'other') continue;
      const z = this.zones.get(p.node);
      if (z) out[z]![p.revision]++;
    }
    return out;
  }

  stop(): void { this.rec.stop(); }
}

function zonesEven(c: Record<string, { new: number; old: number }>): boolean {
  const v = Object.values(c);
  const news = v.map((x) => x.new);
  const totals = v.map((x) => x.new + x.old);
  return Math.max(...news) - Math.min(...news) <= 1 && Math.max(...totals) === Math.min(...totals);
}
const zonesText = (c: Record<string, { new: number; old: number }>) => Object.entries(c).map(([z, x]) => `${z} ${x.new}n/${x.old}o`).join(' ');

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = STEP_TIMEOUT_MS, everyMs = 25): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// One run's result.

interface RunResult {
  tool: Tool; scenario: Scenario; namespace: string;
  /** seed: start -> 10 new Ready, 0 old; abort: abort -> 10 stable, 0 canary; fail: failure recorded -> 10 stable, 0 canary. */
  primaryMs: number;
  /** seed: start -> the tool says done; fail: start -> 10 stable, 0 canary. */
  secondaryMs?: number;
  deletedWhileListed: number;
  capacityFloor: number;
  zones?: { even: boolean; steps: string[] };
  breakdown?: Breakdown;
}

// ---------------------------------------------------------------------------------------------
// Gantry

function gantryConfig(app: string, env: Partial<RawConfig['environments'][number]>): GantryConfig {
  const r = parseConfig({
    app: { name: app, image: IMAGE },
    environments: [{
      name: 'production', replicas: REPLICAS,
      cells: [{ name: 'zone-a', zone: 'zone-a' }, { name: 'zone-b', zone: 'zone-b' }],
      groups: [{ pods: 1 }, { pods: 2 }, { pods: 'rest' }],
      deadlines: { progress: '2m' }, drain: { grace: '0s' }, traffic: { httpRoute: { name: app } },
      ...env,
    }],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

/** Where a Gantry release's time went, per group, from the activities' decision events. */
interface Breakdown { wallMs: number; observeMs: number; actMs: number; waitMs: Record<string, number>; restMs: number; lines: string[] }

function breakdown(events: DecisionEvent[], status: ReleaseStatus, t0: number, tEnd: number, marks: { name: string; end: number }[] = []): Breakdown {
  // The baseline release has the same id: only what happened after this release started.
  const mine = events.filter((e) => (e.releaseId === status.id || e.releaseId === `release/${status.app}/${status.environment}`) && e.at >= t0);
  // Group g ends at its last history event (applied, healthy, confirmed ...); what follows the last group is "finalize".
  const ends = new Map<number, number>();
  // Events after a mark (the abort) belong to what follows it (the rollback), not to the group.
  const cut = Math.min(tEnd, ...marks.map((m) => m.end));
  for (const h of status.events) {
    const at = Date.parse(h.at);
    if (h.group !== undefined && h.group >= 0 && at <= cut) ends.set(h.group, Math.max(ends.get(h.group) ?? 0, at));
  }
  const bounds = [...ends.entries()].sort((a, b) => a[0] - b[0]).map(([g, at]) => ({ name: `group ${g + 1}`, end: at }));
  bounds.push(...marks, { name: status.phase === 'succeeded' ? 'finalize' : 'rollback', end: tEnd });
  bounds.sort((a, b) => a.end - b.end);
  const windows = bounds.map((b, i) => ({ name: b.name, start: i === 0 ? t0 : bounds[i - 1]!.end, end: b.end, observe: 0, act: 0, wait: {} as Record<string, number> }));
  const windowOf = (at: number) => windows.find((w) => at <= w.end) ?? windows[windows.length - 1]!;
  const byActivity = new Map<string, DecisionEvent[]>();
  for (const e of mine) byActivity.set(e.activity, [...(byActivity.get(e.activity) ?? []), e]);
  for (const e of mine) {
    const w = windowOf(e.at);
    w.observe += e.observeMs ?? 0;
    w.act += e.actMs ?? 0;
  }
  // A wait lasts until the activity's next decision, minus that decision's own observation.
  for (const list of byActivity.values()) {
    for (let i = 0; i < list.length - 1; i++) {
      const d = list[i]!.decision;
      if (d.type !== 'wait') continue;
      const next = list[i + 1]!;
      const ms = Math.max(0, next.at - list[i]!.at - (next.observeMs ?? 0));
      const w = windowOf(list[i]!.at);
      w.wait[d.step] = (w.wait[d.step] ?? 0) + ms;
    }
  }
  const out: Breakdown = { wallMs: tEnd - t0, observeMs: 0, actMs: 0, waitMs: {}, restMs: 0, lines: [] };
  for (const w of windows) {
    const span = w.end - w.start;
    const waited = sum(Object.values(w.wait));
    const rest = span - w.observe - w.act - waited;
    out.observeMs += w.observe; out.actMs += w.act; out.restMs += rest;
    for (const [k, v] of Object.entries(w.wait)) out.waitMs[k] = (out.waitMs[k] ?? 0) + v;
    const waits = Object.entries(w.wait).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    out.lines.push(`${w.name} ${span} ms: observe ${w.observe}, act ${w.act}, waiting on the cluster (${waits}), rest (Temporal dispatch + workflow tasks) ${rest}`);
  }
  return out;
}

interface GantryCtx { service: GantryService; decisions: DecisionEvent[]; namespaces: string[]; zones: Map<string, string> }

async function gantryRun(ctx: GantryCtx, scenario: Scenario): Promise<RunResult> {
  const app = `peers-g-${scenario}-${runId}-${++seq}`;
  ctx.namespaces.push(app);
  const env: Partial<RawConfig['environments'][number]> = scenario === 'abort'
    ? { groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 2 }, { pods: 'rest' }] }
    : scenario === 'fail' ? { analysis: [{ name: 'error-rate', query: QUERY, max: 0.01 }] } : {};
  const cfg = gantryConfig(app, env);
  const v1: Revision = { image: IMAGE, digest: digest() };
  const v2: Revision = { image: IMAGE, digest: digest() };
  const e0 = cfg.environments[0]!;
  await ctx.service.startRelease({ config: { ...cfg, environments: [{ ...e0, groups: [{ name: 'all', pods: 'rest', confirm: { type: 'auto' } }], analysis: [] }] }, environment: 'production', revision: v1 }, who);
  const base = await ctx.service.waitForRelease(app, 'production');
  if (base.phase !== 'succeeded') throw new Error(`gantry baseline ${app}: ${base.summary}`);

  const watch = await RunWatch.start(app, v1, v2, ctx.zones);
  try {
    const t0 = Date.now();
    await ctx.service.startRelease({ config: cfg, environment: 'production', revision: v2 }, who);
    let tAbort: number | undefined;
    if (scenario === 'abort') {
      await until('the Gantry release to wait for approval', async () => ((await ctx.service.status(app, 'production')).phase === 'waiting-approval' ? true : undefined), STEP_TIMEOUT_MS, 20);
      tAbort = Date.now();
      await ctx.service.decide(app, 'production', 'abort', who, 'bench: abort after group 1');
    }
    const final = await ctx.service.waitForRelease(app, 'production');
    const tDone = Date.now();
    const want = scenario === 'seed' ? 'new' : 'old';
    const expected = scenario === 'seed' ? 'succeeded' : 'rolled-back';
    if (final.phase !== expected) throw new Error(`gantry ${scenario} run ${app}: ${final.phase} (expected ${expected}): ${final.summary}`);
    const failAt = scenario === 'fail' ? Date.parse(final.events.find((e) => e.type === 'analysis-fail')?.at ?? '') : undefined;
    if (scenario === 'fail' && !Number.isFinite(failAt)) throw new Error(`gantry fail run ${app}: no analysis-fail event`);
    const from = tAbort ?? failAt ?? t0;
    const settled = await until(`the watch to see 10 ${want} pods Ready and none of the other revision (${app})`, () => watch.settledAt(want, from), 30_000);
    watch.stop();
    const replay = watch.rec.replay(resourceNames(app, 'production').main);
    const r: RunResult = {
      tool: 'gantry', scenario, namespace: app, primaryMs: settled - from,
      deletedWhileListed: replay.violations.length, capacityFloor: replay.minServing.count,
    };
    if (scenario === 'seed') {
      r.secondaryMs = tDone - t0;
      const steps = final.events.filter((e) => e.type === 'applied').map((e) => Date.parse(e.at));
      const counts = [...steps, tDone].map((at) => watch.zonesAt(at));
      r.zones = { even: counts.every(zonesEven), steps: counts.map(zonesText) };
    }
    r.breakdown = breakdown(ctx.decisions, final, t0, tDone, tAbort !== undefined ? [{ name: 'waiting for approval (until the abort)', end: tAbort }] : []);
    if (scenario === 'fail') r.secondaryMs = settled - t0;
    return r;
  } finally {
    watch.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Argo Rollouts

const ROLLOUT = 'web';

/** A watch that starts again (from a fresh list: `onObject` sees the current state again) when it ends, e.g. on an apiserver restart. */
async function keepWatching<T>(kc: KubeConfig, path: string, onObject: (o: T) => void): Promise<{ stop(): void }> {
  let stopped = false;
  let ctrl: AbortController | undefined;
  const again = () => { if (!stopped) setTimeout(() => { start().catch(again); }, 500); };
  const start = async (): Promise<void> => {
    ctrl = await new Watch(kc).watch(path, {}, (type, o: T) => { if (type !== 'ERROR' && type !== 'BOOKMARK') onObject(o); }, () => again());
  };
  await start();
  return { stop: () => { stopped = true; ctrl?.abort(); } };
}
const ro = (ns: string, plural: string, name = '') => `/apis/argoproj.io/v1alpha1/namespaces/${ns}/${plural}${name ? `/${name}` : ''}`;

async function must(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown> {
  const r = await api(method, path, body, 15_000, contentType);
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text.slice(0, 400)}`);
  return r.body;
}

interface RolloutObj { spec?: unknown; status?: { phase?: string; stableRS?: string; currentPodHash?: string; currentStepIndex?: number; availableReplicas?: number; updatedReplicas?: number; replicas?: number; pauseConditions?: unknown[]; abort?: boolean } }
interface AnalysisRunObj { metadata?: { name?: string }; status?: { phase?: string } }

function rolloutSpec(image: string, scenario: Scenario): unknown {
  const steps = scenario === 'seed' ? [{ setWeight: 20 }, { setWeight: 60 }, { setWeight: 100 }]
    : scenario === 'abort' ? [{ setWeight: 20 }, { pause: {} }, { setWeight: 60 }, { setWeight: 100 }]
      : [{ setWeight: 20 }, { analysis: { templates: [{ templateName: 'error-rate' }] } }, { setWeight: 60 }, { setWeight: 100 }];
  return {
    replicas: REPLICAS,
    selector: { matchLabels: { app: ROLLOUT } },
    template: {
      metadata: { labels: { app: ROLLOUT } },
      spec: {
        // The closest to Gantry's per-zone groups: each revision spread evenly over the zones.
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: zoneLabel, whenUnsatisfiable: 'DoNotSchedule',
          labelSelector: { matchLabels: { app: ROLLOUT } }, matchLabelKeys: ['rollouts-pod-template-hash'] }],
        containers: [{ name: 'web', image, ports: [{ containerPort: 8080 }] }],
      },
    },
    // Surge first, never below the replica count: the closest to Gantry's capacity floor.
    strategy: { canary: { maxSurge: '25%', maxUnavailable: /^\d+$/.test(ARGO_MAX_UNAVAILABLE) ? Number(ARGO_MAX_UNAVAILABLE) : ARGO_MAX_UNAVAILABLE, steps } },
  };
}

async function argoRun(namespaces: string[], zones: Map<string, string>, scenario: Scenario): Promise<RunResult> {
  const ns = `peers-a-${scenario}-${runId}-${++seq}`;
  namespaces.push(ns);
  const v1: Revision = { image: IMAGE, digest: digest() };
  const v2: Revision = { image: IMAGE, digest: digest() };
  await must('POST', '/api/v1/namespaces', { metadata: { name: ns } });
  await until(`namespace ${ns}'s default ServiceAccount`, async () => ((await api('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200 ? true : undefined), 30_000, 50);
  let controller: ArgoRollouts | undefined;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const watches: { stop(): void }[] = [];
  try {
    controller = await startArgoRollouts({ namespace: ns });
    await must('POST', `/api/v1/namespaces/${ns}/services`, { metadata: { name: ROLLOUT }, spec: { selector: { app: ROLLOUT }, ports: [{ port: 80, targetPort: 8080 }] } });
    if (scenario === 'fail') {
      await must('POST', ro(ns, 'analysistemplates'), { apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisTemplate', metadata: { name: 'error-rate' },
        spec: { metrics: [{ name: 'error-rate', count: 1, failureLimit: 0, successCondition: 'result[0] <= 0.01',
          provider: { prometheus: { address: embeddedPrometheusUrl(), query: QUERY } } }] } });
    }
    await must('POST', ro(ns, 'rollouts'), { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: ROLLOUT }, spec: rolloutSpec(`${IMAGE}@${v1.digest}`, scenario) });
    // Baseline: v1 fully available, and the Service's EndpointSlices list 10 ready pods.
    const baseHash = await until(`Argo baseline ${ns} Healthy`, async () => {
      const s = ((await must('GET', ro(ns, 'rollouts', ROLLOUT))) as RolloutObj).status;
      return s?.phase === 'Healthy' && s.availableReplicas === REPLICAS && s.stableRS && s.stableRS === s.currentPodHash ? s.stableRS : undefined;
    }, STEP_TIMEOUT_MS, 100);
    await until(`Argo baseline ${ns}: 10 ready endpoints`, async () => {
      const l = (await must('GET', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${ROLLOUT}`)) as { items: V1EndpointSlice[] };
      return l.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).length === REPLICAS ? true : undefined;
    }, 60_000, 100);

    // The tool's own view, watched: step index advances, done, paused, the AnalysisRun failing.
    const steps: { at: number; index: number }[] = [];
    let doneAt: number | undefined;
    let pausedAt: number | undefined;
    let failedAt: number | undefined;
    watches.push(await keepWatching(kc, ro(ns, 'rollouts'), (r: RolloutObj) => {
      const s = r.status ?? {};
      const now = Date.now();
      if (s.currentStepIndex !== undefined && s.currentPodHash !== baseHash && (steps.length === 0 || steps[steps.length - 1]!.index !== s.currentStepIndex)) {
        steps.push({ at: now, index: s.currentStepIndex });
      }
      if (doneAt === undefined && s.phase === 'Healthy' && s.stableRS && s.stableRS !== baseHash && s.stableRS === s.currentPodHash) doneAt = now;
      if (pausedAt === undefined && s.currentPodHash !== baseHash && (s.pauseConditions?.length ?? 0) > 0) pausedAt = now;
    }));
    if (scenario === 'fail') {
      watches.push(await keepWatching(kc, ro(ns, 'analysisruns'), (a: AnalysisRunObj) => {
        if (failedAt === undefined && a.status?.phase === 'Failed') failedAt = Date.now();
      }));
    }
    const watch = await RunWatch.start(ns, v1, v2, zones);
    try {
      const t0 = Date.now();
      await must('PATCH', ro(ns, 'rollouts', ROLLOUT), { spec: { template: { spec: { containers: [{ name: 'web', image: `${IMAGE}@${v2.digest}` }] } } } }, 'application/merge-patch+json');
      let from = t0;
      if (scenario === 'abort') {
        await until(`Argo ${ns} to pause after setWeight 20`, () => (pausedAt !== undefined ? true : undefined));
        from = Date.now();
        // As `kubectl argo rollouts abort` does (pkg/kubectl-argo-rollouts/cmd/abort): a merge patch of the status subresource.
        await must('PATCH', `${ro(ns, 'rollouts', ROLLOUT)}/status`, { status: { abort: true } }, 'application/merge-patch+json');
      }
      if (scenario === 'fail') from = await until(`Argo ${ns}'s AnalysisRun to fail`, () => failedAt);
      const want = scenario === 'seed' ? 'new' : 'old';
      const settled = await until(`the watch to see 10 ${want} pods Ready and none of the other revision (${ns})`, () => watch.settledAt(want, from));
      if (scenario === 'seed') await until(`Argo ${ns} Healthy on the new revision`, () => doneAt);
      watch.stop();
      const replay = watch.rec.replay(ROLLOUT);
      const r: RunResult = {
        tool: 'argo', scenario, namespace: ns, primaryMs: settled - from,
        deletedWhileListed: replay.violations.length, capacityFloor: replay.minServing.count,
      };
      if (scenario === 'seed') {
        r.secondaryMs = doneAt! - t0;
        // A step is complete when the index moves past it; the last count is the end state.
        const counts = [...steps.filter((s) => s.index > 0).map((s) => s.at), doneAt!].map((at) => watch.zonesAt(at));
        r.zones = { even: counts.every(zonesEven), steps: counts.map(zonesText) };
      }
      if (scenario === 'fail') r.secondaryMs = settled - t0;
      return r;
    } finally {
      watch.stop();
    }
  } finally {
    for (const w of watches) w.stop();
    await controller?.stop();
  }
}

// ---------------------------------------------------------------------------------------------

function describe(r: RunResult, i: number): string {
  const what = r.scenario === 'seed' ? `start -> 10 new Ready ${r.primaryMs} ms, -> done ${r.secondaryMs} ms`
    : r.scenario === 'abort' ? `abort -> 10 stable Ready, 0 canary ${r.primaryMs} ms`
      : `failure recorded -> 10 stable Ready, 0 canary ${r.primaryMs} ms (start -> stable ${r.secondaryMs} ms)`;
  const zones = r.zones ? `; zones ${r.zones.even ? 'even' : 'NOT even'} after each step [${r.zones.steps.join(' | ')}]` : '';
  return `# ${r.scenario} ${r.tool} run ${i + 1} (${r.namespace}): ${what}; deleted while listed ready ${r.deletedWhileListed}; capacity floor ${r.capacityFloor}${zones}`;
}

const cell = (xs: number[]) => xs.length === 0 ? 'n/a' : `${secs(median(xs))} (${(Math.min(...xs) / 1000).toFixed(2)}-${(Math.max(...xs) / 1000).toFixed(2)})`;

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) { console.log(HELP); return; }
  if (!Number.isInteger(ITER) || ITER < 1) throw new Error(`BENCH_ITER must be a positive integer (got ${process.env.BENCH_ITER}); e.g. BENCH_ITER=2`);
  if (!/^(\d+|\d{1,2}%)$/.test(ARGO_MAX_UNAVAILABLE)) throw new Error(`PEERS_ARGO_MAX_UNAVAILABLE must be a pod count or a percentage (got '${ARGO_MAX_UNAVAILABLE}'); e.g. 0 or 25%`);
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const quiet = () => undefined;
  await upKubernetes(quiet);
  await upPrometheus(quiet);
  await installArgoRollouts((m) => console.log(`# ${m}`));
  try {
    const t = (JSON.parse(fs.readFileSync(buildTimesFile, 'utf8')) as { argoRollouts?: { ms: number; at: string } }).argoRollouts;
    if (t) console.log(`# argo-rollouts ${pins.argoRollouts}: last build took ${(t.ms / 1000).toFixed(0)} s (${t.at}; cold, with an empty Go build cache, about 4-5 minutes on 2 cores)`);
  } catch { /* no record */ }

  const temporal = await startEphemeralTemporal();
  const decisions: DecisionEvent[] = [];
  const native = await NativeConnection.connect({ address: temporal.address });
  const activities = createKubernetesActivities({ kubeconfig: kubeconfigPath, prometheusUrl: embeddedPrometheusUrl(), onDecision: (e) => decisions.push(e) });
  const worker = await createWorker({ connection: native, taskQueue: 'bench-peers', activities: testActivities('bench-peers', { ...activities, ...createNotifyActivities() }) });
  const running = worker.run();
  const connection = await Connection.connect({ address: temporal.address });
  const service = new GantryService(new Client({ connection }), 'bench-peers');
  const clients = new KubeClients({ kubeconfig: kubeconfigPath });
  const nodes = await clients.for().core.listNode();
  const zones = new Map(nodes.items.filter((n) => n.metadata?.labels?.[zoneLabel]).map((n) => [n.metadata!.name!, n.metadata!.labels![zoneLabel]!]));

  // The failing error ratio both tools' analysis reads.
  const metrics = http.createServer((_q, res) => { res.end('gantry_bench_error_ratio 0.5\n'); });
  await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
  const unregister = registerScrapeTarget('bench-peers', `127.0.0.1:${(metrics.address() as { port: number }).port}`, { bench: 'peers' });

  const namespaces: string[] = [];
  const results: RunResult[] = [];
  try {
    await waitForSeries(QUERY, 60_000);
    const ctx: GantryCtx = { service, decisions, namespaces, zones };
    for (const scenario of ['seed', 'abort', 'fail'] as const) {
      for (let i = 0; i < ITER; i++) {
        for (const tool of ['gantry', 'argo'] as const) {
          const once = () => (tool === 'gantry' ? gantryRun(ctx, scenario) : argoRun(namespaces, zones, scenario));
          await poll(apiserverReady, { timeoutMs: 120_000, what: 'the test bed kube-apiserver /readyz' });
          let r: RunResult;
          try { r = await once(); } catch (err) {
            // The machine is shared: another test may restart the apiserver mid-run. One retry, said out loud.
            console.log(`# ${scenario} ${tool} run ${i + 1} failed, retrying once in a fresh namespace: ${err instanceof Error ? err.message : String(err)}`);
            await poll(apiserverReady, { timeoutMs: 120_000, what: 'the test bed kube-apiserver /readyz' });
            r = await once();
          }
          results.push(r);
          console.log(describe(r, i));
          if (r.breakdown) for (const l of r.breakdown.lines) console.log(`#   ${l}`);
          // Namespaces go as soon as a run is done: fewer objects for the next run's controllers.
          await clients.for().core.deleteNamespace({ name: r.namespace }).catch(() => undefined);
        }
      }
    }
    report(results);
  } finally {
    unregister();
    metrics.close();
    await poll(apiserverReady, { timeoutMs: 120_000, what: 'the test bed kube-apiserver /readyz (to delete the namespaces)', throwOnTimeout: false });
    for (const ns of namespaces) await clients.for().core.deleteNamespace({ name: ns }).catch(() => undefined);
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    temporal.stop();
  }
}

function report(results: RunResult[]): void {
  const of = (tool: Tool, s: Scenario) => results.filter((r) => r.tool === tool && r.scenario === s);
  const rows: { label: string; key: string; pick: (r: RunResult) => number | undefined; s: Scenario }[] = [
    { label: 'seed release, start → 10 new Ready and 0 old pods', key: 'seed_ready', s: 'seed', pick: (r) => r.primaryMs },
    { label: 'seed release, start → the tool says done', key: 'seed_done', s: 'seed', pick: (r) => r.secondaryMs },
    { label: 'abort after group 1 → 10 stable Ready, 0 canary', key: 'abort_stable', s: 'abort', pick: (r) => r.primaryMs },
    { label: 'failing analysis (failure recorded) → 10 stable Ready, 0 canary', key: 'fail_stable', s: 'fail', pick: (r) => r.primaryMs },
    { label: 'failing analysis, start → 10 stable Ready, 0 canary', key: 'fail_start_stable', s: 'fail', pick: (r) => r.secondaryMs },
  ];
  console.log('');
  console.log(`Gantry vs Argo Rollouts ${pins.argoRollouts}, ${ITER} runs each, interleaved, one Pod/EndpointSlice watch:`);
  console.log('');
  console.log('| scenario | Gantry median (min-max) | Argo Rollouts median (min-max) | Argo / Gantry |');
  console.log('|---|---|---|---|');
  const lines: [string, number, string][] = [];
  for (const row of rows) {
    const g = of('gantry', row.s).map(row.pick).filter((x): x is number => x !== undefined);
    const a = of('argo', row.s).map(row.pick).filter((x): x is number => x !== undefined);
    const ratio = median(a) / median(g);
    console.log(`| ${row.label} | ${cell(g)} | ${cell(a)} | ${ratio.toFixed(2)}× |`);
    lines.push([`peers_${row.key}_ms_p50_gantry`, median(g), 'ms'], [`peers_${row.key}_ms_p50_argo`, median(a), 'ms'], [`peers_${row.key}_ratio_argo_over_gantry`, ratio, 'x']);
  }
  const deleted = (tool: Tool, s: Scenario) => sum(of(tool, s).map((r) => r.deletedWhileListed));
  const perRun = (tool: Tool) => (['seed', 'abort', 'fail'] as const).map((s) => `${s} ${deleted(tool, s)}`).join(', ');
  console.log(`| pods deleted while an EndpointSlice still listed them ready (total over the runs) | ${perRun('gantry')} | ${perRun('argo')} | |`);
  const floor = (tool: Tool) => Math.min(...results.filter((r) => r.tool === tool).map((r) => r.capacityFloor));
  console.log(`| capacity floor (least pods Ready and listed ready by the app's Service, all runs) | ${floor('gantry')} | ${floor('argo')} | |`);
  const even = (tool: Tool) => of(tool, 'seed').filter((r) => r.zones?.even).length;
  console.log(`| zones even after every step (seed release) | ${even('gantry')} of ${of('gantry', 'seed').length} runs | ${even('argo')} of ${of('argo', 'seed').length} runs | |`);
  console.log('');
  console.log('What Argo Rollouts cannot express here: per-zone groups (its steps are a weight or a replica count for the whole');
  console.log('Rollout; a topologySpreadConstraint on the zone, per revision, spreads the new pods, but which old pods its');
  console.log('ReplicaSet scale-down removes is not zone-aware); waiting for EndpointSlices (it deletes old pods once the new');
  console.log('ones are available, while the Service may still list the old ones ready). Its plan here: basic canary (no');
  console.log(`trafficRouting) setWeight 20/60/100, maxSurge 25%, maxUnavailable ${ARGO_MAX_UNAVAILABLE} (PEERS_ARGO_MAX_UNAVAILABLE), a Service over its`);
  console.log('pods. Flagger was not run: its canary weights need a mesh or ingress provider (its kubernetes provider does');
  console.log('blue/green only).');
  console.log('');
  for (const [name, v, unit] of lines) bench(name, v, unit);
  for (const tool of ['gantry', 'argo'] as const) bench(`peers_deleted_while_listed_${tool}`, sum(results.filter((r) => r.tool === tool).map((r) => r.deletedWhileListed)), 'pods');
  for (const tool of ['gantry', 'argo'] as const) bench(`peers_zones_even_runs_${tool}`, even(tool), 'runs');
  for (const tool of ['gantry', 'argo'] as const) bench(`peers_capacity_floor_min_${tool}`, floor(tool), 'pods');
  const bd = of('gantry', 'seed').map((r) => r.breakdown!).filter(Boolean);
  if (bd.length) {
    bench('peers_gantry_seed_observe_ms_p50', median(bd.map((b) => b.observeMs)), 'ms');
    bench('peers_gantry_seed_act_ms_p50', median(bd.map((b) => b.actMs)), 'ms');
    bench('peers_gantry_seed_cluster_wait_ms_p50', median(bd.map((b) => sum(Object.values(b.waitMs)))), 'ms');
    for (const step of [...new Set(bd.flatMap((b) => Object.keys(b.waitMs)))].sort()) {
      bench(`peers_gantry_seed_wait_${step.replace(/[^a-z0-9]+/gi, '_')}_ms_p50`, median(bd.map((b) => b.waitMs[step] ?? 0)), 'ms');
    }
    bench('peers_gantry_seed_rest_ms_p50', median(bd.map((b) => b.restMs)), 'ms');
  }
}

main().catch((err: unknown) => {
  console.error(`bench/peers failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
