// Upgrading Gantry while a release is in flight, with Temporal Worker Versioning (README "Upgrading
// Gantry"), on a real dev server of its own (the pinned CLI's, Server 1.32), with the simulated
// cluster:
// - a release waits for approval on worker deployment version v1;
// - version v2 starts with a CHANGED release workflow (test/workflows/support/workflows-v2.ts: its
//   plan gains a step, without patched()), and becomes the current version through the same
//   `temporal worker deployment set-current-version` command the README gives operators;
// - the waiting release is PINNED to v1: after its approval it finishes on the v1 worker with its
//   original plan (3 groups); a release started after the switch runs on v2 with 4 groups.
// - the first switch: a release an unversioned worker started moves to the first current version.
// Each worker records which of its activities ran, so "ran on v1" is observed, not inferred; and
// `describe` shows each execution's versioning behaviour and deployment version.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createSimClusterActivities, type SimEffect } from '../../activities/index.js';
import { createNotifyActivities } from '../../activities/notify.js';
import { GantryService } from '../../api/service.js';
import { startEphemeralTemporal, type EphemeralTemporal } from '../../testbed/ephemeral-temporal.js';
import { temporalBin } from '../../testbed/paths.js';
import type { ApplyGroupRequest } from '../../workflows/activity-types.js';
import { buildCatalog, buildPassedSignal, catalogQuery, catalogWorkflowId } from '../../workflows/catalog.js';
import { releaseWorkflowId } from '../../workflows/messages.js';
import { createWorker, type WorkerVersion } from '../../worker/worker.js';
import { testActivities, testWorkerConfig } from '../support/activities.js';
import { RuntimeConfigError } from '../../runtime/config.js';
import { DIGEST_A, DIGEST_B, seedConfig } from '../support/fixtures.js';
import { caller, waitForStatus } from '../support/release-harness.js';
import { quietRuntime, unique } from '../support/temporal.js';

const exec = promisify(execFile);
const v2Workflows = fileURLToPath(new URL('./support/workflows-v2.ts', import.meta.url));

let server: EphemeralTemporal;
let connection: Connection;
let native: NativeConnection;
let client: Client;
const running: { worker: Worker; done: Promise<void> }[] = [];

beforeAll(async () => {
  quietRuntime();
  // Drainage (a version no open pinned workflow needs) is checked every few minutes by default;
  // seconds here, so the test can wait for v1 to drain as an operator would.
  server = await startEphemeralTemporal([
    '--dynamic-config-value', 'matching.wv.VersionDrainageStatusVisibilityGracePeriod="1s"',
    '--dynamic-config-value', 'matching.wv.VersionDrainageStatusRefreshInterval="1s"',
  ]);
  connection = await Connection.connect({ address: server.address });
  client = new Client({ connection, namespace: 'default' });
  native = await NativeConnection.connect({ address: server.address });
}, 120_000);

afterAll(async () => {
  for (const r of running) if (r.worker.getState() === 'RUNNING') r.worker.shutdown();
  await Promise.allSettled(running.map((r) => r.done));
  await native?.close();
  await connection?.close();
  server?.stop();
});

/** The temporal CLI against this test's server (argv, as an operator would type it). */
async function temporal(args: string[]): Promise<string> {
  const { stdout } = await exec(temporalBin, [...args, '--address', server.address, '--namespace', 'default'], { timeout: 30_000 });
  return stdout;
}

/**
 * `temporal worker deployment set-current-version`: retried while the server does not know the
 * version yet (a worker registers its version with its first polls).
 */
