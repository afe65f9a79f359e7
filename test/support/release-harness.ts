// A worker (in this process, simulated cluster in memory) plus the command service, on the run's
// real Temporal dev server. Counts every simulated effect so tests can assert "applied once".
import type { Client, Connection } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createSimClusterActivities, type SimEffect, type SimOptions } from '../../activities/index.js';
import { createNotifyActivities } from '../../activities/notify.js';
import type { NotifyRequest } from '../../workflows/activity-types.js';
import { GantryService, type Caller } from '../../api/service.js';
import type { ReleaseStatus } from '../../core/release.js';
import type { GantryActivities } from '../../worker/activities.js';
import { createWorker } from '../../worker/worker.js';
import { testActivities } from './activities.js';
import { connectClient, connectNative, createTimeSkippingEnv, quietRuntime, unique } from './temporal.js';

export interface Harness {
  client: Client;
  service: GantryService;
  effects: SimEffect[];
  sim: ReturnType<typeof createSimClusterActivities>;
  /** Every notice the release workflows sent. */
  notices: NotifyRequest[];
  taskQueue: string;
  close(): Promise<void>;
}

/** `extraActivities` replace single activities of the full set (e.g. GitHub activities with a token). */
export async function startHarness(simOptions: SimOptions = {}, extraActivities: Partial<GantryActivities> = {}): Promise<Harness> {
  const { client, connection } = await connectClient();
  const native: NativeConnection = await connectNative();
  const effects: SimEffect[] = [];
  const sim = createSimClusterActivities({ ...simOptions, onEffect: (e) => effects.push(e) });
  const taskQueue = unique('tq');
  const notices: NotifyRequest[] = [];
  const worker: Worker = await createWorker({
    connection: native, taskQueue,
    activities: testActivities(taskQueue, { ...sim, ...createNotifyActivities([], (n) => notices.push(n)), ...extraActivities }),
  });
  const running = worker.run();
  const service = new GantryService(client, taskQueue);
  return {
    client, service, effects, sim, notices, taskQueue,
    async close() {
      worker.shutdown();
      await running;
      await native.close();
      await (connection as Connection).close();
    },
  };
}

export const caller = (id: string, groups: string[] = []): Caller => ({ identity: { id, groups }, channel: 'api' });

export async function waitForStatus(service: GantryService, app: string, env: string, until: (s: ReleaseStatus) => boolean, timeoutMs = 30_000): Promise<ReleaseStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ReleaseStatus | undefined;
  for (;;) {
    try {
      last = await service.status(app, env);
      if (until(last)) return last;
    } catch { /* not started yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for release status; last: ${last ? `${last.phase} ${last.summary}` : 'none'}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface TimeSkippingHarness {
  env: import('@temporalio/testing').TestWorkflowEnvironment;
  service: GantryService;
  notices: NotifyRequest[];
  close(): Promise<void>;
}

/** A worker (simulated cluster, notices recorded) on the real time-skipping test server. */
export async function startTimeSkippingHarness(prefix: string): Promise<TimeSkippingHarness> {
  quietRuntime();
  const env = await createTimeSkippingEnv();
  const taskQueue = unique(prefix);
  const notices: NotifyRequest[] = [];
  const worker = await createWorker({
    connection: env.nativeConnection, taskQueue,
    activities: testActivities(taskQueue, { ...createSimClusterActivities(), ...createNotifyActivities([], (n) => notices.push(n)) }),
  });
  const running = worker.run();
  const service = new GantryService(env.client, taskQueue);
  // The test server skips no time while an activity runs: no observer while a release waits.
  service.observeWhileWaiting = false;
  return {
    env, notices, service,
    async close() {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}
