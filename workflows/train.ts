// A release train: started by a Temporal Schedule at its departure times (overlap: skip). It releases
// the newest build that passed its gates to one environment, or records why it did not.
import { ApplicationFailure, ChildWorkflowFailure, executeChild, ParentClosePolicy, patched, proxyActivities, WorkflowIdReusePolicy } from '@temporalio/workflow';
import { decideTrain, type TrainDecision } from '../core/catalog.js';
import type { EnvironmentConfig } from '../core/config.js';
import type { TrainAuditEntry } from '../core/trains.js';
import type { CatalogActivities } from './activity-types.js';
import { nonRetryableErrorTypes } from './failures.js';
import { FailureType, releaseMemo, releaseWorkflowId } from './messages.js';
import { release } from './release.js';

export interface TrainInput {
  /** Gantry's search attributes are registered (checked when the train was saved): its releases keep them up to date. */
  searchAttributes?: boolean;
  app: string;
  image: string;
  environment: EnvironmentConfig;
  schedule: string;
  /**
   * Who created, changed and triggered the train (core/trains.ts), newest last. Kept in the
   * schedule's action (a schedule's memo cannot be updated), so each departure's input carries it.
   */
  audit?: TrainAuditEntry[];
  /** The departures as given (the schedule keeps them only in its own calendar form). */
  cron?: string[];
}

export interface TrainResult { decision: TrainDecision; outcome?: string }

const catalog = proxyActivities<CatalogActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5, nonRetryableErrorTypes } });

export async function releaseTrain(input: TrainInput): Promise<TrainResult> {
  const [newest, env] = await Promise.all([
    catalog.newestBuild({ app: input.app }),
    catalog.environmentRevision({ app: input.app, environment: input.environment.name }),
  ]);
  const decision = decideTrain(newest, env);
  if (decision.kind === 'skip') return { decision };
  const b = decision.build;
  try {
    const releaseInput = {
      app: input.app, environment: input.environment,
      revision: { image: b.image, digest: b.digest, sha: b.sha, ...(b.author ? { author: b.author } : {}), ...(b.message ? { message: b.message } : {}) },
      startedBy: { id: `train:${input.schedule}`, channel: 'schedule' as const },
      ...(input.searchAttributes ? { searchAttributes: true } : {}),
    };
    const r = await executeChild(release, {
      workflowId: releaseWorkflowId(input.app, input.environment.name),
      args: [releaseInput],
      ...(patched('release-memo') ? { memo: releaseMemo(releaseInput) as unknown as Record<string, unknown> } : {}),
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    return { decision, outcome: r.outcome };
  } catch (err) {
    const reason = err instanceof ChildWorkflowFailure && err.cause ? err.cause.message : err instanceof Error ? err.message : String(err);
    throw ApplicationFailure.create({ message: `train ${input.schedule}: release failed: ${reason}`, type: FailureType.StageFailed, nonRetryable: true });
  }
}
