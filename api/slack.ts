// Slack: the slash command (POST /v1/slack/commands) and the interactivity endpoint for the buttons
// on Gantry's approval messages (POST /v1/slack/interactions).
//  - Every request is verified with the app's signing secret: X-Slack-Signature is `v0=` + hex
//    HMAC-SHA256 of `v0:<X-Slack-Request-Timestamp>:<raw body>`, compared in constant time; a
//    timestamp more than 5 minutes from now is refused (replays). Failures: 401, nothing done.
//  - Slack user ids map to Gantry identities (chat.slack in the server config); unknown users are
//    refused with a reply saying how to get mapped.
//  - Commands run as GantryService.decide with channel 'slack' (the same Update, validators and
//    audit record as the CLI). The slash command answers synchronously in the channel when the
//    decision is done within 2.5 s, else at once ("working on it") and later through response_url.
//    A button press is acknowledged at once; the outcome is posted through response_url.
//  - Replies are Slack text (core/text.ts slackText): controls escaped, `&`, `<`, `>` escaped, so an
//    echoed comment or name can neither mention (`<!channel>`, `<@U…>`) nor link; echoes are capped.
//    A button's release must be an <app>/<env> of DNS labels, or nothing is done (what a button
//    means, both ways, is core/slack-protocol.ts).
import { backgroundWork } from './background.js';
import crypto from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Identity } from '../core/approval.js';
import { parseCommand, type ChatCommand } from '../core/chatops.js';
import { z } from 'zod';
import { buttonVerb, decodeButtonValue, pressUpdateId, type ApprovalButtonValue } from '../core/slack-protocol.js';
import { echo, slackText } from '../core/text.js';
import { runChatCommand, unknownUserReply, type ChatReply } from './chatops.js';
import { GantryError } from './errors.js';
import { parse } from './input.js';
import { markDelivery } from './metrics.js';
import type { GantryService } from './service.js';
import type { TriggerRouteOptions } from './routes/deps.js';

export const SLACK_REPLAY_WINDOW_S = 300;
const SYNC_BUDGET_MS = 2500;

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>` (what Slack sends; tests sign with it too). */
export function slackSignature(secret: string, timestamp: string | number, rawBody: string | Buffer): string {
  return `v0=${crypto.createHmac('sha256', secret).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`;
}

/** Throws a 401 GantryError unless the request is signed with `secret` within the replay window. */
export function verifySlackRequest(secret: string, timestamp: string | undefined, signature: string | undefined, rawBody: Buffer, nowMs = Date.now()): void {
  if (!timestamp || !signature) throw new GantryError('unauthenticated', 'unsigned Slack request: X-Slack-Signature and X-Slack-Request-Timestamp are required');
  if (!/^\d{1,12}$/.test(timestamp)) throw new GantryError('unauthenticated', 'bad X-Slack-Request-Timestamp');
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SLACK_REPLAY_WINDOW_S) {
    throw new GantryError('unauthenticated', 'stale Slack request: the timestamp is more than 5 minutes from now (a replay, or a clock off)', [], 'check the server clock (NTP)');
  }
  const expected = Buffer.from(slackSignature(secret, timestamp, rawBody), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // Equal lengths first (timingSafeEqual requires it); the comparison itself is constant-time.
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new GantryError('unauthenticated', 'the Slack signature does not match', [], 'check that the signing secret of the Slack app equals the one in the env var named by slack.signing_secret_env');
  }
}

interface SlackMessage { response_type: 'in_channel' | 'ephemeral'; text: string; replace_original?: boolean }

const message = (r: ChatReply): SlackMessage => ({ response_type: r.ok ? 'in_channel' : 'ephemeral', text: slackText(r.text) });

/** Posts to a response_url (from a signed Slack request). Errors are logged, not thrown. */
async function respond(url: string | undefined, body: SlackMessage, log: FastifyBaseLogger, fetchImpl: typeof fetch): Promise<void> {
  if (!url || !/^https?:\/\//.test(url)) return;
  try {
    const res = await fetchImpl(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    if (!res.ok) log.warn({ status: res.status }, 'Slack response_url refused the reply');
  } catch (err) {
    log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'could not post to the Slack response_url');
  }
}

export interface ButtonPress { user: string; actionId: string; value: ApprovalButtonValue; responseUrl?: string; actionTs?: string; messageTs?: string }

// The interactivity payload: Slack sends more fields; these are the ones a press is read from.
const interaction = z.object({
  user: z.object({ id: z.string().max(100).optional() }).optional(),
  response_url: z.string().max(2000).optional(),
  container: z.object({ message_ts: z.string().max(100).optional() }).optional(),
  actions: z.array(z.object({ action_id: z.string().min(1).max(255), value: z.string().max(2000).optional(), action_ts: z.string().max(100).optional() })).min(1),
});

export function parseButtonPress(form: URLSearchParams): ButtonPress {
  let raw: unknown;
  try { raw = JSON.parse(form.get('payload') ?? ''); } catch { throw new GantryError('bad_request', 'the interactivity payload is not JSON'); }
  const type = (raw as { type?: unknown } | null)?.type;
  if (type !== 'block_actions') throw new GantryError('bad_request', `unsupported interaction ${type === undefined ? '(none)' : echo(String(type))}`);
  const payload = parse(interaction, raw, 'interactivity payload', 'payload');
  const a = payload.actions[0]!;
  const value = decodeButtonValue(a.value);
  if (!value) throw new GantryError('bad_request', 'the button carries no release');
  return { user: payload.user?.id ?? '', actionId: a.action_id, value, ...(payload.response_url ? { responseUrl: payload.response_url } : {}), ...(a.action_ts ? { actionTs: a.action_ts } : {}), ...(payload.container?.message_ts ? { messageTs: payload.container.message_ts } : {}) };
}

/**
 * Runs a button press: only if the message's release run still waits for approval of the message's
 * group (a button on an old message must not approve a later group or a later release).
 */
export async function runButtonPress(service: GantryService, press: ButtonPress, identity: Identity, log: FastifyBaseLogger): Promise<ChatReply> {
  const { app, env, group, run } = press.value;
  const verb = buttonVerb(press.actionId);
  if (!verb) return { ok: false, text: `✗ unknown button ${echo(press.actionId)}` };
  try {
    const current = await service.releaseRun(app, env);
    if (!current) return { ok: false, text: `✗ no release of ${app}/${env} to act on` };
    if (current.runId !== run) return { ok: false, text: `✗ this message is about an earlier release of ${app}/${env}; nothing was done. Current: \`/gantry status ${app}/${env}\`` };
    const s = await service.status(app, env, 0);
    if (s.phase !== 'waiting-approval' || s.group.current - 1 !== group) {
      return { ok: false, text: `✗ group ${group + 1} of ${app}/${env} is no longer waiting for approval (now: ${s.phase}, group ${s.group.current}/${s.group.of}); nothing was done` };
    }
  } catch (err) {
    if (!(err instanceof GantryError)) log.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'button press: release lookup failed');
    return { ok: false, text: `✗ no release of ${app}/${env} to act on` };
  }
  const cmd: ChatCommand = { verb, app, environment: env };
  return runChatCommand(service, cmd, identity, 'slack', { updateId: pressUpdateId(press), log });
}

