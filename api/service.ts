// The command service: the one place that turns a request (from the HTTP API, chat, or a schedule)
// into Temporal starts, Updates and Queries, with the same validation and error mapping for all.
// Routes and console views never hold a Temporal client: they call this service, or its two parts
// made once here, `trains` (Schedules, api/trains.ts) and `history` (bounded reads of past runs,
// audit, calendars and gate logs, api/history.ts).
import {
  WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError,
  type Client, type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, type Payload } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/index.js';
import { Action, mayDecide, type Channel, type Identity } from '../core/approval.js';
import type { EnvironmentConfig, GantryConfig } from '../core/config.js';
import type { PipelineStatus } from '../core/pipeline.js';
import { rollbackEnvironment, type ReleaseStatus, type Revision } from '../core/release.js';
import { mergeObserved } from '../core/observed.js';
import {
  decisionUpdates, FailureType, gatesWorkflowId, pipelineStatusQuery, pipelineWorkflowId, releaseMemo, releaseWorkflowId, statusQuery, TASK_QUEUE,
  type DecisionResult, type ReleaseMemo,
} from '../workflows/messages.js';
import type { ReleaseInput } from '../workflows/release.js';
import { TrainService } from './trains.js';
import { HistoryReader } from './history.js';
import type { PipelineInput } from '../workflows/pipeline.js';
import { canUnblock, parseCellAttribute, registerHint, SearchAttribute, searchAttributeTypes, unblockingAction, waitingForClause } from '../core/search-attributes.js';
import {
  GantryApp, GantryApprovers, GantryCells, GantryEnvironment, GantryExcluded, GantryGroup, GantryKind, GantryPhase, GantryWaitingOn, GantryWaitingSince, GantryWeight, startAttributes,
} from '../workflows/search-attributes.js';
import { GantryError } from './errors.js';
import { loadConfigOffThread } from './config-parse.js';
import type { TemporalPing } from '../runtime/readiness.js';

export interface Caller { identity: Identity; channel: Channel }

export interface StartReleaseRequest {
  /** gantry.yaml as text, or as an already-parsed object. */
  config: string | unknown;
  environment: string;
  revision: { image?: string; digest?: string; sha?: string; author?: string; message?: string };
  previous?: Revision;
}

export interface StartPipelineRequest {
  /** gantry.yaml (text or parsed); optional only with a source (then the commit's own is read). */
  config?: string | unknown;
  repo: string;
  sha: string;
  ref?: string;
  revision: { image?: string; digest?: string; author?: string; message?: string };
  /**
   * Report the pipeline's progress to GitHub (commit statuses, deployment statuses) through the
   * activities in activities/github.ts. Not secret: the token is named by an env var on the worker.
   */
  github?: { baseUrl?: string; tokenEnv?: string };
  /**
   * Build from source: checkout, gates, build and verify run before any release, and the image
   * digest comes from the build (revision.digest is then not needed). Without `config`, the
   * commit's own gantry.yaml is read at checkout.
   */
  source?: { url: string; depth?: number; configPath?: string };
  /** Checkout and quality gates only, no build or release (needs a source); its own workflow id. */
  gatesOnly?: boolean;
}

export interface Started { workflowId: string; runId: string; existing: boolean }

export interface ReleaseSummary {
  workflowId: string; app: string; environment: string; status: string; startTime: string; closeTime?: string;
  /** From the search attributes (core/search-attributes.ts), on releases that carry them. */
  kind?: 'release' | 'rollback';
  phase?: string;
  waitingOn?: string;
  /** Who can unblock it (user ids, group:<name>, * for anyone), when it waits on people. */
  approvers?: string[];
  /** Who the approvers name but may not unblock it now (GantryExcluded: author, starter, who already approved). */
  excluded?: string[];
  /** The group in progress, 1-based (GantryGroup), and per cell the new revision's planned pods (GantryCells). */
  group?: number;
  cells?: { cell: string; part: number; whole: number }[];
  /** The new revision's planned share of the pods in percent (GantryWeight), and since when it waits (GantryWaitingSince). */
  canaryWeight?: number;
  waitingSince?: string;
  /** From the memo, where the release carries one: the revision it releases and how many groups it has. */
  revision?: Revision;
  groups?: number;
  startedBy?: string;
  /** What started it at most once (e.g. `tag:<owner/name>:<tag>:<sha>`), when something did. */
  trigger?: string;
}