async function setCurrentVersion(v: WorkerVersion): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await temporal(['worker', 'deployment', 'set-current-version', '--deployment-name', v.deploymentName, '--build-id', v.buildId, '--yes']);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`set-current-version ${v.deploymentName} ${v.buildId}: ${(err as { stderr?: string }).stderr ?? String(err)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

interface Ran { version: string; releaseId: string; group: number }

interface DeploymentDescription {
  routingConfig?: { currentVersionBuildID?: string };
  versionSummaries?: { BuildID?: string; drainageStatus?: string }[];
}

async function describeDeployment(name: string): Promise<{ current?: string; drainage: Record<string, string | undefined> }> {
  const d = JSON.parse(await temporal(['worker', 'deployment', 'describe', '--name', name, '--output', 'json'])) as DeploymentDescription;
  return {
    ...(d.routingConfig?.currentVersionBuildID ? { current: d.routingConfig.currentVersionBuildID } : {}),
    drainage: Object.fromEntries((d.versionSummaries ?? []).map((v) => [v.BuildID ?? '?', v.drainageStatus])),
  };
}

describe('Worker Versioning settings (runtime/config.ts)', () => {
  const errorsOf = (env: Record<string, string>) => {
    try { testWorkerConfig(env); return []; } catch (err) { if (err instanceof RuntimeConfigError) return err.errors; throw err; }
  };
  it('GANTRY_WORKER_DEPLOYMENT and GANTRY_BUILD_ID: both (a versioned worker) or neither (unversioned), checked with hints', () => {
    expect(testWorkerConfig({ GANTRY_WORKER_DEPLOYMENT: 'gantry', GANTRY_BUILD_ID: '1.4.2+abc1234' }).version).toEqual({ deploymentName: 'gantry', buildId: '1.4.2+abc1234' });
    expect(testWorkerConfig({}).version).toBeUndefined();
    expect(errorsOf({ GANTRY_WORKER_DEPLOYMENT: 'gantry' })).toEqual([expect.objectContaining({ path: 'GANTRY_BUILD_ID', message: expect.stringMatching(/is not set, but GANTRY_WORKER_DEPLOYMENT is/), hint: expect.stringMatching(/build id/) })]);
    expect(errorsOf({ GANTRY_BUILD_ID: 'v2' })).toEqual([expect.objectContaining({ path: 'GANTRY_WORKER_DEPLOYMENT', message: expect.stringMatching(/is not set, but GANTRY_BUILD_ID is/) })]);
    // The server's version string is <deployment>.<build id> (older) or <deployment>:<build id>: no dots or colons in the name.
    expect(errorsOf({ GANTRY_WORKER_DEPLOYMENT: 'gantry.prod', GANTRY_BUILD_ID: 'v2' })).toEqual([expect.objectContaining({ path: 'GANTRY_WORKER_DEPLOYMENT', message: expect.stringMatching(/no dots or colons.*got 'gantry\.prod'/) })]);
    expect(errorsOf({ GANTRY_WORKER_DEPLOYMENT: 'gantry', GANTRY_BUILD_ID: 'has space' })).toEqual([expect.objectContaining({ path: 'GANTRY_BUILD_ID' })]);
  });
});

describe('Worker Versioning: a release in flight keeps the code that started it', () => {
  it('a waiting release finishes PINNED on v1 with its original plan; a new release runs on v2 with the changed plan', async () => {
    const taskQueue = unique('tq-versioned');
    const deployment = unique('gantry');
    const v1: WorkerVersion = { deploymentName: deployment, buildId: 'v1' };
    const v2: WorkerVersion = { deploymentName: deployment, buildId: 'v2' };
    // One simulated cluster for both versions (the same cluster across an upgrade); each worker's
    // applyGroup notes that it ran, and on which version.
    const effects: SimEffect[] = [];
    const sim = createSimClusterActivities({ applyDelayMs: 50, readyDelayMs: 50, onEffect: (e) => effects.push(e) });
    const ran: Ran[] = [];
    const start = async (version: WorkerVersion, workflowsPath?: string) => {
      const worker = await createWorker({
        connection: native, taskQueue, version,
        activities: testActivities(taskQueue, {
          ...sim, ...createNotifyActivities([], () => undefined),
          applyGroup: (req: ApplyGroupRequest) => { ran.push({ version: version.buildId, releaseId: req.releaseId, group: req.group }); return sim.applyGroup(req); },
        }),
        ...(workflowsPath ? { extra: { workflowsPath } } : {}),
      });
      running.push({ worker, done: worker.run() });
    };
    const service = new GantryService(client, taskQueue);
    const versioningOf = async (workflowId: string) => {
      const info = (await client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo?.versioningInfo;
      return { behavior: info?.behavior, deploymentName: info?.deploymentVersion?.deploymentName, buildId: info?.deploymentVersion?.buildId };
    };
    const versioning = (app: string) => versioningOf(releaseWorkflowId(app, 'production'));
    const { PINNED, AUTO_UPGRADE } = { PINNED: 1, AUTO_UPGRADE: 2 }; // temporal.api.enums.v1.VersioningBehavior
    const applied = (app: string) => effects.filter((e) => e.kind === 'apply' && e.target === `${app}/production`)
      .map((e) => [e.group, e.cells!['zone-a']!.canary, e.cells!['zone-b']!.canary]);
    const ranFor = (app: string) => ran.filter((r) => r.releaseId.includes(app)).map((r) => `${r.group}:${r.version}`);

    // Version 1 serves; it becomes the deployment's current version (the first rollout does this once).
    await start(v1);
    await setCurrentVersion(v1);
    const before = unique('shop');
    await service.startRelease({ config: seedConfig(before), environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const waiting = await waitForStatus(service, before, 'production', (s) => s.phase === 'waiting-approval', 60_000);
    expect(waiting.group).toMatchObject({ current: 2, of: 3 });
    // The build catalog (an entity that never ends) starts on v1 too, but AUTO_UPGRADE (workflows/catalog.ts).
    const catalog = await client.workflow.start(buildCatalog, { workflowId: catalogWorkflowId(before), taskQueue, args: [{ app: before, builds: [] }] });
    await catalog.query(catalogQuery);
    expect(await versioningOf(catalog.workflowId)).toEqual({ behavior: AUTO_UPGRADE, deploymentName: deployment, buildId: 'v1' });

    // Version 2, with the changed release workflow, starts beside it and becomes current.
    await start(v2, v2Workflows);
    await setCurrentVersion(v2);
    // v1 still has an open pinned release: it is draining, not drained (its workers must stay up).
    const switched = await describeDeployment(deployment);
    expect(switched.current).toBe('v2');
    expect(switched.drainage.v1).toBe('draining');
    // What v1 waits for, as the README tells operators to list it (visibility is eventually consistent).
    const pinnedToV1 = async () => (JSON.parse(`[${(await temporal(['workflow', 'list', '--query', `TemporalWorkerDeploymentVersion='${deployment}:v1' AND ExecutionStatus='Running'`, '--output', 'jsonl'])).trim().split('\n').filter(Boolean).join(',')}]`) as { execution?: { workflowId?: string } }[])
      .map((w) => w.execution?.workflowId);
    const listDeadline = Date.now() + 30_000;
    let listed = await pinnedToV1();
    while (!(listed.includes(releaseWorkflowId(before, 'production')) && listed.includes(catalog.workflowId)) && Date.now() < listDeadline) { await new Promise((r) => setTimeout(r, 500)); listed = await pinnedToV1(); }
    // The pinned release, and the catalog (AUTO_UPGRADE: it moves at its next task, below).
    expect(listed.sort()).toEqual([catalog.workflowId, releaseWorkflowId(before, 'production')].sort());

    // A release started now runs v2's code: its plan has the extra step.
    const after = unique('shop');
    await service.startRelease({ config: seedConfig(after), environment: 'production', revision: { digest: DIGEST_B } }, caller('dave'));
    const waitingV2 = await waitForStatus(service, after, 'production', (s) => s.phase === 'waiting-approval', 60_000);
    expect(waitingV2.group).toMatchObject({ current: 2, of: 4 });
    expect(await versioning(after)).toEqual({ behavior: PINNED, deploymentName: deployment, buildId: 'v2' });

    // The catalog moves to v2 at its next task (a build that passed its gates).
    await catalog.signal(buildPassedSignal, { sha: 'abc1234', image: 'registry.local/shop/web', digest: DIGEST_B, passedAt: new Date().toISOString() });
    expect((await catalog.query(catalogQuery)).builds).toHaveLength(1);
    expect(await versioningOf(catalog.workflowId)).toEqual({ behavior: AUTO_UPGRADE, deploymentName: deployment, buildId: 'v2' });

    // The waiting release is still pinned to v1; approved, it finishes there with its original plan.
    expect(await versioning(before)).toEqual({ behavior: PINNED, deploymentName: deployment, buildId: 'v1' });
    await service.decide(before, 'production', 'approve', caller('alice'));
    const first = await service.waitForRelease(before, 'production');
    expect(first.phase).toBe('succeeded');
    expect(first.group.of).toBe(3);
    expect(applied(before)).toEqual([[0, 1, 1], [1, 3, 3], [2, 5, 5]]);
    expect(ranFor(before)).toEqual(['0:v1', '1:v1', '2:v1']);
    expect(await versioning(before)).toEqual({ behavior: PINNED, deploymentName: deployment, buildId: 'v1' });

    await service.decide(after, 'production', 'approve', caller('alice'));
    const second = await service.waitForRelease(after, 'production');
    expect(second.phase).toBe('succeeded');
    expect(applied(after)).toEqual([[0, 1, 1], [1, 3, 3], [2, 4, 4], [3, 5, 5]]);
    expect(ranFor(after)).toEqual(['0:v2', '1:v2', '2:v2', '3:v2']);

    // With its last pinned release closed, v1 drains: its workers may go.
    const deadline = Date.now() + 60_000;
    let last = await describeDeployment(deployment);
    while (last.drainage.v1 !== 'drained') {
      if (Date.now() > deadline) throw new Error(`v1 did not drain within 60 s: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 1000));
      last = await describeDeployment(deployment);
    }
    expect(last.current).toBe('v2');
    await catalog.terminate('test over');
  }, 240_000);

  it('switching versioning on: a release an unversioned worker started moves to the first current version', async () => {
    const taskQueue = unique('tq-switch');
    const v1: WorkerVersion = { deploymentName: unique('gantry'), buildId: 'v1' };
    const sim = createSimClusterActivities({ applyDelayMs: 50, readyDelayMs: 50 });
    const ran: Ran[] = [];
    const start = async (version?: WorkerVersion) => {
      const worker = await createWorker({
        connection: native, taskQueue, ...(version ? { version } : {}),
        activities: testActivities(taskQueue, {
          ...sim, ...createNotifyActivities([], () => undefined),
          applyGroup: (req: ApplyGroupRequest) => { ran.push({ version: version?.buildId ?? 'unversioned', releaseId: req.releaseId, group: req.group }); return sim.applyGroup(req); },
        }),
      });
      const r = { worker, done: worker.run() };
      running.push(r);
      return r;
    };
    const service = new GantryService(client, taskQueue);
    const app = unique('shop');
    const old = await start();
    await service.startRelease({ config: seedConfig(app), environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    await waitForStatus(service, app, 'production', (s) => s.phase === 'waiting-approval', 60_000);
    old.worker.shutdown();
    await old.done;

    await start(v1);
    await setCurrentVersion(v1);
    await service.decide(app, 'production', 'approve', caller('alice'));
    const final = await service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    expect(ran.map((r) => `${r.group}:${r.version}`)).toEqual(['0:unversioned', '1:unversioned', '2:v1']);
    const info = (await client.workflow.getHandle(releaseWorkflowId(app, 'production')).describe()).raw.workflowExecutionInfo?.versioningInfo;
    expect({ behavior: info?.behavior, buildId: info?.deploymentVersion?.buildId }).toEqual({ behavior: 1, buildId: 'v1' });
  }, 120_000);
});
