// The release workflow on the real Temporal dev server, with the simulated cluster as activities.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GantryError } from '../../api/errors.js';
import { DIGEST_A, DIGEST_B, seedConfig } from '../support/fixtures.js';
import { caller, startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';

const BROKEN = `sha256:${'0'.repeat(63)}1`;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ neverReady: (r) => r.digest === BROKEN, metrics: (check) => (check === 'error-rate' ? metricValue : undefined) });
});
afterAll(async () => { await h?.close(); });

let metricValue: number | undefined = 0.001;

function applies(app: string) {
  return h.effects.filter((e) => e.kind === 'apply' && e.target === `${app}/production`);
}

describe('release workflow (real Temporal dev server)', () => {
  it('runs the seed plan: 1, 2, rest per zone, with a manual group and four-eyes approval', async () => {
    const app = unique('shop');
    const config = seedConfig(app, { approvers: { users: ['alice', 'bob', 'carol'], groups: ['sre'] } });
    const started = await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A, sha: 'abc1234', author: 'carol' } }, caller('dave'));
    expect(started.existing).toBe(false);

    const waiting = await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    expect(waiting.group).toMatchObject({ current: 2, of: 3 });
    expect(waiting.cells).toEqual([
      { cell: 'zone-a', replicas: 5, canary: 3, stable: 2 },
      { cell: 'zone-b', replicas: 5, canary: 3, stable: 2 },
    ]);
    expect(waiting.waiting?.who).toMatch(/alice, bob, carol, group:sre/);
    expect(h.sim.state().targets[`${app}/production`]?.cells).toEqual({ 'zone-a': { canary: 3, stable: 2 }, 'zone-b': { canary: 3, stable: 2 } });

    // Refusals are immediate and name the reason.
    await expect(h.service.decide(app, 'production', 'approve', caller('eve'))).rejects.toThrow(/eve is not an approver/);
    await expect(h.service.decide(app, 'production', 'approve', caller('carol'))).rejects.toThrow(/author of this change/);
    await expect(h.service.decide(app, 'production', 'approve', caller('dave', ['sre']))).rejects.toThrow(/started this release/);
    const refused = await h.service.decide(app, 'production', 'approve', caller('eve')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GantryError);
    expect((refused as GantryError).code).toBe('refused');

    const ok = await h.service.decide(app, 'production', 'approve', { identity: { id: 'frank', groups: ['sre'] }, channel: 'cli' }, 'metrics look fine');
    expect(ok.decision).toMatchObject({ action: 'approve', by: 'frank', channel: 'cli', comment: 'metrics look fine', group: 1 });

    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    expect(final.cells.every((c) => c.canary === 5 && c.stable === 0)).toBe(true);
    expect(final.decisions.map((d) => `${d.action}:${d.by}`)).toEqual(['approve:frank']);
    // Every group applied exactly once, with exactly the planned pods per zone.
    expect(applies(app).map((e) => [e.group, e.cells!['zone-a']!.canary, e.cells!['zone-b']!.canary])).toEqual([[0, 1, 1], [1, 3, 3], [2, 5, 5]]);
    expect(h.sim.state().targets[`${app}/production`]?.stable?.digest).toBe(DIGEST_A);
  });

  it('two concurrent starts of the same release yield one execution; a different revision is refused', async () => {
    const app = unique('shop');
    const config = seedConfig(app);
    const req = { config, environment: 'production', revision: { digest: DIGEST_A } };
    const [a, b] = await Promise.all([h.service.startRelease(req, caller('dave')), h.service.startRelease(req, caller('dave'))]);
    expect(a.runId).toBe(b.runId);
    expect([a.existing, b.existing].sort()).toEqual([false, true]);
    const other = await h.service.startRelease({ ...req, revision: { digest: DIGEST_B } }, caller('dave')).catch((e: unknown) => e);
    expect((other as GantryError).code).toBe('conflict');
    let count = 0;
    for await (const _ of h.client.workflow.list({ query: `WorkflowId = 'release/${app}/production'` })) count++;
    expect(count).toBe(1);
    await h.service.decide(app, 'production', 'abort', caller('alice'));
    await h.service.waitForRelease(app, 'production');
  });

  it('abort while waiting rolls back: stable at full size, no new pods, reason recorded', async () => {
    const app = unique('shop');
    await h.service.startRelease({ config: seedConfig(app), environment: 'production', revision: { digest: DIGEST_B } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    await h.service.decide(app, 'production', 'abort', caller('bob'), 'wrong build');
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('rolled-back');
    expect(final.outcome?.reason).toMatch(/abort by bob via api: wrong build/);
    expect(final.cells.every((c) => c.canary === 0 && c.stable === 5)).toBe(true);
    expect(h.sim.state().targets[`${app}/production`]?.cells).toEqual({ 'zone-a': { canary: 0, stable: 5 }, 'zone-b': { canary: 0, stable: 5 } });
    expect(h.effects.filter((e) => e.kind === 'rollback' && e.target === `${app}/production`)).toHaveLength(1);
  });

  it('rolls back automatically when the new pods never become healthy', async () => {
    const app = unique('shop');
    await h.service.startRelease({ config: seedConfig(app, { deadlines: { progress: '2s' } }), environment: 'production', revision: { digest: BROKEN } }, caller('dave'));
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('rolled-back');
    expect(final.stop?.cause).toBe('health');
    expect(final.outcome?.reason).toMatch(/group 1 not healthy/);
    expect(applies(app)).toHaveLength(1);
  });

  it('a failing analysis rolls back; an inconclusive one waits for a person', async () => {
    const analysis = [{ name: 'error-rate', query: 'sum(rate(errors[1m]))', max: 0.01 }];
    const failing = unique('shop');
    metricValue = 0.5;
    await h.service.startRelease({ config: seedConfig(failing, { analysis }), environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const f = await h.service.waitForRelease(failing, 'production');
    expect(f.phase).toBe('rolled-back');
    expect(f.stop?.cause).toBe('analysis');
    expect(f.outcome?.reason).toMatch(/error-rate: 0.5 is above the maximum 0.01/);

    const unsure = unique('shop');
    metricValue = undefined;
    await h.service.startRelease({ config: seedConfig(unsure, { analysis }), environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    const w = await waitForStatus(h.service, unsure, 'production', (s) => s.phase === 'waiting-approval');
    expect(w.group.current).toBe(1);
    expect(w.waiting?.reason).toMatch(/analysis inconclusive: error-rate: query returned no data/);
    metricValue = 0.001;
    await h.service.decide(unsure, 'production', 'approve', caller('alice'), 'metrics pipeline was down; dashboards are fine');
    const next = await waitForStatus(h.service, unsure, 'production', (s) => s.phase === 'waiting-approval' && s.group.current === 2);
    expect(next.analysis?.verdict).toBe('pass');
    await h.service.decide(unsure, 'production', 'promote', caller('bob'));
    expect((await h.service.waitForRelease(unsure, 'production')).phase).toBe('succeeded');
  });

  it('pause holds the release until resume; decisions are recorded with who, when and channel', async () => {
    const app = unique('shop');
    await h.service.startRelease({ config: seedConfig(app), environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    await h.service.decide(app, 'production', 'pause', caller('dave'), 'incident in progress');
    const paused = await h.service.status(app, 'production');
    expect(paused.phase).toBe('paused');
    expect(paused.waiting).toMatchObject({ on: 'resume', reason: 'paused by dave: incident in progress' });
    await expect(h.service.decide(app, 'production', 'approve', caller('alice'))).rejects.toThrow(/nothing to approve/);
    await expect(h.service.decide(app, 'production', 'pause', caller('alice'))).rejects.toThrow(/already paused by dave/);
    await h.service.decide(app, 'production', 'resume', caller('alice'));
    await h.service.decide(app, 'production', 'approve', caller('alice'));
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    expect(final.decisions.map((d) => [d.action, d.by, d.channel])).toEqual([['pause', 'dave', 'api'], ['resume', 'alice', 'api'], ['approve', 'alice', 'api']]);
    for (const d of final.decisions) expect(Date.parse(d.at)).toBeGreaterThan(0);
  });

  it('rollback of a finished release starts a rollback release to the previous revision', async () => {
    const app = unique('shop');
    const config = seedConfig(app, { groups: [{ pods: 'rest', confirm: { type: 'auto' } }] });
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    expect((await h.service.waitForRelease(app, 'production')).phase).toBe('succeeded');
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_B } }, caller('dave'));
    const second = await h.service.waitForRelease(app, 'production');
    expect(second.previous?.digest).toBe(DIGEST_A);
    const r = await h.service.decide(app, 'production', 'rollback', caller('alice'), 'latency regression');
    expect(r.started?.existing).toBe(false);
    const back = await h.service.waitForRelease(app, 'production');
    expect(back).toMatchObject({ kind: 'rollback', phase: 'succeeded', startedBy: 'alice' });
    expect(back.revision.digest).toBe(DIGEST_A);
    expect(h.sim.state().targets[`${app}/production`]?.stable?.digest).toBe(DIGEST_A);
  });

  it('unknown releases give a clear not-found error', async () => {
    const err = await h.service.status('nope', 'production').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GantryError);
    expect((err as GantryError).code).toBe('not_found');
    expect((err as GantryError).message).toBe('no release of nope to production');
  });
});