export function slackRoutes(app: FastifyInstance, opts: TriggerRouteOptions): void {
  const cfg = opts.config;
  const later = backgroundWork(app);
  const fetchImpl = opts.fetch ?? fetch;

  function verified(req: FastifyRequest): URLSearchParams {
    if (!cfg.slack) throw new GantryError('not_found', 'Slack is not configured on this Gantry server', [], 'add slack.signing_secret_env to the server config');
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    verifySlackRequest(cfg.slack.signingSecret, header(req, 'x-slack-request-timestamp'), header(req, 'x-slack-signature'), raw);
    return new URLSearchParams(raw.toString('utf8'));
  }

  app.post('/v1/slack/commands', async (req: FastifyRequest, reply: FastifyReply) => {
    const form = verified(req);
    const user = form.get('user_id') ?? '';
    const identity = cfg.chat.slack.get(user);
    // Metrics (api/metrics.ts): an unknown person is refused, a command that does not parse ignored.
    if (!identity) { markDelivery(req, 'refused'); return reply.send(message(unknownUserReply('slack', user))); }
    const parsed = parseCommand(form.get('text') ?? '');
    if (!parsed.ok) markDelivery(req, 'ignored');
    if (!parsed.ok) return reply.send({ response_type: 'ephemeral', text: slackText(`✗ ${parsed.error}. Usage: \`${parsed.usage}\``) });
    const work = runChatCommand(opts.service, parsed.command, identity, 'slack', { log: req.log });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), SYNC_BUDGET_MS); });
    const r = await Promise.race([work, late]);
    clearTimeout(timer);
    if (r) return reply.send(message(r));
    later('slack command', work.then((x) => respond(form.get('response_url') ?? undefined, message(x), req.log, fetchImpl)), req.log);
    return reply.send({ response_type: 'ephemeral', text: slackText(`working on ${echo(form.get('text') ?? '')}…`) });
  });

  app.post('/v1/slack/interactions', async (req: FastifyRequest, reply: FastifyReply) => {
    const form = verified(req);
    const press = parseButtonPress(form);
    const identity = cfg.chat.slack.get(press.user);
    // Acknowledge now (Slack wants an answer within 3 s); the outcome goes to response_url.
    if (!identity) markDelivery(req, 'refused');
    const work = identity ? runButtonPress(opts.service, press, identity, req.log) : Promise.resolve(unknownUserReply('slack', press.user));
    later('slack button', work.then((r) => respond(press.responseUrl, { ...message(r), replace_original: false }, req.log, fetchImpl)), req.log);
    return reply.code(200).send();
  });
}
