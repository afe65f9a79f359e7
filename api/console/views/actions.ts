// The release's actions: every button shown, enabled or not as the workflow's own policy says for the
// viewer (status.allowedActions), with the reason as text beside a disabled one. One form posts to
// POST /ui/releases/:app/:env/:action (each button names its action with formaction), with the viewer's
// CSRF token; the server checks it, then sends the decision as the same Update every client uses
// (service.decide, channel ui). The Update's validator is the only authority: a refused decision writes
// nothing, and the page shows the reason. Without JavaScript it is a plain POST and a 303 redirect.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Action, mayDecide, type ApproverPolicy } from '../../../core/approval.js';
import type { ReleaseStatus } from '../../../core/release.js';
import { GantryError } from '../../errors.js';
import { parse } from '../../input.js';
import { html, type SafeHtml } from '../html.js';
import type { ConsoleDeps, ConsoleHelpers, ConsoleRoutes, Viewer } from '../types.js';
import { releaseParamsOf, releasePath, sendReleasePage } from './release.js';
import { prose, shortDigest, timeText } from './parts.js';

const ORDER: readonly Action[] = [Action.Approve, Action.Reject, Action.Pause, Action.Resume, Action.Promote, Action.Abort, Action.Rollback, Action.Override];

function label(a: Action): string {
  switch (a) {
    case Action.Approve: return 'Approve';
    case Action.Reject: return 'Reject';
    case Action.Pause: return 'Pause';
    case Action.Resume: return 'Resume';
    case Action.Promote: return 'Promote';
    case Action.Abort: return 'Abort';
    case Action.Rollback: return 'Roll back';
    case Action.Override: return 'Override window';
    default: {
      const never: never = a;
      throw new Error(`unknown action ${String(never)}`);
    }
  }
}

/** What a destructive action will do, asked before it is sent (console.js); undefined: no question. */
export function confirmText(a: Action, s: ReleaseStatus): string | undefined {
  const back = s.previous ? `${s.previous.image}@${shortDigest(s.previous.digest) || '(no digest)'}` : 'the revision it replaced';
  const where = `${s.app} in ${s.environment}`;
  switch (a) {
    case Action.Approve: case Action.Pause: case Action.Resume: return undefined;
    case Action.Reject: return `Reject rolls the release back: ${where} returns to ${back}. Reject?`;
    case Action.Abort: return `Abort stops the release and rolls it back: ${where} returns to ${back}. Abort?`;
    case Action.Rollback: return s.outcome?.result === 'succeeded'
      ? `Rollback starts a rollback release of ${where} to ${back}. Roll back?`
      : `Rollback stops the release and rolls it back: ${where} returns to ${back}. Roll back?`;
    case Action.Promote: return `Promote skips every remaining pause and manual approval of ${where} (never health or analysis): the release goes on through all its groups. Promote?`;
    case Action.Override: return `Override lets the release of ${where} move outside its release window for the rest of this release; your comment is recorded as the reason. Override?`;
    default: {
      const never: never = a;
      throw new Error(`unknown action ${String(never)}`);
    }
  }
}

const DANGER = new Set<Action>([Action.Reject, Action.Abort, Action.Rollback, Action.Promote, Action.Override]);

/**
 * The viewer's answer for one action: the workflow's (allowedActions), except rollback after a success,
 * which the API answers itself by starting a rollback release (service.decide): enabled when there is a
 * revision to return to.
 */
function answerOf(a: Action, s: ReleaseStatus, viewer: Viewer, policy: ApproverPolicy | undefined): { allowed: boolean; reason?: string } {
  if (a === Action.Rollback && s.outcome?.result === 'succeeded') {
    if (!s.previous) return { allowed: false, reason: 'the release recorded no previous revision to return to' };
    if (!policy) return { allowed: false, reason: 'the release carries no configuration to roll back with (started by an older Gantry)' };
    // The policy the API applies to it (service.decide), as for a rollback while running.
    const may = mayDecide(viewer.identity, Action.Rollback, policy, { author: s.revision.author, startedBy: s.startedBy });
    return may.allowed ? { allowed: true, reason: `starts a rollback release to ${s.previous.image}@${shortDigest(s.previous.digest) || '(no digest)'}` } : may;
  }
  return s.allowedActions?.[a] ?? { allowed: false, reason: 'not known for you (the status came without your permissions)' };
}

