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
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { ConfigError } from '../core/config.js';
import { parseDuration } from '../core/duration.js';
import { cap, controlCharacterIn, displayLine, echo } from '../core/text.js';
import { taskQueueFrom } from '../workflows/messages.js';
import { chooseCluster, ClusterChoiceError, type ClusterAccess, type ClusterProbe } from '../activities/k8s/choose.js';
import type { BuildkitTls } from '../activities/build.js';
import { readDockerConfig, type RegistryAuthFile } from '../activities/registry-auth.js';
import { gitCredentialSettings, type GitCredentialSettings } from '../activities/git.js';
import { githubAppSettings, type GitHubAppSettings } from '../activities/github-auth.js';
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
    /** Its credentials and CA (where they are: names, never the secrets). */
    prometheusAccess?: PrometheusAccess;
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
  /** git credentials (GANTRY_GIT_HTTPS_TOKENS, GANTRY_GIT_CA_FILE, GANTRY_GIT_SSH_*, the GitHub App): activities/git.ts. */
  git?: GitCredentialSettings;
  /** Registry credentials (GANTRY_REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json when present). */
  registryAuthFile?: RegistryAuthFile;
  /** buildkitd over TCP with mTLS (GANTRY_BUILDKIT_TLS_DIR, or GANTRY_BUILDKIT_TLS_CA_CERT/_CERT/_KEY). */
  buildkitTls?: BuildkitTls;
  /** A CA (PEM file) for HTTPS registries, besides the system's (GANTRY_REGISTRY_CA_FILE). */
  registryCaFile?: string;
}

/**
 * How the worker reaches Prometheus besides its URL: a bearer token (GANTRY_PROMETHEUS_TOKEN, or a
 * file: GANTRY_PROMETHEUS_TOKEN_FILE), basic auth (GANTRY_PROMETHEUS_USERNAME and
 * GANTRY_PROMETHEUS_PASSWORD), a CA (GANTRY_PROMETHEUS_CA_FILE). Secrets stay in `env`.
 */
export interface PrometheusAccess {
  auth?: { kind: 'bearer'; tokenEnv: string } | { kind: 'bearer-file'; tokenFile: string } | { kind: 'basic'; username: string; passwordEnv: string };
  caFile?: string;
}
export const PROMETHEUS_TOKEN_ENV = 'GANTRY_PROMETHEUS_TOKEN';
export const PROMETHEUS_PASSWORD_ENV = 'GANTRY_PROMETHEUS_PASSWORD';

/** A Worker Deployment version (worker/worker.ts WorkerVersion; README "Upgrading Gantry"). */
export interface WorkerVersionSettings { deploymentName: string; buildId: string }

/** What the composition root (worker/activities.ts) needs to build every activity set. */
export interface ActivitySettings {
  taskQueue: string;
  cluster: ClusterSettings;
  pipeline: PipelineSettings;
  /** `app`: a GitHub App (GANTRY_GITHUB_APP_*: activities/github-auth.ts), used instead of the token for apiUrl. */
  github: { apiUrl: string; tokenEnv: string; app?: GitHubAppSettings };
  /** Release notices go to Slack when the bot token is set (`enabled`). */
  slack: { apiUrl: string; tokenEnv: string; channel?: string; enabled: boolean };
  /** GANTRY_PUBLIC_URL: the console's origin; GitHub statuses and Slack notices link to its pages. Unset: no links. */
  publicUrl?: string;
  readonly env: Env;
}

export interface WorkerConfig extends CommonConfig, ActivitySettings {
  dataDir: string;
  role: WorkerRole;
  /** Worker Versioning (GANTRY_WORKER_DEPLOYMENT + GANTRY_BUILD_ID); unset: an unversioned worker. */
  version?: WorkerVersionSettings;
  /** GANTRY_HEALTH_ADDR: where the worker serves GET /healthz and /readyz (worker/health.ts); unset: not served. */
  healthAddr?: ListenAddress;
  /** GANTRY_METRICS_ADDR: where the Temporal Runtime serves Prometheus metrics at /metrics (temporal_* and gantry_*; worker/telemetry.ts); unset: not served. */
  metricsAddr?: ListenAddress;
  /** GANTRY_LOG_FORMAT: json (the default: one pino JSON object a line, like the API) or text (Temporal's plain lines, for a terminal). */
  logFormat: 'json' | 'text';
  /** A prebuilt workflow bundle (GANTRY_WORKFLOW_BUNDLE, `npm run bundle`); unset: the sources are bundled at start. */
  workflowBundle?: string;
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
  /** The web console's sign-in (api/console/auth.ts); absent: no sign-in method configured, the console is off. */
  console?: ConsoleSettings;
}

/**
 * How browsers sign in to the console at /ui: an auth proxy's trusted headers, OIDC, API tokens, or several. The
 * session secret and the OIDC client secret stay in `env` (non-enumerable), named by the *Env fields.
 */
