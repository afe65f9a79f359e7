// Issue 9: the console's pipelines, windows & trains, and history & audit views, and their JSON routes,
// through a LISTENING API (the console behind a trusted auth proxy on 127.0.0.1, createConsoleAuth),
// the run's real Temporal dev server and a worker with the simulated cluster and the real gate
// activities (a gates-only pipeline of a local git repository; no BuildKit).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createGateLogActivities } from '../../activities/gate-logs.js';
import { createConsoleAuth } from '../../api/console/auth.js';
import { hostTaskQueue } from '../../workflows/gate-log.js';
import { testWorkerConfig } from '../support/activities.js';
import { auditCsv, calendarView, type AuditEntry, type AuditLog, type CalendarView, type RunsPage } from '../../api/history.js';
import { TrainService } from '../../api/trains.js';
import type { ConsoleSettings } from '../../runtime/config.js';
import { createSampleRepo, failingJunit, lcov } from '../support/build-bed.js';
import { seedConfig } from '../support/fixtures.js';
import { caller, startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { connectNative, unique } from '../support/temporal.js';
import { auth, DIGEST_A, DIGEST_B, listenOnLoopback, testServer, until } from '../api/helpers.js';

let h: Harness;
let server: FastifyInstance;
let base: string;
let dir: string;

const settings = {
  sessionSecretEnv: 'GANTRY_UI_SESSION_SECRET', sessionTtlMs: 3600_000,
  proxy: { trusted: ['127.0.0.1', '::1'], userHeader: 'x-forwarded-user', groupsHeader: 'x-forwarded-groups' },
  env: { GANTRY_UI_SESSION_SECRET: 'console-history-test-secret-0123456789abcdef' },
} as unknown as ConsoleSettings;

const HOSTILE = '<img src=x onerror=alert(1)>';

beforeAll(async () => {
  h = await startHarness();
  server = testServer(h.service, { console: { auth: createConsoleAuth(settings) } });
  base = await listenOnLoopback(server);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-console-history-'));
}, 60_000);
afterAll(async () => {
  await server?.close();
  await h?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const as = (id: string, groups: string[] = []) => ({ 'x-forwarded-user': id, 'x-forwarded-groups': groups.join(',') });
const get = async (p: string, who: Record<string, string>) => {
  const res = await fetch(`${base}${p}`, { headers: who, redirect: 'manual' });
  return { res, body: await res.text() };
};
const api = async <T>(p: string): Promise<T> => {
  const res = await fetch(`${base}${p}`, { headers: auth('alice') });
  if (res.status !== 200) throw new Error(`GET ${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};
const csrfOf = (body: string) => /<meta name="csrf-token" content="([^"]+)">/.exec(body)?.[1];
const post = (p: string, who: Record<string, string>, form: Record<string, string>, origin = base) =>
  fetch(`${base}${p}`, { method: 'POST', headers: { ...who, origin, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString(), redirect: 'manual' });
/** The HTML from the element carrying data-testid=`id` to the end of its table (or section). */
const partOf = (body: string, id: string, end = '</table>') => { const i = body.indexOf(`data-testid="${id}"`); return i < 0 ? undefined : body.slice(i, body.indexOf(end, i)); };

/** Weekday, date and time of an instant in a zone, by Intl alone (not the code under test). */
function wall(ms: number, timeZone: string): { weekday: string; date: string; time: string } {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(ms).map((x) => [x.type, x.value]));
  return { weekday: p.weekday!, date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}` };
}

describe('windows: the calendar of an environment', () => {
  const zone = 'Pacific/Auckland';
  // The day after tomorrow in Auckland: the window is never open now, and opens that day at 10:00 there.
  const target = wall(Date.now() + 2 * 86_400_000, zone);
  const day = target.weekday.toLowerCase().slice(0, 3) as 'mon';
  const app = unique('cal');

  beforeAll(async () => {
    const config = seedConfig(app, {
      calendar: {
        timeZone: zone,
        windows: [{ days: [day], start: '10:00', end: '11:00', timeZone: zone }],
        freezes: [{ from: '2099-12-24', to: '2099-12-26', reason: `holidays ${HOSTILE}` }],
      },
    } as never);
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-window');
  }, 60_000);

  it('says "opens at" the next window, written in the environment zone, with the UTC instant for the viewer\'s zone', async () => {
    const { res, body } = await get(`/ui/calendar/${app}/production`, as('carol'));
    expect(res.status).toBe(200);
    const state = partOf(body, 'calendar-state', '</p>')!;
    expect(state).toContain('waiting for window');
    const opens = /<time datetime="([^"]+)" data-utc="([^"]+)" data-testid="calendar-opens">([^<]+)<\/time>/.exec(state);
    expect(opens).not.toBeNull();
    expect(opens![3]).toBe(`${target.weekday} ${target.date} 10:00 ${zone}`);
    // The UTC instant is that very moment: 10:00 on that day in Auckland.
    expect(wall(Date.parse(opens![2]!), zone)).toEqual({ weekday: target.weekday, date: target.date, time: '10:00' });
    // The week: seven days in the environment's zone; exactly one open stretch, 10:00-11:00 on that day.
    const week = partOf(body, 'calendar-week')!;
    expect(week.match(/data-testid="calendar-day"/g)).toHaveLength(7);
    expect(week.match(/class="open-span"/g)).toHaveLength(1);
    expect(week).toMatch(new RegExp(`${target.date}[^]*?<span class="open-span"><time data-utc="[^"]+">10:00</time>–<time data-utc="[^"]+">11:00</time>`));
    // The freeze ahead, its reason escaped.
    const freezes = partOf(body, 'calendar-freezes')!;
    expect(freezes).toContain('holidays &lt;img src=x onerror=alert(1)&gt;');
    expect(body).not.toContain(HOSTILE);
  });

  it('GET /v1/calendar/:app/:env answers the same from core/windows.ts', async () => {
    const v = await api<CalendarView>(`/v1/calendar/${app}/production`);
    expect(v).toMatchObject({ app, environment: 'production', source: 'release', timeZone: zone, open: false, opensAtText: `${target.weekday} ${target.date} 10:00 ${zone}` });
    expect(wall(Date.parse(v.opensAt!), zone)).toEqual({ weekday: target.weekday, date: target.date, time: '10:00' });
    expect(v.freezes).toEqual([expect.objectContaining({ reason: `holidays ${HOSTILE}`, active: false })]);
    expect((await fetch(`${base}/v1/calendar/${app}/production`)).status).toBe(401);
    expect((await fetch(`${base}/v1/calendar/${unique('nope')}/production`, { headers: auth('alice') })).status).toBe(404);
  });

  it('marks train departures that would wait for the window', async () => {
    const trains = new TrainService(h.client, h.taskQueue);
    // Every day at 09:00 in Auckland: always before the 10:00-11:00 window.
    await trains.create({ config: seedConfig(app), environment: 'production', cron: ['0 9 * * *'], timeZone: zone }, caller('alice'));
    try {
      const { body } = await get(`/ui/calendar/${app}/production`, as('carol'));
      const next = partOf(body, 'train-next', '</ul>')!;
      expect(next.match(/<li>/g)).toHaveLength(5);
      expect(next.match(/window closed: waits/g)).toHaveLength(5);
    } finally {
      await trains.remove(app, 'production', caller('alice'));
    }
  });

  afterAll(async () => { await h.service.decide(app, 'production', 'abort', caller('alice'), 'test over').catch(() => undefined); });
});

describe('trains: listed with their departures; trigger, pause and unpause need the viewer\'s CSRF token', () => {
  const app = unique('train');
  let trains: TrainService;

  beforeAll(async () => {
    trains = new TrainService(h.client, h.taskQueue);
    await trains.create({ config: seedConfig(app), environment: 'production', cron: ['0 10 * * 1', '30 14 * * 3'], timeZone: 'Europe/Berlin' }, caller('alice'));
  });
  afterAll(async () => { await trains.remove(app, 'production', caller('alice')).catch(() => undefined); });

  it('lists the train with its cron, zone and next departures', async () => {
    const t = await trains.describe(app, 'production');
    const { res, body } = await get('/ui/calendar', as('alice'));
    expect(res.status).toBe(200);
    const row = partOf(body, `train-${app}-production`, '</tr>')!;
    expect(row).toContain('0 10 * * 1 | 30 14 * * 3');
    expect(row).toContain('Europe/Berlin');
    const next = [...partOf(row, 'train-next', '</ul>')!.matchAll(/data-utc="([^"]+)"/g)].map((m) => m[1]);
    expect(next).toEqual(t.nextDepartures);
    expect(next.length).toBe(5);
    // Written in the train's zone: Monday 10:00 or Wednesday 14:30 Berlin time.
    for (const d of next) expect(['Mon 10:00', 'Wed 14:30']).toContain(`${wall(Date.parse(d!), 'Europe/Berlin').weekday} ${wall(Date.parse(d!), 'Europe/Berlin').time}`);
    expect(partOf(row, 'train-state', '</td>')).toContain('running');
  });

  it('refuses a pause without the CSRF token, or from another origin (403, still running); pauses and unpauses with it, as the viewer via ui', async () => {
    const { body } = await get('/ui/calendar', as('alice'));
    const csrf = csrfOf(body)!;
    expect(csrf).toBeTruthy();
    const url = `/ui/trains/${app}/production/pause`;
    expect((await post(url, as('alice'), {})).status).toBe(403);
    expect((await post(url, as('alice'), { _csrf: 'forged' })).status).toBe(403);
    expect((await post(url, as('alice'), { _csrf: csrf }, 'http://evil.example')).status).toBe(403);
    // Another person's token is not alice's.
    expect((await post(url, as('alice'), { _csrf: csrfOf((await get('/ui/calendar', as('bob'))).body)! })).status).toBe(403);
    expect((await trains.describe(app, 'production')).paused).toBe(false);
    // eve is not an approver of production: refused by the train's policy, nothing changes.
    const eveCsrf = csrfOf((await get('/ui/calendar', as('eve'))).body)!;
    expect((await post(url, as('eve'), { _csrf: eveCsrf })).status).toBe(403);
    expect((await trains.describe(app, 'production')).paused).toBe(false);

    const paused = await post(url, as('alice'), { _csrf: csrf });
    expect(paused.status).toBe(303);
    expect(paused.headers.get('location')).toBe(`/ui/calendar#train-${app}-production`);
    const t = await trains.describe(app, 'production');
    expect(t.paused).toBe(true);
    expect(t.audit[t.audit.length - 1]).toMatchObject({ by: 'alice', channel: 'ui', action: 'pause' });
    expect(partOf((await get('/ui/calendar', as('alice'))).body, `train-${app}-production`, '</tr>')).toContain('data-testid="train-unpause"');

    expect((await post(`/ui/trains/${app}/production/unpause`, as('alice'), { _csrf: csrf })).status).toBe(303);
    expect((await trains.describe(app, 'production')).paused).toBe(false);
  });

  it('triggers a departure now with the token (recorded), and not without', async () => {
    const csrf = csrfOf((await get('/ui/calendar', as('alice'))).body)!;
    const url = `/ui/trains/${app}/production/trigger`;
    expect((await post(url, as('alice'), {})).status).toBe(403);
    expect((await trains.describe(app, 'production')).recentRuns).toHaveLength(0);
    expect((await post(url, as('alice'), { _csrf: csrf })).status).toBe(303);
    const t = await until('the departure', async () => { const d = await trains.describe(app, 'production'); return d.recentRuns.length > 0 ? d : undefined; });
    expect(t.audit[t.audit.length - 1]).toMatchObject({ by: 'alice', channel: 'ui', action: 'trigger' });
    // The audit log shows the train's trail too.
    const log = await api<AuditLog>(`/v1/audit?app=${app}`);
    expect(log.entries.map((e) => `${e.action} ${e.by} ${e.channel}`)).toEqual(expect.arrayContaining(['train:trigger alice ui', 'train:pause alice ui', 'train:unpause alice ui', 'train:create alice api']));
  });

  it('POST /v1/trains/:app/:env/pause|unpause with a bearer token', async () => {
    const res = await fetch(`${base}/v1/trains/${app}/production/pause`, { method: 'POST', headers: { ...auth('bob'), 'content-type': 'application/json' }, body: JSON.stringify({ comment: 'release freeze' }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ paused: true, by: 'bob' });
    expect((await trains.describe(app, 'production')).paused).toBe(true);
    const refused = await fetch(`${base}/v1/trains/${app}/production/unpause`, { method: 'POST', headers: { ...auth('eve'), 'content-type': 'application/json' }, body: '{}' });
    expect(refused.status).toBe(403);
    expect((await trains.describe(app, 'production')).paused).toBe(true);
  });
});

describe('history and audit: every run, paged; decisions filterable and exported', () => {
  const app = unique('hist');

  beforeAll(async () => {
    const config = seedConfig(app);
    const dave = caller('dave', ['dev']);
    // Run 1: approved by bob from the CLI with a hostile comment, then succeeds.
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A, author: 'carol' } }, dave);
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    await h.service.decide(app, 'production', 'approve', { identity: { id: 'bob', groups: [] }, channel: 'cli' }, `ship it ${HOSTILE}`);
    expect((await h.service.waitForRelease(app, 'production')).phase).toBe('succeeded');
    // Run 2: rejected by alice through the API: rolls back.
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_B, author: 'carol' } }, dave);
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    await h.service.decide(app, 'production', 'reject', { identity: { id: 'alice', groups: [] }, channel: 'api' }, 'error rate, "quoted", and a comma');
    expect((await h.service.waitForRelease(app, 'production')).phase).toBe('rolled-back');
  }, 120_000);

  it('GET /v1/releases/:app/:env/runs pages through every run with outcome, revision, starter and cause', async () => {
    const first = await api<RunsPage>(`/v1/releases/${app}/production/runs?pageSize=1`);
    expect(first.runs).toHaveLength(1);
    expect(first.nextPageToken).toBeTruthy();
    const second = await api<RunsPage>(`/v1/releases/${app}/production/runs?pageSize=1&pageToken=${first.nextPageToken}`);
    expect(second.runs).toHaveLength(1);
    const third = second.nextPageToken ? await api<RunsPage>(`/v1/releases/${app}/production/runs?pageSize=1&pageToken=${second.nextPageToken}`) : { runs: [] };
    expect(third.runs).toHaveLength(0);
    const [newer, older] = [first.runs[0]!, second.runs[0]!];
    expect(newer.runId).not.toBe(older.runId);
    expect(newer).toMatchObject({ outcome: 'rolled-back', startedBy: 'dave', revision: { digest: DIGEST_B }, stop: { cause: 'rejected', by: 'alice' }, details: true });
    expect(older).toMatchObject({ outcome: 'succeeded', startedBy: 'dave', revision: { digest: DIGEST_A }, details: true });
    expect(older.durationMs).toBeGreaterThan(0);
    const bad = await fetch(`${base}/v1/releases/${app}/production/runs?pageToken=not*a*token`, { headers: auth('alice') });
    expect(bad.status).toBe(400);
  });

  it('/ui/releases/:app/:env/runs shows both runs with their cause', async () => {
    const { res, body } = await get(`/ui/releases/${app}/production/runs`, as('carol'));
    expect(res.status).toBe(200);
    const table = partOf(body, 'runs-table')!;
    expect(table.match(/data-testid="run-row"/g)).toHaveLength(2);
    expect(table).toContain('rolled-back');
    expect(table).toMatch(/data-testid="run-cause">rejected: [^<]*\(by alice\)/);
    // A page at a time: the "older runs" link carries Temporal's page token.
    const one = await get(`/ui/releases/${app}/production/runs?pageSize=1`, as('carol'));
    expect(partOf(one.body, 'runs-table')!.match(/data-testid="run-row"/g)).toHaveLength(1);
    expect(partOf(one.body, 'runs-table')).toContain('rolled-back');
    const next = /data-testid="runs-next" href="([^"]+)"/.exec(one.body)?.[1]?.replace(/&amp;/g, '&');
    expect(next).toMatch(/pageSize=1&pageToken=/);
    const older = await get(next!, as('carol'));
    expect(older.res.status).toBe(200);
    expect(partOf(older.body, 'runs-table')!.match(/data-testid="run-row"/g)).toHaveLength(1);
    expect(partOf(older.body, 'runs-table')).toContain('succeeded');
  });

  it('the audit log lists the decisions (who, what, channel, comment), escaped, filterable; CSV and JSON exports', async () => {
    const { res, body } = await get(`/ui/audit?app=${app}`, as('carol'));
    expect(res.status).toBe(200);
    const table = partOf(body, 'audit-table')!;
    expect(table.match(/data-testid="audit-row"/g)).toHaveLength(2);
    expect(table).toContain('ship it &lt;img src=x onerror=alert(1)&gt;');
    expect(body).not.toContain(HOSTILE);
    expect(partOf(body, 'audit-bound', '</p>')).toMatch(/newest \d+ release runs? \(at most 50;/);

    const csv = await get(`/ui/audit.csv?app=${app}`, as('carol'));
    expect(csv.res.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = csv.body.trim().split('\r\n');
    expect(lines[0]).toBe('at,by,action,channel,app,environment,release,runId,group,comment');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`^[^,]+,alice,reject,api,${app},production,release/${app}/production,[^,]+,\\d*,"error rate, ""quoted"", and a comma"$`));
    expect(lines[2]).toMatch(new RegExp(`^[^,]+,bob,approve,cli,${app},production,release/${app}/production,`));
    expect(lines[2]).toContain(`ship it ${HOSTILE}`);

    const bob = await get(`/ui/audit.json?app=${app}&person=bob`, as('carol'));
    const log = JSON.parse(bob.body) as AuditLog;
    expect(log.entries.map((e) => [e.by, e.action, e.channel, e.comment])).toEqual([['bob', 'approve', 'cli', `ship it ${HOSTILE}`]]);
    // By environment alone (narrowed while listing): this app's decision is among production's.
    const prod = await api<AuditLog>('/v1/audit?env=production&person=bob&action=approve');
    expect(prod.entries.every((e) => e.environment === 'production' && e.by === 'bob' && e.action === 'approve')).toBe(true);
    expect(prod.entries.map((e) => e.app)).toContain(app);
    const rejects = await api<AuditLog>(`/v1/audit?app=${app}&action=reject`);
    expect(rejects.entries.map((e) => e.by)).toEqual(['alice']);
    expect((await fetch(`${base}/v1/audit?person=has%20space`, { headers: auth('alice') })).status).toBe(400);
  });
});

