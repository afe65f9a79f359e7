// The observer a release runs while it waits (observeTarget), on the real dev server with the
// simulated cluster: its heartbeats reach the status (service.status merges them from the workflow
// description) with `at` moving on; it is cancelled in the same workflow task that schedules the
// next group (TRY_CANCEL: it never holds the release); and an observer that fails, or one that
// ignores its cancellation, changes nothing about the release's outcome.
import { afterEach, describe, expect, it } from '@jest/globals';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { ApplicationFailure } from '@temporalio/common';
import type { GantryActivities } from '../../worker/activities.js';
import { releaseWorkflowId } from '../../workflows/messages.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { until } from '../api/helpers.js';
import { caller, startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';

let h: Harness | undefined;
afterEach(async () => { await h?.close(); h = undefined; });

const manualThenRest = (app: string) => seedConfig(app, { replicas: 4, groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest', confirm: { type: 'auto' } }] });

type Event = NonNullable<History['events']>[number];

/** The observer's schedule, its cancel request and the next applyGroup, from the history. */
function observerEvents(events: Event[]) {
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => ({
    id: Number(e.eventId), name: e.activityTaskScheduledEventAttributes!.activityType!.name!, task: Number(e.activityTaskScheduledEventAttributes!.workflowTaskCompletedEventId),
  }));
  const observers = scheduled.filter((s) => s.name === 'observeTarget');
  const first = observers[0];
  const cancel = first && events.find((e) => Number(e.activityTaskCancelRequestedEventAttributes?.scheduledEventId) === first.id);
  const nextApply = first && scheduled.find((s) => s.name === 'applyGroup' && s.id > first.id);
  return { observers, cancel, nextApply };
}

async function approveAndFinish(h: Harness, app: string) {
  await h.service.decide(app, 'production', 'approve', { identity: { id: 'frank', groups: ['sre'] }, channel: 'cli' }, 'fine');
  const final = await h.service.waitForRelease(app, 'production');
  const events = (await h.client.workflow.getHandle(releaseWorkflowId(app, 'production')).fetchHistory()).events ?? [];
  return { final, events };
}

describe('observeTarget while a release waits (dev server, simulated cluster)', () => {
  it('its looks reach the status while the release waits for approval, newer and newer; approval cancels it in the task that schedules the next group', async () => {
    h = await startHarness();
    const app = unique('shop');
    await h.service.startRelease({ config: manualThenRest(app), environment: 'production', revision: { digest: DIGEST_A, author: 'carol' } }, caller('dave'));
    // The simulated cluster says by: sim for every look; the observer's are the ones newer than the wait's start.
    const first = await until('an observeTarget look in the status', async () => {
      const s = await h!.service.status(app, 'production');
      return s.phase === 'waiting-approval' && s.observed && Date.parse(s.observed.at) > Date.parse(s.waiting!.since) ? s.observed : undefined;
    }, 30_000, 200);
    expect(first.cells.map((c) => [c.cell, c.new.pods, c.stable.pods])).toEqual(first.cells.map((c) => [c.cell, 1, expect.any(Number)]));
    const later = await until('a newer look', async () => {
      const o = (await h!.service.status(app, 'production')).observed;
      return o && Date.parse(o.at) > Date.parse(first.at) ? o : undefined;
    }, 30_000, 200);
    expect(later.cells).toEqual(first.cells);

    const { final, events } = await approveAndFinish(h, app);
    expect(final.phase).toBe('succeeded');
    const { observers, cancel, nextApply } = observerEvents(events);
    expect(observers).toHaveLength(1);
    expect(cancel).toBeDefined();
    // The cancel request and the next group go out together: nothing waits for the observer to stop.
    expect(Number(cancel!.activityTaskCancelRequestedEventAttributes!.workflowTaskCompletedEventId)).toBe(nextApply!.task);
  }, 120_000);

  it('an observer that fails does not fail or hold the release (its failure is swallowed)', async () => {
    let calls = 0;
    const observeTarget: GantryActivities['observeTarget'] = async () => {
      calls++;
      throw ApplicationFailure.nonRetryable('simulated: the cluster cannot be observed', 'Forbidden');
    };
    h = await startHarness({}, { observeTarget });
    const app = unique('shop');
    await h.service.startRelease({ config: manualThenRest(app), environment: 'production', revision: { digest: DIGEST_A, author: 'carol' } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    await until('the observer to have run and failed', async () => {
      const events = (await h!.client.workflow.getHandle(releaseWorkflowId(app, 'production')).fetchHistory()).events ?? [];
      return events.some((e) => e.activityTaskFailedEventAttributes) ? true : undefined;
    }, 30_000, 200);
    expect(calls).toBe(1);
    const waiting = await h.service.status(app, 'production');
    expect(waiting.phase).toBe('waiting-approval');
    // Still the health check's look, from before the wait began.
    expect(Date.parse(waiting.observed!.at)).toBeLessThanOrEqual(Date.parse(waiting.waiting!.since));
    const { final } = await approveAndFinish(h, app);
    expect(final.phase).toBe('succeeded');
    // Not started again for the same wait.
    expect(calls).toBe(1);
  }, 120_000);

  it('an observer that ignores its cancellation does not hold the release', async () => {
    const observeTarget: GantryActivities['observeTarget'] = () => new Promise((resolve) => setTimeout(resolve, 8_000));
    h = await startHarness({}, { observeTarget });
    const app = unique('shop');
    await h.service.startRelease({ config: manualThenRest(app), environment: 'production', revision: { digest: DIGEST_A, author: 'carol' } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    const { final, events } = await approveAndFinish(h, app);
    expect(final.phase).toBe('succeeded');
    const { cancel, nextApply } = observerEvents(events);
    expect(Number(cancel!.activityTaskCancelRequestedEventAttributes!.workflowTaskCompletedEventId)).toBe(nextApply!.task);
    // It finished without the observer ever acknowledging.
    expect(events.some((e) => e.activityTaskCanceledEventAttributes)).toBe(false);
  }, 120_000);
});
