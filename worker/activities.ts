// The one composition root of Gantry's activities: every activity a workflow calls, built from the
// worker's configuration (runtime/config.ts). Used by the worker process, `npm start` (through the
// worker process), `npm run demo` and the test harnesses, which replace single members (a simulated
// cluster that counts its effects, a notify that records notices) with `overrides`.
//
// Split in two for a split install (GANTRY_WORKER_ROLE, runtime/config.ts): the build activities
// run repository code (checkout, gates, build, registry, tag) and get nothing of the cluster, GitHub
// or Slack; the release activities hold those and never run repository code.
import fs from 'node:fs';
import path from 'node:path';
import type { GitHubActivities } from '../activities/github.js';
import { createGitHubActivities, createPipelineActivities, createSimClusterActivities, slackNoticeSink } from '../activities/index.js';
import { createCatalogActivities } from '../activities/catalog.js';
import { createKubernetesActivities, type KubernetesActivityOptions } from '../activities/k8s/index.js';
import { createNotifyActivities } from '../activities/notify.js';
import type { ActivitySettings, ClusterSettings, Env, PrometheusAccess } from '../runtime/config.js';
import type { PrometheusAuth, PrometheusClientOptions } from '../activities/k8s/prometheus.js';
import type { CatalogActivities, NotifyActivities, ReleaseActivities } from '../workflows/activity-types.js';
import type { PipelineActivities } from '../workflows/pipeline-activity-types.js';

/**
 * Every activity contract a workflow calls (workflows/release.ts, pipeline.ts, train.ts): a worker
 * typed with it cannot be started without one of them.
 */
export type GantryActivities = ReleaseActivities & PipelineActivities & CatalogActivities & NotifyActivities & GitHubActivities;

/** What a build worker serves: the pipeline's source activities, which run repository code. */
export type BuildActivities = PipelineActivities;
/** What a release worker serves besides the workflows: everything but repository code. */
export type ReleaseWorkerActivities = Omit<GantryActivities, keyof PipelineActivities>;

/** The names of the source activities (a compile error when PipelineActivities gains one not listed). */
export const BUILD_ACTIVITY_NAMES = ['checkout', 'runGate', 'buildImage', 'verifyImage', 'resolveDigest', 'promoteImage', 'deleteImage', 'tagRelease'] as const satisfies readonly (keyof PipelineActivities)[];
type Unlisted = Exclude<keyof PipelineActivities, (typeof BUILD_ACTIVITY_NAMES)[number]>;
const everyBuildActivityListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyBuildActivityListed;

/**
 * Prometheus's client options: the secrets are read from `env` (or the token file) when a query is
 * made, through functions, so the options carry no secret value.
 */
export function prometheusOptions(url: string, access: PrometheusAccess | undefined, env: Env): PrometheusClientOptions {
  const a = access?.auth;
  let auth: PrometheusAuth | undefined;
  switch (a?.kind) {
    case undefined: break;
    case 'bearer': auth = { kind: 'bearer', setting: a.tokenEnv, token: () => env[a.tokenEnv]?.trim() ?? '' }; break;
    case 'bearer-file': auth = { kind: 'bearer', setting: `GANTRY_PROMETHEUS_TOKEN_FILE (${a.tokenFile})`, token: () => fs.readFileSync(a.tokenFile, 'utf8').trim() }; break;
    case 'basic': auth = { kind: 'basic', setting: `GANTRY_PROMETHEUS_USERNAME (${a.username}) and ${a.passwordEnv}`, username: a.username, password: () => env[a.passwordEnv] ?? '' }; break;
    default: { const never: never = a; throw new Error(`unknown Prometheus auth ${JSON.stringify(never)}`); }
  }
  return { url, ...(auth ? { auth } : {}), ...(access?.caFile ? { caFile: access.caFile } : {}) };
}

/** The Kubernetes client options of a cluster setting (kubeconfig file, default loading, or the pod's service account). */
export function kubernetesOptions(c: Extract<ClusterSettings, { kind: 'kubernetes' }>, env: Env = {}): KubernetesActivityOptions {
  const a = c.access;
  return {
    ...(a.kind === 'kubeconfig' ? { kubeconfig: a.path } : {}),
    ...(a.kind === 'in-cluster' ? { inCluster: { pathPrefix: a.pathPrefix } } : {}),
    ...(c.context ? { context: c.context } : {}),
    ...(c.prometheusUrl ? { prometheusUrl: c.prometheusUrl, prometheus: prometheusOptions(c.prometheusUrl, c.prometheusAccess, env) } : {}),
    ...(c.drainGrace ? { defaultDrainGrace: c.drainGrace } : {}),
  };
}

function clusterActivities(c: ClusterSettings, env: Env): ReleaseActivities {
  switch (c.kind) {
    case 'none': throw new Error(`this worker has no cluster (${c.why}): it cannot serve releases; run a release worker (GANTRY_WORKER_ROLE=release or all)`);
    case 'kubernetes': return createKubernetesActivities(kubernetesOptions(c, env));
    case 'sim': return createSimClusterActivities({
      stateFile: path.join(c.dir, 'cluster.json'), effectsFile: path.join(c.dir, 'effects.jsonl'),
      applyDelayMs: c.applyDelayMs, readyDelayMs: c.readyDelayMs,
    });
    default: { const never: never = c; throw new Error(`unknown cluster ${JSON.stringify(never)}`); }
  }
}

/**
 * Builds every activity set from the configuration; `overrides` replace single activities (tests).
 * Nothing is contacted or written here: the clients connect when an activity runs.
 */
export function createGantryActivities(config: ActivitySettings, overrides: Partial<GantryActivities> = {}): GantryActivities {
  return { ...createReleaseWorkerActivities(config), ...createBuildWorkerActivities(config), ...overrides };
}

/** The build worker's activities: repository code only; no cluster, GitHub or Slack client. */
export function createBuildWorkerActivities(config: Pick<ActivitySettings, 'pipeline' | 'env'>, overrides: Partial<BuildActivities> = {}): BuildActivities {
  return { ...createPipelineActivities({ ...config.pipeline, env: config.env as NodeJS.ProcessEnv }), ...overrides };
}

/** The release worker's activities: cluster, notify, GitHub, catalog; no repository code. */
export function createReleaseWorkerActivities(config: ActivitySettings, overrides: Partial<ReleaseWorkerActivities> = {}): ReleaseWorkerActivities {
  const env = config.env;
  const publicUrl = config.publicUrl ? { publicUrl: config.publicUrl } : {};
  const sinks = config.slack.enabled
    ? [slackNoticeSink({ baseUrl: config.slack.apiUrl, tokenEnv: config.slack.tokenEnv, env, ...(config.slack.channel ? { channel: config.slack.channel } : {}), ...publicUrl })]
    : [];
  return {
    ...clusterActivities(config.cluster, env),
    ...createNotifyActivities(sinks),
    ...createGitHubActivities({ baseUrl: config.github.apiUrl, tokenEnv: config.github.tokenEnv, env, ...(config.github.app ? { app: config.github.app } : {}), ...publicUrl }),
    ...createCatalogActivities({ taskQueue: config.taskQueue }),
    ...overrides,
  };
}
