// The HTTP adversarial suite: the API on a loopback port, driven with raw HTTP/1.1 bytes (so paths,
// headers and bodies arrive exactly as an attacker sends them, unnormalized), on the real Temporal dev
// server with a release waiting for approval. Bad and odd bearer tokens, forged GitHub and Slack
// signatures and timestamps, wrong content types, huge and deep bodies, prototype-pollution keys,
// odd paths and methods, then a fast-check run (fixed seed) of generated requests.
//
// For every attack: the status code; an error body that is JSON, bounded, with no control characters
// echoed and no secret in it; /healthz answering right after. At the end: no workflow was started on
// the harness's task queue, and the waiting release recorded no decision. Each attack that could start
// or decide something carries an otherwise valid request (a valid config, a real GitHub delivery, an
// approver's Slack command), so a broken check would show as a new execution or a decision.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { triggerConfig } from '../../api/server-config.js';
import { slackSignature } from '../../api/slack.js';
import { pipelineWorkflowId, releaseWorkflowId } from '../../workflows/messages.js';
import { startHarness, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { example, signGitHub } from '../triggers/recorder.js';
import { configYaml, DIGEST_A, listenOnLoopback, people, startWaitingRelease, testServer, type Person } from './helpers.js';
import { aliasBomb, listTwice, nestedJson, nestedYaml, validConfigOfSize } from './hostile-inputs.js';

const GH_SECRET = 'whsec-adversarial-5e4d3c2b1a';
const SLACK_SECRET = 'slack-adversarial-secret-0a9b8c7d';
const REPO = `Codertocat/${unique('adv')}`;
const SECRETS = [GH_SECRET, SLACK_SECRET, ...Object.values(people).map((p) => p.token)];

let h: Harness;
let server: FastifyInstance;
let port: number;
let dir: string;
/** A release waiting for approval: alice, bob, carol (author) and group sre approve; dave started it. */
let waiting: string;
let pushApp: string;
let before: string[];
const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();
const stats = { requests: 0, maxHealthzMs: 0 };

async function executions(): Promise<string[]> {
  const ids: string[] = [];
  for await (const w of h.client.workflow.list({ query: `TaskQueue = '${h.taskQueue}'` })) ids.push(`${w.workflowId}@${w.runId}`);
  return ids.sort();
}

beforeAll(async () => {
  h = await startHarness();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-adversarial-'));
  pushApp = unique('advpush');
  const file = path.join(dir, 'gantry.yaml');
  fs.writeFileSync(file, `${configYaml(pushApp, { manual: false })}triggers:\n  branches: [{ pattern: master, action: pipeline }, { pattern: '**', action: pipeline }]\n`);
  const triggers = triggerConfig({
    repos: [{ name: REPO, config: file, secret_env: 'ADV_GH_SECRET' }],
    slack: { signing_secret_env: 'ADV_SLACK_SECRET' },
    chat: { slack: { U0ALICE: 'alice' }, github: { Codertocat: 'alice' } },
  }, { env: { ADV_GH_SECRET: GH_SECRET, ADV_SLACK_SECRET: SLACK_SECRET } });
  server = testServer(h.service, { triggers });
  port = Number(new URL(await listenOnLoopback(server)).port);
  waiting = await startWaitingRelease(h.service, 'adv');
  before = await executions();
});
afterAll(async () => {
  await server?.close();
  await h?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1 over a socket: the request goes out byte for byte as written.

interface Reply { status: number; headers: Record<string, string>; text: string; ms: number; closed?: boolean }

function rawRequest(bytes: Buffer, timeoutMs = 30_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within ${timeoutMs} ms`)); }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    // The server may answer and close while a refused body is still being written: that is fine.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return resolve({ status: 0, headers: {}, text: '', ms: performance.now() - t0, closed: true });
      const [statusLine, ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) { const i = l.indexOf(':'); headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
      let body = all.subarray(end + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        const out: Buffer[] = [];
        for (let at = 0; at < body.length;) {
          const eol = body.indexOf('\r\n', at);
          const n = parseInt(body.subarray(at, eol).toString(), 16);
          if (!n) break;
          out.push(body.subarray(eol + 2, eol + 2 + n));
          at = eol + 2 + n + 2;
        }
        body = Buffer.concat(out);
      }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, text: body.toString('utf8'), ms: performance.now() - t0 });
    });
    socket.write(bytes);
  });
}

interface Req { method?: string; path: string; headers?: [string, string][]; body?: string | Buffer; chunked?: boolean }

function encode(r: Req): Buffer {
  const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, 'utf8');
  const head = [`${r.method ?? 'GET'} ${r.path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...(r.headers ?? []).map(([k, v]) => `${k}: ${v}`)];
  if (body && r.chunked) {
    head.push('Transfer-Encoding: chunked');
    const parts: Buffer[] = [];
    for (let i = 0; i < body.length; i += 64 * 1024) { const c = body.subarray(i, i + 64 * 1024); parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')); }
    return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'utf8'), ...parts, Buffer.from('0\r\n\r\n')]);
  }
  if (body) head.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'utf8'), body ?? Buffer.alloc(0)]);
}

