// Posting to Slack, as an activity: when a release waits for approval, a message in the release
// channel with Approve and Reject buttons (the press comes back to the API as an interactivity
// payload, api/slack.ts). Calls chat.postMessage at a configurable Slack API base URL.
//
// Idempotent: the message carries metadata naming the release run and group; a retried attempt
// first looks for it in the channel's recent history (conversations.history) and does not post twice.
// Errors (workflows/failures.ts): Slack's `ok: false` codes that retrying cannot fix (bad token,
// unknown channel, bad blocks) and HTTP 4xx are SlackRejected, non-retryable; HTTP 429 and
// `ratelimited` are SlackRateLimited (after Retry-After); 5xx, network errors and any other code are
// SlackUnavailable, retryable. Slack's code or the HTTP status is in the failure's details.
// The bot token never enters workflow history: it is read on the worker from the env var named by
// `tokenEnv` (default SLACK_BOT_TOKEN). Without a token or a channel the activity posts nothing and
// says so (Slack is optional).
//
// With the worker's GANTRY_PUBLIC_URL (`publicUrl`), every notice ends with an "Open in console" link
// to the release page (core/console-links.ts); without it, no link.
//
// Every text in a message is Slack text made from outside values (names, reasons, comments): controls
// and bidi characters escaped, `&`, `<`, `>` escaped (no injected `<!channel>`, mention or link), and
// capped so a long reason can never make Slack refuse the message (msg_too_long is not retryable).
import { activityInfo } from '@temporalio/activity';
import { fail, FailureType } from '../workflows/failures.js';
import type { NotifyRequest } from '../workflows/activity-types.js';
import { buttonBlockId, encodeButtonValue, SLACK_ACTIONS } from '../core/slack-protocol.js';
import { cap, displayLine, slackText } from '../core/text.js';
import { consoleReleasePath, consoleUrl } from '../core/console-links.js';
import type { NoticeSink } from './notify.js';

export const DEFAULT_SLACK_TOKEN_ENV = 'SLACK_BOT_TOKEN';
export const DEFAULT_SLACK_API = 'https://slack.com/api';
export const SLACK_METADATA_EVENT = 'gantry_approval_request';

export interface ApprovalRequestInput {
  app: string;
  environment: string;
  /** The 0-based group waiting for approval (as decisions record it). */
  group: number;
  groupName?: string;
  /** What the release waits on, and who can unblock it (from the release status). */
  reason: string;
  who?: string;
  summary?: string;
  /** Slack channel id; default the worker's (GANTRY_SLACK_CHANNEL). */
  channel?: string;
  /** The notice kind (default waiting-approval); a release window wait gets no buttons. */
  kind?: NotifyRequest['kind'];
}

export interface SlackResult { posted: boolean; channel?: string; ts?: string; reason?: string }

export interface SlackActivityOptions {
  baseUrl?: string;
  tokenEnv?: string;
  channel?: string;
  env?: Record<string, string | undefined>;
  fetch?: typeof fetch;
  /** GANTRY_PUBLIC_URL (an origin): notices link to the release page there; unset: no link. */
  publicUrl?: string;
}

const NON_RETRYABLE = new Set([
  'invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'no_permission', 'missing_scope',
  'channel_not_found', 'not_in_channel', 'is_archived', 'invalid_blocks', 'invalid_arguments', 'msg_too_long',
  'restricted_action', 'team_access_not_granted', 'invalid_metadata_format', 'invalid_metadata_schema',
]);

/** The most characters of the detail of a message (Slack takes 3,000 in a section, with the title). */
export const SLACK_DETAIL_LIMIT = 2400;

