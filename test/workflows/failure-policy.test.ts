// Every activity the workflows schedule carries the retry policy's nonRetryableErrorTypes derived from
// the failure table (workflows/failures.ts), as the activity itself sees it (activityInfo().retryPolicy,
// from the server): a pipeline from source (checkout, gates, build, verify, catalog, GitHub reports,
// release with analysis, tag), a release that waits for approval (notify) and is rejected (rollback),
// and a release train (catalog). The pipeline's own activities are fakes; the cluster is the simulated one.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { activityInfo } from '@temporalio/activity';
import type { Client, Connection } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createCatalogActivities } from '../../activities/catalog.js';
import { createNotifyActivities } from '../../activities/notify.js';
import { createSimClusterActivities } from '../../activities/sim-cluster.js';
import { GantryService } from '../../api/service.js';
import { parseConfig, type GantryConfig, type RawConfig } from '../../core/config.js';
import type { GateResult } from '../../core/gates.js';
import { fail, FAILURES, FailureType, nonRetryableErrorTypes } from '../../workflows/failures.js';
import { catalogWorkflowId } from '../../workflows/catalog.js';
import { pipelineWorkflowId } from '../../workflows/messages.js';
import type { PipelineActivities } from '../../workflows/pipeline-activity-types.js';
import type { PipelineInput } from '../../workflows/pipeline.js';
import type { TrainInput } from '../../workflows/train.js';
import { workflowsPath } from '../../worker/worker.js';
import { caller, waitForStatus } from '../support/release-harness.js';
import { connectClient, connectNative, unique } from '../support/temporal.js';

const SHA = 'c'.repeat(40);
const DIGEST = `sha256:${'d'.repeat(64)}`;

/** Each activity call: its name and the nonRetryableErrorTypes of its retry policy. */
const seen: { name: string; types: string[] | undefined }[] = [];

function recorded<T extends object>(acts: T): T {
  return Object.fromEntries(Object.entries(acts).map(([name, fn]) => [name, async (...args: unknown[]) => {
    seen.push({ name, types: activityInfo().retryPolicy?.nonRetryableErrorTypes });
    return (fn as (...a: unknown[]) => unknown)(...args);
  }])) as T;
}

const fakePipeline: PipelineActivities = {
  async checkout(req) {
    return { sha: req.source.sha, workspace: '/nowhere', host: 'test', toolMs: 1, commit: { sha: req.source.sha, author: 'carol', email: 'carol@example.com', message: 'a change', committedAt: '2026-01-01T00:00:00Z' } };
  },
  async runGate(req) {
    const result: GateResult = { name: req.gate.name, type: req.gate.type, state: 'passed', reason: 'ok', durationMs: 1 };
    return { result, toolMs: 1 };
  },
  async buildImage(req) {
    return { digest: DIGEST, ref: `${req.image}@${DIGEST}`, tag: req.source.sha, steps: { total: 1, executed: 1, cached: 0 }, log: { path: '/nowhere', host: 'test', bytes: 0, truncated: false }, toolMs: 1 };
  },
  async verifyImage() { return { estargz: true, reason: 'all 1 layer is eStargz', layers: [], sizeBytes: 1, toolMs: 1 }; },
  async resolveDigest() { return { digest: DIGEST }; },
  async promoteImage(req) { return { digest: req.digest, tag: req.tag }; },
  async deleteImage() { return { deleted: true }; },
  async tagRelease(req) { return { tag: req.tag, created: true, toolMs: 1 }; },
};
const fakeGitHub = {
  async githubCommitStatus() { return { changed: true }; },
  async githubDeploymentStatus() { return { changed: true }; },
};

