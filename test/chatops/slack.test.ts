// Slack ChatOps on the HTTP API and the approval-message activity, on the real Temporal dev server;
// Slack's Web API and response_urls are a local recording server on 127.0.0.1.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { createSlackActivities, SLACK_METADATA_EVENT, slackNoticeSink } from '../../activities/slack.js';
import { SLACK_ACTIONS } from '../../core/slack-protocol.js';
import { triggerConfig } from '../../api/server-config.js';
import { slackSignature, verifySlackRequest } from '../../api/slack.js';
import { GantryError } from '../../api/errors.js';
import { CHAT_USAGE } from '../../core/chatops.js';
import { controlCharacterIn } from '../../core/text.js';
import type { ReleaseStatus } from '../../core/release.js';
import { releaseWorkflowId } from '../../workflows/messages.js';
import { loadWorkerConfig } from '../../runtime/config.js';
import { createReleaseWorkerActivities } from '../../worker/activities.js';
import '../api/inject-shim.js';
import { decisionsOf, startWaitingRelease, testServer, until } from '../api/helpers.js';
import { startHarness, type Harness } from '../support/release-harness.js';
import { startRecorder, type Recorded, type Recorder } from '../triggers/recorder.js';

const SIGNING_SECRET = 'slack-signing-secret-8f7e6d5c4b3a';
const BOT_TOKEN = 'xoxb-test-bot-token-1234';
let h: Harness;
let rec: Recorder;
let server: FastifyInstance;
const quiet = new DefaultLogger('ERROR');

beforeAll(async () => {
  h = await startHarness();
  rec = await startRecorder();
  const triggers = triggerConfig({
    slack: { signing_secret_env: 'SLACK_SIGNING_SECRET' },
    chat: { slack: { U0ALICE: 'alice', U0CAROL: 'carol', U0FRANK: { id: 'frank', groups: ['sre'] } } },
  }, { env: { SLACK_SIGNING_SECRET: SIGNING_SECRET } });
  server = testServer(h.service, { triggers });
  await server.ready();
});
afterAll(async () => {
  await server?.close();
  await rec?.close();
  await h?.close();
});

const now = () => Math.floor(Date.now() / 1000);

async function slack(url: string, form: Record<string, string>, o: { secret?: string; ts?: number; sign?: boolean; tamper?: (b: string) => string } = {}) {
  const body = new URLSearchParams(form).toString();
  const ts = String(o.ts ?? now());
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (o.sign !== false) { headers['x-slack-request-timestamp'] = ts; headers['x-slack-signature'] = slackSignature(o.secret ?? SIGNING_SECRET, ts, body); }
  return server.inject({ method: 'POST', url, payload: o.tamper ? o.tamper(body) : body, headers });
}
const command = (user: string, text: string, o: Parameters<typeof slack>[2] = {}) => slack('/v1/slack/commands', { command: '/gantry', text, user_id: user, user_name: user.toLowerCase(), channel_id: 'C0RELEASES', team_id: 'T0TEAM', response_url: `${rec.url}/respond/cmd` }, o);

const startWaiting = () => startWaitingRelease(h.service, 'slack');
const decisions = (app: string) => decisionsOf(h.service, app);

