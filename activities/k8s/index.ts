// The release activities on a real Kubernetes cluster (the interface: workflows/activity-types.ts).
//
// Per cell, one workload (Deployment) per revision: the stable one and the canary one. Each activity
// is a reconcile loop (converge.ts) over a pure decider in core/rollout.ts, so it is idempotent (it
// converges to the described state; a retry after a crash continues from what it observes), it
// heartbeats, resumes its deadline from the heartbeat details, and honours cancellation.
//
//   applyGroup   new pods first (canary scales up), Ready and listed ready in the EndpointSlices within
//                the progress deadline (else ready:false, nothing drained), the router's weight, then
//                old pods drained (serving label off, gone from every EndpointSlice, drain grace) and
//                removed (stable scales down; pod-deletion-cost makes the drained pods go).
//   waitHealthy  every new pod still Ready and listed ready, within the deadline.
//   measure      the analysis queries against Prometheus, raw values.
//   rollback     stable back to full size and Ready, all traffic to it, the new pods drained and removed.
//   finalize     the stable Service and the record move to the new revision; old workloads deleted.
//   observeTarget  read-only: while the release waits, looks now and then and heartbeats what it sees.
import type { V1ConfigMap, V1Namespace, V1ServiceAccount, V1ServiceList } from '@kubernetes/client-node';
import { activityInfo, cancellationSignal, heartbeat, log } from '@temporalio/activity';
import type { Measurement } from '../../core/analysis.js';
import { formatDuration } from '../../core/duration.js';
import { observedFromView, plannedWeights, type ObservedBy, type ObservedState } from '../../core/observed.js';
import {
  Annotations, DEFAULT_DRAIN_GRACE, Labels, NO_REVISION, decideFinalize, decideGroup, decideHealth,
  decideRollback, labelSelector, selectorLabels, workloadName, type Decision, type RolloutAction,
} from '../../core/rollout.js';
import type { Revision } from '../../core/release.js';
import type {
  ApplyGroupRequest, ApplyGroupResult, DescribeTargetRequest, DescribeTargetResult, FinalizeRequest, HealthResult,
  MeasureRequest, ObserveTargetRequest, ObservedResult, ReleaseActivities, RollbackRequest, Target, WaitHealthyRequest,
} from '../../workflows/activity-types.js';
import { KubeClients, applyObject, call, isNotFound, isTransient, mergePatch, readOrUndefined, resourcePath, toFailure, type KubeOptions, type Wire } from './client.js';
import { Waker, converge, sleep, throwIfCancelled } from './converge.js';
import { observe, scopeOf, summarize, type Observation, type Scope, type Site } from './observe.js';
import { measureChecks, type PrometheusClientOptions } from './prometheus.js';
import {
  parseRecord, renderDeployment, renderNamespace, renderRecord, renderService, renderServices, revisionOf, targetRevision,
  type HistoryEntry, type RecordData, type RevisionRecord,
} from './render.js';

export { KubeClients, type KubeOptions } from './client.js';
export { observe, scopeOf, summarize, type Observation, type Scope } from './observe.js';
export { queryPrometheus, type PrometheusAuth, type PrometheusClientOptions } from './prometheus.js';
export { targetRevision, revisionHash, imageRef, ZONE_LABEL } from './render.js';
export type { TrafficRouter } from './traffic.js';

/**
 * One decision of a converge loop. `observeMs`: how long the look it was made on took (the API calls);
 * `actMs`: how long the previous decision's actions took to execute (benchmarks' time breakdown).
 */
export interface DecisionEvent { activity: string; releaseId: string; at: number; decision: Decision; summary?: string; observeMs?: number; actMs?: number }

export interface KubernetesActivityOptions extends KubeOptions {
  /** Prometheus base URL for analysis (e.g. http://127.0.0.1:9090). Without it every check is inconclusive. */
  prometheusUrl?: string;
  /** Prometheus with credentials and a CA (worker/activities.ts kubernetesOptions); wins over prometheusUrl. */
  prometheus?: PrometheusClientOptions;
  /** Drain grace for cells that configure none. Default 5s. */
  defaultDrainGrace?: string;
  /** Longest wait between observations without a watch event. Default 1000 ms. */
  pollMs?: number;
  /** How long an unanswering cluster is ridden out inside an activity before it fails (retryably). Default 60 s. */
  transientBudgetMs?: number;
  /** Every decision the activities take (tests, benchmarks, the demo). */
  onDecision?: (e: DecisionEvent) => void;
}

