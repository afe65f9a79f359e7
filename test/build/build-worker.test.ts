// Untrusted code runs apart from credentials (issue 8, item 6). Two real worker processes on the
// run's dev server, as in a split install: a release worker (GANTRY_WORKER_ROLE=release: the
// workflows, a kubeconfig, a GitHub token) on the task queue, and a build worker
// (GANTRY_WORKER_ROLE=build: no cluster, no token) on the build task queue, running as another
// user (uid 65534), as a build pod would. A pipeline started through the API's service runs a gate
// that prints its environment, its parent's environment (/proc/$PPID/environ: the worker that
// spawned it) and tries to read the release worker's kubeconfig, whose path it is given. The gate
// must have run on the build worker, and found neither the kubeconfig nor the release worker's secrets.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Client, Connection } from '@temporalio/client';
import type { PipelineStatus } from '../../core/pipeline.js';
import { HistoryReader } from '../../api/history.js';
import { GantryService } from '../../api/service.js';
import { loadWorkerConfig, RuntimeConfigError } from '../../runtime/config.js';
import { BUILD_ACTIVITY_NAMES, createBuildWorkerActivities, createGantryActivities, createReleaseWorkerActivities } from '../../worker/activities.js';
import { gatesWorkflowId } from '../../workflows/messages.js';
import { createSampleRepo, type SampleRepo } from '../support/build-bed.js';
import { connectClient, testAddress, unique } from '../support/temporal.js';

jest.setTimeout(300_000);

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const NOBODY = 65534;
const GITHUB_SECRET = `ghs_release-only-${unique('secret')}`;
const KUBE_SECRET = `kube-token-${unique('secret')}`;

/** The gate: who it is, its environment, its parent's, and the release worker's kubeconfig (argv: report file, kubeconfig path). */
const probeScript = `out="$1"; kc="$2"
{
  echo "uid=$(id -u) ppid=$PPID"
  echo "--- env"; env
  echo "--- parent env"; tr '\\000' '\\n' < /proc/$PPID/environ
  echo "--- kubeconfig"
  if cat "$kc"; then echo "KUBECONFIG READ"; else echo "KUBECONFIG UNREADABLE"; fi
} > "$out" 2>&1
exit 0
`;

interface Proc { child: ChildProcess; output: () => string }

