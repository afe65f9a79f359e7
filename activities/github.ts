// Status back to GitHub, as activities: a commit status per pipeline stage, and a deployment (with
// its statuses) per environment. Idempotent: each call converges GitHub to the described state (it
// reads what is there first and writes only what differs), so a retry changes nothing already done.
// Errors are mapped for Temporal's retry policy (workflows/failures.ts): 4xx answers are
// GitHubRejected, non-retryable (a wrong token, repository or request does not get better by
// retrying); 429 and rate-limit 403s are GitHubRateLimited (after Retry-After when GitHub gives one);
// 5xx and network errors GitHubUnavailable. The HTTP status is in the failure's details.
//
// Credentials never enter workflow history: inputs name the env var (default GANTRY_GITHUB_TOKEN) and
// the activity reads it on the worker. With a GitHub App configured on the worker (`app`, from
// GANTRY_GITHUB_APP_*: activities/github-auth.ts), calls to the App's GitHub API authenticate as its
// installation instead (@octokit/auth-app's strategy: short-lived tokens, renewed as needed); a
// token variable is then used only for other GitHub API URLs. The API base URL is configurable (GitHub Enterprise:
// https://<host>/api/v3) per call or per worker (GANTRY_GITHUB_API_URL).
//
// With the worker's GANTRY_PUBLIC_URL (`publicUrl`), each status links to the web console: a commit
// status to the pipeline page (gates-only when the calling workflow is one), a deployment status to
// the release page of its app and environment. Computed here, so workflows never carry the URL.
//
// Descriptions are outside text (reasons, messages) shown on GitHub: controls and bidi characters
// escaped, on one line, cut to GitHub's 140 characters; errors echo GitHub's message capped.
import { Octokit } from '@octokit/rest';
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { fail, FailureType } from '../workflows/failures.js';
import { cap, displayLine, echo } from '../core/text.js';
import { consolePipelinePath, consoleReleasePath, consoleUrl } from '../core/console-links.js';
import { appOctokitAuth, describeApp, isAppTokenRequest, type GitHubAppSettings } from './github-auth.js';

export const DEFAULT_GITHUB_TOKEN_ENV = 'GANTRY_GITHUB_TOKEN';
export const GANTRY_DEPLOY_TASK = 'deploy:gantry';

export interface GitHubTarget {
  /** owner/name */
  repo: string;
  sha: string;
  /** API base URL; default the worker's (GANTRY_GITHUB_API_URL, else https://api.github.com). */
  baseUrl?: string;
  /** Name of the env var holding the token on the worker; default GANTRY_GITHUB_TOKEN. */
  tokenEnv?: string;
}

export type CommitState = 'pending' | 'success' | 'failure' | 'error';
export interface CommitStatusInput extends GitHubTarget {
  /** One context per stage, e.g. gantry/release:production. */
  context: string;
  state: CommitState;
  description?: string;
  targetUrl?: string;
}

export type DeploymentState = 'queued' | 'in_progress' | 'success' | 'failure' | 'error' | 'inactive';
export interface DeploymentStatusInput extends GitHubTarget {
  environment: string;
  /** The app released (config app.name): the status links to its release page in the console. */
  app?: string;
  state: DeploymentState;
  description?: string;
  environmentUrl?: string;
  logUrl?: string;
  productionEnvironment?: boolean;
}

export interface GitHubResult { changed: boolean; id?: number; deploymentId?: number }

export interface GitHubActivityOptions {
  baseUrl?: string;
  tokenEnv?: string;
  /** A GitHub App: used for every call to its API URL (app.apiUrl). */
  app?: GitHubAppSettings;
  /** Where env vars are read; default process.env. */
  env?: Record<string, string | undefined>;
  /** fetch for octokit (tests); default global fetch. */
  fetch?: typeof fetch;
  /** GANTRY_PUBLIC_URL (an origin): statuses link to the console there; unset: no link. */
  publicUrl?: string;
}

/** GitHub's limit for a status or deployment description. */
export const GITHUB_DESCRIPTION_LIMIT = 140;