export interface ConsoleSettings {
  /** GANTRY_PUBLIC_URL: where browsers reach Gantry (the OIDC redirect, the origin CSRF checks expect); absent: the Host header. */
  publicUrl?: string;
  /** GANTRY_UI_SESSION_SECRET (≥ 32 bytes): seals session cookies and CSRF tokens. */
  sessionSecretEnv: 'GANTRY_UI_SESSION_SECRET';
  /** GANTRY_UI_SESSION_TTL in milliseconds (default 8 h). */
  sessionTtlMs: number;
  /** GANTRY_TEMPORAL_UI_URL: the Temporal UI the console links each release's workflow to; absent: no links. */
  temporalUiUrl?: string;
  /** GANTRY_UI_TRUSTED_PROXIES: the peers (IPs, CIDRs) whose identity headers are believed. */
  proxy?: { trusted: readonly string[]; userHeader: string; groupsHeader: string };
  oidc?: {
    issuer: string; clientId: string;
    /** Set when GANTRY_UI_OIDC_CLIENT_SECRET is (a confidential client); else a public client with PKCE. */
    clientSecretEnv?: 'GANTRY_UI_OIDC_CLIENT_SECRET';
    scopes: readonly string[]; userClaim: string; groupsClaim: string;
  };
  /** GANTRY_UI_TOKEN_LOGIN: a person signs in by pasting an API token (the CLI's bearer token). */
  tokenLogin?: true;
  readonly env: Env;
}
export const DEFAULT_UI_SESSION_TTL_MS = 8 * 3600_000;

// ---------------------------------------------------------------------------------------------
// Field validators (zod), each with the hint shown when it fails

