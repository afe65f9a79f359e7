// Issue 12, defect 8: the worker and the API read the same task-queue setting, and when no worker
// polls the queue a workflow runs on, the status and decisions say so at once (they used to hang
// 30 s and answer "Temporal is not reachable from the Gantry API"). Real Temporal dev server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@temporalio/client';
import { startApi } from '../../api/main.js';
import { GantryError } from '../../api/errors.js';
import { identityTable } from '../../api/auth.js';
import { GantryService } from '../../api/service.js';
import { taskQueueFrom, TASK_QUEUE } from '../../workflows/messages.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { caller } from '../support/release-harness.js';
import { connectClient, unique } from '../support/temporal.js';

let client: Client;
beforeAll(async () => { ({ client } = await connectClient()); });
afterAll(async () => { /* connections stay open until jest exits (test/support/keep-connections.ts) */ });

describe('one task-queue setting for the worker and the API', () => {
  it('taskQueueFrom reads GANTRY_TASK_QUEUE, defaults to gantry, and refuses a name with spaces', () => {
    expect(taskQueueFrom({})).toBe(TASK_QUEUE);
    expect(taskQueueFrom({ GANTRY_TASK_QUEUE: '  ' })).toBe(TASK_QUEUE);
    expect(taskQueueFrom({ GANTRY_TASK_QUEUE: 'team-a' })).toBe('team-a');
    expect(() => taskQueueFrom({ GANTRY_TASK_QUEUE: 'team a' })).toThrow(/GANTRY_TASK_QUEUE: give a task queue name without spaces/);
  });

  it('the API started with GANTRY_TASK_QUEUE starts workflows on that queue', async () => {
    const queue = unique('tq-env');
    const before = process.env.GANTRY_TASK_QUEUE;
    process.env.GANTRY_TASK_QUEUE = queue;
    try {
      const api = await startApi({
        client, listen: '127.0.0.1:0', identities: identityTable([]), logger: false,
        triggers: { repos: new Map(), github: { apiUrl: 'http://127.0.0.1:9' }, chat: { slack: new Map(), github: new Map() } },
      });
      try {
        expect(api.service.taskQueue).toBe(queue);
      } finally { await api.close(); }
    } finally {
      if (before === undefined) delete process.env.GANTRY_TASK_QUEUE; else process.env.GANTRY_TASK_QUEUE = before;
    }
  });
});

describe('no worker polling the queue', () => {
  it('status and decisions answer at once: "no worker is polling task queue X"', async () => {
    const queue = unique('nobody');
    const service = new GantryService(client, queue);
    const app = unique('tq');
    await service.startRelease({ config: seedConfig(app), environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const t0 = Date.now();
    const err = await service.status(app, 'production').catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(10_000); // it used to wait for the 30 s RPC deadline
    expect(err).toBeInstanceOf(GantryError);
    expect((err as GantryError).code).toBe('unavailable');
    expect((err as GantryError).message).toBe(`no worker is polling task queue '${queue}'`);
    expect((err as GantryError).hint).toMatch(new RegExp(`GANTRY_TASK_QUEUE=${queue}`));
    await expect(service.decide(app, 'production', 'abort', caller('alice', ['sre']))).rejects.toThrow(`no worker is polling task queue '${queue}'`);
    await client.workflow.getHandle(`release/${app}/production`).terminate('test over');
  });
});
