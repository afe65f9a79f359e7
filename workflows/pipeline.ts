// The pipeline workflow: one per commit. From source: checkout of the exact commit, the quality
// gates, the image build (eStargz, pushed by BuildKit), the image check (every layer eStargz, the
// size budget), then the release of each environment in order, each as a child release workflow
// deploying image@digest, and the annotated release tag. A pipeline started with a prebuilt image
// digest has only the release stages. Any failed stage stops the pipeline before the next, so a
// failed gate or build never reaches an environment.
import {
  ActivityCancellationType, ActivityFailure, ApplicationFailure, CancellationScope, ChildWorkflowFailure, executeChild, isCancellation, log, ParentClosePolicy,
  patched, proxyActivities, setHandler, workflowInfo, WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import type { GitHubActivities } from '../activities/github.js';
import type { Channel } from '../core/approval.js';
import { defaultBuild } from '../core/build.js';
import type { GantryConfig } from '../core/config.js';
import { durationMs } from '../core/duration.js';
import { gatesVerdict, imageSizeVerdict, isPostBuildGate, type GateResult } from '../core/gates.js';
import { addStages, endStage as endStageCore, newPipeline, releaseStages, setToolTime, SourceStage, sourceStages, startStage as startStageCore, type PipelineStatus } from '../core/pipeline.js';
import type { Revision } from '../core/release.js';
import { renderTag } from '../core/source.js';
import { FailureType, pipelineStatusQuery, releaseMemo, releaseWorkflowId } from './messages.js';
import { failureHintOf, nonRetryableErrorTypes } from './failures.js';
import { recordStageDuration } from './metrics.js';
import type { PipelineActivities, SourceRef } from './pipeline-activity-types.js';
import type { CatalogActivities } from './activity-types.js';
import { release } from './release.js';

export interface PipelineSource {
  /** What git clones (https://…, ssh://…, file://…). */
  url: string;
  /** Shallow fetch depth for large repositories (1: just the commit). */
  depth?: number;
  /** gantry.yaml's path in the repository (default gantry.yaml). */
  configPath?: string;
}

export interface PipelineInput {
  /** Gantry's search attributes are registered (the starter checked): its releases keep them up to date. */
  searchAttributes?: boolean;
  repo: string;
  sha: string;
  ref?: string;
  /** Inline config. Without it (source pipelines only), the commit's own gantry.yaml is read at checkout. */
  config?: GantryConfig;
  /** A prebuilt image to release (no source): its digest is the revision. With a source, the build's digest wins. */
  revision?: Revision;
  /** Build from source: checkout, gates, build and verify run before any release. */
  source?: PipelineSource;
  startedBy: { id: string; channel: Channel };
  /** Checkout and quality gates only (e.g. a push to a feature branch): no build, no release. Needs a source. */
  gatesOnly?: boolean;
  /** Report to GitHub: a commit status per stage, a deployment status per environment (activities/github.ts). */
  github?: { baseUrl?: string; tokenEnv?: string };
  /**
   * The task queue of the source activities (checkout, gates, build, verify, tag: repository code),
   * served by a build worker without cluster credentials (GANTRY_BUILD_TASK_QUEUE, passed by the
   * API). Absent: the pipeline's own task queue.
   */
  buildTaskQueue?: string;
}

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 3, nonRetryableErrorTypes };

/** Checkout, verify and tag, on the build task queue (`{}`: the workflow's own). */
const shortOn = (queue: { taskQueue?: string }) => proxyActivities<Pick<PipelineActivities, 'checkout' | 'verifyImage' | 'tagRelease'>>({
  startToCloseTimeout: '15m', heartbeatTimeout: '10s', retry, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, ...queue,
});

const githubApi = proxyActivities<GitHubActivities>({
  startToCloseTimeout: '30s', scheduleToCloseTimeout: '10m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8, nonRetryableErrorTypes },
});

/** Builds that passed their gates go to the app's catalog, which release trains read. */
const catalog = proxyActivities<CatalogActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 5, nonRetryableErrorTypes } });

interface GitHubReporter { stage(name: string, state: 'pending' | 'success' | 'failure', description?: string, app?: string): void; flush(): Promise<void> }