const hints: Record<string, string> = {
  GANTRY_TASK_QUEUE: 'a task queue name without spaces or control characters; set the same one for the worker and the API',
  GANTRY_BUILD_TASK_QUEUE: 'a task queue name for the build worker (repository code), other than GANTRY_TASK_QUEUE; set the same one for the API and every worker',
  GANTRY_WORKER_ROLE: 'one of: all (the default: everything), release (workflows and cluster, no repository code), build (checkout, gates, build, verify, tag; no cluster)',
  GANTRY_LOG_LEVEL: 'one of: trace, debug, info, warn, error',
  GANTRY_API_ADDR: `host:port (e.g. ${DEFAULT_API_ADDR}, or 0.0.0.0:8080 in a container), :port or port`,
  GANTRY_HEALTH_ADDR: 'host:port where the worker serves GET /healthz and /readyz for probes, e.g. 0.0.0.0:9090 in a pod (:port means 127.0.0.1); unset: not served',
  GANTRY_METRICS_ADDR: 'host:port where the worker serves Prometheus metrics at /metrics, e.g. 0.0.0.0:9464 in a pod (:port means 127.0.0.1); unset: not served',
  GANTRY_LOG_FORMAT: 'json (the default: structured, for log collectors) or text (plain lines for a terminal)',
  GANTRY_PUBLIC_INDEX: 'set 1 (or true) to serve the index page without a token, 0 (or false, the default) to require one',
  GANTRY_SERVER_CONFIG: 'the path of the server config YAML (identities, repos, slack, chat)',
  GANTRY_TEMPORAL_UI_URL: 'the Temporal UI\'s base URL, e.g. http://127.0.0.1:8233 (the console links each release to its workflow there)',
  GANTRY_PUBLIC_URL: 'the URL browsers open Gantry at, e.g. https://gantry.example.com (no path, query or fragment); the OIDC redirect is <GANTRY_PUBLIC_URL>/ui/callback',
  GANTRY_UI_SESSION_SECRET: 'at least 32 random bytes, e.g. the output of `openssl rand -hex 32`; the same on every API replica, kept in a Secret',
  GANTRY_UI_SESSION_TTL: "how long a console sign-in lasts, a duration such as '8h' (1m to 30d)",
  GANTRY_UI_TRUSTED_PROXIES: 'comma-separated IP addresses or CIDRs of the auth proxy (e.g. oauth2-proxy) in front of Gantry, e.g. 10.0.0.5,10.1.0.0/16; only requests from these peers may carry identity headers',
  GANTRY_UI_PROXY_USER_HEADER: 'the header the auth proxy puts the user in (default x-forwarded-user; e.g. x-auth-request-user, x-forwarded-email); the proxy must overwrite it on every request',
  GANTRY_UI_PROXY_GROUPS_HEADER: 'the header the auth proxy puts the comma-separated groups in (default x-forwarded-groups)',
  GANTRY_UI_OIDC_ISSUER: 'the OIDC issuer URL (its /.well-known/openid-configuration is read), e.g. https://accounts.example.com; set with GANTRY_UI_OIDC_CLIENT_ID and GANTRY_PUBLIC_URL',
  GANTRY_UI_OIDC_CLIENT_ID: 'the client id registered at the OIDC provider for Gantry, with the redirect URI <GANTRY_PUBLIC_URL>/ui/callback; set with GANTRY_UI_OIDC_ISSUER',
  GANTRY_UI_OIDC_CLIENT_SECRET: 'the client secret of a confidential OIDC client (unset: a public client, PKCE only); set with GANTRY_UI_OIDC_ISSUER and GANTRY_UI_OIDC_CLIENT_ID',
  GANTRY_UI_OIDC_SCOPES: "space-separated scopes to request, including openid (default 'openid profile email'; add e.g. groups when your provider needs a scope for the groups claim)",
  GANTRY_UI_OIDC_USER_CLAIM: 'the claim holding the user id Gantry uses (default preferred_username; e.g. email or sub)',
  GANTRY_UI_OIDC_GROUPS_CLAIM: 'the claim holding the user\'s groups, a list of strings (default groups)',
  GANTRY_UI_TOKEN_LOGIN: 'set true (or 1) to let people sign in to the console by pasting an API token (one of GANTRY_TOKENS / GANTRY_SERVER_CONFIG, as the CLI uses); needs GANTRY_UI_SESSION_SECRET',
  GANTRY_DATA_DIR: 'an absolute directory the worker may write (workspaces, pipeline logs, simulated cluster); in a pod, an emptyDir or volume mount',
  GANTRY_WORKSPACE_DIR: 'an absolute directory for git workspaces (default <GANTRY_DATA_DIR>/workspaces)',
  GANTRY_PIPELINE_LOG_DIR: 'an absolute directory for gate and build logs (default <GANTRY_DATA_DIR>/pipeline-logs)',
  GANTRY_SIM_DIR: 'an absolute directory for the simulated cluster (default <GANTRY_DATA_DIR>/sim)',
  GANTRY_BUILDKIT_ADDR: `a BuildKit address such as ${DEFAULT_BUILDKIT_ADDR} or tcp://buildkitd:1234`,
  GANTRY_BUILDKIT_TLS_DIR: 'an absolute directory holding buildkitd\'s CA and the worker\'s client certificate and key, as ca.pem, cert.pem, key.pem or ca.crt, tls.crt, tls.key (a mounted kubernetes.io/tls Secret with ca.crt); only with a tcp:// GANTRY_BUILDKIT_ADDR',
  GANTRY_BUILDKIT_TLS_CA_CERT: 'the absolute path of the CA certificate buildkitd\'s server certificate is signed by (set with GANTRY_BUILDKIT_TLS_CERT and GANTRY_BUILDKIT_TLS_KEY, or use GANTRY_BUILDKIT_TLS_DIR)',
  GANTRY_BUILDKIT_TLS_CERT: 'the absolute path of the worker\'s client certificate for buildkitd (set with GANTRY_BUILDKIT_TLS_CA_CERT and GANTRY_BUILDKIT_TLS_KEY, or use GANTRY_BUILDKIT_TLS_DIR)',
  GANTRY_BUILDKIT_TLS_KEY: 'the absolute path of the worker\'s client key for buildkitd (set with GANTRY_BUILDKIT_TLS_CA_CERT and GANTRY_BUILDKIT_TLS_CERT, or use GANTRY_BUILDKIT_TLS_DIR)',
  GANTRY_REGISTRY_AUTH_FILE: 'the absolute path of a Docker config.json with registry credentials (auths.<host>: auth, username/password or identitytoken), e.g. a mounted kubernetes.io/dockerconfigjson Secret\'s .dockerconfigjson; unset: $DOCKER_CONFIG/config.json, else ~/.docker/config.json when present',
  DOCKER_CONFIG: 'the directory holding config.json with registry credentials (or set GANTRY_REGISTRY_AUTH_FILE to the file)',
  GANTRY_REGISTRY_CA_FILE: 'the absolute path of a CA certificate (PEM) that signed HTTPS registries\' certificates, trusted besides the system\'s CAs by the registry client (buildkitd needs it in its own buildkitd.toml)',
  GANTRY_BUILDCTL: 'the buildctl binary: a name on PATH or an absolute path',
  GANTRY_HADOLINT: 'the hadolint binary: a name on PATH or an absolute path',
  GANTRY_WORKFLOW_BUNDLE: 'the absolute path of a prebuilt workflow bundle written by `npm run bundle -- <file>` from the same code (Gantry\'s image sets /app/dist/workflow-bundle.js); unset it to bundle the workflows when the worker starts',
  GANTRY_KUBE_CONTEXT: 'a context name of the kubeconfig',
  GANTRY_PROMETHEUS_URL: 'the Prometheus base URL, e.g. http://prometheus.monitoring:9090',
  GANTRY_PROMETHEUS_TOKEN_FILE: 'the absolute path of a file holding the bearer token for Prometheus (e.g. a mounted Secret, or the pod\'s service account token for kube-rbac-proxy); read at every query, so a rotated token is picked up',
  GANTRY_PROMETHEUS_USERNAME: 'the basic auth user for Prometheus (no colon); set with GANTRY_PROMETHEUS_PASSWORD',
  GANTRY_PROMETHEUS_CA_FILE: 'the absolute path of the CA certificate (PEM) that signed Prometheus\' serving certificate; only with an https:// GANTRY_PROMETHEUS_URL',
  GANTRY_WORKER_DEPLOYMENT: 'the Temporal Worker Deployment of this worker (letters, digits, - and _; e.g. gantry), set together with GANTRY_BUILD_ID; unset both for an unversioned worker',
  GANTRY_BUILD_ID: 'the build id of this worker\'s code (letters, digits, . _ + -; e.g. the image tag or git sha), new for every code change, set together with GANTRY_WORKER_DEPLOYMENT',
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
const shown = new Set(Object.keys(hints).filter((k) => k !== 'GANTRY_UI_SESSION_SECRET' && k !== 'GANTRY_UI_OIDC_CLIENT_SECRET'));

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

/** GANTRY_PUBLIC_URL (API and worker): an origin only, so links are <origin>/ui/... */
// Not a URL at all: httpUrl's own issue says so (the refinement still runs, and must not throw).
const publicUrl = httpUrl.refine((v) => { if (!URL.canParse(v)) return true; const u = new URL(v); return (u.pathname === '/' || u.pathname === '') && !u.search && !u.hash && !u.username && !u.password; },
  { error: 'expected a scheme, host and optional port only' }).transform((v) => new URL(v).origin);

const workerShape = {
  GANTRY_PUBLIC_URL: publicUrl,
  GANTRY_WORKER_ROLE: workerRole,
  GANTRY_HEALTH_ADDR: listen,
  GANTRY_METRICS_ADDR: listen,
  GANTRY_LOG_FORMAT: z.string().transform((v) => v.toLowerCase()).pipe(z.enum(['json', 'text'], { error: 'expected json or text' })),
  GANTRY_DATA_DIR: absDir,
  GANTRY_WORKSPACE_DIR: absDir,
  GANTRY_PIPELINE_LOG_DIR: absDir,
  GANTRY_SIM_DIR: absDir,
  GANTRY_BUILDKIT_ADDR: z.string().regex(/^[a-z][a-z0-9+-]*:\/\/\S+$/, { error: 'expected an address with a scheme' }),
  GANTRY_BUILDKIT_TLS_DIR: absDir,
  GANTRY_BUILDKIT_TLS_CA_CERT: absDir,
  GANTRY_BUILDKIT_TLS_CERT: absDir,
  GANTRY_BUILDKIT_TLS_KEY: absDir,
  GANTRY_REGISTRY_AUTH_FILE: absDir,
  GANTRY_REGISTRY_CA_FILE: absDir,
  GANTRY_BUILDCTL: binary,
  GANTRY_HADOLINT: binary,
  GANTRY_WORKFLOW_BUNDLE: absDir,
  GANTRY_KUBE_CONTEXT: name,
  GANTRY_PROMETHEUS_URL: httpUrl,
  GANTRY_PROMETHEUS_TOKEN_FILE: absDir,
  GANTRY_PROMETHEUS_USERNAME: z.string().max(255).refine((v) => !v.includes(':') && controlCharacterIn(v) === undefined, { error: 'no colon or control characters' }),
  GANTRY_PROMETHEUS_CA_FILE: absDir,
  GANTRY_WORKER_DEPLOYMENT: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/, { error: 'expected letters, digits, - and _ (no dots or colons), at most 255' }),
  GANTRY_BUILD_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$/, { error: 'expected letters, digits, . _ + -, starting with a letter or digit, at most 255' }),
  GANTRY_DRAIN_GRACE: duration,
  GANTRY_SIM_APPLY_DELAY_MS: millis,
  GANTRY_SIM_READY_DELAY_MS: millis,
  GANTRY_GITHUB_API_URL: httpUrl,
  GANTRY_SLACK_API_URL: httpUrl,
  GANTRY_SLACK_CHANNEL: name,
};

