// The HTTP API over the command service, on the real Temporal dev server (in-process worker,
// simulated cluster), driven with fastify's inject.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ServiceError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { ReleaseStatus } from '../../core/release.js';
import type { PipelineStatus } from '../../core/pipeline.js';
import type { GantryService } from '../../api/service.js';
import './inject-shim.js';
import { startHarness, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { auth, configYaml, DIGEST_A, DIGEST_B, people, testServer, until, type Person } from './helpers.js';

let h: Harness;
let app: FastifyInstance;

beforeAll(async () => {
  h = await startHarness();
  app = testServer(h.service);
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await h?.close();
});

const get = (url: string, who?: Person) => app.inject({ method: 'GET', url, headers: who ? auth(who) : {} });
const post = (url: string, body: unknown, who?: Person, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, payload: body as object, headers: { ...(who ? auth(who) : {}), ...headers } });

async function startWaiting(name: string, author = 'carol'): Promise<void> {
  const r = await post('/v1/releases', { config: configYaml(name), environment: 'production', revision: { digest: DIGEST_A, sha: 'abc1234', author } }, 'dave');
  expect(r.statusCode).toBe(201);
  await until(`${name} waiting for approval`, async () => {
    const s = await get(`/v1/releases/${name}/production`, 'dave');
    return s.statusCode === 200 && s.json<ReleaseStatus>().phase === 'waiting-approval' ? true : undefined;
  });
}