const digestRe = /^sha256:[a-f0-9]{64}$/;
const shaRe = /^[0-9a-f]{7,64}$/;

function pickEnvironment(config: GantryConfig, name: string): EnvironmentConfig {
  const env = config.environments.find((e) => e.name === name);
  if (!env) throw new GantryError('bad_request', `unknown environment '${name}'`, [{ path: 'environment', message: `not in gantry.yaml`, hint: `one of: ${config.environments.map((e) => e.name).join(', ')}` }]);
  return env;
}

function checkRevision(config: GantryConfig, r: StartReleaseRequest['revision'], base: string): Revision {
  const details = [];
  if (r.digest !== undefined && !digestRe.test(r.digest)) details.push({ path: `${base}.digest`, message: 'not an image digest', hint: 'sha256: followed by 64 hex digits, as the registry reports it' });
  if (r.sha !== undefined && !shaRe.test(r.sha)) details.push({ path: `${base}.sha`, message: 'not a commit sha', hint: '7 to 64 lowercase hex digits' });
  const image = r.image ?? config.app.image;
  if (image !== config.app.image) details.push({ path: `${base}.image`, message: `image ${image} is not the app's image ${config.app.image}`, hint: 'release the image gantry.yaml names; give the version as a digest' });
  if (details.length) throw new GantryError('bad_request', 'invalid revision', details);
  return { image, ...(r.digest ? { digest: r.digest } : {}), ...(r.sha ? { sha: r.sha } : {}), ...(r.author ? { author: r.author } : {}), ...(r.message ? { message: r.message.slice(0, 500) } : {}) };
}

function sameRevision(a: Revision | undefined, b: Revision): boolean {
  return !!a && a.image === b.image && a.digest === b.digest && a.sha === b.sha;
}

/** The memo of a listed or described release (absent on releases started by older versions). */
const memoOf = (memo: Record<string, unknown> | undefined): Partial<ReleaseMemo> | undefined => memo as Partial<ReleaseMemo> | undefined;

/** `release/<app>/<env>`: the app and environment when a release carries no memo. */
function idParts(workflowId: string): { app?: string; environment?: string } {
  const m = /^release\/([^/]+)\/([^/]+)$/.exec(workflowId);
  return m ? { app: m[1]!, environment: m[2]! } : {};
}

/** The phases a release sets when it ends (core/release.ts Outcome). */
const ENDED = new Set<string>(['succeeded', 'rolled-back', 'failed']);

/** temporal.api.enums.v1.IndexedValueType, for the operator service. */
const INDEXED_VALUE_TYPE = { Keyword: 2, Int: 3, Datetime: 6, KeywordList: 7 } as const;

/** How long a status query may wait for a worker's answer. */
const QUERY_DEADLINE_MS = 10_000;
/** A poller not seen for this long is gone (a worker's long poll lasts about a minute). */
const POLLER_STALE_MS = 90_000;

const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;

/** A start refused for its search attributes (INVALID_ARGUMENT naming one). */
function isSearchAttributeRefusal(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const invalid = e?.code === 3 || e?.cause?.code === 3 || (err instanceof Error && /INVALID_ARGUMENT/.test(err.message));
  return invalid && /search attribute/i.test(errorText(err));
}

/** An error's message with its causes' ('Failed to start Workflow: … is not defined'). */
function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e && parts.length < 4; e = (e as { cause?: unknown }).cause) parts.push(e instanceof Error ? e.message : String(e));
  return parts.join(': ');
}

/**
 * A query the server refused because no worker polls the workflow's task queue (FAILED_PRECONDITION
 * "no poller seen for task queue recently": a worker that stopped since ensureWorker looked), as
 * 'unavailable' naming the queue; undefined for any other error.
 */
export function noPollerError(err: unknown, taskQueue: string): GantryError | undefined {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (e.code === 9 /* FAILED_PRECONDITION */ && /no poller seen/i.test(String(e.message))) {
      return new GantryError('unavailable', `no Gantry worker is polling task queue '${taskQueue}'`, [],
        `start one: a Gantry worker with GANTRY_TASK_QUEUE=${taskQueue} (npm run worker); the workflow waits durably until one polls`);
    }
  }
  return undefined;
}

