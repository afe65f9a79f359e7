// Records every Pod and EndpointSlice event of a namespace while a release runs (two watches), then
// replays them in resourceVersion order (one etcd, so resourceVersions order all writes) to check the
// draining invariants:
//   * no pod was deleted (deletionTimestamp set, or gone) while any EndpointSlice listed it as ready;
//   * ready serving capacity (pods Ready and listed ready by the app's main Service) never dropped
//     below a floor.
// A watch that ends (e.g. an apiserver restart) is resumed from the last resourceVersion it saw.
import { CoreV1Api, DiscoveryV1Api, KubeConfig, Watch, type V1EndpointSlice, type V1Pod } from '@kubernetes/client-node';

/** `gap`: synthesized by a relist after a watch could not resume (e.g. after an apiserver restart). */
export interface Recorded { stream: 'pod' | 'slice'; type: string; rv: number; at: number; obj: V1Pod | V1EndpointSlice; gap?: boolean }

export interface Violation { rv: number; message: string }

export interface Replay {
  /** Pods deleted while an EndpointSlice listed them as ready. */
  violations: Violation[];
  /** The least ready serving capacity seen, and when. */
  minServing: { count: number; rv: number };
  /** Every pod that got deleted (name), in order. */
  deleted: string[];
  /** Pods deleted before their drain grace (from the drained-at stamp) had passed. */
  graceViolations: string[];
  /** Pods found gone by a relist (deleted while no watch was open): their ordering cannot be verified. */
  gapDeletions: string[];
  events: number;
}

export class Recorder {
  readonly events: Recorded[] = [];
  private readonly ctrls: AbortController[] = [];
  private stopped = false;
  private readonly last: Record<'pod' | 'slice', string | undefined> = { pod: undefined, slice: undefined };
  private readonly known: Record<'pod' | 'slice', Map<string, V1Pod | V1EndpointSlice>> = { pod: new Map(), slice: new Map() };
  private readonly needRelist: Record<'pod' | 'slice', boolean> = { pod: false, slice: false };
  restarts = 0;
  /** The resourceVersion up to which the initial state (the watches' first ADDED events) was seen. */
  startRv = 0;

  private constructor(private readonly kc: KubeConfig, readonly namespace: string) {}

  static async start(kubeconfig: string, namespace: string): Promise<Recorder> {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const r = new Recorder(kc, namespace);
    await Promise.all([r.watch('pod'), r.watch('slice')]);
    // The initial ADDED events (the current state) arrive first; wait until both streams spoke.
    const t0 = Date.now();
    while (Date.now() - t0 < 10_000 && !(r.events.some((e) => e.stream === 'slice') && r.events.some((e) => e.stream === 'pod'))) {
      await new Promise((res) => setTimeout(res, 50));
    }
    await new Promise((res) => setTimeout(res, 300));
    r.startRv = Math.max(0, ...r.events.map((e) => e.rv));
    return r;
  }

  private key(stream: 'pod' | 'slice', obj: V1Pod | V1EndpointSlice): string {
    return stream === 'pod' ? obj.metadata!.uid! : obj.metadata!.name!;
  }

  private push(stream: 'pod' | 'slice', type: string, obj: V1Pod | V1EndpointSlice, gap = false): void {
    const rv = obj.metadata?.resourceVersion;
    this.events.push({ stream, type, rv: Number(rv), at: Date.now(), obj, ...(gap ? { gap } : {}) });
    if (type === 'DELETED') this.known[stream].delete(this.key(stream, obj)); else this.known[stream].set(this.key(stream, obj), obj);
  }

