// Issue 12: a release whose calendar held 150 always-open windows timed out every workflow task
// (each evaluation took seconds), so its status answered 500 and it could not be aborted. On the
// run's real Temporal dev server: releases held by the largest calendar the schema allows, and by
// 150 always-open windows (bypassing the schema, as an old config or a direct start could), answer
// their status, are aborted, and roll back; no workflow task of theirs failed or timed out.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ReleaseInput } from '../../workflows/release.js';
import { releaseWorkflowId } from '../../workflows/messages.js';
import { maxWindows, type ReleaseCalendar, type WeeklyWindow } from '../../core/windows.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { caller, startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.close(); });

const always: WeeklyWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', end: '00:00', timeZone: 'Europe/Berlin' };
const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
/** `count` always-open windows, frozen from yesterday to tomorrow (UTC): the release holds at its first group. */
const frozenCalendar = (count: number): ReleaseCalendar => ({
  timeZone: 'UTC',
  windows: Array.from({ length: count }, () => always),
  freezes: [{ from: day(-1), to: day(1), reason: 'load test freeze' }],
});

/** Waits at the window, answers status, is aborted, rolls back; no workflow task failed or timed out. */
async function holdsQueriesAndAborts(app: string): Promise<void> {
  const held = await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-window');
  expect(held.waiting).toMatchObject({ on: 'window', reason: expect.stringMatching(/frozen: "load test freeze"/) });
  // Status again and again, as a watching CLI does: each one is answered at once.
  for (let i = 0; i < 5; i++) expect((await h.service.status(app, 'production')).phase).toBe('waiting-window');
  const aborted = await h.service.decide(app, 'production', 'abort', caller('alice', ['sre']), 'stop the load test');
  expect(aborted.summary).toMatch(/^rolling back: abort by alice/);
  const final = await h.service.waitForRelease(app, 'production');
  expect(final.phase).toBe('rolled-back');
  expect(final.events.filter((e) => e.type === 'applied')).toEqual([]);
  const history = await h.client.workflow.getHandle(releaseWorkflowId(app, 'production')).fetchHistory();
  const troubled = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes);
  expect(troubled).toEqual([]);
}

describe('a release with a large always-open calendar stays queryable and abortable', () => {
  it(`the largest calendar the schema allows (${maxWindows} always-open windows and a freeze)`, async () => {
    const app = unique('shop');
    const config = seedConfig(app, { groups: [{ pods: 1 }, { pods: 'rest' }], calendar: frozenCalendar(maxWindows) });
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    await holdsQueriesAndAborts(app);
  });

  it('150 always-open windows, started without the schema', async () => {
    const app = unique('shop');
    const env = { ...seedConfig(app, { groups: [{ pods: 1 }, { pods: 'rest' }] }).environments[0]!, calendar: frozenCalendar(150) };
    const input: ReleaseInput = { app, environment: env, revision: { image: 'registry.local/shop/web', digest: DIGEST_A }, startedBy: { id: 'dave', channel: 'api' } };
    await h.client.workflow.start('release', { workflowId: releaseWorkflowId(app, 'production'), taskQueue: h.taskQueue, args: [input] });
    await holdsQueriesAndAborts(app);
  });
});