describe('pipelines: a gates-only run of a local repository', () => {
  const app = unique('pipe');
  const repo = `acme/${app}`;
  let sha: string;
  let native: NativeConnection;
  let logWorker: Worker;
  let logRun: Promise<void>;
  afterAll(async () => {
    if (logWorker?.getState() === 'RUNNING') logWorker.shutdown();
    await logRun;
    await native?.close();
  });

  beforeAll(async () => {
    const sample = createSampleRepo(dir, {
      app, image: 'registry.local/acme/web', depsBytes: 1024,
      gates: `  - { name: unit, type: junit, run: [sh, scripts/test.sh], reports: [reports/junit.xml] }
  - { name: coverage, type: coverage, report: coverage/lcov.info, min: 80 }
  - { name: smoke, type: command, run: [sh, -c, 'echo "<b>smoke</b> says hello"; exit 3'] }
`,
    });
    sha = sample.commit({ 'fixtures/junit.xml': failingJunit, 'coverage/lcov.info': lcov(95, 100) }, 'a failing test');
    await h.service.startPipeline({ repo, sha, revision: {}, source: { url: sample.url }, gatesOnly: true }, caller('dave'));
    // What worker/main.ts runs next to a worker that runs gates: the gate-log activity on this host's own queue.
    native = await connectNative();
    const logDir = path.normalize(testWorkerConfig().pipeline.logDir);
    logWorker = await Worker.create({ connection: native, taskQueue: hostTaskQueue(h.taskQueue, os.hostname(), logDir), activities: createGateLogActivities({ logDir }) });
    logRun = logWorker.run();
    await until('the gates-only run to end', async () => {
      const p = await h.service.pipelineStatus(repo, sha, { gatesOnly: true }).catch(() => undefined);
      return p && p.state !== 'running' ? p : undefined;
    }, 90_000, 250);
  }, 120_000);

  it('lists the run, and its page shows the stage strip, the gate report with failing tests and coverage, and where the log is', async () => {
    const list = await get('/ui/pipelines', as('carol'));
    expect(list.res.status).toBe(200);
    const row = partOf(list.body, 'pipelines-table')!;
    const href = `/ui/pipelines/acme/${app}/${sha}?gates=1`;
    expect(row).toContain(`href="${href}"`);

    const { res, body } = await get(href, as('carol'));
    expect(res.status).toBe(200);
    expect(partOf(body, 'pipeline-state', '</span>')).toContain('failed');
    const strip = partOf(body, 'stage-strip', '</ol>')!;
    expect(strip).toMatch(/data-testid="stage-checkout"[^]*succeeded/);
    expect(strip).toMatch(/data-testid="stage-gates"[^]*failed/);
    const report = partOf(body, 'gate-report')!;
    expect(report).toMatch(/data-testid="gate-unit"[^]*failed[^]*says goodbye/);
    expect(report).toMatch(/data-testid="gate-coverage"[^]*passed[^]*95/);
    // The log: its path on the worker's host (this machine, the test's worker).
    const p = await h.service.pipelineStatus(repo, sha, { gatesOnly: true });
    const unit = p.gates!.find((g) => g.name === 'unit')!;
    expect(report).toContain(`<code>${unit.log!.path}</code> on <strong>${os.hostname()}</strong>`);
  });

  it('the log page reads the tail on the host that ran the gate (escaped); JSON too; a host no worker polls says where the file is', async () => {
    const { body } = await get(`/ui/pipelines/acme/${app}/${sha}?gates=1`, as('carol'));
    const link = /href="(\/ui\/pipeline-log\?[^"]*gate=smoke[^"]*)"/.exec(body)?.[1]?.replace(/&amp;/g, '&');
    expect(link).toBeTruthy();
    const log = await get(link!, as('carol'));
    expect(log.res.status).toBe(200);
    expect(partOf(log.body, 'gate-log-text', '</pre>')).toContain('&lt;b&gt;smoke&lt;/b&gt; says hello');
    expect(log.body).not.toContain('<b>smoke</b>');
    const json = await api<{ text: string; host: string; bytes: number }>(`/v1/pipeline-logs?repo=${encodeURIComponent(repo)}&sha=${sha}&gate=smoke&gatesOnly=true`);
    expect(json.text).toContain('<b>smoke</b> says hello');
    expect(json.host).toBe(os.hostname());
    // The host's log worker gone: said within the schedule-to-start bound, with the path and host.
    logWorker.shutdown();
    await logRun;
    const gone = await get(link!, as('carol'));
    expect(gone.res.status).toBe(200);
    expect(partOf(gone.body, 'gate-log-unreachable', '</p>')).toContain(`no worker on ${os.hostname()} answered`);
  }, 60_000);

  it('the gate-log activity reads only files under its log directory', async () => {
    const logDir = fs.mkdtempSync(path.join(dir, 'logs-'));
    fs.writeFileSync(path.join(logDir, 'ok.log'), 'x'.repeat(100) + 'é-the end');
    fs.symlinkSync('/etc/hostname', path.join(logDir, 'link.log'));
    const act = createGateLogActivities({ logDir });
    const tail = await act.readGateLogTail({ path: path.join(logDir, 'ok.log'), maxBytes: 9 });
    // 9 bytes from the end cut 'é' (2 bytes) in half: the stray byte is dropped.
    expect(tail).toEqual({ text: '-the end', bytes: 110, shownBytes: 8, host: os.hostname() });
    await expect(act.readGateLogTail({ path: '/etc/hostname', maxBytes: 100 })).rejects.toMatchObject({ type: 'BadRequest' });
    await expect(act.readGateLogTail({ path: path.join(logDir, 'link.log'), maxBytes: 100 })).rejects.toMatchObject({ type: 'BadRequest' });
    await expect(act.readGateLogTail({ path: path.join(logDir, '..', path.basename(logDir), '..', 'x.log'), maxBytes: 100 })).rejects.toMatchObject({ type: 'BadRequest' });
  });

  it('the app page shows the environment matrix from the release runs', async () => {
    const rel = unique('matrix');
    const config = seedConfig(rel, { groups: [{ pods: 'rest', confirm: { type: 'auto' } }] } as never);
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A, sha: 'abc1234def' } }, caller('dave'));
    expect((await h.service.waitForRelease(rel, 'production')).phase).toBe('succeeded');
    const { res, body } = await get(`/ui/apps/${rel}`, as('carol'));
    expect(res.status).toBe(200);
    const row = partOf(body, 'env-production', '</tr>')!;
    expect(row).toContain(DIGEST_A.slice(7, 19));
    expect(row).toContain('abc1234def');
    expect(row).toContain('nothing');
  });
});