function startWorker(argv: string[], env: NodeJS.ProcessEnv): Promise<Proc> {
  const child = spawn(argv[0]!, [...argv.slice(1), process.execPath, '--import', 'tsx', path.join(root, 'worker', 'main.ts')], {
    cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      output += b.toString();
      if (output.includes('gantry worker: role')) resolve({ child, output: () => output });
    });
    child.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready:\n${output}`)));
  });
}

async function stop(p: Proc | undefined): Promise<void> {
  const c = p?.child;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const kill = setTimeout(() => c.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(kill);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('worker roles (runtime/config.ts, worker/activities.ts)', () => {
  const base = { PATH: process.env.PATH, HOME: os.tmpdir(), GANTRY_DATA_DIR: path.join(os.tmpdir(), 'gantry-test-data') };
  const errors = (env: Record<string, string>) => {
    try { loadWorkerConfig({ ...base, ...env }); } catch (err) { if (err instanceof RuntimeConfigError) return err.errors; throw err; }
    return [];
  };

  it('a build or release worker needs a build task queue of its own; a bad role names the setting', () => {
    for (const role of ['build', 'release']) {
      expect(errors({ GANTRY_WORKER_ROLE: role, GANTRY_CLUSTER: 'sim', GANTRY_TASK_QUEUE: 'q' })).toEqual([
        expect.objectContaining({ path: 'GANTRY_BUILD_TASK_QUEUE', message: expect.stringContaining(`a ${role} worker needs a build task queue`) }),
      ]);
    }
    expect(errors({ GANTRY_WORKER_ROLE: 'builder', GANTRY_CLUSTER: 'sim' })).toEqual([
      expect.objectContaining({ path: 'GANTRY_WORKER_ROLE', hint: expect.stringContaining('build') }),
    ]);
    expect(errors({ GANTRY_BUILD_TASK_QUEUE: 'has space', GANTRY_CLUSTER: 'sim' }).map((e) => e.path)).toEqual(['GANTRY_BUILD_TASK_QUEUE']);
  });

  it('the build task queue defaults to the task queue: one worker serves everything', () => {
    const c = loadWorkerConfig({ ...base, GANTRY_CLUSTER: 'sim', GANTRY_TASK_QUEUE: 'one' });
    expect([c.role, c.taskQueue, c.buildTaskQueue]).toEqual(['all', 'one', 'one']);
  });

  it('a build worker reads nothing of a cluster: a missing kubeconfig is no error, and it gets no cluster', () => {
    const env = { GANTRY_WORKER_ROLE: 'build', GANTRY_TASK_QUEUE: 'r', GANTRY_BUILD_TASK_QUEUE: 'b', GANTRY_CLUSTER: 'kubernetes', GANTRY_KUBECONFIG: '/nonexistent/kubeconfig' };
    const c = loadWorkerConfig({ ...base, ...env });
    expect(c.cluster.kind).toBe('none');
    // The same settings for a release worker fail on the kubeconfig: the build worker really skipped it.
    expect(errors({ ...env, GANTRY_WORKER_ROLE: 'release' }).map((e) => e.path)).toEqual(['GANTRY_KUBECONFIG']);
    expect(() => createGantryActivities(c)).toThrow(/no cluster/);
  });

  it('the build activities are exactly the source activities; the release activities have none of them', () => {
    const c = loadWorkerConfig({ ...base, GANTRY_CLUSTER: 'sim' });
    const build = Object.keys(createBuildWorkerActivities(c)).sort();
    const release = Object.keys(createReleaseWorkerActivities(c));
    expect(build).toEqual([...BUILD_ACTIVITY_NAMES].sort());
    expect(release.filter((k) => build.includes(k))).toEqual([]);
    expect([...build, ...release].sort()).toEqual(Object.keys(createGantryActivities(c)).sort());
  });
});

describe('a gate on the build worker finds neither the release worker\'s kubeconfig nor its secrets', () => {
  let dir: string;
  let sample: SampleRepo;
  let release: Proc | undefined;
  let build: Proc | undefined;
  let client: Client;
  let connection: Connection;
  let kubeconfig: string;
  let outDir: string;
  const taskQueue = unique('tq-release');
  const buildTaskQueue = unique('tq-build');
  const app = unique('isolated');

  beforeAll(async () => {
    // The build worker runs as another user, which takes root to arrange (setpriv); the test bed runs as root.
    if (process.getuid?.() !== 0) throw new Error('this test starts the build worker as uid 65534 with setpriv: run it as root (as .ci/run does)');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-build-worker-'));
    fs.chmodSync(dir, 0o755);
    // The release worker's secrets: a kubeconfig only it may read, in a directory only it may enter.
    const secrets = path.join(dir, 'release-secrets');
    fs.mkdirSync(secrets, { mode: 0o700 });
    kubeconfig = path.join(secrets, 'kubeconfig');
    fs.writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:1' } }]
users: [{ name: u, user: { token: ${KUBE_SECRET} } }]
contexts: [{ name: c, context: { cluster: c, user: u } }]
current-context: c
`, { mode: 0o600 });
    // The repository and the build worker's state belong to the build user.
    sample = createSampleRepo(dir, { app, image: `127.0.0.1:5000/gantry/${app}`, gates: '  - { name: probe, type: command, run: [sh, scripts/probe.sh, REPORT, KUBECONFIG] }\n' });
    outDir = path.join(dir, 'reports');
    const buildData = path.join(dir, 'build-data');
    for (const d of [outDir, buildData]) fs.mkdirSync(d);
    sample.commit({
      'scripts/probe.sh': probeScript,
      'gantry.yaml': fs.readFileSync(path.join(sample.work, 'gantry.yaml'), 'utf8')
        .replace('REPORT', path.join(outDir, 'probe.txt')).replace('KUBECONFIG', kubeconfig),
    }, 'the probe gate');
    for (const d of [sample.origin, outDir, buildData]) fs.chownSync(d, NOBODY, NOBODY);
    for (const f of walk(sample.origin)) fs.lchownSync(f, NOBODY, NOBODY);

    const common = { PATH: process.env.PATH, TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: taskQueue, GANTRY_BUILD_TASK_QUEUE: buildTaskQueue, GANTRY_LOG_LEVEL: 'WARN' };
    [release, build] = await Promise.all([
      startWorker(['env'], {
        ...common, HOME: process.env.HOME, GANTRY_WORKER_ROLE: 'release', GANTRY_DATA_DIR: path.join(dir, 'release-data'),
        GANTRY_CLUSTER: 'kubernetes', GANTRY_KUBECONFIG: kubeconfig, GANTRY_GITHUB_TOKEN: GITHUB_SECRET,
      }),
      startWorker(['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'], {
        ...common, HOME: buildData, GANTRY_WORKER_ROLE: 'build', GANTRY_DATA_DIR: buildData,
      }),
    ]);
    ({ client, connection } = await connectClient());
  }, 300_000);

  afterAll(async () => {
    await Promise.all([stop(release), stop(build)]);
    await connection?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs checkout and the gate on the build worker, which sees no kubeconfig and no token', async () => {
    // The release worker really holds them (else the check below proves nothing).
    expect(fs.readFileSync(`/proc/${release!.child.pid}/environ`, 'utf8')).toContain(GITHUB_SECRET);
    expect(release!.output()).toMatch(/role release, task queue \S+ on .*cluster: kubernetes/);
    expect(build!.output()).toMatch(/role build, task queue \S+ on .*cluster: none/);

    // As the API starts it (GANTRY_BUILD_TASK_QUEUE on the API: the service passes it in the pipeline's input).
    const service = new GantryService(client, taskQueue, buildTaskQueue);
    const sha = sample.head();
    await service.startPipeline({ repo: app, sha, revision: {}, source: { url: sample.url }, gatesOnly: true },
      { identity: { id: 'carol', groups: ['developers'] }, channel: 'api' });
    const p = await until('the gates-only pipeline to end', () => service.pipelineStatus(app, sha, { gatesOnly: true })
      .then((s: PipelineStatus) => (s.state !== 'running' ? s : undefined)));
    expect({ state: p.state, gates: p.gates?.map((g) => [g.name, g.state]) }).toEqual({ state: 'succeeded', gates: [['probe', 'passed']] });

    // Who ran what: the identity that started each activity task, from the workflow's history.
    const history = await client.workflow.getHandle(gatesWorkflowId(app, sha)).fetchHistory();
    const scheduled = new Map<string, { type: string; queue: string }>();
    const ran: [string, string, string][] = [];
    for (const e of history.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), { type: s.activityType?.name ?? '', queue: s.taskQueue?.name ?? '' });
      const st = e.activityTaskStartedEventAttributes;
      if (st) { const a = scheduled.get(String(st.scheduledEventId))!; ran.push([a.type, a.queue, st.identity ?? '']); }
    }
    const buildIdentity = `gantry-build-worker@${os.hostname()}-${build!.child.pid}`;
    expect(ran).toEqual([['checkout', buildTaskQueue, buildIdentity], ['runGate', buildTaskQueue, buildIdentity]]);

    // What the gate saw.
    const report = fs.readFileSync(path.join(outDir, 'probe.txt'), 'utf8');
    expect(report).toMatch(new RegExp(`^uid=${NOBODY} ppid=${build!.child.pid}$`, 'm'));
    expect(report).toContain('--- parent env');
    expect(report).toContain('GANTRY_WORKER_ROLE=build');
    expect(report).toContain('KUBECONFIG UNREADABLE');
    expect(report).not.toContain('KUBECONFIG READ');
    for (const secret of [GITHUB_SECRET, KUBE_SECRET, 'GANTRY_GITHUB_TOKEN', 'GANTRY_KUBECONFIG', 'GANTRY_CLUSTER']) expect(report).not.toContain(secret);
  });

  it('the gate log is read back where it was written: the build worker polls its host and log directory queue, the release worker does not', async () => {
    expect(build!.output()).toContain(`gate logs of this host readable through task queue ${buildTaskQueue}@${os.hostname()}/`);
    expect(release!.output()).not.toContain('gate logs of this host');
    const service = new GantryService(client, taskQueue, buildTaskQueue);
    const tail = await new HistoryReader(service).gateLog(app, sample.head(), 'probe', { gatesOnly: true });
    // Only the build worker polls that queue, and only its own data directory holds the file.
    expect(tail.path.startsWith(path.join(dir, 'build-data') + path.sep)).toBe(true);
    expect({ host: tail.host, shown: tail.shownBytes }).toEqual({ host: os.hostname(), shown: tail.bytes });
  });
});

