// Issue 9: `gantry release watch` follows the API's status stream (GET …/stream) instead of polling,
// redraws in place on a terminal (NO_COLOR honoured) and gives up after --timeout. Real API server
// (listening, real tokens), real Temporal dev server, simulated cluster.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import { run } from '../../cli/main.js';
import { ReleaseStreams } from '../../api/stream.js';
import { caller, startHarness, type Harness } from '../support/release-harness.js';
import { listenOnLoopback, people, startWaitingRelease, testServer, until, type Person } from '../api/helpers.js';

let h: Harness;
let server: FastifyInstance;
let streams: ReleaseStreams;
let api: string;
const ESC = '\u001b';
/** Requests the API got, by path. */
const requests: string[] = [];

beforeAll(async () => {
  h = await startHarness();
  streams = new ReleaseStreams(h.service, { pollMs: 200 });
  server = testServer(h.service, { streams });
  server.addHook('onRequest', async (req) => { requests.push(`${req.method} ${req.url.split('?')[0]}`); });
  api = await listenOnLoopback(server);
}, 60_000);
afterAll(async () => { await server?.close(); await h?.close(); });

function watch(args: string[], who: Person, opts: { tty?: boolean; env?: Record<string, string> } = {}) {
  const out = { stdout: '', stderr: '', term: '' };
  const done = run(['release', 'watch', ...args], {
    stdout: (t) => { out.stdout += t; }, stderr: (t) => { out.stderr += t; }, cwd: '/',
    env: { GANTRY_API: api, GANTRY_TOKEN: people[who].token, ...opts.env },
    isTTY: !!opts.tty, term: (t) => { out.term += t; },
  });
  return { out, done };
}

describe('gantry release watch on the status stream', () => {
  it('consumes the stream (no status polling), line by line in a pipe and redrawn on a terminal without colors under NO_COLOR; exits 0 when the release succeeds', async () => {
    const app = await startWaitingRelease(h.service, 'watchs');
    const calls = streams.statusCalls;
    const pipe = watch([app, 'production'], 'eve');
    const tty = watch([app, 'production'], 'alice', { tty: true, env: { NO_COLOR: '1' } });
    await until('both watches to show the wait', () => pipe.out.stdout.includes(`→ gantry approve ${app} production`) && tty.out.stdout.includes('next:') ? true : undefined, 20_000, 20);
    await h.service.decide(app, 'production', 'approve', caller('alice'));
    expect(await pipe.done).toBe(0);
    expect(await tty.done).toBe(0);
    // The pipe's format is what it always was: a progress line per change, the approval hint, the final line.
    expect(pipe.out.stdout).toMatch(/^\[\d\d:\d\d:\d\d\] group 2\/3 .* — waiting-approval: waiting for approval of group 2/m);
    expect(pipe.out.stdout).toMatch(/\] {3}· group 2 approved by alice via api\n/);
    expect(pipe.out.stdout).toMatch(new RegExp(`✓ ${app} → production succeeded: .*\\n$`));
    expect(pipe.out.stderr).toBe('');
    expect(pipe.out.term).toBe(''); // nothing raw when not on a terminal
    // The terminal: the block is redrawn in place (cursor up, clear), and NO_COLOR means no color codes.
    const seqs = tty.out.term.split(ESC).slice(1);
    expect(seqs.some((q) => /^\[\d+F$/.test(q))).toBe(true);
    expect(seqs).toContain('[J');
    expect(seqs.filter((q) => /^\[[\d;]*m/.test(q))).toEqual([]);
    expect(tty.out.stdout).toMatch(/phase: {4}succeeded|✓ /);
    // It watched through the stream: the API saw stream requests and no status polls.
    const mine = requests.filter((r) => r.includes(`/${app}/`));
    expect(mine.filter((r) => r === `GET /v1/releases/${app}/production/stream`).length).toBeGreaterThanOrEqual(2);
    expect(mine.filter((r) => r === `GET /v1/releases/${app}/production`)).toEqual([]);
    expect(streams.statusCalls).toBeGreaterThan(calls);
  }, 90_000);

  it('--timeout: exits 1 with what the release was doing; colors on a terminal without NO_COLOR', async () => {
    const app = await startWaitingRelease(h.service, 'watcht');
    const started = Date.now();
    const w = watch([app, 'production', '--timeout', '1500ms'], 'eve', { tty: true });
    expect(await w.done).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(w.out.stderr).toMatch(new RegExp(`^error: timed out after 1\\.5 s watching ${app} → production \\(still waiting-approval: `));
    expect(w.out.term).toContain(`${ESC}[33m`); // waiting-approval in yellow
    const bad = watch([app, 'production', '--timeout', 'soon'], 'eve');
    expect(await bad.done).toBe(1);
    expect(bad.out.stderr).toMatch(/--timeout soon: expected a duration with a unit/);
    await h.service.decide(app, 'production', 'abort', caller('bob'));
  }, 60_000);
});