/** A description as GitHub will show it: escaped, one line, at most 140 characters (no split surrogate pair). */
export function githubDescription(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const line = displayLine(text);
  if (line.length <= GITHUB_DESCRIPTION_LIMIT) return line;
  let cut = GITHUB_DESCRIPTION_LIMIT - 1;
  const code = line.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return `${line.slice(0, cut)}…`;
}
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** Maps an octokit error to an ApplicationFailure Temporal can act on. */
export function githubFailure(err: unknown, what: string, app?: GitHubAppSettings): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  // The App's own token exchange refused: a wrong key, App id or installation. Say which settings.
  if (app && isAppTokenRequest(err) && err instanceof Error && typeof (err as { status?: unknown }).status === 'number') {
    const status = (err as Error & { status: number }).status;
    if (status >= 400 && status < 500 && status !== 429) {
      return fail(FailureType.GitHubRejected, `${what}: GitHub refused the ${describeApp(app)}: it answered ${status} for the installation token: ${cap(displayLine(err.message.split('\n')[0] ?? ''), 300)}`, { details: { status } });
    }
  }
  // octokit's RequestError (name 'HttpError'), checked by shape: it is a dependency of @octokit/rest.
  if (err instanceof Error && err.name === 'HttpError' && typeof (err as { status?: unknown }).status === 'number') {
    const e = err as Error & { status: number; response?: { headers?: Record<string, string | number | undefined> } };
    const headers = e.response?.headers ?? {};
    const retryAfter = Number(headers['retry-after']);
    const rateLimited = e.status === 429 || (e.status === 403 && (String(headers['x-ratelimit-remaining']) === '0' || Number.isFinite(retryAfter)));
    const message = `${what}: GitHub answered ${e.status}: ${cap(displayLine(e.message.split('\n')[0] ?? ''), 300)}`;
    const details = { status: e.status };
    const after = Number.isFinite(retryAfter) && retryAfter > 0 ? { nextRetryDelay: `${Math.min(retryAfter, 3600)}s` } : {};
    if (rateLimited) return fail(FailureType.GitHubRateLimited, message, { details, ...after });
    if (e.status >= 400 && e.status < 500) return fail(FailureType.GitHubRejected, message, { details });
    return fail(FailureType.GitHubUnavailable, message, { details, ...after });
  }
  return fail(FailureType.GitHubUnavailable, `${what}: ${cap(displayLine(err instanceof Error ? err.message : String(err)), 300)}`);
}

/** The pipeline page of a commit; gates-only when the calling workflow is a gates run (workflows/messages.ts gatesWorkflowId). */
function pipelineLink(publicUrl: string | undefined, repo: string, sha: string): string | undefined {
  if (!publicUrl) return undefined;
  let workflowId = '';
  try { workflowId = activityInfo().workflowExecution?.workflowId ?? ''; } catch { /* called outside an activity (a script): not a gates run */ }
  return consoleUrl(publicUrl, consolePipelinePath(repo, sha, workflowId.startsWith('gates/')));
}

function splitRepo(repo: string): { owner: string; repo: string } {
  const m = /^([\w.-]+)\/([\w.-]+)$/.exec(repo);
  if (!m) throw fail(FailureType.GitHubBadInput, `${echo(repo)} is not a GitHub repository (owner/name)`);
  return { owner: m[1]!, repo: m[2]! };
}

