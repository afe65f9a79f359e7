// Issue 9: the release list as one visibility query over the releases' search attributes, "waiting
// for me", and allowedActions in the status. On the run's real Temporal dev server (started with
// Gantry's --search-attribute flags), simulated cluster, through the HTTP API with real tokens.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import './inject-shim.js';
import { parseConfig } from '../../core/config.js';
import { startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { auth, DIGEST_A, testServer, until, type Person } from './helpers.js';
import type { ListedRelease } from '../../api/routes/releases.js';
import type { ReleaseStatus } from '../../core/release.js';
import { GantryApp } from '../../workflows/search-attributes.js';

let h: Harness;
let server: FastifyInstance;
const calls = { list: 0, query: 0 };

beforeAll(async () => {
  h = await startHarness();
  server = testServer(h.service);
  // Count the RPCs the list makes (the real calls, counted on their way out).
  const svc = h.client.workflowService as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  for (const [method, counter] of [['listWorkflowExecutions', 'list'], ['queryWorkflow', 'query']] as const) {
    const real = svc[method]!.bind(svc);
    svc[method] = (...a: unknown[]) => { calls[counter]++; return real(...a); };
  }
});
afterAll(async () => { await server?.close(); await h?.close(); });

/**
 * One app, three environments, each release stopping somewhere else: production waits for two
 * approvals (alice, bob, carol, group sre; carol wrote it, dave started it), staging waits on a timer, qa
 * is paused (only bob approves there).
 */
function config(app: string) {
  const base = { replicas: 4, cells: [{ name: 'zone-a' }], deadlines: { progress: '20s' } };
  const r = parseConfig({
    app: { name: app, image: 'registry.local/shop/web' },
    environments: [
      { ...base, name: 'production', groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest' }], approvers: { users: ['alice', 'bob', 'carol'], groups: ['sre'], required: 2 } },
      { ...base, name: 'staging', groups: [{ pods: 1, confirm: { type: 'pause', duration: '1h' } }, { pods: 'rest' }], approvers: { users: ['bob'] } },
      { ...base, name: 'qa', groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest' }], approvers: { users: ['bob'] } },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

async function get<T>(who: Person, url: string): Promise<T> {
  const res = await server.inject({ method: 'GET', url, headers: auth(who) });
  if (res.statusCode !== 200) throw new Error(`GET ${url} as ${who}: ${res.statusCode} ${res.body}`);
  return res.json<T>();
}
const list = (who: Person, app: string, q = '') => get<{ releases: ListedRelease[] }>(who, `/v1/releases?app=${app}${q}`).then((b) => b.releases);
const byEnv = (rs: ListedRelease[]) => Object.fromEntries(rs.map((r) => [r.environment, r.phase]));
const envs = (rs: ListedRelease[]) => rs.map((r) => r.environment).sort();

async function upserts(app: string, env: string): Promise<number> {
  const history = await h.client.workflow.getHandle(`release/${app}/${env}`).fetchHistory();
  // Gantry's own upserts (the SDK upserts TemporalChangeVersion for patched() too).
  return (history.events ?? []).filter((e) => Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {}).some((k) => k.startsWith('Gantry'))).length;
}

describe('the release list from search attributes', () => {
  const app = unique('list');
  const carolAuthor = { digest: DIGEST_A, author: 'carol' };

  beforeAll(async () => {
    const cfg = config(app);
    const dave = { identity: { id: 'dave', groups: ['dev'] }, channel: 'api' as const };
    for (const environment of ['production', 'staging', 'qa']) await h.service.startRelease({ config: cfg, environment, revision: carolAuthor }, dave);
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    await waitForStatus(h.service, app, 'staging', (s) => s.phase === 'waiting');
    await waitForStatus(h.service, app, 'qa', (s) => s.phase === 'waiting-approval');
    await h.service.decide(app, 'qa', 'pause', { identity: { id: 'bob', groups: [] }, channel: 'api' });
    await waitForStatus(h.service, app, 'qa', (s) => s.phase === 'paused');
  }, 90_000);

  it('starts each release with its attributes, and the namespace has them registered', async () => {
    expect(await h.service.searchAttributesReady()).toBe(true);
    const d = await h.client.workflow.getHandle(`release/${app}/production`).describe();
    expect(d.typedSearchAttributes.get(GantryApp)).toBe(app);
  });

  it('lists three phases with one List call and no status query', async () => {
    // Visibility is eventually consistent: wait until it shows the phases the workflows report.
    await until('phases in visibility', async () => {
      const rs = await list('alice', app);
      return byEnv(rs).qa === 'paused' && byEnv(rs).staging === 'waiting' && byEnv(rs).production === 'waiting-approval' ? rs : undefined;
    });
    calls.list = 0; calls.query = 0;
    const rs = await list('alice', app);
    expect(calls).toEqual({ list: 1, query: 0 });
    expect(byEnv(rs)).toEqual({ production: 'waiting-approval', staging: 'waiting', qa: 'paused' });
    const prod = rs.find((r) => r.environment === 'production')!;
    expect(prod).toMatchObject({ app, kind: 'release', status: 'running', waitingOn: 'approval', approvers: ['alice', 'bob', 'carol', 'group:sre'] });
    expect(rs.find((r) => r.environment === 'qa')).toMatchObject({ waitingOn: 'resume', approvers: ['bob', 'carol', 'dave'] });
    expect(rs.find((r) => r.environment === 'staging')!.approvers).toBeUndefined();
  });

  it('waitingFor=me: only the releases the caller can unblock now', async () => {
    calls.list = 0; calls.query = 0;
    expect(envs(await list('alice', app, '&waitingFor=me'))).toEqual(['production']);
    // One List over the attributes, one for releases without them (none here): no status query.
    expect(calls).toEqual({ list: 2, query: 0 });
    expect(envs(await list('frank', app, '&waitingFor=me'))).toEqual(['production']); // through group sre
    expect(envs(await list('bob', app, '&waitingFor=me'))).toEqual(['production', 'qa']);
    expect(envs(await list('carol', app, '&waitingFor=me'))).toEqual(['qa']); // an approver but the author: may resume qa, may not approve production
    expect(envs(await list('dave', app, '&waitingFor=me'))).toEqual(['qa']); // the starter: likewise
    expect(envs(await list('eve', app, '&waitingFor=me'))).toEqual([]);
    // Group names are free text: quoted into the query, a quote cannot break out of it.
    expect(await h.service.list(10, { app, waitingFor: { id: 'x', groups: ["o'neil') OR (1 = 1", 'a\\'] } })).toEqual([]);
    expect(envs(await h.service.list(10, { app, waitingFor: { id: 'x', groups: ["o'neil", 'sre'] } }))).toEqual(['production']);
    const bad = await server.inject({ method: 'GET', url: `/v1/releases?waitingFor=bob`, headers: auth('alice') });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/waitingFor=me/);
  });

  it('allowedActions in the status, for the caller, with the reasons the validators give', async () => {
    const as = (who: Person) => get<ReleaseStatus>(who, `/v1/releases/${app}/production?events=0`);
    const carol = await as('carol');
    expect(carol.allowedActions?.approve).toEqual({ allowed: false, reason: expect.stringMatching(/carol is the author of this change/) });
    expect(carol.allowedActions?.abort).toEqual({ allowed: true });
    const eve = await as('eve');
    expect(eve.allowedActions?.pause).toEqual({ allowed: false, reason: expect.stringMatching(/eve may not pause this release/) });
    expect((await as('alice')).allowedActions?.approve).toEqual({ allowed: true });
    // The Update validator agrees: carol's approve is refused with the same reason.
    const refused = await server.inject({ method: 'POST', url: `/v1/releases/${app}/production/approve`, headers: auth('carol'), payload: {} });
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ message: string }>().message).toBe(carol.allowedActions?.approve.reason);
  });

  it('an approval changes only what changed: one upsert, and alice drops out of "waiting for me"', async () => {
    const before = await upserts(app, 'production');
    expect(before).toBeGreaterThan(0);
    const ok = await server.inject({ method: 'POST', url: `/v1/releases/${app}/production/approve`, headers: auth('alice'), payload: { comment: 'lgtm' } });
    expect(ok.statusCode).toBe(200);
    expect((await get<ReleaseStatus>('alice', `/v1/releases/${app}/production?events=0`)).allowedActions?.approve)
      .toEqual({ allowed: false, reason: 'alice already approved group 1; another approver is needed' });
    await until('alice excluded in visibility', async () => (envs(await list('alice', app, '&waitingFor=me')).length === 0 ? true : undefined));
    expect(envs(await list('bob', app, '&waitingFor=me'))).toEqual(['production', 'qa']);
    expect(await upserts(app, 'production')).toBe(before + 1);
  });

  it('releases without attributes (started before them) are still listed and found waiting, by asking them alone', async () => {
    const old = unique('list-old');
    const cfg = config(old);
    // Started the way Gantry started releases before the search attributes: no attributes at start.
    for (const env of [cfg.environments[0]!, cfg.environments[1]!]) {
      await h.client.workflow.start('release', {
        workflowId: `release/${old}/${env.name}`, taskQueue: h.taskQueue,
        args: [{ app: old, environment: env, revision: { image: cfg.app.image, digest: DIGEST_A, author: 'carol' }, startedBy: { id: 'dave', channel: 'api' } }],
      });
    }
    await waitForStatus(h.service, old, 'staging', (s) => s.phase === 'waiting');
    await waitForStatus(h.service, old, 'production', (s) => s.phase === 'waiting-approval');
    expect(await upserts(old, 'staging')).toBe(0);
    expect(await upserts(old, 'production')).toBe(0);
    await until('listed', async () => ((await list('alice', old)).length === 2 ? true : undefined));
    calls.list = 0; calls.query = 0;
    const rs = await list('alice', old);
    expect(byEnv(rs)).toEqual({ staging: 'waiting', production: 'waiting-approval' });
    expect(calls).toEqual({ list: 1, query: 2 });
    // "Waiting for me" asks each of them as the caller: the same policy decides.
    expect(await list('alice', old, '&waitingFor=me')).toMatchObject([{ environment: 'production', phase: 'waiting-approval', waitingOn: 'approval' }]);
    expect(await list('carol', old, '&waitingFor=me')).toEqual([]); // the author
    for (const env of ['staging', 'production']) await h.client.workflow.getHandle(`release/${old}/${env}`).terminate('test done');
  });

  it('a release started without them but flagged (as a pipeline or train child would be) names itself and keeps them', async () => {
    const child = unique('list-child');
    const cfg = config(child);
    await h.client.workflow.start('release', {
      workflowId: `release/${child}/qa`, taskQueue: h.taskQueue,
      args: [{ app: child, environment: cfg.environments[2]!, revision: { image: cfg.app.image, digest: DIGEST_A }, startedBy: { id: 'dave', channel: 'git' }, searchAttributes: true }],
    });
    await waitForStatus(h.service, child, 'qa', (s) => s.phase === 'waiting-approval');
    const rs = await until('listed from attributes', async () => {
      const all = await list('bob', child, '&waitingFor=me');
      return all.length === 1 && all[0]!.phase === 'waiting-approval' ? all : undefined;
    });
    expect(rs[0]).toMatchObject({ app: child, environment: 'qa', kind: 'release', waitingOn: 'approval', approvers: ['bob'] });
    calls.list = 0; calls.query = 0;
    await list('bob', child);
    expect(calls).toEqual({ list: 1, query: 0 });
    await h.client.workflow.getHandle(`release/${child}/qa`).terminate('test done');
  });

  it('an ended release shows its final phase; a terminated one no stale phase', async () => {
    const aborted = await server.inject({ method: 'POST', url: `/v1/releases/${app}/staging/abort`, headers: auth('bob'), payload: { comment: 'enough' } });
    expect(aborted.statusCode).toBe(200);
    await h.service.waitForRelease(app, 'staging');
    await h.client.workflow.getHandle(`release/${app}/qa`).terminate('test: terminated while paused');
    const rs = await until('ended in visibility', async () => {
      const all = await list('alice', app);
      const staging = all.find((r) => r.environment === 'staging');
      const qa = all.find((r) => r.environment === 'qa');
      return staging?.status === 'rolled-back' && qa?.status === 'terminated' && staging.phase === 'rolled-back' ? all : undefined;
    });
    expect(rs.find((r) => r.environment === 'staging')).not.toHaveProperty('waitingOn');
    const qa = rs.find((r) => r.environment === 'qa')!;
    expect(qa.phase).toBeUndefined(); // its attributes still say paused
    expect(qa).not.toHaveProperty('approvers');
    expect(envs(await list('bob', app, '&waitingFor=me'))).toEqual(['production']);
  });

  afterAll(async () => {
    for (const env of ['production', 'staging', 'qa']) await h.client.workflow.getHandle(`release/${app}/${env}`).terminate('test done').catch(() => undefined);
  });
});

describe('a namespace without the search attributes', () => {
  it('the API registers them through the operator service; a start they are refused for goes ahead without them', async () => {
    const { startEphemeralTemporal } = await import('../../testbed/ephemeral-temporal.js');
    const { Client, Connection } = await import('@temporalio/client');
    const { GantryService } = await import('../../api/service.js');
    const bare = await startEphemeralTemporal([], { searchAttributes: false });
    const connection = await Connection.connect({ address: bare.address });
    try {
      const client = new Client({ connection, namespace: 'default' });
      const service = new GantryService(client, unique('tq'));
      const cfg = config(unique('bare'));
      const dave = { identity: { id: 'dave', groups: [] }, channel: 'api' as const };
      const before = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(Object.keys(before.customAttributes ?? {}).filter((k) => k.startsWith('Gantry'))).toEqual([]);
      // As if the list said they were there: the server refuses the start for them, and the API starts it without.
      (service as unknown as { attributes: { ready: boolean; until: number } }).attributes = { ready: true, until: Date.now() + 60_000 };
      const first = await service.startRelease({ config: cfg, environment: 'staging', revision: { digest: DIGEST_A } }, dave);
      expect(first.existing).toBe(false);
      expect((await client.workflow.getHandle(first.workflowId).describe()).typedSearchAttributes.get(GantryApp)).toBeUndefined();
      expect(service.attributesProblem).toMatch(/search attribute/i);
      expect(await service.searchAttributesReady()).toBe(false); // the refusal is remembered (for 10 s)
      // Asked afresh: it adds the missing ones, and the next release starts with them.
      (service as unknown as { attributes?: unknown }).attributes = undefined;
      expect(await service.searchAttributesReady()).toBe(true);
      const after = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(Object.keys(after.customAttributes ?? {}).filter((k) => k.startsWith('Gantry')).sort()).toEqual(
        ['GantryApp', 'GantryApprovers', 'GantryCells', 'GantryEnvironment', 'GantryExcluded', 'GantryGroup', 'GantryKind', 'GantryPhase', 'GantryWaitingOn', 'GantryWaitingSince', 'GantryWeight']);
      const second = await until('a start with the attributes', async () => {
        const s = await service.startRelease({ config: cfg, environment: 'qa', revision: { digest: DIGEST_A } }, dave);
        const has = (await client.workflow.getHandle(s.workflowId).describe()).typedSearchAttributes.get(GantryApp);
        if (has === undefined) { await client.workflow.getHandle(s.workflowId).terminate('retry'); return undefined; }
        return has;
      }, 30_000, 1000);
      expect(second).toBe(cfg.app.name);
    } finally {
      await connection.close();
      bare.stop();
    }
  }, 90_000);
});

describe('releases a pipeline starts', () => {
  it('keep the search attributes too (the API flags the pipeline): listed and found as "waiting for me" without a status query', async () => {
    const app = unique('piped');
    const git = { identity: { id: 'git-push', groups: [] }, channel: 'git' as const };
    await h.service.startPipeline({ config: config(app), repo: `acme/${app}`, sha: 'abcdef1', revision: { digest: DIGEST_A, author: 'carol' } }, git);
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    expect(await upserts(app, 'production')).toBeGreaterThan(0);
    await until('the child release in visibility', async () => ((await list('alice', app)).find((r) => r.environment === 'production')?.phase === 'waiting-approval' ? true : undefined));
    calls.list = 0; calls.query = 0;
    expect(envs(await list('alice', app, '&waitingFor=me'))).toEqual(['production']);
    expect(calls).toEqual({ list: 2, query: 0 });
    expect(envs(await list('carol', app, '&waitingFor=me'))).toEqual([]); // the author
    await h.client.workflow.getHandle(`pipeline/acme/${app}/abcdef1`).terminate('test done').catch(() => undefined);
  }, 90_000);
});
