// Records the workflow histories the replay test (replay.test.ts) replays: one real run of each
// workflow type on a real Temporal dev server (the test bed's pinned install), with the simulated
// cluster, saved as JSON under test/replay/histories/. Run it when a workflow's behaviour changes on
// purpose (README "Upgrading Gantry"): `npx tsx test/replay/record.ts [scenario…]`.
// Keep the fixtures of the code that running releases may still be on: write new ones next to them
// (the script names files by scenario; rename an old one, e.g. release-approved.v1.json, before
// re-recording), so replay keeps proving that old histories still replay on the new code.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { createCatalogActivities } from '../../activities/catalog.js';
import { createGateLogActivities } from '../../activities/gate-logs.js';
import { hostTaskQueue } from '../../workflows/gate-log.js';
import { catalogWorkflowId } from '../../workflows/catalog.js';
import { pipelineWorkflowId, releaseWorkflowId } from '../../workflows/messages.js';
import type { PipelineInput } from '../../workflows/pipeline.js';
import type { TrainInput } from '../../workflows/train.js';
import { createSampleRepo } from '../support/build-bed.js';
import { DIGEST_A, DIGEST_B, seedConfig } from '../support/fixtures.js';
import { caller, startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { connectNative, unique } from '../support/temporal.js';
import { startTestServer, stopTestServer } from '../support/test-server.js';

export const historiesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'histories');

async function save(name: string, handle: WorkflowHandle): Promise<void> {
  const history = await handle.fetchHistory();
  fs.mkdirSync(historiesDir, { recursive: true });
  // Pretty-printed so a re-recording shows up as a readable diff.
  const json = JSON.stringify(JSON.parse(historyToJSON(history)), null, 1);
  fs.writeFileSync(path.join(historiesDir, `${name}.json`), json + '\n');
  console.log(`recorded ${name}.json: ${history.events?.length ?? 0} events (${handle.workflowId})`);
}

const twoGroups = (confirm: 'manual' | 'auto') => seedConfig(unique('shop'), {
  replicas: 4, groups: [{ pods: 1, confirm: { type: confirm } }, { pods: 'rest', confirm: { type: 'auto' } }],
});

type Scenario = (h: Harness) => Promise<void>;