type WorkerFields = ReturnType<typeof fieldsOf<typeof workerShape>>;

/** The file names `buildctl --tlsdir` accepts, in its order of preference. */
const TLS_DIR_NAMES = [['ca.pem', 'cert.pem', 'key.pem'], ['ca.crt', 'tls.crt', 'tls.key']] as const;

/**
 * The build worker's credentials: the registry's config.json (docker's lookup order) and
 * buildkitd's TLS files. Every file must exist now (a config error naming the setting), not at the
 * first build; the config.json must parse (its content is never echoed).
 */
function buildCredentials(f: WorkerFields, env: Env, probe: WorkerProbe, errors: ConfigError[]): Pick<PipelineSettings, 'registryAuthFile' | 'buildkitTls' | 'registryCaFile'> {
  const out: Pick<PipelineSettings, 'registryAuthFile' | 'buildkitTls' | 'registryCaFile'> = {};
  const dockerConfig = env.DOCKER_CONFIG?.trim();
  let auth: RegistryAuthFile | undefined;
  if (f.GANTRY_REGISTRY_AUTH_FILE) auth = { path: f.GANTRY_REGISTRY_AUTH_FILE, setting: 'GANTRY_REGISTRY_AUTH_FILE' };
  else if (dockerConfig) {
    const p = path.join(path.resolve(dockerConfig), 'config.json');
    if (probe.exists(p)) auth = { path: p, setting: 'DOCKER_CONFIG' };
  } else if (probe.home) {
    const p = path.join(probe.home, '.docker', 'config.json');
    if (probe.exists(p)) auth = { path: p, setting: 'HOME' };
  }
  if (auth) {
    const at = auth.setting === 'HOME' ? 'GANTRY_REGISTRY_AUTH_FILE' : auth.setting;
    let why: string | undefined;
    if (!probe.exists(auth.path)) why = `no file at ${auth.path}`;
    else {
      try { readDockerConfig(auth.path); } catch (err) {
        why = (err as NodeJS.ErrnoException).code ? `${auth.path} cannot be read (${(err as NodeJS.ErrnoException).code})` : (err as Error).message;
      }
    }
    if (why) errors.push({ path: auth.setting === 'HOME' ? 'HOME' : auth.setting, message: `registry credentials: ${why}`, hint: hints[at]! });
    else out.registryAuthFile = auth.setting === 'HOME' ? { ...auth, setting: 'HOME (~/.docker/config.json)' } : auth;
  }

  const caFile = f.GANTRY_REGISTRY_CA_FILE;
  if (caFile) {
    let why: string | undefined;
    try {
      if (!/-----BEGIN CERTIFICATE-----/.test(fs.readFileSync(caFile, 'utf8'))) why = `${caFile} holds no PEM certificate`;
    } catch (err) { why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `no file at ${caFile}` : `${caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`; }
    if (why) errors.push({ path: 'GANTRY_REGISTRY_CA_FILE', message: why, hint: hints.GANTRY_REGISTRY_CA_FILE! });
    else out.registryCaFile = caFile;
  }

  const names = { caCert: 'GANTRY_BUILDKIT_TLS_CA_CERT', cert: 'GANTRY_BUILDKIT_TLS_CERT', key: 'GANTRY_BUILDKIT_TLS_KEY' } as const;
  const dir = f.GANTRY_BUILDKIT_TLS_DIR;
  if (!dir && !Object.values(names).some((n) => f[n])) return out;
  const paths: Partial<Record<keyof typeof names, [path: string, setting: string]>> = {};
  if (dir) {
    const set = TLS_DIR_NAMES.find((s) => s.every((n) => probe.exists(path.join(dir, n))));
    if (set) [paths.caCert, paths.cert, paths.key] = set.map((n) => [path.join(dir, n), 'GANTRY_BUILDKIT_TLS_DIR'] as [string, string]);
    else if (!Object.values(names).every((n) => f[n])) {
      errors.push({ path: 'GANTRY_BUILDKIT_TLS_DIR', message: `${dir} holds neither ${TLS_DIR_NAMES.map((s) => s.join(', ')).join(' nor ')}`, hint: hints.GANTRY_BUILDKIT_TLS_DIR! });
      return out;
    }
  }
  for (const [k, n] of Object.entries(names) as [keyof typeof names, string][]) {
    const v = f[names[k]];
    if (v) paths[k] = [v, n];
  }
  let ok = true;
  for (const [k, n] of Object.entries(names) as [keyof typeof names, string][]) {
    const p = paths[k];
    if (!p) { ok = false; errors.push({ path: n, message: 'missing: buildkitd\'s TLS needs the CA certificate, the client certificate and the client key', hint: hints[n]! }); continue; }
    if (!probe.exists(p[0])) { ok = false; errors.push({ path: p[1], message: `no file at ${p[0]}`, hint: hints[p[1]]! }); }
  }
  const addr = f.GANTRY_BUILDKIT_ADDR ?? DEFAULT_BUILDKIT_ADDR;
  if (!addr.startsWith('tcp://')) {
    ok = false;
    errors.push({ path: 'GANTRY_BUILDKIT_ADDR', message: `TLS certificates are configured, but the address ${addr} is not tcp://`, hint: hints.GANTRY_BUILDKIT_ADDR! });
  }
  if (ok) {
    out.buildkitTls = {
      caCert: paths.caCert![0], cert: paths.cert![0], key: paths.key![0],
      setting: dir ? `GANTRY_BUILDKIT_TLS_DIR=${dir}` : 'GANTRY_BUILDKIT_TLS_CA_CERT, GANTRY_BUILDKIT_TLS_CERT, GANTRY_BUILDKIT_TLS_KEY',
    };
  }
  return out;
}

