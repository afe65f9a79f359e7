// Worker construction shared by the worker process, tests and benchmarks.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { TASK_QUEUE } from '../workflows/messages.js';
import type { NotifyActivities, ReleaseActivities } from '../workflows/activity-types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The workflow bundle entry, as TypeScript source (the bundler compiles it). */
export const workflowsPath = path.join(here, '..', 'workflows', 'index.ts');

export interface GantryWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /** Release activities (a cluster), notify, and any others the workflows call. */
  activities: ReleaseActivities & Partial<NotifyActivities> & object;
  identity?: string;
  extra?: Partial<WorkerOptions>;
}

export async function createWorker(o: GantryWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace ?? 'default',
    taskQueue: o.taskQueue ?? TASK_QUEUE,
    workflowsPath,
    activities: o.activities,
    ...(o.identity ? { identity: o.identity } : {}),
    ...o.extra,
  });
}