describe('Slack request signatures', () => {
  const body = Buffer.from('token=x&text=approve+shop%2Fproduction');
  const t = 1_700_000_000;
  const sig = slackSignature(SIGNING_SECRET, t, body);
  const cases: [string, string | undefined, string | undefined, Buffer, number, string | undefined][] = [
    ['valid', String(t), sig, body, t * 1000, undefined],
    ['valid at 299 s old', String(t), sig, body, (t + 299) * 1000, undefined],
    ['stale: 301 s old (replay)', String(t), sig, body, (t + 301) * 1000, 'stale Slack request: the timestamp is more than 5 minutes from now (a replay, or a clock off)'],
    ['from 301 s in the future', String(t), sig, body, (t - 301) * 1000, 'stale Slack request: the timestamp is more than 5 minutes from now (a replay, or a clock off)'],
    ['wrong secret', String(t), slackSignature('another-secret', t, body), body, t * 1000, 'the Slack signature does not match'],
    ['tampered body', String(t), sig, Buffer.from('token=x&text=approve+shop%2Fstaging'), t * 1000, 'the Slack signature does not match'],
    ['timestamp changed', String(t + 1), sig, body, t * 1000, 'the Slack signature does not match'],
    ['truncated signature', String(t), sig.slice(0, 20), body, t * 1000, 'the Slack signature does not match'],
    ['no signature', String(t), undefined, body, t * 1000, 'unsigned Slack request: X-Slack-Signature and X-Slack-Request-Timestamp are required'],
    ['no timestamp', undefined, sig, body, t * 1000, 'unsigned Slack request: X-Slack-Signature and X-Slack-Request-Timestamp are required'],
    ['timestamp not a number', 'soon', sig, body, t * 1000, 'bad X-Slack-Request-Timestamp'],
  ];
  it.each(cases)('%s', (_name, ts, signature, raw, at, error) => {
    const run = () => verifySlackRequest(SIGNING_SECRET, ts, signature, raw, at);
    if (error === undefined) expect(run).not.toThrow();
    else {
      let thrown: unknown;
      try { run(); } catch (err) { thrown = err; }
      expect(thrown).toBeInstanceOf(GantryError);
      expect({ code: (thrown as GantryError).code, message: (thrown as GantryError).message }).toEqual({ code: 'unauthenticated', message: error });
    }
  });
});

describe('Slack slash command /gantry (real Temporal dev server)', () => {
  it('forged, unsigned, stale and wrong-secret requests get 401 and decide nothing', async () => {
    const app = await startWaiting();
    const text = `approve ${app}/production`;
    expect((await command('U0ALICE', text, { sign: false })).statusCode).toBe(401);
    expect((await command('U0ALICE', text, { secret: 'wrong-secret' })).statusCode).toBe(401);
    expect((await command('U0ALICE', text, { ts: now() - 301 })).json()).toMatchObject({ error: 'unauthenticated', message: expect.stringMatching(/^stale Slack request/) });
    expect((await command('U0ALICE', text, { tamper: (b) => b.replace('U0ALICE', 'U0FRANK') })).statusCode).toBe(401);
    expect(await decisions(app)).toEqual([]);
    expect((await h.service.status(app, 'production')).phase).toBe('waiting-approval');
  });

  it('unknown users are refused with a clear reply; bad syntax answers the usage', async () => {
    const app = await startWaiting();
    const r = await command('U0NOBODY', `approve ${app}/production`);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ response_type: 'ephemeral', text: '✗ Slack user U0NOBODY is not a Gantry user, so nothing was done. Ask a Gantry admin to add chat.slack: { U0NOBODY: &lt;gantry id&gt; } to the server config.' });
    const bad = await command('U0ALICE', `approve ${app}`);
    // Slack text: `<` and `>` are escaped as Slack requires (raw, `<app>` would be read as a link).
    expect(bad.json()).toEqual({ response_type: 'ephemeral', text: `✗ '${app}' is not &lt;app&gt;/&lt;env&gt; (e.g. shop/production). Usage: \`${CHAT_USAGE.replace(/</g, '&lt;').replace(/>/g, '&gt;')}\`` });
    expect(await decisions(app)).toEqual([]);
  });

  it('approve through the slash command: four-eyes refusal for the author, then alice approves in the channel; recorded via slack', async () => {
    const app = await startWaiting();
    const refused = await command('U0CAROL', `approve ${app}/production`);
    expect(refused.json()).toEqual({ response_type: 'ephemeral', text: `✗ approve of ${app}/production refused: carol is the author of this change and may not approve its release (four-eyes)` });
    const status = await command('U0ALICE', `status ${app}/production`);
    expect(status.json().text).toMatch(new RegExp(`^${app}/production: waiting-approval, group 2/3 — .*\\nwaiting on approval: waiting for approval of group \\d \\(approvers: alice, bob, carol, group:sre`));
    const ok = await command('U0ALICE', `approve ${app}/production dashboards green`);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ response_type: 'in_channel', text: expect.stringMatching(new RegExp(`^✓ approve of ${app}/production \\(group 2\\) by alice via slack: dashboards green\\n`)) });
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    expect(final.decisions).toEqual([expect.objectContaining({ action: 'approve', by: 'alice', channel: 'slack', comment: 'dashboards green', group: 1 })]);
  });
});

