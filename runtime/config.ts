// The runtime configuration of Gantry's processes: the environment turned into one typed, validated
// config per process (the worker's and the API's), with PRODUCTION defaults. One module for both
// because they share the Temporal connection, the task queue and the log level, and `npm start`
// runs both: one list of settings, one set of error messages.
//
// Nothing here knows the local test bed: `npm start`, `npm run demo` and the tests set the variables
// (TEMPORAL_ADDRESS, GANTRY_KUBECONFIG, GANTRY_PROMETHEUS_URL, GANTRY_DATA_DIR, the build tools…).
//
// Errors have the shape of gantry.yaml's (core/config.ts): { path, message, hint }, where the path
// is the variable's name; every problem is reported, not just the first. Secret values (tokens,
// keys) are never echoed; the environment they are read from is kept on the config as a
// non-enumerable `env`, so a config that is printed or logged does not carry them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { ConfigError } from '../core/config.js';
import { parseDuration } from '../core/duration.js';
import { cap, controlCharacterIn, displayLine, echo } from '../core/text.js';
import { taskQueueFrom } from '../workflows/messages.js';
import { chooseCluster, ClusterChoiceError, type ClusterAccess, type ClusterProbe } from '../activities/k8s/choose.js';
import { DEFAULT_NAMESPACE, DEFAULT_TEMPORAL_ADDRESS, loadTemporalSettings, type TemporalSettings } from './temporal.js';

export type Env = Readonly<Record<string, string | undefined>>;
export type { ConfigError };

/** All the problems of a process's configuration; `message` lists them, one per line, with hints. */
export class RuntimeConfigError extends Error {
  constructor(readonly errors: ConfigError[]) {
    super(errors.map((e) => `${e.path}: ${e.message}\n  hint: ${e.hint}`).join('\n'));
    this.name = 'RuntimeConfigError';
  }
}

// ---------------------------------------------------------------------------------------------
// Defaults (production: nothing here points at the test bed)

export { DEFAULT_NAMESPACE, DEFAULT_TEMPORAL_ADDRESS, type TemporalSettings };
export const DEFAULT_API_ADDR = '127.0.0.1:8080';
/** BuildKit's own default socket (buildkitd --addr). */
export const DEFAULT_BUILDKIT_ADDR = 'unix:///run/buildkit/buildkitd.sock';
export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';
export const DEFAULT_SLACK_API_URL = 'https://slack.com/api';
/** The env vars holding the GitHub and Slack tokens (read by the activities when they call out). */
export const GITHUB_TOKEN_ENV = 'GANTRY_GITHUB_TOKEN';
export const SLACK_TOKEN_ENV = 'SLACK_BOT_TOKEN';

/** Where the worker keeps its state when GANTRY_DATA_DIR is not set: the XDG state dir of its user. */
export function defaultDataDir(env: Env): string {
  const xdg = env.XDG_STATE_HOME?.trim();
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME?.trim() || os.homedir(), '.local', 'state');
  return path.join(base, 'gantry');
}

// ---------------------------------------------------------------------------------------------
// The settings

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface CommonConfig {
  temporal: TemporalSettings;
  /** GANTRY_TASK_QUEUE (taskQueueFrom in workflows/messages.ts: the one reading of it). */
  taskQueue: string;
  /**
   * GANTRY_BUILD_TASK_QUEUE: where the pipeline's source activities (checkout, gates, build, verify,
   * tag: repository code) run, served by a build worker without cluster credentials. Default: the
   * task queue, so a single worker still serves everything.
   */
  buildTaskQueue: string;
  logLevel: LogLevel;
  /** The environment the config was read from, for secrets named in it (non-enumerable). */
  readonly env: Env;
}

export type ClusterSettings =
  | {
    kind: 'sim'; why: string; warning?: string;
    /** State file and effects log of the simulated cluster (GANTRY_SIM_DIR, default <data dir>/sim). */
    dir: string; applyDelayMs: number; readyDelayMs: number;
  }
  | {
    kind: 'kubernetes'; why: string; access: ClusterAccess;
    /** Context for cells that name none (GANTRY_KUBE_CONTEXT); default the kubeconfig's current one. */
    context?: string;
    /** Prometheus for analysis (GANTRY_PROMETHEUS_URL); none: every check is inconclusive. */
    prometheusUrl?: string;
    /** Drain grace for cells that configure none (GANTRY_DRAIN_GRACE). */
    drainGrace?: string;
  }
  | {
    /** A build worker (GANTRY_WORKER_ROLE=build): no cluster, no kubeconfig, nothing to deploy with. */
    kind: 'none'; why: string;
  };

