// Two deliberately changed versions of the release train, for replay.test.ts: the departure asks
// for the environment's revision BEFORE the newest build (one after the other, not together as in
// workflows/train.ts), so the activities are scheduled in the other order.
// - trainReordered makes that change plainly: a history recorded by the old code cannot replay on it
//   (the history says newestBuild was scheduled first): a DeterminismViolationError, which is what
//   a release in flight would hit on a worker upgraded without care.
// - trainPatched makes it behind patched(): old histories (no marker) take the old path, new runs
//   the new one. That is the discipline the README's "Upgrading Gantry" asks for.
// Each is exported as `releaseTrain` by its own bundle entry (reordered-train.ts, patched-train.ts).
import { executeChild, ParentClosePolicy, patched, proxyActivities, WorkflowIdReusePolicy } from '@temporalio/workflow';
import { decideTrain, type CatalogBuild } from '../../core/catalog.js';
import type { Revision } from '../../core/release.js';
import type { CatalogActivities } from '../../workflows/activity-types.js';
import { nonRetryableErrorTypes } from '../../workflows/failures.js';
import { releaseMemo, releaseWorkflowId } from '../../workflows/messages.js';
import type { TrainInput, TrainResult } from '../../workflows/train.js';

type EnvironmentState = { running?: Revision; current?: Revision };

const catalog = proxyActivities<CatalogActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5, nonRetryableErrorTypes } });

async function revisionFirst(input: TrainInput): Promise<[CatalogBuild | undefined, EnvironmentState]> {
  const env = await catalog.environmentRevision({ app: input.app, environment: input.environment.name });
  const newest = await catalog.newestBuild({ app: input.app });
  return [newest, env];
}

async function bothTogether(input: TrainInput): Promise<[CatalogBuild | undefined, EnvironmentState]> {
  return Promise.all([catalog.newestBuild({ app: input.app }), catalog.environmentRevision({ app: input.app, environment: input.environment.name })]);
}

async function depart(input: TrainInput, read: (i: TrainInput) => Promise<[CatalogBuild | undefined, EnvironmentState]>): Promise<TrainResult> {
  const [newest, env] = await read(input);
  const decision = decideTrain(newest, env);
  if (decision.kind === 'skip') return { decision };
  const b = decision.build;
  const releaseInput = {
    app: input.app, environment: input.environment,
    revision: { image: b.image, digest: b.digest, sha: b.sha, ...(b.author ? { author: b.author } : {}), ...(b.message ? { message: b.message } : {}) },
    startedBy: { id: `train:${input.schedule}`, channel: 'schedule' as const },
  };
  const r = await executeChild<(i: typeof releaseInput) => Promise<{ outcome?: string }>>('release', {
    workflowId: releaseWorkflowId(input.app, input.environment.name),
    args: [releaseInput],
    ...(patched('release-memo') ? { memo: releaseMemo(releaseInput) as unknown as Record<string, unknown> } : {}),
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
  });
  return { decision, outcome: r.outcome };
}

export const trainReordered = (input: TrainInput): Promise<TrainResult> => depart(input, revisionFirst);

export const trainPatched = (input: TrainInput): Promise<TrainResult> =>
  depart(input, (i) => (patched('train-revision-first') ? revisionFirst(i) : bothTogether(i)));