/** Heartbeat details: resumable progress, and the compact observed state the API shows in the status (no secrets). */
interface Progress { kind: string; group?: number; startedAt: number; step?: string; reason?: string; observed?: ObservedState }

/**
 * Heartbeats every second with the latest progress, while `fn` runs (outside an activity: no-op).
 * `immediate: false` beats first at the first update instead of at the start: the SDK sends the
 * first heartbeat at once and throttles the next ones (to 80% of the heartbeat timeout), so the first
 * one should carry the first observation rather than none.
 */
async function withHeartbeat<T>(progress: Progress, fn: (update: (p: Partial<Progress>) => void) => Promise<T>, immediate = true): Promise<T> {
  let current = progress;
  let beaten = false;
  const beat = () => { beaten = true; try { heartbeat(current); } catch { /* not in an activity (tests, benchmarks) */ } };
  if (immediate) beat();
  const timer = setInterval(beat, 1000);
  try {
    return await fn((p) => { current = { ...current, ...p }; if (!beaten) beat(); });
  } finally {
    clearInterval(timer);
  }
}

/** When this work began: from the last heartbeat of an earlier attempt of the same work, else now. */
function resumeStart(kind: string, group?: number): number {
  try {
    const d = activityInfo().heartbeatDetails as Progress | undefined;
    if (d && d.kind === kind && d.group === group && typeof d.startedAt === 'number') return d.startedAt;
  } catch { /* not in an activity */ }
  return Date.now();
}

/** The workflow run the activity belongs to (release ids repeat across releases of an app and environment). */
function runId(): string | undefined {
  try { return activityInfo().workflowExecution?.runId; } catch { return undefined; }
}

function signal(): AbortSignal | undefined {
  try { return cancellationSignal(); } catch { return undefined; }
}

function activityLog(level: 'info' | 'warn', message: string, meta: Record<string, unknown>): void {
  try { log[level](message, meta); } catch { /* not in an activity */ }
}

