// Console benchmark (`npx tsx bench/console.ts`, part of npm run bench): what the views at /ui cost to
// render with 100 releases in flight. A throwaway Temporal dev server (Gantry's search attributes
// registered), the real worker (worker/main.ts, simulated cluster) in its own process, and the real API
// (buildServer with the console behind a trusted auth proxy) in ANOTHER process, so its CPU is its own:
// this file re-runs itself with `--api`. 100 releases over 25 apps × 4 environments wait for approval
// (two groups, the first manual). Prints `BENCH <name> <value> <unit>` lines:
//  - pages, sequential after a warm-up: /ui (home: "waiting for me" + the releases table), its polled
//    fragment, one release's page; the JSON GET /v1/releases (and one release's JSON) for comparison.
//    `_ms_*` is the round trip on loopback, `_server_ms_*` Fastify's own reply time in the API process.
//  - where the time goes: the visibility lists, the status query and the memo (describe) as this
//    process makes them, and the views' pure render functions (api/console/views) on captured data.
//  - per SSE update: K = 1, 10, 100 subscribers (plain fetch readers of /ui/releases/:app/:env/live,
//    one per release), each update a decision (pause, then resume) on one watched release via
//    service.decide; the time from the decision to that subscriber's fragment, and the API process's
//    CPU per update (process.cpuUsage over the run / updates; and less what the same K streams cost
//    with nothing changing, measured right after for as long). Each stream polls the status every
//    500 ms (api/stream.ts), so K streams cost 2K status reads a second whether anything changes or not.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { identityTable } from '../api/auth.js';
import { createConsoleAuth } from '../api/console/auth.js';
import { page } from '../api/console/layout.js';
import type { ConsoleDeps, Viewer } from '../api/console/types.js';
import { releasesFragment, type Row } from '../api/console/views/home.js';
import { liveBody, memoOf, releasePage } from '../api/console/views/release.js';
import { buildServer } from '../api/server.js';
import { GantryService, type Caller } from '../api/service.js';
import { ReleaseStreams, STREAM_EVENTS } from '../api/stream.js';
import type { ConsoleSettings } from '../runtime/config.js';
import { startEphemeralTemporal } from '../testbed/ephemeral-temporal.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const self = fileURLToPath(import.meta.url);
const APPS = 25;
const ENVS = ['dev', 'staging', 'prod-eu', 'prod-us'] as const;
const RELEASES = APPS * ENVS.length;
const N = Number(process.env.BENCH_CONSOLE_REQUESTS ?? 200);
const UPDATES = Number(process.env.BENCH_CONSOLE_UPDATES ?? 30);
const SUBSCRIBERS = (process.env.BENCH_CONSOLE_SUBSCRIBERS ?? '1,10,100').split(',').map(Number);
const TOKEN = 'bench-console-token-alice-0123456789';
const SECRET = 'bench-console-session-secret-0123456789abcdef';
const DIGEST = `sha256:${'d'.repeat(64)}`;
const PREVIOUS = `sha256:${'e'.repeat(64)}`;

/** What the auth proxy adds for alice (an approver of every release, so all 100 wait for her). */
const ALICE = { 'x-forwarded-user': 'alice', 'x-forwarded-groups': 'sre' };
const aliceIdentity = { id: 'alice', groups: ['sre'] };
/** bob decides (pause/resume) during the SSE runs; ci-bot started every release. */
const bob: Caller = { identity: { id: 'bob', groups: [] }, channel: 'api' };
const ciBot: Caller = { identity: { id: 'ci-bot', groups: ['ci'] }, channel: 'api' };

const settings = {
  sessionSecretEnv: 'GANTRY_UI_SESSION_SECRET', sessionTtlMs: 3600_000,
  proxy: { trusted: ['127.0.0.1', '::1'], userHeader: 'x-forwarded-user', groupsHeader: 'x-forwarded-groups' },
  env: { GANTRY_UI_SESSION_SECRET: SECRET },
} as unknown as ConsoleSettings;

