// Release trains on the real dev server: a Temporal Schedule per app and environment, overlap SKIP,
// releasing the newest build that passed its gates (from the app's build catalog).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCatalogActivities } from '../../activities/catalog.js';
import { GantryError } from '../../api/errors.js';
import { TrainService } from '../../api/trains.js';
import { DIGEST_A, DIGEST_B, seedConfig } from '../support/fixtures.js';
import { caller, startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';

let h: Harness;
let trains: TrainService;
beforeAll(async () => {
  h = await startHarness();
  trains = new TrainService(h.client, h.taskQueue, () => h.service.searchAttributesReady());
});
afterAll(async () => { await h?.close(); });

async function until<T>(f: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function trainRuns(app: string): Promise<{ decision: { kind: string; reason: string } }[]> {
  const out = [];
  for await (const w of h.client.workflow.list({ query: `WorkflowType = 'releaseTrain' AND ExecutionStatus = 'Completed'` })) {
    const r = await h.client.workflow.getHandle(w.workflowId, w.runId).result() as { decision: { kind: string; reason: string } };
    if (w.workflowId.includes(`/${app}/`)) out.push(r);
  }
  return out;
}

describe('release trains (real dev server, real Schedules)', () => {
  it('release the newest build that passed its gates; skip while one is in progress; skip when nothing is new', async () => {
    const app = unique('shop');
    const config = seedConfig(app, { groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest' }] });
    const catalog = createCatalogActivities({ client: h.client, taskQueue: h.taskQueue });
    const train = await trains.create({ config, environment: 'production', cron: ['0 3 1 1 *'], timeZone: 'Europe/Berlin' }, caller('alice'));
    expect(train).toEqual({ id: `train/${app}/production`, existing: false });

    // No build yet: the train departs and says why it released nothing.
    await trains.trigger(app, 'production', caller('alice'));
    const first = await until(async () => (await trainRuns(app)).find((r) => r.decision.kind === 'skip'), 'the first train run');
    expect(first.decision.reason).toBe('no build has passed its gates yet');

    // Two builds pass; the newest (B) is released.
    await catalog.recordBuild({ app, build: { sha: 'a'.repeat(40), image: 'registry.local/shop/web', digest: DIGEST_A, passedAt: '2026-11-20T10:00:00Z', author: 'carol' } });
    await catalog.recordBuild({ app, build: { sha: 'b'.repeat(40), image: 'registry.local/shop/web', digest: DIGEST_B, passedAt: '2026-11-21T10:00:00Z', author: 'carol' } });
    expect((await catalog.newestBuild({ app }))?.digest).toBe(DIGEST_B);
    await trains.trigger(app, 'production', caller('alice'));
    const waiting = await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    expect(waiting.revision.digest).toBe(DIGEST_B);
    expect(waiting.startedBy).toBe(`train:train/${app}/production`);
    // The train was saved knowing the search attributes are registered: its release keeps them (the list and "waiting for me" need no status query).
    const attrs = (await h.client.workflow.getHandle(`release/${app}/production`).describe()).searchAttributes as Record<string, unknown>;
    expect(attrs).toMatchObject({ GantryApp: [app], GantryPhase: ['waiting-approval'] });

    // While that release waits, the next departure is skipped by the schedule (overlap: skip).
    await trains.trigger(app, 'production', caller('alice'));
    const d = await until(async () => { const x = await trains.describe(app, 'production'); return x.skippedOverlap >= 1 ? x : undefined; }, 'an overlap skip');
    expect(d).toMatchObject({ cron: ['0 3 1 1 *'], timeZone: 'Europe/Berlin', paused: false });
    expect(d.nextDepartures.length).toBeGreaterThan(0);

    await h.service.decide(app, 'production', 'approve', caller('alice'));
    expect((await h.service.waitForRelease(app, 'production')).phase).toBe('succeeded');

    // Nothing newer: the next train releases nothing and says so.
    await until(async () => ((await h.client.schedule.getHandle(`train/${app}/production`).describe()).info.runningActions.length === 0 ? true : undefined), 'the train run to finish');
    await trains.trigger(app, 'production', caller('alice'));
    await until(async () => (await trainRuns(app)).find((r) => /already running the newest build/.test(r.decision.reason)), 'a nothing-new train run');

    expect((await trains.list()).map((t) => t.id)).toContain(`train/${app}/production`);
    await trains.remove(app, 'production', caller('alice'));
    await expect(trains.describe(app, 'production')).rejects.toBeInstanceOf(GantryError);
  });

  it('rejects bad departures and zones with the field and a hint', async () => {
    const err = await trains.create({ config: seedConfig(unique('shop')), environment: 'production', cron: ['every day'], timeZone: 'Mars/Olympus' }, caller('dave')).catch((e: unknown) => e) as GantryError;
    expect(err.code).toBe('bad_request');
    expect(err.details.map((x) => x.path)).toEqual(['cron[0]', 'timeZone']);
  });

  it('only the environment\'s approvers may create, change, trigger or delete its train; every operation is recorded', async () => {
    // Issue 12, defect 7: any authenticated identity could create, trigger or delete any train.
    const app = unique('shop');
    const config = seedConfig(app, { approvers: { users: ['alice'], groups: ['sre'] } });
    const req = { config, environment: 'production', cron: ['0 3 1 1 *'], timeZone: 'UTC', paused: true };
    const refused = (p: Promise<unknown>) => p.then(() => { throw new Error('allowed'); }, (e: unknown) => e as GantryError);

    const noCreate = await refused(trains.create(req, caller('mallory', ['dev'])));
    expect(noCreate.code).toBe('refused');
    expect(noCreate.message).toBe('mallory is not an approver of production (alice, group:sre): only its approvers may create its release train');
    await expect(trains.describe(app, 'production')).rejects.toMatchObject({ code: 'not_found' });

    await trains.create(req, caller('bob', ['sre']));
    expect((await refused(trains.trigger(app, 'production', caller('mallory')))).message).toMatch(/^mallory is not an approver of production .*may trigger/);
    expect((await refused(trains.remove(app, 'production', caller('mallory')))).message).toMatch(/may delete/);
    // Sending a config that lists oneself does not take over an existing train.
    const takeover = seedConfig(app, { approvers: { users: ['mallory'] } });
    expect((await refused(trains.create({ ...req, config: takeover }, caller('mallory')))).message).toMatch(/may change/);

    await trains.trigger(app, 'production', caller('alice'));
    const d = await trains.describe(app, 'production');
    expect(d.audit.map((e) => [e.by, e.action, e.channel])).toEqual([['bob', 'create', 'api'], ['alice', 'trigger', 'api']]);
    expect(d.audit.every((e) => !Number.isNaN(Date.parse(e.at)))).toBe(true);
    expect(await trains.remove(app, 'production', caller('alice'))).toMatchObject({ by: 'alice', action: 'delete' });
  });
});
