// `npm start` as a dependable embedded default (issue 12, defect 12): one SIGTERM stops it cleanly
// (it used to crash with "IllegalStateError: Not running. Current state: DRAINING"), its worker
// serves every activity the workflows call (a release train's newestBuild used to be "not
// registered"), and its API logs errors (a 500 points at that log). The process runs for real
// against the run's Temporal dev server, with its own GANTRY_HOME.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { testAddress, unique, connectClient } from '../support/temporal.js';
import { seedConfig } from '../support/fixtures.js';

jest.setTimeout(180_000);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const children: ChildProcess[] = [];
afterAll(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

function startGantry(taskQueue: string, token: string): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-start-'));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'testbed', 'start.ts')], {
    cwd: root,
    env: {
      ...process.env, NODE_OPTIONS: '', GANTRY_HOME: home, TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: taskQueue,
      GANTRY_API_ADDR: '127.0.0.1:0', GANTRY_TOKENS: JSON.stringify({ [token]: { id: 'alice', groups: ['sre'] } }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /API +(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m && out.includes('Gantry is running')) { clearInterval(timer); resolve({ child, url: m[1]!, output: () => out }); }
    }, 100);
    child.once('exit', (code) => { clearInterval(timer); reject(new Error(`npm start exited (${code}) before it was ready:\n${out}`)); });
  });
}

describe('npm start', () => {
  it('serves release trains (catalog activities registered) and stops cleanly on one SIGTERM', async () => {
    const token = `token-${unique('tok')}-0123456789abcdef`;
    const taskQueue = unique('start');
    const g = await startGantry(taskQueue, token);
    const app = unique('shop');
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`${g.url}/v1/trains`, { method: 'POST', headers: auth, body: JSON.stringify({ config: seedConfig(app), environment: 'production', cron: ['0 3 1 1 *'], paused: true }) });
    expect(created.status).toBe(201);
    expect((await fetch(`${g.url}/v1/trains/${app}/production/trigger`, { method: 'POST', headers: { authorization: auth.authorization } })).status).toBe(200);

    // The departure asks the build catalog for the newest build: it runs to a decision on this worker.
    const { client } = await connectClient();
    const deadline = Date.now() + 60_000;
    let result: { decision?: { kind: string; reason: string } } | undefined;
    while (!result && Date.now() < deadline) {
      for await (const w of client.workflow.list({ query: `WorkflowType = 'releaseTrain' AND WorkflowId STARTS_WITH 'train-run/${app}/'` })) {
        if (w.status.name === 'COMPLETED') result = await client.workflow.getHandle(w.workflowId, w.runId).result() as typeof result;
        else if (w.status.name !== 'RUNNING') throw new Error(`the train run ended ${w.status.name}:\n${g.output()}`);
      }
      if (!result) await new Promise((r) => setTimeout(r, 250));
    }
    expect(result?.decision).toEqual({ kind: 'skip', reason: 'no build has passed its gates yet' });
    expect(g.output()).not.toMatch(/not registered/);

    const exited = new Promise<number | null>((resolve) => g.child.once('exit', (code) => resolve(code)));
    g.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(g.output()).not.toMatch(/IllegalStateError|DRAINING|Unhandled|failed to start/);
    expect(g.output()).toMatch(/stopping Gantry/);
  });
});
