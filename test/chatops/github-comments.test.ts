// GitHub ChatOps end to end: `/gantry …` in real issue_comment / commit_comment deliveries (from
// @octokit/webhooks-examples, signed in the test) become decisions of the mapped Gantry identity via
// 'github', on the real Temporal dev server; the reply comment goes to a local recording GitHub API.
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import MarkdownIt from 'markdown-it';
import { triggerConfig } from '../../api/server-config.js';
import { controlCharacterIn } from '../../core/text.js';
import '../api/inject-shim.js';
import { decisionsOf, startWaitingRelease, testServer, until } from '../api/helpers.js';
import { startHarness, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { example, signGitHub, startRecorder, type Recorder } from '../triggers/recorder.js';

const SECRET = 'whsec-comments-1a2b3c4d5e';
const TOKEN = 'ghp_reply_token_9z8y7x';
let h: Harness;
let rec: Recorder;
let server: FastifyInstance;
const REPO = `Codertocat/${unique('hello')}`;

beforeAll(async () => {
  h = await startHarness();
  rec = await startRecorder(() => ({ status: 201, body: { id: 1 } }));
  const triggers = triggerConfig({
    github: { api_url: `${rec.url}/api/v3`, token_env: 'REPLY_TOKEN' },
    repos: [{ name: REPO, config: '/nonexistent/gantry.yaml', secret_env: 'HOOK_SECRET' }],
    identities: [{ id: 'frank', groups: ['sre'] }],
    chat: { github: { Codertocat: 'frank', octocat: 'carol' } },
  }, { env: { HOOK_SECRET: SECRET, REPLY_TOKEN: TOKEN } });
  server = testServer(h.service, { triggers });
  await server.ready();
});
afterAll(async () => {
  await server?.close();
  await rec?.close();
  await h?.close();
});

interface Comment { action: string; repository: { full_name: string }; sender: { login: string; type: string }; comment: { body: string; commit_id?: string; user: { login: string } }; issue?: { number: number } }

function comment(event: 'issue_comment' | 'commit_comment', body: string, o: { action?: string; login?: string } = {}): Comment {
  const p = example<Comment>(event, (e) => e.action === (o.action ?? 'created'));
  p.repository.full_name = REPO;
  p.comment.body = body;
  if (o.login) { p.sender.login = o.login; p.comment.user.login = o.login; }
  return p;
}

async function deliver(event: string, payload: unknown, o: { delivery?: string; secret?: string } = {}) {
  const body = JSON.stringify(payload);
  return server.inject({
    method: 'POST', url: '/v1/webhooks/github', payload: body,
    headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': o.delivery ?? crypto.randomUUID(), 'x-hub-signature-256': await signGitHub(o.secret ?? SECRET, body) },
  });
}

const startWaiting = () => startWaitingRelease(h.service, 'ghc');

/** What a reply renders to (CommonMark): @mentions in plain text (outside code spans) and HTML, links or images. */
function rendered(markdown: string): { mentions: string[]; markup: string[] } {
  const out = { mentions: [] as string[], markup: [] as string[] };
  for (const block of new MarkdownIt('commonmark').parse(markdown, {})) {
    if (block.type === 'html_block') out.markup.push(block.content);
    for (const t of block.children ?? []) {
      if (t.type === 'text') out.mentions.push(...(t.content.match(/@[A-Za-z0-9][\w/-]*/g) ?? []));
      if (['html_inline', 'image', 'link_open'].includes(t.type)) out.markup.push(t.type);
    }
  }
  return out;
}
const decisions = (app: string) => decisionsOf(h.service, app);

describe('GitHub comment commands', () => {
  it('`/gantry approve` on a pull request approves as the mapped identity via github; the reply is a comment; a redelivery decides nothing twice', async () => {
    const app = await startWaiting();
    rec.requests.length = 0;
    const payload = comment('issue_comment', `Checked the canary.\n/gantry approve ${app}/production canary is clean`);
    const delivery = crypto.randomUUID();
    const r = await deliver('issue_comment', payload, { delivery });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ ok: true, command: `approve ${app}/production canary is clean`, reply: expect.stringMatching(new RegExp(`^✓ approve of ${app}/production \\(group 2\\) by frank via github: canary is clean\\n`)) });
    const again = await deliver('issue_comment', payload, { delivery });
    expect(again.json()).toMatchObject({ ok: true, delivery: 'repeated' });
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    expect(final.decisions).toEqual([expect.objectContaining({ action: 'approve', by: 'frank', channel: 'github', comment: 'canary is clean', group: 1 })]);
    const replies = await until('the reply comment', () => (rec.requests.length >= 1 ? rec.requests : undefined));
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ method: 'POST', path: `/api/v3/repos/${REPO}/issues/${payload.issue!.number}/comments` });
    expect(replies[0]!.headers.authorization).toBe(`token ${TOKEN}`);
    expect((replies[0]!.json as { body: string }).body).toMatch(new RegExp(`^@Codertocat ✓ approve of ${app}/production \\(group 2\\) by frank via github`));
  });

  it('`/gantry pause` in a commit comment pauses; the reply goes on the commit', async () => {
    const app = await startWaiting();
    rec.requests.length = 0;
    const payload = comment('commit_comment', `/gantry pause ${app}/production`);
    const r = await deliver('commit_comment', payload);
    expect(r.json()).toMatchObject({ ok: true, reply: expect.stringMatching(new RegExp(`^✓ pause of ${app}/production .*by frank via github`)) });
    expect(await decisions(app)).toEqual([expect.objectContaining({ action: 'pause', by: 'frank', channel: 'github' })]);
    const reply = await until('the reply comment', () => rec.requests[0]);
    expect(reply.path).toBe(`/api/v3/repos/${REPO}/commits/${payload.comment.commit_id}/comments`);
    await h.service.decide(app, 'production', 'abort', { identity: { id: 'frank', groups: ['sre'] }, channel: 'api' });
  });

  it('refusals: the author (four-eyes), unknown logins, forged signatures; edits and comments without a command are ignored', async () => {
    const app = await startWaiting();
    const author = await deliver('issue_comment', comment('issue_comment', `/gantry approve ${app}/production`, { login: 'octocat' }));
    expect(author.json()).toMatchObject({ ok: false, reply: `✗ approve of ${app}/production refused: carol is the author of this change and may not approve its release (four-eyes)` });
    const unknown = await deliver('issue_comment', comment('issue_comment', `/gantry approve ${app}/production`, { login: 'mallory' }));
    expect(unknown.json()).toMatchObject({ ok: false, reply: '✗ GitHub user @mallory is not a Gantry user, so nothing was done. Ask a Gantry admin to add chat.github: { mallory: <gantry id> } to the server config.' });
    const forged = await deliver('issue_comment', comment('issue_comment', `/gantry approve ${app}/production`), { secret: 'not-the-secret' });
    expect(forged.statusCode).toBe(401);
    const edited = await deliver('issue_comment', comment('issue_comment', `/gantry approve ${app}/production`, { action: 'edited' }));
    expect(edited.json()).toEqual({ ignored: 'comment edited: only new comments carry commands' });
    const chatter = await deliver('issue_comment', comment('issue_comment', 'nice work, will /gantry approve later'));
    expect(chatter.json()).toEqual({ ignored: 'no /gantry command in the comment' });
    expect(await decisions(app)).toEqual([]);
    expect((await h.service.status(app, 'production')).phase).toBe('waiting-approval');
    await h.service.decide(app, 'production', 'abort', { identity: { id: 'frank', groups: ['sre'] }, channel: 'api' });
  });

  it('issue 12: a command the rendered comment does not show (HTML comment, indented code, other fence, <details>) decides nothing', async () => {
    const app = await startWaiting();
    const hidden = [
      `Looks good.\n<!--\n/gantry approve ${app}/production\n-->`,
      `Looks good.\n\n    /gantry approve ${app}/production`,
      `\`\`\`\`\n\`\`\`\n/gantry approve ${app}/production\n\`\`\`\``,
      `~~~\n\`\`\`\n/gantry approve ${app}/production\n~~~`,
      `<details>\n\n/gantry approve ${app}/production\n\n</details>`,
      `> /gantry approve ${app}/production`,
    ];
    for (const body of hidden) {
      const r = await deliver('issue_comment', comment('issue_comment', body));
      expect({ body, answer: r.json() as unknown }).toEqual({ body, answer: { ignored: 'no /gantry command in the comment' } });
    }
    expect(await decisions(app)).toEqual([]);
    // The same comment with the command visible after the hidden one runs the visible one.
    const r = await deliver('issue_comment', comment('issue_comment', `<!--\n/gantry approve ${app}/production\n-->\n/gantry pause ${app}/production`));
    expect(r.json()).toMatchObject({ ok: true, command: `pause ${app}/production` });
    expect(await decisions(app)).toEqual([expect.objectContaining({ action: 'pause', by: 'frank', channel: 'github' })]);
    await h.service.decide(app, 'production', 'abort', { identity: { id: 'frank', groups: ['sre'] }, channel: 'api' });
  });

  it('issue 12: a reply never pings the people and teams the comment names, and echoes nothing raw', async () => {
    const app = await startWaiting();
    rec.requests.length = 0;
    const refused = await deliver('issue_comment', comment('issue_comment', `/gantry @acme/sre-team ${app}/production`));
    expect(refused.json()).toMatchObject({ ok: false, reply: expect.stringMatching(/^✗ unknown command '@acme\/sre-team'\. Usage: /) });
    const html = await deliver('issue_comment', comment('issue_comment', '/gantry approve <img/src=x>'));
    expect(html.json()).toMatchObject({ ok: false, reply: expect.stringMatching(/^✗ '<img' is not an app name/) });
    const approved = await deliver('issue_comment', comment('issue_comment', `/gantry approve ${app}/production thanks @octocat and @acme/sre-team **really** \u001b[2J`));
    expect(approved.json()).toMatchObject({ ok: true });
    const bodies = (await until('three replies', () => (rec.requests.length >= 3 ? rec.requests : undefined))).map((r) => (r.json as { body: string }).body);
    // Only the commenter is mentioned; every other @name is in a code span (GitHub notifies no one there).
    for (const body of bodies) {
      expect(body.startsWith('@Codertocat ')).toBe(true);
      expect(controlCharacterIn(body.replace(/\n/g, ''))).toBeUndefined();
      expect(rendered(body.slice('@Codertocat '.length))).toEqual({ mentions: [], markup: [] });
    }
    expect(bodies.find((b) => b.includes('unknown command'))).toMatch(/^@Codertocat ✗ unknown command '`@acme\/sre-team`'\. Usage: `\/gantry approve\|/);
    expect(bodies.find((b) => b.includes('is not an app name'))).toMatch(/^@Codertocat ✗ '\\<img' is not an app name/);
    expect(bodies.find((b) => b.includes('✓ approve'))).toContain('by frank via github: thanks `@octocat` and `@acme/sre-team` really \\\\u{1b}\\[2J');
    await h.service.waitForRelease(app, 'production');
  });
});