describe('Slack: what is echoed is escaped and capped; the grammar is ASCII (issue 12)', () => {
  it('a Kelvin sign, a no-break space or a control character in the command decides nothing; the refusal is escaped and short', async () => {
    const app = await startWaiting();
    const kelvin = await command('U0ALICE', `rollbac\u212A ${app}/production`);
    expect(kelvin.json()).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(/^✗ unknown command 'rollbac\u212A' \(it contains U\+212A, which is not ASCII\)\. Usage: /) });
    const nbsp = await command('U0ALICE', `approve\u00a0${app}/production`);
    expect(nbsp.json().text).toMatch(/contains U\+00A0, a Unicode space: words are separated by ASCII spaces or tabs/);
    const ansi = await command('U0ALICE', `approve ${app}/prod\u001b[2Juction`);
    expect(ansi.json().text).toContain('contains a control character (\\u{1b})');
    expect(ansi.json().text).not.toContain('\u001b');
    const huge = await command('U0ALICE', `${'\u202e'.repeat(10)}${'z'.repeat(100_000)} ${app}/production`);
    expect(huge.json().text.length).toBeLessThan(400);
    expect(controlCharacterIn(huge.json().text)).toBeUndefined();
    expect(await decisions(app)).toEqual([]);
  });

  it('a comment is recorded as typed, but echoed escaped: no <!channel>, no mention, no ANSI in the reply', async () => {
    const app = await startWaiting();
    const comment = 'ship it <!channel> <@U0CAROL> & \u001b[31mred\u202e';
    const ok = await command('U0ALICE', `approve ${app}/production ${comment}`);
    expect(ok.json()).toEqual({ response_type: 'in_channel', text: expect.stringContaining(`: ship it &lt;!channel&gt; &lt;@U0CAROL&gt; &amp; \\u{1b}[31mred\\u{202e}\n`) });
    expect(ok.json().text).not.toMatch(/[<>]/);
    expect(controlCharacterIn(ok.json().text.replace(/\n/g, ''))).toBeUndefined();
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.decisions).toEqual([expect.objectContaining({ action: 'approve', by: 'alice', comment })]);
  });

  it('a button whose release is not <app>/<env> of DNS labels is refused before anything is looked up', async () => {
    const r = await slack('/v1/slack/interactions', {
      payload: JSON.stringify({ type: 'block_actions', user: { id: 'U0FRANK' }, actions: [{ action_id: SLACK_ACTIONS.approve, value: JSON.stringify({ app: 'shop\u001b[2J', env: 'production', group: 0, run: 'r1' }) }] }),
    });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ error: 'bad_request', message: 'the button carries no release' });
  });
});