/**
 * What a worker process serves (GANTRY_WORKER_ROLE): `all` (default) every workflow and activity;
 * `release` the workflows and the cluster, notify, GitHub and catalog activities, never repository
 * code; `build` only the pipeline's source activities (git, gates, build, registry) on the build
 * task queue, with no cluster configuration and no GitHub or Slack token.
 */
export type WorkerRole = 'all' | 'release' | 'build';
export const WORKER_ROLES: readonly WorkerRole[] = ['all', 'release', 'build'];

export interface PipelineSettings {
  workspaceRoot: string;
  logDir: string;
  buildkitAddr: string;
  /** Absolute when found on PATH (or configured); the bare name when not installed (builds then say so). */
  buildctlBin: string;
  hadolintBin: string;
}

/** What the composition root (worker/activities.ts) needs to build every activity set. */
export interface ActivitySettings {
  taskQueue: string;
  cluster: ClusterSettings;
  pipeline: PipelineSettings;
  github: { apiUrl: string; tokenEnv: string };
  /** Release notices go to Slack when the bot token is set (`enabled`). */
  slack: { apiUrl: string; tokenEnv: string; channel?: string; enabled: boolean };
  readonly env: Env;
}

export interface WorkerConfig extends CommonConfig, ActivitySettings {
  dataDir: string;
  role: WorkerRole;
  /** GANTRY_HEALTH_ADDR: where the worker serves GET /healthz and /readyz (worker/health.ts); unset: not served. */
  healthAddr?: ListenAddress;
}

export interface ListenAddress { host: string; port: number }

export interface ApiConfig extends CommonConfig {
  listen: ListenAddress;
  /** Serve GET / without a token (GANTRY_PUBLIC_INDEX). */
  publicIndex: boolean;
  /** Identities, repositories, Slack and chat users (api/server-config.ts, api/auth.ts). */
  serverConfigFile?: string;
  /** Whether GANTRY_TOKENS is set (its value stays in `env`). */
  hasTokens: boolean;
}

// ---------------------------------------------------------------------------------------------
// Field validators (zod), each with the hint shown when it fails

const hints: Record<string, string> = {
  GANTRY_TASK_QUEUE: 'a task queue name without spaces or control characters; set the same one for the worker and the API',
  GANTRY_BUILD_TASK_QUEUE: 'a task queue name for the build worker (repository code), other than GANTRY_TASK_QUEUE; set the same one for the API and every worker',
  GANTRY_WORKER_ROLE: 'one of: all (the default: everything), release (workflows and cluster, no repository code), build (checkout, gates, build, verify, tag; no cluster)',
  GANTRY_LOG_LEVEL: 'one of: trace, debug, info, warn, error',
  GANTRY_API_ADDR: `host:port (e.g. ${DEFAULT_API_ADDR}, or 0.0.0.0:8080 in a container), :port or port`,
  GANTRY_HEALTH_ADDR: 'host:port where the worker serves GET /healthz and /readyz for probes, e.g. 0.0.0.0:9090 in a pod (:port means 127.0.0.1); unset: not served',
  GANTRY_PUBLIC_INDEX: 'set 1 (or true) to serve the index page without a token, 0 (or false, the default) to require one',
  GANTRY_SERVER_CONFIG: 'the path of the server config YAML (identities, repos, slack, chat)',
  GANTRY_DATA_DIR: 'an absolute directory the worker may write (workspaces, pipeline logs, simulated cluster); in a pod, an emptyDir or volume mount',
  GANTRY_WORKSPACE_DIR: 'an absolute directory for git workspaces (default <GANTRY_DATA_DIR>/workspaces)',
  GANTRY_PIPELINE_LOG_DIR: 'an absolute directory for gate and build logs (default <GANTRY_DATA_DIR>/pipeline-logs)',
  GANTRY_SIM_DIR: 'an absolute directory for the simulated cluster (default <GANTRY_DATA_DIR>/sim)',
  GANTRY_BUILDKIT_ADDR: `a BuildKit address such as ${DEFAULT_BUILDKIT_ADDR} or tcp://buildkitd:1234`,
  GANTRY_BUILDCTL: 'the buildctl binary: a name on PATH or an absolute path',
  GANTRY_HADOLINT: 'the hadolint binary: a name on PATH or an absolute path',
  GANTRY_KUBE_CONTEXT: 'a context name of the kubeconfig',
  GANTRY_PROMETHEUS_URL: 'the Prometheus base URL, e.g. http://prometheus.monitoring:9090',
  GANTRY_DRAIN_GRACE: "a duration with a unit, e.g. '5s'",
  GANTRY_SIM_APPLY_DELAY_MS: 'a whole number of milliseconds, 0 to 600000',
  GANTRY_SIM_READY_DELAY_MS: 'a whole number of milliseconds, 0 to 600000',
  GANTRY_GITHUB_API_URL: 'the GitHub API base URL: https://api.github.com, or https://<host>/api/v3 for GitHub Enterprise',
  GANTRY_SLACK_API_URL: 'the Slack Web API base URL, https://slack.com/api',
  GANTRY_SLACK_CHANNEL: 'a Slack channel id such as C0123456789',
};

