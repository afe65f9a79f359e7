// One activity per group: applyGroup verifies the group's health itself (ApplyGroupRequest.verify,
// patched('apply-verifies')), so a group costs one dispatch and one workflow task less. A worker that
// predates the field ignores it and returns no `health`: the workflow then runs waitHealthy as before.
// Real Temporal dev server, simulated cluster.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ApplyGroupRequest, WaitHealthyRequest } from '../../workflows/activity-types.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { caller, startHarness, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';

const BROKEN = `sha256:${'0'.repeat(63)}2`;

/** A harness whose applyGroup and waitHealthy calls are counted; `older` drops `verify` as an older worker would. */
async function counted(older: boolean) {
  const calls = { applyGroup: [] as ApplyGroupRequest[], waitHealthy: [] as WaitHealthyRequest[] };
  const h: Harness = await startHarness({ neverReady: (r) => r.digest === BROKEN }, {
    applyGroup: async (req) => {
      calls.applyGroup.push(req);
      const { verify: _ignored, ...rest } = req;
      return h.sim.applyGroup(older ? rest : req);
    },
    waitHealthy: async (req) => { calls.waitHealthy.push(req); return h.sim.waitHealthy(req); },
  });
  return { h, calls };
}

let current: Awaited<ReturnType<typeof counted>>;
let older: Awaited<ReturnType<typeof counted>>;
beforeAll(async () => { current = await counted(false); older = await counted(true); });
afterAll(async () => { await current?.h.close(); await older?.h.close(); });

const auto = (app: string) => seedConfig(app, { groups: [{ pods: 1, confirm: { type: 'auto' } }, { pods: 2, confirm: { type: 'auto' } }, { pods: 'rest', confirm: { type: 'auto' } }] });

describe('applyGroup verifies the group itself (one activity per group)', () => {
  it('a release asks applyGroup to verify, never calls waitHealthy, and still records applied then healthy per group', async () => {
    const { h, calls } = current;
    const app = unique('verify');
    await h.service.startRelease({ config: auto(app), environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    const mine = calls.applyGroup.filter((r) => r.target.app === app);
    expect(mine.map((r) => r.verify)).toEqual([{ deadlineMs: 20_000 }, { deadlineMs: 20_000 }, { deadlineMs: 20_000 }]); // the fixture's progress deadline
    expect(calls.waitHealthy.filter((r) => r.target.app === app)).toEqual([]);
    const kinds = final.events.filter((e) => e.type === 'applied' || e.type === 'healthy').map((e) => `${e.type}:${e.group}`);
    expect(kinds).toEqual(['applied:0', 'healthy:0', 'applied:1', 'healthy:1', 'applied:2', 'healthy:2']);
  });

  it('an unhealthy group found by applyGroup\'s own check rolls the release back with cause health', async () => {
    const { h, calls } = current;
    const app = unique('verify-bad');
    const config = seedConfig(app, { groups: [{ pods: 1, confirm: { type: 'auto' } }, { pods: 'rest' }], deadlines: { progress: '1s' } });
    await h.service.startRelease({ config, environment: 'production', revision: { digest: BROKEN } }, caller('dave'));
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('rolled-back');
    expect(final.stop).toMatchObject({ cause: 'health', reason: expect.stringMatching(/group 1 not healthy: new pods not ready within 1000 ms/) });
    expect(calls.waitHealthy.filter((r) => r.target.app === app)).toEqual([]);
  });

  it('with a worker that ignores `verify` (no `health` in the result), the workflow runs waitHealthy after each group as before', async () => {
    const { h, calls } = older;
    const app = unique('verify-old');
    await h.service.startRelease({ config: auto(app), environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    expect(calls.waitHealthy.filter((r) => r.target.app === app).map((r) => r.group)).toEqual([0, 1, 2]);
    const kinds = final.events.filter((e) => e.type === 'applied' || e.type === 'healthy').map((e) => `${e.type}:${e.group}`);
    expect(kinds).toEqual(['applied:0', 'healthy:0', 'applied:1', 'healthy:1', 'applied:2', 'healthy:2']);
  });
});