/** GANTRY_WORKER_DEPLOYMENT and GANTRY_BUILD_ID: both or neither (a value that failed its own check has its error already). */
function workerVersion(deploymentName: string | undefined, buildId: string | undefined, env: Env, errors: ConfigError[]): WorkerVersionSettings | undefined {
  const d = !!env.GANTRY_WORKER_DEPLOYMENT?.trim();
  const b = !!env.GANTRY_BUILD_ID?.trim();
  if (d !== b) {
    const [missing, set] = d ? ['GANTRY_BUILD_ID', 'GANTRY_WORKER_DEPLOYMENT'] : ['GANTRY_WORKER_DEPLOYMENT', 'GANTRY_BUILD_ID'];
    errors.push({ path: missing, message: `is not set, but ${set} is: Worker Versioning needs both`, hint: hints[missing]! });
  }
  return deploymentName && buildId ? { deploymentName, buildId } : undefined;
}

/** Reads a PEM certificate file; why it is unusable, or undefined. */
function pemCertificateProblem(file: string): string | undefined {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? `no file at ${file}` : `${file} cannot be read by this process`;
  }
  try { new crypto.X509Certificate(text); } catch { return `${file} is not a PEM certificate`; }
  return undefined;
}

/** Prometheus credentials and CA (checked now: files readable, one kind of credentials, both halves of basic auth). */
function prometheusAccess(f: ReturnType<typeof fieldsOf<typeof workerShape>>, env: Env, errors: ConfigError[]): { prometheusAccess?: PrometheusAccess } {
  const token = !!env[PROMETHEUS_TOKEN_ENV]?.trim();
  const password = !!env[PROMETHEUS_PASSWORD_ENV]?.trim();
  const user = f.GANTRY_PROMETHEUS_USERNAME;
  const kinds = [token && PROMETHEUS_TOKEN_ENV, f.GANTRY_PROMETHEUS_TOKEN_FILE && 'GANTRY_PROMETHEUS_TOKEN_FILE', (user || password) && 'GANTRY_PROMETHEUS_USERNAME/_PASSWORD'].filter(Boolean);
  const before = errors.length;
  const url = f.GANTRY_PROMETHEUS_URL;
  if (kinds.length > 1) {
    errors.push({ path: PROMETHEUS_TOKEN_ENV, message: `Prometheus credentials are set more than one way (${kinds.join(', ')})`, hint: 'set one: a bearer token (GANTRY_PROMETHEUS_TOKEN or GANTRY_PROMETHEUS_TOKEN_FILE) or basic auth (GANTRY_PROMETHEUS_USERNAME and GANTRY_PROMETHEUS_PASSWORD)' });
  }
  if (user && !password) errors.push({ path: PROMETHEUS_PASSWORD_ENV, message: 'is not set, but GANTRY_PROMETHEUS_USERNAME is', hint: 'set the basic auth password (from a Secret) with the user, or unset GANTRY_PROMETHEUS_USERNAME' });
  if (password && !user && !env.GANTRY_PROMETHEUS_USERNAME?.trim()) errors.push({ path: 'GANTRY_PROMETHEUS_USERNAME', message: `is not set, but ${PROMETHEUS_PASSWORD_ENV} is`, hint: hints.GANTRY_PROMETHEUS_USERNAME! });
  if (f.GANTRY_PROMETHEUS_TOKEN_FILE) {
    let why: string | undefined;
    try { if (!fs.readFileSync(f.GANTRY_PROMETHEUS_TOKEN_FILE, 'utf8').trim()) why = 'is empty'; } catch (err) {
      why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read by this process';
    }
    if (why) errors.push({ path: 'GANTRY_PROMETHEUS_TOKEN_FILE', message: `the token file ${echo(f.GANTRY_PROMETHEUS_TOKEN_FILE)} ${why}`, hint: hints.GANTRY_PROMETHEUS_TOKEN_FILE! });
  }
  if (f.GANTRY_PROMETHEUS_CA_FILE) {
    const why = pemCertificateProblem(f.GANTRY_PROMETHEUS_CA_FILE);
    if (why) errors.push({ path: 'GANTRY_PROMETHEUS_CA_FILE', message: why, hint: hints.GANTRY_PROMETHEUS_CA_FILE! });
    else if (url && !url.startsWith('https:')) errors.push({ path: 'GANTRY_PROMETHEUS_CA_FILE', message: `a CA is set, but GANTRY_PROMETHEUS_URL is not https:// (${echo(url)})`, hint: hints.GANTRY_PROMETHEUS_CA_FILE! });
  }
  const any = kinds.length > 0 || !!f.GANTRY_PROMETHEUS_CA_FILE;
  if (any && !url && !env.GANTRY_PROMETHEUS_URL?.trim()) errors.push({ path: 'GANTRY_PROMETHEUS_URL', message: 'is not set, but Prometheus credentials or a CA are', hint: hints.GANTRY_PROMETHEUS_URL! });
  if (errors.length > before || !any) return {};
  const auth: PrometheusAccess['auth'] = token ? { kind: 'bearer', tokenEnv: PROMETHEUS_TOKEN_ENV }
    : f.GANTRY_PROMETHEUS_TOKEN_FILE ? { kind: 'bearer-file', tokenFile: f.GANTRY_PROMETHEUS_TOKEN_FILE }
      : user ? { kind: 'basic', username: user, passwordEnv: PROMETHEUS_PASSWORD_ENV } : undefined;
  return { prometheusAccess: { ...(auth ? { auth } : {}), ...(f.GANTRY_PROMETHEUS_CA_FILE ? { caFile: f.GANTRY_PROMETHEUS_CA_FILE } : {}) } };
}

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
  const version = workerVersion(f.GANTRY_WORKER_DEPLOYMENT, f.GANTRY_BUILD_ID, env, errors);
  // A split install needs two queues: on one, the release worker would be handed repository code
  // (or the build worker cluster steps) it does not serve.
  if (role !== 'all' && base.buildTaskQueue === base.taskQueue) {
    errors.push({
      path: 'GANTRY_BUILD_TASK_QUEUE',
      message: `a ${role} worker needs a build task queue other than the task queue (${base.taskQueue})`,
      hint: `${hints.GANTRY_BUILD_TASK_QUEUE}; or GANTRY_WORKER_ROLE=all for one worker that serves everything`,
    });
  }

  const credentials = buildCredentials(f, env, probe, errors);
  // GitHub App (statuses, deployments, and git over HTTPS to its GitHub) and git credentials.
  const githubApiUrl = (f.GANTRY_GITHUB_API_URL ?? DEFAULT_GITHUB_API_URL).replace(/\/+$/, '');
  const githubApp = githubAppSettings(env, githubApiUrl, errors);
  const git = gitCredentialSettings(env, dataDir, githubApp, errors);

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
          ...prometheusAccess(f, env, errors),
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
  // The prebuilt workflow bundle is read at start by a worker that runs workflows (a build worker runs none).
  const bundle = role === 'build' ? undefined : f.GANTRY_WORKFLOW_BUNDLE;
  if (bundle) {
    let why: string | undefined;
    try {
      if (!fs.statSync(bundle).isFile()) why = 'is not a file';
      else fs.accessSync(bundle, fs.constants.R_OK);
    } catch (err) {
      why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read by this process';
    }
    if (why) errors.push({ path: 'GANTRY_WORKFLOW_BUNDLE', message: `the workflow bundle ${echo(bundle)} ${why}`, hint: hints.GANTRY_WORKFLOW_BUNDLE! });
  }
  if (errors.length) throw new RuntimeConfigError(errors);

  const tool = (configured: string | undefined, command: string) => probe.which(configured ?? command, env) ?? configured ?? command;
  return withEnv({
    ...base,
    dataDir,
    role,
    ...(version ? { version } : {}),
    ...(f.GANTRY_HEALTH_ADDR ? { healthAddr: f.GANTRY_HEALTH_ADDR } : {}),
    ...(f.GANTRY_METRICS_ADDR ? { metricsAddr: f.GANTRY_METRICS_ADDR } : {}),
    logFormat: f.GANTRY_LOG_FORMAT ?? 'json',
    ...(bundle ? { workflowBundle: bundle } : {}),
    cluster: cluster!,
    pipeline: {
      workspaceRoot: dirs.workspaceRoot[1], logDir: dirs.logDir[1],
      buildkitAddr: f.GANTRY_BUILDKIT_ADDR ?? DEFAULT_BUILDKIT_ADDR,
      buildctlBin: tool(f.GANTRY_BUILDCTL, 'buildctl'),
      hadolintBin: tool(f.GANTRY_HADOLINT, 'hadolint'),
      ...credentials,
      ...(git ? { git } : {}),
    },
    github: { apiUrl: githubApiUrl, tokenEnv: GITHUB_TOKEN_ENV, ...(githubApp ? { app: githubApp } : {}) },
    slack: {
      apiUrl: (f.GANTRY_SLACK_API_URL ?? DEFAULT_SLACK_API_URL).replace(/\/+$/, ''), tokenEnv: SLACK_TOKEN_ENV,
      ...(f.GANTRY_SLACK_CHANNEL ? { channel: f.GANTRY_SLACK_CHANNEL } : {}), enabled: role !== 'build' && !!env[SLACK_TOKEN_ENV]?.trim(),
    },
    ...(f.GANTRY_PUBLIC_URL ? { publicUrl: f.GANTRY_PUBLIC_URL } : {}),
  }, env);
}

