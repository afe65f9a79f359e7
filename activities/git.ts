// Git activities (simple-git): a per-repository workspace cache on the worker (a bare repository
// the commits are fetched into, and one detached worktree per commit), checkout of the exact sha
// (verified; a ref that moved is refused), commit metadata, gantry.yaml from the commit, and the
// annotated release tag. Every git process is killed when the activity is cancelled.
//
// Credentials (GitCredentialSettings, from the worker's environment: runtime/config.ts) reach git
// only through the environment of the git process, never its argv (readable by every user in
// /proc/<pid>/cmdline) nor a file in the repository (.git/config): git reads GIT_CONFIG_COUNT /
// GIT_CONFIG_KEY_<n> / GIT_CONFIG_VALUE_<n> as configuration of that one command.
//  - HTTPS: `http.https://<host>/.extraHeader: Authorization: Basic base64(<user>:<token>)`, scoped
//    to the host of the URL being fetched, the token from the variable GANTRY_GIT_HTTPS_TOKENS names
//    for that host, or a GitHub App installation token for the App's GitHub host; never over http.
//  - SSH: an ssh config Gantry writes in the data dir (key, known_hosts, strict host key checking,
//    IdentitiesOnly, batch mode), used with `ssh -F <file>` (see sshCommand for why).
//  - GANTRY_GIT_CA_FILE: the CA bundle git trusts for HTTPS (http.sslCAInfo).
// Secrets are scrubbed from every message; a refused credential is RepoForbidden (non-retryable)
// with a message that names the host and the setting to fix.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { GitPluginError, simpleGit, type SimpleGit } from 'simple-git';
import { formatConfigErrors, parseConfigText } from '../core/config.js';
import type { CommitInfo } from '../core/pipeline.js';
import { isFullSha, isShaPrefix, isValidRefName, lsRemoteSha, refDecision, workspaceName } from '../core/source.js';
import { cap, displayLine, echo } from '../core/text.js';
import type { ConfigError } from '../core/config.js';
import { fail, FailureType } from '../workflows/failures.js';
import { describeApp, gitOriginOfApi, InstallationTokens, type GitHubAppSettings } from './github-auth.js';
import type { CheckoutRequest, CheckoutResult, SourceRef, TagRequest, TagResult } from '../workflows/pipeline-activity-types.js';

export interface GitOptions {
  /** Root of the workspace cache: <root>/<repo>/cache.git and <root>/<repo>/trees/<sha>. */
  workspaceRoot: string;
  /** Identity of the release tags. */
  tagger?: { name: string; email: string };
  /** Credentials for the remotes (none: anonymous HTTPS, the worker user's own ssh setup). */
  git?: GitCredentialSettings;
  /** Where the variables named in `git` are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** fetch for the GitHub App's token requests (tests); default global fetch. */
  fetch?: typeof fetch;
}

export const GIT_HTTPS_TOKENS_ENV = 'GANTRY_GIT_HTTPS_TOKENS';
export const GIT_CA_FILE_ENV = 'GANTRY_GIT_CA_FILE';
export const GIT_SSH_KEY_FILE_ENV = 'GANTRY_GIT_SSH_KEY_FILE';
export const GIT_SSH_KNOWN_HOSTS_ENV = 'GANTRY_GIT_SSH_KNOWN_HOSTS_FILE';
/** The Basic-auth user name sent with a token when the entry names none (GitHub's convention; others ignore it). */
export const DEFAULT_TOKEN_USER = 'x-access-token';

export interface GitHttpsToken {
  /** host or host:port, lower case, as in the URL (no default port). */
  host: string;
  user: string;
  /** The variable holding the token (a Kubernetes Secret key). */
  tokenEnv: string;
}

export interface GitCredentialSettings {
  /** GANTRY_GIT_HTTPS_TOKENS: `[user@]host[:port]=ENV_VAR` entries, comma separated. */
  https: GitHttpsToken[];
  /** GANTRY_GIT_CA_FILE: PEM bundle of the CAs git trusts for HTTPS. */
  caFile?: string;
  /** GANTRY_GIT_SSH_KEY_FILE and GANTRY_GIT_SSH_KNOWN_HOSTS_FILE; `configFile` is written by Gantry. */
  ssh?: { keyFile: string; knownHostsFile: string; configFile: string };
  /** A GitHub App: its installation token for git over HTTPS to the App's GitHub host. */
  githubApp?: GitHubAppSettings;
}

