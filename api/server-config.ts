// The server side of triggers and ChatOps: which repositories the API serves (where each one's
// gantry.yaml is, and the env var holding its webhook secret), the GitHub and Slack endpoints, and
// who chat users are in Gantry. Read from the same YAML file as the identities (GANTRY_SERVER_CONFIG):
//
//   github:
//     api_url: https://api.github.com          # GitHub Enterprise: https://ghe.example.com/api/v3
//     token_env: GANTRY_GITHUB_TOKEN            # optional: reply to /gantry comments (a PAT or app token)
//                                               # (a GitHub App in GANTRY_GITHUB_APP_* replies instead, for api_url)
//   repos:
//     - name: acme/shop                         # the repository's full name, as GitHub sends it
//       config: shop/gantry.yaml                # a path (relative to this file) or an http(s) URL
//       secret_env: GANTRY_WEBHOOK_SECRET_SHOP   # the env var that holds the webhook secret
//       clone_url: from-payload                 # optional: pushes build from source (or a git URL to clone)
//   slack:
//     signing_secret_env: SLACK_SIGNING_SECRET  # the env var that holds the Slack app's signing secret
//   chat:
//     slack:  { U024BE7LH: alice }              # Slack user id -> Gantry id
//     github: { octocat: alice }                # GitHub login  -> Gantry id
//
// Secrets are only ever named here (env var names); their values are read from the environment once
// at start and kept in memory, never logged. A chat user's groups are those of the Gantry identity of
// the same id (from `identities` in this file or GANTRY_TOKENS), unless given as { id, groups }.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Identity } from '../core/approval.js';
import { appOctokitAuth, githubAppSettings, type GitHubAppSettings } from '../activities/github-auth.js';
import type { ConfigError } from '../core/config.js';

export const DEFAULT_GITHUB_API = 'https://api.github.com';

export interface RepoEntry {
  /** owner/name as configured (matching is case-insensitive, as on GitHub). */
  name: string;
  /** Absolute path or http(s) URL of the repository's gantry.yaml. */
  config: string;
  /** The env var name holding the webhook secret (for messages; the value is in `secret`). */
  secretEnv: string;
  secret: string;
  /**
   * Pushes build from source when set: the URL the worker clones (or 'from-payload': the webhook's own
   * repository.clone_url). Unset: a push releases the configured image, and "gates" branches start nothing.
   */
  cloneUrl?: string;
}

export interface TriggerServerConfig {
  repos: ReadonlyMap<string, RepoEntry>;
  /** `app`: the GitHub App of GANTRY_GITHUB_APP_* (activities/github-auth.ts); replies use it when set. */
  github: {
    apiUrl: string; tokenEnv?: string; token?: string; app?: GitHubAppSettings;
    /** Octokit's auth options for the App (its key read at start); a function, so the key is never serialized. */
    appAuth?: () => ReturnType<typeof appOctokitAuth>;
  };
  slack?: { signingSecretEnv: string; signingSecret: string };
  chat: { slack: ReadonlyMap<string, Identity>; github: ReadonlyMap<string, Identity> };
}

export class ServerConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'ServerConfigError'; }
}

const envVar = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { error: 'an environment variable name (A-Z, 0-9, _), not the secret itself' });
const chatTarget = z.union([z.string().min(1).max(200), z.strictObject({ id: z.string().min(1).max(200), groups: z.array(z.string().min(1)).default([]) })]);
const schema = z.object({
  identities: z.array(z.object({ id: z.string(), groups: z.array(z.string()).default([]) })).default([]),
  github: z.strictObject({ api_url: z.url({ protocol: /^https?$/ }).default(DEFAULT_GITHUB_API), token_env: envVar.optional() }).default({ api_url: DEFAULT_GITHUB_API }),
  repos: z.array(z.strictObject({
    name: z.string().regex(/^[\w.-]+\/[\w.-]+$/, { error: 'name is the repository full name: owner/name' }),
    config: z.string().min(1),
    secret_env: envVar,
    clone_url: z.union([z.literal('from-payload'), z.string().regex(/^(https?|ssh|git|file):\/\/\S+$/, { error: "clone_url is a git URL (https://, ssh://, git://, file://) or 'from-payload'" })]).optional(),
  })).default([]),
  slack: z.strictObject({ signing_secret_env: envVar }).optional(),
  chat: z.strictObject({
    slack: z.record(z.string().regex(/^[UW][A-Z0-9]+$/, { error: 'a Slack user id such as U024BE7LH' }), chatTarget).default({}),
    github: z.record(z.string().regex(/^[A-Za-z0-9-]+(\[bot\])?$/, { error: 'a GitHub login' }), chatTarget).default({}),
  }).default({ slack: {}, github: {} }),
});

export type ServerConfigDoc = z.input<typeof schema>;

export interface ServerConfigOptions {
  env?: Record<string, string | undefined>;
  /** Relative gantry.yaml paths are resolved against this directory (the config file's). */
  baseDir?: string;
}

function secretFrom(env: Record<string, string | undefined>, name: string, what: string): string {
  const v = env[name];
  if (!v) throw new ServerConfigError(`${what}: the environment variable ${name} is not set (it holds the secret)`);
  return v;
}

