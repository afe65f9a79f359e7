// Issue 12: with three releases whose workflow tasks ran past the SDK's 5 s deadlock timeout,
// `npm start` (worker and API in one process) died with "async hook stack has become corrupted".
// The cause, reproduced here: when Node's vm timeout stops workflow code that runs inside a
// CancellationScope (an AsyncLocalStorage context), Node ends the whole process, although workflows
// run in a worker thread (nodejs/node#38503). What must outlive a bad workflow therefore runs apart
// from the worker: superviseWorker (worker/worker.ts) runs the worker as a child process and starts
// it again. This test is that parent: it survives, the worker comes back, the stuck workflow can be
// stopped and other workflows run. (Real dev server of the run; about half a minute.)
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { superviseWorker } from '../../worker/worker.js';
import { connectClient, testAddress, unique } from '../support/temporal.js';

const entry = fileURLToPath(new URL('./support/stuck-worker.ts', import.meta.url));

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('superviseWorker', () => {
  const exitWith = fileURLToPath(new URL('./support/exit-with.mjs', import.meta.url));
  const run = (code: number) => {
    const exits: { code: number | null; restartInMs?: number }[] = [];
    const w = superviseWorker({ entry: exitWith, args: [String(code)], execArgv: [], stdio: 'pipe', restartDelayMs: 20, maxRestartDelayMs: 80, onExit: ({ code: c, restartInMs }) => { exits.push({ code: c, ...(restartInMs !== undefined ? { restartInMs } : {}) }); } });
    return { w, exits };
  };

  it('starts a worker that died again, waiting longer each time it keeps dying', async () => {
    const { w, exits } = run(3);
    await w.started(5);
    await w.stop();
    expect(exits.slice(0, 4)).toEqual([{ code: 3, restartInMs: 20 }, { code: 3, restartInMs: 40 }, { code: 3, restartInMs: 80 }, { code: 3, restartInMs: 80 }]);
    expect(w.restarts).toBeGreaterThanOrEqual(4);
    await w.done;
  });

  it('a worker that exits cleanly (asked to stop, drained) is not started again', async () => {
    const { w, exits } = run(0);
    await w.done;
    expect(exits).toEqual([{ code: 0 }]);
    expect(w.restarts).toBe(0);
  });
});

describe('a workflow task that never ends', () => {
  it('kills its worker process, not the supervising one; the worker is started again and runs other workflows', async () => {
    const taskQueue = unique('stuck');
    let output = '';
    const exits: { code: number | null; signal: NodeJS.Signals | null; restartInMs?: number }[] = [];
    const worker = superviseWorker({
      entry, execArgv: ['--import', 'tsx'], stdio: 'pipe', restartDelayMs: 200, maxRestartDelayMs: 1_000,
      env: { ...process.env, GANTRY_TEST_TEMPORAL_ADDRESS: testAddress(), GANTRY_TEST_TASK_QUEUE: taskQueue },
      onOutput: (t) => { output += t; },
      onExit: (e) => { exits.push(e); },
    });
    const { client, connection } = await connectClient();
    try {
      await until('the worker to poll', () => /stuck-worker \d+ polling/.test(output));
      const stuck = await client.workflow.start('stuckInScope', { taskQueue, workflowId: unique('stuck') });
      await until('the worker to die', () => exits.length > 0);
      expect(output).toMatch(/async hook stack has become corrupted/);
      expect(exits[0]).toMatchObject({ restartInMs: 200 });
      expect(exits[0]!.code).not.toBe(0);
      // This process lives on, and so does the worker: started again by the supervisor.
      await worker.started(2);
      expect(worker.restarts).toBeGreaterThanOrEqual(1);
      await stuck.terminate('a workflow task that never ends');
      await expect(client.workflow.execute('ping', { taskQueue, workflowId: unique('ping'), workflowTaskTimeout: '2s' })).resolves.toBe('pong');
    } finally {
      await worker.stop();
      await connection.close();
    }
    await worker.done;
    // Stopped: SIGTERM drains the worker (the SDK's own handler), it exits cleanly and is not restarted.
    expect(exits.at(-1)).toEqual({ code: 0, signal: null });
  }, 180_000);
});
