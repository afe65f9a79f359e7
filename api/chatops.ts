// Runs a parsed chat command (Slack or GitHub) as the same service call the CLI and API make:
// GantryService.decide (the workflow Update, with its validators and audit record) or status. Returns
// the reply text for the chat; never throws for what the user should read.
import type { Identity } from '../core/approval.js';
import { CHAT_USAGE, type ChatCommand } from '../core/chatops.js';
import type { ReleaseStatus } from '../core/release.js';
import { GantryError } from './errors.js';
import type { GantryService } from './service.js';

export type ChatChannel = 'slack' | 'github';

export interface ChatReply {
  ok: boolean;
  text: string;
  /** What the command did, for the HTTP answer and tests. */
  result?: unknown;
}

export function statusLine(s: ReleaseStatus): string {
  const parts = [`${s.app}/${s.environment}: ${s.phase}, group ${s.group.current}/${s.group.of} — ${s.summary}`];
  if (s.waiting) parts.push(`waiting on ${s.waiting.on}: ${s.waiting.reason} (${s.waiting.who})`);
  return parts.join('\n');
}

export function unknownUserReply(channel: ChatChannel, who: string): ChatReply {
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
    const extra = r.started ? `\nstarted ${r.started.workflowId}` : '';
    return { ok: true, text: `✓ ${cmd.verb} of ${target}${group} by ${r.decision.by} via ${channel}${cmd.comment ? `: ${cmd.comment}` : ''}\n${r.summary}${extra}`, result: r };
  } catch (err) {
    if (err instanceof GantryError) {
      const what = err.code === 'refused' ? 'refused' : err.code === 'not_found' ? 'not found' : err.code === 'conflict' ? 'not possible' : 'failed';
      return { ok: false, text: `✗ ${cmd.verb} of ${target} ${what}: ${err.message}${err.hint ? ` (${err.hint})` : ''}`, result: { error: err.code, message: err.message } };
    }
    opts.log?.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'chat command failed');
    return { ok: false, text: `✗ ${cmd.verb} of ${target} failed: Gantry could not reach its workflow service; try again, or use the CLI` };
  }
}