function bench(name: string, value: number, unit: string): void {
  console.log(`BENCH ${name} ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}`);
}
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const p50 = (xs: number[]) => percentile(sorted(xs), 50);
const p95 = (xs: number[]) => percentile(sorted(xs), 95);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function config(app: string): string {
  return `app: { name: ${app}, image: registry.local/bench/${app} }
environments:
${ENVS.map((e) => `  - name: ${e}
    replicas: 2
    cells: [{ name: zone-a }]
    groups:
      - { pods: 1, confirm: { type: manual } }
      - { pods: rest }
    approvers: { users: [alice, bob], groups: [sre], required: 1 }
`).join('')}`;
}

// ---------------------------------------------------------------------------------------------
// The API process (`bench/console.ts --api <temporal address> <task queue>`)

interface CpuReply { user: number; system: number }
type ToApi = { cmd: 'cpu' } | { cmd: 'times' } | { cmd: 'polls' } | { cmd: 'stop' };

async function apiProcess(address: string, taskQueue: string): Promise<void> {
  const connection = await Connection.connect({ address });
  const service = new GantryService(new Client({ connection, namespace: 'default' }), taskQueue);
  // The default stream settings (poll interval, heartbeats), made here so the status polls can be counted.
  const streams = new ReleaseStreams(service);
  const server = buildServer({
    service, logger: false, streams,
    identities: identityTable([{ identity: aliceIdentity, token: TOKEN }]),
    console: { auth: createConsoleAuth(settings), temporalUiUrl: 'http://127.0.0.1:8233' },
  });
  // Fastify's own reply time per route (ms, from the request's arrival to the reply sent).
  const times = new Map<string, number[]>();
  server.addHook('onResponse', (req, reply, done) => {
    const key = `${req.method} ${req.routeOptions.url ?? '?'}`;
    let list = times.get(key);
    if (!list) times.set(key, list = []);
    list.push(reply.elapsedTime);
    done();
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const a = server.server.address();
  process.on('message', (m: ToApi) => {
    switch (m.cmd) {
      case 'cpu': process.send!({ cpu: process.cpuUsage() }); break;
      case 'times': process.send!({ times: Object.fromEntries(times) }); times.clear(); break;
      case 'polls': process.send!({ polls: streams.statusCalls }); break;
      case 'stop': void server.close().then(() => connection.close()).finally(() => process.exit(0)); break;
      default: {
        const never: never = m;
        throw new Error(`unknown message ${JSON.stringify(never)}`);
      }
    }
  });
  process.send!({ port: a && typeof a === 'object' ? a.port : 0 });
}

/** The API child: ask it something over IPC and wait for the answer. */
function ask<T>(child: ChildProcess, cmd: ToApi['cmd'], key: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>) => { if (key in m) { child.off('message', on); resolve(m[key] as T); } };
    child.on('message', on);
    child.send({ cmd });
  });
}
const cpuMs = (c: CpuReply) => (c.user + c.system) / 1000;

// ---------------------------------------------------------------------------------------------
// The live route read as htmx's SSE extension reads it

class Live {
  readonly fragments: string[] = [];
  readonly arrived: number[] = [];
  /** Named events other than the end: `gantry-end-error` carries the error that ended the stream. */
  readonly events: string[] = [];
  done = false;
  private readonly abort = new AbortController();

  static async open(url: string): Promise<Live> {
    const l = new Live();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', 'hx-request': 'true', ...ALICE }, signal: l.abort.signal });
    if (res.status !== 200) throw new Error(`live route ${url}: HTTP ${res.status} ${await res.text()}`);
    void l.read(res.body!.getReader());
    return l;
  }

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let named = '';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) named = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          // Unnamed messages are the fragments htmx swaps; `retry:` and heartbeats carry no data.
          if (!named && data.length) { this.fragments.push(data.join('\n')); this.arrived.push(performance.now()); }
          if (named && named !== 'gantry-end') this.events.push(`${named}: ${data.join('\n')}`);
        }
      }
    } catch { /* aborted */ }
    this.done = true;
  }

  close(): void { this.abort.abort(); }
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000, everyMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------

