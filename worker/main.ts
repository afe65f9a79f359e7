// The worker process: `npm run worker`. Connects to TEMPORAL_ADDRESS (or the embedded dev server),
// runs the release and pipeline workflows and the cluster activities.
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { createSimClusterActivities } from '../activities/index.js';
import { createWorker } from './worker.js';
import { temporalAddress } from '../testbed/temporal.js';
import { stateDir } from '../testbed/paths.js';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger((process.env.GANTRY_LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel) });
  const address = temporalAddress();
  const cluster = process.env.GANTRY_CLUSTER ?? 'sim';
  if (cluster !== 'sim') throw new Error(`GANTRY_CLUSTER=${cluster}: only 'sim' (the simulated cluster) exists until the Kubernetes activities land`);
  const simDir = process.env.GANTRY_SIM_DIR ?? path.join(stateDir, 'sim');
  const activities = createSimClusterActivities({
    stateFile: path.join(simDir, 'cluster.json'),
    effectsFile: path.join(simDir, 'effects.jsonl'),
    applyDelayMs: Number(process.env.GANTRY_SIM_APPLY_DELAY_MS ?? 1000),
    readyDelayMs: Number(process.env.GANTRY_SIM_READY_DELAY_MS ?? 1000),
  });
  const connection = await NativeConnection.connect({ address });
  const worker = await createWorker({
    connection, activities, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default', identity: `gantry-worker@${process.pid}`,
    ...(process.env.GANTRY_TASK_QUEUE ? { taskQueue: process.env.GANTRY_TASK_QUEUE } : {}),
  });
  console.log(`gantry worker: task queue ${worker.options.taskQueue} on ${address}, cluster: simulated (${simDir})`);
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  await connection.close();
}

main().catch((err: unknown) => {
  console.error('gantry worker failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