function config(app: string, env: Partial<RawConfig['environments'][number]>): GantryConfig {
  const r = parseConfig({
    app: { name: app, image: 'registry.local/acme/app' },
    gates: [{ name: 'unit', type: 'command', run: ['true'] }],
    build: { tag: { name: 'release/{app}/{sha7}' } },
    environments: [{ name: 'production', replicas: 2, cells: [{ name: 'zone-a' }], groups: [{ pods: 'rest', confirm: { type: 'auto' } }], approvers: { users: ['alice'] }, deadlines: { progress: '20s' }, ...env }],
  } as RawConfig);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

let client: Client;
let connection: Connection;
let native: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let service: GantryService;
const taskQueue = unique('failure-policy');

beforeAll(async () => {
  ({ client, connection } = await connectClient());
  native = await connectNative();
  const sim = createSimClusterActivities({ metrics: () => 0.001 });
  const activities = recorded({
    ...sim,
    // Apps named forbidden-*: the cluster refuses the first group as RBAC would (non-retryable).
    async applyGroup(req: Parameters<typeof sim.applyGroup>[0]) {
      if (req.target.app.startsWith('forbidden-')) throw fail(FailureType.Forbidden, `apply Deployment ${req.target.app}: HTTP 403: may not create deployments`);
      return sim.applyGroup(req);
    },
    ...createNotifyActivities([], () => undefined),
    ...createCatalogActivities({ client, taskQueue }),
    ...fakePipeline,
    ...fakeGitHub,
  });
  worker = await Worker.create({ connection: native, taskQueue, workflowsPath, activities });
  running = worker.run();
  service = new GantryService(client, taskQueue);
}, 120_000);
afterAll(async () => {
  worker?.shutdown();
  await running;
  await native?.close();
  await connection?.close();
});

describe('retry policies (real Temporal dev server)', () => {
  it('every activity of the pipeline, release and train workflows gets the derived nonRetryableErrorTypes', async () => {
    const app = unique('policy');
    // 1. A pipeline from source: every stage, GitHub reports, the catalog, a release with analysis, the tag.
    const analysis = [{ name: 'error-rate', query: 'sum(rate(errors[1m]))', max: 0.01 }];
    const input: PipelineInput = {
      repo: `acme/${app}`, sha: SHA, source: { url: 'file:///nowhere' }, config: config(app, { analysis }),
      startedBy: { id: 'dave', channel: 'api' }, github: { baseUrl: 'http://127.0.0.1:9' },
    };
    await client.workflow.execute('pipeline', { workflowId: pipelineWorkflowId(input.repo, SHA), taskQueue, args: [input] });

    // 2. A release that waits for approval (a notice), then is rejected (the rollback).
    const manual = config(app, { groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest' }] });
    await service.startRelease({ config: manual, environment: 'production', revision: { digest: `sha256:${'e'.repeat(64)}`, sha: 'e'.repeat(40), author: 'carol' } }, caller('dave'));
    await waitForStatus(service, app, 'production', (s) => s.phase === 'waiting-approval');
    await service.decide(app, 'production', 'reject', caller('alice'), 'not today');
    await expect(service.waitForRelease(app, 'production')).resolves.toMatchObject({ phase: 'rolled-back' });

    // 3. A release train (the catalog's newest build is the one the pipeline recorded).
    const train: TrainInput = { app, image: 'registry.local/acme/app', environment: config(app, {}).environments[0]!, schedule: 'nightly' };
    await client.workflow.execute('releaseTrain', { workflowId: unique('train'), taskQueue, args: [train] }).catch(() => undefined);

    const names = new Set(seen.map((s) => s.name));
    // waitHealthy: only releases that started before the 'apply-verifies' patch call it (applyGroup verifies now).
    for (const name of ['checkout', 'runGate', 'buildImage', 'verifyImage', 'tagRelease', 'githubCommitStatus', 'githubDeploymentStatus',
      'recordBuild', 'newestBuild', 'environmentRevision', 'applyGroup', 'measure', 'finalize', 'notify', 'rollback']) {
      expect({ name, called: names.has(name) }).toEqual({ name, called: true });
    }
    const expected = [...nonRetryableErrorTypes].sort();
    for (const s of seen) expect({ name: s.name, types: s.types ? [...s.types].sort() : s.types }).toEqual({ name: s.name, types: expected });

    // The build catalog on this unversioned worker completes every workflow task: its versioning
    // behavior (AUTO_UPGRADE, for versioned workers) is never sent from an unversioned one, which the
    // server refuses with INVALID_ARGUMENT, leaving the task to time out and retry for ever.
    const catalogEvents = (await client.workflow.getHandle(catalogWorkflowId(app)).fetchHistory()).events ?? [];
    expect(catalogEvents.filter((e) => e.workflowTaskCompletedEventAttributes).length).toBeGreaterThan(0);
    expect(catalogEvents.filter((e) => e.workflowTaskTimedOutEventAttributes || e.workflowTaskFailedEventAttributes)).toEqual([]);
  }, 120_000);

  it('a release stopped by a failure from the table carries its hint in the status (the stop), and the CLI shows it', async () => {
    const app = unique('forbidden-');
    await service.startRelease({ config: config(app, {}), environment: 'production', revision: { digest: `sha256:${'f'.repeat(64)}`, sha: 'f'.repeat(40), author: 'carol' } }, caller('dave'));
    const s = await service.waitForRelease(app, 'production');
    expect(s.phase).toBe('rolled-back');
    expect(s.stop).toMatchObject({ cause: 'abort', reason: expect.stringContaining('HTTP 403: may not create deployments'), hint: FAILURES.Forbidden.hint });
    expect(s.outcome?.hint).toBeUndefined(); // the rollback itself succeeded: the hint belongs to the stop
    expect(seen.filter((x) => x.name === 'applyGroup').length).toBeGreaterThan(0);
  }, 120_000);
});
