// The worker process: `npm run worker`. Reads its configuration from the environment
// (runtime/config.ts: Temporal, the task queues, the role, the cluster, the pipeline's tools and
// directories, GitHub and Slack), connects to Temporal and runs what its role serves
// (GANTRY_WORKER_ROLE, activities from worker/activities.ts):
// - `all` (default): every workflow and activity; when GANTRY_BUILD_TASK_QUEUE names another queue,
//   a second worker in this process serves the source activities there;
// - `release`: the workflows and the cluster, notify, GitHub and catalog activities, on the task
//   queue; it never runs repository code;
// - `build`: only the pipeline's source activities (checkout, gates, build, registry, tag) on the
//   build task queue, no workflows; no cluster configuration is read and no token is needed.
// A configuration problem stops it at start with the setting and the fix.
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { describeAccess } from '../activities/k8s/choose.js';
import { GITHUB_TOKEN_ENV, loadWorkerConfig, RuntimeConfigError, SLACK_TOKEN_ENV, type WorkerConfig } from '../runtime/config.js';
import { describeTemporal, temporalConnectError } from '../runtime/temporal.js';
import { startHealthServer, workerHealthSource } from './health.js';
import { installTelemetry } from './telemetry.js';
import { GANTRY_VERSION } from '../runtime/version.js';
import { createBuildWorkerActivities, createGantryActivities, createReleaseWorkerActivities } from './activities.js';
import { createWorker, deploymentOptions, workflowCode } from './worker.js';
import { createGateLogActivities } from '../activities/gate-logs.js';
import { hostTaskQueue } from '../workflows/gate-log.js';

function clusterLine(c: WorkerConfig['cluster']): string {
  switch (c.kind) {
    case 'kubernetes': return `kubernetes via ${describeAccess(c.access)} (${c.why}), prometheus ${c.prometheusUrl ? `${c.prometheusUrl}${c.prometheusAccess?.auth ? ` (${c.prometheusAccess.auth.kind === 'basic' ? `basic auth as ${c.prometheusAccess.auth.username}` : 'bearer token'})` : ''}${c.prometheusAccess?.caFile ? ` (CA ${c.prometheusAccess.caFile})` : ''}` : 'none (analysis checks are inconclusive)'}`;
    case 'sim': return `simulated (${c.dir}; ${c.why})`;
    case 'none': return `none (${c.why})`;
    default: { const never: never = c; return String(never); }
  }
}

/** Credentials of the release side: a build worker's environment should have none of them. */
const BUILD_WORKER_SHOULD_NOT_HOLD = [GITHUB_TOKEN_ENV, SLACK_TOKEN_ENV, 'GANTRY_KUBECONFIG', 'KUBECONFIG', 'GANTRY_TOKENS'];

/** The Temporal workers of this process, by role (nothing is polled until they run). */
async function workersFor(config: WorkerConfig, connection: NativeConnection): Promise<Worker[]> {
  const { namespace } = config.temporal;
  const identity = (role: string) => `gantry-${role}-worker@${os.hostname()}-${process.pid}`;
  // Repository code only: no workflows, no cluster, no GitHub or Slack client.
  const build = () => Worker.create({
    connection, namespace, taskQueue: config.buildTaskQueue, identity: identity('build'), ...deploymentOptions(config.version),
    activities: createBuildWorkerActivities(config),
  });
  switch (config.role) {
    case 'build': return [await build()];
    case 'release': return [await Worker.create({
      connection, namespace, taskQueue: config.taskQueue, identity: identity('release'), ...deploymentOptions(config.version), ...workflowCode(config.workflowBundle),
      activities: createReleaseWorkerActivities(config),
    })];
    case 'all': {
      const all = await createWorker({ connection, activities: createGantryActivities(config), namespace, identity: identity('all'), ...(config.version ? { version: config.version } : {}), taskQueue: config.taskQueue, ...(config.workflowBundle ? { workflowBundle: config.workflowBundle } : {}) });
      return config.buildTaskQueue === config.taskQueue ? [all] : [all, await build()];
    }
    default: { const never: never = config.role; throw new Error(`unknown worker role ${String(never)}`); }
  }
}

async function main(): Promise<void> {
  const config = loadWorkerConfig(process.env);
  // Logs (pino JSON, or text) and Prometheus metrics (GANTRY_METRICS_ADDR): worker/telemetry.ts. Before any connection.
  const telemetry = installTelemetry(config, GANTRY_VERSION);
  if (telemetry.metricsAddr) console.log(`gantry worker: metrics at http://${telemetry.metricsAddr}/metrics`);
  if (config.cluster.kind === 'sim' && config.cluster.warning) console.warn(`gantry worker: warning: ${config.cluster.warning}`);
  if (config.role === 'build') {
    // Not used by a build worker, but within reach of the code it runs (names only, never values).
    const held = BUILD_WORKER_SHOULD_NOT_HOLD.filter((n) => process.env[n]?.trim());
    if (held.length) console.warn(`gantry worker: warning: a build worker runs repository code and should not hold ${held.join(', ')}: remove ${held.length === 1 ? 'it' : 'them'} from its environment`);
  }
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(config.temporal.connection);
  } catch (err) {
    throw temporalConnectError(config.temporal, err);
  }
  // Probes (GANTRY_HEALTH_ADDR, worker/health.ts), served before the workers exist: liveness answers while workflows are bundled.
  const started: Worker[] = [];
  const health = config.healthAddr ? await startHealthServer(config.healthAddr, workerHealthSource(connection, config.temporal, () => started)) : undefined;
  const roleWorkers = await workersFor(config, connection);
  // Gate logs stay on this machine's disk: a queue of this host lets the API read their tails (workflows/gate-log.ts).
  const logQueue = hostTaskQueue(config.buildTaskQueue, os.hostname(), path.normalize(config.pipeline.logDir));
  const logs = config.role === 'release' ? undefined : await Worker.create({
    connection, namespace: config.temporal.namespace, taskQueue: logQueue, identity: `gantry-logs-worker@${os.hostname()}-${process.pid}`,
    ...deploymentOptions(config.version), activities: createGateLogActivities({ logDir: config.pipeline.logDir }),
  });
  const workers = logs ? [...roleWorkers, logs] : roleWorkers;
  started.push(...workers);
  const queues = roleWorkers.map((w) => w.options.taskQueue).join(' and ');
  console.log(`gantry worker: role ${config.role}, task queue ${queues} on ${describeTemporal(config.temporal)}, cluster: ${clusterLine(config.cluster)}${config.role === 'build' ? '' : `, workflows ${config.workflowBundle ? `from the prebuilt bundle ${config.workflowBundle}` : 'bundled from the sources'}`}`);
  // After the role line: tests and supervisors take the first 'gantry worker: role' line as "polling".
  console.log(config.version
    ? `gantry worker: Worker Deployment ${config.version.deploymentName}, build id ${config.version.buildId}: the workflows it starts are pinned to this build (README "Upgrading Gantry")`
    : 'gantry worker: unversioned (no GANTRY_WORKER_DEPLOYMENT/GANTRY_BUILD_ID): every change to workflows/ must replay old histories (patched())');
  if (logs) console.log(`gantry worker: gate logs of this host readable through task queue ${logQueue}`);
  const stop = () => { for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // One stopping (a fatal error) stops the others, so the process exits and its supervisor restarts it.
  await Promise.all(workers.map((w) => w.run().finally(stop)));
  await health?.close();
  await connection.close();
}

main().catch((err: unknown) => {
  if (err instanceof RuntimeConfigError) console.error(`gantry worker: configuration:\n${err.message}`);
  else console.error('gantry worker failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