async function send(r: Req): Promise<Reply> {
  stats.requests++;
  return rawRequest(encode(r));
}

const bearer = (who: Person): [string, string] => ['Authorization', `Bearer ${people[who].token}`];
const json: [string, string] = ['Content-Type', 'application/json'];

// C0/C1 controls (tab and newlines included: error texts are one line each), DEL, bidi controls.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { out.push(k); strings(x, out); }
  return out;
}

/** An error answer: the status, JSON with error and message, bounded, nothing unsafe or secret echoed. */
function expectError(r: Reply, status: number, maxBytes = 4096): Record<string, unknown> {
  // Status and the head of the body together, so a failure shows what came back.
  expect(`${r.status} ${r.text.slice(0, 300)}`).toMatch(new RegExp(`^${status} `));
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(maxBytes);
  const body = JSON.parse(r.text) as Record<string, unknown>;
  expect(body).toEqual(expect.objectContaining({ error: expect.any(String), message: expect.any(String) }));
  for (const s of strings(body)) expect(s).not.toMatch(UNSAFE);
  for (const secret of SECRETS) expect(r.text).not.toContain(secret);
  return body;
}

/** /healthz answers, quickly. */
async function responsive(): Promise<void> {
  const r = await send({ path: '/healthz' });
  expect(r.status).toBe(200);
  expect(JSON.parse(r.text)).toEqual({ ok: true });
  stats.maxHealthzMs = Math.max(stats.maxHealthzMs, r.ms);
  expect(r.ms).toBeLessThan(2000);
}

/** One attack: sent, checked as an error, then /healthz probed. */
async function attack(r: Req, status: number, maxBytes?: number): Promise<Record<string, unknown>> {
  const reply = await send(r);
  const body = expectError(reply, status, maxBytes);
  await responsive();
  return body;
}

const releaseBody = (app: string, config = configYaml(app)) => JSON.stringify({ config, environment: 'production', revision: { digest: DIGEST_A } });

async function exists(workflowId: string): Promise<boolean> {
  return h.client.workflow.getHandle(workflowId).describe().then(() => true, () => false);
}

async function decisionsOn(app: string) {
  return (await h.service.status(app, 'production', 0)).decisions;
}

// ---------------------------------------------------------------------------------------------

