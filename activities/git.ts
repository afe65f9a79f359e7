// Git activities (simple-git): a per-repository workspace cache on the worker (a bare repository
// the commits are fetched into, and one detached worktree per commit), checkout of the exact sha
// (verified; a ref that moved is refused), commit metadata, gantry.yaml from the commit, and the
// annotated release tag. Every git process is killed when the activity is cancelled.
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
import { fail, FailureType } from '../workflows/failures.js';
import type { CheckoutRequest, CheckoutResult, SourceRef, TagRequest, TagResult } from '../workflows/pipeline-activity-types.js';

export interface GitOptions {
  /** Root of the workspace cache: <root>/<repo>/cache.git and <root>/<repo>/trees/<sha>. */
  workspaceRoot: string;
  /** Identity of the release tags. */
  tagger?: { name: string; email: string };
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

function git(baseDir: string, extraConfig: string[] = [], workspace?: string): SimpleGit {
  const signal = activitySignal();
  if (signal && workspace) signal.addEventListener('abort', () => { killGitProcessesIn(workspace); setTimeout(() => killGitProcessesIn(workspace), 200); }, { once: true });
  return simpleGit({
    baseDir, binary: 'git', maxConcurrentProcesses: 2, trimmed: false,
    allowEnvironment: ['GIT_TERMINAL_PROMPT'],
    config: ['protocol.version=2', 'advice.detachedHead=false', 'gc.auto=0', ...extraConfig],
    ...(signal ? { abort: signal } : {}),
  }).env(gitEnv());
}

type GitFailureType = typeof FailureType['CommitNotFound' | 'RepoForbidden' | 'RepoNotFound' | 'RepoUnavailable' | 'GitFailed'];

/** The failure type of a git error message (the retryability is the type's: workflows/failures.ts). */
export function gitFailureType(msg: string): GitFailureType {
  if (/not our ref|couldn't find remote ref|no such remote ref|unadvertised object|bad object|not a valid object|unknown revision/i.test(msg)) return FailureType.CommitNotFound;
  // Checked before "could not read from remote", which git prints after the real reason.
  if (/Authentication failed|terminal prompts disabled|could not read (Username|Password)|Permission denied \(publickey|Host key verification failed|returned error: 40[13]\b/i.test(msg)) return FailureType.RepoForbidden;
  if (/does not appear to be a git repository|repository .* not found|returned error: 404\b/i.test(msg)) return FailureType.RepoNotFound;
  if (/could not read from remote|unable to access|could not resolve host|connection (refused|reset|timed out)|timed out|early EOF|remote end hung up|returned error: 5\d\d\b|RPC failed/i.test(msg)) return FailureType.RepoUnavailable;
  return FailureType.GitFailed;
}

/** Maps a git failure to a typed failure: non-retryable where retrying cannot help. */
export function mapGitError(err: unknown, what: string, source: SourceRef): never {
  // Cancelled: simple-git killed the git process; Temporal must see a cancellation, not a failure.
  if (err instanceof GitPluginError && err.plugin === 'abort') throw new CancelledFailure(`${what} cancelled (git process killed)`);
  if (err instanceof CancelledFailure) throw err;
  const msg = err instanceof Error ? err.message : String(err);
  const tail = msg.trim().split('\n').slice(-4).join(' | ');
  const type = gitFailureType(msg);
  switch (type) {
    case FailureType.CommitNotFound: throw fail(type, `commit ${source.sha} not found in ${source.url} (${what}: ${tail})`);
    case FailureType.RepoForbidden: case FailureType.RepoNotFound: case FailureType.RepoUnavailable:
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

async function ensureCache(cacheDir: string, url: string): Promise<SimpleGit> {
  const workspace = path.dirname(cacheDir);
  if (!fs.existsSync(path.join(cacheDir, 'HEAD'))) {
    fs.mkdirSync(cacheDir, { recursive: true });
    await git(cacheDir, [], workspace).init(true);
  }
  const g = git(cacheDir, [], workspace);
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
  return withRepoLock(dir, async () => {
    let g: SimpleGit;
    try { g = await ensureCache(cacheDir, source.url); } catch (err) { mapGitError(err, 'git init', source); }
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
      mapGitError(err, 'git fetch', source);
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
      try {
        const g = await withRepoLock(path.dirname(cacheDir), () => ensureCache(cacheDir, source.url));
        remote = await remoteRefSha(g, source.ref);
      } catch (err) { mapGitError(err, 'git ls-remote', source); }
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
    const g = git(ws.cacheDir, [`user.name=${tagger.name}`, `user.email=${tagger.email}`], ws.dir);
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
        mapGitError(err, 'git tag/push', source);
      }
    });
  }
}
