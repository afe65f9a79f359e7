// GitHub push webhooks on the HTTP API, with real example deliveries from @octokit/webhooks-examples
// signed in the test, on the real Temporal dev server (in-process worker, simulated cluster).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import { triggerConfig } from '../../api/server-config.js';
import { pipelineWorkflowId, releaseWorkflowId } from '../../workflows/messages.js';
import '../api/inject-shim.js';
import { configYaml, testServer, until } from '../api/helpers.js';
import { startHarness, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { example, signGitHub } from './recorder.js';

const SECRET = 'whsec-test-0f9e8d7c6b5a';
let h: Harness;
let dir: string;

beforeAll(async () => {
  h = await startHarness();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-push-'));
});
afterAll(async () => {
  await h?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Push { ref: string; after: string; deleted: boolean; head_commit: { id: string; author: { username: string } } | null; repository: { full_name: string } }

/** A repository served by a fresh server: its gantry.yaml (with tag and branch rules) and secret. */
async function setup(opts: { cloneUrl?: string } = {}): Promise<{ app: string; repo: string; server: FastifyInstance }> {
  const app = unique('push');
  const repo = `Codertocat/${app}`;
  const file = path.join(dir, `${app}.yaml`);
  fs.writeFileSync(file, `${configYaml(app, { manual: false })}triggers:
  branches:
    - { pattern: master, action: pipeline }
    - { pattern: 'docs/**', action: none }
    - { pattern: '**', action: gates }
  tags:
    - { pattern: 'simple-*', environment: production }
`);
  const triggers = triggerConfig({ repos: [{ name: repo, config: file, secret_env: 'HELLO_SECRET', ...(opts.cloneUrl ? { clone_url: opts.cloneUrl } : {}) }], chat: { github: { Codertocat: 'carol' } } }, { env: { HELLO_SECRET: SECRET } });
  const server = testServer(h.service, { triggers });
  await server.ready();
  return { app, repo, server };
}

function pushPayload(repo: string, pick: (p: Push) => boolean): Push {
  const p = example<Push>('push', (e) => pick(e as unknown as Push));
  p.repository.full_name = repo;
  return p;
}
const branchPush = (repo: string) => pushPayload(repo, (p) => p.ref === 'refs/heads/master' && !p.deleted);

async function deliver(server: FastifyInstance, body: string, headers: Record<string, string | undefined>) {
  const clean = Object.fromEntries(Object.entries({ 'content-type': 'application/json', 'x-github-event': 'push', ...headers }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return server.inject({ method: 'POST', url: '/v1/webhooks/github', payload: body, headers: clean });
}
async function signed(server: FastifyInstance, payload: unknown, delivery = crypto.randomUUID(), event = 'push') {
  const body = JSON.stringify(payload);
  return deliver(server, body, { 'x-github-event': event, 'x-github-delivery': delivery, 'x-hub-signature-256': await signGitHub(SECRET, body) });
}

async function exists(workflowId: string): Promise<boolean> {
  return h.client.workflow.getHandle(workflowId).describe().then(() => true, () => false);
}
async function runsOf(workflowId: string): Promise<number> {
  let n = 0;
  for await (const _ of h.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
  return n;
}

describe('GitHub push webhooks', () => {
  it('a signed push to master starts the pipeline of the pushed commit (author and starter mapped from GitHub logins)', async () => {
    const { repo, server } = await setup();
    const p = branchPush(repo);
    const r = await signed(server, p);
    expect(r.statusCode).toBe(201);
    expect(r.json()).toEqual({ action: 'pipeline', started: { workflowId: pipelineWorkflowId(repo, p.after), runId: expect.any(String), existing: false }, ref: 'refs/heads/master', sha: p.after });
    const status = await until('the pipeline to answer', () => h.service.pipelineStatus(repo, p.after).catch(() => undefined));
    expect(status).toMatchObject({ repo, sha: p.after, ref: 'refs/heads/master', author: 'carol' });
    const desc = await h.client.workflow.getHandle(pipelineWorkflowId(repo, p.after)).describe();
    expect(desc.type).toBe('pipeline');
    await server.close();
  });

  it('unsigned, forged, wrong-secret and unknown-repository deliveries get 401 and start nothing', async () => {
    const { repo, server } = await setup();
    const p = branchPush(repo);
    const body = JSON.stringify(p);
    const id = pipelineWorkflowId(repo, p.after);
    const unsigned = await deliver(server, body, { 'x-github-delivery': crypto.randomUUID() });
    expect(unsigned.statusCode).toBe(401);
    expect(unsigned.json()).toMatchObject({ error: 'unauthenticated', message: 'unsigned webhook: X-Hub-Signature-256 is missing' });

    const wrong = await deliver(server, body, { 'x-github-delivery': crypto.randomUUID(), 'x-hub-signature-256': await signGitHub('not-the-secret', body) });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ error: 'unauthenticated', message: 'the webhook signature does not match', hint: expect.stringContaining('$HELLO_SECRET') });
    expect(wrong.body).not.toContain(SECRET);

    // Signed, then altered: a forged commit.
    const forgedSha = crypto.randomBytes(20).toString('hex');
    const forgedBody = body.replaceAll(p.after, forgedSha);
    const forged = await deliver(server, forgedBody, { 'x-github-delivery': crypto.randomUUID(), 'x-hub-signature-256': await signGitHub(SECRET, body) });
    expect(forged.statusCode).toBe(401);
    // Re-serialised JSON is not the signed body either: verification is on the raw bytes.
    const reserialised = await deliver(server, JSON.stringify(p, null, 2), { 'x-github-delivery': crypto.randomUUID(), 'x-hub-signature-256': await signGitHub(SECRET, body) });
    expect(reserialised.statusCode).toBe(401);
    const garbage = await deliver(server, 'not json', { 'x-github-delivery': crypto.randomUUID(), 'x-hub-signature-256': await signGitHub(SECRET, 'not json') });
    expect(garbage.statusCode).toBe(401);

    const other = { ...p, repository: { ...p.repository, full_name: 'evil/repo' } };
    const unknown = await signed(server, other);
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().message).toBe('no webhook secret is configured for this repository');

    expect(await exists(id)).toBe(false);
    expect(await exists(pipelineWorkflowId(repo, forgedSha))).toBe(false);
    // The same delivery, properly signed, is then accepted: the refusals were about the signature.
    expect((await signed(server, p)).statusCode).toBe(201);
    await server.close();
  });

  it('the same delivery sent 5 times (at once, then again), and the same commit in another delivery: one pipeline', async () => {
    const { repo, server } = await setup();
    const p = branchPush(repo);
    const delivery = crypto.randomUUID();
    const first = await Promise.all([1, 2, 3, 4, 5].map(() => signed(server, p, delivery)));
    const codes = first.map((r) => r.statusCode).sort();
    expect(codes).toEqual([200, 200, 200, 200, 201]);
    const ids = new Set(first.map((r) => r.json<{ started: { workflowId: string; runId: string } }>().started.runId));
    expect(ids.size).toBe(1);
    const again = await signed(server, p, delivery);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ delivery: 'repeated', started: { existing: false } });
    // Another delivery of the same commit (e.g. the commit pushed to a second branch): the existing pipeline.
    const other = await signed(server, { ...p, ref: 'refs/heads/master' });
    expect(other.statusCode).toBe(200);
    expect(other.json()).toMatchObject({ action: 'pipeline', started: { existing: true, runId: [...ids][0] } });
    // A fresh server (another API process, empty delivery cache) with the same delivery: still one.
    const { server: second } = await (async () => ({ server: testServer(h.service, { triggers: triggerConfig({ repos: [{ name: repo, config: path.join(dir, `${repo.split('/')[1]}.yaml`), secret_env: 'S' }] }, { env: { S: SECRET } }) }) }))();
    const fromSecond = await signed(second, p, delivery);
    expect(fromSecond.statusCode).toBe(200);
    expect(fromSecond.json()).toMatchObject({ started: { existing: true } });
    await second.close();
    const id = pipelineWorkflowId(repo, p.after);
    await until('the pipeline to be visible', async () => ((await runsOf(id)) >= 1 ? true : undefined));
    expect(await runsOf(id)).toBe(1);
    await server.close();
  });

  it('with clone_url set, a push builds from source and a gates branch gets a gates-only run', async () => {
    const { repo, server } = await setup({ cloneUrl: 'from-payload' });
    const main = branchPush(repo);
    const r = await signed(server, main);
    expect(r.statusCode).toBe(201);
    const p = await until('the pipeline to answer', () => h.service.pipelineStatus(repo, main.after).catch(() => undefined));
    expect(p.stages.slice(0, 4).map((x) => x.name)).toEqual(['checkout', 'gates', 'build', 'verify']);
    const feature = { ...branchPush(repo), ref: 'refs/heads/feature/login', after: crypto.randomBytes(20).toString('hex') };
    const g = await signed(server, feature);
    expect(g.statusCode).toBe(201);
    expect(g.json()).toMatchObject({ action: 'gates', started: { workflowId: `gates/${repo}/${feature.after}`, existing: false } });
    const gp = await until('the gates-only run to answer', () => h.service.pipelineStatus(repo, feature.after, { gatesOnly: true }).catch(() => undefined));
    expect(gp.stages.map((x) => x.name)).toEqual(['checkout', 'gates']);
    await server.close();
  });

  it('branch rules: other branches are gates only (without a clone URL nothing starts, and it says so), docs/** start nothing, deleted refs are ignored', async () => {
    const { repo, server } = await setup();
    const feature = { ...branchPush(repo), ref: 'refs/heads/feature/login', after: crypto.randomBytes(20).toString('hex') };
    const g = await signed(server, feature);
    expect(g.statusCode).toBe(200);
    expect(g.json()).toEqual({ action: 'gates', started: null, ref: 'refs/heads/feature/login', sha: feature.after, reason: "branch feature/login runs the quality gates only (rule '**'); no clone URL came with the push, so nothing was started" });
    const docs = { ...branchPush(repo), ref: 'refs/heads/docs/readme', after: crypto.randomBytes(20).toString('hex') };
    expect((await signed(server, docs)).json()).toMatchObject({ action: 'none', started: null, reason: "branch docs/readme is set to start nothing (rule 'docs/**')" });
    const deleted = pushPayload(repo, (p) => p.deleted === true);
    expect((await signed(server, deleted)).json()).toMatchObject({ action: 'ignored', started: null, reason: 'refs/tags/simple-tag was deleted: nothing to build' });
    expect(await exists(pipelineWorkflowId(repo, feature.after))).toBe(false);
    expect(await exists(pipelineWorkflowId(repo, docs.after))).toBe(false);
    // ping (sent when the webhook is created) is verified and answered.
    const ping = await signed(server, { zen: 'Keep it logically awesome.', repository: { full_name: repo } }, crypto.randomUUID(), 'ping');
    expect(ping.json()).toEqual({ ok: true, zen: 'Keep it logically awesome.' });
    await server.close();
  });

  it('a tag push releases the tagged commit to the rule\'s environment, once: a redelivery after the release finished starts nothing', async () => {
    const { app, repo, server } = await setup();
    const p = pushPayload(repo, (x) => x.ref === 'refs/tags/simple-tag' && !x.deleted);
    const r = await signed(server, p);
    expect(r.statusCode).toBe(201);
    expect(r.json()).toEqual({ action: 'release', environment: 'production', started: { workflowId: releaseWorkflowId(app, 'production'), runId: expect.any(String), existing: false }, ref: 'refs/tags/simple-tag', sha: p.after });
    const final = await h.service.waitForRelease(app, 'production');
    expect(final).toMatchObject({ phase: 'succeeded', revision: { sha: p.after, author: 'carol' }, startedBy: 'carol' });
    const redelivered = await signed(server, p); // a new delivery id: GitHub's "redeliver"
    expect(redelivered.statusCode).toBe(200);
    expect(redelivered.json()).toMatchObject({ action: 'release', started: { existing: true, runId: r.json().started.runId } });
    expect(await runsOf(releaseWorkflowId(app, 'production'))).toBe(1);
    await server.close();
  });
});
