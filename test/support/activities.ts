// Activity sets for tests, built by the production composition root (worker/activities.ts) from a
// configuration read the production way (runtime/config.ts), with single members overridden: a
// worker in a test serves every activity a workflow calls, like the real one.
import os from 'node:os';
import path from 'node:path';
import { loadWorkerConfig, type WorkerConfig } from '../../runtime/config.js';
import { createGantryActivities, type GantryActivities } from '../../worker/activities.js';

/**
 * A worker configuration for tests: the simulated cluster, a scratch data dir, and only PATH and
 * HOME of this process's environment (a developer's GitHub or Slack token never reaches a test).
 */
export function testWorkerConfig(env: Record<string, string | undefined> = {}): WorkerConfig {
  return loadWorkerConfig({
    PATH: process.env.PATH, HOME: process.env.HOME,
    GANTRY_CLUSTER: 'sim', GANTRY_DATA_DIR: path.join(os.tmpdir(), 'gantry-test-data'),
    ...env,
  });
}

/** Every activity, for a worker on `taskQueue`, with `overrides` replacing single members. */
export function testActivities(taskQueue: string, overrides: Partial<GantryActivities> = {}, env: Record<string, string | undefined> = {}): GantryActivities {
  return createGantryActivities(testWorkerConfig({ GANTRY_TASK_QUEUE: taskQueue, ...env }), overrides);
}
