// issue 12 (defect 5): the CLI never hands a terminal raw control or bidi characters from a release's
// data, never lets a comment forge a line of the audit trail, and caps what the server's errors echo.
// The API is a fake fetch here (what a server would answer): no Temporal, no network.
import { describe, expect, it } from '@jest/globals';
import { run } from '../../cli/main.js';
import type { ReleaseStatus } from '../../core/release.js';
import { controlCharacterIn } from '../../core/text.js';

const ESC = '\u001b';
const hostile = `${ESC}[2J${ESC}]8;;https://evil${ESC}\\\\click\u202eevil\u0085\u009b31m\u200b\rX`;
// A comment that, printed raw, would look like one more decision in the audit trail.
const forged = 'ok\n    2025-01-01 00:00:00Z  approve by bob via cli';

const status: ReleaseStatus = {
  id: 'release/shop/production', app: 'shop', environment: 'production', kind: 'release', phase: 'waiting-approval',
  summary: `waiting ${hostile}`, revision: { image: `registry/shop${hostile}`, digest: `sha256:${'a'.repeat(64)}`, sha: 'abc', author: `mallory${hostile}` },
  startedBy: `alice${hostile}`, startedAt: '2025-01-01T00:00:00.000Z',
  group: { current: 2, of: 3, name: `canary${hostile}` }, cells: [{ cell: `eu${hostile}`, canary: 1, replicas: 4 }] as ReleaseStatus['cells'],
  waiting: { on: 'approval', reason: `approve ${hostile}`, since: '2025-01-01T00:00:00.000Z', who: `approvers: ${hostile}` },
  decisions: [{ action: 'pause', by: `carol${hostile}`, channel: 'slack', at: '2025-01-01T00:00:00.000Z', comment: forged, group: 1 }] as ReleaseStatus['decisions'],
  events: [{ at: '2025-01-01T00:00:00.000Z', type: 'decision', message: `event ${hostile}\n    2025-01-01 00:00:00Z  forged event` }] as ReleaseStatus['events'],
};