  /** After a watch could not resume: LIST, and turn the difference to what we knew into events. */
  private async relist(stream: 'pod' | 'slice'): Promise<void> {
    const list = stream === 'pod'
      ? await this.kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: this.namespace })
      : await this.kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace: this.namespace });
    const listRv = list.metadata!.resourceVersion!;
    const seen = new Set<string>();
    for (const item of list.items as (V1Pod | V1EndpointSlice)[]) {
      const k = this.key(stream, item);
      seen.add(k);
      const before = this.known[stream].get(k);
      if (before?.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.push(stream, before ? 'MODIFIED' : 'ADDED', item, true);
    }
    for (const [k, obj] of [...this.known[stream]]) {
      if (!seen.has(k)) this.push(stream, 'DELETED', { ...obj, metadata: { ...obj.metadata, resourceVersion: listRv } }, true);
    }
    this.last[stream] = listRv;
    this.needRelist[stream] = false;
  }

  private async watch(stream: 'pod' | 'slice'): Promise<void> {
    if (this.stopped) return;
    if (this.needRelist[stream]) await this.relist(stream);
    const path = stream === 'pod' ? `/api/v1/namespaces/${this.namespace}/pods` : `/apis/discovery.k8s.io/v1/namespaces/${this.namespace}/endpointslices`;
    const params: Record<string, string | boolean> = { allowWatchBookmarks: true };
    if (this.last[stream]) params.resourceVersion = this.last[stream]!;
    const restart = () => {
      if (this.stopped) return;
      this.restarts++;
      // A watch that ended is resumed from a fresh LIST (a resourceVersion from before an apiserver
      // restart is "too old" for the new watch cache), so no deletion goes unnoticed.
      this.needRelist[stream] = true;
      setTimeout(() => { void this.watch(stream).catch(() => { setTimeout(restart, 0); }); }, 500);
    };
    const ctrl = await new Watch(this.kc).watch(path, params, (type, obj: V1Pod | V1EndpointSlice) => {
      if (type === 'ERROR') return;
      const rv = obj?.metadata?.resourceVersion;
      if (rv) this.last[stream] = rv;
      if (type === 'BOOKMARK') return;
      this.push(stream, type, obj);
    }, restart);
    this.ctrls.push(ctrl);
  }

  stop(): void {
    this.stopped = true;
    for (const c of this.ctrls) c.abort();
  }

  /** Replays the events in resourceVersion order. `mainService`: the Service whose ready endpoints are the serving capacity. */
  replay(mainService: string, opts: { fromRv?: number; graceMs?: number } = {}): Replay {
    const fromRv = opts.fromRv ?? this.startRv;
    const sorted = this.events.slice().sort((a, b) => a.rv - b.rv || (a.stream === 'slice' ? -1 : 1));
    const pods = new Map<string, { name: string; ready: boolean; deleting: boolean; drainedAt?: number }>();
    const slices = new Map<string, V1EndpointSlice>();
    const listedReady = (uid: string, service?: string) => [...slices.values()].some((s) =>
      (!service || s.metadata?.labels?.['kubernetes.io/service-name'] === service)
      && (s.endpoints ?? []).some((e) => e.targetRef?.uid === uid && e.conditions?.ready !== false));
    const out: Replay = { violations: [], minServing: { count: Number.POSITIVE_INFINITY, rv: 0 }, deleted: [], graceViolations: [], gapDeletions: [], events: sorted.length };
    for (const e of sorted) {
      if (e.stream === 'slice') {
        const s = e.obj as V1EndpointSlice;
        if (e.type === 'DELETED') slices.delete(s.metadata!.name!); else slices.set(s.metadata!.name!, s);
      } else {
        const p = e.obj as V1Pod;
        const uid = p.metadata!.uid!;
        const before = pods.get(uid);
        const deleting = e.type === 'DELETED' || !!p.metadata?.deletionTimestamp;
        if (deleting && !before?.deleting) {
          out.deleted.push(p.metadata!.name!);
          if (e.gap) out.gapDeletions.push(p.metadata!.name!);
          const drainedAt = Number(p.metadata?.annotations?.['gantry.dev/drained-at'] ?? before?.drainedAt ?? Number.NaN);
          if (opts.graceMs !== undefined && Number.isFinite(drainedAt) && e.at < drainedAt + opts.graceMs - 100) {
            out.graceViolations.push(`${p.metadata!.name} deleted ${drainedAt + opts.graceMs - e.at} ms before its drain grace ended`);
          }
          if (listedReady(uid)) {
            const by = [...slices.values()].filter((s) => (s.endpoints ?? []).some((x) => x.targetRef?.uid === uid && x.conditions?.ready !== false)).map((s) => s.metadata?.labels?.['kubernetes.io/service-name']);
            out.violations.push({ rv: e.rv, message: `pod ${p.metadata!.name} deleted at rv ${e.rv} while listed ready by ${by.join(', ')}` });
          }
        }
        if (e.type === 'DELETED') pods.delete(uid);
        else {
          const d = Number(p.metadata?.annotations?.['gantry.dev/drained-at'] ?? Number.NaN);
          pods.set(uid, { name: p.metadata!.name!, ready: !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), deleting, ...(Number.isFinite(d) ? { drainedAt: d } : {}) });
        }
      }
      if (e.rv < fromRv) continue;
      const serving = [...pods].filter(([uid, p]) => p.ready && !p.deleting && listedReady(uid, mainService)).length;
      if (serving < out.minServing.count) out.minServing = { count: serving, rv: e.rv };
    }
    return out;
  }
}
