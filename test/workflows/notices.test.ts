// A decision that arrives while the release is sending a notice is not lost: the workflow decides
// again before it waits (regression: the approval used to be swallowed and the release hung).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Connection } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createSimClusterActivities } from '../../activities/index.js';
import { createNotifyActivities } from '../../activities/notify.js';
import { GantryService } from '../../api/service.js';
import type { NotifyRequest } from '../../workflows/activity-types.js';
import { createWorker } from '../../worker/worker.js';
import { testActivities } from '../support/activities.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { caller } from '../support/release-harness.js';
import { connectClient, connectNative, unique } from '../support/temporal.js';

let connection: Connection;
let native: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let service: GantryService;
const started: NotifyRequest[] = [];

beforeAll(async () => {
  const c = await connectClient();
  connection = c.connection;
  native = await connectNative();
  const taskQueue = unique('notices');
  // A slow chat sink: each notice takes 1.5 s to deliver.
  const slowSink = async () => { await new Promise((r) => setTimeout(r, 1500)); return true; };
  worker = await createWorker({ connection: native, taskQueue, activities: testActivities(taskQueue, { ...createSimClusterActivities(), ...createNotifyActivities([slowSink], (n) => started.push(n)) }) });
  running = worker.run();
  service = new GantryService(c.client, taskQueue);
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await native?.close();
  await connection?.close();
});

describe('notices and decisions', () => {
  it('an approval sent while the waiting notice is being delivered moves the release on', async () => {
    const app = unique('shop');
    const config = seedConfig(app, { groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest' }] });
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const deadline = Date.now() + 30_000;
    while (!started.some((n) => n.app === app)) {
      if (Date.now() > deadline) throw new Error('no notice was sent');
      await new Promise((r) => setTimeout(r, 20));
    }
    // The notice is in flight (1.5 s): approve now.
    await service.decide(app, 'production', 'approve', caller('alice'));
    const outcome = await Promise.race([
      service.waitForRelease(app, 'production').then((s) => s.phase),
      new Promise<string>((r) => setTimeout(() => r('still waiting after 20 s'), 20_000)),
    ]);
    expect(outcome).toBe('succeeded');
    const final = await service.status(app, 'production');
    expect(final.events.filter((e) => e.type === 'notice')).toHaveLength(1);
  });
});