function isDeadlineExceeded(err: unknown): boolean {
  const code = (err as { code?: unknown; cause?: { code?: unknown } } | undefined);
  return code?.code === 4 || code?.cause?.code === 4 || (err instanceof Error && /DEADLINE_EXCEEDED|deadline/i.test(err.message));
}

export class GantryService {
  private readonly pollers = new Map<string, { at: number; last: number }>();
  /** Counts decisions by action, channel and result (api/metrics.ts; set by the HTTP server). */
  metrics?: { decision(action: string, channel: string, result: 'accepted' | 'refused'): void };
  /** false: releases started here run no observer while they wait (workflows/release.ts observeWhileWaiting; time-skipping tests). */
  observeWhileWaiting = true;

  /**
   * `buildTaskQueue` (GANTRY_BUILD_TASK_QUEUE): where pipelines run repository code (checkout, gates,
   * build, verify, tag); default the task queue, where one worker serves everything.
   */
  constructor(readonly client: Client, readonly taskQueue: string = TASK_QUEUE, readonly buildTaskQueue: string = taskQueue) {}

  private trainService?: TrainService;
  private historyReader?: HistoryReader;
  /** Release trains (Temporal Schedules), one per service. */
  get trains(): TrainService { return (this.trainService ??= new TrainService(this.client, this.taskQueue, () => this.searchAttributesReady())); }
  /** Bounded reads of past runs, the audit log, calendars and gate logs, one per service. */
  get history(): HistoryReader { return (this.historyReader ??= new HistoryReader(this)); }

  async startRelease(req: StartReleaseRequest, caller: Caller): Promise<Started> {
    const config = await loadConfigOffThread(req.config);
    const env = pickEnvironment(config, req.environment);
    const revision = checkRevision(config, req.revision ?? {}, 'revision');
    return this.startReleaseWorkflow({ app: config.app.name, environment: env, revision, ...(req.previous ? { previous: req.previous } : {}), startedBy: { id: caller.identity.id, channel: caller.channel } });
  }

  /**
   * Starts a release for a trigger (e.g. a tag push) at most once: `trigger` names it (repo, tag and
   * commit) and is kept in the release's memo, so a redelivered trigger finds the release it started,
   * running or finished, instead of starting another. A different trigger behaves like startRelease.
   */
  async startReleaseOnce(req: StartReleaseRequest, caller: Caller, trigger: string): Promise<Started> {
    const config = await loadConfigOffThread(req.config);
    const env = pickEnvironment(config, req.environment);
    const revision = checkRevision(config, req.revision ?? {}, 'revision');
    const workflowId = releaseWorkflowId(config.app.name, env.name);
    const last = await this.client.workflow.getHandle(workflowId).describe().catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
    if (last && memoOf(last.memo)?.trigger === trigger) return { workflowId, runId: last.runId, existing: true };
    return this.startReleaseWorkflow({ app: config.app.name, environment: env, revision, ...(req.previous ? { previous: req.previous } : {}), startedBy: { id: caller.identity.id, channel: caller.channel } }, trigger);
  }