const hostPort = z.string().refine((v) => /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(v) && Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535,
  { error: 'expected host:port' });
const name = z.string().max(255).refine((v) => !/\s/.test(v) && controlCharacterIn(v) === undefined, { error: 'no spaces or control characters' });
const absDir = z.string().refine((v) => path.isAbsolute(v), { error: 'expected an absolute path' });
const binary = z.string().refine((v) => path.isAbsolute(v) || /^[\w.+-]+$/.test(v), { error: 'expected a command name on PATH or an absolute path' });
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
const millis = z.string().regex(/^\d{1,6}$/, { error: 'expected a whole number of milliseconds' }).transform(Number)
  .refine((n) => n <= 600_000, { error: 'at most 600000' });
const duration = z.string().refine((v) => parseDuration(v) !== undefined, { error: 'expected a duration with a unit' });
const flag = z.string().transform((v) => v.toLowerCase()).pipe(z.enum(['1', '0', 'true', 'false', 'yes', 'no'], { error: 'expected 1 or 0' }))
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const logLevel = z.string().transform((v) => v.toLowerCase()).pipe(z.enum(['trace', 'debug', 'info', 'warn', 'error'], { error: 'expected one of trace, debug, info, warn, error' }));
const taskQueue = z.string().superRefine((v, ctx) => {
  try { taskQueueFrom({ GANTRY_TASK_QUEUE: v }); } catch (err) { ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message.replace(/^GANTRY_TASK_QUEUE: /, '') : String(err) }); }
});
const listen = z.string().transform((v, ctx) => {
  const r = listenAddress(v);
  if (!r) { ctx.addIssue({ code: 'custom', message: `expected host:port (e.g. ${DEFAULT_API_ADDR}), :port or port` }); return z.NEVER; }
  return r;
});

/** Settings whose values may be shown in a message (the others are secrets, or not ours). */
const shown = new Set(Object.keys(hints));

function fieldsOf<S extends z.ZodRawShape>(shape: S, env: Env, errors: ConfigError[]): { [K in keyof S]?: z.output<S[K]> } {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(shape)) {
    const raw = env[key]?.trim();
    if (raw === undefined || raw === '') continue;
    const r = (schema as z.ZodType).safeParse(raw);
    if (r.success) { out[key] = r.data; continue; }
    const problem = r.error.issues.map((i) => i.message).join('; ');
    errors.push({ path: key, message: shown.has(key) ? `${problem}, got ${echo(raw)}` : problem, hint: hints[key] ?? 'see README.md' });
  }
  return out as { [K in keyof S]?: z.output<S[K]> };
}

/** host:port, :port or port (port 0 picks a free one); undefined when it is none of these. */
export function listenAddress(addr: string): ListenAddress | undefined {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) return undefined;
  return { host: m[1] || '127.0.0.1', port };
}

const commonShape = {
  GANTRY_TASK_QUEUE: taskQueue,
  GANTRY_BUILD_TASK_QUEUE: taskQueue,
  GANTRY_LOG_LEVEL: logLevel,
};

function common(env: Env, errors: ConfigError[]): Omit<CommonConfig, 'env'> {
  // Temporal through its own client configuration (TEMPORAL_*, profiles, TLS, API key): runtime/temporal.ts.
  const temporal = loadTemporalSettings(env, errors, (a) => hostPort.safeParse(a).success, (n) => name.safeParse(n).success);
  const f = fieldsOf(commonShape, env, errors);
  const queue = f.GANTRY_TASK_QUEUE ?? taskQueueFrom({});
  return {
    temporal,
    taskQueue: queue,
    buildTaskQueue: f.GANTRY_BUILD_TASK_QUEUE ?? queue,
    logLevel: f.GANTRY_LOG_LEVEL ?? 'info',
  };
}