export function createGitHubActivities(opts: GitHubActivityOptions = {}) {
  const env = opts.env ?? process.env;
  const clients = new Map<string, Octokit>();

  /** The App for a call to `baseUrl`, when one is configured for that API. */
  const appFor = (baseUrl: string): GitHubAppSettings | undefined => (opts.app && opts.app.apiUrl === baseUrl ? opts.app : undefined);
  const baseUrlOf = (t: GitHubTarget) => (t.baseUrl ?? opts.baseUrl ?? env.GANTRY_GITHUB_API_URL ?? 'https://api.github.com').replace(/\/+$/, '');

  function client(t: GitHubTarget): Octokit {
    const baseUrl = baseUrlOf(t);
    const request = opts.fetch ? { request: { fetch: opts.fetch } } : {};
    const app = appFor(baseUrl);
    if (app) {
      const key = `app\0${baseUrl}`;
      let o = clients.get(key);
      if (!o) {
        let auth: ReturnType<typeof appOctokitAuth>;
        try { auth = appOctokitAuth(app, env); } catch (err) {
          throw fail(FailureType.GitHubNotConfigured, `the ${describeApp(app)} cannot be used: ${err instanceof Error ? err.message : String(err)}`);
        }
        o = new Octokit({ ...auth, baseUrl, userAgent: 'gantry', log: quiet, ...request });
        clients.set(key, o);
      }
      return o;
    }
    const tokenEnv = t.tokenEnv ?? opts.tokenEnv ?? DEFAULT_GITHUB_TOKEN_ENV;
    const token = env[tokenEnv];
    if (!token) throw fail(FailureType.GitHubNotConfigured, `no GitHub token on the worker: set ${tokenEnv}`);
    const key = `${baseUrl}\0${token}`;
    let o = clients.get(key);
    if (!o) {
      // @octokit/rest has no retry plugin: Temporal owns retries.
      o = new Octokit({ auth: token, baseUrl, userAgent: 'gantry', log: quiet, ...request });
      clients.set(key, o);
    }
    return o;
  }

  return {
    /** Sets the commit status of one context (a pipeline stage); a no-op when it already says so. */
    async githubCommitStatus(input: CommitStatusInput): Promise<GitHubResult> {
      const what = `commit status ${input.context} of ${input.repo}@${input.sha.slice(0, 12)}`;
      const { owner, repo } = splitRepo(input.repo);
      const o = client(input);
      const description = githubDescription(input.description);
      const targetUrl = input.targetUrl ?? pipelineLink(opts.publicUrl, input.repo, input.sha);
      try {
        const { data } = await o.rest.repos.listCommitStatusesForRef({ owner, repo, ref: input.sha, per_page: 100 });
        const current = data.find((s) => s.context === input.context); // newest first
        if (current && current.state === input.state && (current.description ?? undefined) === description && (current.target_url ?? undefined) === targetUrl) {
          return { changed: false, id: current.id };
        }
        const { data: created } = await o.rest.repos.createCommitStatus({
          owner, repo, sha: input.sha, state: input.state, context: input.context,
          ...(description ? { description } : {}), ...(targetUrl ? { target_url: targetUrl } : {}),
        });
        return { changed: true, id: created.id };
      } catch (err) {
        throw githubFailure(err, what, appFor(baseUrlOf(input)));
      }
    },

    /** Finds or creates the Gantry deployment of the commit to the environment, then sets its status. */
    async githubDeploymentStatus(input: DeploymentStatusInput): Promise<GitHubResult> {
      const what = `deployment status of ${input.repo}@${input.sha.slice(0, 12)} to ${input.environment}`;
      const { owner, repo } = splitRepo(input.repo);
      const o = client(input);
      const description = githubDescription(input.description);
      // log_url: GitHub's name for a deployment status's target_url (it answers with both).
      const logUrl = input.logUrl ?? (input.app ? consoleUrl(opts.publicUrl, consoleReleasePath(input.app, input.environment)) : pipelineLink(opts.publicUrl, input.repo, input.sha));
      try {
        const { data: existing } = await o.rest.repos.listDeployments({ owner, repo, sha: input.sha, environment: input.environment, task: GANTRY_DEPLOY_TASK, per_page: 10 });
        let deploymentId = existing[0]?.id;
        if (deploymentId === undefined) {
          const res = await o.rest.repos.createDeployment({
            owner, repo, ref: input.sha, environment: input.environment, task: GANTRY_DEPLOY_TASK,
            auto_merge: false, required_contexts: [], payload: { gantry: true },
            ...(description ? { description } : {}), ...(input.productionEnvironment !== undefined ? { production_environment: input.productionEnvironment } : {}),
          });
          if (res.status !== 201 || !('id' in res.data)) throw fail(FailureType.GitHubUnavailable, `${what}: GitHub did not create the deployment (${res.status})`, { details: { status: res.status } });
          deploymentId = res.data.id;
        }
        const { data: statuses } = await o.rest.repos.listDeploymentStatuses({ owner, repo, deployment_id: deploymentId, per_page: 1 });
        const latest = statuses[0];
        if (latest && latest.state === input.state && (latest.description ?? undefined) === description && (!logUrl || latest.log_url === logUrl)) return { changed: false, deploymentId, id: latest.id };
        const { data: created } = await o.rest.repos.createDeploymentStatus({
          owner, repo, deployment_id: deploymentId, state: input.state, auto_inactive: true,
          ...(description ? { description } : {}), ...(input.environmentUrl ? { environment_url: input.environmentUrl } : {}), ...(logUrl ? { log_url: logUrl } : {}),
        });
        return { changed: true, deploymentId, id: created.id };
      } catch (err) {
        throw githubFailure(err, what, appFor(baseUrlOf(input)));
      }
    },
  };
}

export type GitHubActivities = ReturnType<typeof createGitHubActivities>;
