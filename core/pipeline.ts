// Pipeline state: one commit's way through its stages: checkout, quality gates, image build,
// image verification, then the release of each environment in order (and the release tag). A
// pipeline started with a prebuilt image digest has only the release stages. Pure.
import type { GateResult } from './gates.js';

export type StageState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface StageStatus {
  name: string;
  environment?: string;
  workflowId?: string;
  state: StageState;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  /** Of durationMs, the time spent inside the tools the stage ran (git, gate commands, buildctl, registry calls). */
  toolMs?: number;
  reason?: string;
  /** What a person should do about a failure (workflows/failures.ts), when one of Gantry's failure types ended the stage. */
  hint?: string;
}

export interface CommitInfo { sha: string; author: string; email: string; message: string; committedAt: string }

export interface ImageInfo {
  /** image@sha256:… — what the releases deploy. */
  ref: string;
  digest: string;
  sizeBytes?: number;
  estargz?: boolean;
  layers?: number;
  /** Build steps BuildKit ran and answered from cache. */
  steps?: { total: number; executed: number; cached: number };
}

export interface PipelineStatus {
  id: string;
  repo: string;
  sha: string;
  ref?: string;
  author?: string;
  state: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  endedAt?: string;
  reason?: string;
  /** The failed stage's hint, when it has one. */
  hint?: string;
  stages: StageStatus[];
  commit?: CommitInfo;
  /** The gate report: each gate's verdict, duration, reason and log. */
  gates?: GateResult[];
  image?: ImageInfo;
  /** The annotated release tag pushed after a successful release. */
  tag?: string;
}

export const SourceStage = { Checkout: 'checkout', Gates: 'gates', Build: 'build', Verify: 'verify', Tag: 'tag' } as const;

/** The stages of a pipeline, in order. */
/** The stages of a pipeline built from source; a gates-only run stops after the quality gates. */
export function sourceStages(gatesOnly = false): { name: string }[] {
  const all = [SourceStage.Checkout, SourceStage.Gates, SourceStage.Build, SourceStage.Verify];
  return (gatesOnly ? all.slice(0, 2) : all).map((name) => ({ name }));
}

/**
 * The release stages, one per environment in order; with `tagAfter`, the tag stage right after
 * that environment's release (the tag marks what reached it).
 */
export function releaseStages(o: { app: string; environments: readonly string[]; tagAfter?: string }, releaseWorkflowId: (app: string, env: string) => string): { name: string; environment?: string; workflowId?: string }[] {
  const out: { name: string; environment?: string; workflowId?: string }[] = [];
  for (const e of o.environments) {
    out.push({ name: `release:${e}`, environment: e, workflowId: releaseWorkflowId(o.app, e) });
    if (o.tagAfter === e) out.push({ name: SourceStage.Tag });
  }
  return out;
}

/** Adds stages known only later (the releases, once the checked-out gantry.yaml is read). */
export function addStages(p: PipelineStatus, stages: readonly { name: string; environment?: string; workflowId?: string }[]): void {
  for (const s of stages) if (!p.stages.some((x) => x.name === s.name)) p.stages.push({ ...s, state: p.state === 'failed' ? 'skipped' : 'pending' });
}

export function setToolTime(p: PipelineStatus, name: string, toolMs: number): void {
  stage(p, name).toolMs = Math.round(toolMs);
}

const iso = (ms: number) => new Date(ms).toISOString();

export function newPipeline(init: { id: string; repo: string; sha: string; ref?: string; author?: string; stages: { name: string; environment?: string; workflowId?: string }[] }, now: number): PipelineStatus {
  return {
    id: init.id, repo: init.repo, sha: init.sha, ...(init.ref ? { ref: init.ref } : {}), ...(init.author ? { author: init.author } : {}),
    state: 'running', startedAt: iso(now),
    stages: init.stages.map((s) => ({ ...s, state: 'pending' as const })),
  };
}

function stage(p: PipelineStatus, name: string): StageStatus {
  const s = p.stages.find((x) => x.name === name);
  if (!s) throw new Error(`pipeline ${p.id} has no stage ${name}`);
  return s;
}

export function startStage(p: PipelineStatus, name: string, now: number): void {
  const s = stage(p, name);
  s.state = 'running';
  s.startedAt = iso(now);
}

/** Ends a stage; a failed stage fails the pipeline and skips every stage after it. */
export function endStage(p: PipelineStatus, name: string, ok: boolean, reason: string | undefined, now: number, hint?: string): void {
  const s = stage(p, name);
  s.state = ok ? 'succeeded' : 'failed';
  s.endedAt = iso(now);
  if (s.startedAt) s.durationMs = now - Date.parse(s.startedAt);
  if (reason) s.reason = reason;
  if (hint && !ok) s.hint = hint;
  if (!ok) {
    for (const later of p.stages.slice(p.stages.indexOf(s) + 1)) if (later.state === 'pending') later.state = 'skipped';
    // Gates that were waiting for a later stage (the image-size gate waits for the build) never run.
    for (const g of p.gates ?? []) if (g.state === 'pending') Object.assign(g, { state: 'skipped', reason: `not run: ${name} failed` });
    p.state = 'failed';
    p.reason = `${name} failed${reason ? `: ${reason}` : ''}`;
    if (hint) p.hint = hint;
    p.endedAt = iso(now);
  } else if (p.stages.every((x) => x.state === 'succeeded' || x.state === 'skipped')) {
    p.state = 'succeeded';
    p.endedAt = iso(now);
  }
}