/** Groups of the identities given by GANTRY_TOKENS (values only; the tokens are not kept). */
function tokenGroups(env: Record<string, string | undefined>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const raw = env.GANTRY_TOKENS?.trim();
  if (!raw) return out;
  try {
    const doc = JSON.parse(raw) as Record<string, { id?: unknown; groups?: unknown }>;
    for (const v of Object.values(doc)) if (typeof v?.id === 'string') out.set(v.id, Array.isArray(v.groups) ? v.groups.filter((g): g is string => typeof g === 'string') : []);
  } catch { /* auth.ts reports a malformed GANTRY_TOKENS */ }
  return out;
}

/** Builds the trigger config from a parsed document (the server config file's content). */
export function triggerConfig(doc: unknown, opts: ServerConfigOptions = {}): TriggerServerConfig {
  const env = opts.env ?? process.env;
  const parsed = schema.safeParse(doc ?? {});
  if (!parsed.success) throw new ServerConfigError(`server config is invalid: ${parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`).join('; ')}`);
  const d = parsed.data;
  const groupsOf = tokenGroups(env);
  for (const i of d.identities) groupsOf.set(i.id, i.groups);
  const chatMap = (m: Record<string, z.output<typeof chatTarget>>, lower: boolean) => new Map(Object.entries(m).map(([k, v]) => [
    lower ? k.toLowerCase() : k,
    typeof v === 'string' ? { id: v, groups: groupsOf.get(v) ?? [] } : { id: v.id, groups: v.groups },
  ] as const));
  const repos = new Map<string, RepoEntry>();
  for (const r of d.repos) {
    const key = r.name.toLowerCase();
    if (repos.has(key)) throw new ServerConfigError(`server config: repository ${r.name} is listed twice`);
    const config = /^https?:\/\//.test(r.config) ? r.config : path.resolve(opts.baseDir ?? process.cwd(), r.config);
    repos.set(key, { name: r.name, config, secretEnv: r.secret_env, secret: secretFrom(env, r.secret_env, `repos ${r.name}`), ...(r.clone_url ? { cloneUrl: r.clone_url } : {}) });
  }
  const tokenEnv = d.github.token_env;
  const token = tokenEnv ? env[tokenEnv] : undefined;
  if (tokenEnv && !token) throw new ServerConfigError(`github.token_env: the environment variable ${tokenEnv} is not set`);
  const appErrors: ConfigError[] = [];
  const app = githubAppSettings(env, d.github.api_url, appErrors);
  if (appErrors.length) throw new ServerConfigError(appErrors.map((e) => `${e.path}: ${e.message} (${e.hint})`).join('; '));
  let appAuth: ReturnType<typeof appOctokitAuth> | undefined;
  if (app) {
    try { appAuth = appOctokitAuth(app, env); } catch (err) { throw new ServerConfigError(err instanceof Error ? err.message : String(err)); }
  }
  return {
    repos,
    github: { apiUrl: d.github.api_url.replace(/\/+$/, ''), ...(tokenEnv && token ? { tokenEnv, token } : {}), ...(app && appAuth ? { app, appAuth: () => appAuth } : {}) },
    ...(d.slack ? { slack: { signingSecretEnv: d.slack.signing_secret_env, signingSecret: secretFrom(env, d.slack.signing_secret_env, 'slack.signing_secret_env') } } : {}),
    chat: { slack: chatMap(d.chat.slack, false), github: chatMap(d.chat.github, true) },
  };
}

export const emptyTriggerConfig = (): TriggerServerConfig => triggerConfig({}, { env: {} });

/** Loads the trigger config from the GANTRY_SERVER_CONFIG file (empty when the variable is not set). */
export function loadTriggerConfig(opts: { env?: Record<string, string | undefined> } = {}): TriggerServerConfig {
  const env = opts.env ?? process.env;
  const file = env.GANTRY_SERVER_CONFIG?.trim();
  if (!file) return triggerConfig({}, { env });
  let doc: unknown;
  try {
    doc = parseYaml(fs.readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    throw new ServerConfigError(`GANTRY_SERVER_CONFIG=${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message.split('\n')[0] : String(err))}`);
  }
  return triggerConfig(doc, { env, baseDir: path.dirname(path.resolve(file)) });
}

export function repoEntry(cfg: TriggerServerConfig, fullName: string | undefined): RepoEntry | undefined {
  return fullName ? cfg.repos.get(fullName.toLowerCase()) : undefined;
}

// ---------------------------------------------------------------------------------------------
// A repository's gantry.yaml as text: files are re-read when they change; URLs are cached briefly.

const fileCache = new Map<string, { mtimeMs: number; size: number; text: string }>();
const urlCache = new Map<string, { at: number; text: string }>();
const URL_TTL_MS = 30_000;

export async function readRepoConfig(entry: RepoEntry, fetchImpl: typeof fetch = fetch): Promise<string> {
  if (/^https?:\/\//.test(entry.config)) {
    const hit = urlCache.get(entry.config);
    if (hit && Date.now() - hit.at < URL_TTL_MS) return hit.text;
    const res = await fetchImpl(entry.config, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`GET ${entry.config}: HTTP ${res.status}`);
    const text = await res.text();
    urlCache.set(entry.config, { at: Date.now(), text });
    return text;
  }
  const st = await fs.promises.stat(entry.config);
  const hit = fileCache.get(entry.config);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.text;
  const text = await fs.promises.readFile(entry.config, 'utf8');
  fileCache.set(entry.config, { mtimeMs: st.mtimeMs, size: st.size, text });
  return text;
}
