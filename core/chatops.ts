// ChatOps commands: the text after `/gantry` in Slack, or a `/gantry …` line in a GitHub comment.
// Pure: parses text into a command or a clear refusal with the usage; the API runs it.
//
//   approve|reject|pause|resume|promote|abort|rollback|…|status <app>/<env> [comment]   (every Action)
//   help
import { Action } from './approval.js';

export type ChatVerb = Action | 'status' | 'help';

export interface ChatCommand { verb: ChatVerb; app: string; environment: string; comment?: string }

export type ParsedCommand = { ok: true; command: ChatCommand } | { ok: false; error: string; usage: string };

export const CHAT_VERBS: readonly ChatVerb[] = [...Object.values(Action), 'status', 'help'];
/** Every decision the release workflow takes (core/approval.ts Action), plus status. */
export const CHAT_USAGE = `/gantry ${[...Object.values(Action), 'status'].join('|')} <app>/<env> [comment]`;
const MAX_COMMENT = 2000;
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function fail(error: string): ParsedCommand {
  return { ok: false, error, usage: CHAT_USAGE };
}

/** Parses the words after `/gantry`. Verbs are case-insensitive; the target is `<app>/<env>`. */
export function parseCommand(text: string): ParsedCommand {
  const trimmed = text.trim();
  if (!trimmed) return fail('no command given');
  const m = /^(\S+)(?:\s+(\S+))?(?:\s+([\s\S]*))?$/.exec(trimmed);
  const verb = m?.[1]?.toLowerCase() ?? '';
  if (!(CHAT_VERBS as readonly string[]).includes(verb)) return fail(`unknown command '${m?.[1] ?? trimmed}'`);
  if (verb === 'help') return { ok: true, command: { verb: 'help', app: '', environment: '' } };
  const target = m?.[2];
  if (!target) return fail(`${verb} needs a release: <app>/<env>, e.g. shop/production`);
  const parts = target.split('/');
  const [app, environment] = parts;
  if (parts.length !== 2 || !app || !environment) return fail(`'${target}' is not <app>/<env> (e.g. shop/production)`);
  if (app.length > 63 || !dnsLabel.test(app)) return fail(`'${app}' is not an app name (a lowercase DNS label)`);
  if (environment.length > 63 || !dnsLabel.test(environment)) return fail(`'${environment}' is not an environment name (a lowercase DNS label)`);
  const comment = m?.[3]?.trim();
  if (comment && verb === 'status') return fail('status takes no comment');
  if (comment && comment.length > MAX_COMMENT) return fail(`the comment is longer than ${MAX_COMMENT} characters`);
  return { ok: true, command: { verb: verb as ChatVerb, app, environment, ...(comment ? { comment } : {}) } };
}

/**
 * The `/gantry …` command in a comment body: the first line that starts with `/gantry ` (leading
 * spaces allowed; inside a fenced code block it is not a command). Undefined when there is none.
 */
export function commandInComment(body: string): string | undefined {
  let fenced = false;
  for (const line of body.split(/\r?\n/)) {
    if (/^\s*(```|~~~)/.test(line)) { fenced = !fenced; continue; }
    if (fenced) continue;
    const m = /^\s*\/gantry(?:\s+(.*))?$/.exec(line);
    if (m) return (m[1] ?? '').trim();
  }
  return undefined;
}
