// Status back to GitHub (activities/github.ts) against a local HTTP server on 127.0.0.1 that plays a
// GitHub Enterprise API (base URL with /api/v3) and records every request.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment as BaseMockEnv } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createGitHubActivities, GANTRY_DEPLOY_TASK } from '../../activities/github.js';
import { startRecorder, type Answer, type Recorded, type Recorder } from './recorder.js';
import { startHarness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { loadWorkerConfig } from '../../runtime/config.js';
import { createReleaseWorkerActivities } from '../../worker/activities.js';

/** Activity context, with the SDK's "activity failed" warnings silenced (the tests assert on the failures). */
class MockActivityEnvironment extends BaseMockEnv {
  constructor(workflowId?: string) { super(workflowId ? { workflowExecution: { workflowId, runId: 'run-1' } } : undefined, { logger: new DefaultLogger('ERROR') }); }
}

const TOKEN = 'ghp_test_token_5e4d3c2b1a';
const SHA = 'a'.repeat(40);
let rec: Recorder;

/** A tiny stateful GitHub: commit statuses, deployments and deployment statuses. */
function fakeGitHub() {
  const statuses: { id: number; sha: string; context: string; state: string; description: string | null; target_url: string | null }[] = [];
  const deployments: { id: number; sha: string; environment: string; task: string }[] = [];
  const dstatuses: { id: number; deployment: number; state: string; description: string | null; log_url: string | null }[] = [];
  let next = 100;
  const handler = (r: Recorded): Answer | undefined => {
    const p = r.path.replace(/^\/api\/v3/, '');
    const body = (r.json ?? {}) as Record<string, string>;
    let m: RegExpExecArray | null;
    if ((m = /^\/repos\/acme\/shop\/commits\/([0-9a-f]+)\/statuses$/.exec(p)) && r.method === 'GET') return { body: statuses.filter((s) => s.sha === m![1]).reverse() };
    if ((m = /^\/repos\/acme\/shop\/statuses\/([0-9a-f]+)$/.exec(p)) && r.method === 'POST') {
      const s = { id: next++, sha: m[1]!, context: body.context!, state: body.state!, description: body.description ?? null, target_url: body.target_url ?? null };
      statuses.push(s);
      return { status: 201, body: s };
    }
    if (p === '/repos/acme/shop/deployments' && r.method === 'GET') {
      return { body: deployments.filter((d) => d.sha === r.query.get('sha') && d.environment === r.query.get('environment') && d.task === r.query.get('task')).reverse() };
    }
    if (p === '/repos/acme/shop/deployments' && r.method === 'POST') {
      const d = { id: next++, sha: body.ref!, environment: body.environment!, task: body.task! };
      deployments.push(d);
      return { status: 201, body: d };
    }
    if ((m = /^\/repos\/acme\/shop\/deployments\/(\d+)\/statuses$/.exec(p))) {
      const id = Number(m[1]);
      if (r.method === 'GET') return { body: dstatuses.filter((s) => s.deployment === id).reverse() };
      const s = { id: next++, deployment: id, state: body.state!, description: body.description ?? null, log_url: body.log_url ?? null };
      dstatuses.push(s);
      return { status: 201, body: s };
    }
    return { status: 404, body: { message: 'Not Found' } };
  };
  return { handler, statuses, deployments, dstatuses };
}

beforeAll(async () => { rec = await startRecorder(); });
afterAll(async () => { await rec?.close(); });

const activities = () => createGitHubActivities({ baseUrl: `${rec.url}/api/v3`, env: { GANTRY_GITHUB_TOKEN: TOKEN } });
const writes = () => rec.requests.filter((r) => r.method === 'POST');

describe('GitHub status activities (local recording server as a GitHub Enterprise API)', () => {
  it('commit status per stage: posted once, with the token, at the configured base URL; a repeat changes nothing', async () => {
    const gh = fakeGitHub();
    rec.handler = gh.handler;
    rec.requests.length = 0;
    const env = new MockActivityEnvironment();
    const a = activities();
    const input = { repo: 'acme/shop', sha: SHA, context: 'gantry/release:production', state: 'pending' as const, description: 'releasing to production' };
    expect(await env.run(a.githubCommitStatus, input)).toEqual({ changed: true, id: 100 });
    expect(await env.run(a.githubCommitStatus, input)).toEqual({ changed: false, id: 100 });
    expect(await env.run(a.githubCommitStatus, { ...input, state: 'success' as const, description: 'production: succeeded' })).toEqual({ changed: true, id: 101 });
    expect(writes().map((r) => [r.path, r.json])).toEqual([
      [`/api/v3/repos/acme/shop/statuses/${SHA}`, { state: 'pending', context: 'gantry/release:production', description: 'releasing to production' }],
      [`/api/v3/repos/acme/shop/statuses/${SHA}`, { state: 'success', context: 'gantry/release:production', description: 'production: succeeded' }],
    ]);
    expect(rec.requests.every((r) => r.headers.authorization === `token ${TOKEN}`)).toBe(true);
    expect(rec.requests.every((r) => r.path.startsWith('/api/v3/'))).toBe(true);
  });

  it('deployment status per environment: the deployment is created once, statuses only when they change', async () => {
    const gh = fakeGitHub();
    rec.handler = gh.handler;
    rec.requests.length = 0;
    const env = new MockActivityEnvironment();
    const a = activities();
    const base = { repo: 'acme/shop', sha: SHA, environment: 'production' };
    const first = await env.run(a.githubDeploymentStatus, { ...base, state: 'in_progress' as const, description: 'group 1 of 3' });
    expect(first).toEqual({ changed: true, deploymentId: 100, id: 101 });
    expect(await env.run(a.githubDeploymentStatus, { ...base, state: 'in_progress' as const, description: 'group 1 of 3' })).toEqual({ changed: false, deploymentId: 100, id: 101 });
    expect(await env.run(a.githubDeploymentStatus, { ...base, state: 'success' as const, description: 'done' })).toMatchObject({ changed: true, deploymentId: 100 });
    expect(await env.run(a.githubDeploymentStatus, { ...base, environment: 'staging', state: 'success' as const })).toMatchObject({ changed: true, deploymentId: 103 });
    expect(gh.deployments).toEqual([{ id: 100, sha: SHA, environment: 'production', task: GANTRY_DEPLOY_TASK }, { id: 103, sha: SHA, environment: 'staging', task: GANTRY_DEPLOY_TASK }]);
    expect(gh.dstatuses.map((s) => [s.deployment, s.state])).toEqual([[100, 'in_progress'], [100, 'success'], [103, 'success']]);
    const created = writes().find((r) => r.path === '/api/v3/repos/acme/shop/deployments');
    expect(created?.json).toMatchObject({ ref: SHA, environment: 'production', auto_merge: false, required_contexts: [], task: GANTRY_DEPLOY_TASK });
  });

  it('with GANTRY_PUBLIC_URL: commit statuses link to the pipeline page (gates-only for a gates run), deployment statuses to the release page', async () => {
    const gh = fakeGitHub();
    rec.handler = gh.handler;
    rec.requests.length = 0;
    const a = createGitHubActivities({ baseUrl: `${rec.url}/api/v3`, env: { GANTRY_GITHUB_TOKEN: TOKEN }, publicUrl: 'https://gantry.example.com' });
    const input = { repo: 'acme/shop', sha: SHA, context: 'gantry/gates', state: 'pending' as const };
    const pipe = new MockActivityEnvironment(`pipeline/acme/shop/${SHA}`);
    expect(await pipe.run(a.githubCommitStatus, input)).toEqual({ changed: true, id: 100 });
    expect(await pipe.run(a.githubCommitStatus, input)).toEqual({ changed: false, id: 100 });
    expect(await new MockActivityEnvironment(`gates/acme/shop/${SHA}`).run(a.githubCommitStatus, { ...input, context: 'gantry/checkout' })).toEqual({ changed: true, id: 101 });
    expect(gh.statuses.map((s) => [s.context, s.target_url])).toEqual([
      ['gantry/gates', `https://gantry.example.com/ui/pipelines/acme/shop/${SHA}`],
      ['gantry/checkout', `https://gantry.example.com/ui/pipelines/acme/shop/${SHA}?gates=1`],
    ]);
    // The app names the release page; a segment that needs encoding is encoded.
    const base = { repo: 'acme/shop', sha: SHA, state: 'in_progress' as const };
    await pipe.run(a.githubDeploymentStatus, { ...base, environment: 'production', app: 'shop' });
    expect(await pipe.run(a.githubDeploymentStatus, { ...base, environment: 'production', app: 'shop' })).toMatchObject({ changed: false });
    await pipe.run(a.githubDeploymentStatus, { ...base, environment: 'eu west', app: 'shop' });
    await pipe.run(a.githubDeploymentStatus, { ...base, environment: 'staging' });
    expect(gh.dstatuses.map((s) => s.log_url)).toEqual([
      'https://gantry.example.com/ui/releases/shop/production',
      'https://gantry.example.com/ui/releases/shop/eu%20west',
      `https://gantry.example.com/ui/pipelines/acme/shop/${SHA}`,
    ]);
    // Without it (the other tests here), nothing links: no target_url, no log_url.
    gh.statuses.length = 0;
    gh.dstatuses.length = 0;
    await pipe.run(activities().githubCommitStatus, { ...input, context: 'gantry/build' });
    await pipe.run(activities().githubDeploymentStatus, { ...base, environment: 'canary', app: 'shop' });
    expect(writes().slice(-2).map((r) => Object.keys(r.json as object).filter((k) => k.endsWith('_url')))).toEqual([[], []]);
    expect([gh.statuses[0]!.target_url, gh.dstatuses[0]!.log_url]).toEqual([null, null]);
  });

  it("the worker's GANTRY_PUBLIC_URL reaches the GitHub activities the composition root builds", async () => {
    const gh = fakeGitHub();
    rec.handler = gh.handler;
    const probe = { exists: () => false, home: '/home/g', which: () => undefined, unwritable: () => undefined };
    const config = loadWorkerConfig({ HOME: '/home/g', GANTRY_CLUSTER: 'sim', GANTRY_GITHUB_API_URL: `${rec.url}/api/v3`, GANTRY_GITHUB_TOKEN: TOKEN, GANTRY_PUBLIC_URL: 'https://gantry.example.com/' }, probe);
    const a = createReleaseWorkerActivities(config);
    await new MockActivityEnvironment(`pipeline/acme/shop/${SHA}`).run(a.githubCommitStatus, { repo: 'acme/shop', sha: SHA, context: 'gantry/gates', state: 'success' as const });
    expect(gh.statuses.map((s) => s.target_url)).toEqual([`https://gantry.example.com/ui/pipelines/acme/shop/${SHA}`]);
  });

  // The type (workflows/failures.ts) says whether to retry; the HTTP status is in the details.
  const failures: [string, Answer, boolean, string][] = [
    ['401 bad credentials', { status: 401, body: { message: 'Bad credentials' } }, true, 'GitHubRejected'],
    ['403 forbidden', { status: 403, body: { message: 'Resource not accessible by integration' } }, true, 'GitHubRejected'],
    ['404 not found', { status: 404, body: { message: 'Not Found' } }, true, 'GitHubRejected'],
    ['422 validation', { status: 422, body: { message: 'Validation Failed' } }, true, 'GitHubRejected'],
    ['429 too many requests', { status: 429, headers: { 'retry-after': '7' }, body: { message: 'slow down' } }, false, 'GitHubRateLimited'],
    ['403 rate limit exhausted', { status: 403, headers: { 'x-ratelimit-remaining': '0' }, body: { message: 'API rate limit exceeded' } }, false, 'GitHubRateLimited'],
    ['500 server error', { status: 500, body: { message: 'boom' } }, false, 'GitHubUnavailable'],
    ['502 bad gateway', { status: 502, body: { message: 'bad gateway' } }, false, 'GitHubUnavailable'],
  ];
  it.each(failures)('%s: mapped for the retry policy; the token is never in the message', async (_name, answer, nonRetryable, type) => {
    rec.handler = () => answer;
    const err = await new MockActivityEnvironment().run(activities().githubCommitStatus, { repo: 'acme/shop', sha: SHA, context: 'gantry/gates', state: 'failure' as const }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const f = err as ApplicationFailure;
    expect({ type: f.type, nonRetryable: f.nonRetryable }).toEqual({ type, nonRetryable });
    expect(f.details?.[0]).toMatchObject({ status: answer.status, hint: expect.any(String) });
    expect(f.message).toMatch(new RegExp(`^commit status gantry/gates of acme/shop@a{12}: GitHub answered ${answer.status}`));
    expect(f.message).not.toContain(TOKEN);
    if (answer.status === 429) expect(f.nextRetryDelay).toBe('7s');
  });

  it('a network failure is retryable; no token, or a name that is not owner/repo, is non-retryable and calls nothing', async () => {
    const dead = createGitHubActivities({ baseUrl: 'http://127.0.0.1:9', env: { GANTRY_GITHUB_TOKEN: TOKEN } });
    const net = await dead.githubCommitStatus({ repo: 'acme/shop', sha: SHA, context: 'c', state: 'pending' }).then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as ApplicationFailure);
    expect({ type: net.type, nonRetryable: net.nonRetryable }).toEqual({ type: 'GitHubUnavailable', nonRetryable: false });
    rec.requests.length = 0;
    const none = createGitHubActivities({ baseUrl: rec.url, env: {} });
    const missing = await none.githubDeploymentStatus({ repo: 'acme/shop', sha: SHA, environment: 'production', state: 'success' }).then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as ApplicationFailure);
    expect({ type: missing.type, nonRetryable: missing.nonRetryable, message: missing.message }).toEqual({ type: 'GitHubNotConfigured', nonRetryable: true, message: 'no GitHub token on the worker: set GANTRY_GITHUB_TOKEN' });
    const custom = createGitHubActivities({ baseUrl: rec.url, env: { OTHER: TOKEN } });
    const bad = await custom.githubCommitStatus({ repo: 'shop', sha: SHA, context: 'c', state: 'pending', tokenEnv: 'OTHER' }).then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as ApplicationFailure);
    expect({ type: bad.type, nonRetryable: bad.nonRetryable }).toEqual({ type: 'GitHubBadInput', nonRetryable: true });
    expect(rec.requests).toHaveLength(0);
  });
});

