// Release windows and escalations under the real time-skipping server: a release started on a
// Friday at 15:55 holds over the weekend and resumes Monday 10:00 (Europe/Berlin).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import { GantryService } from '../../api/service.js';
import type { NotifyRequest } from '../../workflows/activity-types.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { caller, startTimeSkippingHarness, waitForStatus, type TimeSkippingHarness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';

let h: TimeSkippingHarness;
let env: TestWorkflowEnvironment;
let service: GantryService;
let notices: NotifyRequest[];
const ZONE = 'Europe/Berlin';

beforeAll(async () => {
  h = await startTimeSkippingHarness('win');
  ({ env, service, notices } = h);
});
afterAll(async () => { await h?.close(); });

/** Skips the test server's clock forward to the next Friday 15:55 in Berlin. */
async function skipToFriday1555(): Promise<DateTime> {
  const now = DateTime.fromMillis(await env.currentTimeMs(), { zone: ZONE });
  let friday = now.set({ weekday: 5, hour: 15, minute: 55, second: 0, millisecond: 0 });
  if (friday <= now) friday = friday.plus({ weeks: 1 });
  await env.sleep(friday.toMillis() - (await env.currentTimeMs()));
  return friday;
}

const at = (iso: string) => DateTime.fromISO(iso, { zone: ZONE });

describe('release windows (time-skipping server)', () => {
  it('Mon-Thu 10:00-16:00, started Friday 15:55: nothing moves until Monday 10:00', async () => {
    const app = unique('shop');
    const config = seedConfig(app, {
      groups: [{ pods: 1 }, { pods: 'rest' }],
      calendar: { windows: [{ days: ['mon', 'tue', 'wed', 'thu'], start: '10:00', end: '16:00', timeZone: ZONE }] },
    });
    const friday = await skipToFriday1555();
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const held = await waitForStatus(service, app, 'production', (s) => s.phase === 'waiting-window');
    const monday = friday.plus({ days: 3 }).set({ hour: 10, minute: 0 });
    expect(held.waiting).toMatchObject({ on: 'window', until: monday.toUTC().toISO(), reason: expect.stringMatching(/^waiting for window, opens Mon .* 10:00 Europe\/Berlin/) });
    const final = await service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    const applied = final.events.filter((e) => e.type === 'applied').map((e) => at(e.at));
    expect(applied).toHaveLength(2);
    expect(applied[0]!.toMillis() - monday.toMillis()).toBeGreaterThanOrEqual(0);
    expect(applied[0]!.toMillis() - monday.toMillis()).toBeLessThan(60_000);
  });

  it('Mon-Fri 10:00-16:00, started Friday 15:55: finishes its current group, holds over the weekend, resumes Monday 10:00', async () => {
    const app = unique('shop');
    const config = seedConfig(app, {
      groups: [{ pods: 1, confirm: { type: 'pause', duration: '10m' } }, { pods: 2 }, { pods: 'rest' }],
      calendar: { windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '10:00', end: '16:00', timeZone: ZONE }] },
    });
    const friday = await skipToFriday1555();
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const final = await service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    const event = (type: string, group: number) => at(final.events.find((e) => e.type === type && e.group === group)!.at);
    // Group 1 started inside the window (Friday 15:55) and finished its pause after 16:00.
    expect(event('applied', 0).toMillis() - friday.toMillis()).toBeLessThan(60_000);
    expect(event('confirmed', 0) >= friday.set({ hour: 16, minute: 5 })).toBe(true);
    // Group 2 waited for Monday 10:00.
    const monday = friday.plus({ days: 3 }).set({ hour: 10, minute: 0 });
    expect(event('applied', 1).toMillis() - monday.toMillis()).toBeGreaterThanOrEqual(0);
    expect(event('applied', 1).toMillis() - monday.toMillis()).toBeLessThan(60_000);
    expect(notices.some((n) => n.app === app && n.kind === 'waiting-window' && n.group === 1)).toBe(true);
  });

  it('an override with a reason lets a held release move; it is recorded', async () => {
    const app = unique('shop');
    const config = seedConfig(app, {
      groups: [{ pods: 'rest' }],
      calendar: { windows: [{ days: ['mon'], start: '10:00', end: '11:00', timeZone: ZONE }] },
    });
    await skipToFriday1555();
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    await waitForStatus(service, app, 'production', (s) => s.phase === 'waiting-window');
    await expect(service.decide(app, 'production', 'override', caller('alice'))).rejects.toThrow(/needs a reason/);
    await service.decide(app, 'production', 'override', caller('alice'), 'CVE fix, approved by the CAB');
    const final = await service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    // It moved at once (the test server's clock may run on after the end; the release's own times tell).
    const time = (type: string) => Date.parse(final.events.find((e) => e.type === type)!.at);
    expect(time('succeeded') - time('window-overridden')).toBeLessThan(60_000);
    expect(final.decisions).toEqual([expect.objectContaining({ action: 'override', by: 'alice', comment: 'CVE fix, approved by the CAB' })]);
  });
});

describe('escalation (time-skipping server)', () => {
  it('an approval waiting longer than escalateAfter sends one escalation notice, recorded in history', async () => {
    const app = unique('shop');
    const config = seedConfig(app, {
      groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest' }],
      approvers: { users: ['alice', 'bob'], escalateAfter: '1h', escalateTo: { users: ['lead'] } },
    });
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    await waitForStatus(service, app, 'production', (s) => s.phase === 'waiting-approval');
    await env.sleep('3h');
    const st = await waitForStatus(service, app, 'production', (s) => s.events.some((e) => e.type === 'escalated'));
    const mine = notices.filter((n) => n.app === app);
    expect(mine.map((n) => n.kind)).toEqual(['waiting-approval', 'escalation']);
    expect(mine[1]).toMatchObject({ to: { users: ['lead'], groups: [] }, group: 0 });
    expect(st.events.find((e) => e.type === 'escalated')?.message).toMatch(/^notified lead: .*group 1 has waited 1h for approval/);
    await service.decide(app, 'production', 'approve', caller('alice'));
    expect((await service.waitForRelease(app, 'production')).phase).toBe('succeeded');
  });
});
