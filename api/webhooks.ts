// Push triggers: a push (from a GitHub webhook, or from `gantry hook post-receive` on a plain git
// server) becomes, by the branch and tag rules of the repository's gantry.yaml, a pipeline start, a
// tag release, or an answer saying why nothing starts. Idempotent twice over: a delivery id seen
// before answers what it answered the first time (in this process), and the commit names the
// pipeline (`pipeline/<repo>/<sha>`, never started twice) or the tag release (its trigger is kept
// in the release's memo), so a redelivery never starts a second one, in any API process.
// The routes that call it: api/routes/triggers.ts (the git hook's POST /v1/triggers/push) and
// api/github-webhooks.ts (GitHub push deliveries).
import type { Channel, Identity } from '../core/approval.js';
import type { GantryConfig } from '../core/config.js';
import { decidePush } from '../core/triggers.js';
import { loadConfigOffThread } from './config-parse.js';
import type { GantryService, Started } from './service.js';

export interface PushEvent {
  /** owner/name (GitHub) or the repository name the git hook gives. */
  repo: string;
  /** The full ref: refs/heads/<branch> or refs/tags/<tag>. */
  ref: string;
  /** The commit the ref now points at (tags peeled to their commit); all zeros when deleted. */
  sha: string;
  deleted?: boolean;
  /** The commit author's Gantry id, when known (four-eyes: the author may not approve). */
  author?: string;
  message?: string;
  /**
   * Where the pushed commit can be cloned from. With it the pipeline builds from source (checkout,
   * gates, build, verify) and "gates" branches get a gates-only run; without it a pipeline releases
   * the configured image and "gates" branches start nothing.
   */
  cloneUrl?: string;
}

export type PushOutcome =
  | { action: 'pipeline'; started: Started; ref: string; sha: string }
  | { action: 'release'; environment: string; started: Started; ref: string; sha: string }
  | { action: 'gates'; started: Started | null; reason: string; ref: string; sha: string }
  | { action: 'none' | 'ignored'; started: null; reason: string; ref: string; sha: string };

const ZERO = /^0+$/;

export interface RunPushOptions {
  /** Report the pipeline to GitHub (commit and deployment statuses). */
  github?: { baseUrl?: string; tokenEnv?: string };
}

// Parsed configs by text: a busy repository's gantry.yaml is validated once, not on every push.
// Parsing happens off the event loop (api/config-parse.ts): a hostile config delays only its push.
const parsedConfigs = new Map<string, GantryConfig>();
async function configOf(configText: string | unknown): Promise<GantryConfig> {
  if (typeof configText !== 'string') return loadConfigOffThread(configText);
  const hit = parsedConfigs.get(configText);
  if (hit) return hit;
  const config = await loadConfigOffThread(configText);
  if (parsedConfigs.size >= 256) parsedConfigs.delete(parsedConfigs.keys().next().value!);
  parsedConfigs.set(configText, config);
  return config;
}

/** Applies the rules and starts what they say; idempotent per commit (and per tag and commit). */
export async function runPush(service: GantryService, configText: string | unknown, ev: PushEvent, caller: { identity: Identity; channel: Channel }, opts: RunPushOptions = {}): Promise<PushOutcome> {
  const config = await configOf(configText);
  const deleted = ev.deleted === true || ZERO.test(ev.sha);
  const d = decidePush(config, ev.ref, deleted);
  const base = { ref: ev.ref, sha: ev.sha };
  const revision = { ...(ev.author ? { author: ev.author } : {}), ...(ev.message ? { message: ev.message.split('\n')[0]!.slice(0, 500) } : {}) };
  switch (d.action) {
    case 'pipeline': {
      const source = ev.cloneUrl ? { source: { url: ev.cloneUrl } } : {};
      const started = await service.startPipeline({ config, repo: ev.repo, sha: ev.sha, ref: ev.ref, revision, ...source, ...(opts.github ? { github: opts.github } : {}) }, caller);
      return { action: 'pipeline', started, ...base };
    }
    case 'gates': {
      if (!ev.cloneUrl) return { action: 'gates', started: null, reason: `${d.reason}; no clone URL came with the push, so nothing was started`, ...base };
      const started = await service.startPipeline({ config, repo: ev.repo, sha: ev.sha, ref: ev.ref, revision, source: { url: ev.cloneUrl }, gatesOnly: true, ...(opts.github ? { github: opts.github } : {}) }, caller);
      return { action: 'gates', started, reason: d.reason, ...base };
    }
    case 'release': {
      const started = await service.startReleaseOnce({ config, environment: d.environment, revision: { ...revision, sha: ev.sha } }, caller, `tag:${ev.repo}:${d.tag}:${ev.sha}`);
      return { action: 'release', environment: d.environment, started, ...base };
    }
    default:
      return { action: d.action, started: null, reason: d.reason, ...base };
  }
}

export function outcomeStatus(o: PushOutcome): number {
  return o.started && !o.started.existing ? 201 : 200;
}

/** A push delivery for the metrics: a repeated delivery or an existing run is a duplicate; nothing started is ignored. */
export function pushDeliveryOutcome(o: PushOutcome, repeated: boolean): 'started' | 'duplicate' | 'ignored' {
  if (repeated || o.started?.existing) return 'duplicate';
  return o.started ? 'started' : 'ignored';
}

// ---------------------------------------------------------------------------------------------
// Delivery dedupe: the first request with a delivery id runs; copies (concurrent or later) share its
// answer. Bounded (oldest evicted) and timed; a failed run is forgotten so a retry can succeed.

export class DeliveryCache<T> {
  private readonly entries = new Map<string, { at: number; value: Promise<T> }>();
  constructor(private readonly max = 10_000, private readonly ttlMs = 60 * 60_000) {}

  get size(): number { return this.entries.size; }

  /** Runs `fn` for a new key; for a key seen before returns its result with `repeated: true`. */
  async once(key: string, fn: () => Promise<T>): Promise<{ value: T; repeated: boolean }> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < this.ttlMs) return { value: await hit.value, repeated: true };
    const value = fn();
    this.entries.set(key, { at: now, value });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    try {
      return { value: await value, repeated: false };
    } catch (err) {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
      throw err;
    }
  }
}
