// Messages of the release and pipeline workflows, defined once and shared with every client
// (API, CLI, chat). Every human decision is an Update with a validator: a refused caller gets an
// immediate, clear answer, and nothing is written to history.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Action, Channel, Identity } from '../core/approval.js';
import type { EnvironmentConfig } from '../core/config.js';
import type { Decision, ReleaseStatus, Revision } from '../core/release.js';
import type { PipelineStatus } from '../core/pipeline.js';
import { controlCharacterIn } from '../core/text.js';

export const TASK_QUEUE = 'gantry';

/**
 * The task queue Gantry's workflows run on: GANTRY_TASK_QUEUE from the given environment, else
 * 'gantry'. The worker and the API both read it through this function, so a queue set for both is
 * the queue both use. (Takes the environment as an argument: this module is shared with workflows.)
 */
export function taskQueueFrom(env: Readonly<Record<string, string | undefined>>): string {
  const v = env.GANTRY_TASK_QUEUE?.trim();
  if (v === undefined || v === '') return TASK_QUEUE;
  if (v.length > 200 || /\s/.test(v) || controlCharacterIn(v) !== undefined) throw new Error('GANTRY_TASK_QUEUE: give a task queue name without spaces or control characters, at most 200 characters');
  return v;
}

export interface DecisionArgs {
  /** Who decides: set by the authenticated entry point (API, chat), never taken from a request body. */
  identity: Identity;
  channel: Channel;
  comment?: string;
}

export interface DecisionResult { decision: Decision; summary: string }

export const approveUpdate = defineUpdate<DecisionResult, [DecisionArgs]>('approve');
export const rejectUpdate = defineUpdate<DecisionResult, [DecisionArgs]>('reject');
export const pauseUpdate = defineUpdate<DecisionResult, [DecisionArgs]>('pause');
export const resumeUpdate = defineUpdate<DecisionResult, [DecisionArgs]>('resume');
export const promoteUpdate = defineUpdate<DecisionResult, [DecisionArgs]>('promote');
export const abortUpdate = defineUpdate<DecisionResult, [DecisionArgs]>('abort');
export const rollbackUpdate = defineUpdate<DecisionResult, [DecisionArgs]>('rollback');
export const overrideUpdate = defineUpdate<DecisionResult, [DecisionArgs]>('override');

export const decisionUpdates = {
  approve: approveUpdate, reject: rejectUpdate, pause: pauseUpdate, resume: resumeUpdate,
  promote: promoteUpdate, abort: abortUpdate, rollback: rollbackUpdate, override: overrideUpdate,
} as const satisfies Record<Action, unknown>;

export interface StatusOptions {
  events?: number;
  /** The caller (set by the authenticated API): the status then carries their allowedActions. */
  identity?: Identity;
}

export const statusQuery = defineQuery<ReleaseStatus, [StatusOptions?]>('status');
export const pipelineStatusQuery = defineQuery<PipelineStatus>('pipelineStatus');

/**
 * ApplicationFailure types; clients branch on these (e.g. Refused, BadRequest). Every type, its
 * retryability and its hint are in one table: workflows/failures.ts.
 */
export { FailureType } from './failures.js';

/**
 * The memo every release carries, however it was started (API, pipeline, train, rollback): what
 * the API needs to list it and to roll it back without asking the workflow. `outcome` is added by
 * the workflow when it ends (upsertMemo), so a list tells a rolled-back release from a failed one.
 */
export interface ReleaseMemo {
  app: string;
  environment: EnvironmentConfig;
  revision: Revision;
  previous?: Revision;
  /** What started it at most once (e.g. a tag push), for redelivered triggers. */
  trigger?: string;
  outcome?: 'succeeded' | 'rolled-back' | 'failed';
  /** Who started it, for the release list (set by the API's starts; absent on releases a pipeline or train started). */
  startedBy?: string;
}

export function releaseMemo(input: { app: string; environment: EnvironmentConfig; revision: Revision; previous?: Revision }, trigger?: string): ReleaseMemo {
  return { app: input.app, environment: input.environment, revision: input.revision, ...(input.previous ? { previous: input.previous } : {}), ...(trigger ? { trigger } : {}) };
}

/** One release per app and environment: a second concurrent one is impossible by construction. */
export function releaseWorkflowId(app: string, environment: string): string {
  return `release/${app}/${environment}`;
}

/** A gates-only run of a commit (checkout and gates; e.g. a feature branch): separate from its pipeline. */
export function gatesWorkflowId(repo: string, sha: string): string {
  return `gates/${repo}/${sha}`;
}

/** One pipeline per repository and commit: a duplicate trigger finds the one already running. */
export function pipelineWorkflowId(repo: string, sha: string): string {
  return `pipeline/${repo}/${sha}`;
}