function startWorker(address: string, taskQueue: string, simDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'worker', 'main.ts')], {
    cwd: root, stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TEMPORAL_ADDRESS: address, GANTRY_TASK_QUEUE: taskQueue, GANTRY_SIM_DIR: simDir, GANTRY_LOG_LEVEL: 'WARN', GANTRY_SIM_APPLY_DELAY_MS: '0', GANTRY_SIM_READY_DELAY_MS: '0' },
  });
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('gantry worker: role')) resolve(child); });
    child.once('exit', (c) => reject(new Error(`bench worker exited ${c}`)));
  });
}

function startApi(address: string, taskQueue: string): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--api', address, taskQueue], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { port?: number }) => resolve({ child, base: `http://127.0.0.1:${m.port}` }));
    child.once('exit', (c) => reject(new Error(`bench API exited ${c}`)));
  });
}

/** CPU seconds (user + system) of another process so far, from /proc (10 ms ticks). */
function procCpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function main(): Promise<void> {
  const temporal = await startEphemeralTemporal();
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: 'default' });
  const taskQueue = 'bench-console';
  const simDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-console-'));
  const service = new GantryService(client, taskQueue);
  let worker: ChildProcess | undefined;
  let api: ChildProcess | undefined;
  try {
    console.log(`# Temporal dev server ${temporal.address}; ${os.cpus().length} cores; node ${process.version}`);
    worker = await startWorker(temporal.address, taskQueue, simDir);
    const started = await startApi(temporal.address, taskQueue);
    api = started.child;
    const base = started.base;

    // ---- 100 releases waiting for approval
    const releases = Array.from({ length: APPS }, (_, a) => `app-${String(a).padStart(2, '0')}`).flatMap((app) => ENVS.map((env) => ({ app, env })));
    const t0 = performance.now();
    for (let i = 0; i < releases.length; i += 20) {
      await Promise.all(releases.slice(i, i + 20).map(({ app, env }, j) => service.startRelease({
        config: config(app), environment: env,
        revision: { digest: DIGEST, sha: (i + j).toString(16).padStart(8, '0').repeat(5), author: 'erin', message: `feat: change ${i + j} <b>bold</b> & "quoted"` },
        previous: { image: `registry.local/bench/${app}`, digest: PREVIOUS },
      }, ciBot)));
    }
    await until('100 releases waiting for approval', async () => {
      const phases = await Promise.all(releases.map((r) => service.status(r.app, r.env, 0).then((s) => s.phase, () => 'starting')));
      return phases.every((p) => p === 'waiting-approval') ? true : undefined;
    }, 300_000, 500);
    // The lists read visibility, which follows the workflows a little later.
    await until('100 waiting releases in the visibility list', async () => {
      const rows = await service.list(500, { running: true });
      return rows.length === RELEASES && rows.every((r) => r.waitingOn === 'approval') ? true : undefined;
    }, 60_000, 250);
    bench('console_releases_in_flight', RELEASES, 'releases');
    bench('console_setup_start_to_waiting_ms', performance.now() - t0, 'ms');

    // ---- pages, sequential, after a warm-up
    const one = releases[RELEASES - 1]!;
    const targets = [
      { name: 'console_home', url: '/ui', headers: ALICE, route: 'GET /ui' },
      { name: 'console_home_fragment', url: '/ui/fragments/releases', headers: ALICE, route: 'GET /ui/fragments/releases' },
      { name: 'console_release_page', url: `/ui/releases/${one.app}/${one.env}`, headers: ALICE, route: 'GET /ui/releases/:app/:env' },
      { name: 'json_releases', url: `/v1/releases?limit=${RELEASES * 2}`, headers: { authorization: `Bearer ${TOKEN}` }, route: 'GET /v1/releases' },
      { name: 'json_release', url: `/v1/releases/${one.app}/${one.env}`, headers: { authorization: `Bearer ${TOKEN}` }, route: 'GET /v1/releases/:app/:env' },
    ];
    const bodies = new Map<string, string>();
    for (const t of targets) {
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${base}${t.url}`, { headers: t.headers });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`${t.url}: HTTP ${res.status}: ${text.slice(0, 500)}`);
        bodies.set(t.name, text);
      }
    }
    // What the pages hold: every release in the table, the 50 "waiting for me" the list is bounded to.
    const home = bodies.get('console_home')!;
    const tableRows = (body: string, testid: string) => { const i = body.indexOf(`data-testid="${testid}"`); return i < 0 ? 0 : (body.slice(i, body.indexOf('</table>', i)).match(/<tr data-release=/g) ?? []).length; };
    const json = JSON.parse(bodies.get('json_releases')!) as { releases: unknown[] };
    bench('console_home_table_rows', tableRows(home, 'releases'), 'rows');
    bench('console_home_waiting_for_me_rows', tableRows(home, 'waiting-for-me'), 'rows');
    bench('console_home_bytes', Buffer.byteLength(home), 'B');
    bench('console_release_page_bytes', Buffer.byteLength(bodies.get('console_release_page')!), 'B');
    bench('json_releases_bytes', Buffer.byteLength(bodies.get('json_releases')!), 'B');
    if (tableRows(home, 'releases') !== RELEASES || json.releases.length !== RELEASES) {
      throw new Error(`expected ${RELEASES} releases on the home page and in the JSON list; got ${tableRows(home, 'releases')} and ${json.releases.length}`);
    }

    await ask(api, 'times', 'times');
    const client50: Record<string, number> = {};
    const server50: Record<string, number> = {};
    const cpuPerRequest: Record<string, number> = {};
    // Interleaved rounds (one request of each kind per round), so drift in the machine's load hits all alike.
    const rt = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    const cpu = new Map<string, number>(targets.map((t) => [t.name, 0]));
    for (let i = 0; i < N; i++) {
      for (const t of targets) {
        const c0 = await ask<CpuReply>(api, 'cpu', 'cpu');
        const s = performance.now();
        const res = await fetch(`${base}${t.url}`, { headers: t.headers });
        await res.arrayBuffer();
        rt.get(t.name)!.push(performance.now() - s);
        const c1 = await ask<CpuReply>(api, 'cpu', 'cpu');
        cpu.set(t.name, cpu.get(t.name)! + cpuMs(c1) - cpuMs(c0));
        if (res.status !== 200) throw new Error(`${t.url}: HTTP ${res.status}`);
      }
    }
    const serverTimes = await ask<Record<string, number[]>>(api, 'times', 'times');
    for (const t of targets) {
      const xs = rt.get(t.name)!;
      const st = serverTimes[t.route] ?? [];
      if (st.length !== N) throw new Error(`${t.route}: ${st.length} server timings for ${N} requests`);
      client50[t.name] = p50(xs);
      server50[t.name] = p50(st);
      cpuPerRequest[t.name] = cpu.get(t.name)! / N;
      bench(`${t.name}_ms_p50`, p50(xs), 'ms');
      bench(`${t.name}_ms_p95`, p95(xs), 'ms');
      bench(`${t.name}_server_ms_p50`, p50(st), 'ms');
      bench(`${t.name}_server_ms_p95`, p95(st), 'ms');
      // Includes the IPC of the two cpu probes around it (the same small amount for every kind).
      bench(`${t.name}_api_cpu_ms_per_request`, cpuPerRequest[t.name]!, 'ms');
    }
    bench('console_home_vs_json_ratio', client50.console_home! / client50.json_releases!, 'x');
    bench('console_home_vs_json_server_ratio', server50.console_home! / server50.json_releases!, 'x');
    bench('console_home_vs_json_cpu_ratio', cpuPerRequest.console_home! / cpuPerRequest.json_releases!, 'x');
    bench('console_fragment_vs_json_ratio', client50.console_home_fragment! / client50.json_releases!, 'x');
    bench('console_release_page_vs_json_ratio', client50.console_release_page! / client50.json_release!, 'x');

    // ---- where the time goes: the reads (from this process, as the API makes them) and the pure renders
    const reads = { list: [] as number[], mine: [] as number[], status: [] as number[], memo: [] as number[], rpc: [] as number[] };
    const deps: ConsoleDeps = { service, auth: createConsoleAuth(settings), streams: new ReleaseStreams(service), temporalUiUrl: 'http://127.0.0.1:8233' };
    const viewer: Viewer = { identity: aliceIdentity, csrf: 'x'.repeat(43), via: 'proxy' };
    let rows: Row[] = [];
    let mine: Row[] = [];
    let status = await service.status(one.app, one.env, STREAM_EVENTS, aliceIdentity);
    let memo = await memoOf(deps, one.app, one.env);
    for (let i = 0; i < Math.min(N, 100); i++) {
      let s = performance.now();
      rows = await service.list(200, {}) as Row[];
      reads.list.push(performance.now() - s);
      s = performance.now();
      mine = await service.list(50, { waitingFor: aliceIdentity }) as Row[];
      reads.mine.push(performance.now() - s);
      s = performance.now();
      status = await service.status(one.app, one.env, STREAM_EVENTS, aliceIdentity);
      reads.status.push(performance.now() - s);
      s = performance.now();
      memo = await memoOf(deps, one.app, one.env);
      reads.memo.push(performance.now() - s);
      // The floor of the list: the one visibility RPC, its payloads (memos) left undecoded.
      s = performance.now();
      await client.workflowService.listWorkflowExecutions({ namespace: 'default', query: `WorkflowType = 'release'`, pageSize: 200 });
      reads.rpc.push(performance.now() - s);
    }
    bench('console_read_visibility_list_100_ms_p50', p50(reads.list), 'ms');
    bench('console_read_list_rpc_only_ms_p50', p50(reads.rpc), 'ms');
    bench('console_read_waiting_for_me_list_ms_p50', p50(reads.mine), 'ms');
    bench('console_read_status_query_ms_p50', p50(reads.status), 'ms');
    bench('console_read_memo_describe_ms_p50', p50(reads.memo), 'ms');
    const renders = { home: [] as number[], fragment: [] as number[], release: [] as number[], live: [] as number[] };
    const ctx = { status, ...(memo ? { memo } : {}), viewer, now: Date.now() };
    const filters = { show: 'all' as const };
    for (let i = 0; i < 300; i++) {
      let s = performance.now();
      page({ title: 'Releases', viewer, nav: 'releases', body: releasesFragment(mine, rows, filters, Date.now()) }).toString();
      renders.home.push(performance.now() - s);
      s = performance.now();
      releasesFragment(mine, rows, filters, Date.now()).toString();
      renders.fragment.push(performance.now() - s);
      s = performance.now();
      releasePage(ctx, deps).toString();
      renders.release.push(performance.now() - s);
      s = performance.now();
      liveBody(ctx).toString();
      renders.live.push(performance.now() - s);
    }
    bench('console_render_home_ms_p50', p50(renders.home.slice(50)), 'ms');
    bench('console_render_home_fragment_ms_p50', p50(renders.fragment.slice(50)), 'ms');
    bench('console_render_release_page_ms_p50', p50(renders.release.slice(50)), 'ms');
    bench('console_render_live_fragment_ms_p50', p50(renders.live.slice(50)), 'ms');
    bench('console_home_render_share_of_server_time', p50(renders.home.slice(50)) / server50.console_home!, 'x');

    // ---- SSE: K subscribers, one per release; updates are decisions on watched releases
    const streamsPollMs = new ReleaseStreams(service).pollMs;
    bench('console_sse_poll_interval_ms', streamsPollMs, 'ms');
    const paused = new Set<string>();
    for (const k of SUBSCRIBERS.filter((n) => n >= 1 && n <= RELEASES)) {
      const watched = releases.slice(0, k);
      const lives = await Promise.all(watched.map((r) => Live.open(`${base}/ui/releases/${r.app}/${r.env}/live`)));
      await until(`the first fragment on ${k} streams`, () => (lives.every((l) => l.fragments.length >= 1) ? true : undefined), 60_000, 50);
      await sleep(2 * streamsPollMs);

      const latency: number[] = [];
      const decideMs: number[] = [];
      const afterDecide: number[] = [];
      let missed = 0;
      let endedWithError = 0;
      const w0 = procCpuMs(worker.pid!);
      const t0s = procCpuMs(temporal.pid);
      const c0 = cpuMs(await ask<CpuReply>(api, 'cpu', 'cpu'));
      const r0 = performance.now();
      for (let u = 0; u < UPDATES; u++) {
        const i = u % k;
        const r = watched[i]!;
        const live = lives[i]!;
        // Each release alternates pause and resume.
        const key = `${r.app}/${r.env}`;
        const action = paused.has(key) ? 'resume' : 'pause';
        const seen = live.fragments.length;
        const s = performance.now();
        await service.decide(r.app, r.env, action, bob);
        decideMs.push(performance.now() - s);
        if (action === 'pause') paused.add(key); else paused.delete(key);
        const at = await until(`the ${action} fragment of ${r.app}/${r.env}`, () => {
          if (live.done) return -1;
          for (let j = seen; j < live.fragments.length; j++) {
            // The newest decision is the first one in the timeline (newest first).
            const m = /data-testid="timeline-decision">[^]*?<strong>([a-z]+)<\/strong> by ([a-z-]+)/.exec(live.fragments[j]!);
            if (m && m[1] === action && m[2] === 'bob') return live.arrived[j]!;
          }
          return undefined;
        }, 30_000, 2).catch(() => -2);
        if (at < 0) {
          // The stream ended (an error event: the status query failed) or the fragment never came: a
          // browser's htmx would reconnect; so does this reader, and the update counts as missed.
          missed++;
          if (live.done) endedWithError++;
          console.error(`# k=${k}: no ${action} fragment for ${r.app}/${r.env} (${live.done ? `stream ended: ${live.events.at(-1) ?? 'no error event'}` : 'timed out after 30 s'})`);
          live.close();
          lives[i] = await Live.open(`${base}/ui/releases/${r.app}/${r.env}/live`);
        } else {
          latency.push(at - s);
          afterDecide.push(at - s - decideMs.at(-1)!);
        }
        // Let the poller settle so the next update's fragment is its own; a random extra wait so the
        // decisions do not lock to the poller's phase (the latency then samples the whole interval).
        await sleep(streamsPollMs + 100 + Math.random() * streamsPollMs);
      }
      const runS = (performance.now() - r0) / 1000;
      const runCpu = cpuMs(await ask<CpuReply>(api, 'cpu', 'cpu')) - c0;
      const workerCpu = procCpuMs(worker.pid!) - w0;
      const temporalCpu = procCpuMs(temporal.pid) - t0s;
      // The same K streams with nothing changing, for as long (at most 30 s): what the pollers cost anyway.
      const idleMs = Math.min(runS * 1000, 30_000);
      const i0 = cpuMs(await ask<CpuReply>(api, 'cpu', 'cpu'));
      const p0 = await ask<number>(api, 'polls', 'polls');
      const iw0 = procCpuMs(worker.pid!);
      const it0 = procCpuMs(temporal.pid);
      const f0 = lives.reduce((n, l) => n + l.fragments.length, 0);
      await sleep(idleMs);
      const idleCpuPerS = (cpuMs(await ask<CpuReply>(api, 'cpu', 'cpu')) - i0) / (idleMs / 1000);
      const idlePollsPerS = (await ask<number>(api, 'polls', 'polls') - p0) / (idleMs / 1000);
      const idleWorkerCpuPerS = (procCpuMs(worker.pid!) - iw0) / (idleMs / 1000);
      const idleTemporalCpuPerS = (procCpuMs(temporal.pid) - it0) / (idleMs / 1000);
      // Fragments with no decision made: the status changes by itself while a release waits (the
      // observed state's heartbeat, its `at`), and each change resends the whole live body.
      const idleFragmentsPerStreamPerMin = (lives.reduce((n, l) => n + l.fragments.length, 0) - f0) / k / (idleMs / 60_000);
      bench(`console_sse_k${k}_updates_missed`, missed, 'count');
      bench(`console_sse_k${k}_streams_ended_by_error`, endedWithError + lives.filter((l) => l.done).length, 'count');
      if (!latency.length) { for (const l of lives) l.close(); continue; }
      bench(`console_sse_k${k}_update_latency_ms_p50`, p50(latency), 'ms');
      bench(`console_sse_k${k}_update_latency_ms_p95`, p95(latency), 'ms');
      bench(`console_sse_k${k}_decide_ms_p50`, p50(decideMs), 'ms');
      bench(`console_sse_k${k}_decided_to_fragment_ms_p50`, p50(afterDecide), 'ms');
      bench(`console_sse_k${k}_cpu_ms_per_update`, runCpu / UPDATES, 'ms');
      // Noisy when the updates cost little next to the polling (can come out below zero).
      bench(`console_sse_k${k}_cpu_ms_per_update_over_idle`, (runCpu - idleCpuPerS * runS) / UPDATES, 'ms');
      bench(`console_sse_k${k}_idle_api_cpu_ms_per_s`, idleCpuPerS, 'ms/s');
      bench(`console_sse_k${k}_idle_status_polls_per_s`, idlePollsPerS, '1/s');
      bench(`console_sse_k${k}_idle_fragments_per_stream_per_min`, idleFragmentsPerStreamPerMin, '1/min');
      bench(`console_sse_k${k}_idle_api_cpu_ms_per_status_poll`, idleCpuPerS / idlePollsPerS, 'ms');
      bench(`console_sse_k${k}_worker_cpu_ms_per_s`, workerCpu / runS, 'ms/s');
      bench(`console_sse_k${k}_idle_worker_cpu_ms_per_s`, idleWorkerCpuPerS, 'ms/s');
      bench(`console_sse_k${k}_temporal_cpu_ms_per_s`, temporalCpu / runS, 'ms/s');
      bench(`console_sse_k${k}_idle_temporal_cpu_ms_per_s`, idleTemporalCpuPerS, 'ms/s');
      if (k === 1) {
        // The headline numbers: one browser watching one release.
        bench('console_sse_update_latency_ms_p50', p50(latency), 'ms');
        bench('console_sse_cpu_ms_per_update', runCpu / UPDATES, 'ms');
      }
      for (const l of lives) l.close();
      await sleep(streamsPollMs * 2);
    }
  } finally {
    if (api?.connected) {
      api.send({ cmd: 'stop' } satisfies ToApi);
      await Promise.race([new Promise((r) => api!.once('exit', r)), sleep(5_000)]);
    }
    api?.kill('SIGKILL');
    worker?.kill('SIGKILL');
    await connection.close();
    temporal.stop();
    fs.rmSync(simDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--api') {
  apiProcess(process.argv[3]!, process.argv[4]!).catch((err: unknown) => { console.error(err); process.exit(1); });
} else {
  main().catch((err: unknown) => { console.error(err); process.exit(1); });
}
