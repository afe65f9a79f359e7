// How Gantry authenticates to GitHub: a GitHub App installation (preferred: short-lived tokens,
// higher rate limits, per-repository permissions) or a personal access token (GANTRY_GITHUB_TOKEN).
// One module for the three users: the GitHub activities (statuses, deployments), the git activities
// (clone and tag push of the GitHub host's repositories over HTTPS with an installation token) and
// the API (replies to /gantry comments).
//
// Settings (environment; each maps to a Kubernetes Secret or ConfigMap key):
//   GANTRY_GITHUB_APP_ID                the App's id (the JWT's `iss`)
//   GANTRY_GITHUB_APP_INSTALLATION_ID   the installation of the App on the organisation or account
//   GANTRY_GITHUB_APP_PRIVATE_KEY       the App's private key (PEM) itself, e.g. from a Secret via secretKeyRef
//   GANTRY_GITHUB_APP_PRIVATE_KEY_FILE  or: the path of the PEM file (a Secret mounted as a volume)
// The App is used for the GitHub API of GANTRY_GITHUB_API_URL and for git over HTTPS to that GitHub's
// host (github.com for api.github.com, the API URL's host for GitHub Enterprise). The key is read
// when first needed and never logged; only the setting names and the file path are shown.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import type { ConfigError } from '../core/config.js';
import { echo } from '../core/text.js';

export const GITHUB_APP_ID_ENV = 'GANTRY_GITHUB_APP_ID';
export const GITHUB_APP_INSTALLATION_ENV = 'GANTRY_GITHUB_APP_INSTALLATION_ID';
export const GITHUB_APP_KEY_ENV = 'GANTRY_GITHUB_APP_PRIVATE_KEY';
export const GITHUB_APP_KEY_FILE_ENV = 'GANTRY_GITHUB_APP_PRIVATE_KEY_FILE';

