// Runs a parsed chat command (Slack or GitHub) as the same service call the CLI and API make:
// GantryService.decide (the workflow Update, with its validators and audit record) or status. Returns
// the reply text for the chat; never throws for what the user should read.
//
// The reply is plain text in which every value that came from outside (a comment, a reason, a name,
// an error message) is shown with its control and bidi characters escaped and capped (core/text.ts);
// each channel then writes it in its own markup (api/slack.ts: slackText; api/github-webhooks.ts:
// markdownText, which also keeps @mentions from notifying anyone).
import type { Identity } from '../core/approval.js';
import { CHAT_USAGE, type ChatCommand } from '../core/chatops.js';
import type { ReleaseStatus } from '../core/release.js';
import { cap, displayLine, displayText } from '../core/text.js';
import { GantryError } from './errors.js';
import type { GantryService } from './service.js';

export type ChatChannel = 'slack' | 'github';

export interface ChatReply {
  ok: boolean;
  text: string;
  /** What the command did, for the HTTP answer and tests. */
  result?: unknown;
}

/** The most characters of one outside value (a comment, a reason, an error message) in a reply. */
export const REPLY_VALUE_LIMIT = 500;
/** An outside value shown in a reply: escaped, on one line, capped. */
const shown = (text: string, limit = REPLY_VALUE_LIMIT) => cap(displayLine(text), limit);

export function statusLine(s: ReleaseStatus): string {
  const parts = [`${shown(s.app, 80)}/${shown(s.environment, 80)}: ${s.phase}, group ${s.group.current}/${s.group.of} — ${shown(s.summary)}`];
  if (s.waiting) parts.push(`waiting on ${s.waiting.on}: ${shown(s.waiting.reason)} (${shown(s.waiting.who)})`);
  return parts.join('\n');
}

export function unknownUserReply(channel: ChatChannel, user: string): ChatReply {
  const who = shown(user, 80);
  const where = channel === 'slack' ? `Slack user ${who}` : `GitHub user @${who}`;
  const key = channel === 'slack' ? `chat.slack: { ${who}: <gantry id> }` : `chat.github: { ${who}: <gantry id> }`;
  return { ok: false, text: `✗ ${where} is not a Gantry user, so nothing was done. Ask a Gantry admin to add ${key} to the server config.` };
}

export interface RunChatOptions {
  /** Idempotency key for the Update (a webhook delivery, a button press): a repeat runs once. */
  updateId?: string;
  log?: { error(obj: unknown, msg: string): void };
}

export async function runChatCommand(service: GantryService, cmd: ChatCommand, identity: Identity, channel: ChatChannel, opts: RunChatOptions = {}): Promise<ChatReply> {
  const target = `${cmd.app}/${cmd.environment}`;
  try {
    if (cmd.verb === 'help') return { ok: true, text: `usage: ${CHAT_USAGE}` };
    if (cmd.verb === 'status') {
      const s = await service.status(cmd.app, cmd.environment, 0);
      return { ok: true, text: statusLine(s), result: { phase: s.phase, summary: s.summary } };
    }
    const r = await service.decide(cmd.app, cmd.environment, cmd.verb, { identity, channel }, cmd.comment, opts.updateId ? { updateId: opts.updateId } : {});
    // Decisions record the 0-based group index; people read groups counted from 1 (as the status does).
    const group = r.decision.group !== undefined ? ` (group ${r.decision.group + 1})` : '';
    const extra = r.started ? `\nstarted ${shown(r.started.workflowId)}` : '';
    return { ok: true, text: `✓ ${cmd.verb} of ${target}${group} by ${shown(r.decision.by, 80)} via ${channel}${cmd.comment ? `: ${shown(cmd.comment)}` : ''}\n${cap(displayText(r.summary), REPLY_VALUE_LIMIT)}${extra}`, result: r };
  } catch (err) {
    if (err instanceof GantryError) {
      const what = err.code === 'refused' ? 'refused' : err.code === 'not_found' ? 'not found' : err.code === 'conflict' ? 'not possible' : 'failed';
      return { ok: false, text: `✗ ${cmd.verb} of ${target} ${what}: ${shown(err.message)}${err.hint ? ` (${shown(err.hint)})` : ''}`, result: { error: err.code, message: shown(err.message) } };
    }
    opts.log?.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'chat command failed');
    return { ok: false, text: `✗ ${cmd.verb} of ${target} failed: Gantry could not reach its workflow service; try again, or use the CLI` };
  }
}
