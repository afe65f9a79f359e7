// Triggers and ChatOps: POST /v1/triggers/push (the git hook, bearer token; api/webhooks.ts runs the
// push), and in a scope that keeps bodies raw, the signed webhooks: POST /v1/webhooks/github
// (api/github-webhooks.ts) and POST /v1/slack/commands, /v1/slack/interactions (api/slack.ts).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { controlCharacterIn } from '../../core/text.js';
import { checkConfigSize } from '../config-parse.js';
import { githubWebhookRoutes } from '../github-webhooks.js';
import { parse } from '../input.js';
import { markDelivery } from '../metrics.js';
import { slackRoutes } from '../slack.js';
import { DeliveryCache, outcomeStatus, pushDeliveryOutcome, runPush, type PushOutcome } from '../webhooks.js';
import type { TriggerRouteOptions } from './deps.js';

/** Git names have no control characters: one in a repo or ref is refused, naming it (escaped). */
const gitName = (what: string, schema: z.ZodString) => schema.refine((v) => controlCharacterIn(v) === undefined, {
  error: (i) => `${what} contains the control character ${controlCharacterIn(String(i.input))}: git names have none`,
});
const pushBody = z.strictObject({
  repo: gitName('repo', z.string().min(1).max(300)),
  ref: gitName('ref', z.string().max(1000).regex(/^refs\/(heads|tags)\/\S+$/, { error: 'ref must be a full ref: refs/heads/<branch> or refs/tags/<tag>', abort: true })),
  sha: z.string().regex(/^[0-9a-f]{7,64}$/, { error: 'sha must be the commit sha (hex)' }),
  before: z.string().regex(/^[0-9a-f]{7,64}$/).optional(),
  config: z.string().min(1, { error: 'config is the text of gantry.yaml at the pushed commit' }),
  delivery: z.string().min(1).max(200).optional(),
  message: z.string().max(2000).optional(),
  /** Where the worker can clone the commit from (the hook sends file://<repository> with --source). */
  cloneUrl: z.string().regex(/^(https?|ssh|git|file):\/\/\S+$/, { error: 'cloneUrl must be a git URL (https://, ssh://, git://, file://)' }).optional(),
});

/** Registers POST /v1/triggers/push (bearer token) and the signed webhook routes (raw bodies). */
export async function registerTriggerRoutes(app: FastifyInstance, opts: TriggerRouteOptions): Promise<void> {
  // Shared by the git hook's route and GitHub push deliveries.
  const deliveries = new DeliveryCache<PushOutcome>();

  // The git hook's route: authenticated like every API route; the config comes from the pushed commit.
  app.post('/v1/triggers/push', async (req, reply) => {
    // A git server's hook: the pipeline it starts was started through git (recorded as such).
    const caller = { ...opts.callerOf(req), channel: 'git' as const };
    const b = parse(pushBody, req.body ?? {}, 'push');
    // Over the limit: 413 before anything is queued, with no pipeline or release started.
    checkConfigSize(b.config);
    const key = `push:${b.delivery ?? `${b.repo}:${b.ref}:${b.sha}`}`;
    const { value, repeated } = await deliveries.once(key, () => runPush(opts.service, b.config, { repo: b.repo, ref: b.ref, sha: b.sha, ...(b.message ? { message: b.message } : {}), ...(b.cloneUrl ? { cloneUrl: b.cloneUrl } : {}) }, caller));
    markDelivery(req, pushDeliveryOutcome(value, repeated));
    return reply.code(outcomeStatus(value)).send(value);
  });

  await app.register(async (scope) => {
    // Signed webhooks are verified on the bytes that were signed: keep every body raw in this scope.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => { done(null, body); });
    githubWebhookRoutes(scope, { ...opts, deliveries });
    slackRoutes(scope, opts);
  });
}
