// POST /v1/webhooks/github: GitHub webhooks for the repositories in the server config.
//  - Verified first (X-Hub-Signature-256, HMAC-SHA256 of the raw body with the repository's secret,
//    by @octokit/webhooks); unsigned, forged or unknown-repository requests get 401 and start nothing.
//  - push: the branch/tag rules of the repository's gantry.yaml (api/webhooks.ts), deduplicated by
//    X-GitHub-Delivery and by commit.
//  - issue_comment / commit_comment (created): a `/gantry <command>` line runs as a decision of the
//    commenter's Gantry identity (chat.github), channel 'github'; the answer is replied as a comment
//    when a GitHub token is configured, and is in the webhook response either way. Only a command
//    the rendered comment shows counts (core/chatops.ts commandInComment). The posted reply is
//    Markdown that renders as the plain reply (core/text.ts markdownText): nothing echoed from the
//    input can add HTML or links, `@mentions` in it are put in code spans so they notify no one (only
//    the commenter is mentioned, on purpose), and no line of it reads as a `/gantry` command.
import { backgroundWork } from './background.js';
import { Octokit } from '@octokit/rest';
import { describeApp, isAppTokenRequest } from '../activities/github-auth.js';
import { Webhooks } from '@octokit/webhooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { commandInComment, parseCommand } from '../core/chatops.js';
import { cap, displayLine, echo, markdownText } from '../core/text.js';
import { runChatCommand, unknownUserReply, type ChatReply } from './chatops.js';
import { GantryError } from './errors.js';
import { readRepoConfig, repoEntry, type RepoEntry, type TriggerServerConfig } from './server-config.js';
import { DeliveryCache, outcomeStatus, pushDeliveryOutcome, runPush, type PushOutcome } from './webhooks.js';
import type { TriggerRouteOptions } from './routes/deps.js';
import { markDelivery } from './metrics.js';

const verifiers = new Map<string, Webhooks>();
function verifierFor(entry: RepoEntry): Webhooks {
  const key = `${entry.name}\0${entry.secret}`;
  let w = verifiers.get(key);
  if (!w) { w = new Webhooks({ secret: entry.secret }); verifiers.set(key, w); }
  return w;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

interface Payload {
  action?: string;
  ref?: string;
  after?: string;
  deleted?: boolean;
  head_commit?: { id?: string; message?: string; author?: { username?: string } } | null;
  repository?: { full_name?: string; clone_url?: string };
  sender?: { login?: string; type?: string };
  zen?: string;
  comment?: { id?: number; body?: string; commit_id?: string; user?: { login?: string; type?: string } };
  issue?: { number?: number; pull_request?: unknown };
}

/** Verifies a delivery; returns the parsed payload and the repository entry, or throws a 401. */
export async function verifyGitHubDelivery(cfg: TriggerServerConfig, raw: Buffer, signature: string | undefined): Promise<{ payload: Payload; entry: RepoEntry }> {
  if (!signature) throw new GantryError('unauthenticated', 'unsigned webhook: X-Hub-Signature-256 is missing', [], 'set a secret on the GitHub webhook; the same value goes in the env var named by secret_env in the server config');
  const text = raw.toString('utf8');
  let payload: Payload;
  try { payload = JSON.parse(text) as Payload; } catch { throw new GantryError('unauthenticated', 'the webhook signature does not match', [], 'send the payload as application/json, signed with the repository\'s webhook secret'); }
  const entry = repoEntry(cfg, payload?.repository?.full_name);
  if (!entry) throw new GantryError('unauthenticated', 'no webhook secret is configured for this repository', [], 'add the repository to repos in the Gantry server config (name, config, secret_env)');
  let ok = false;
  try { ok = await verifierFor(entry).verify(text, signature); } catch { ok = false; }
  if (!ok) throw new GantryError('unauthenticated', 'the webhook signature does not match', [], `check that the webhook secret on GitHub equals $${entry.secretEnv} on the Gantry API server`);
  return { payload, entry };
}

/** A delivery that carried nothing to do: counted as ignored (api/metrics.ts). */
function ignoredDelivery<T>(req: FastifyRequest, body: T): T {
  markDelivery(req, 'ignored');
  return body;
}

export interface GitHubRouteOptions extends TriggerRouteOptions { deliveries: DeliveryCache<PushOutcome> }

export function githubWebhookRoutes(app: FastifyInstance, opts: GitHubRouteOptions): void {
  const later = backgroundWork(app);
  const cfg = opts.config;
  const comments = new DeliveryCache<ChatReply & { command: string }>();

  app.post('/v1/webhooks/github', async (req: FastifyRequest, reply: FastifyReply) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const { payload, entry } = await verifyGitHubDelivery(cfg, raw, header(req, 'x-hub-signature-256'));
    const event = header(req, 'x-github-event') ?? '';
    const delivery = header(req, 'x-github-delivery');
    if (!delivery) throw new GantryError('bad_request', 'X-GitHub-Delivery is missing', [], 'GitHub sends it with every delivery');
    const ctype = header(req, 'content-type') ?? '';
    if (!/^application\/json\b/i.test(ctype)) throw new GantryError('bad_request', `content type ${ctype ? echo(ctype) : '(none)'} is not supported`, [], 'set the webhook\'s content type to application/json');
    const login = typeof payload.sender?.login === 'string' ? payload.sender.login : '';
    const person = cfg.chat.github.get(login.toLowerCase());

    if (event === 'ping') {
      markDelivery(req, 'ignored');
      return { ok: true, zen: payload.zen ?? '' };
    }
    if (event === 'push') {
      const sha = payload.after ?? '';
      const authorLogin = payload.head_commit?.author?.username;
      const author = authorLogin ? cfg.chat.github.get(authorLogin.toLowerCase())?.id ?? `github:${authorLogin}` : undefined;
      const caller = { identity: person ?? { id: `github:${login || 'unknown'}`, groups: [] }, channel: 'github' as const };
      const { value, repeated } = await opts.deliveries.once(`github:${delivery}`, async () => runPush(opts.service, await readRepoConfig(entry, opts.fetch), {
        repo: entry.name, ref: payload.ref ?? '', sha, deleted: payload.deleted === true,
        ...(author ? { author } : {}), ...(payload.head_commit?.message ? { message: payload.head_commit.message } : {}),
        ...(cloneUrlOf(entry, payload) ? { cloneUrl: cloneUrlOf(entry, payload)! } : {}),
      }, caller, { github: { baseUrl: cfg.github.apiUrl, ...(cfg.github.tokenEnv ? { tokenEnv: cfg.github.tokenEnv } : {}) } }));
      markDelivery(req, pushDeliveryOutcome(value, repeated));
      if (repeated) return reply.code(200).send({ ...value, delivery: 'repeated' });
      return reply.code(outcomeStatus(value)).send(value);
    }
    if (event === 'issue_comment' || event === 'commit_comment') {
      if (payload.action !== 'created') return ignoredDelivery(req, { ignored: `comment ${cap(displayLine(String(payload.action ?? '')), 40)}: only new comments carry commands` });
      if (payload.sender?.type === 'Bot' || payload.comment?.user?.type === 'Bot') return ignoredDelivery(req, { ignored: 'comments by bots carry no commands' });
      const text = commandInComment(typeof payload.comment?.body === 'string' ? payload.comment.body : '');
      if (text === undefined) return ignoredDelivery(req, { ignored: 'no /gantry command in the comment' });
      const { value, repeated } = await comments.once(`github:${delivery}`, async () => {
        let answer: ChatReply;
        const parsed = parseCommand(text);
        if (!person) answer = unknownUserReply('github', login);
        else if (!parsed.ok) answer = { ok: false, text: `✗ ${parsed.error}. Usage: \`${parsed.usage}\`` };
        else answer = await runChatCommand(opts.service, parsed.command, person, 'github', { updateId: `github-${delivery}`, log: req.log });
        later('GitHub reply', postReply(entry, payload, event, githubReply(login, answer.text), cfg, opts.fetch), req.log);
        return { ...answer, command: cap(displayLine(text), 200) };
      });
      if (repeated) markDelivery(req, 'duplicate');
      return { ok: value.ok, reply: value.text, command: value.command, ...(repeated ? { delivery: 'repeated' } : {}) };
    }
    return reply.code(202).send({ ignored: `event ${event ? echo(event) : '(none)'} is not handled` });
  });
}