type Env = Readonly<Record<string, string | undefined>>;

/** One GANTRY_GIT_HTTPS_TOKENS entry, or why it is not one. */
function tokenEntry(raw: string): GitHttpsToken | string {
  const m = /^(?:([A-Za-z0-9._~-]{1,64})@)?([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?=([A-Z_][A-Z0-9_]*)$/.exec(raw);
  if (!m) return `${echo(raw)} is not [user@]host[:port]=ENV_VAR`;
  const port = m[3] && m[3] !== '443' ? `:${Number(m[3])}` : '';
  return { host: `${m[2]!.toLowerCase()}${port}`, user: m[1] ?? DEFAULT_TOKEN_USER, tokenEnv: m[4]! };
}

const unsafePath = (p: string) => !path.isAbsolute(p) || /["\n\r\0]/.test(p);

/**
 * The git credential settings of a worker's environment (runtime/config.ts), every problem pushed to
 * `errors`; undefined when none is configured. Files are checked for readability now; values of the
 * token variables are checked to be set, never shown.
 */
export function gitCredentialSettings(env: Env, dataDir: string, githubApp: GitHubAppSettings | undefined, errors: ConfigError[]): GitCredentialSettings | undefined {
  const v = (k: string) => env[k]?.trim() || undefined;
  const https: GitHttpsToken[] = [];
  const tokensRaw = v(GIT_HTTPS_TOKENS_ENV);
  const hint = `comma-separated [user@]host[:port]=ENV_VAR entries, e.g. github.com=GIT_TOKEN_GITHUB,oauth2@gitlab.example.com=GIT_TOKEN_GITLAB; each ENV_VAR holds a token (from a Secret); the user defaults to ${DEFAULT_TOKEN_USER}`;
  for (const raw of (tokensRaw ?? '').split(/[\s,]+/).filter(Boolean)) {
    const e = tokenEntry(raw);
    if (typeof e === 'string') { errors.push({ path: GIT_HTTPS_TOKENS_ENV, message: cap(e, 200), hint }); continue; }
    if (https.some((h) => h.host === e.host)) { errors.push({ path: GIT_HTTPS_TOKENS_ENV, message: `${e.host} is listed twice`, hint }); continue; }
    if (!env[e.tokenEnv]?.trim()) errors.push({ path: GIT_HTTPS_TOKENS_ENV, message: `the entry for ${e.host} names ${e.tokenEnv}, which is not set`, hint: `set ${e.tokenEnv} to the token for ${e.host} (from a Secret), or remove the entry` });
    https.push(e);
  }
  const readable = (setting: string, what: string): string | undefined => {
    const p = v(setting);
    if (p === undefined) return undefined;
    if (unsafePath(p)) { errors.push({ path: setting, message: `expected an absolute path without quotes or line breaks, got ${echo(p)}`, hint: `the absolute path of ${what}` }); return undefined; }
    try { fs.accessSync(p, fs.constants.R_OK); if (!fs.statSync(p).isFile()) throw Object.assign(new Error('not a file'), { code: 'not a file' }); } catch (err) {
      errors.push({ path: setting, message: `${p} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, hint: `the absolute path of ${what}, readable by the worker (a mounted Secret or ConfigMap)` });
      return undefined;
    }
    return p;
  };
  const caFile = readable(GIT_CA_FILE_ENV, 'a PEM file of the CA certificates git trusts for HTTPS');
  const keyFile = readable(GIT_SSH_KEY_FILE_ENV, 'the SSH private key git uses (mode 0600 or 0400: ssh ignores a key others can read)');
  const knownHostsFile = readable(GIT_SSH_KNOWN_HOSTS_ENV, 'a known_hosts file with the git servers\' host keys');
  const sshHint = `set both ${GIT_SSH_KEY_FILE_ENV} (the private key) and ${GIT_SSH_KNOWN_HOSTS_ENV} (the servers' host keys: ssh checks them strictly)`;
  if (v(GIT_SSH_KEY_FILE_ENV) && !v(GIT_SSH_KNOWN_HOSTS_ENV)) errors.push({ path: GIT_SSH_KNOWN_HOSTS_ENV, message: `not set, but ${GIT_SSH_KEY_FILE_ENV} is`, hint: sshHint });
  if (!v(GIT_SSH_KEY_FILE_ENV) && v(GIT_SSH_KNOWN_HOSTS_ENV)) errors.push({ path: GIT_SSH_KEY_FILE_ENV, message: `not set, but ${GIT_SSH_KNOWN_HOSTS_ENV} is`, hint: sshHint });
  const configFile = path.join(dataDir, 'git', 'ssh_config');
  if ((keyFile || knownHostsFile) && /["\n\r\0]/.test(configFile)) errors.push({ path: 'GANTRY_DATA_DIR', message: 'the data dir holds a quote or a line break; the ssh config written in it could not be named safely', hint: 'a data dir path without quotes or line breaks' });
  const ssh = keyFile && knownHostsFile ? { keyFile, knownHostsFile, configFile } : undefined;
  if (!https.length && !caFile && !ssh && !githubApp) return undefined;
  return { https, ...(caFile ? { caFile } : {}), ...(ssh ? { ssh } : {}), ...(githubApp ? { githubApp } : {}) };
}

/** What authenticates a git command to its remote, for its environment and its error messages. */
interface GitAuth {
  /** GIT_CONFIG_* and GIT_SSH_COMMAND for the git process. */
  env: Record<string, string>;
  /** Values to scrub from any message. */
  secrets: string[];
  /** Why the server may refuse, naming the host and the setting (for RepoForbidden). */
  refused: (msg: string) => string;
}

const NO_AUTH: GitAuth = { env: {}, secrets: [], refused: () => '' };

/** The host (and port) of a git URL, for messages and token lookup; undefined for local paths. */
function urlParts(url: string): { scheme: 'https' | 'http' | 'ssh' | 'other'; host?: string; origin?: string } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    try {
      const u = new URL(url);
      const scheme = u.protocol === 'https:' ? 'https' : u.protocol === 'http:' ? 'http' : u.protocol === 'ssh:' || u.protocol === 'git+ssh:' ? 'ssh' : 'other';
      return { scheme, host: u.host.toLowerCase(), origin: `${u.protocol}//${u.host.toLowerCase()}/` };
    } catch { return { scheme: 'other' }; }
  }
  // scp-like: [user@]host:path
  const m = /^(?:[^@/]+@)?([^/:]+):(?!\/\/)/.exec(url);
  return m ? { scheme: 'ssh', host: m[1]!.toLowerCase() } : { scheme: 'other' };
}

/** A string as one word of a POSIX shell command line. */
function shellWord(s: string): string { return `'${s.replace(/'/g, `'\\''`)}'`; }

/** ssh_config quotes a value in double quotes; % starts a token in IdentityFile and UserKnownHostsFile. */
function sshPath(p: string): string { return `"${p.replace(/%/g, '%%')}"`; }

function sshConfigText(s: NonNullable<GitCredentialSettings['ssh']>): string {
  return [
    `# Written by Gantry (activities/git.ts) from ${GIT_SSH_KEY_FILE_ENV} and ${GIT_SSH_KNOWN_HOSTS_ENV}; rewritten when they change.`,
    'Host *',
    `  IdentityFile ${sshPath(s.keyFile)}`,
    '  IdentitiesOnly yes',
    '  IdentityAgent none',
    `  UserKnownHostsFile ${sshPath(s.knownHostsFile)}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  UpdateHostKeys no',
    '  CheckHostIP no',
    '  BatchMode yes',
    '  PasswordAuthentication no',
    '  KbdInteractiveAuthentication no',
    '  ConnectTimeout 30',
    '  ServerAliveInterval 15',
    '  ServerAliveCountMax 4',
    '',
  ].join('\n');
}

/**
 * GIT_SSH_COMMAND for the configured key. git runs GIT_SSH_COMMAND through a shell, so it must hold
 * nothing but words Gantry controls: `ssh -F <file>` where <file> is the ssh config Gantry writes in
 * its data dir, quoted as one shell word. Chosen over GIT_SSH with a wrapper script because a wrapper
 * is itself a shell script that must be written executable (a data dir on a noexec volume could not
 * run it), and over `-i`/`-o` options on the command line because every path would then need quoting
 * for both the shell and ssh; the config file keeps key and known_hosts paths out of the shell.
 */
function sshCommand(s: NonNullable<GitCredentialSettings['ssh']>): string {
  const text = sshConfigText(s);
  let current: string | undefined;
  try { current = fs.readFileSync(s.configFile, 'utf8'); } catch { /* write it */ }
  if (current !== text) {
    fs.mkdirSync(path.dirname(s.configFile), { recursive: true, mode: 0o700 });
    const tmp = `${s.configFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.renameSync(tmp, s.configFile);
  }
  return `ssh -F ${shellWord(s.configFile)}`;
}

const appTokens = new Map<string, InstallationTokens>();

/** The credentials for a git URL, as environment for the git process. */
async function gitAuth(opts: GitOptions, url: string): Promise<GitAuth> {
  const c = opts.git;
  if (!c) return NO_AUTH;
  const env = opts.env ?? process.env;
  const config: [string, string][] = [];
  const secrets: string[] = [];
  let refused: (msg: string) => string = () => '';
  if (c.caFile) config.push(['http.sslCAInfo', c.caFile]);
  const u = urlParts(url);
  const out: Record<string, string> = {};
  if (u.scheme === 'https' || u.scheme === 'http') {
    const entry = c.https.find((h) => h.host === u.host);
    const appOrigin = c.githubApp ? gitOriginOfApi(c.githubApp.apiUrl) : undefined;
    const basic = (user: string, token: string) => {
      const b64 = Buffer.from(`${user}:${token}`).toString('base64');
      secrets.push(token, b64);
      config.push([`http.https://${u.host}/.extraHeader`, `Authorization: Basic ${b64}`]);
    };
    if (u.scheme === 'http' && (entry || appOrigin === `https://${u.host}/`)) {
      refused = () => `; a token is configured for ${u.host}, but Gantry sends tokens over https only: use the https URL`;
    } else if (entry) {
      const token = env[entry.tokenEnv]?.trim();
      if (token) basic(entry.user, token);
      refused = () => token
        ? `; ${u.host} refused the token in ${entry.tokenEnv} (the ${GIT_HTTPS_TOKENS_ENV} entry for ${u.host}): check that it is valid and may read the repository (and push tags)`
        : `; ${entry.tokenEnv} (the ${GIT_HTTPS_TOKENS_ENV} entry for ${u.host}) is not set on this worker`;
    } else if (c.githubApp && appOrigin === u.origin) {
      const app = c.githubApp;
      let tokens = appTokens.get(JSON.stringify(app));
      try {
        if (!tokens) { tokens = new InstallationTokens(app, env, opts.fetch); appTokens.set(JSON.stringify(app), tokens); }
        basic(DEFAULT_TOKEN_USER, await tokens.token());
      } catch (err) {
        const status = (err as { status?: unknown }).status;
        const why = cap(displayLine(err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err)), 300);
        if (typeof status === 'number' && status >= 400 && status < 500 && status !== 429) {
          throw fail(FailureType.RepoForbidden, `cannot read ${url}: the ${describeApp(app)} got no installation token: GitHub answered ${status}: ${why}`, { details: { status } });
        }
        if (typeof status !== 'number' && !/fetch failed|ECONN|ETIMEDOUT|ENOTFOUND|EAI_AGAIN/i.test(why)) {
          throw fail(FailureType.RepoForbidden, `cannot read ${url}: the ${describeApp(app)} cannot be used: ${why}`);
        }
        throw fail(FailureType.RepoUnavailable, `cannot read ${url}: no installation token for the ${describeApp(app)}: ${why}`);
      }
      refused = () => `; ${u.host} refused the installation token of the ${describeApp(app)}: check that the App is installed on the repository with contents permission`;
    } else {
      refused = () => `; no token is configured for ${u.host}: add ${u.host}=<ENV_VAR> to ${GIT_HTTPS_TOKENS_ENV}${appOrigin ? ` (or clone from ${appOrigin}, where the GitHub App's token is used)` : ''}`;
    }
  } else if (u.scheme === 'ssh') {
    const s = c.ssh;
    if (s) {
      out.GIT_SSH_COMMAND = sshCommand(s);
      out.GIT_SSH_VARIANT = 'ssh';
      refused = (msg) => /Host key verification failed|host key .* (is known|has changed)|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(msg)
        ? `; the SSH host key of ${u.host ?? 'the server'} is not in ${GIT_SSH_KNOWN_HOSTS_ENV} (${s.knownHostsFile}) or does not match it: add the server's key there, checked out of band (strict host key checking is on)`
        : `; ${u.host ?? 'the server'} refused the key in ${GIT_SSH_KEY_FILE_ENV} (${s.keyFile}): add its public key to the repository (deploy key) or the user it logs in as`;
    } else {
      refused = () => `; no SSH key is configured: set ${GIT_SSH_KEY_FILE_ENV} and ${GIT_SSH_KNOWN_HOSTS_ENV}`;
    }
  }
  if (config.length) {
    out.GIT_CONFIG_COUNT = String(config.length);
    config.forEach(([k, v], i) => { out[`GIT_CONFIG_KEY_${i}`] = k; out[`GIT_CONFIG_VALUE_${i}`] = v; });
  }
  return { env: out, secrets, refused };
}

/** A message with every secret of `auth` replaced. */
function scrub(msg: string, auth: GitAuth): string {
  let out = msg;
  for (const s of auth.secrets) if (s.length >= 4) out = out.split(s).join('***');
  // A URL with credentials in it (https://user:secret@host) is shown without them.
  return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, '$1***@');
}

/** The abort signal of the running activity, or none outside one (tests calling helpers directly). */
export function activitySignal(): AbortSignal | undefined {
  try { return cancellationSignal(); } catch { return undefined; }
}

export function safeHeartbeat(details?: unknown): void {
  try { heartbeat(details); } catch { /* not in an activity */ }
}

/**
 * Heartbeats every `ms` while `fn` runs: Temporal delivers a cancellation only in a heartbeat's
 * reply, so an activity that waits on a tool must keep beating to be cancellable.
 */
export async function keepAlive<T>(fn: () => Promise<T>, ms = 2000): Promise<T> {
  const t = setInterval(() => safeHeartbeat(), ms);
  try { return await fn(); } finally { clearInterval(t); }
}

const gitEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? os.homedir(), LANG: 'C',
  // Never wait for a password on a terminal: fail, and say so.
  GIT_TERMINAL_PROMPT: '0',
});

/** PIDs descended from this process, from /proc (Linux). */
function descendants(): number[] {
  const parent = new Map<number, number>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (pid: number) => { for (const [c, p] of parent) if (p === pid) { out.push(c); walk(c); } };
  walk(process.pid);
  return out;
}

/**
 * simple-git's abort kills the git process it started, but not git's own children: a remote helper
 * (git-remote-http) blocked on the network outlives it. On cancel, every process this worker
 * started whose working directory is inside `dir` (this repository's workspace) is killed too.
 */
export function killGitProcessesIn(dir: string): number[] {
  const killed: number[] = [];
  try {
    for (const pid of descendants()) {
      let cwd = '';
      try { cwd = fs.readlinkSync(`/proc/${pid}/cwd`); } catch { continue; }
      if (cwd === dir || cwd.startsWith(`${dir}${path.sep}`)) {
        try { process.kill(pid, 'SIGKILL'); killed.push(pid); } catch { /* gone */ }
      }
    }
  } catch { /* no /proc: nothing more to do than simple-git's own kill */ }
  return killed;
}

function git(baseDir: string, extraConfig: string[] = [], workspace?: string, auth: GitAuth = NO_AUTH): SimpleGit {
  const signal = activitySignal();
  if (signal && workspace) signal.addEventListener('abort', () => { killGitProcessesIn(workspace); setTimeout(() => killGitProcessesIn(workspace), 200); }, { once: true });
  const authKeys = Object.keys(auth.env);
  return simpleGit({
    baseDir, binary: 'git', maxConcurrentProcesses: 2, trimmed: false,
    // simple-git refuses GIT_* variables, GIT_CONFIG_COUNT and GIT_SSH_COMMAND unless allowed: here
    // they are Gantry's own (gitAuth), never taken from a request.
    allowEnvironment: ['GIT_TERMINAL_PROMPT', ...authKeys],
    ...(authKeys.length ? { unsafe: { allowUnsafeConfigEnvCount: authKeys.includes('GIT_CONFIG_COUNT'), allowUnsafeSshCommand: authKeys.includes('GIT_SSH_COMMAND') } } : {}),
    config: ['protocol.version=2', 'advice.detachedHead=false', 'gc.auto=0', ...extraConfig],
    ...(signal ? { abort: signal } : {}),
  }).env({ ...gitEnv(), ...auth.env });
}

type GitFailureType = typeof FailureType['CommitNotFound' | 'RepoForbidden' | 'RepoNotFound' | 'RepoUnavailable' | 'GitFailed'];

const UNTRUSTED_TLS = /SSL certificate problem|server certificate verification failed|certificate verify failed/i;

/** The failure type of a git error message (the retryability is the type's: workflows/failures.ts). */
export function gitFailureType(msg: string): GitFailureType {
  if (/not our ref|couldn't find remote ref|no such remote ref|unadvertised object|bad object|not a valid object|unknown revision/i.test(msg)) return FailureType.CommitNotFound;
  // Checked before "could not read from remote", which git prints after the real reason.
  if (/Authentication failed|terminal prompts disabled|could not read (Username|Password)|Permission denied \(publickey|Host key verification failed|returned error: 40[13]\b/i.test(msg)) return FailureType.RepoForbidden;
  // The worker does not trust the server: a person must give it the CA (retrying cannot help).
  if (UNTRUSTED_TLS.test(msg)) return FailureType.RepoForbidden;
  if (/does not appear to be a git repository|repository .* not found|returned error: 404\b/i.test(msg)) return FailureType.RepoNotFound;
  if (/could not read from remote|unable to access|could not resolve host|connection (refused|reset|timed out)|timed out|early EOF|remote end hung up|returned error: 5\d\d\b|RPC failed/i.test(msg)) return FailureType.RepoUnavailable;
  return FailureType.GitFailed;
}

/** Maps a git failure to a typed failure: non-retryable where retrying cannot help. */
export function mapGitError(err: unknown, what: string, source: SourceRef, auth: GitAuth = NO_AUTH): never {
  // Cancelled: simple-git killed the git process; Temporal must see a cancellation, not a failure.
  if (err instanceof GitPluginError && err.plugin === 'abort') throw new CancelledFailure(`${what} cancelled (git process killed)`);
  if (err instanceof CancelledFailure) throw err;
  const msg = scrub(err instanceof Error ? err.message : String(err), auth);
  const tail = msg.trim().split('\n').map((l) => l.trim()).filter(Boolean).slice(-4).join(' | ');
  const type = gitFailureType(msg);
  switch (type) {
    case FailureType.CommitNotFound: throw fail(type, `commit ${source.sha} not found in ${source.url} (${what}: ${tail})`);
    case FailureType.RepoForbidden: {
      const why = UNTRUSTED_TLS.test(msg) ? `; the server's TLS certificate is not trusted by the worker: set ${GIT_CA_FILE_ENV} to the CA certificate that signed it` : auth.refused(msg);
      throw fail(type, `cannot read ${source.url}${why} (${what}: ${tail})`);
    }
    case FailureType.RepoNotFound: case FailureType.RepoUnavailable:
      throw fail(type, `cannot read ${source.url} (${what}: ${tail})`);
    case FailureType.GitFailed: throw fail(type, `${what} failed for ${source.url}: ${tail}`);
    default: {
      const never: never = type;
      throw new Error(`unknown git failure type ${String(never)}`);
    }
  }
}

// One git writer per repository at a time in this worker (fetch, worktree add, tag): git's own
// locks would otherwise make a concurrent second pipeline of the same repo fail.
const locks = new Map<string, Promise<unknown>>();
async function withRepoLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(fn);
  locks.set(key, next);
  try { return await next; } finally { if (locks.get(key) === next) locks.delete(key); }
}

export interface Workspace { dir: string; cacheDir: string; treeDir: string; sha: string }

function repoDirs(root: string, repo: string): { dir: string; cacheDir: string } {
  const dir = path.join(root, workspaceName(repo));
  return { dir, cacheDir: path.join(dir, 'cache.git') };
}

async function ensureCache(cacheDir: string, url: string, auth: GitAuth = NO_AUTH): Promise<SimpleGit> {
  const workspace = path.dirname(cacheDir);
  if (!fs.existsSync(path.join(cacheDir, 'HEAD'))) {
    fs.mkdirSync(cacheDir, { recursive: true });
    await git(cacheDir, [], workspace).init(true);
  }
  const g = git(cacheDir, [], workspace, auth);
  const remotes = await g.getRemotes(true);
  const origin = remotes.find((r) => r.name === 'origin');
  if (!origin) await g.addRemote('origin', url);
  else if (origin.refs.fetch !== url) await g.remote(['set-url', 'origin', url]);
  return g;
}

async function hasCommit(g: SimpleGit, sha: string): Promise<boolean> {
  try { await g.raw(['cat-file', '-e', `${sha}^{commit}`]); return true; } catch (err) {
    if (err instanceof GitPluginError && err.plugin === 'abort') throw new CancelledFailure('git cancelled');
    return false;
  }
}

/** The commit a ref names on the remote now (peeled for annotated tags), or undefined. */
async function remoteRefSha(g: SimpleGit, ref: string): Promise<string | undefined> {
  const out = await g.raw(['ls-remote', 'origin', ref, `${ref}^{}`]);
  return lsRemoteSha(out, ref);
}

/**
 * Makes sure the worktree of `source.sha` exists and is at exactly that commit; fetches only when
 * the commit is not in the cache yet (shallow when `depth` is set). Returns the full sha. Used by
 * every activity that needs the files, so it works on whichever worker the activity lands on.
 */
export async function ensureCheckout(opts: GitOptions, source: SourceRef, o: { pristine?: boolean } = {}): Promise<Workspace> {
  if (!isShaPrefix(source.sha)) throw fail(FailureType.BadRequest, `'${source.sha}' is not a commit sha`);
  if (source.ref && !isValidRefName(source.ref)) throw fail(FailureType.BadRequest, `'${source.ref}' is not a valid ref name`);
  const { dir, cacheDir } = repoDirs(opts.workspaceRoot, source.repo);
  // Fast path (every gate after the checkout): the worktree exists and is at the commit.
  if (isFullSha(source.sha) && !o.pristine && fs.existsSync(path.join(dir, 'trees', source.sha, '.git'))) {
    const treeDir = path.join(dir, 'trees', source.sha);
    const head = (await git(treeDir).revparse(['HEAD']).catch((err: unknown) => mapGitError(err, 'git rev-parse', source))).trim();
    if (head === source.sha) return { dir, cacheDir, treeDir, sha: source.sha };
  }
  const auth = await gitAuth(opts, source.url);
  return withRepoLock(dir, async () => {
    let g: SimpleGit;
    try { g = await ensureCache(cacheDir, source.url, auth); } catch (err) { mapGitError(err, 'git init', source, auth); }
    let sha = source.sha;
    try {
      if (!isFullSha(sha) || !(await hasCommit(g, sha))) {
        safeHeartbeat({ step: 'fetch' });
        const depth = source.depth ? [`--depth=${source.depth}`] : [];
        if (isFullSha(sha)) {
          // Into a ref: git negotiates from refs only, so a commit fetched without one would make
          // the next fetch send the whole history again (measured: 4.4 s instead of 18 ms for a
          // one-file change in a 48 MB repository).
          await g.raw(['fetch', '--no-tags', '--no-write-fetch-head', ...depth, 'origin', `+${sha}:refs/gantry/commits/${sha}`]);
        } else {
          // An abbreviated sha cannot be fetched by id: fetch the ref (or every branch) and resolve it.
          const spec = source.ref ? [`+${source.ref}:refs/gantry/fetched`] : ['+refs/heads/*:refs/gantry/heads/*'];
          await g.raw(['fetch', '--no-tags', ...depth, 'origin', ...spec]);
        }
      }
      const full = (await g.raw(['rev-parse', '--verify', '--quiet', `${sha}^{commit}`]).catch(() => '')).trim();
      if (!full) throw fail(FailureType.CommitNotFound, `commit ${source.sha} not found in ${source.url}`);
      if (!full.startsWith(sha)) throw fail(FailureType.CommitNotFound, `commit ${source.sha} resolved to ${full}`);
      sha = full;
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      mapGitError(err, 'git fetch', source, auth);
    }
    const treeDir = path.join(dir, 'trees', sha);
    try {
      let fresh = false;
      if (!fs.existsSync(path.join(treeDir, '.git'))) {
        await g.raw(['worktree', 'prune']);
        fs.rmSync(treeDir, { recursive: true, force: true });
        fs.mkdirSync(path.dirname(treeDir), { recursive: true });
        await g.raw(['worktree', 'add', '--detach', '--force', treeDir, sha]);
        fresh = true;
      }
      const t = git(treeDir, [], dir);
      if (o.pristine && !fresh) {
        // The build context is exactly the commit: no gate outputs, no stray files.
        await t.raw(['reset', '--hard', '--quiet', sha]);
        await t.raw(['clean', '-ffdxq']);
      }
      const head = (await t.revparse(['HEAD'])).trim();
      if (head !== sha) {
        // Retryable only because the worktree goes first: the retry checks the commit out afresh.
        await g.raw(['worktree', 'remove', '--force', treeDir]).catch(() => undefined);
        fs.rmSync(treeDir, { recursive: true, force: true });
        throw fail(FailureType.WorkspaceCorrupt, `workspace ${treeDir} was at ${head}, expected ${sha} (removed; a retry checks it out again)`);
      }
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      mapGitError(err, 'git worktree', source);
    }
    return { dir, cacheDir, treeDir, sha };
  });
}

function commitInfo(raw: string): CommitInfo {
  const [sha = '', author = '', email = '', committedAt = '', ...msg] = raw.split('\0');
  return { sha: sha.trim(), author, email, committedAt, message: msg.join('\0').trim().slice(0, 2000) };
}

export function createGitActivities(opts: GitOptions) {
  return {
    /**
     * Checks out the exact commit, refusing a ref that moved, and reports its metadata (and, when
     * asked, the gantry.yaml it holds, parsed and validated here on the worker).
     */
    checkout: (req: CheckoutRequest): Promise<CheckoutResult> => keepAlive(() => checkout(req)),
    tagRelease: (req: TagRequest): Promise<TagResult> => keepAlive(() => tagRelease(req)),
  };

  async function checkout(req: CheckoutRequest): Promise<CheckoutResult> {
    const t0 = performance.now();
    const source = req.source;
    if (source.ref) {
      const { cacheDir } = repoDirs(opts.workspaceRoot, source.repo);
      let remote: string | undefined;
      const auth = await gitAuth(opts, source.url);
      try {
        const g = await withRepoLock(path.dirname(cacheDir), () => ensureCache(cacheDir, source.url, auth));
        remote = await remoteRefSha(g, source.ref);
      } catch (err) { mapGitError(err, 'git ls-remote', source, auth); }
      const d = refDecision(source.ref, source.sha, remote);
      if (!d.ok) throw fail(d.code === 'RefMoved' ? FailureType.RefMoved : FailureType.RefNotFound, d.reason);
    }
    const ws = await ensureCheckout(opts, source);
    const raw = await git(ws.treeDir, [], ws.dir).raw(['show', '-s', '--format=%H%x00%an%x00%ae%x00%cI%x00%B', ws.sha]).catch((err: unknown) => mapGitError(err, 'git show', source));
    const commit = commitInfo(raw);
    let config: CheckoutResult['config'];
    if (req.readConfig) {
      const file = path.join(ws.treeDir, source.configPath ?? 'gantry.yaml');
      if (!fs.existsSync(file)) throw fail(FailureType.InvalidConfig, `${source.configPath ?? 'gantry.yaml'} not found in ${source.repo}@${ws.sha.slice(0, 12)}`);
      const parsed = parseConfigText(fs.readFileSync(file, 'utf8'));
      if (!parsed.ok) throw fail(FailureType.InvalidConfig, `invalid ${source.configPath ?? 'gantry.yaml'} at ${ws.sha.slice(0, 12)}:\n${formatConfigErrors(parsed.errors)}`, { details: { errors: parsed.errors } });
      config = parsed.config;
    }
    return { sha: ws.sha, workspace: ws.treeDir, host: os.hostname(), commit, ...(config ? { config } : {}), toolMs: performance.now() - t0 };
  }

  /** Creates and pushes an annotated tag on the commit; idempotent (an existing tag on the same commit is success). */
  async function tagRelease(req: TagRequest): Promise<TagResult> {
    const t0 = performance.now();
    const source = req.source;
    if (!isValidRefName(req.tag)) throw fail(FailureType.BadRequest, `'${req.tag}' is not a valid tag name`);
    const ws = await ensureCheckout(opts, source);
    const tagger = opts.tagger ?? { name: 'Gantry', email: 'gantry@localhost' };
    const auth = await gitAuth(opts, source.url);
    const g = git(ws.cacheDir, [`user.name=${tagger.name}`, `user.email=${tagger.email}`], ws.dir, auth);
    const ref = `refs/tags/${req.tag}`;
    return withRepoLock(ws.dir, async () => {
      try {
        const remote = await remoteRefSha(g, ref);
        if (remote !== undefined) {
          if (remote === ws.sha) return { tag: req.tag, created: false, toolMs: performance.now() - t0 };
          throw fail(FailureType.TagConflict, `tag ${req.tag} already exists on ${remote.slice(0, 12)}, not on ${ws.sha.slice(0, 12)}`);
        }
        const local = (await g.raw(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).catch(() => '')).trim();
        if (local && local !== ws.sha) await g.raw(['tag', '-d', req.tag]);
        if (local !== ws.sha) await g.raw(['tag', '-a', req.tag, '-m', req.message, ws.sha]);
        safeHeartbeat({ step: 'push tag' });
        await g.raw(['push', 'origin', `${ref}:${ref}`]);
        return { tag: req.tag, created: true, toolMs: performance.now() - t0 };
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        mapGitError(err, 'git tag/push', source, auth);
      }
    });
  }
}