describe('the pipeline reports to GitHub (real dev server, local GitHub)', () => {
  it('a commit status per stage and a deployment status per environment, pending then success', async () => {
    const gh = fakeGitHub();
    rec.handler = gh.handler;
    const h = await startHarness({}, createGitHubActivities({ env: { GANTRY_GITHUB_TOKEN: TOKEN }, publicUrl: 'https://gantry.example.com' }));
    try {
      const app = unique('ghs');
      const config = seedConfig(app, { groups: [{ pods: 'rest' }] });
      await h.service.startPipeline({ config, repo: 'acme/shop', sha: SHA, revision: { digest: DIGEST_A }, github: { baseUrl: `${rec.url}/api/v3`, tokenEnv: 'GANTRY_GITHUB_TOKEN' } }, { identity: { id: 'dave', groups: [] }, channel: 'api' });
      await h.client.workflow.getHandle(`pipeline/acme/shop/${SHA}`).result();
      expect(gh.statuses.filter((s) => s.context === 'gantry/release:production').map((s) => s.state)).toEqual(['pending', 'success']);
      expect(gh.deployments).toEqual([expect.objectContaining({ sha: SHA, environment: 'production' })]);
      expect(gh.dstatuses.map((s) => s.state)).toEqual(['in_progress', 'success']);
      // The worker's GANTRY_PUBLIC_URL: every status links to the console, a deployment to its release.
      expect(new Set(gh.statuses.map((s) => s.target_url))).toEqual(new Set([`https://gantry.example.com/ui/pipelines/acme/shop/${SHA}`]));
      expect(gh.dstatuses.map((s) => s.log_url)).toEqual([`https://gantry.example.com/ui/releases/${app}/production`, `https://gantry.example.com/ui/releases/${app}/production`]);
      expect(rec.requests.every((r) => r.headers.authorization === `token ${TOKEN}` || r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    } finally {
      await h.close();
    }
  });
});