async function failedGatePipeline(h: Harness, name: string, extra: Partial<PipelineInput>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-replay-'));
  try {
    const app = unique('web');
    const sample = createSampleRepo(dir, {
      app, image: 'registry.local/gantry/web',
      gates: `  - { name: unit, type: junit, run: [sh, scripts/test.sh], reports: [reports/junit.xml] }\n  - { name: smoke, type: command, run: [sh, -c, 'exit 3'] }\n`,
    });
    const sha = sample.head();
    const repo = `acme/${app}`;
    const input: PipelineInput = { repo, sha, source: { url: sample.url }, startedBy: { id: 'dave', channel: 'api' }, ...extra };
    const handle = await h.client.workflow.start('pipeline', { workflowId: pipelineWorkflowId(repo, sha), taskQueue: h.taskQueue, args: [input] });
    const err = await handle.result().then(() => undefined, (e: unknown) => e);
    if (!err) throw new Error('expected the pipeline to fail its gates');
    const msg = String((err as { cause?: { message?: string } }).cause?.message ?? err);
    if (!/smoke/.test(msg)) throw new Error(`expected the smoke gate to fail the pipeline, got: ${msg}`);
    await save(name, handle);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const scenarios: Record<string, Scenario> = {
  /** A release that waits for approval (the signal/update path), is approved and completes. */
  async 'release-approved'(h) {
    const config = twoGroups('manual');
    const app = config.app.name;
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A, sha: 'abc1234', author: 'carol' } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    await h.service.decide(app, 'production', 'approve', { identity: { id: 'frank', groups: ['sre'] }, channel: 'cli' }, 'metrics look fine');
    const handle = h.client.workflow.getHandle(releaseWorkflowId(app, 'production'));
    await handle.result();
    await save('release-approved', handle);
  },

  /**
   * A release still waiting for approval (its history so far, as an upgraded worker would pick it
   * up); then aborted, so nothing is left running.
   */
  async 'release-waiting'(h) {
    const config = twoGroups('manual');
    const app = config.app.name;
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A, sha: 'abc1234', author: 'carol' } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    const handle = h.client.workflow.getHandle(releaseWorkflowId(app, 'production'));
    await save('release-waiting', handle);
    await h.service.decide(app, 'production', 'abort', caller('bob'), 'recorded');
    await handle.result().catch(() => undefined);
  },

  /** A release aborted while it waits for approval: it rolls back. */
  async 'release-rolled-back'(h) {
    const config = twoGroups('manual');
    const app = config.app.name;
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_B, sha: 'def5678', author: 'carol' } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    await h.service.decide(app, 'production', 'abort', caller('bob'), 'wrong build');
    const handle = h.client.workflow.getHandle(releaseWorkflowId(app, 'production'));
    // A rolled-back release fails its workflow with the RolledBack failure type.
    const err = await handle.result().then(() => undefined, (e: unknown) => e as { cause?: { type?: string } });
    if (err?.cause?.type !== 'RolledBack') throw new Error(`expected a rolled-back release, got ${String(err ?? 'success')}`);
    await save('release-rolled-back', handle);
  },

  /**
   * A pipeline from source (real git checkout of a local repository) whose command gate fails. Its
   * first fixture was recorded before the build task queue existed (no 'build-task-queue' marker):
   * kept, since pipelines of that code may still be open when Gantry is upgraded.
   */
  'pipeline-failed-gate': (h) => failedGatePipeline(h, 'pipeline-failed-gate', {}),

  /** The same with the source activities on a build task queue (the 'build-task-queue' patch taken). */
  'pipeline-failed-gate-build-queue': (h) => failedGatePipeline(h, 'pipeline-failed-gate-build-queue', { buildTaskQueue: h.taskQueue }),

  /** A release train departure that releases the newest catalog build (a child release), and the catalog it read. */
  async 'train-and-catalog'(h) {
    const config = twoGroups('auto');
    const app = config.app.name;
    const catalog = createCatalogActivities({ client: h.client, taskQueue: h.taskQueue });
    await catalog.recordBuild({ app, build: { sha: 'a'.repeat(40), image: config.app.image, digest: DIGEST_A, passedAt: '2026-11-20T10:00:00Z', author: 'carol' } });
    await catalog.recordBuild({ app, build: { sha: 'b'.repeat(40), image: config.app.image, digest: DIGEST_B, passedAt: '2026-11-21T10:00:00Z', author: 'carol' } });
    const env = config.environments[0]!;
    const input: TrainInput = { app, image: config.app.image, environment: env, schedule: `train/${app}/${env.name}`, cron: ['0 3 * * *'] };
    const handle = await h.client.workflow.start('releaseTrain', { workflowId: `train-run/${app}/${env.name}`, taskQueue: h.taskQueue, args: [input] });
    const r = await handle.result() as { decision: { kind: string } };
    if (r.decision.kind !== 'release') throw new Error(`expected the train to release, got ${JSON.stringify(r)}`);
    await save('release-train', handle);
    // The catalog runs on (a durable entity): its history so far, two builds signalled and queried.
    await save('build-catalog', h.client.workflow.getHandle(catalogWorkflowId(app)));
  },

  /** The console reading a gate log's tail on the host that wrote it (one activity on the host's own queue). */
  async 'gate-log-read'(h) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-replay-logs-'));
    const native = await connectNative();
    const queue = hostTaskQueue(h.taskQueue, os.hostname(), dir);
    const worker = await Worker.create({ connection: native, taskQueue: queue, activities: createGateLogActivities({ logDir: dir }) });
    const running = worker.run();
    try {
      const file = path.join(dir, 'unit.log');
      fs.writeFileSync(file, 'PASS app.greeting says hello\nFAIL app.greeting says goodbye\n');
      const handle = await h.client.workflow.start('readGateLog', { workflowId: unique('gate-log'), taskQueue: h.taskQueue, args: [{ queue, path: file, maxBytes: 1024 }] });
      const tail = await handle.result() as { text: string };
      if (!tail.text.includes('says goodbye')) throw new Error(`expected the log's tail, got ${JSON.stringify(tail)}`);
      await save('gate-log-read', handle);
    } finally {
      worker.shutdown();
      await running;
      await native.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  for (const w of wanted) if (!(w in scenarios)) throw new Error(`unknown scenario ${w}: one of ${Object.keys(scenarios).join(', ')}`);
  await startTestServer();
  let h: Harness | undefined;
  try {
    h = await startHarness();
    for (const [name, run] of Object.entries(scenarios)) {
      if (wanted.length && !wanted.includes(name)) continue;
      await run(h);
    }
  } finally {
    await h?.close();
    stopTestServer();
  }
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1); });