/** Reports stage changes to GitHub in order, best effort: GitHub being down never fails a pipeline. */
function githubReporter(input: PipelineInput): GitHubReporter {
  let chain: Promise<void> = Promise.resolve();
  const target = input.github ? { repo: input.repo, sha: input.sha, ...input.github } : undefined;
  const queue = (what: string, call: () => Promise<unknown>) => {
    chain = chain.then(call).then(() => undefined, (err: unknown) => { log.warn('GitHub status not reported', { what, error: failureReason(err) }); });
  };
  return {
    stage(name, state, description, app) {
      if (!target) return;
      const desc = description ? { description: description.slice(0, 140) } : {};
      queue(`${name} ${state}`, () => githubApi.githubCommitStatus({ ...target, context: `gantry/${name}`, state, ...desc }));
      const env = /^release:(.+)$/.exec(name)?.[1];
      if (env) queue(`deployment ${env} ${state}`, () => githubApi.githubDeploymentStatus({ ...target, environment: env, ...(app ? { app } : {}), state: state === 'pending' ? 'in_progress' : state, ...desc }));
    },
    // Also when the pipeline fails or is cancelled: the last statuses still reach GitHub.
    flush: () => CancellationScope.nonCancellable(() => chain),
  };
}

export async function pipeline(input: PipelineInput) {
  const gh = githubReporter(input);
  try {
    return await runPipeline(input, gh);
  } finally {
    await gh.flush();
  }
}