function withEnv<T extends object>(value: T, env: Env): T & { readonly env: Env } {
  return Object.defineProperty(value, 'env', { value: env, enumerable: false }) as T & { readonly env: Env };
}

// ---------------------------------------------------------------------------------------------
// The worker

export interface WorkerProbe extends ClusterProbe {
  /** Resolves a command name on PATH to an absolute path (undefined when not found). */
  which(command: string, env: Env): string | undefined;
  /** Why `dir` (or the directory it would be made in) cannot be written; undefined when it can. */
  unwritable(dir: string): string | undefined;
}

export function which(command: string, env: Env): string | undefined {
  if (path.isAbsolute(command)) return command;
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const p = path.join(dir, command);
    try { fs.accessSync(p, fs.constants.X_OK); if (fs.statSync(p).isFile()) return p; } catch { /* next */ }
  }
  return undefined;
}

/** Checks the directory, or its nearest existing parent, without creating anything. */
export function unwritable(dir: string): string | undefined {
  let d = path.resolve(dir);
  for (;;) {
    let st: fs.Stats | undefined;
    try { st = fs.statSync(d); } catch { /* go up */ }
    if (st) {
      if (!st.isDirectory()) return `${d} is not a directory`;
      try { fs.accessSync(d, fs.constants.W_OK); return undefined; } catch { return `${d} is not writable by this process`; }
    }
    const up = path.dirname(d);
    if (up === d) return `${dir} cannot be created`;
    d = up;
  }
}

export const realProbe = (env: Env): WorkerProbe => ({
  exists: (f) => fs.existsSync(f),
  ...(env.HOME?.trim() || os.homedir() ? { home: env.HOME?.trim() || os.homedir() } : {}),
  which, unwritable,
});

const workerRole = z.string().transform((v) => v.toLowerCase()).pipe(z.enum(WORKER_ROLES, { error: 'expected one of all, release, build' }));

const workerShape = {
  GANTRY_WORKER_ROLE: workerRole,
  GANTRY_HEALTH_ADDR: listen,
  GANTRY_DATA_DIR: absDir,
  GANTRY_WORKSPACE_DIR: absDir,
  GANTRY_PIPELINE_LOG_DIR: absDir,
  GANTRY_SIM_DIR: absDir,
  GANTRY_BUILDKIT_ADDR: z.string().regex(/^[a-z][a-z0-9+-]*:\/\/\S+$/, { error: 'expected an address with a scheme' }),
  GANTRY_BUILDCTL: binary,
  GANTRY_HADOLINT: binary,
  GANTRY_KUBE_CONTEXT: name,
  GANTRY_PROMETHEUS_URL: httpUrl,
  GANTRY_DRAIN_GRACE: duration,
  GANTRY_SIM_APPLY_DELAY_MS: millis,
  GANTRY_SIM_READY_DELAY_MS: millis,
  GANTRY_GITHUB_API_URL: httpUrl,
  GANTRY_SLACK_API_URL: httpUrl,
  GANTRY_SLACK_CHANNEL: name,
};

