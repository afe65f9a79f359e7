// Gantry's failure vocabulary, in one table: every ApplicationFailure type a workflow or an activity
// throws, whether retrying can fix it, and what a person should do about it. Activities throw only
// through `fail()` (test/core/failures.test.ts fails the build on any other ApplicationFailure
// construction in activities/), and every proxyActivities call takes its nonRetryableErrorTypes from
// `nonRetryableErrorTypes`, derived from this table: retryability is a property of the type, decided
// once, here.
//
// The rule for `retryable`: true when the same request can succeed later without anyone changing
// anything (the other side was unreachable, overloaded or briefly inconsistent, or the activity
// cleaned up before failing). false when a person must change something first (input, config,
// credentials, RBAC, the commit, the worker's installation): retrying would only delay the answer.
//
// Shared by workflows, activities and clients (API, CLI): no Node built-ins, no I/O.
import { ApplicationFailure, type Duration } from '@temporalio/common';

export interface FailureSpec {
  /** Whether Temporal retries an activity that failed with this type (per its retry policy). */
  readonly retryable: boolean;
  /** Why retrying can or cannot fix it. */
  readonly why: string;
  /** What a person should do, for logs, the UI and error bodies. */
  readonly hint: string;
}

const UNCHANGED = 'the same request gets the same answer until a person changes something';