function failureReason(err: unknown): string {
  if (err instanceof ChildWorkflowFailure && err.cause) return err.cause.message;
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

async function runPipeline(input: PipelineInput, gh: GitHubReporter) {
  // Every stage change is also reported to GitHub (when input.github is set).
  // And timed: gantry_pipeline_stage_duration_seconds (workflows/metrics.ts).
  const stageStarts = new Map<string, number>();
  // The app names the release page a deployment status links to (activities/github.ts); config is known by any release stage.
  const startStage = (q: PipelineStatus, name: string, now: number) => { startStageCore(q, name, now); stageStarts.set(name, now); gh.stage(name, 'pending', undefined, config?.app.name); };
  const endStage = (q: PipelineStatus, name: string, ok: boolean, reason: string | undefined, now: number, hint?: string) => {
    endStageCore(q, name, ok, reason, now, hint);
    gh.stage(name, ok ? 'success' : 'failure', reason, config?.app.name);
    const began = stageStarts.get(name);
    if (began !== undefined) recordStageDuration(name, ok ? 'passed' : 'failed', (now - began) / 1000);
  };
  const fromSource = !!input.source;
  const id = workflowInfo().workflowId;
  let config = input.config;
  if (!fromSource && !config) throw ApplicationFailure.create({ message: 'a pipeline without a source needs an inline config', type: FailureType.BadRequest, nonRetryable: true });
  if (!fromSource && !input.revision) throw ApplicationFailure.create({ message: 'a pipeline without a source needs the image revision', type: FailureType.BadRequest, nonRetryable: true });

  const p: PipelineStatus = newPipeline({
    id, repo: input.repo, sha: input.sha, ...(input.ref ? { ref: input.ref } : {}),
    ...(input.revision?.author ? { author: input.revision.author } : {}),
    stages: fromSource ? sourceStages(input.gatesOnly === true) : [],
  }, Date.now());
  const planReleases = (c: GantryConfig) => addStages(p, releaseStages({
    app: c.app.name, environments: c.environments.map((e) => e.name),
    ...(fromSource && c.build?.tag ? { tagAfter: c.build.tag.after ?? c.environments[c.environments.length - 1]!.name } : {}),
  }, releaseWorkflowId));
  if (input.gatesOnly && !fromSource) throw ApplicationFailure.create({ message: 'a gates-only run needs a source to check out', type: FailureType.BadRequest, nonRetryable: true });
  if (config && !input.gatesOnly) planReleases(config);
  setHandler(pipelineStatusQuery, () => p);

  /** Runs one stage: a failure ends the pipeline (a cancellation is re-thrown as is, after recording it). */
  async function stage<T>(name: string, fn: () => Promise<T>): Promise<T> {
    startStage(p, name, Date.now());
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      if (isCancellation(err)) { endStage(p, name, false, 'cancelled', Date.now()); throw err; }
      if (err instanceof ApplicationFailure && err.type === FailureType.StageFailed) throw err;
      endStage(p, name, false, failureReason(err), Date.now(), failureHintOf(err));
      throw ApplicationFailure.create({ message: p.reason ?? failureReason(err), type: FailureType.StageFailed, nonRetryable: true, details: [p] });
    }
    return result;
  }
  const failStage = (name: string, reason: string): never => {
    endStage(p, name, false, reason, Date.now());
    throw ApplicationFailure.create({ message: p.reason ?? reason, type: FailureType.StageFailed, nonRetryable: true, details: [p] });
  };

  let revision: Revision | undefined = input.revision;
  let source: SourceRef | undefined;
  // Repository code runs on the build task queue when one is given. Behind a patch: pipelines started
  // before it scheduled these activities on their own queue and replay that way.
  const buildQueue: { taskQueue?: string } = input.source && input.buildTaskQueue && patched('build-task-queue') ? { taskQueue: input.buildTaskQueue } : {};
  const short = shortOn(buildQueue);

  if (input.source) {
    source = { repo: input.repo, url: input.source.url, sha: input.sha, ...(input.ref ? { ref: input.ref } : {}),
      ...(input.source.depth ? { depth: input.source.depth } : {}), ...(input.source.configPath ? { configPath: input.source.configPath } : {}) };

    // 1. Checkout: the exact commit, verified; the ref must not have moved.
    const co = await stage(SourceStage.Checkout, () => short.checkout({ pipelineId: id, source: source!, readConfig: !config }));
    source = { ...source, sha: co.sha };
    p.sha = co.sha;
    p.commit = co.commit;
    if (!p.author) p.author = co.commit.author;
    const planned = !!config;
    config ??= co.config;
    if (!config) failStage(SourceStage.Checkout, 'no gantry.yaml config (inline or in the commit)');
    const cfg = config!;
    if (!planned && !input.gatesOnly) planReleases(cfg);
    setToolTime(p, SourceStage.Checkout, co.toolMs);
    endStage(p, SourceStage.Checkout, true, `${co.sha.slice(0, 12)} by ${co.commit.author}: ${co.commit.message.split('\n')[0]}`, Date.now());

    // 2. Quality gates (all of them run, so the report is complete; any failure stops the pipeline).
    const gates = cfg.gates ?? [];
    p.gates = gates.map((g): GateResult => ({ name: g.name, type: g.type, state: 'pending' }));
    const pre = gates.filter((g) => !isPostBuildGate(g));
    await stage(SourceStage.Gates, async () => {
      let toolMs = 0;
      for (const g of pre) {
        const entry = p.gates!.find((r) => r.name === g.name)!;
        entry.state = 'running';
        const timeoutMs = durationMs(g.timeout ?? '10m');
        const act = proxyActivities<Pick<PipelineActivities, 'runGate'>>({
          startToCloseTimeout: timeoutMs + 120_000, heartbeatTimeout: '10s', retry, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, ...buildQueue,
        });
        try {
          const run = await act.runGate({ pipelineId: id, source: source!, gate: g });
          Object.assign(entry, run.result);
          toolMs += run.toolMs;
        } catch (err) {
          if (isCancellation(err)) throw err;
          Object.assign(entry, { state: 'failed', reason: `could not run: ${failureReason(err)}` });
        }
      }
      setToolTime(p, SourceStage.Gates, toolMs);
    });
    const gv = gatesVerdict(p.gates.filter((r) => pre.some((g) => g.name === r.name)));
    if (!gv.pass) failStage(SourceStage.Gates, gv.reason);
    endStage(p, SourceStage.Gates, true, pre.length ? gv.reason : 'no gates declared', Date.now());
    if (input.gatesOnly) return p;

    // 3. Build: BuildKit, eStargz, registry cache; the digest comes from BuildKit's metadata.
    const build = cfg.build ?? defaultBuild;
    const builder = proxyActivities<Pick<PipelineActivities, 'buildImage'>>({
      startToCloseTimeout: durationMs(build.timeout) + 60_000, heartbeatTimeout: '10s',
      retry: { ...retry, maximumAttempts: 2 }, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, ...buildQueue,
    });
    const built = await stage(SourceStage.Build, () => builder.buildImage({ pipelineId: id, source: source!, image: cfg.app.image, build, commitTime: co.commit.committedAt }));
    p.image = { ref: built.ref, digest: built.digest, steps: built.steps };
    setToolTime(p, SourceStage.Build, built.toolMs);
    endStage(p, SourceStage.Build, true, `${built.steps.executed} of ${built.steps.total} steps ran, ${built.steps.cached} cached; log ${built.log.path} on ${built.log.host}`, Date.now());

    // 4. Verify: every layer eStargz; the post-build gates (image size budget).
    const checked = await stage(SourceStage.Verify, () => short.verifyImage({ image: cfg.app.image, digest: built.digest }));
    p.image = { ...p.image, sizeBytes: checked.sizeBytes, estargz: checked.estargz, layers: checked.layers.length };
    setToolTime(p, SourceStage.Verify, checked.toolMs);
    if (!checked.estargz) failStage(SourceStage.Verify, checked.reason);
    const post: GateResult[] = [];
    for (const g of gates) {
      if (g.type !== 'image-size') continue;
      const v = imageSizeVerdict(checked.sizeBytes, g.max);
      const entry = p.gates.find((r) => r.name === g.name)!;
      Object.assign(entry, { state: v.pass ? 'passed' : 'failed', reason: v.reason, durationMs: 0 });
      post.push(entry);
    }
    const pv = gatesVerdict(post);
    if (!pv.pass) failStage(SourceStage.Verify, pv.reason);
    endStage(p, SourceStage.Verify, true, `${checked.reason}${post.length ? `; ${pv.reason}` : ''}`, Date.now());

    revision = { image: cfg.app.image, digest: built.digest, sha: co.sha, author: co.commit.author, ...(co.commit.message ? { message: co.commit.message.slice(0, 500) } : {}) };
    // The build passed its gates: release trains may pick it (best effort: a catalog outage never stops the line).
    await catalog.recordBuild({ app: cfg.app.name, build: {
      sha: co.sha, image: cfg.app.image, digest: built.digest, author: co.commit.author, passedAt: new Date(Date.now()).toISOString(), pipelineId: id,
      ...(co.commit.message ? { message: co.commit.message.slice(0, 500) } : {}),
    } }).catch((err: unknown) => log.warn('build not recorded in the catalog', { error: failureReason(err) }));
  }

  // 5. Releases, in order, each deploying image@digest; then the release tag.
  const cfg = config!;
  const app = cfg.app.name;
  for (const env of cfg.environments) {
    const name = `release:${env.name}`;
    const releaseInput = { app, environment: env, revision: revision!, startedBy: input.startedBy, ...(input.searchAttributes ? { searchAttributes: true } : {}) };
    await stage(name, () => executeChild(release, {
      workflowId: releaseWorkflowId(app, env.name),
      args: [releaseInput],
      // The memo the API lists and rolls back by (as for releases it starts itself).
      ...(patched('release-memo') ? { memo: releaseMemo(releaseInput) as unknown as Record<string, unknown> } : {}),
      // Cancelling the pipeline cancels the release, which then rolls back (terminating would not).
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    }));
    endStage(p, name, true, undefined, Date.now());

    const tag = cfg.build?.tag;
    if (source && tag && (tag.after ?? cfg.environments[cfg.environments.length - 1]!.name) === env.name) {
      const rendered = renderTag(tag.name, { app, environment: env.name, sha: source.sha, date: new Date(Date.now()).toISOString() });
      if (!rendered.ok) failStage(SourceStage.Tag, rendered.reason);
      const tagName = (rendered as { tag: string }).tag;
      const res = await stage(SourceStage.Tag, () => short.tagRelease({
        source: source!, tag: tagName,
        message: `Released ${app} to ${env.name}\n\nimage: ${revision!.image}@${revision!.digest}\npipeline: ${id}`,
      }));
      p.tag = res.tag;
      setToolTime(p, SourceStage.Tag, res.toolMs);
      endStage(p, SourceStage.Tag, true, `${res.tag} ${res.created ? 'pushed' : 'already there'}`, Date.now());
    }
  }
  return p;
}