describe('HTTP API (real Temporal dev server)', () => {
  it('GET /healthz needs no token; everything else answers 401 without one or with a wrong one', async () => {
    expect((await get('/healthz')).json()).toEqual({ ok: true });

    const none = await get('/v1/releases');
    expect(none.statusCode).toBe(401);
    expect(none.json()).toEqual({ error: 'unauthenticated', message: 'missing bearer token', hint: expect.stringMatching(/Authorization: Bearer/) });

    const wrong = await app.inject({ method: 'GET', url: '/v1/releases/shop/production', headers: { authorization: 'Bearer not-a-real-token-123456' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ error: 'unauthenticated', message: 'unknown or revoked token', hint: expect.any(String) });
    expect(wrong.body).not.toContain('not-a-real-token');

    const basic = await app.inject({ method: 'POST', url: '/v1/releases/shop/production/approve', headers: { authorization: `Basic ${people.alice.token}` }, payload: {} });
    expect(basic.statusCode).toBe(401);
    expect(basic.json().message).toBe('the Authorization header is not a bearer token');

    // Authentication comes before anything else: a bad body without a token is still a 401.
    expect((await post('/v1/releases', { nonsense: true })).statusCode).toBe(401);
    expect((await get('/')).statusCode).toBe(401);
  });

  it('start → 201, same again → 200 existing; the identity of decisions comes only from the token', async () => {
    const name = unique('shop');
    const body = { config: configYaml(name), environment: 'production', revision: { digest: DIGEST_A, sha: 'abc1234', author: 'carol' } };
    const first = await post('/v1/releases', body, 'bob');
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ workflowId: `release/${name}/production`, runId: expect.any(String), existing: false });
    const again = await post('/v1/releases', body, 'bob');
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ ...first.json<object>(), existing: true });
    const other = await post('/v1/releases', { ...body, revision: { digest: DIGEST_B } }, 'bob');
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ error: 'conflict', hint: `wait for it to finish, or abort it: gantry abort ${name} production` });

    await until('waiting for approval', async () => ((await get(`/v1/releases/${name}/production`, 'eve')).json<ReleaseStatus>().phase === 'waiting-approval' ? true : undefined));

    // A body naming someone else is refused outright, even from an approver.
    for (const field of ['identity', 'by', 'user']) {
      const r = await post(`/v1/releases/${name}/production/approve`, { [field]: field === 'identity' ? { id: 'alice', groups: ['sre'] } : 'alice' }, 'eve');
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ error: 'bad_request', message: 'identity comes from the token, not the request body', details: [{ path: field, message: 'not accepted', hint: expect.any(String) }] });
    }
    const extra = await post(`/v1/releases/${name}/production/approve`, { comment: 'ok', as: 'alice' }, 'alice');
    expect(extra.statusCode).toBe(400);
    expect(extra.json().details).toEqual([{ path: '(body)', message: "unknown field 'as'", hint: expect.any(String) }]);

    // Refusals: non-approvers, the author (four-eyes), the starter (four-eyes): 403 with the reason.
    const eve = await post(`/v1/releases/${name}/production/approve`, {}, 'eve');
    expect(eve.statusCode).toBe(403);
    expect(eve.json()).toEqual({ error: 'refused', message: 'eve is not an approver of this environment (approvers: alice, bob, carol, group:sre)' });
    // dave's token carries group dev, not sre: what the token says is what counts.
    expect((await post(`/v1/releases/${name}/production/approve`, {}, 'dave')).json().message).toMatch(/^dave is not an approver/);
    const carol = await post(`/v1/releases/${name}/production/approve`, {}, 'carol');
    expect(carol.statusCode).toBe(403);
    expect(carol.json().message).toBe('carol is the author of this change and may not approve its release (four-eyes)');
    const bob = await post(`/v1/releases/${name}/production/approve`, {}, 'bob');
    expect(bob.statusCode).toBe(403);
    expect(bob.json().message).toBe('bob started this release and may not approve it (four-eyes)');

    // frank is an approver through his token's group; the channel comes from the header.
    const ok = await post(`/v1/releases/${name}/production/approve`, { comment: 'dashboards green' }, 'frank', { 'x-gantry-channel': 'ui' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ decision: { action: 'approve', by: 'frank', channel: 'ui', comment: 'dashboards green', group: 1 }, summary: expect.any(String) });

    const final = await h.service.waitForRelease(name, 'production');
    expect(final.phase).toBe('succeeded');
    expect(final.decisions).toEqual([expect.objectContaining({ action: 'approve', by: 'frank', channel: 'ui' })]);
  });

  it('history returns every decision and event; status honours ?events=N; unknown channels are recorded as api', async () => {
    const name = unique('shop');
    await startWaiting(name);
    const paused = await post(`/v1/releases/${name}/production/pause`, { comment: 'lunch' }, 'carol', { 'x-gantry-channel': 'slack' });
    expect(paused.statusCode).toBe(200);
    expect(paused.json().decision).toMatchObject({ action: 'pause', by: 'carol', channel: 'api' });
    expect((await post(`/v1/releases/${name}/production/resume`, undefined, 'carol', { 'x-gantry-channel': 'cli' })).statusCode).toBe(200);
    expect((await post(`/v1/releases/${name}/production/approve`, {}, 'alice', { 'x-gantry-channel': 'cli' })).statusCode).toBe(200);
    await h.service.waitForRelease(name, 'production');

    const hist = await get(`/v1/releases/${name}/production/history`, 'eve');
    expect(hist.statusCode).toBe(200);
    const body = hist.json<{ phase: string; decisions: ReleaseStatus['decisions']; events: ReleaseStatus['events'] }>();
    expect(body.phase).toBe('succeeded');
    expect(body.decisions.map((d) => [d.action, d.by, d.channel, d.comment])).toEqual([['pause', 'carol', 'api', 'lunch'], ['resume', 'carol', 'cli', undefined], ['approve', 'alice', 'cli', undefined]]);
    const types = body.events.map((e) => e.type);
    expect(types[0]).toBe('started');
    expect(types).toEqual(expect.arrayContaining(['applied', 'paused', 'resumed', 'approved', 'succeeded']));
    expect(types.at(-1)).toBe('succeeded');
    expect(body.events.length).toBeGreaterThan(10);

    const two = await get(`/v1/releases/${name}/production?events=2`, 'eve');
    expect(two.json<ReleaseStatus>().events.map((e) => e.type)).toEqual(types.slice(-2));
    const badQuery = await get(`/v1/releases/${name}/production?events=-1`, 'eve');
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json().details).toEqual([expect.objectContaining({ path: 'events', hint: 'how many recent events to return: 0 for all' })]);

    const list = await get('/v1/releases?limit=100', 'eve');
    expect(list.json<{ releases: { workflowId: string; phase?: string }[] }>().releases).toEqual(expect.arrayContaining([expect.objectContaining({ workflowId: `release/${name}/production`, app: name, environment: 'production', status: 'completed', phase: 'succeeded' })]));
  });

  it('unknown releases, actions and routes are 404s with a clear message', async () => {
    const status = await get('/v1/releases/nope/production', 'alice');
    expect(status.statusCode).toBe(404);
    expect(status.json()).toEqual({ error: 'not_found', message: 'no release of nope to production', hint: 'start one with: gantry release start' });
    const decide = await post('/v1/releases/nope/production/approve', {}, 'alice');
    expect(decide.statusCode).toBe(404);
    expect(decide.json()).toMatchObject({ error: 'not_found', message: 'no release of nope to production', hint: 'list releases with: gantry release list' });
    expect((await get('/v1/releases/nope/production/history', 'alice')).statusCode).toBe(404);
    const action = await post('/v1/releases/nope/production/deploy', {}, 'alice');
    expect(action.statusCode).toBe(404);
    expect(action.json().details[0].hint).toBe('one of: approve, reject, pause, resume, promote, abort, rollback, override');
    const route = await get('/v2/things', 'alice');
    expect(route.statusCode).toBe(404);
    expect(route.json()).toMatchObject({ error: 'not_found', message: 'no route GET /v2/things' });
    const badName = await get('/v1/releases/Shop_1/production', 'alice');
    expect(badName.statusCode).toBe(400);
    expect(badName.json().details[0]).toMatchObject({ path: 'app', message: 'app must be a lowercase DNS label' });
  });

  it('invalid input is a 400 naming every field with a hint', async () => {
    const broken = `app:\n  name: Shop\n  image: registry.local/shop/web:latest\nenvironments:\n  - name: production\n    replicas: 4\n    cells: [{ name: zone-a }]\n    groups:\n      - { pods: 0 }\n      - { pods: rest, confirm: { type: manul } }\n`;
    const r = await post('/v1/releases', { config: broken, environment: 'production', revision: { digest: DIGEST_A } }, 'dave');
    expect(r.statusCode).toBe(400);
    const body = r.json<{ error: string; message: string; details: { path: string; message: string; hint: string }[] }>();
    expect(body.error).toBe('bad_request');
    expect(body.message).toBe('invalid gantry.yaml (4 problems)');
    expect(body.details.map((d) => d.path).sort()).toEqual(['config.app.image', 'config.app.name', 'config.environments[0].groups[0].pods', 'config.environments[0].groups[1].confirm.type']);
    for (const d of body.details) expect(d.hint.length).toBeGreaterThan(5);
    expect(body.details.find((d) => d.path === 'config.environments[0].groups[0].pods')?.hint).toMatch(/'rest'/);

    const shape = await post('/v1/releases', { config: 42, revision: { digest: 'latest', commit: 'x' } }, 'dave');
    expect(shape.statusCode).toBe(400);
    expect(shape.json().details).toEqual(expect.arrayContaining([
      expect.objectContaining({ path: 'config', hint: expect.stringMatching(/gantry.yaml/) }),
      { path: 'environment', message: 'is required', hint: expect.stringMatching(/environment named in gantry.yaml/) },
      expect.objectContaining({ path: 'revision', message: "unknown field 'commit'" }),
    ]));

    const digest = await post('/v1/releases', { config: configYaml('valid-app'), environment: 'production', revision: { digest: 'sha256:abc' } }, 'dave');
    expect(digest.statusCode).toBe(400);
    expect(digest.json()).toMatchObject({ message: 'invalid revision', details: [{ path: 'revision.digest', message: 'not an image digest', hint: expect.stringMatching(/64 hex digits/) }] });

    const env = await post('/v1/releases', { config: configYaml('valid-app'), environment: 'staging', revision: { digest: DIGEST_A } }, 'dave');
    expect(env.statusCode).toBe(400);
    expect(env.json()).toMatchObject({ message: "unknown environment 'staging'", details: [{ path: 'environment', hint: 'one of: production' }] });

    const notJson = await app.inject({ method: 'POST', url: '/v1/releases', headers: { ...auth('dave'), 'content-type': 'application/json' }, payload: '{"config": ' });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json()).toMatchObject({ error: 'bad_request', hint: 'send a valid JSON body' });
  });

  it('a pipeline started twice for the same repo and commit is one workflow', async () => {
    const name = unique('shop');
    const sha = 'c0ffee1234567';
    const req = { config: configYaml(name, { manual: false }), repo: `acme/${name}`, sha, ref: 'refs/heads/main', revision: { digest: DIGEST_A, author: 'carol' } };
    const first = await post('/v1/pipelines', req, 'dave');
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ workflowId: `pipeline/acme/${name}/${sha}`, runId: expect.any(String), existing: false });
    const second = await post('/v1/pipelines', req, 'alice');
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({ ...first.json<object>(), existing: true });
    let count = 0;
    for await (const _ of h.client.workflow.list({ query: `WorkflowId = 'pipeline/acme/${name}/${sha}'` })) count++;
    expect(count).toBe(1);

    const done = await until('pipeline succeeded', async () => {
      const s = await get(`/v1/pipelines?repo=${encodeURIComponent(`acme/${name}`)}&sha=${sha}`, 'eve');
      return s.statusCode === 200 && s.json<PipelineStatus>().state === 'succeeded' ? s.json<PipelineStatus>() : undefined;
    });
    expect(done).toMatchObject({ repo: `acme/${name}`, sha, ref: 'refs/heads/main', author: 'carol', stages: [{ name: 'release:production', state: 'succeeded', workflowId: `release/${name}/production` }] });
    const byPath = await get(`/v1/pipelines/acme/${name}/${sha}`, 'eve');
    expect(byPath.json<PipelineStatus>().id).toBe(`pipeline/acme/${name}/${sha}`);
    // Its release recorded who started the pipeline: the token's identity.
    expect((await get(`/v1/releases/${name}/production`, 'eve')).json<ReleaseStatus>().startedBy).toBe('dave');

    const missing = await get(`/v1/pipelines?repo=acme/nope&sha=${sha}`, 'eve');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'not_found', message: `no pipeline for acme/nope@${sha}`, hint: 'start one with: gantry pipeline start' });
    const noSha = await get('/v1/pipelines?repo=acme/nope', 'eve');
    expect(noSha.statusCode).toBe(400);
    expect(noSha.json().details[0]).toMatchObject({ path: 'sha', message: 'is required' });
    const badSha = await post('/v1/pipelines', { ...req, sha: 'HEAD' }, 'dave');
    expect(badSha.statusCode).toBe(400);
    expect(badSha.json().details[0]).toMatchObject({ path: 'sha', message: 'not a commit sha' });
  });

  it('GET / renders the releases as escaped HTML', async () => {
    const name = unique('shop');
    await startWaiting(name);
    const page = await get('/', 'eve');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toMatch(new RegExp(`<td>${name}</td><td>production</td><td>waiting-approval</td>`));
    expect(page.body).not.toMatch(/<script/i);
    await post(`/v1/releases/${name}/production/abort`, { comment: '<script>alert(1)</script>' }, 'alice');
    await h.service.waitForRelease(name, 'production');
  });

  it('unexpected errors are a generic 500; the log has the request id and the error, never the token', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const failing = { status: () => Promise.reject(new Error('database exploded at 10.0.0.7')) } as unknown as GantryService;
    const srv = testServer(failing, { logger: pino({ level: 'info' }, sink) });
    try {
      const r = await srv.inject({ method: 'GET', url: '/v1/releases/shop/production', headers: auth('alice') });
      expect(r.statusCode).toBe(500);
      const body = r.json<{ error: string; message: string; requestId: string }>();
      expect(body.error).toBe('internal');
      expect(body.message).toBe(`internal error (request ${body.requestId}); the details are in the Gantry API server log`);
      expect(r.body).not.toContain('database exploded');
      expect(r.headers['x-request-id']).toBe(body.requestId);
      const log = lines.join('');
      const failed = lines.map((l) => JSON.parse(l) as { msg: string; reqId?: string; err?: { message: string } }).find((l) => l.msg === 'request failed');
      expect(failed).toMatchObject({ reqId: body.requestId, err: { message: 'database exploded at 10.0.0.7' } });
      expect(log).not.toContain(people.alice.token);
      const unauth = await srv.inject({ method: 'GET', url: '/v1/releases', headers: { authorization: 'Bearer leaked-token-value-123456' } });
      expect(unauth.statusCode).toBe(401);
      expect(lines.join('')).not.toContain('leaked-token-value');
    } finally {
      await srv.close();
    }
  });

  it('Temporal being unreachable is a 503 that says so and how to start it', async () => {
    const grpc = Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 });
    const down = { status: () => Promise.reject(new ServiceError('Failed to query Workflow', { cause: grpc })) } as unknown as GantryService;
    const srv = testServer(down);
    try {
      const r = await srv.inject({ method: 'GET', url: '/v1/releases/shop/production', headers: auth('alice') });
      expect(r.statusCode).toBe(503);
      expect(r.json()).toMatchObject({ error: 'unavailable', message: 'Temporal is not reachable from the Gantry API', hint: expect.stringMatching(/npm start/) });
    } finally {
      await srv.close();
    }
  });
});
