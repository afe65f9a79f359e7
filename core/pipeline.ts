// Pipeline state: one commit's way through its stages (today: the release of each environment in
// order; checkout, gates and build join in the build issue). Pure.

export type StageState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface StageStatus {
  name: string;
  environment?: string;
  workflowId?: string;
  state: StageState;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  reason?: string;
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
  stages: StageStatus[];
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
export function endStage(p: PipelineStatus, name: string, ok: boolean, reason: string | undefined, now: number): void {
  const s = stage(p, name);
  s.state = ok ? 'succeeded' : 'failed';
  s.endedAt = iso(now);
  if (s.startedAt) s.durationMs = now - Date.parse(s.startedAt);
  if (reason) s.reason = reason;
  if (!ok) {
    for (const later of p.stages.slice(p.stages.indexOf(s) + 1)) if (later.state === 'pending') later.state = 'skipped';
    p.state = 'failed';
    p.reason = `${name} failed${reason ? `: ${reason}` : ''}`;
    p.endedAt = iso(now);
  } else if (p.stages.every((x) => x.state === 'succeeded' || x.state === 'skipped')) {
    p.state = 'succeeded';
    p.endedAt = iso(now);
  }
}