// ---------------------------------------------------------------------------------------------
// The API

const apiShape = {
  GANTRY_API_ADDR: listen,
  GANTRY_PUBLIC_INDEX: flag,
  GANTRY_SERVER_CONFIG: z.string().min(1),
};

const headerName = z.string().transform((v) => v.toLowerCase()).pipe(z.string().regex(/^[a-z0-9-]{1,100}$/, { error: 'expected an HTTP header name (letters, digits, -)' }));
const claimName = z.string().regex(/^[\w.:/-]{1,100}$/, { error: 'expected a claim name' });
const consoleShape = {
  GANTRY_PUBLIC_URL: publicUrl,
  GANTRY_TEMPORAL_UI_URL: httpUrl.transform((v) => v.replace(/\/+$/, '')),
  GANTRY_UI_SESSION_TTL: duration.transform((v) => parseDuration(v)!).refine((ms) => ms >= 60_000 && ms <= 30 * 86400_000, { error: 'expected 1m to 30d' }),
  GANTRY_UI_TRUSTED_PROXIES: z.string().transform((v, ctx) => {
    const list = v.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = list.filter((a) => !ipOrCidr(a));
    if (bad.length || !list.length) { ctx.addIssue({ code: 'custom', message: `expected IP addresses or CIDRs${bad.length ? `, not ${bad.map((b) => echo(b)).join(', ')}` : ''}` }); return z.NEVER; }
    return list;
  }),
  GANTRY_UI_PROXY_USER_HEADER: headerName,
  GANTRY_UI_PROXY_GROUPS_HEADER: headerName,
  GANTRY_UI_OIDC_ISSUER: httpUrl.refine((v) => { const u = new URL(v); return u.protocol === 'https:' || /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(u.hostname); },
    { error: 'expected an https URL (http only for a provider on this machine)' }),
  GANTRY_UI_OIDC_CLIENT_ID: z.string().min(1).max(255).refine((v) => controlCharacterIn(v) === undefined, { error: 'no control characters' }),
  GANTRY_UI_OIDC_SCOPES: z.string().transform((v) => v.split(/\s+/).filter(Boolean)).refine((s) => s.includes('openid'), { error: 'expected the scopes to include openid' })
    .refine((s) => s.every((x) => /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(x)), { error: 'expected space-separated scope names' }),
  GANTRY_UI_OIDC_USER_CLAIM: claimName,
  GANTRY_UI_OIDC_GROUPS_CLAIM: claimName,
  GANTRY_UI_TOKEN_LOGIN: flag,
};

