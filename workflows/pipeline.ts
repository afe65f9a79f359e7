// The pipeline workflow: one per commit. Today it releases to each environment in order, each as
// a child release workflow; checkout, quality gates and the image build are added by the build
// issue (left out rather than faked).
import { ApplicationFailure, ChildWorkflowFailure, executeChild, ParentClosePolicy, setHandler, workflowInfo, WorkflowIdReusePolicy } from '@temporalio/workflow';
import type { Channel } from '../core/approval.js';
import type { GantryConfig } from '../core/config.js';
import { endStage, newPipeline, startStage } from '../core/pipeline.js';
import type { Revision } from '../core/release.js';
import { FailureType, pipelineStatusQuery, releaseWorkflowId } from './messages.js';
import { release } from './release.js';

export interface PipelineInput {
  repo: string;
  sha: string;
  ref?: string;
  config: GantryConfig;
  revision: Revision;
  startedBy: { id: string; channel: Channel };
}

export async function pipeline(input: PipelineInput) {
  const app = input.config.app.name;
  const p = newPipeline({
    id: workflowInfo().workflowId, repo: input.repo, sha: input.sha, ...(input.ref ? { ref: input.ref } : {}),
    ...(input.revision.author ? { author: input.revision.author } : {}),
    stages: input.config.environments.map((e) => ({ name: `release:${e.name}`, environment: e.name, workflowId: releaseWorkflowId(app, e.name) })),
  }, Date.now());
  setHandler(pipelineStatusQuery, () => p);

  for (const env of input.config.environments) {
    const name = `release:${env.name}`;
    startStage(p, name, Date.now());
    try {
      await executeChild(release, {
        workflowId: releaseWorkflowId(app, env.name),
        args: [{ app, environment: env, revision: input.revision, startedBy: input.startedBy }],
        // Cancelling the pipeline cancels the release, which then rolls back (terminating would not).
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      endStage(p, name, true, undefined, Date.now());
    } catch (err) {
      const reason = err instanceof ChildWorkflowFailure && err.cause ? err.cause.message : err instanceof Error ? err.message : String(err);
      endStage(p, name, false, reason, Date.now());
      throw ApplicationFailure.create({ message: p.reason ?? reason, type: FailureType.StageFailed, nonRetryable: true, details: [p] });
    }
  }
  return p;
}