export function createKubernetesActivities(opts: KubernetesActivityOptions = {}): ReleaseActivities {
  const clients = new KubeClients(opts);
  const grace = opts.defaultDrainGrace ?? DEFAULT_DRAIN_GRACE;

  const newWaker = (scope: Scope) => new Waker(scope.sites.flatMap((s) => [
    { kube: s.kube, path: `/api/v1/namespaces/${s.namespace}/pods`, labelSelector: labelSelector(selectorLabels(scope.target.app, scope.target.environment)) },
    { kube: s.kube, path: `/apis/discovery.k8s.io/v1/namespaces/${s.namespace}/endpointslices` },
  ]));

  async function readRecord(site: Site, scope: Scope, sig?: AbortSignal): Promise<RecordData> {
    const cm = await readOrUndefined(`read ConfigMap ${site.namespace}/${scope.names.record}`, () => site.kube.getJson<Wire<V1ConfigMap>>(
      resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace: site.namespace, name: scope.names.record }), { ...(sig ? { signal: sig } : {}) }));
    return parseRecord(cm);
  }

  async function writeRecord(site: Site, scope: Scope, mutate: (r: RecordData) => RecordData | undefined, sig?: AbortSignal): Promise<void> {
    const next = mutate(await readRecord(site, scope, sig));
    if (!next) return;
    const body = renderRecord(scope.names.record, site.namespace, scope.target, next);
    await call(`write ConfigMap ${site.namespace}/${scope.names.record}`, () => applyObject(site.kube,
      resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace: site.namespace, name: scope.names.record }), body, sig));
  }

  /** Namespace (created if missing; then its default ServiceAccount is waited for), the Services, the canary's record. */
  async function prepareSites(scope: Scope, canary: RevisionRecord, sig?: AbortSignal): Promise<void> {
    await Promise.all(scope.sites.map(async (site) => {
      const { kube, namespace } = site;
      const o = { ...(sig ? { signal: sig } : {}) };
      let created = false;
      try {
        await kube.getJson<Wire<V1Namespace>>(`/api/v1/namespaces/${encodeURIComponent(namespace)}`, o);
      } catch (err) {
        if (isNotFound(err)) {
          await call(`create Namespace ${namespace}`, () => applyObject(kube, `/api/v1/namespaces/${encodeURIComponent(namespace)}`, renderNamespace(namespace)));
          created = true;
        } else if ((err as { code?: number }).code !== 403) {
          await call(`read Namespace ${namespace}`, () => Promise.reject(err));
        } // 403: a namespaced user may not read Namespaces; carry on, the namespace must exist.
      }
      if (created) {
        // The ServiceAccount admission plugin rejects pods until the namespace's default account exists.
        for (let i = 0; i < 120; i++) {
          const sa = await readOrUndefined('read ServiceAccount default', () => kube.getJson<Wire<V1ServiceAccount>>(
            resourcePath({ group: '', version: 'v1', resource: 'serviceaccounts', namespace, name: 'default' }), o));
          if (sa) break;
          await sleep(250, sig);
        }
      }
      const record = await readRecord(site, scope, sig);
      const svc = renderServices(scope.names, namespace, scope.target, record.stable?.revision ?? NO_REVISION, canary.revision);
      const existing = await call(`list Services in ${namespace}`, () => kube.getJson<Wire<V1ServiceList>>(resourcePath({ group: '', version: 'v1', resource: 'services', namespace }),
        { query: { labelSelector: labelSelector(selectorLabels(scope.target.app, scope.target.environment)) }, ...o }));
      const have = new Set(existing.items.map((s) => s.metadata?.name));
      // The main Service's selector never changes: applied every time. The stable and canary Services
      // are created when missing; afterwards only the deciders re-point them.
      const apply = [svc.main, ...(have.has(scope.names.stable) ? [] : [svc.stable]), ...(have.has(scope.names.canary) ? [] : [svc.canary])];
      for (const s of apply) {
        await call(`apply Service ${namespace}/${s.metadata!.name}`, () => applyObject(kube,
          resourcePath({ group: '', version: 'v1', resource: 'services', namespace, name: s.metadata!.name! }), s, sig));
      }
      if (record.canary?.revision !== canary.revision || record.canary?.releaseId !== canary.releaseId || record.canary?.run !== canary.run) {
        await writeRecord(site, scope, (r) => ({ ...r, canary }), sig);
      }
    }));
  }

  function canaryRecord(target: Target, revision: Revision, releaseId: string): RevisionRecord {
    const run = runId();
    return { revision: targetRevision(target, revision), ...revision, releaseId, ...(run ? { run } : {}), at: new Date().toISOString() };
  }

  /** Executes a decision's actions (in parallel; each is idempotent). */
  async function act(scope: Scope, actions: RolloutAction[], ctx: { revision: Revision; canary: string; releaseId: string; canaryRec: RevisionRecord }, sig?: AbortSignal): Promise<void> {
    const { target } = scope;
    const path = (site: Site, group: string, resource: string, name: string) => resourcePath({ group, version: 'v1', resource, namespace: site.namespace, name });
    await Promise.all(actions.map(async (a) => {
      switch (a.kind) {
        case 'ensure-canary': {
          const { cell, site } = scope.cell(a.cell);
          const body = renderDeployment({ target, cell, revision: ctx.revision, hash: ctx.canary, replicas: a.replicas, releaseId: ctx.releaseId });
          await call(`apply Deployment ${site.namespace}/${body.metadata!.name}`, () => applyObject(site.kube, path(site, 'apps', 'deployments', body.metadata!.name!), body, sig));
          return;
        }
        case 'scale': {
          const { site } = scope.cell(a.cell);
          const name = workloadName(target.app, target.environment, a.cell, a.revision);
          await readOrUndefined(`scale Deployment ${site.namespace}/${name} to ${a.replicas}`, () => mergePatch(site.kube,
            `${path(site, 'apps', 'deployments', name)}/scale`, { spec: { replicas: a.replicas } }, sig));
          return;
        }
        case 'drain':
        case 'undrain': {
          const { site } = scope.cell(a.cell);
          const now = String(Date.now());
          await Promise.all(a.pods.map((pod) => {
            const metadata = a.kind === 'drain'
              ? { labels: { [Labels.serving]: 'false' }, annotations: { [Annotations.deletionCost]: String(a.costs[pod] ?? -1000), ...(a.graced.includes(pod) ? { [Annotations.drainedAt]: now } : {}) } }
              : { labels: { [Labels.serving]: 'true' }, annotations: { [Annotations.deletionCost]: null, [Annotations.drainedAt]: null } };
            return readOrUndefined(`${a.kind} Pod ${site.namespace}/${pod}`, () => mergePatch(site.kube, path(site, '', 'pods', pod), { metadata }, sig));
          }));
          return;
        }
        case 'point-service': {
          const site = scope.site(a.site);
          const name = a.role === 'stable' ? scope.names.stable : scope.names.canary;
          const body = renderService(name, site.namespace, target, { [Labels.revision]: a.revision });
          await call(`point Service ${site.namespace}/${name} at ${a.revision}`, () => applyObject(site.kube, path(site, '', 'services', name), body, sig));
          return;
        }
        case 'set-weight': {
          const site = scope.site(a.site);
          await site.router!.setCanaryWeight(a.canary, sig);
          return;
        }
        case 'delete-workload': {
          const { site } = scope.cell(a.cell);
          const name = workloadName(target.app, target.environment, a.cell, a.revision);
          await readOrUndefined(`delete Deployment ${site.namespace}/${name}`, () => site.kube.send('DELETE', path(site, 'apps', 'deployments', name),
            { query: { propagationPolicy: 'Background' }, ...(sig ? { signal: sig } : {}) }));
          return;
        }
        case 'record-stable': {
          const site = scope.site(a.site);
          await writeRecord(site, scope, (r) => {
            const stable: RevisionRecord = r.canary?.revision === a.revision && r.canary.run === ctx.canaryRec.run ? r.canary : { ...ctx.canaryRec, revision: a.revision };
            const { canary: _drop, ...rest } = r;
            return { ...rest, stable, history: appendHistory(r.history, { ...stable, at: new Date().toISOString(), event: 'released' }) };
          }, sig);
          return;
        }
        default: {
          // A new action kind must be interpreted here: doing nothing would send converge straight back to observe.
          const never: never = a;
          throw new Error(`unhandled rollout action ${JSON.stringify(never)}`);
        }
      }
    }));
  }

  /**
   * A converge run for one activity, wired to heartbeats, cancellation, the waker and the decision hook.
   * `watch`: how to describe what it sees (core/observed.ts), heartbeated after each look and returned.
   */
  async function run(kind: string, releaseId: string, scope: Scope, progress: Progress,
    decide: (view: Observation['view'], now: number) => Decision, ctx: Parameters<typeof act>[2],
    watch: { by: ObservedBy; targets?: Record<string, number> }) {
    const sig = signal();
    const waker = newWaker(scope);
    let last: Observation | undefined;
    let observed: ObservedState | undefined;
    let looked: Observation | undefined;
    let observeMs: number | undefined;
    let actMs: number | undefined;
    const look = (view: Observation['view']) => observedFromView(view, ctx.canary, plannedWeights(view, ctx.canary, watch.targets), watch.by, Date.now());
    try {
      const r = await withHeartbeat(progress, (update) => converge({
        what: `${kind} ${scope.target.app}/${scope.target.environment}`,
        observe: async () => {
          const t = Date.now();
          last = await observe(scope, grace, sig);
          observeMs = Date.now() - t;
          return last.view;
        },
        decide,
        act: (actions, d) => {
          activityLog('info', `${kind}: ${d.step}`, { release: releaseId, reason: d.reason, actions: actions.map((x) => x.kind) });
          const t = Date.now();
          return act(scope, actions, ctx, sig).finally(() => { actMs = Date.now() - t; });
        },
        waker,
        ...(sig ? { signal: sig } : {}),
        ...(opts.pollMs ? { pollMs: opts.pollMs } : {}),
        ...(opts.transientBudgetMs ? { transientBudgetMs: opts.transientBudgetMs } : {}),
        onDecision: (d) => {
          if (last && last !== looked) { observed = look(last.view); looked = last; }
          update({ step: d.type === 'done' ? 'done' : d.type === 'act' || d.type === 'wait' || d.type === 'stuck' ? d.step : '', reason: d.reason, ...(observed ? { observed } : {}) });
          opts.onDecision?.({ activity: kind, releaseId, at: Date.now(), decision: d, ...(last ? { summary: summarize(last) } : {}),
            ...(observeMs !== undefined ? { observeMs } : {}), ...(actMs !== undefined ? { actMs } : {}) });
          actMs = undefined;
        },
      }), false);
      return { ...r, observed: look(r.view) };
    } finally {
      waker.close();
    }
  }

  async function health(req: WaitHealthyRequest): Promise<HealthResult> {
    const scope = scopeOf(req.target, clients);
    const canary = targetRevision(req.target, req.revision);
    const startedAt = resumeStart('health', req.group);
    const deadline = startedAt + req.deadlineMs;
    const ctx = { revision: req.revision, canary, releaseId: req.releaseId, canaryRec: canaryRecord(req.target, req.revision, req.releaseId) };
    const r = await run('waitHealthy', req.releaseId, scope, { kind: 'health', group: req.group, startedAt },
      (view, now) => decideHealth({ view, canary, targets: req.canary, now, deadline }), ctx, { by: 'health', targets: req.canary });
    if (r.decision.type === 'stuck') return { healthy: false, reason: `not healthy within ${formatDuration(req.deadlineMs)}: ${r.decision.reason}`, observed: r.observed };
    return { healthy: true, reason: r.decision.reason, observed: r.observed };
  }

  async function stableOf(scope: Scope, sig?: AbortSignal): Promise<RevisionRecord | undefined> {
    for (const site of scope.sites) {
      const r = await readRecord(site, scope, sig);
      if (r.stable) return r.stable;
    }
    return undefined;
  }

  return {
    async describeTarget(req: DescribeTargetRequest): Promise<DescribeTargetResult> {
      const stable = await stableOf(scopeOf(req.target, clients), signal());
      return stable ? { stable: revisionOf(stable) } : {};
    },

    async applyGroup(req: ApplyGroupRequest): Promise<ApplyGroupResult> {
      const sig = signal();
      const scope = scopeOf(req.target, clients);
      const canaryRec = canaryRecord(req.target, req.revision, req.releaseId);
      const startedAt = resumeStart('apply', req.group);
      const deadline = startedAt + req.deadlineMs;
      await prepareSites(scope, canaryRec, sig);
      const stable = (await stableOf(scope, sig))?.revision;
      const r = await run('applyGroup', req.releaseId, scope, { kind: 'apply', group: req.group, startedAt },
        (view, now) => decideGroup({ view, ...(stable ? { stable } : {}), canary: canaryRec.revision, targets: req.canary, now, deadline }),
        { revision: req.revision, canary: canaryRec.revision, releaseId: req.releaseId, canaryRec }, { by: 'apply', targets: req.canary });
      if (r.decision.type === 'stuck') {
        return { changed: r.changed, ready: false, reason: `new pods not ready and serving within the progress deadline (${formatDuration(req.deadlineMs)}): ${r.decision.reason}`, observed: r.observed };
      }
      if (!req.verify) return { changed: r.changed, ready: true, reason: r.decision.reason, observed: r.observed };
      // The health check in the same activity (ApplyGroupRequest.verify): one dispatch less per group.
      const h = await health({ releaseId: req.releaseId, target: req.target, revision: req.revision, group: req.group, canary: req.canary, deadlineMs: req.verify.deadlineMs });
      return { changed: r.changed, ready: true, reason: r.decision.reason, observed: h.observed ?? r.observed, health: h };
    },

    waitHealthy: health,

    async measure(req: MeasureRequest): Promise<Measurement[]> {
      const prometheus = opts.prometheus ?? (opts.prometheusUrl ? { url: opts.prometheusUrl } : undefined);
      if (!prometheus) return req.checks.map((c, index) => ({ check: c.name, index, error: 'no Prometheus configured for the worker (GANTRY_PROMETHEUS_URL)' }));
      const sig = signal();
      return withHeartbeat({ kind: 'measure', group: req.group, startedAt: Date.now() }, (update) =>
        measureChecks(prometheus, req.checks, { ...(sig ? { signal: sig } : {}), onProgress: (check) => update({ step: check }) }));
    },

    async observeTarget(req: ObserveTargetRequest): Promise<void> {
      const sig = signal();
      const scope = scopeOf(req.target, clients);
      const canary = targetRevision(req.target, req.revision);
      const interval = Math.max(250, req.intervalMs ?? 2000);
      const until = Date.now() + req.maxMs;
      const waker = newWaker(scope);
      try {
        await withHeartbeat({ kind: 'observe', startedAt: Date.now() }, async (update) => {
          while (!sig?.aborted && Date.now() < until) {
            const mark = waker.mark();
            try {
              const { view } = await observe(scope, grace, sig);
              update({ observed: observedFromView(view, canary, plannedWeights(view, canary, req.canary), 'observe', Date.now()) });
            } catch (err) {
              if (sig?.aborted) break;
              // An unanswering cluster is looked at again (the status keeps the last look's `at`); anything else ends it.
              if (!isTransient(err)) throw toFailure(err, `observe ${scope.target.app}/${scope.target.environment}`);
            }
            // Watch events wake it sooner, but at most every 500 ms: bounded load on the API server.
            await sleep(500, sig);
            await waker.wait(mark, interval - 500, sig);
          }
        }, false);
        throwIfCancelled(sig);
      } finally {
        waker.close();
      }
    },

    async rollback(req: RollbackRequest): Promise<ObservedResult> {
      const sig = signal();
      const scope = scopeOf(req.target, clients);
      const canaryRec = canaryRecord(req.target, req.revision, req.releaseId);
      const stable = (await stableOf(scope, sig))?.revision;
      const r = await run('rollback', req.releaseId, scope, { kind: 'rollback', startedAt: resumeStart('rollback') },
        (view, now) => decideRollback({ view, ...(stable ? { stable } : {}), now }),
        { revision: req.revision, canary: canaryRec.revision, releaseId: req.releaseId, canaryRec }, { by: 'rollback' });
      for (const site of scope.sites) {
        await writeRecord(site, scope, (r) => {
          const entry: HistoryEntry = { ...(r.canary?.releaseId === req.releaseId && r.canary.run === canaryRec.run ? r.canary : canaryRec), at: new Date().toISOString(), event: 'rolled-back', reason: req.reason.slice(0, 500) };
          const { canary: _drop, ...rest } = r;
          const history = appendHistory(r.history, entry);
          return history === r.history && !r.canary ? undefined : { ...rest, history };
        }, sig);
      }
      return { observed: r.observed };
    },

    async finalize(req: FinalizeRequest): Promise<ObservedResult> {
      const scope = scopeOf(req.target, clients);
      const canaryRec = canaryRecord(req.target, req.revision, req.releaseId);
      const r = await run('finalize', req.releaseId, scope, { kind: 'finalize', startedAt: resumeStart('finalize') },
        (view, now) => decideFinalize({ view, revision: canaryRec.revision, now }),
        { revision: req.revision, canary: canaryRec.revision, releaseId: req.releaseId, canaryRec }, { by: 'finalize' });
      return { observed: r.observed };
    },
  };
}

/** Appends unless the same release already has that event (idempotent across retries). */
function appendHistory(history: HistoryEntry[], e: HistoryEntry): HistoryEntry[] {
  if (history.some((h) => h.releaseId === e.releaseId && h.run === e.run && h.event === e.event && h.revision === e.revision)) return history;
  return [...history, e];
}
