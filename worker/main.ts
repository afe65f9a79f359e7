// The worker process: `npm run worker`. Reads its configuration from the environment
// (runtime/config.ts: Temporal, the task queue, the cluster, the pipeline's tools and directories,
// GitHub and Slack), connects to Temporal and runs every workflow and activity (worker/activities.ts).
// A configuration problem stops it at start with the setting and the fix.
import os from 'node:os';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { describeAccess } from '../activities/k8s/choose.js';
import { loadWorkerConfig, RuntimeConfigError, type WorkerConfig } from '../runtime/config.js';
import { describeTemporal, temporalConnectError } from '../runtime/temporal.js';
import { createGantryActivities } from './activities.js';
import { createWorker } from './worker.js';

function clusterLine(c: WorkerConfig['cluster']): string {
  switch (c.kind) {
    case 'kubernetes': return `kubernetes via ${describeAccess(c.access)} (${c.why}), prometheus ${c.prometheusUrl ?? 'none (analysis checks are inconclusive)'}`;
    case 'sim': return `simulated (${c.dir}; ${c.why})`;
    default: { const never: never = c; return String(never); }
  }
}

async function main(): Promise<void> {
  const config = loadWorkerConfig(process.env);
  Runtime.install({ logger: new DefaultLogger(config.logLevel.toUpperCase() as LogLevel) });
  if (config.cluster.kind === 'sim' && config.cluster.warning) console.warn(`gantry worker: warning: ${config.cluster.warning}`);
  const activities = createGantryActivities(config);
  const { namespace } = config.temporal;
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(config.temporal.connection);
  } catch (err) {
    throw temporalConnectError(config.temporal, err);
  }
  const worker = await createWorker({
    connection, activities, namespace, identity: `gantry-worker@${os.hostname()}-${process.pid}`, taskQueue: config.taskQueue,
  });
  console.log(`gantry worker: task queue ${worker.options.taskQueue} on ${describeTemporal(config.temporal)}, cluster: ${clusterLine(config.cluster)}`);
  const stop = () => worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  await connection.close();
}

main().catch((err: unknown) => {
  if (err instanceof RuntimeConfigError) console.error(`gantry worker: configuration:\n${err.message}`);
  else console.error('gantry worker failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
