// The observed state and the structured approvers in GET /v1/releases/:app/:env, cheaply: the
// simulated cluster (in memory) on the run's real Temporal dev server, through the real API listening
// on port 0. While waiting for approval the status shows the last observation the workflow kept from
// its activities' results, matching the simulated cluster; while a group is applied, the running
// activity's heartbeat (from the workflow's description) is newer and wins.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import type { ReleaseStatus } from '../../core/release.js';
import { startHarness, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { auth, configYaml, DIGEST_A, listenOnLoopback, testServer, until } from './helpers.js';

let h: Harness;
let server: FastifyInstance;
let base: string;

beforeAll(async () => {
  // Applying a group takes 3 s (heartbeating), so a status read meanwhile sees the heartbeat.
  h = await startHarness({ applyDelayMs: 3000 });
  server = testServer(h.service);
  base = await listenOnLoopback(server);
}, 60_000);
afterAll(async () => { await server?.close(); await h?.close(); });

async function getStatus(app: string): Promise<ReleaseStatus> {
  const r = await fetch(`${base}/v1/releases/${app}/production`, { headers: auth('frank') });
  if (r.status !== 200) throw new Error(`GET status: ${r.status} ${await r.text()}`);
  return (await r.json()) as ReleaseStatus;
}

describe('observed state and approvers in the status (simulated cluster, real API)', () => {
  it('waiting for approval: observed pods per cell match the simulated cluster; approvers structured; a heartbeat wins while applying', async () => {
    const app = unique('observed');
    await h.service.startRelease({ config: configYaml(app), environment: 'production', revision: { digest: DIGEST_A, sha: 'abc1234', author: 'carol' } },
      { identity: { id: 'dave', groups: ['dev'] }, channel: 'api' });
    const st = await until('the release to wait for approval of group 2', async () => {
      const s = await getStatus(app).catch(() => undefined);
      return s?.phase === 'waiting-approval' ? s : undefined;
    }, 60_000, 200);
    expect(st.group.current).toBe(2);

    const sim = h.sim.state().targets[`${app}/production`]!;
    expect(st.observed?.by).toBe('sim');
    expect(st.observed!.cells.map((c) => [c.cell, c.stable.ready, c.stable.serving, c.new.ready, c.new.serving, c.weight]))
      .toEqual(['zone-a', 'zone-b'].map((z) => [z, sim.cells[z]!.stable, sim.cells[z]!.stable, sim.cells[z]!.canary, sim.cells[z]!.canary, undefined]));
    // …and the plan next to it says the same (3 new of 5 per zone after group 2).
    expect(st.cells.map((c) => [c.cell, c.canary, c.stable])).toEqual([['zone-a', 3, 2], ['zone-b', 3, 2]]);
    expect(sim.cells).toEqual({ 'zone-a': { stable: 2, canary: 3 }, 'zone-b': { stable: 2, canary: 3 } });

    // Approvers, structured: alice, bob, carol and group sre; carol authored, dave started.
    expect(st.waiting?.approvers).toEqual({
      users: ['alice', 'bob', 'carol'], groups: ['sre'], required: 1, approvals: [],
      excluded: [{ id: 'carol', why: 'author of the change (four-eyes)' }, { id: 'dave', why: 'started this release (four-eyes)' }],
    });

    const r = await fetch(`${base}/v1/releases/${app}/production/approve`, { method: 'POST', headers: { ...auth('alice'), 'content-type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(200);
    const applying = await until('a newer observation from the applying activity\'s heartbeat', async () => {
      const s = await getStatus(app);
      return s.phase === 'applying' && s.observed && Date.parse(s.observed.at) > Date.parse(st.observed!.at) ? s : undefined;
    }, 30_000, 100);
    expect(applying.observed!.by).toBe('sim');
    expect(applying.group.current).toBe(3);

    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    // The finalize's observation: every pod on the new revision.
    expect(final.observed!.cells.map((c) => [c.cell, c.stable.pods, c.new.pods])).toEqual([['zone-a', 0, 5], ['zone-b', 0, 5]]);
  });
});
