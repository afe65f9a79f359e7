// Durability: the worker is a separate process, killed with SIGKILL (kill -9) while a release waits
// in a pause and while it is applying a group, then restarted. The release completes, and the
// simulated cluster's effect log proves that no group was applied twice.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Connection } from '@temporalio/client';
import { readEffects } from '../../activities/index.js';
import { GantryService } from '../../api/service.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { caller, waitForStatus } from '../support/release-harness.js';
import { connectClient, testAddress, unique } from '../support/temporal.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
let connection: Connection;
let service: GantryService;
let taskQueue: string;
let simDir: string;
const workers: ChildProcess[] = [];

function startWorker(applyDelayMs: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'worker', 'main.ts')], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '', TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: taskQueue, GANTRY_SIM_DIR: simDir,
      GANTRY_SIM_APPLY_DELAY_MS: String(applyDelayMs), GANTRY_SIM_READY_DELAY_MS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      output += b.toString();
      if (output.includes('gantry worker: role')) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready:\n${output}`)));
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    process.kill(child.pid!, 'SIGKILL');
  });
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  const c = await connectClient();
  connection = c.connection;
  taskQueue = unique('kill9');
  service = new GantryService(c.client, taskQueue);
});
afterEach(async () => {
  for (const w of workers.splice(0)) if (w.exitCode === null && w.signalCode === null) await kill9(w);
});
afterAll(async () => { await connection?.close(); });

describe('kill -9 of the worker (real dev server, worker in its own process)', () => {
  it('while the release waits in a pause: completes after a restart, each group applied once', async () => {
    simDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-kill9-'));
    const app = unique('shop');
    const config = seedConfig(app, { groups: [{ pods: 1, confirm: { type: 'pause', duration: '6s' } }, { pods: 2 }, { pods: 'rest' }] });
    const w1 = await startWorker(0);
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const paused = await waitForStatus(service, app, 'production', (s) => s.phase === 'waiting');
    expect(paused.waiting?.on).toBe('timer');
    await kill9(w1);
    expect(w1.signalCode).toBe('SIGKILL');
    await startWorker(0);
    const final = await service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    const applied = readEffects(path.join(simDir, 'effects.jsonl')).filter((e) => e.kind === 'apply');
    expect(applied.map((e) => e.group)).toEqual([0, 1, 2]);
    expect(applied.map((e) => e.cells!['zone-a']!.canary)).toEqual([1, 3, 5]);
  });

  it('while a group is being applied: the activity is retried, the group takes effect exactly once', async () => {
    simDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-kill9-'));
    const effectsFile = path.join(simDir, 'effects.jsonl');
    const app = unique('shop');
    const config = seedConfig(app, { groups: [{ pods: 1 }, { pods: 'rest' }] });
    const w1 = await startWorker(4000);
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    await until(() => readEffects(effectsFile).some((e) => e.kind === 'apply-start' && e.group === 1), 'group 1 to start applying');
    await kill9(w1);
    expect(readEffects(effectsFile).filter((e) => e.kind === 'apply' && e.group === 1)).toHaveLength(0); // killed mid-apply
    await startWorker(4000);
    const final = await service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    const effects = readEffects(effectsFile);
    expect(effects.filter((e) => e.kind === 'apply').map((e) => e.group)).toEqual([0, 1]);
    const starts = effects.filter((e) => e.kind === 'apply-start' && e.group === 1);
    expect(starts.length).toBe(2); // the interrupted attempt and its retry
    expect(starts[1]!.runAttempt).toBeGreaterThan(starts[0]!.runAttempt);
    expect(final.cells.every((c) => c.canary === 5)).toBe(true);
  });
});