export const FAILURES = {
  // --- Outcomes of the workflows (thrown by workflows/*.ts; clients branch on these names) ---
  /** A decision (Update) refused by policy: not an approver, four-eyes, outside a window. */
  Refused: { retryable: false, why: 'a policy decision; it changes only when the situation does', hint: 'the message says who may decide and when; ask one of them, or wait until it is allowed' },
  /** A request that can never succeed as given (also thrown by activities for bad input). */
  BadRequest: { retryable: false, why: UNCHANGED, hint: 'fix the request: the message names the field or value that is wrong' },
  RolledBack: { retryable: false, why: 'the release ended; a new release is a new decision', hint: 'the release status says why it rolled back (unhealthy pods, failed analysis, a rejection); fix that and release again' },
  RollbackFailed: { retryable: false, why: 'the release ended without returning to the stable revision; a person must look', hint: 'the environment may still serve both revisions: check the cluster, then start a rollback again' },
  StageFailed: { retryable: false, why: 'the pipeline ended; its status keeps the failing stage', hint: 'the pipeline status names the stage that failed and why; fix it and push again' },

  // --- Cluster activities (activities/k8s, activities/sim-cluster.ts) ---
  InvalidTarget: { retryable: false, why: 'what the release needs (namespace, context, Service, route rule) is missing or wrong', hint: 'make gantry.yaml and the cluster agree: the message names the namespace, context or object' },
  Forbidden: { retryable: false, why: 'authorization is configuration: RBAC answers the same until someone changes it', hint: 'grant the worker\'s Kubernetes identity the rules Gantry needs (README, RBAC): the message names the verb, the resource and the namespace' },
  InvalidSpec: { retryable: false, why: 'the API server rejected the object as invalid (HTTP 422); the same object stays invalid', hint: 'fix the value in gantry.yaml the message names (e.g. a port, a label)' },
  ClusterUnavailable: { retryable: true, why: 'the API server did not answer, or answered 429 or 5xx: it comes back', hint: 'Gantry retries; if it lasts, check the API server and the network between the worker and it' },

  // --- Analysis queries (activities/k8s/prometheus.ts). The measure activity turns these into
  //     inconclusive measurements (a person decides), like a Prometheus that does not answer ---
  PrometheusUnauthorized: { retryable: false, why: 'Prometheus (or the proxy in front of it) refused the worker\'s credentials (401/403): it answers the same until they change', hint: 'set credentials it accepts: GANTRY_PROMETHEUS_TOKEN or GANTRY_PROMETHEUS_TOKEN_FILE (bearer), or GANTRY_PROMETHEUS_USERNAME and GANTRY_PROMETHEUS_PASSWORD (basic); the message names the one in use' },
  PrometheusUntrusted: { retryable: false, why: 'the certificate Prometheus presented is not signed by a CA the worker trusts (or names another host)', hint: 'set GANTRY_PROMETHEUS_CA_FILE to the CA certificate (PEM) that signed Prometheus\' serving certificate, and use the host name the certificate names in GANTRY_PROMETHEUS_URL' },

  // --- Source activities: checkout and tag (activities/git.ts) ---
  CommitNotFound: { retryable: false, why: 'the remote does not have the commit', hint: 'push the commit, or start the pipeline for a commit the repository has' },
  RefMoved: { retryable: false, why: 'the ref points at another commit now; this pipeline is for the old one', hint: 'nothing to do: the newer commit gets its own pipeline' },
  RefNotFound: { retryable: false, why: 'the ref is gone from the remote', hint: 'the branch or tag was deleted; start the pipeline for an existing ref' },
  RepoNotFound: { retryable: false, why: 'the URL names no repository', hint: 'fix the repository URL (the server config, or the pipeline request)' },
  RepoForbidden: { retryable: false, why: 'the git server refused the worker\'s credentials (or it has none), or the worker does not trust the server (TLS certificate, SSH host key)', hint: 'give the worker credentials for the repository (GANTRY_GIT_HTTPS_TOKENS, GANTRY_GIT_SSH_KEY_FILE or a GitHub App) that can read it and push tags when tags are configured; trust the server with GANTRY_GIT_CA_FILE or GANTRY_GIT_SSH_KNOWN_HOSTS_FILE; the message names the host and the setting' },
  RepoUnavailable: { retryable: true, why: 'the git server did not answer (connection refused, timeout, DNS): it comes back', hint: 'Gantry retries; if it lasts, check the git server and the network from the worker' },
  GitFailed: { retryable: true, why: 'git failed for a reason not recognised above (a lock, a full disk, a dropped connection); a new attempt starts clean', hint: 'the message has git\'s last lines; check the worker\'s disk and the repository cache if it repeats' },
  WorkspaceCorrupt: { retryable: true, why: 'the activity removes the corrupt worktree before failing, so the retry checks it out afresh', hint: 'a gate changed the checkout\'s HEAD (e.g. git checkout); gates should not move HEAD' },
  InvalidConfig: { retryable: false, why: 'the commit\'s gantry.yaml is missing or invalid; the commit does not change', hint: 'fix gantry.yaml (the message lists each problem with its path and a hint) and push a new commit' },
  TagConflict: { retryable: false, why: 'the tag exists on another commit; Gantry never moves a tag', hint: 'change build.tag.name in gantry.yaml so each release gets its own tag, or delete the old tag on purpose' },

  // --- Gates and build (activities/gates.ts, activities/build.ts) ---
  BuildFailed: { retryable: false, why: 'a build step failed on the commit\'s own Dockerfile or context', hint: 'the message names the failing step; the build log path is in the message' },
  BuilderUnavailable: { retryable: true, why: 'BuildKit did not answer or did not finish its bookkeeping: a builder restart or a network blip', hint: 'Gantry retries; if it lasts, check buildkitd and the BuildKit address the worker is given' },
  BuilderTlsFailed: { retryable: false, why: 'buildkitd over TCP refused the worker\'s TLS client certificate (or it has none), or the worker does not trust buildkitd\'s certificate: the same certificates get the same answer', hint: 'give the worker a client certificate signed by the CA buildkitd trusts and buildkitd\'s CA (GANTRY_BUILDKIT_TLS_DIR, or GANTRY_BUILDKIT_TLS_CA_CERT, _CERT and _KEY)' },
  ToolMissing: { retryable: false, why: 'a program the worker needs is not installed; retrying on the same worker cannot install it', hint: 'install the program in the worker\'s image or point the worker at it (the message names it and the path looked at)' },
  SecretMissing: { retryable: false, why: 'the worker lacks an environment variable the config names', hint: 'set the variable on the worker (from a Secret), or remove it from gantry.yaml' },

  // --- Registry activities (activities/registry.ts) ---
  ImageNotFound: { retryable: false, why: 'the registry has no such manifest, tag or blob', hint: 'check the image name and the digest or tag; the image may have been deleted' },
  RegistryForbidden: { retryable: false, why: 'the registry refused the credentials (401/403), or the worker has none for it', hint: 'give the worker registry credentials that may pull, push and delete in the repository: a Docker config.json at GANTRY_REGISTRY_AUTH_FILE (or in DOCKER_CONFIG); the message names the registry, the repository and the file looked in' },
  RegistryUntrusted: { retryable: false, why: 'the registry (or its token server) presented a certificate not signed by a CA the worker trusts, or one for another name: the same certificate gets the same answer', hint: 'set GANTRY_REGISTRY_CA_FILE to the CA certificate (PEM) that signed the registry\'s certificate, and name the registry as its certificate does' },
  RegistryRejected: { retryable: false, why: 'the registry refused the request itself (a 4xx other than 401, 403, 404, 408, 429; e.g. deletes disabled)', hint: 'the message has the registry\'s answer; fix the request or the registry\'s configuration' },
  RegistryUnavailable: { retryable: true, why: 'the registry did not answer, or answered 408, 429 or 5xx: it comes back', hint: 'Gantry retries; if it lasts, check the registry and the network from the worker' },
  RegistryInconsistent: { retryable: true, why: 'the registry returned content that does not match what was asked or written (a concurrent push, a caching proxy); a new read usually agrees', hint: 'if it repeats, look for another writer of the same tag, or a proxy that caches manifests' },

  // --- GitHub activities (activities/github.ts); details carry the HTTP status ---
  GitHubNotConfigured: { retryable: false, why: 'the worker has no GitHub credentials', hint: 'set the token variable on the worker (GANTRY_GITHUB_TOKEN unless configured otherwise), or a GitHub App (GANTRY_GITHUB_APP_ID, _INSTALLATION_ID, _PRIVATE_KEY or _PRIVATE_KEY_FILE)' },
  GitHubBadInput: { retryable: false, why: UNCHANGED, hint: 'name the repository as owner/name' },
  GitHubRejected: { retryable: false, why: 'GitHub refused the request (4xx other than rate limiting): a wrong token, repository or request', hint: 'check the token\'s or the GitHub App\'s permissions (commit statuses, deployments) and installation, and the repository name; the message has GitHub\'s answer and, for an App, the settings it used' },
  GitHubRateLimited: { retryable: true, why: 'GitHub asked to slow down (429, or 403 with the rate limit exhausted); it says when to come back', hint: 'Gantry retries after GitHub\'s Retry-After; if it repeats, use a GitHub App (higher limits) or fewer reports' },
  GitHubUnavailable: { retryable: true, why: 'GitHub did not answer, answered 5xx, or did not create the deployment yet', hint: 'Gantry retries; check githubstatus.com or the GitHub Enterprise server' },

  // --- Slack activities (activities/slack.ts); details carry Slack's error code or the HTTP status ---
  SlackRejected: { retryable: false, why: 'Slack refused the request: a bad token, a missing scope, an unknown channel, a bad message', hint: 'the message has Slack\'s error code; fix the bot token, its scopes or the channel' },
  SlackRateLimited: { retryable: true, why: 'Slack asked to slow down (429 or ratelimited); it says when to come back', hint: 'Gantry retries after Slack\'s Retry-After' },
  SlackUnavailable: { retryable: true, why: 'Slack did not answer, answered 5xx, or reported its own trouble (internal_error, service_unavailable, an unknown code)', hint: 'Gantry retries; a notice that still fails never stops a release' },
} as const satisfies Record<string, FailureSpec>;

