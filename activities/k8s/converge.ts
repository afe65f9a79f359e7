// The reconcile loop of every cluster activity: observe, ask a core decider, act, repeat, until the
// decider says done (or stuck). Waits wake on Kubernetes watch events (pods and EndpointSlices of
// each site), with a poll as the fallback, so a step follows the cluster within milliseconds.
// Transient API errors (no answer, 429, 5xx; e.g. an apiserver restart) are ridden out inside the
// loop while heartbeating, up to a budget; cancellation (the activity's signal) ends it at once.
import { CancelledFailure } from '@temporalio/common';
import { Watch } from '@kubernetes/client-node';
import type { Decision, RolloutAction, RolloutView } from '../../core/rollout.js';
import { isTransient, toFailure, type Kube } from './client.js';

/** Wakes waiters on watch events; watches that end are restarted on the next wait (at most every 2 s). */
export class Waker {
  private count = 0;
  private readonly listeners = new Set<() => void>();
  private readonly watches: { kube: Kube; path: string; labelSelector?: string; ctrl?: AbortController; alive: boolean; startedAt: number }[];
  private closed = false;

  constructor(specs: { kube: Kube; path: string; labelSelector?: string }[]) {
    this.watches = specs.map((s) => ({ ...s, alive: false, startedAt: 0 }));
  }

  private bump = (): void => {
    this.count++;
    for (const l of this.listeners) l();
  };

  private ensure(): void {
    if (this.closed) return;
    for (const w of this.watches) {
      if (w.alive || Date.now() - w.startedAt < 2000) continue;
      w.alive = true;
      w.startedAt = Date.now();
      const done = () => { w.alive = false; };
      new Watch(w.kube.kc).watch(w.path, { ...(w.labelSelector ? { labelSelector: w.labelSelector } : {}) }, this.bump, done)
        .then((ctrl) => { w.ctrl = ctrl; if (this.closed) ctrl.abort(); })
        .catch(done);
    }
  }

  /** The event count now; pass it to wait() so an event in between is not missed. */
  mark(): number {
    this.ensure();
    return this.count;
  }

  /** Resolves on the first event after `mark`, after `ms`, or when `signal` aborts. */
  wait(mark: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.count !== mark || ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => { clearTimeout(t); this.listeners.delete(finish); signal?.removeEventListener('abort', finish); resolve(); };
      const t = setTimeout(finish, ms);
      this.listeners.add(finish);
      signal?.addEventListener('abort', finish, { once: true });
    });
  }

  close(): void {
    this.closed = true;
    for (const w of this.watches) w.ctrl?.abort();
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) { resolve(); return; }
    const t = setTimeout(() => { signal?.removeEventListener('abort', done); resolve(); }, ms);
    const done = () => { clearTimeout(t); resolve(); };
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function throwIfCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new CancelledFailure('the activity was cancelled');
}

export interface ConvergeOptions {
  what: string;
  observe: () => Promise<RolloutView>;
  decide: (view: RolloutView, now: number) => Decision;
  act: (actions: RolloutAction[], decision: Decision & { type: 'act' }) => Promise<void>;
  waker?: Waker;
  signal?: AbortSignal;
  /** Called with every decision (heartbeat details, logs, demo output). */
  onDecision?: (d: Decision) => void;
  /** Longest wait between two observations without an event (ms). Default 1000. */
  pollMs?: number;
  /** How long transient errors are ridden out before the activity fails (retryably). Default 60 s. */
  transientBudgetMs?: number;
}

export interface ConvergeResult { decision: Decision & { type: 'done' | 'stuck' }; changed: boolean; view: RolloutView; actions: number }

export async function converge(o: ConvergeOptions): Promise<ConvergeResult> {
  let changed = false;
  let actions = 0;
  let failingSince: number | undefined;
  let backoff = 250;
  for (;;) {
    throwIfCancelled(o.signal);
    const mark = o.waker?.mark() ?? 0;
    let view: RolloutView;
    let d: Decision;
    try {
      view = await o.observe();
      d = o.decide(view, Date.now());
      o.onDecision?.(d);
      if (d.type === 'act') {
        await o.act(d.actions, d);
        changed = true;
        actions += d.actions.length;
      }
      failingSince = undefined;
      backoff = 250;
    } catch (err) {
      throwIfCancelled(o.signal);
      if (!isTransient(err)) throw toFailure(err, o.what);
      failingSince ??= Date.now();
      if (Date.now() - failingSince > (o.transientBudgetMs ?? 60_000)) throw toFailure(err, `${o.what} (the cluster has not answered for ${Math.round((Date.now() - failingSince) / 1000)} s)`);
      o.onDecision?.({ type: 'wait', step: 'cluster-unavailable', reason: `the cluster did not answer: ${err instanceof Error ? err.message : String(err)}; retrying` });
      await sleep(backoff, o.signal);
      backoff = Math.min(backoff * 2, 2000);
      continue;
    }
    if (d.type === 'done' || d.type === 'stuck') return { decision: d, changed, view, actions };
    if (d.type === 'act') continue;
    const until = d.until !== undefined ? d.until - Date.now() : Number.POSITIVE_INFINITY;
    const ms = Math.max(0, Math.min(o.pollMs ?? 1000, until));
    if (o.waker) await o.waker.wait(mark, ms, o.signal);
    else await sleep(ms, o.signal);
  }
}