describe('pure parts', () => {
  it('the CSV export quotes per RFC 4180 and defuses cells a spreadsheet would run as formulas', () => {
    const e: AuditEntry = { at: '2026-12-01T10:00:00.000Z', by: 'mallory', action: 'approve', channel: 'ui', comment: '=HYPERLINK("http://evil.example","x")', app: 'shop', environment: 'production', release: 'release/shop/production', runId: 'r1' };
    const lines = auditCsv([e, { ...e, comment: 'line one\nline two' }, { ...e, by: '@admin', comment: undefined }]).split('\r\n');
    expect(lines[1]).toBe('2026-12-01T10:00:00.000Z,mallory,approve,ui,shop,production,release/shop/production,r1,,"\'=HYPERLINK(""http://evil.example"",""x"")"');
    expect(lines[2]).toBe('2026-12-01T10:00:00.000Z,mallory,approve,ui,shop,production,release/shop/production,r1,,"line one\nline two"');
    expect(lines[3]).toBe("2026-12-01T10:00:00.000Z,'@admin,approve,ui,shop,production,release/shop/production,r1,,");
  });

  it('calendarView: open until the window closes; frozen with the freeze and when it opens after it', () => {
    const cal = { timeZone: 'Europe/Berlin', windows: [{ days: ['mon', 'tue', 'wed', 'thu'] as ('mon' | 'tue' | 'wed' | 'thu')[], start: '10:00', end: '16:00', timeZone: 'Europe/Berlin' }], freezes: [{ from: '2026-11-25', to: '2026-11-25', reason: 'prep' }] };
    const open = calendarView('shop', 'production', 'release', cal, Date.parse('2026-11-24T11:00:00+01:00'));
    expect(open).toMatchObject({ open: true, closesAt: new Date(Date.parse('2026-11-24T16:00:00+01:00')).toISOString(), closesAtText: 'Tue 2026-11-24 16:00 Europe/Berlin', configured: true });
    const frozen = calendarView('shop', 'production', 'release', cal, Date.parse('2026-11-25T11:00:00+01:00'));
    expect(frozen).toMatchObject({ open: false, opensAtText: 'Thu 2026-11-26 10:00 Europe/Berlin', freezes: [{ reason: 'prep', active: true }] });
    expect(calendarView('shop', 'qa', 'none', undefined, 0)).toMatchObject({ configured: false, open: true, timeZone: 'UTC' });
  });
});