describe('one worker (GANTRY_WORKER_ROLE=all) with a build task queue serves both queues', () => {
  let dir: string;
  let worker: Proc | undefined;
  let client: Client;
  let connection: Connection;
  const taskQueue = unique('tq-all');
  const buildTaskQueue = unique('tq-all-build');

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-all-worker-'));
    worker = await startWorker(['env'], {
      PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: testAddress(), GANTRY_LOG_LEVEL: 'WARN',
      GANTRY_TASK_QUEUE: taskQueue, GANTRY_BUILD_TASK_QUEUE: buildTaskQueue, GANTRY_CLUSTER: 'sim', GANTRY_DATA_DIR: path.join(dir, 'data'),
    });
    ({ client, connection } = await connectClient());
  }, 300_000);
  afterAll(async () => {
    await stop(worker);
    await connection?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('polls the build queue too, so a pipeline whose input names it still runs', async () => {
    expect(worker!.output()).toContain(`role all, task queue ${taskQueue} and ${buildTaskQueue} on`);
    const app = unique('single');
    const sample = createSampleRepo(dir, { app, image: `127.0.0.1:5000/gantry/${app}`, gates: '  - { name: smoke, type: command, run: [sh, -c, "test -s src/index.html"] }\n' });
    const service = new GantryService(client, taskQueue, buildTaskQueue);
    const sha = sample.head();
    await service.startPipeline({ repo: app, sha, revision: {}, source: { url: sample.url }, gatesOnly: true }, { identity: { id: 'carol', groups: [] }, channel: 'api' });
    const p = await until('the gates-only pipeline to end', () => service.pipelineStatus(app, sha, { gatesOnly: true })
      .then((s: PipelineStatus) => (s.state !== 'running' ? s : undefined)));
    expect([p.state, p.gates?.map((g) => g.state)]).toEqual(['succeeded', ['passed']]);
    const history = await client.workflow.getHandle(gatesWorkflowId(app, sha)).fetchHistory();
    const queues = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.taskQueue?.name] : []));
    expect(queues).toEqual([buildTaskQueue, buildTaskQueue]);
  });
});

function walk(d: string): string[] {
  return fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(d, e.name);
    return e.isDirectory() ? [p, ...walk(p)] : [p];
  });
}