describe('HTTP adversarial suite (loopback, raw HTTP/1.1)', () => {
  it('bearer tokens: missing, empty, malformed, unknown, prefixes, huge, non-ASCII, control characters and several headers are refused', async () => {
    const app = unique('tok');
    const body = releaseBody(app);
    const valid = people.dave.token;
    const refused: [string, [string, string][]][] = [
      ['no header', []],
      ['empty header', [['Authorization', '']]],
      ['scheme only', [['Authorization', 'Bearer']]],
      ['scheme and spaces', [['Authorization', 'Bearer    ']]],
      ['Basic scheme', [['Authorization', `Basic ${valid}`]]],
      ['no scheme', [['Authorization', valid]]],
      ['token plus a character', [['Authorization', `Bearer ${valid}x`]]],
      ['prefix of the token', [['Authorization', `Bearer ${valid.slice(0, -1)}`]]],
      ['token and more words', [['Authorization', `Bearer ${valid} ${valid}`]]],
      ['two schemes in one header', [['Authorization', `Bearer nope-nope-nope-nope, Bearer ${valid}`]]],
      ['huge token (8 KiB)', [['Authorization', `Bearer ${'x'.repeat(8192)}`]]],
      ['non-ASCII token', [['Authorization', 'Bearer tök-ünïcødé-tøken-١٢٣']]],
      ['sha256 of the token', [['Authorization', `Bearer ${crypto.createHash('sha256').update(valid).digest('hex')}`]]],
      ['several headers, valid first', [['Authorization', `Bearer ${valid}`], ['Authorization', 'Bearer nope-nope-nope-nope']]],
      ['several headers, valid last', [['Authorization', 'Bearer nope-nope-nope-nope'], ['authorization', `Bearer ${valid}`]]],
      ['the same valid header twice', [['Authorization', `Bearer ${valid}`], ['Authorization', `Bearer ${valid}`]]],
    ];
    for (const [name, headers] of refused) {
      const b = await attack({ method: 'POST', path: '/v1/releases', headers: [json, ...headers], body }, 401);
      expect({ name, error: b.error }).toEqual({ name, error: 'unauthenticated' });
    }
    // Headers Node's HTTP parser refuses: too large (431), a control character in the value (400).
    await attack({ path: '/v1/releases', headers: [['Authorization', `Bearer ${'y'.repeat(20_000)}`]] }, 431);
    await attack({ path: '/v1/releases', headers: [['Authorization', `Bearer ${valid}\u0001`]] }, 400);
    await attack({ path: '/v1/releases', headers: [['Authorization', `Bearer \u001b[2J${valid}`]] }, 400);
    // The scheme is case-insensitive (RFC 7235): the real token works in any casing (read-only route).
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
      const r = await send({ path: '/v1/releases?limit=1', headers: [['Authorization', `${scheme} ${valid}`]] });
      expect(r.status).toBe(200);
    }
    expect(await exists(releaseWorkflowId(app, 'production'))).toBe(false);
  });

  it('GitHub webhooks: missing, forged, wrong-algorithm and wrong-length signatures start nothing (a real push delivery)', async () => {
    const push = example<{ ref: string; after: string; deleted: boolean; repository: { full_name: string } }>('push', (e) => e.ref === 'refs/heads/master' && e.deleted === false);
    push.repository.full_name = REPO;
    const body = JSON.stringify(push);
    const good = await signGitHub(GH_SECRET, body);
    const hex = good.slice('sha256='.length);
    const sha1 = `sha1=${crypto.createHmac('sha1', GH_SECRET).update(body).digest('hex')}`;
    const headers = (sig?: string, extra: [string, string][] = []): [string, string][] => [json, ['X-GitHub-Event', 'push'], ['X-GitHub-Delivery', crypto.randomUUID()], ...(sig === undefined ? [] : [['X-Hub-Signature-256', sig] as [string, string]]), ...extra];
    const forged: [string, string | undefined, string][] = [
      ['missing', undefined, body],
      ['empty', '', body],
      ['other secret', await signGitHub('not-the-secret', body), body],
      ['sha1 algorithm (X-Hub-Signature value)', sha1, body],
      ['no algorithm prefix', hex, body],
      ['sha512 prefix', `sha512=${hex}`, body],
      ['truncated', good.slice(0, -2), body],
      ['one digit longer', `${good}0`, body],
      ['double length', `${good}${hex}`, body],
      ['not hex', `sha256=${'z'.repeat(64)}`, body],
      ['signature of another body', good, body.replace('"refs/heads/master"', '"refs/heads/main"')],
      ['body with a trailing newline', good, `${body}\n`],
    ];
    for (const [name, sig, sent] of forged) {
      const b = await attack({ method: 'POST', path: '/v1/webhooks/github', headers: headers(sig), body: sent }, 401);
      expect({ name, error: b.error }).toEqual({ name, error: 'unauthenticated' });
    }
    // The sha1 header GitHub also sends is not accepted in place of the sha256 one.
    await attack({ method: 'POST', path: '/v1/webhooks/github', headers: [json, ['X-GitHub-Event', 'push'], ['X-GitHub-Delivery', crypto.randomUUID()], ['X-Hub-Signature', sha1]], body }, 401);
    // Signed, but not as JSON: refused, nothing started.
    await attack({ method: 'POST', path: '/v1/webhooks/github', headers: [['Content-Type', 'application/x-www-form-urlencoded'], ['X-GitHub-Event', 'push'], ['X-GitHub-Delivery', crypto.randomUUID()], ['X-Hub-Signature-256', good]], body }, 400);
    // A forged comment command from an approver's mapped login decides nothing.
    const comment = example<{ action: string; repository: { full_name: string }; sender: { login: string }; comment: { body: string; user: { login: string } } }>('issue_comment', (e) => e.action === 'created');
    comment.repository.full_name = REPO;
    comment.sender.login = 'Codertocat';
    comment.comment.user.login = 'Codertocat';
    comment.comment.body = `/gantry approve ${waiting}/production`;
    const cbody = JSON.stringify(comment);
    await attack({ method: 'POST', path: '/v1/webhooks/github', headers: [json, ['X-GitHub-Event', 'issue_comment'], ['X-GitHub-Delivery', crypto.randomUUID()], ['X-Hub-Signature-256', await signGitHub('forged', cbody)]], body: cbody }, 401);

    // Control: the same route answers a correctly signed ping (which starts nothing).
    const ping = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1, repository: { full_name: REPO }, sender: { login: 'Codertocat' } });
    const ok = await send({ method: 'POST', path: '/v1/webhooks/github', headers: [json, ['X-GitHub-Event', 'ping'], ['X-GitHub-Delivery', crypto.randomUUID()], ['X-Hub-Signature-256', await signGitHub(GH_SECRET, ping)]], body: ping });
    expect(ok.status).toBe(200);
    expect(await exists(pipelineWorkflowId(REPO, push.after))).toBe(false);
    expect(await decisionsOn(waiting)).toEqual([]);
  });

  it('Slack: stale, future, non-numeric timestamps and bad v0 signatures decide nothing (an approver\'s slash command)', async () => {
    const now = Math.floor(Date.now() / 1000);
    // The fields Slack sends with a slash command (api.slack.com/interactivity/slash-commands).
    const form = new URLSearchParams({
      token: 'gIkuvaNzQIHg97ATvDxqgjtO', team_id: 'T0001', team_domain: 'example', enterprise_id: 'E0001', enterprise_name: 'Globular Construct Inc',
      channel_id: 'C2147483705', channel_name: 'releases', user_id: 'U0ALICE', user_name: 'alice', command: '/gantry',
      text: `approve ${waiting}/production`, response_url: 'http://127.0.0.1:9/commands/1234/5678', trigger_id: '13345224609.738474920.8088930838d88f008e0', api_app_id: 'A123456',
    }).toString();
    const slack = (ts: string | undefined, sig: string | undefined, sent = form, route = '/v1/slack/commands'): Req => ({
      method: 'POST', path: route,
      headers: [['Content-Type', 'application/x-www-form-urlencoded'], ...(ts === undefined ? [] : [['X-Slack-Request-Timestamp', ts] as [string, string]]), ...(sig === undefined ? [] : [['X-Slack-Signature', sig] as [string, string]])],
      body: sent,
    });
    const signed = (ts: string | number, sent = form) => slackSignature(SLACK_SECRET, ts, sent);
    const cases: [string, Req][] = [
      ['stale: 10 minutes old', slack(String(now - 600), signed(now - 600))],
      ['stale: just past 5 minutes', slack(String(now - 330), signed(now - 330))],
      ['future: 10 minutes ahead', slack(String(now + 600), signed(now + 600))],
      ['timestamp 0', slack('0', signed(0))],
      ['non-numeric timestamp', slack('soon', signed('soon'))],
      ['exponent', slack('1.7e9', signed('1.7e9'))],
      ['hex', slack(`0x${now.toString(16)}`, signed(`0x${now.toString(16)}`))],
      ['negative', slack(`-${now}`, signed(`-${now}`))],
      ['leading plus', slack(`+${now}`, signed(`+${now}`))],
      ['fraction', slack(`${now}.5`, signed(`${now}.5`))],
      ['Arabic-Indic digits', slack('١٧٠٠٠٠٠٠٠٠', signed('١٧٠٠٠٠٠٠٠٠'))],
      ['huge number', slack('9'.repeat(40), signed('9'.repeat(40)))],
      ['no timestamp', slack(undefined, signed(now))],
      ['no signature', slack(String(now), undefined)],
      ['empty signature', slack(String(now), '')],
      ['v1 prefix', slack(String(now), signed(now).replace('v0=', 'v1='))],
      ['no prefix', slack(String(now), signed(now).slice(3))],
      ['truncated', slack(String(now), signed(now).slice(0, -1))],
      ['one longer', slack(String(now), `${signed(now)}a`)],
      ['uppercase hex', slack(String(now), `v0=${signed(now).slice(3).toUpperCase()}`)],
      ['other secret', slack(String(now), slackSignature('not-the-secret', now, form))],
      ['another body', slack(String(now), signed(now), form.replace('approve', 'reject'))],
      ['another timestamp', slack(String(now + 1), signed(now))],
      ['button press, forged', slack(String(now), signed(now), 'x', '/v1/slack/interactions')],
    ];
    for (const [name, req] of cases) {
      const b = await attack(req, 401);
      expect({ name, error: b.error }).toEqual({ name, error: 'unauthenticated' });
    }
    // Control: the same request signed now is answered (a read-only command, so nothing is decided).
    const status = form.replace(/text=[^&]*/, `text=${encodeURIComponent(`status ${waiting}/production`)}`);
    const ok = await send(slack(String(now), signed(now, status), status));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).text).toContain(`${waiting}/production: waiting-approval`);
    expect(await decisionsOn(waiting)).toEqual([]);
  });

  it('content types: only JSON bodies (UTF-8) are read; others are 415 and start nothing', async () => {
    const app = unique('ctype');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/jsonx', 'application/vnd.api+json', 'application/json; charset=utf-16', 'application/json; charset=latin1', '']) {
      const b = await attack({ method: 'POST', path: '/v1/releases', headers: [bearer('dave'), ...(type ? [['Content-Type', type] as [string, string]] : [])], body: releaseBody(app) }, 415);
      expect(b.hint).toMatch(/application\/json/);
    }
    await attack({ method: 'POST', path: `/v1/releases/${waiting}/production/approve`, headers: [bearer('alice'), ['Content-Type', 'text/plain']], body: '{"comment":"x"}' }, 415);
    expect(await exists(releaseWorkflowId(app, 'production'))).toBe(false);
    expect(await decisionsOn(waiting)).toEqual([]);
  });

  it('huge and deep bodies: 413 naming the limit, 400 for deep or hostile YAML and JSON, each answered promptly', async () => {
    const app = unique('huge');
    const tenMiB = JSON.stringify({ config: 'x'.repeat(10 * 1024 * 1024), environment: 'production' });
    const big = await attack({ method: 'POST', path: '/v1/releases', headers: [bearer('dave'), json], body: tenMiB }, 413);
    expect(big).toMatchObject({ error: 'too_large', message: expect.stringContaining('512 KiB'), hint: expect.stringContaining('256 KiB') });
    // The limit holds without a token too (the body is never read), and for a chunked body with no length.
    await attack({ method: 'POST', path: '/v1/releases', headers: [json], body: tenMiB }, 413);
    await attack({ method: 'POST', path: '/v1/releases', headers: [bearer('dave'), json], body: JSON.stringify({ config: 'y'.repeat(600 * 1024) }), chunked: true }, 413);
    await attack({ method: 'POST', path: '/v1/webhooks/github', headers: [json, ['X-GitHub-Event', 'push']], body: tenMiB }, 413);
    await attack({ method: 'POST', path: '/v1/slack/commands', headers: [['Content-Type', 'application/x-www-form-urlencoded']], body: `text=${'z'.repeat(1024 * 1024)}` }, 413);
    const decision = await attack({ method: 'POST', path: `/v1/releases/${waiting}/production/approve`, headers: [bearer('alice'), json], body: JSON.stringify({ comment: 'c'.repeat(20_000) }) }, 413);
    expect(decision.message).toContain('16 KiB');
    await attack({ method: 'POST', path: '/v1/trains', headers: [bearer('dave'), json], body: tenMiB }, 413);
    // gantry.yaml over its own limit, in a body under the route's: 413 before any parsing.
    const yaml = await attack({ method: 'POST', path: '/v1/releases', headers: [bearer('dave'), json], body: releaseBody(app, `${configYaml(app)}#${'x'.repeat(300 * 1024)}\n`) }, 413);
    expect(yaml.message).toMatch(/at most 262144 \(256 KiB\)/);
    await attack({ method: 'POST', path: '/v1/triggers/push', headers: [bearer('dave'), json], body: JSON.stringify({ repo: 'acme/shop', ref: 'refs/heads/main', sha: 'a'.repeat(40), config: 'x'.repeat(300 * 1024) }) }, 413);

    // Deep JSON: refused before parsing, whatever the route.
    for (const p of ['/v1/releases', `/v1/releases/${waiting}/production/approve`, '/v1/triggers/push']) {
      const b = await attack({ method: 'POST', path: p, headers: [bearer('alice'), json], body: nestedJson(5000) }, 400);
      expect(b.message).toBe('the JSON body nests deeper than 64 levels');
    }
    // Hostile gantry.yaml, inside limits: 400s with the problem named.
    const hostile: [string, string, RegExp][] = [
      ['1,000 nested flow levels', nestedYaml(1000), /nests deeper than 64 levels/],
      ['billion laughs', aliasBomb(), /aliases expand too far/],
      ['a long list written twice', listTwice(200 * 1024), /not valid YAML/],
    ];
    for (const [name, text, problem] of hostile) {
      const t0 = performance.now();
      const b = await attack({ method: 'POST', path: '/v1/releases', headers: [bearer('dave'), json], body: releaseBody(app, text) }, 400, 16_384);
      expect({ name, message: b.message, detail: (b.details as { message: string }[])[0]!.message }).toEqual({ name, message: 'invalid gantry.yaml (1 problem)', detail: expect.stringMatching(problem) });
      expect(performance.now() - t0).toBeLessThan(10_000);
      const push = await attack({ method: 'POST', path: '/v1/triggers/push', headers: [bearer('dave'), json], body: JSON.stringify({ repo: 'acme/shop', ref: 'refs/heads/main', sha: 'b'.repeat(40), config: text }) }, 400, 16_384);
      expect((push.details as { message: string }[])[0]!.message).toMatch(problem);
    }
    expect(await exists(releaseWorkflowId(app, 'production'))).toBe(false);
    expect(await decisionsOn(waiting)).toEqual([]);
  });

  it('the event loop stays free while large and hostile configs are parsed: /healthz answers in the meantime', async () => {
    const list = listTwice(200 * 1024);
    const valid = validConfigOfSize(unique('bigcfg'), 250 * 1024);
    // On the event loop each of these takes about 1-1.5 s to parse here; eight of them, concurrently.
    const bodies = [
      ...[list, valid].map((c) => ({ path: '/v1/releases', body: JSON.stringify({ config: c, environment: 'nowhere', revision: { digest: DIGEST_A } }) })),
      // (The pipelines' revision names another image: refused once the config is parsed.)
      ...[list, valid].map((c) => ({ path: '/v1/pipelines', body: JSON.stringify({ config: c, repo: 'acme/shop', sha: 'c'.repeat(40), revision: { digest: DIGEST_A, image: 'registry.local/not/this-app' } }) })),
      ...[list, valid, list, valid].map((c, i) => ({ path: '/v1/triggers/push', body: JSON.stringify({ repo: 'acme/shop', ref: 'refs/tags/nomatch', sha: `${i}`.repeat(40), config: c }) })),
    ];
    let done = false;
    const probes: number[] = [];
    const prober = (async () => {
      while (!done) {
        const r = await send({ path: '/healthz' });
        expect(r.status).toBe(200);
        probes.push(r.ms);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    const t0 = performance.now();
    const replies = await Promise.all(bodies.map((b) => send({ method: 'POST', path: b.path, headers: [bearer('dave'), json], body: b.body })));
    const elapsed = performance.now() - t0;
    done = true;
    await prober;
    // Invalid configs and the unknown environment: 400; a valid config at a tag no rule matches: 200, nothing started.
    expect(replies.map((r) => r.status)).toEqual([400, 400, 400, 400, 400, 200, 400, 200]);
    for (const r of replies.filter((x) => x.status === 400)) expectError(r, 400, 16_384);
    probes.sort((a, b) => a - b);
    stats.maxHealthzMs = Math.max(stats.maxHealthzMs, probes.at(-1)!);
    expect(probes.length).toBeGreaterThanOrEqual(Math.min(10, Math.floor(elapsed / 100)));
    // Parsed on the event loop, one probe would wait a whole parse (a second or more).
    expect(probes.at(-1)!).toBeLessThan(500);
  });

  it('prototype-pollution keys are refused (400) and pollute nothing; nothing is started or decided', async () => {
    const app = unique('proto');
    const valid = JSON.parse(releaseBody(app)) as Record<string, unknown>;
    const withKey = (key: string, value: string) => JSON.stringify(valid).replace(/^\{/, `{"${key}": ${value}, `);
    const refused = [
      withKey('__proto__', '{"isAdmin": true}'),
      withKey('\\u005f\\u005fproto\\u005f\\u005f', '{"isAdmin": true}'),
      withKey('constructor', '{"prototype": {"isAdmin": true}}'),
      JSON.stringify({ ...valid, config: '@' }).replace('"config":"@"', `"config": {"__proto__": {"polluted": "yes"}, "app": {"name": "${app}", "image": "registry.local/shop/web"}}`),
    ];
    for (const body of refused) {
      const b = await attack({ method: 'POST', path: '/v1/releases', headers: [bearer('dave'), json], body }, 400);
      expect(b.message).toBe('the JSON body has a __proto__ or constructor.prototype key, which is refused');
    }
    // `constructor` alone is only an unknown field.
    const ctor = await attack({ method: 'POST', path: '/v1/releases', headers: [bearer('dave'), json], body: withKey('constructor', '1') }, 400);
    expect((ctor.details as { message: string }[])[0]!.message).toBe("unknown field 'constructor'");
    // An approver's decision carrying an identity through __proto__: refused, nothing decided.
    await attack({ method: 'POST', path: `/v1/releases/${waiting}/production/approve`, headers: [bearer('alice'), json], body: '{"comment": "ok", "__proto__": {"identity": {"id": "root", "groups": ["sre"]}}}' }, 400);
    await attack({ method: 'POST', path: '/v1/triggers/push', headers: [bearer('dave'), json], body: `{"__proto__": {"polluted": "yes"}, "repo": "acme/shop", "ref": "refs/heads/main", "sha": "${'d'.repeat(40)}", "config": "x"}` }, 400);
    // Query strings are flat: these are ignored keys, not paths into objects.
    const q = await send({ path: '/v1/releases?__proto__[polluted]=yes&constructor[prototype][isAdmin]=1&limit=1', headers: [bearer('eve')] });
    expect(q.status).toBe(200);
    // A signed delivery with such keys is read as data (the raw-body webhook scope parses JSON itself).
    const ping = JSON.stringify({ zen: 'x', repository: { full_name: REPO }, sender: { login: 'Codertocat' } }).replace(/^\{/, '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"isAdmin": true}}, ');
    const signed = await send({ method: 'POST', path: '/v1/webhooks/github', headers: [json, ['X-GitHub-Event', 'ping'], ['X-GitHub-Delivery', crypto.randomUUID()], ['X-Hub-Signature-256', await signGitHub(GH_SECRET, ping)]], body: ping });
    expect(signed.status).toBe(200);

    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await exists(releaseWorkflowId(app, 'production'))).toBe(false);
    expect(await decisionsOn(waiting)).toEqual([]);
  });

  it('odd paths: encoded slashes, dot segments, very long, unicode, NUL and escape sequences', async () => {
    const a = [bearer('alice')];
    const cases: [string, string, number][] = [
      ['GET', '/v1/releases/..%2F..%2Fetc/production', 400],
      ['GET', '/v1/releases/%2e%2e/%2e%2e', 400],
      ['GET', '/v1/releases/a%2Fb/production', 400],
      ['POST', '/v1/releases/../../healthz', 400],
      ['GET', '/v1/releases/../..', 400],
      ['GET', `/v1/releases/${'a'.repeat(5000)}/production`, 414],
      ['GET', `/${'x'.repeat(8000)}`, 404],
      ['GET', '/v1/releases/%F0%9F%92%A5/production', 400],
      ['GET', '/v1/releases/caf%C3%A9/production', 400],
      ['GET', '/v1/releases/a%00b/production', 400],
      ['GET', '/v1/releases/a%1B%5B31mred/production', 400],
      ['GET', '/v1/releases/%E2%80%AEevil/production', 400],
      ['GET', '/v1/releases/%E0%A4%A/production', 400],
      ['GET', '/v1/releases/%ZZ/production', 400],
      ['GET', '//v1//releases', 404],
      ['GET', '/v1/releases;limit=1', 404],
      ['GET', '/v1/pipelines/acme%2Fnope/abc1234', 404],
      ['GET', '/v1/pipelines/', 400],
      ['GET', '/v1/releases/shop/production?events=1e309', 400],
      ['GET', '/%2e%2e/%2e%2e/etc/passwd', 404],
      ['POST', `/v1/releases/${waiting}/production/approve/`, 404],
      ['POST', `/v1/releases/${waiting}/production/%1B%5B2Japprove`, 404],
      ['POST', `/v1/releases/${waiting}/production/APPROVE`, 404],
      ['POST', `/v1/releases/${waiting}/production/approv%C4%99`, 404],
    ];
    for (const [method, p, status] of cases) {
      const b = await attack({ method, path: p, headers: a, ...(method === 'POST' ? { body: '{}', headers: [...a, json] } : {}) }, status);
      expect({ p: p.slice(0, 80), status }).toEqual({ p: p.slice(0, 80), status });
      expect(JSON.stringify(b).length).toBeLessThan(1200);
    }
    const echoed = await attack({ method: 'POST', path: `/v1/releases/${waiting}/production/%1B%5B2Japprove`, headers: [...a, json], body: '{}' }, 404);
    expect(echoed.message).toBe("unknown action '\\u{1b}[2Japprove'");
    // Bytes the HTTP parser refuses outright (NUL, escape, raw UTF-8 in the request line): JSON 400s.
    for (const p of ['/v1/releases/a\u0000b/production', '/v1/releases/a\u001b[31m/production', '/v1/releases/café/production', '/v1/releases/a b/production']) {
      await attack({ path: p, headers: a }, 400);
    }
    expect(await decisionsOn(waiting)).toEqual([]);
  });

  it('methods not allowed: 405 with Allow; unknown methods are refused', async () => {
    const cases: [string, string, string][] = [
      ['DELETE', '/v1/releases', 'GET, HEAD, POST'],
      ['PUT', '/v1/releases', 'GET, HEAD, POST'],
      ['PATCH', '/v1/pipelines', 'GET, HEAD, POST'],
      ['OPTIONS', '/v1/releases', 'GET, HEAD, POST'],
      ['TRACE', '/healthz', 'GET, HEAD'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['GET', '/v1/webhooks/github', 'POST'],
      ['GET', '/v1/slack/commands', 'POST'],
      ['DELETE', `/v1/releases/${waiting}/production`, 'GET, HEAD'],
      ['GET', `/v1/releases/${waiting}/production/abort`, 'POST'],
      ['PUT', `/v1/releases/${waiting}/production/approve`, 'POST'],
    ];
    for (const [method, p, allow] of cases) {
      const r = await send({ method, path: p, headers: [bearer('alice')] });
      expectError(r, 405);
      expect({ method, p, allow: r.headers.allow?.split(', ').sort().join(', ') }).toEqual({ method, p, allow });
      await responsive();
    }
    await attack({ method: 'FOO', path: '/v1/releases', headers: [bearer('alice')] }, 400);
    expect(await decisionsOn(waiting)).toEqual([]);
  });

  it('generated requests (fast-check, fixed seed): never a 5xx, never a start, every error safe JSON', async () => {
    const segment = fc.oneof(
      fc.constantFrom('v1', 'releases', 'pipelines', 'webhooks', 'github', 'slack', 'commands', 'interactions', 'triggers', 'push', 'trains', 'healthz',
        'shop', 'production', 'approve', 'abort', 'history', '..', '.', '', '%2F', '%2e%2e', '%00', '%1B%5B31m', '%E2%80%AE', '%E0%A4%A', '%', ';', '*'),
      fc.string({ unit: 'grapheme', maxLength: 12 }).map((s) => encodeURIComponent(s)),
      fc.integer({ min: 90, max: 3000 }).map((n) => 'a'.repeat(n)),
    );
    const pathArb = fc.tuple(fc.array(segment, { minLength: 0, maxLength: 6 }), fc.option(fc.string({ maxLength: 20 }).map((s) => encodeURIComponent(s)), { nil: undefined }))
      .map(([segs, q]) => `/${segs.join('/')}${q === undefined ? '' : `?${q}`}`);
    const authArb = fc.oneof(
      fc.constant(undefined),
      fc.constant(`Bearer ${people.eve.token}`),
      fc.constantFrom('Bearer', 'Bearer ', 'Basic Zm9vOmJhcg==', `bearer ${people.eve.token.toUpperCase()}`),
      fc.string({ minLength: 0, maxLength: 200 }).filter((s) => !/[\r\n\0]/.test(s)).map((s) => `Bearer ${s}`),
    );
    const bodyArb = fc.oneof(
      fc.constant(undefined),
      fc.json({ maxDepth: 4 }),
      fc.constantFrom(nestedJson(200), '{"__proto__": {"x": 1}}', '{"constructor": {"prototype": {"x": 1}}}', '{', '', 'null', '"text"', '[]'),
      fc.dictionary(fc.constantFrom('config', 'environment', 'revision', 'comment', 'identity', 'by', '__proto__', 'constructor', 'repo', 'sha', 'ref'), fc.oneof(fc.string(), fc.integer(), fc.constant({}))).map((o) => JSON.stringify(o)),
    );
    const typeArb = fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream');
    const methodArb = fc.constantFrom('GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
    let runs = 0;
    await fc.assert(fc.asyncProperty(methodArb, pathArb, authArb, bodyArb, typeArb, async (method, p, authz, body, type) => {
      runs++;
      const headers: [string, string][] = [...(authz === undefined ? [] : [['Authorization', authz] as [string, string]]), ...(type === undefined ? [] : [['Content-Type', type] as [string, string]])];
      const r = await send({ method, path: p, headers, ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}) });
      expect(r.status).toBeGreaterThanOrEqual(200);
      expect(r.status).toBeLessThan(500);
      expect([201, 202]).not.toContain(r.status);
      if (r.status >= 400 && method !== 'HEAD') expectError(r, r.status, 16_384);
    }), { seed: 0x12_2026, numRuns: 300, endOnFailure: true });
    expect(runs).toBe(300);
    await responsive();
  });

  it('after everything: no workflow was started on the task queue, and the waiting release recorded no decision', async () => {
    // Visibility is eventually consistent: give it a moment, then compare with the list taken before.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await executions()).toEqual(before);
    const s = await h.service.status(waiting, 'production', 0);
    expect(s.phase).toBe('waiting-approval');
    expect(s.decisions).toEqual([]);
    expect(stats.requests).toBeGreaterThan(400);
    console.log(`HTTP adversarial suite: ${stats.requests} requests, /healthz at most ${stats.maxHealthzMs.toFixed(0)} ms`);
  });
});