describe('Slack approval message and buttons (activity → message → button press → Update)', () => {
  const slackApi = () => `${rec.url}/slack/api`;
  const activityEnv = (runId: string, workflowId: string, attempt = 1) => new MockActivityEnvironment({ attempt, workflowExecution: { workflowId, runId } }, { logger: quiet });

  it('the activity posts Approve/Reject buttons; pressing Approve approves the waiting group of that release as the presser, via slack', async () => {
    const app = await startWaiting();
    const wf = releaseWorkflowId(app, 'production');
    const runId = (await h.client.workflow.getHandle(wf).describe()).runId;
    const s: ReleaseStatus = await h.service.status(app, 'production');
    rec.requests.length = 0;
    rec.handler = (r: Recorded) => (r.path === '/slack/api/chat.postMessage' ? { body: { ok: true, channel: 'C0RELEASES', ts: '1700000000.000100' } } : { body: { ok: true } });
    const acts = createSlackActivities({ baseUrl: slackApi(), env: { SLACK_BOT_TOKEN: BOT_TOKEN, GANTRY_SLACK_CHANNEL: 'C0RELEASES' } });
    const posted = await activityEnv(runId, wf).run(acts.slackApprovalRequest, { app, environment: 'production', group: s.group.current - 1, reason: s.waiting!.reason, who: s.waiting!.who });
    expect(posted).toEqual({ posted: true, channel: 'C0RELEASES', ts: '1700000000.000100' });
    const post = rec.requests.find((r) => r.path === '/slack/api/chat.postMessage')!;
    expect(post.headers.authorization).toBe(`Bearer ${BOT_TOKEN}`);
    const msg = post.json as { channel: string; text: string; blocks: { type: string; elements?: { action_id: string; value: string }[] }[]; metadata: { event_type: string } };
    expect(msg.channel).toBe('C0RELEASES');
    expect(msg.text).toBe(`${app} → production: group 2 waits for approval`);
    expect(msg.metadata.event_type).toBe(SLACK_METADATA_EVENT);
    const buttons = msg.blocks.find((b) => b.type === 'actions')!.elements!;
    expect(buttons.map((b) => b.action_id)).toEqual([SLACK_ACTIONS.approve, SLACK_ACTIONS.reject]);
    expect(JSON.parse(buttons[0]!.value)).toEqual({ app, env: 'production', group: 1, run: runId });

    const press = (user: string, button: { action_id: string; value: string }, n: number) => slack('/v1/slack/interactions', {
      payload: JSON.stringify({ type: 'block_actions', user: { id: user }, response_url: `${rec.url}/respond/${n}`, container: { message_ts: '1700000000.000100' }, actions: [{ action_id: button.action_id, value: button.value, action_ts: `1700000001.00${n}` }] }),
    });
    // The author's press is refused (four-eyes), answered through response_url.
    expect((await press('U0CAROL', buttons[0]!, 1)).statusCode).toBe(200);
    const refusal = await until('the refusal reply', () => rec.requests.find((r) => r.path === '/respond/1'));
    expect(refusal.json).toEqual({ response_type: 'ephemeral', replace_original: false, text: `✗ approve of ${app}/production refused: carol is the author of this change and may not approve its release (four-eyes)` });

    const ack = await press('U0FRANK', buttons[0]!, 2);
    expect(ack.statusCode).toBe(200);
    expect(ack.body).toBe('');
    const reply = await until('the approval reply', () => rec.requests.find((r) => r.path === '/respond/2'));
    expect(reply.json).toEqual({ response_type: 'in_channel', replace_original: false, text: expect.stringMatching(new RegExp(`^✓ approve of ${app}/production \\(group 2\\) by frank via slack\\n`)) });
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    expect(final.decisions).toEqual([expect.objectContaining({ action: 'approve', by: 'frank', channel: 'slack', group: 1 })]);

    // The same button later: group 1 no longer waits, nothing is decided.
    await press('U0ALICE', buttons[0]!, 3);
    const stale = await until('the stale reply', () => rec.requests.find((r) => r.path === '/respond/3'));
    expect((stale.json as { text: string }).text).toMatch(/^✗ group 2 of .* is no longer waiting for approval \(now: succeeded, group 3\/3\); nothing was done$/);
    // A button of another release run is refused before anything is sent to the workflow.
    await press('U0ALICE', { action_id: SLACK_ACTIONS.reject, value: JSON.stringify({ app, env: 'production', group: 1, run: crypto.randomUUID() }) }, 4);
    const old = await until('the old-run reply', () => rec.requests.find((r) => r.path === '/respond/4'));
    expect((old.json as { text: string }).text).toBe(`✗ this message is about an earlier release of ${app}/production; nothing was done. Current: \`/gantry status ${app}/production\``);
    // An unknown presser is refused.
    await press('U0NOBODY', buttons[1]!, 5);
    const unknown = await until('the unknown-user reply', () => rec.requests.find((r) => r.path === '/respond/5'));
    expect((unknown.json as { text: string }).text).toMatch(/^✗ Slack user U0NOBODY is not a Gantry user/);
    expect((await decisions(app)).length).toBe(1);
  });

  it('a retried attempt finds the message an earlier attempt posted and does not post again', async () => {
    rec.requests.length = 0;
    const runId = crypto.randomUUID();
    rec.handler = (r: Recorded) => (r.path === '/slack/api/conversations.history'
      ? { body: { ok: true, messages: [{ ts: '1.1', metadata: { event_type: SLACK_METADATA_EVENT, event_payload: { key: `${runId}/2/waiting-approval` } } }] } }
      : { body: { ok: true, channel: 'C0RELEASES', ts: '2.2' } });
    const acts = createSlackActivities({ baseUrl: slackApi(), env: { SLACK_BOT_TOKEN: BOT_TOKEN }, channel: 'C0RELEASES' });
    const input = { app: 'shop', environment: 'production', group: 2, reason: 'waiting for approval of group 2' };
    expect(await activityEnv(runId, 'release/shop/production', 2).run(acts.slackApprovalRequest, input)).toEqual({ posted: false, channel: 'C0RELEASES', ts: '1.1', reason: 'already posted' });
    expect(rec.requests.map((r) => r.path)).toEqual(['/slack/api/conversations.history']);
    expect(rec.requests[0]!.query.get('channel')).toBe('C0RELEASES');
    // Another group of the same run was not posted yet: it is.
    expect(await activityEnv(runId, 'release/shop/production', 2).run(acts.slackApprovalRequest, { ...input, group: 3 })).toEqual({ posted: true, channel: 'C0RELEASES', ts: '2.2' });
    expect(rec.requests.map((r) => r.path)).toEqual(['/slack/api/conversations.history', '/slack/api/conversations.history', '/slack/api/chat.postMessage']);
  });

  it('as a sink of the notify activity: approval notices get buttons, release-window notices do not', async () => {
    rec.requests.length = 0;
    rec.handler = () => ({ body: { ok: true, channel: 'C0RELEASES', ts: '3.3' } });
    const sink = slackNoticeSink({ baseUrl: slackApi(), env: { SLACK_BOT_TOKEN: BOT_TOKEN }, channel: 'C0RELEASES' });
    const notice = { releaseId: 'release/shop/production', app: 'shop', environment: 'production', message: 'waiting for approval of group 2', to: { users: ['alice'], groups: ['sre'] }, group: 1 };
    expect(await activityEnv('run-1', 'release/shop/production').run(sink, { ...notice, kind: 'waiting-approval' as const })).toBe(true);
    expect(await activityEnv('run-1', 'release/shop/production').run(sink, { ...notice, kind: 'waiting-window' as const, message: 'outside the release window' })).toBe(true);
    const [approval, window] = rec.requests.map((r) => r.json as { text: string; blocks: { type: string; text?: { text: string } }[] });
    expect(approval!.text).toBe('shop → production: group 2 waits for approval');
    expect(approval!.blocks.map((b) => b.type)).toEqual(['section', 'actions', 'context']);
    expect(approval!.blocks[0]!.text!.text).toContain('Who can approve: alice, group:sre');
    expect(window!.text).toBe('shop → production: group 2 waits for its release window');
    expect(window!.blocks.map((b) => b.type)).toEqual(['section']);
    // Without GANTRY_PUBLIC_URL no notice links anywhere.
    expect(rec.requests.map((r) => JSON.stringify(r.json))).not.toContainEqual(expect.stringMatching(/Open in console|\/ui\//));
  });

  it('with GANTRY_PUBLIC_URL, waiting-approval, escalation and window notices end with an "Open in console" link to the release page', async () => {
    rec.requests.length = 0;
    rec.handler = () => ({ body: { ok: true, channel: 'C0RELEASES', ts: '4.4' } });
    const sink = slackNoticeSink({ baseUrl: slackApi(), env: { SLACK_BOT_TOKEN: BOT_TOKEN }, channel: 'C0RELEASES', publicUrl: 'https://gantry.example.com' });
    const notice = { releaseId: 'release/shop/production', app: 'shop', environment: 'production', message: 'waiting for approval of group 2', to: { users: ['alice'], groups: [] }, group: 1 };
    for (const kind of ['waiting-approval', 'escalation', 'waiting-window'] as const) {
      expect(await activityEnv('run-2', 'release/shop/production').run(sink, { ...notice, kind })).toBe(true);
    }
    const posted = rec.requests.map((r) => r.json as { blocks: { type: string; elements?: { type: string; text?: string }[] }[] });
    expect(posted.map((m) => m.blocks.map((b) => b.type))).toEqual([['section', 'actions', 'context', 'context'], ['section', 'actions', 'context', 'context'], ['section', 'context']]);
    for (const m of posted) expect(m.blocks.at(-1)!.elements).toEqual([{ type: 'mrkdwn', text: '<https://gantry.example.com/ui/releases/shop/production|Open in console>' }]);
  });

  it("the worker's GANTRY_PUBLIC_URL reaches the Slack sink the composition root builds", async () => {
    rec.requests.length = 0;
    rec.handler = () => ({ body: { ok: true, channel: 'C0RELEASES', ts: '5.5' } });
    const probe = { exists: () => false, home: '/home/g', which: () => undefined, unwritable: () => undefined };
    const config = loadWorkerConfig({ HOME: '/home/g', GANTRY_CLUSTER: 'sim', GANTRY_SLACK_API_URL: slackApi(), SLACK_BOT_TOKEN: BOT_TOKEN, GANTRY_SLACK_CHANNEL: 'C0RELEASES', GANTRY_PUBLIC_URL: 'https://gantry.example.com' }, probe);
    const a = createReleaseWorkerActivities(config);
    const notice = { releaseId: 'release/shop/staging', app: 'shop', environment: 'staging', message: 'waiting for approval of group 1', to: { users: ['alice'], groups: [] }, group: 0, kind: 'waiting-approval' as const };
    expect(await activityEnv('run-3', 'release/shop/staging').run(a.notify, notice)).toMatchObject({ delivered: true });
    expect(JSON.stringify(rec.requests.map((r) => r.json))).toContain('<https://gantry.example.com/ui/releases/shop/staging|Open in console>');
  });

  it('Slack errors are mapped for the retry policy; without a token nothing is posted', async () => {
    const acts = createSlackActivities({ baseUrl: slackApi(), env: { SLACK_BOT_TOKEN: BOT_TOKEN }, channel: 'C0RELEASES' });
    const input = { app: 'shop', environment: 'production', group: 1, reason: 'waiting' };
    const run = () => activityEnv('r', 'w').run(acts.slackApprovalRequest, input).catch((e: unknown) => e as ApplicationFailure);
    // The type (workflows/failures.ts) says whether to retry; Slack's code or the HTTP status is a detail.
    const detail = (f: unknown) => (f as ApplicationFailure).details?.[0];
    rec.handler = () => ({ body: { ok: false, error: 'invalid_auth' } });
    let f = await run();
    expect(f).toMatchObject({ type: 'SlackRejected', nonRetryable: true, message: 'Slack chat.postMessage: invalid_auth' });
    expect(detail(f)).toMatchObject({ code: 'invalid_auth', hint: expect.stringContaining('bot token') });
    rec.handler = () => ({ body: { ok: false, error: 'channel_not_found' } });
    f = await run();
    expect(f).toMatchObject({ type: 'SlackRejected', nonRetryable: true });
    expect(detail(f)).toMatchObject({ code: 'channel_not_found' });
    rec.handler = () => ({ body: { ok: false, error: 'ratelimited' } });
    expect(await run()).toMatchObject({ type: 'SlackRateLimited', nonRetryable: false });
    rec.handler = () => ({ body: { ok: false, error: 'internal_error' } });
    expect(await run()).toMatchObject({ type: 'SlackUnavailable', nonRetryable: false });
    rec.handler = () => ({ status: 429, headers: { 'retry-after': '3' }, body: { ok: false } });
    f = await run();
    expect(f).toMatchObject({ type: 'SlackRateLimited', nonRetryable: false, nextRetryDelay: '3s' });
    expect(detail(f)).toMatchObject({ status: 429 });
    rec.handler = () => ({ status: 503, body: {} });
    expect(await run()).toMatchObject({ type: 'SlackUnavailable', nonRetryable: false });
    rec.handler = () => ({ status: 404, body: {} });
    expect(await run()).toMatchObject({ type: 'SlackRejected', nonRetryable: true });
    rec.requests.length = 0;
    const none = createSlackActivities({ baseUrl: slackApi(), env: {}, channel: 'C0RELEASES' });
    expect(await activityEnv('r', 'w').run(none.slackApprovalRequest, input)).toEqual({ posted: false, reason: 'Slack is not configured on the worker (SLACK_BOT_TOKEN is not set)' });
    expect(rec.requests).toHaveLength(0);
  });
});