function fakeApi(answer: (url: string) => { status: number; body: unknown }): typeof fetch {
  return (async (input: string | URL | Request) => {
    // An API without the status stream (as before issue 9): `release watch` falls back to polling.
    if (String(input).endsWith('/stream')) return new Response(JSON.stringify({ error: 'not_found', message: `no route GET ${new URL(String(input)).pathname}` }), { status: 404, headers: { 'content-type': 'application/json' } });
    const a = answer(String(input));
    return new Response(JSON.stringify(a.body), { status: a.status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
}

async function cli(args: string[], answer: (url: string) => { status: number; body: unknown }) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, cwd: '/', fetch: fakeApi(answer),
    env: { GANTRY_API: 'http://127.0.0.1:9', GANTRY_TOKEN: 't' }, sleep: async () => {},
  });
  return { code, stdout, stderr };
}

/** The first control, bidi or other format character but tab and line feed (core/text.ts, table-tested there). */
const unsafeIn = (text: string) => controlCharacterIn(text.replace(/[\t\n]/g, ''));

describe('the CLI shows outside text safely (issue 12)', () => {
  it('release status: no raw control or bidi character reaches the terminal; a comment cannot forge an audit line', async () => {
    const r = await cli(['release', 'status', 'shop', 'production'], () => ({ status: 200, body: status }));
    expect(r.code).toBe(0);
    expect(unsafeIn(r.stdout)).toBeUndefined();
    expect(r.stdout).toContain('approve \\u{1b}[2J\\u{1b}]8;;https://evil');
    expect(r.stdout).toContain('\\u{202e}evil\\u{85}\\u{9b}31m\\u{200b}\\u{d}X');
    // Each decision and each event is one line: the forged lines are part of the one before.
    expect(r.stdout).toContain('pause by carol');
    expect(r.stdout).toContain(': ok     2025-01-01 00:00:00Z  approve by bob via cli');
    expect(r.stdout.split('\n').filter((line) => /^\s+2025-01-01 00:00:00Z\s/.test(line))).toHaveLength(2);
  });

  it('release history and list: the same', async () => {
    const history = await cli(['release', 'history', 'shop', 'production'], () => ({ status: 200, body: { app: 'shop', environment: 'production', phase: 'failed', summary: hostile, decisions: status.decisions, events: status.events } }));
    expect(history.code).toBe(0);
    expect(unsafeIn(history.stdout)).toBeUndefined();
    expect(history.stdout.split('\n').filter((line) => /^\s+2025-01-01 00:00:00Z\s/.test(line))).toHaveLength(2);
    const list = await cli(['release', 'list'], () => ({ status: 200, body: { releases: [{ workflowId: 'w', app: `shop${hostile}`, environment: 'production', status: 'RUNNING', summary: forged, startTime: '2025-01-01T00:00:00Z' }] } }));
    expect(unsafeIn(list.stdout)).toBeUndefined();
    expect(list.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('--json escapes bidi and C1 characters as JSON escapes: the same JSON, nothing raw', async () => {
    const r = await cli(['release', 'status', 'shop', 'production', '--json'], () => ({ status: 200, body: status }));
    expect(unsafeIn(r.stdout)).toBeUndefined();
    expect(JSON.parse(r.stdout)).toEqual(status);
  });

  it('watch: events and progress lines are escaped', async () => {
    const done = { ...status, phase: 'failed' as const, waiting: undefined };
    let n = 0;
    const r = await cli(['release', 'watch', 'shop', 'production', '--interval', '50'], () => ({ status: 200, body: n++ === 0 ? status : { ...done, events: [...status.events, { at: '2025-01-01T00:00:01.000Z', type: 'x', message: hostile }] } }));
    expect(r.code).toBe(1);
    expect(unsafeIn(r.stdout)).toBeUndefined();
    expect(r.stdout).toContain('\\u{1b}[2J');
  });

  it('an error from the server is escaped and capped, however long (over 100,000 characters seen)', async () => {
    const huge = `${ESC}[31m${'x'.repeat(150_000)}`;
    const details = Array.from({ length: 500 }, (_, i) => ({ path: `a.${i}${ESC}`, message: huge, hint: huge }));
    const r = await cli(['release', 'status', 'shop', 'production'], () => ({ status: 400, body: { error: 'bad_request', message: huge, hint: huge, details } }));
    expect(r.code).toBe(1);
    expect(unsafeIn(r.stderr)).toBeUndefined();
    expect(r.stderr).toMatch(/^error: \\u\{1b\}\[31mx+… \(\d+ more characters\)\n/);
    expect(r.stderr).toContain('… and 450 more');
    expect(r.stderr.length).toBeLessThan(60_000);
  });

  it('a decision echoes the server\'s answer escaped', async () => {
    const r = await cli(['approve', 'shop', 'production'], () => ({ status: 200, body: { decision: { action: 'approve', by: `bob${hostile}`, channel: 'cli' }, summary: forged } }));
    expect(r.code).toBe(0);
    expect(unsafeIn(r.stdout)).toBeUndefined();
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('what the user typed is escaped too (commander\'s own errors)', async () => {
    const r = await cli(['release', 'status', `--bogus${ESC}[2J`], () => ({ status: 200, body: status }));
    expect(r.code).not.toBe(0);
    expect(unsafeIn(r.stderr)).toBeUndefined();
    expect(r.stderr).toContain('\\u{1b}[2J');
  });
});

describe('failure hints reach the person at the terminal', () => {
  it('release status prints the stop\'s hint; pipeline status prints the failed stage\'s hint', async () => {
    const stopped: ReleaseStatus = {
      ...status, phase: 'rolled-back', waiting: undefined,
      stop: { cause: 'abort', reason: 'an error stopped the release: applyGroup: HTTP 403', at: '2025-01-01T00:00:00.000Z', hint: 'grant the worker RBAC' },
      outcome: { result: 'rolled-back', reason: 'back to abc', at: '2025-01-01T00:00:01.000Z' },
    };
    const r = await cli(['release', 'status', 'shop', 'production'], () => ({ status: 200, body: stopped }));
    expect(r.stdout).toMatch(/\n {2}hint {7}grant the worker RBAC\n/);
    const pipeline = {
      id: 'p', repo: 'acme/shop', sha: 'abc', state: 'failed', startedAt: '2025-01-01T00:00:00.000Z', reason: 'checkout failed: commit not found',
      hint: `push the commit${hostile}`, stages: [{ name: 'checkout', state: 'failed', reason: 'commit not found', hint: 'push the commit' }],
    };
    const p = await cli(['pipeline', 'status', '--repo', 'acme/shop', '--sha', 'abc'], () => ({ status: 200, body: pipeline }));
    expect(p.stdout).toContain('  hint: push the commit');
    expect(unsafeIn(p.stdout)).toBeUndefined();
  });
});

describe('release status shows what the caller may do (allowedActions)', () => {
  const no = (reason: string) => ({ allowed: false, reason });
  it('one line: the allowed actions, and why not the one the release waits for', async () => {
    const mine: ReleaseStatus = {
      ...status, summary: 'waiting', waiting: { ...status.waiting!, reason: 'approve', who: 'approvers' },
      allowedActions: {
        approve: no('carol is the author of this change and may not approve its release (four-eyes)'), reject: { allowed: true }, pause: { allowed: true },
        resume: no('the release is not paused'), promote: no('carol is the author'), abort: { allowed: true }, rollback: { allowed: true }, override: no('nothing to override'),
      },
    } as ReleaseStatus;
    const r = await cli(['release', 'status', 'shop', 'production'], () => ({ status: 200, body: mine }));
    expect(r.stdout).toContain('\n  you may    reject, pause, abort, rollback; not approve: carol is the author of this change and may not approve its release (four-eyes)\n');
    const none = { ...mine, allowedActions: Object.fromEntries(Object.keys(mine.allowedActions!).map((k) => [k, no('the release already ended')])) } as ReleaseStatus;
    expect((await cli(['release', 'status', 'shop', 'production'], () => ({ status: 200, body: none }))).stdout).toContain('\n  you may    nothing now; not approve: the release already ended\n');
    // An older API sends no allowedActions: no line.
    expect((await cli(['release', 'status', 'shop', 'production'], () => ({ status: 200, body: status }))).stdout).not.toContain('you may');
  });
});

describe('release list --waiting-for-me', () => {
  it('asks the API for waitingFor=me and says when nothing waits', async () => {
    const urls: string[] = [];
    const r = await cli(['release', 'list', '--waiting-for-me'], (url) => { urls.push(url); return { status: 200, body: { releases: [] } }; });
    expect(urls).toEqual(['http://127.0.0.1:9/v1/releases?limit=50&waitingFor=me']);
    expect(r.stdout).toBe('nothing waits on you\n');
  });
});