export interface GitHubAppSettings {
  appId: string;
  installationId: number;
  /** Where the PEM private key is: the variable holding it, or a file. Never the key itself. */
  key: { env: string } | { file: string };
  /** The GitHub API the App belongs to (GANTRY_GITHUB_API_URL), without a trailing slash. */
  apiUrl: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Where the key comes from, for messages (a setting name and a path, never the key). */
export function appKeySource(s: GitHubAppSettings): string {
  return 'env' in s.key ? s.key.env : `${GITHUB_APP_KEY_FILE_ENV} (${s.key.file})`;
}

/** The App named by its settings, for messages. */
export function describeApp(s: GitHubAppSettings): string {
  return `GitHub App ${s.appId} (${GITHUB_APP_ID_ENV}), installation ${s.installationId} (${GITHUB_APP_INSTALLATION_ENV}), key from ${appKeySource(s)}`;
}

/** Checks a PEM private key without showing it; undefined when it is one. */
function keyProblem(pem: string): string | undefined {
  try {
    const k = crypto.createPrivateKey(pem);
    return k.asymmetricKeyType === 'rsa' ? undefined : `is a ${k.asymmetricKeyType ?? 'non-RSA'} key; GitHub App keys are RSA`;
  } catch { return 'is not a PEM private key'; }
}

/**
 * The GitHub App settings of an environment; undefined when no App is configured. Every problem is
 * pushed to `errors` (path = the variable's name); the key is loaded and checked, never echoed.
 */
export function githubAppSettings(env: Env, apiUrl: string, errors: ConfigError[]): GitHubAppSettings | undefined {
  const v = (k: string) => env[k]?.trim() || undefined;
  const id = v(GITHUB_APP_ID_ENV);
  const inst = v(GITHUB_APP_INSTALLATION_ENV);
  const keyValue = env[GITHUB_APP_KEY_ENV]?.trim() ? env[GITHUB_APP_KEY_ENV]! : undefined;
  const keyFile = v(GITHUB_APP_KEY_FILE_ENV);
  if (!id && !inst && !keyValue && !keyFile) return undefined;
  const hint = `a GitHub App needs ${GITHUB_APP_ID_ENV}, ${GITHUB_APP_INSTALLATION_ENV} and one of ${GITHUB_APP_KEY_ENV} (the PEM) or ${GITHUB_APP_KEY_FILE_ENV} (its path); unset them all to use ${'GANTRY_GITHUB_TOKEN'}`;
  const before = errors.length;
  if (!id) errors.push({ path: GITHUB_APP_ID_ENV, message: 'not set, but other GitHub App settings are', hint });
  else if (!/^\d{1,12}$/.test(id)) errors.push({ path: GITHUB_APP_ID_ENV, message: `expected the App's numeric id, got ${echo(id)}`, hint: 'the App id is on the App\'s settings page (About: App ID)' });
  if (!inst) errors.push({ path: GITHUB_APP_INSTALLATION_ENV, message: 'not set, but other GitHub App settings are', hint });
  else if (!/^\d{1,15}$/.test(inst)) errors.push({ path: GITHUB_APP_INSTALLATION_ENV, message: `expected a numeric installation id, got ${echo(inst)}`, hint: 'the installation id is the number in the URL of the installation\'s settings (…/settings/installations/<id>)' });
  let key: GitHubAppSettings['key'] | undefined;
  if (keyValue && keyFile) errors.push({ path: GITHUB_APP_KEY_FILE_ENV, message: `both ${GITHUB_APP_KEY_ENV} and ${GITHUB_APP_KEY_FILE_ENV} are set`, hint: 'set one of them' });
  else if (keyValue) {
    const p = keyProblem(keyValue);
    if (p) errors.push({ path: GITHUB_APP_KEY_ENV, message: `the value ${p}`, hint: 'the PEM file GitHub generated for the App (-----BEGIN RSA PRIVATE KEY-----…), with its line breaks' });
    else key = { env: GITHUB_APP_KEY_ENV };
  } else if (keyFile) {
    let pem: string | undefined;
    try { pem = fs.readFileSync(keyFile, 'utf8'); } catch (err) {
      errors.push({ path: GITHUB_APP_KEY_FILE_ENV, message: `${keyFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, hint: 'the path of the App\'s PEM private key, readable by this process (a mounted Secret)' });
    }
    const p = pem === undefined ? undefined : keyProblem(pem);
    if (p) errors.push({ path: GITHUB_APP_KEY_FILE_ENV, message: `${keyFile} ${p}`, hint: 'the PEM file GitHub generated for the App' });
    else if (pem !== undefined) key = { file: keyFile };
  } else errors.push({ path: GITHUB_APP_KEY_ENV, message: `neither ${GITHUB_APP_KEY_ENV} nor ${GITHUB_APP_KEY_FILE_ENV} is set, but other GitHub App settings are`, hint });
  if (errors.length > before || !key) return undefined;
  return { appId: id!, installationId: Number(inst), key, apiUrl: apiUrl.replace(/\/+$/, '') };
}

/** The App's private key (PEM), read now; throws an Error naming the setting (never the key). */
export function readAppKey(s: GitHubAppSettings, env: Env): string {
  if ('env' in s.key) {
    const v = env[s.key.env];
    if (!v?.trim()) throw new Error(`${s.key.env} is not set on this process (it holds the GitHub App's private key)`);
    return v;
  }
  try { return fs.readFileSync(s.key.file, 'utf8'); } catch (err) {
    throw new Error(`${GITHUB_APP_KEY_FILE_ENV}: ${s.key.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * The https origin git uses for the GitHub of an API URL, with a trailing slash: github.com for
 * api.github.com, the API's own origin for GitHub Enterprise (https://<host>/api/v3).
 */
export function gitOriginOfApi(apiUrl: string): string {
  const u = new URL(apiUrl);
  if (u.hostname === 'api.github.com') return 'https://github.com/';
  return `${u.origin}/`;
}

/** Octokit options authenticating as the App's installation (tokens fetched and renewed by @octokit/auth-app). */
export function appOctokitAuth(s: GitHubAppSettings, env: Env): { authStrategy: typeof createAppAuth; auth: { appId: string; privateKey: string; installationId: number } } {
  return { authStrategy: createAppAuth, auth: { appId: s.appId, privateKey: readAppKey(s, env), installationId: s.installationId } };
}

/** Whether an octokit error came from the App's token exchange (POST /app/installations/:id/access_tokens). */
export function isAppTokenRequest(err: unknown): boolean {
  const url = (err as { request?: { url?: unknown } } | undefined)?.request?.url;
  return typeof url === 'string' && /\/app\/installations\/\d+\/access_tokens$/.test(url);
}

/**
 * Installation tokens for git: one per App, cached and renewed by @octokit/auth-app (an hour's
 * lifetime; a new one a few minutes before expiry).
 */
export class InstallationTokens {
  private readonly auth: ReturnType<typeof createAppAuth>;
  constructor(readonly settings: GitHubAppSettings, env: Env, fetchImpl?: typeof fetch) {
    const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
    const request = new Octokit({ baseUrl: settings.apiUrl, userAgent: 'gantry', log: quiet, ...(fetchImpl ? { request: { fetch: fetchImpl } } : {}) }).request;
    this.auth = createAppAuth({ appId: settings.appId, privateKey: readAppKey(settings, env), installationId: settings.installationId, request });
  }
  async token(): Promise<string> {
    const a = await this.auth({ type: 'installation' });
    return a.token;
  }
}