/** `policy`: the environment's approvers (the release's memo), for a rollback after success. */
export function actionsPanel(s: ReleaseStatus, viewer: Viewer, policy?: ApproverPolicy): SafeHtml {
  const path = releasePath(s.app, s.environment);
  // An ended release takes one action only (a rollback after success, which starts a new release):
  // the others are not shown, and why is said once.
  const shown = s.outcome ? ORDER.filter((a) => a === Action.Rollback && s.outcome?.result === 'succeeded') : ORDER;
  const ended = s.outcome ? `the release has ended (${s.outcome.result} at ${timeText(s.outcome.at)})` : undefined;
  const answers = new Map(shown.map((a) => [a, answerOf(a, s, viewer, policy)]));
  // A reason most buttons share (say, the release has ended) is said once, above them.
  const counts = new Map<string, number>();
  for (const x of answers.values()) if (!x.allowed && x.reason) counts.set(x.reason, (counts.get(x.reason) ?? 0) + 1);
  const common = [...counts.entries()].find(([, n]) => n >= 4)?.[0];
  const buttons = shown.map((a) => {
    const answer = answers.get(a)!;
    const confirm = confirmText(a, s);
    const shared = !answer.allowed && answer.reason === common;
    const reasonId = shared ? 'why-common' : `why-${a}`;
    return html`<li class="action ${answer.allowed ? 'allowed' : 'refused'}">
<button type="submit" id="action-${a}" formaction="${path}/${a}" class="${DANGER.has(a) ? 'danger' : a === Action.Approve ? 'primary' : ''}" data-testid="action-${a}"${confirm ? html` data-confirm="${confirm}"` : ''}${answer.allowed ? '' : html` disabled`}${answer.reason ? html` aria-describedby="${reasonId}"` : ''}>${label(a)}</button>
${shared ? html`<span class="reason" id="why-${a}">Not now: as above</span>` : answer.reason ? html`<span class="reason" id="${reasonId}">${answer.allowed ? prose(answer.reason) : html`<span class="not-allowed" aria-hidden="true">⊘</span> Not now: ${prose(answer.reason)}`}</span>` : ''}
</li>`;
  });
  return html`<section class="actions" aria-labelledby="h-actions" data-testid="actions"><h2 id="h-actions">Actions</h2>
<form method="post" action="${path}/approve" data-testid="actions-form">
<input type="hidden" name="_csrf" value="${viewer.csrf}">
<p class="muted">You are <strong>${viewer.identity.id}</strong>${viewer.identity.groups.length ? ` (${viewer.identity.groups.join(', ')})` : ''}; what you send is recorded with your name, via ui.</p>
${[...answers.values()].some((x) => x.allowed) ? html`<label for="action-comment">Comment (recorded with the decision; required to override a window)</label>
<textarea id="action-comment" name="comment" rows="2" maxlength="2000"></textarea>` : ''}
${ended ? html`<p class="reason ended" data-testid="ended">${ended[0]!.toUpperCase()}${ended.slice(1)}${buttons.length ? '.' : ': nothing more to do here.'}</p>` : ''}
${common ? html`<p class="reason common" id="why-common"><span class="not-allowed" aria-hidden="true">⊘</span> Not now: ${prose(common)}</p>` : ''}
${buttons.length ? html`<ul class="buttons">${buttons}</ul>` : ''}
</form></section>`;
}

const actionParam = z.enum(ORDER as unknown as [Action, ...Action[]], { error: `the action must be one of: ${ORDER.join(', ')}` });
const actionBody = z.object({
  _csrf: z.string().max(200).optional(),
  comment: z.string().max(2000, { error: 'a comment is at most 2000 characters' }).optional(),
});

export const actionRoutes: ConsoleRoutes = (app: FastifyInstance, deps: ConsoleDeps, helpers: ConsoleHelpers) => {
  app.post('/ui/releases/:app/:env/:action', async (req, reply) => {
    const viewer = helpers.requireViewer(req, reply);
    if (!viewer) return reply;
    const p = releaseParamsOf(req);
    const action = parse(actionParam, (req.params as { action?: unknown }).action, 'action', 'action');
    const body = parse(actionBody, req.body ?? {}, 'form');
    // Before anything else: a request the console did not send decides nothing (403).
    deps.auth.verifyCsrf(req, viewer, body._csrf);
    const comment = body.comment?.trim() || undefined;
    try {
      const r = await deps.service.decide(p.app, p.env, action, { identity: viewer.identity, channel: 'ui' }, comment);
      // A rollback after success started a new release (same page): it names that, not a decision.
      const q = new URLSearchParams(r.started ? { started: r.started.runId } : { decided: r.decision.action, at: r.decision.at });
      return reply.code(303).header('cache-control', 'no-store').redirect(`${releasePath(p.app, p.env)}?${q.toString()}`, 303);
    } catch (err) {
      // Refused (policy), conflict (not running), bad request (an override without a reason): the
      // page again, with the server's reason; nothing was written.
      if (err instanceof GantryError && (err.code === 'refused' || err.code === 'conflict' || err.code === 'bad_request')) {
        return sendReleasePage(req, reply, deps, helpers, viewer, p.app, p.env, err);
      }
      throw err;
    }
  });
};