/** An IPv4/IPv6 address or CIDR (what net.BlockList takes). */
export function ipOrCidr(text: string): boolean {
  const [addr, prefix, extra] = text.split('/');
  const family = net.isIP(addr ?? '');
  if (!family || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const MIN_SESSION_SECRET_BYTES = 32;

/** The console's sign-in settings; undefined (console off) when no method is configured. */
function consoleSettings(env: Env, errors: ConfigError[]): ConsoleSettings | undefined {
  const f = fieldsOf(consoleShape, env, errors);
  const set = (k: string) => !!env[k]?.trim();
  const oidcVars = ['GANTRY_UI_OIDC_ISSUER', 'GANTRY_UI_OIDC_CLIENT_ID', 'GANTRY_UI_OIDC_CLIENT_SECRET', 'GANTRY_UI_OIDC_SCOPES', 'GANTRY_UI_OIDC_USER_CLAIM', 'GANTRY_UI_OIDC_GROUPS_CLAIM'];
  const proxyVars = ['GANTRY_UI_TRUSTED_PROXIES', 'GANTRY_UI_PROXY_USER_HEADER', 'GANTRY_UI_PROXY_GROUPS_HEADER'];
  const wantsOidc = oidcVars.some(set);
  const wantsProxy = proxyVars.some(set);
  // An unreadable value is reported by itself, not also as "no sign-in method".
  const wantsToken = f.GANTRY_UI_TOKEN_LOGIN ?? set('GANTRY_UI_TOKEN_LOGIN');
  if (!wantsOidc && !wantsProxy && !wantsToken) {
    if (set('GANTRY_UI_SESSION_SECRET') || set('GANTRY_UI_SESSION_TTL')) {
      errors.push({ path: 'GANTRY_UI_TRUSTED_PROXIES', message: 'the console has a session secret but no sign-in method', hint: 'set GANTRY_UI_TRUSTED_PROXIES (an auth proxy), GANTRY_UI_OIDC_ISSUER and GANTRY_UI_OIDC_CLIENT_ID (OIDC), or GANTRY_UI_TOKEN_LOGIN=true (API tokens); or unset GANTRY_UI_SESSION_SECRET to keep the console off' });
    }
    return undefined;
  }
  // Half-configured methods are errors, never a console that silently lacks one.
  if (wantsProxy && !set('GANTRY_UI_TRUSTED_PROXIES')) {
    errors.push({ path: 'GANTRY_UI_TRUSTED_PROXIES', message: 'proxy identity headers are configured but no trusted proxy address', hint: hints.GANTRY_UI_TRUSTED_PROXIES! });
  }
  if (wantsOidc) {
    for (const k of ['GANTRY_UI_OIDC_ISSUER', 'GANTRY_UI_OIDC_CLIENT_ID', 'GANTRY_PUBLIC_URL']) {
      if (!set(k)) errors.push({ path: k, message: `OIDC sign-in is half configured: ${k} is not set`, hint: `${hints[k]!}${k === 'GANTRY_PUBLIC_URL' ? ' (the OIDC redirect needs it)' : ''}` });
    }
  }
  const secret = env.GANTRY_UI_SESSION_SECRET?.trim() ?? '';
  if (Buffer.byteLength(secret, 'utf8') < MIN_SESSION_SECRET_BYTES) {
    errors.push({
      path: 'GANTRY_UI_SESSION_SECRET',
      message: secret ? `the console's session secret is too short (${Buffer.byteLength(secret, 'utf8')} bytes, at least ${MIN_SESSION_SECRET_BYTES})`
        : `the console is on (sign-in by ${[wantsProxy ? 'GANTRY_UI_TRUSTED_PROXIES' : '', wantsOidc ? 'GANTRY_UI_OIDC_*' : '', wantsToken ? 'GANTRY_UI_TOKEN_LOGIN' : ''].filter(Boolean).join(', ')}) but has no session secret to seal its session cookies`,
      hint: hints.GANTRY_UI_SESSION_SECRET!,
    });
  }
  const settings: Omit<ConsoleSettings, 'env'> = {
    ...(f.GANTRY_PUBLIC_URL ? { publicUrl: f.GANTRY_PUBLIC_URL } : {}),
    sessionSecretEnv: 'GANTRY_UI_SESSION_SECRET',
    sessionTtlMs: f.GANTRY_UI_SESSION_TTL ?? DEFAULT_UI_SESSION_TTL_MS,
    ...(f.GANTRY_TEMPORAL_UI_URL ? { temporalUiUrl: f.GANTRY_TEMPORAL_UI_URL } : {}),
    ...(f.GANTRY_UI_TRUSTED_PROXIES ? {
      proxy: { trusted: f.GANTRY_UI_TRUSTED_PROXIES, userHeader: f.GANTRY_UI_PROXY_USER_HEADER ?? 'x-forwarded-user', groupsHeader: f.GANTRY_UI_PROXY_GROUPS_HEADER ?? 'x-forwarded-groups' },
    } : {}),
    ...(f.GANTRY_UI_OIDC_ISSUER && f.GANTRY_UI_OIDC_CLIENT_ID ? {
      oidc: {
        issuer: f.GANTRY_UI_OIDC_ISSUER, clientId: f.GANTRY_UI_OIDC_CLIENT_ID,
        ...(set('GANTRY_UI_OIDC_CLIENT_SECRET') ? { clientSecretEnv: 'GANTRY_UI_OIDC_CLIENT_SECRET' as const } : {}),
        scopes: f.GANTRY_UI_OIDC_SCOPES ?? ['openid', 'profile', 'email'],
        userClaim: f.GANTRY_UI_OIDC_USER_CLAIM ?? 'preferred_username', groupsClaim: f.GANTRY_UI_OIDC_GROUPS_CLAIM ?? 'groups',
      },
    } : {}),
    ...(wantsToken ? { tokenLogin: true as const } : {}),
  };
  return withEnv(settings, env);
}

/** The API's configuration from `env`; throws a RuntimeConfigError listing every problem. */
export function loadApiConfig(env: Env = process.env): ApiConfig {
  const errors: ConfigError[] = [];
  const base = common(env, errors);
  const f = fieldsOf(apiShape, env, errors);
  // The GitHub App replies to /gantry comments (api/server-config.ts); checked here, at start.
  githubAppSettings(env, DEFAULT_GITHUB_API_URL, errors);
  const consoleSet = consoleSettings(env, errors);
  if (errors.length) throw new RuntimeConfigError(errors);
  return withEnv({
    ...base,
    listen: f.GANTRY_API_ADDR ?? listenAddress(DEFAULT_API_ADDR)!,
    publicIndex: f.GANTRY_PUBLIC_INDEX ?? false,
    ...(f.GANTRY_SERVER_CONFIG ? { serverConfigFile: f.GANTRY_SERVER_CONFIG } : {}),
    hasTokens: !!env.GANTRY_TOKENS?.trim(),
    ...(consoleSet ? { console: consoleSet } : {}),
  }, env);
}