  private async startReleaseWorkflow(input: ReleaseInput, trigger?: string): Promise<Started> {
    const workflowId = releaseWorkflowId(input.app, input.environment.name);
    const memo: ReleaseMemo = { ...releaseMemo(input, trigger), startedBy: input.startedBy.id };
    // With the search attributes when the namespace has them: the release then keeps them up to date.
    const attributes = await this.searchAttributesReady() ? { typedSearchAttributes: startAttributes(input.app, input.environment.name, input.kind ?? 'release') } : {};
    const start = (extra: typeof attributes) => this.client.workflow.start('release', {
      workflowId, taskQueue: this.taskQueue, args: [this.observeWhileWaiting ? input : { ...input, observeWhileWaiting: false }], memo: memo as unknown as Record<string, unknown>, ...extra,
      workflowIdConflictPolicy: 'FAIL', workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    try {
      const h = await start(attributes).catch((err: unknown) => {
        // The namespace does not know them after all (removed, or a server slow to see them added):
        // start without them rather than not at all.
        if (!('typedSearchAttributes' in attributes) || !isSearchAttributeRefusal(err)) throw err;
        this.attributes = { ready: false, until: Date.now() + 10_000 };
        this.attributesProblem = errorText(err);
        return start({});
      });
      return { workflowId, runId: h.firstExecutionRunId, existing: false };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const running = await this.client.workflow.getHandle(workflowId).describe();
      const m = memoOf(running.memo);
      if (sameRevision(m?.revision, input.revision)) return { workflowId, runId: running.runId, existing: true };
      throw new GantryError('conflict', `a release of ${input.app} to ${input.environment.name} is already running (${m?.revision?.digest ?? m?.revision?.image ?? 'another revision'})`, [], 'wait for it to finish, or abort it: gantry abort ' + `${input.app} ${input.environment.name}`);
    }
  }

  async startPipeline(req: StartPipelineRequest, caller: Caller): Promise<Started> {
    const source = req.source;
    if (source !== undefined && (typeof source?.url !== 'string' || !/^(https?|ssh|git|file):\/\/\S+$|^[\w.-]+@[\w.-]+:\S+$/.test(source.url))) {
      throw new GantryError('bad_request', 'invalid source', [{ path: 'source.url', message: 'not a git URL', hint: 'https://…, ssh://…, git@host:owner/repo.git or file://…' }]);
    }
    if (source?.depth !== undefined && !(Number.isInteger(source.depth) && source.depth > 0)) {
      throw new GantryError('bad_request', 'invalid source', [{ path: 'source.depth', message: 'not a positive whole number', hint: '1 fetches just the commit' }]);
    }
    // From source the config may come from the commit itself (read and validated at checkout).
    const config = source && (req.config === undefined || req.config === null) ? undefined : await loadConfigOffThread(req.config);
    if (!shaRe.test(req.sha ?? '')) throw new GantryError('bad_request', 'invalid commit', [{ path: 'sha', message: 'not a commit sha', hint: '7 to 64 lowercase hex digits' }]);
    if (!req.repo || typeof req.repo !== 'string') throw new GantryError('bad_request', 'missing repository', [{ path: 'repo', message: 'is required', hint: 'owner/name or the repository URL' }]);
    // From source the digest comes from the build; a prebuilt pipeline needs it (as before).
    const revision = config ? checkRevision(config, { ...(req.revision ?? {}), sha: req.sha }, 'revision') : undefined;
    if (req.gatesOnly && !source) throw new GantryError('bad_request', 'a gates-only run needs a source', [{ path: 'source', message: 'is required with gatesOnly', hint: 'the git URL to check the commit out from' }]);
    const workflowId = req.gatesOnly ? gatesWorkflowId(req.repo, req.sha) : pipelineWorkflowId(req.repo, req.sha);
    const input: PipelineInput = {
      ...(req.gatesOnly ? { gatesOnly: true } : {}),
      repo: req.repo, sha: req.sha, ...(req.ref ? { ref: req.ref } : {}), ...(config ? { config } : {}), ...(revision ? { revision } : {}),
      ...(source ? { source: { url: source.url, ...(source.depth ? { depth: source.depth } : {}), ...(source.configPath ? { configPath: source.configPath } : {}) } } : {}),
      startedBy: { id: caller.identity.id, channel: caller.channel }, ...(req.github ? { github: req.github } : {}),
      ...(source && this.buildTaskQueue !== this.taskQueue ? { buildTaskQueue: this.buildTaskQueue } : {}),
      ...(await this.searchAttributesReady() ? { searchAttributes: true } : {}),
    };
    const h = await this.client.workflow.start('pipeline', {
      workflowId, taskQueue: this.taskQueue, args: [input],
      // A duplicate trigger finds the pipeline already started, running or finished: it is not started
      // again. (Not USE_EXISTING: the SDK then returns the running one without saying it was not new.)
      workflowIdConflictPolicy: 'FAIL', workflowIdReusePolicy: 'REJECT_DUPLICATE',
    }).catch((err: unknown) => {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return undefined;
      throw err;
    });
    if (!h) return { workflowId, runId: (await this.client.workflow.getHandle(workflowId).describe()).runId, existing: true };
    return { workflowId, runId: h.firstExecutionRunId, existing: false };
  }

  private releaseHandle(app: string, environment: string): WorkflowHandle {
    return this.client.workflow.getHandle(releaseWorkflowId(app, environment));
  }

  /** `caller`: the status then says what they may do now (allowedActions, by the workflow's own policy). */
  async status(app: string, environment: string, events = 50, caller?: Identity): Promise<ReleaseStatus> {
    const handle = this.releaseHandle(app, environment);
    try {
      const desc = await handle.describe();
      const status = await this.queryOnWorker(desc.taskQueue, () => handle.query(statusQuery, { events, ...(caller ? { identity: { id: caller.id, groups: [...caller.groups] } } : {}) }));
      // The running cluster activity's heartbeat may have looked later than the workflow's last result.
      return mergeObserved(status, await heartbeatObservations(this.client, desc.raw.pendingActivities));
    } catch (err) {
      throw mapNotFound(err, `no release of ${app} to ${environment}`, 'start one with: gantry release start');
    }
  }

  async pipelineStatus(repo: string, sha: string, opts: { gatesOnly?: boolean } = {}): Promise<PipelineStatus> {
    const handle = this.client.workflow.getHandle(opts.gatesOnly ? gatesWorkflowId(repo, sha) : pipelineWorkflowId(repo, sha));
    try {
      const tq = (await handle.describe()).taskQueue;
      return await this.queryOnWorker(tq, () => handle.query(pipelineStatusQuery));
    } catch (err) {
      throw mapNotFound(err, `no pipeline for ${repo}@${sha}`, 'start one with: gantry pipeline start');
    }
  }

  /**
   * Runs a query (or Update) that a worker must answer: first checks that a worker polls the
   * workflow's task queue (else the call would hang for 30 s and look like Temporal being down), and
   * bounds the wait, naming the queue either way.
   */
  private async queryOnWorker<T>(taskQueue: string, fn: () => Promise<T>, deadlineMs = QUERY_DEADLINE_MS): Promise<T> {
    await this.ensureWorker(taskQueue);
    try {
      return await this.client.withDeadline(Date.now() + deadlineMs, fn);
    } catch (err) {
      if (isDeadlineExceeded(err)) {
        throw new GantryError('unavailable', `the worker polling task queue '${taskQueue}' did not answer within ${deadlineMs / 1000} s`, [],
          'the worker may be overloaded or stuck: check its log; a release waits durably until a worker answers');
      }
      throw noPollerError(err, taskQueue) ?? err;
    }
  }

  /** Throws `unavailable` when no worker has polled the task queue recently (cached for 2 s). */
  async ensureWorker(taskQueue: string): Promise<void> {
    const now = Date.now();
    let seen = this.pollers.get(taskQueue);
    if (!seen || now - seen.at > 2_000) {
      const r = await this.client.workflowService.describeTaskQueue({
        namespace: this.client.options.namespace, taskQueue: { name: taskQueue, kind: 1 /* TASK_QUEUE_KIND_NORMAL */ },
        taskQueueType: 1 /* TASK_QUEUE_TYPE_WORKFLOW */,
      }).catch((err: unknown) => {
        // A server without the call (Temporal's time-skipping test server): no check, the query's deadline still applies.
        if ((err as { code?: unknown }).code === 12 /* UNIMPLEMENTED */) return undefined;
        throw err;
      });
      const last = r ? Math.max(0, ...(r.pollers ?? []).map((p) => tsMs(p.lastAccessTime))) : Number.POSITIVE_INFINITY;
      seen = { at: r ? now : Number.POSITIVE_INFINITY, last };
      this.pollers.set(taskQueue, seen);
    }
    if (seen.last === Number.POSITIVE_INFINITY) return;
    // A live worker long-polls (up to about a minute per poll), so its last access is at most that old.
    if (!seen.last || now - seen.last > POLLER_STALE_MS) {
      const since = seen.last ? ` (none polling since ${new Date(seen.last).toISOString()})` : '';
      const mine = taskQueue === this.taskQueue ? '' : `; this API starts workflows on '${this.taskQueue}'`;
      throw new GantryError('unavailable', `no worker is polling task queue '${taskQueue}'${since}`, [],
        `start a Gantry worker with GANTRY_TASK_QUEUE=${taskQueue}${mine}; the workflow waits durably until one polls`);
    }
  }

  /**
   * Sends a human decision as the workflow Update; refusals come back as `refused`. A rollback of a
   * release that already succeeded starts a rollback release to the revision it replaced.
   */
  async decide(app: string, environment: string, action: Action, caller: Caller, comment?: string, opts: { updateId?: string } = {}): Promise<DecisionResult & { started?: Started }> {
    const handle = this.releaseHandle(app, environment);
    let desc;
    try {
      desc = await handle.describe();
    } catch (err) {
      throw mapNotFound(err, `no release of ${app} to ${environment}`, 'list releases with: gantry release list');
    }
    if (desc.status.name !== 'RUNNING') {
      if (action === Action.Rollback && desc.status.name === 'COMPLETED') {
        const started = await this.rollbackFinished(app, environment, memoOf(desc.memo), caller, comment);
        this.metrics?.decision(action, caller.channel, 'accepted');
        return started;
      }
      throw new GantryError('conflict', `the release of ${app} to ${environment} is not running (${desc.status.name.toLowerCase()})`, [], action === Action.Rollback ? 'only a release that succeeded can be rolled back once finished' : undefined);
    }
    await this.ensureWorker(desc.taskQueue);
    try {
      // updateId (e.g. a webhook delivery id): the server runs an Update with the same id once per run.
      const result = await handle.executeUpdate(decisionUpdates[action], { args: [{ identity: caller.identity, channel: caller.channel, ...(comment ? { comment } : {}) }], ...(opts.updateId ? { updateId: opts.updateId } : {}) });
      this.metrics?.decision(action, caller.channel, 'accepted');
      return result;
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        if (err.cause.type === FailureType.Refused) {
          this.metrics?.decision(action, caller.channel, 'refused');
          throw new GantryError('refused', err.cause.message);
        }
        if (err.cause.type === FailureType.BadRequest) throw new GantryError('bad_request', err.cause.message);
      }
      throw mapNotFound(err, `no running release of ${app} to ${environment}`);
    }
  }

  /** `m`: the memo of the finished release, from the description decide() already fetched. */
  private async rollbackFinished(app: string, environment: string, m: Partial<ReleaseMemo> | undefined, caller: Caller, comment?: string): Promise<DecisionResult & { started: Started }> {
    const status = await this.status(app, environment, 0);
    const previous = status.previous ?? m?.previous;
    if (!previous) throw new GantryError('conflict', `the last release of ${app} to ${environment} recorded no previous revision to return to`);
    if (!m?.environment?.groups || !m.environment.approvers) {
      throw new GantryError('conflict', `the last release of ${app} to ${environment} carries no configuration to roll back with (it was started by an older Gantry)`, [],
        `start a release of the previous revision instead: gantry release start -e ${environment} --digest ${previous.digest ?? '<digest>'}`);
    }
    // The same policy as a rollback while running (core/approval.ts): approvers, the author, the starter.
    const answer = mayDecide(caller.identity, Action.Rollback, m.environment.approvers, { author: status.revision.author, startedBy: status.startedBy });
    if (!answer.allowed) {
      this.metrics?.decision(Action.Rollback, caller.channel, 'refused');
      throw new GantryError('refused', answer.reason);
    }
    const envCfg = rollbackEnvironment(m.environment);
    const started = await this.startReleaseWorkflow({ app, environment: envCfg, revision: previous, previous: status.revision, kind: 'rollback', startedBy: { id: caller.identity.id, channel: caller.channel } });
    const at = new Date().toISOString();
    return { decision: { action: Action.Rollback, by: caller.identity.id, channel: caller.channel, at, ...(comment ? { comment } : {}) }, summary: `rollback release to ${previous.digest ?? previous.image} started (${started.workflowId})`, started };
  }

  /**
   * Whether the namespace has Gantry's search attributes (core/search-attributes.ts). When some are
   * missing it tries to add them (a dev server, or credentials allowed to); when that is refused, or
   * the server cannot list them (the time-skipping test server), releases start without them and the
   * list falls back to asking each one. Cached: a minute for an answer, ten seconds for a failure.
   */
  async searchAttributesReady(): Promise<boolean> {
    const now = Date.now();
    if (this.attributes && now < this.attributes.until) return this.attributes.ready;
    const namespace = this.client.options.namespace;
    let ready = false;
    try {
      const have = await this.client.connection.operatorService.listSearchAttributes({ namespace });
      const known = new Set(Object.keys(have.customAttributes ?? {}));
      const missing = Object.entries(searchAttributeTypes).filter(([name]) => !known.has(name));
      if (missing.length > 0) {
        await this.client.connection.operatorService.addSearchAttributes({
          namespace, searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]])),
        });
      }
      ready = true;
    } catch (err) {
      this.attributesProblem = errorText(err);
    }
    this.attributes = { ready, until: now + (ready ? 60_000 : 10_000) };
    return ready;
  }
  private attributes?: { ready: boolean; until: number };
  /** Why the search attributes are not used (for logs and readiness), when they are not. */
  attributesProblem?: string;

  /**
   * The newest releases first, as one visibility query: phase, what each waits on and who can unblock
   * it come from the search attributes (releases started before them carry none: the caller may ask
   * those few for their status). `app` narrows to one app; `waitingFor` to the running releases that
   * wait on a person that identity can be (GantryApprovers), less those it may not unblock now
   * (GantryExcluded: four-eyes, already approved).
   */
  async list(limit = 50, opts: { app?: string; waitingFor?: Identity; running?: boolean } = {}): Promise<ReleaseSummary[]> {
    const out: ReleaseSummary[] = [];
    if (opts.app !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(opts.app)) throw new GantryError('bad_request', 'invalid app', [{ path: 'app', message: 'not an app name', hint: 'a lowercase DNS label, e.g. shop' }]);
    const who = opts.waitingFor;
    if (who && !(await this.searchAttributesReady())) {
      throw new GantryError('unavailable', `"waiting for" needs Gantry's search attributes on the namespace, and they are not there: ${this.attributesProblem ?? 'unknown'}`, [],
        `register them once: ${registerHint(this.client.options.namespace)}`);
    }
    const query = `WorkflowType = 'release'${opts.running ? ` AND ExecutionStatus = 'Running'` : ''}${opts.app ? ` AND WorkflowId STARTS_WITH 'release/${opts.app}/'` : ''}${who ? ` AND ${waitingForClause(who)}` : ''}`;
    for await (const w of this.client.workflow.list({ query })) {
      const m = memoOf(w.memo);
      const ids = idParts(w.workflowId);
      const sa = w.typedSearchAttributes;
      const approvers = sa.get(GantryApprovers) ?? [];
      if (who && !canUnblock(who, approvers, sa.get(GantryExcluded) ?? [])) continue;
      // A release that rolled back ends as a failed workflow; the memo's outcome tells the two apart.
      const status = w.status.name === 'FAILED' && m?.outcome === 'rolled-back' ? 'rolled-back' : w.status.name.toLowerCase();
      const running = w.status.name === 'RUNNING';
      // A release that ended by itself set its final phase; one terminated or timed out keeps its last
      // one, which is then stale: its workflow status says more.
      const phase = running || ENDED.has(sa.get(GantryPhase) ?? '') ? sa.get(GantryPhase) : undefined;
      const waitingOn = running ? sa.get(GantryWaitingOn) : undefined;
      const kind = sa.get(GantryKind);
      const weight = sa.get(GantryWeight);
      const excluded = sa.get(GantryExcluded) ?? [];
      const group = sa.get(GantryGroup);
      const cells = (sa.get(GantryCells) ?? []).map(parseCellAttribute).filter((c) => c !== undefined);
      const since = running && waitingOn && waitingOn !== 'none' ? sa.get(GantryWaitingSince) : undefined;
      out.push({
        workflowId: w.workflowId, app: m?.app ?? sa.get(GantryApp) ?? ids.app ?? '?', environment: m?.environment?.name ?? sa.get(GantryEnvironment) ?? ids.environment ?? '?',
        status, startTime: w.startTime.toISOString(), ...(w.closeTime ? { closeTime: w.closeTime.toISOString() } : {}),
        ...(kind === 'release' || kind === 'rollback' ? { kind } : {}),
        // 'starting': set at start, before the workflow's first look; the status query knows better.
        ...(phase && phase !== 'starting' ? { phase } : {}),
        ...(waitingOn && waitingOn !== 'none' ? { waitingOn } : {}),
        ...(running && approvers.length ? { approvers } : {}),
        ...(running && excluded.length ? { excluded } : {}),
        ...(typeof group === 'number' && group > 0 ? { group } : {}),
        ...(cells.length ? { cells } : {}),
        ...(typeof weight === 'number' ? { canaryWeight: weight } : {}),
        ...(since instanceof Date && Number.isFinite(since.getTime()) ? { waitingSince: since.toISOString() } : {}),
        ...(m?.revision ? { revision: m.revision } : {}),
        ...(Array.isArray(m?.environment?.groups) ? { groups: m.environment.groups.length } : {}),
        ...(typeof m?.startedBy === 'string' ? { startedBy: m.startedBy } : {}),
        ...(typeof m?.trigger === 'string' ? { trigger: m.trigger } : {}),
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * "Waiting for `who`" among the running releases that carry no search attributes (started before
   * them, or by a pipeline or a train): asks each for its status as `who` and keeps those whose
   * awaited action (approve, override, resume) the workflow allows them. One status query per such
   * release: the fallback, for those only.
   */
  async waitingForWithoutAttributes(who: Identity, limit = 50, opts: { app?: string; deadlineMs?: number } = {}): Promise<ReleaseSummary[]> {
    const query = `WorkflowType = 'release' AND ExecutionStatus = 'Running' AND ${SearchAttribute.Phase} IS NULL${opts.app ? ` AND WorkflowId STARTS_WITH 'release/${opts.app}/'` : ''}`;
    const found: ReleaseSummary[] = [];
    for await (const w of this.client.workflow.list({ query })) {
      const m = memoOf(w.memo);
      const ids = idParts(w.workflowId);
      const app = m?.app ?? ids.app;
      const environment = m?.environment?.name ?? ids.environment;
      if (!app || !environment) continue;
      const s = await this.client.withDeadline(Date.now() + (opts.deadlineMs ?? 3000), () => this.status(app, environment, 0, who)).catch(() => undefined);
      const action = s?.waiting ? unblockingAction(s.waiting.on) : undefined;
      if (!s?.waiting || !action || !s.allowedActions?.[action].allowed) continue;
      found.push({ workflowId: w.workflowId, app, environment, status: 'running', startTime: w.startTime.toISOString(), kind: s.kind, phase: s.phase, waitingOn: s.waiting.on });
      if (found.length >= limit) break;
    }
    return found;
  }

  /** The memo of a release's current run (its environment's groups and checks, its trigger); undefined when there is none. */
  async releaseRunMemo(app: string, environment: string): Promise<Partial<ReleaseMemo> | undefined> {
    try {
      return memoOf((await this.releaseHandle(app, environment).describe()).memo);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * The current run of a release's workflow: its run id and execution status ('RUNNING', 'COMPLETED',
   * 'TERMINATED', …); undefined when there is none. A chat button names the run it was posted for.
   */
  async releaseRun(app: string, environment: string): Promise<{ runId: string; status: string } | undefined> {
    try {
      const d = await this.releaseHandle(app, environment).describe();
      return { runId: d.runId, status: d.status.name };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** This service's Temporal client as a readiness check (runtime/readiness.ts, GET /readyz). */
  temporalPing(): TemporalPing {
    const client = this.client;
    const conn = client.connection as { options?: { address?: string } };
    return {
      address: conn.options?.address, namespace: client.options.namespace,
      describeNamespace: (deadline) => client.withDeadline(deadline, () => client.workflowService.describeNamespace({ namespace: client.options.namespace })),
    };
  }

  /** Waits for a release to end; returns its final status whether it succeeded or rolled back. */
  async waitForRelease(app: string, environment: string): Promise<ReleaseStatus> {
    try { await this.releaseHandle(app, environment).result(); } catch (err) { if (!(err instanceof WorkflowFailedError)) throw err; }
    return this.status(app, environment, 0);
  }
}

/** The `observed` of each pending activity's last heartbeat (checked by mergeObserved), decoded with the client's data converter. */
async function heartbeatObservations(client: Client, pending: readonly { heartbeatDetails?: { payloads?: Payload[] | null } | null }[] | null | undefined): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const a of pending ?? []) {
    const payloads = a.heartbeatDetails?.payloads;
    if (!payloads?.length) continue;
    const d = await decodeFromPayloadsAtIndex<{ observed?: unknown } | undefined>(client.options.loadedDataConverter, 0, payloads).catch(() => undefined);
    if (d && typeof d === 'object' && 'observed' in d) out.push(d.observed);
  }
  return out;
}

function mapNotFound(err: unknown, message: string, hint?: string): unknown {
  if (err instanceof WorkflowNotFoundError || (err instanceof Error && /not found/i.test(err.message))) return new GantryError('not_found', message, [], hint);
  return err;
}