export type FailureType = keyof typeof FAILURES;

/** Every failure type by name (`FailureType.Refused === 'Refused'`): what code and clients compare with. */
export const FailureType = Object.freeze(Object.fromEntries(Object.keys(FAILURES).map((k) => [k, k]))) as { readonly [K in FailureType]: K };

/** Every failure type, in table order. */
export const failureTypes = Object.keys(FAILURES) as FailureType[];

/** The types retrying cannot fix: every proxyActivities retry policy's nonRetryableErrorTypes. */
export const nonRetryableErrorTypes: string[] = failureTypes.filter((t) => !FAILURES[t].retryable);

export function isFailureType(type: string | undefined | null): type is FailureType {
  return typeof type === 'string' && Object.prototype.hasOwnProperty.call(FAILURES, type);
}

/** The hint of a failure type; undefined for a type outside the table (e.g. from a library). */
export function failureHint(type: string | undefined | null): string | undefined {
  return isFailureType(type) ? FAILURES[type].hint : undefined;
}

/**
 * The hint for a failure as a workflow sees it: the first failure of the table's types along the
 * cause chain (an ActivityFailure or ChildWorkflowFailure wraps the ApplicationFailure an activity
 * threw); undefined when none is in the table.
 */
export function failureHintOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof ApplicationFailure) {
      const hint = failureHint(e.type);
      if (hint) return hint;
    }
  }
  return undefined;
}

export interface FailOptions {
  /** Structured facts for programs (e.g. `{ status: 404 }`); the table's hint is added as `hint`. */
  details?: Record<string, unknown>;
  cause?: Error;
  /** For a retryable type: when to try again (e.g. from a Retry-After header). */
  nextRetryDelay?: Duration;
}

/**
 * The one way activities make a failure: `throw fail(FailureType.X, 'what happened')`. The type's
 * retryability comes from the table (ApplicationFailure.nonRetryable), and the failure carries one
 * detail, `{ hint, ...details }`.
 */
export function fail(type: FailureType, message: string, opts: FailOptions = {}): ApplicationFailure {
  const spec: FailureSpec = FAILURES[type];
  return ApplicationFailure.create({
    message, type, nonRetryable: !spec.retryable,
    details: [{ hint: spec.hint, ...opts.details }],
    ...(opts.cause ? { cause: opts.cause } : {}),
    ...(opts.nextRetryDelay !== undefined && spec.retryable ? { nextRetryDelay: opts.nextRetryDelay } : {}),
  });
}