/**
 * The Markdown of a reply comment: the commenter mentioned (a GitHub login: letters, digits and
 * hyphens), then the plain reply as Markdown that mentions no one else (core/text.ts markdownText).
 */
export function githubReply(login: string, text: string): string {
  const mention = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/.test(login) ? `@${login} ` : '';
  return `${mention}${markdownText(text)}`;
}

/** Replies on the pull request/issue or the commit, as the GitHub App when one is configured, else with the token. */
async function postReply(entry: RepoEntry, payload: Payload, event: string, body: string, cfg: TriggerServerConfig, fetchImpl?: typeof fetch): Promise<void> {
  const octokit = replyClient(cfg, fetchImpl);
  if (!octokit) return;
  const [owner, repo] = entry.name.split('/') as [string, string];
  try {
    if (event === 'issue_comment' && payload.issue?.number) await octokit.rest.issues.createComment({ owner, repo, issue_number: payload.issue.number, body });
    else if (event === 'commit_comment' && payload.comment?.commit_id) await octokit.rest.repos.createCommitComment({ owner, repo, commit_sha: payload.comment.commit_id, body });
  } catch (err) {
    // The App's token exchange refused (a wrong key, App id or installation): say which settings.
    const app = cfg.github.app;
    if (app && isAppTokenRequest(err)) throw new Error(`GitHub refused the ${describeApp(app)}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    throw err;
  }
}

// One client per server config: with a GitHub App, @octokit/auth-app keeps the installation token
// (an hour) in it, so replies do not each ask for a new one.
const replyClients = new WeakMap<TriggerServerConfig, Octokit>();
function replyClient(cfg: TriggerServerConfig, fetchImpl?: typeof fetch): Octokit | undefined {
  const auth = cfg.github.appAuth ? cfg.github.appAuth() : cfg.github.token ? { auth: cfg.github.token } : undefined;
  if (!auth) return undefined;
  let o = replyClients.get(cfg);
  if (!o) {
    o = new Octokit({
      ...auth, baseUrl: cfg.github.apiUrl, userAgent: 'gantry',
      ...(fetchImpl ? { request: { fetch: fetchImpl } } : {}),
      log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
    });
    replyClients.set(cfg, o);
  }
  return o;
}

/** Where a push's commit is cloned from, when the repository is configured to build from source. */
function cloneUrlOf(entry: { cloneUrl?: string }, payload: { repository?: { clone_url?: string } }): string | undefined {
  if (entry.cloneUrl === 'from-payload') return payload.repository?.clone_url;
  return entry.cloneUrl;
}
