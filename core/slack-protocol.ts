// What a button on Gantry's Slack approval messages means, both ways: the worker encodes it when it
// posts the message (activities/slack.ts), the API decodes the press (api/slack.ts). A button names
// the release run and the 0-based group it is about, so a press on an old message can be told from
// one on the current wait. Pure: the value is untrusted text from Slack, checked field by field.

/** action_id of the buttons. */
export const SLACK_ACTIONS = { approve: 'gantry_approve', reject: 'gantry_reject' } as const;

export type ButtonVerb = keyof typeof SLACK_ACTIONS;

/** The value of an Approve/Reject button: which release run and which group it is about. */
export interface ApprovalButtonValue { app: string; env: string; group: number; run: string }

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const runId = /^[\w-]{1,100}$/;

/** The button's value text (Slack allows 2000 characters; this is about 100). */
export function encodeButtonValue(v: ApprovalButtonValue): string {
  return JSON.stringify({ app: v.app, env: v.env, group: v.group, run: v.run } satisfies ApprovalButtonValue);
}

/** The release a button's value names, or undefined unless it is an <app>/<env> of DNS labels, a group index and a run id. */
export function decodeButtonValue(text: string | undefined): ApprovalButtonValue | undefined {
  let v: unknown;
  try { v = JSON.parse(text ?? ''); } catch { return undefined; }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const { app, env, group, run } = v as Record<string, unknown>;
  if (typeof app !== 'string' || typeof env !== 'string' || typeof group !== 'number' || typeof run !== 'string') return undefined;
  if (!dnsLabel.test(app) || !dnsLabel.test(env) || !Number.isSafeInteger(group) || group < 0 || !runId.test(run)) return undefined;
  return { app, env, group, run };
}

/** The decision a button's action_id stands for; undefined for any other action. */
export function buttonVerb(actionId: string): ButtonVerb | undefined {
  for (const verb of Object.keys(SLACK_ACTIONS) as ButtonVerb[]) {
    if (SLACK_ACTIONS[verb] === actionId) return verb;
  }
  return undefined;
}

/** The block_id of a message's buttons (Slack allows 255 characters). */
export function buttonBlockId(app: string, env: string, group: number): string {
  return `gantry_${app}_${env}_${group}`.slice(0, 255);
}

/**
 * The Update id of a press: Slack redelivers a press it thinks failed, and the same press on the same
 * message by the same person must decide once (the workflow runs an Update id once per run).
 */
export function pressUpdateId(press: { messageTs?: string; actionTs?: string; user: string }): string {
  return `slack-${press.messageTs ?? ''}-${press.actionTs ?? ''}-${press.user}`;
}
