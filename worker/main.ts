// The worker process: `npm run worker`. Connects to TEMPORAL_ADDRESS (or the embedded dev server),
// runs the release and pipeline workflows and the cluster activities.
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { createGitHubActivities, createPipelineActivities, createSimClusterActivities } from '../activities/index.js';
import { DEFAULT_SLACK_TOKEN_ENV, slackNoticeSink } from '../activities/slack.js';
import { createNotifyActivities } from '../activities/notify.js';
import { createCatalogActivities } from '../activities/catalog.js';
import { createWorker } from './worker.js';
import { taskQueueFrom } from '../workflows/messages.js';
import { createKubernetesActivities } from '../activities/k8s/index.js';
import { chooseCluster } from '../activities/k8s/choose.js';
import { apiserverReady } from '../testbed/k8s/client.js';
import { kubeconfigPath } from '../testbed/k8s/config.js';
import { prometheusUrl } from '../testbed/prometheus.js';
import { temporalAddress } from '../testbed/temporal.js';
import { buildctlBin, embeddedBuildkitAddr, hadolintBin, pipelineLogDir, stateDir, workspaceDir } from '../testbed/paths.js';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger((process.env.GANTRY_LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel) });
  const address = temporalAddress();
  // The cluster: Kubernetes (GANTRY_CLUSTER=kubernetes, a configured kubeconfig, or the local test bed
  // up) or the simulated one; see activities/k8s/choose.ts.
  const cluster = await chooseCluster(process.env, { kubeconfig: kubeconfigPath, up: apiserverReady });
  const simDir = process.env.GANTRY_SIM_DIR ?? path.join(stateDir, 'sim');
  const clusterActivities = cluster.kind === 'kubernetes'
    ? createKubernetesActivities({
      ...(cluster.kubeconfig ? { kubeconfig: cluster.kubeconfig } : {}),
      ...(process.env.GANTRY_KUBE_CONTEXT ? { context: process.env.GANTRY_KUBE_CONTEXT } : {}),
      prometheusUrl: prometheusUrl(),
      ...(process.env.GANTRY_DRAIN_GRACE ? { defaultDrainGrace: process.env.GANTRY_DRAIN_GRACE } : {}),
    })
    : createSimClusterActivities({
      stateFile: path.join(simDir, 'cluster.json'),
      effectsFile: path.join(simDir, 'effects.jsonl'),
      applyDelayMs: Number(process.env.GANTRY_SIM_APPLY_DELAY_MS ?? 1000),
      readyDelayMs: Number(process.env.GANTRY_SIM_READY_DELAY_MS ?? 1000),
    });
  // Checkout, gates, build and registry activities (the pipeline's first half), next to the cluster ones.
  const pipelineActivities = createPipelineActivities({
    workspaceRoot: process.env.GANTRY_WORKSPACE_DIR ?? workspaceDir,
    logDir: process.env.GANTRY_PIPELINE_LOG_DIR ?? pipelineLogDir,
    buildkitAddr: process.env.GANTRY_BUILDKIT_ADDR ?? embeddedBuildkitAddr,
    buildctlBin: process.env.GANTRY_BUILDCTL ?? buildctlBin,
    hadolintBin: process.env.GANTRY_HADOLINT ?? hadolintBin,
  });
  // Status back to GitHub, approval messages in Slack (triggers issue): configured by env on the worker
  // (GANTRY_GITHUB_API_URL, GANTRY_GITHUB_TOKEN; GANTRY_SLACK_API_URL, SLACK_BOT_TOKEN, GANTRY_SLACK_CHANNEL).
  // Release notices also go to Slack, with Approve/Reject buttons, when the worker has a bot token.
  const sinks = process.env[DEFAULT_SLACK_TOKEN_ENV] ? [slackNoticeSink()] : [];
  // The build catalog and release state, for release trains (through the worker's own Temporal client).
  const taskQueue = taskQueueFrom(process.env);
  const catalog = createCatalogActivities({ taskQueue });
  const activities = { ...clusterActivities, ...pipelineActivities, ...createNotifyActivities(sinks), ...createGitHubActivities(), ...catalog };
  const connection = await NativeConnection.connect({ address });
  const worker = await createWorker({
    connection, activities, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default', identity: `gantry-worker@${process.pid}`,
    taskQueue,
  });
  console.log(`gantry worker: task queue ${worker.options.taskQueue} on ${address}, cluster: ${cluster.kind === 'kubernetes' ? `kubernetes (${cluster.kubeconfig ?? 'default kubeconfig'}; ${cluster.why}), prometheus ${prometheusUrl()}` : `simulated (${simDir}; ${cluster.why})`}`);
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