export function approvalMessage(req: ApprovalRequestInput, run: string, channel: string, publicUrl?: string) {
  // The buttons' action ids and value: core/slack-protocol.ts (api/slack.ts decodes a press with it).
  const value = encodeButtonValue({ app: req.app, env: req.environment, group: req.group, run });
  // `group` is the 0-based index decisions record; people read groups counted from 1.
  const kind = req.kind ?? 'waiting-approval';
  // Capped after escaping, so the cap bounds what Slack receives.
  const name = (s: string) => cap(slackText(displayLine(s)), 100);
  const app = name(req.app);
  const env = name(req.environment);
  const group = `group ${req.group + 1}${req.groupName ? ` (${name(req.groupName)})` : ''}`;
  const title = kind === 'waiting-window' ? `${app} → ${env}: ${group} waits for its release window`
    : `${app} → ${env}: ${group} ${kind === 'escalation' ? 'still waits for approval' : 'waits for approval'}`;
  const detail = cap(slackText([req.reason, req.who ? `Who can approve: ${req.who}` : '', req.summary ?? ''].filter(Boolean).join('\n')), SLACK_DETAIL_LIMIT);
  const buttons = kind === 'waiting-window' ? [] : [
    {
      type: 'actions', block_id: buttonBlockId(req.app, req.environment, req.group),
      elements: [
        { type: 'button', action_id: SLACK_ACTIONS.approve, style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value },
        {
          type: 'button', action_id: SLACK_ACTIONS.reject, style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value,
          confirm: { title: { type: 'plain_text', text: 'Reject and roll back?' }, text: { type: 'mrkdwn', text: `Rejecting rolls ${app} back in ${env}.` }, confirm: { type: 'plain_text', text: 'Reject' }, deny: { type: 'plain_text', text: 'Cancel' } },
        },
      ],
    },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `or: \`/gantry approve ${app}/${env} &lt;comment&gt;\`` }] },
  ];
  // A link, not a button: a URL button still sends a block_actions payload that api/slack.ts would have to ignore.
  // The URL is an origin and encoded segments: no `|` or `>` that would end Slack's <url|text> early.
  const url = consoleUrl(publicUrl, consoleReleasePath(req.app, req.environment));
  const link = url ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: `<${url}|Open in console>` }] }] : [];
  return {
    channel,
    text: title,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${title}*\n${detail}` } }, ...buttons, ...link],
    metadata: { event_type: SLACK_METADATA_EVENT, event_payload: { key: `${run}/${req.group}/${kind}`, app: req.app, env: req.environment, group: req.group } },
  };
}

interface SlackAnswer { ok: boolean; error?: string; ts?: string; channel?: string; messages?: { ts?: string; metadata?: { event_type?: string; event_payload?: { key?: string } } }[] }

export function createSlackActivities(opts: SlackActivityOptions = {}) {
  const env = opts.env ?? process.env;
  const fetchImpl = opts.fetch ?? fetch;

  async function call(method: string, token: string, body: Record<string, unknown> | URLSearchParams): Promise<SlackAnswer> {
    const base = (opts.baseUrl ?? env.GANTRY_SLACK_API_URL ?? DEFAULT_SLACK_API).replace(/\/+$/, '');
    let res: Response;
    try {
      res = body instanceof URLSearchParams
        ? await fetchImpl(`${base}/${method}?${body.toString()}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) })
        : await fetchImpl(`${base}/${method}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
    } catch (err) {
      throw fail(FailureType.SlackUnavailable, `Slack ${method}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const after = Number(res.headers.get('retry-after'));
    const retryAfter = after > 0 ? { nextRetryDelay: `${Math.min(after, 3600)}s` } : {};
    const httpFailure = { details: { status: res.status }, ...retryAfter };
    if (res.status === 429) throw fail(FailureType.SlackRateLimited, `Slack ${method}: HTTP ${res.status}`, httpFailure);
    if (res.status >= 500) throw fail(FailureType.SlackUnavailable, `Slack ${method}: HTTP ${res.status}`, httpFailure);
    if (!res.ok) throw fail(FailureType.SlackRejected, `Slack ${method}: HTTP ${res.status}`, { details: { status: res.status } });
    const answer = (await res.json()) as SlackAnswer;
    if (!answer.ok) {
      const code = displayLine(answer.error ?? 'unknown_error').slice(0, 100);
      const type = code === 'ratelimited' ? FailureType.SlackRateLimited : NON_RETRYABLE.has(code) ? FailureType.SlackRejected : FailureType.SlackUnavailable;
      throw fail(type, `Slack ${method}: ${code}`, { details: { code }, ...(type === FailureType.SlackRateLimited ? retryAfter : {}) });
    }
    return answer;
  }

  return {
    /** Posts "<app> → <env>: group N waits for approval" with Approve/Reject buttons, once per release run and group. */
    async slackApprovalRequest(req: ApprovalRequestInput): Promise<SlackResult> {
      const tokenEnv = opts.tokenEnv ?? DEFAULT_SLACK_TOKEN_ENV;
      const token = env[tokenEnv];
      const channel = req.channel ?? opts.channel ?? env.GANTRY_SLACK_CHANNEL;
      if (!token) return { posted: false, reason: `Slack is not configured on the worker (${tokenEnv} is not set)` };
      if (!channel) return { posted: false, reason: 'no Slack channel: set GANTRY_SLACK_CHANNEL on the worker' };
      const info = activityInfo();
      const run = info.workflowExecution?.runId ?? info.activityId;
      const msg = approvalMessage(req, run, channel, opts.publicUrl);
      if (info.attempt > 1) {
        // An earlier attempt may have posted before failing: look for its message first.
        const history = await call('conversations.history', token, new URLSearchParams({ channel, limit: '100', include_all_metadata: 'true' }));
        const key = msg.metadata.event_payload.key;
        const found = history.messages?.find((m) => m.metadata?.event_type === SLACK_METADATA_EVENT && m.metadata.event_payload?.key === key);
        if (found) return { posted: false, channel, ...(found.ts ? { ts: found.ts } : {}), reason: 'already posted' };
      }
      const answer = await call('chat.postMessage', token, msg);
      return { posted: true, channel: answer.channel ?? channel, ...(answer.ts ? { ts: answer.ts } : {}) };
    },
  };
}

export type SlackActivities = ReturnType<typeof createSlackActivities>;

/**
 * A sink for the notify activity (activities/notify.ts): release notices become Slack messages, with
 * Approve/Reject buttons for approval waits and escalations. Runs inside the notify activity, so the
 * message names the release run it is about. False when Slack is not configured or refused.
 */
export function slackNoticeSink(opts: SlackActivityOptions = {}): NoticeSink {
  const slack = createSlackActivities(opts);
  const who = (to: NotifyRequest['to']) => [...to.users, ...to.groups.map((g) => `group:${g}`)].join(', ');
  return async (req: NotifyRequest) => {
    const r = await slack.slackApprovalRequest({ app: req.app, environment: req.environment, group: req.group, reason: req.message, kind: req.kind, ...(who(req.to) ? { who: who(req.to) } : {}) });
    return r.posted || r.reason === 'already posted';
  };
}
