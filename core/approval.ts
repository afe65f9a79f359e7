// Approval policy: who may take which decision on a release. Pure; table-tested; enforced by the
// release workflow's Update validators, so a refused caller hears why at once and nothing is
// written to history.

/** Who is acting, as established by authentication (never by a request body). */
export interface Identity { id: string; groups: readonly string[] }

/** The channel a decision came through, for the audit trail. */
export type Channel = 'api' | 'cli' | 'ui' | 'slack' | 'github' | 'git' | 'schedule' | 'system';

export interface ApproverPolicy {
  /** Identities allowed to approve. Empty users and groups: any authenticated identity may. */
  users: readonly string[];
  groups: readonly string[];
  /** Distinct approvals needed per confirmation (N of M). */
  required: number;
  /** Whether the person who started the release may approve it (four-eyes says no). */
  allowStarter: boolean;
}

export const defaultApproverPolicy: ApproverPolicy = { users: [], groups: [], required: 1, allowStarter: false };

export const Action = {
  Approve: 'approve', Reject: 'reject', Pause: 'pause', Resume: 'resume',
  Promote: 'promote', Abort: 'abort', Rollback: 'rollback',
  /** Start the next group although the release window is closed (a reason is required). */
  Override: 'override',
} as const;
export type Action = (typeof Action)[keyof typeof Action];

export interface ReleaseParties {
  /** The author of the change being released (commit author). */
  author?: string;
  /** Who started the release. */
  startedBy?: string;
}

export type PolicyAnswer = { allowed: true } | { allowed: false; reason: string };

export function isApprover(who: Identity, policy: ApproverPolicy): boolean {
  if (policy.users.length === 0 && policy.groups.length === 0) return true;
  return policy.users.includes(who.id) || who.groups.some((g) => policy.groups.includes(g));
}

function approverList(policy: ApproverPolicy): string {
  const parts = [...policy.users, ...policy.groups.map((g) => `group:${g}`)];
  return parts.join(', ');
}

/**
 * May `who` take `action` on a release with these parties, under this policy?
 * - approve, promote, override (of a closed release window): an approver, not the change's author,
 *   and not the starter unless allowed (four-eyes);
 * - reject: any approver (stopping a change is always allowed to those who could allow it);
 * - pause, abort, rollback, resume: approvers, the author, and the starter: the emergency brake is
 *   in the hands of everyone responsible for the change.
 */
export function mayDecide(who: Identity, action: Action, policy: ApproverPolicy, parties: ReleaseParties): PolicyAnswer {
  if (!who.id) return { allowed: false, reason: 'no identity: decisions need an authenticated caller' };
  const approver = isApprover(who, policy);
  const involved = who.id === parties.author || who.id === parties.startedBy;
  switch (action) {
    case Action.Approve:
    case Action.Promote:
    case Action.Override: {
      if (!approver) return { allowed: false, reason: `${who.id} is not an approver of this environment (approvers: ${approverList(policy)})` };
      if (parties.author && who.id === parties.author) return { allowed: false, reason: `${who.id} is the author of this change and may not ${action} its release (four-eyes)` };
      if (!policy.allowStarter && parties.startedBy && who.id === parties.startedBy) return { allowed: false, reason: `${who.id} started this release and may not ${action} it (four-eyes)` };
      return { allowed: true };
    }
    case Action.Reject:
      return approver ? { allowed: true } : { allowed: false, reason: `${who.id} is not an approver of this environment (approvers: ${approverList(policy)})` };
    case Action.Pause:
    case Action.Resume:
    case Action.Abort:
    case Action.Rollback:
      return approver || involved ? { allowed: true }
        : { allowed: false, reason: `${who.id} may not ${action} this release: only approvers (${approverList(policy) || 'anyone'}), the author and the starter may` };
    default: {
      const never: never = action;
      return { allowed: false, reason: `unknown action ${String(never)}` };
    }
  }
}

/** Counts distinct approvers among decisions; true once `required` is reached. */
export function quorumReached(approvers: readonly string[], policy: ApproverPolicy): boolean {
  return new Set(approvers).size >= policy.required;
}
