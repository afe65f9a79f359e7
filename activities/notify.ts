// The notify activity: tells people that a release waits on them (approval, an escalation, a closed
// release window). Always logged; delivered to every configured sink (chat adapters register one).
// Best effort by design: the workflow records whether delivery worked and carries on either way.
import { log } from '@temporalio/activity';
import type { NotifyActivities, NotifyRequest } from '../workflows/activity-types.js';

/** A destination for notices, e.g. a Slack channel. Throws or returns false when it could not deliver. */
export type NoticeSink = (req: NotifyRequest) => Promise<boolean | void>;

export function createNotifyActivities(sinks: NoticeSink[] = [], onNotice?: (req: NotifyRequest) => void): NotifyActivities {
  return {
    async notify(req: NotifyRequest) {
      log.info('release notice', { release: req.releaseId, kind: req.kind, message: req.message });
      onNotice?.(req);
      if (sinks.length === 0) return { delivered: true, detail: 'logged (no chat sink configured)' };
      const results = await Promise.allSettled(sinks.map((sink) => sink(req)));
      const failed = results.filter((r) => r.status === 'rejected' || r.value === false);
      for (const f of failed) if (f.status === 'rejected') log.warn('notice not delivered', { release: req.releaseId, error: f.reason instanceof Error ? f.reason.message : String(f.reason) });
      return { delivered: failed.length < results.length, detail: `${results.length - failed.length} of ${results.length} sinks` };
    },
  };
}
