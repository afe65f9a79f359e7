// Who may operate a release train, and the audit entry each operation leaves. Pure; table-tested.
//
// A train starts releases on its own, so operating it is as weighty as approving one of its
// releases: creating, changing, triggering and deleting a train are for the approvers of the
// environment it releases to (core/approval.ts `isApprover`: listed users and groups; an
// environment with no approvers listed lets any authenticated identity, as for its releases).
// Changing or deleting an existing train is judged by the policy the train was created with, and
// changing it also by the new one: nobody can take over a train by sending a config that lists
// themselves as approvers.
import { isApprover, type ApproverPolicy, type Channel, type Identity, type PolicyAnswer } from './approval.js';

export type TrainAction = 'create' | 'update' | 'trigger' | 'pause' | 'unpause' | 'delete';

export interface TrainAuditEntry { at: string; by: string; channel: Channel; action: TrainAction }

/** How many audit entries a train keeps (the newest). */
export const trainAuditLimit = 20;

const verb: Record<TrainAction, string> = { create: 'create', update: 'change', trigger: 'trigger', pause: 'pause', unpause: 'unpause', delete: 'delete' };

function approverList(p: ApproverPolicy): string {
  return [...p.users, ...p.groups.map((g) => `group:${g}`)].join(', ');
}

/**
 * May `who` do `action` to the release train of `environment`? `policy` is the environment's
 * approver policy: for create, from the config sent; for update, trigger and delete, the one the
 * train was created with (an update is checked against the new config's policy as well).
 */
export function mayOperateTrain(who: Identity, action: TrainAction, environment: string, policy: ApproverPolicy): PolicyAnswer {
  if (!who.id) return { allowed: false, reason: 'no identity: release trains need an authenticated caller' };
  switch (action) {
    case 'create':
    case 'update':
    case 'trigger':
    case 'pause':
    case 'unpause':
    case 'delete':
      if (isApprover(who, policy)) return { allowed: true };
      return { allowed: false, reason: `${who.id} is not an approver of ${environment} (${approverList(policy)}): only its approvers may ${verb[action]} its release train` };
    default: {
      const never: never = action;
      return never;
    }
  }
}

/** The train's audit trail with one more entry, newest last, trimmed to the limit. */
export function recordTrainAction(audit: readonly TrainAuditEntry[] | undefined, entry: TrainAuditEntry, limit = trainAuditLimit): TrainAuditEntry[] {
  return [...(audit ?? []), entry].slice(-limit);
}