/** The worker's configuration from `env`; throws a RuntimeConfigError listing every problem. */
export function loadWorkerConfig(env: Env = process.env, probe: WorkerProbe = realProbe(env)): WorkerConfig {
  const errors: ConfigError[] = [];
  const base = common(env, errors);
  const f = fieldsOf(workerShape, env, errors);
  const dataDir = f.GANTRY_DATA_DIR ?? defaultDataDir(env);
  const dirs: Record<'workspaceRoot' | 'logDir', [setting: string, dir: string]> = {
    workspaceRoot: ['GANTRY_WORKSPACE_DIR', f.GANTRY_WORKSPACE_DIR ?? path.join(dataDir, 'workspaces')],
    logDir: ['GANTRY_PIPELINE_LOG_DIR', f.GANTRY_PIPELINE_LOG_DIR ?? path.join(dataDir, 'pipeline-logs')],
  };

  const role: WorkerRole = f.GANTRY_WORKER_ROLE ?? 'all';
  // A split install needs two queues: on one, the release worker would be handed repository code
  // (or the build worker cluster steps) it does not serve.
  if (role !== 'all' && base.buildTaskQueue === base.taskQueue) {
    errors.push({
      path: 'GANTRY_BUILD_TASK_QUEUE',
      message: `a ${role} worker needs a build task queue other than the task queue (${base.taskQueue})`,
      hint: `${hints.GANTRY_BUILD_TASK_QUEUE}; or GANTRY_WORKER_ROLE=all for one worker that serves everything`,
    });
  }

  let cluster: ClusterSettings | undefined;
  if (role === 'build') {
    // A build worker holds no cluster credentials: nothing about a cluster is read.
    cluster = { kind: 'none', why: 'build worker (GANTRY_WORKER_ROLE=build)' };
  } else {
    try {
      const choice = chooseCluster(env, probe);
      cluster = choice.kind === 'sim'
        ? { ...choice, dir: f.GANTRY_SIM_DIR ?? path.join(dataDir, 'sim'), applyDelayMs: f.GANTRY_SIM_APPLY_DELAY_MS ?? 1000, readyDelayMs: f.GANTRY_SIM_READY_DELAY_MS ?? 1000 }
        : {
          ...choice,
          ...(f.GANTRY_KUBE_CONTEXT ? { context: f.GANTRY_KUBE_CONTEXT } : {}),
          ...(f.GANTRY_PROMETHEUS_URL ? { prometheusUrl: f.GANTRY_PROMETHEUS_URL.replace(/\/+$/, '') } : {}),
          ...(f.GANTRY_DRAIN_GRACE ? { drainGrace: f.GANTRY_DRAIN_GRACE } : {}),
        };
    } catch (err) {
      if (!(err instanceof ClusterChoiceError)) throw err;
      errors.push({ path: err.setting, message: cap(displayLine(err.problem), 400), hint: err.hint });
    }
  }

  // Directories the worker writes: checked now (nothing is created), not at the first checkout.
  const writable = [...Object.values(dirs), ...(cluster?.kind === 'sim' ? [['GANTRY_SIM_DIR', cluster.dir] as [string, string]] : [])];
  for (const [setting, dir] of writable) {
    const why = probe.unwritable(dir);
    if (why) {
      const via = env[setting]?.trim() ? setting : 'GANTRY_DATA_DIR';
      errors.push({ path: via, message: `the worker cannot write ${dir}: ${why}`, hint: hints[via]! });
    }
  }
  if (errors.length) throw new RuntimeConfigError(errors);

  const tool = (configured: string | undefined, command: string) => probe.which(configured ?? command, env) ?? configured ?? command;
  return withEnv({
    ...base,
    dataDir,
    role,
    ...(f.GANTRY_HEALTH_ADDR ? { healthAddr: f.GANTRY_HEALTH_ADDR } : {}),
    cluster: cluster!,
    pipeline: {
      workspaceRoot: dirs.workspaceRoot[1], logDir: dirs.logDir[1],
      buildkitAddr: f.GANTRY_BUILDKIT_ADDR ?? DEFAULT_BUILDKIT_ADDR,
      buildctlBin: tool(f.GANTRY_BUILDCTL, 'buildctl'),
      hadolintBin: tool(f.GANTRY_HADOLINT, 'hadolint'),
    },
    github: { apiUrl: (f.GANTRY_GITHUB_API_URL ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, ''), tokenEnv: GITHUB_TOKEN_ENV },
    slack: {
      apiUrl: (f.GANTRY_SLACK_API_URL ?? DEFAULT_SLACK_API_URL).replace(/\/+$/, ''), tokenEnv: SLACK_TOKEN_ENV,
      ...(f.GANTRY_SLACK_CHANNEL ? { channel: f.GANTRY_SLACK_CHANNEL } : {}), enabled: role !== 'build' && !!env[SLACK_TOKEN_ENV]?.trim(),
    },
  }, env);
}

// ---------------------------------------------------------------------------------------------
// The API

const apiShape = {
  GANTRY_API_ADDR: listen,
  GANTRY_PUBLIC_INDEX: flag,
  GANTRY_SERVER_CONFIG: z.string().min(1),
};

/** The API's configuration from `env`; throws a RuntimeConfigError listing every problem. */
export function loadApiConfig(env: Env = process.env): ApiConfig {
  const errors: ConfigError[] = [];
  const base = common(env, errors);
  const f = fieldsOf(apiShape, env, errors);
  if (errors.length) throw new RuntimeConfigError(errors);
  return withEnv({
    ...base,
    listen: f.GANTRY_API_ADDR ?? listenAddress(DEFAULT_API_ADDR)!,
    publicIndex: f.GANTRY_PUBLIC_INDEX ?? false,
    ...(f.GANTRY_SERVER_CONFIG ? { serverConfigFile: f.GANTRY_SERVER_CONFIG } : {}),
    hasTokens: !!env.GANTRY_TOKENS?.trim(),
  }, env);
}
