// Gantry builds its own image with its own pipeline, on the test bed: this repository's commit
// (pushed to a local bare git remote) goes through the root gantry.yaml (checkout, hadolint and
// command gates, a BuildKit build of the root Dockerfile from the test bed's local Node base image,
// eStargz push, verify, the image-size gate, a release to the simulated cluster). Then the image is
// checked from the registry (config, and the layers' eStargz tables of contents: the prebuilt
// workflow bundle is there, no devDependency is), and STARTED: a BuildKit build FROM the pushed
// image runs, as the image's user, the CLI, then the API and a release worker from the image
// against this test's Temporal server (host networking); a release sent to that API is run by
// that worker from the prebuilt bundle; both stop cleanly on SIGTERM, and nothing was written
// outside /tmp and the data dir (what a read-only root filesystem needs). Last, the build-worker
// target (git, buildctl, hadolint; the two tool images stood in for by the test bed's binaries):
// a build worker started from it runs the checkout and gates of a gates-only pipeline.
import crypto from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import tar from 'tar-stream';
import { RegistryClient } from '../../activities/registry.js';
import { parseConfigText, type GantryConfig } from '../../core/config.js';
import { FOOTER_SIZE, parseFooter, TOC_TAR_NAME } from '../../core/estargz.js';
import type { Manifest } from '../../core/image.js';
import type { PipelineStatus } from '../../core/pipeline.js';
import { ensureBaseImage, type BaseImage } from '../../testbed/base-image.js';
import { buildctlBin, hadolintBin } from '../../testbed/paths.js';
import { pipelineStatusQuery, pipelineWorkflowId } from '../../workflows/messages.js';
import type { PipelineInput } from '../../workflows/pipeline.js';
import { git, startBuildBed, startPipelineHarness, type BuildBed, type PipelineHarness } from '../support/build-bed.js';
import { testAddress, unique } from '../support/temporal.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPOSITORY = 'gantry/gantry';
let bed: BuildBed;
let h: PipelineHarness;
let base: BaseImage;

beforeAll(async () => {
  bed = await startBuildBed();
  // The local Node base (rootfs cached by `npm run testbed -- install`), into this test's registry.
  base = await ensureBaseImage({ registryAddr: bed.registry.addr, buildkitAddr: bed.buildkit.addr, log: () => undefined });
  h = await startPipelineHarness(bed);
}, 10 * 60_000);
afterAll(async () => {
  await h?.close();
  await bed?.stop();
}, 60_000);

interface TocEntry { name: string; type: string; size?: number; uid?: number; gid?: number; mode?: number }

/** The stargz.index.json of one eStargz layer: footer and TOC range-read through the registry API. */
async function tocOf(c: RegistryClient, layer: { digest: string; size: number }): Promise<TocEntry[]> {
  const footer = parseFooter(new Uint8Array(await c.blobRange(REPOSITORY, layer.digest, layer.size - FOOTER_SIZE, layer.size - 1)));
  if (!footer.ok) throw new Error(`layer ${layer.digest}: ${footer.error}`);
  const tocTar = zlib.gunzipSync(await c.blobRange(REPOSITORY, layer.digest, footer.tocOffset, layer.size - FOOTER_SIZE - 1));
  let json: Buffer | undefined;
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (hdr, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (b: unknown) => chunks.push(b as Buffer));
      stream.on('end', () => { if (hdr.name === TOC_TAR_NAME) json = Buffer.concat(chunks); next(); });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([tocTar]).pipe(extract);
  await done;
  if (!json) throw new Error(`layer ${layer.digest}: no ${TOC_TAR_NAME} in its TOC`);
  return (JSON.parse(json.toString('utf8')) as { entries: TocEntry[] }).entries;
}

/** Processes (on this machine: BuildKit's RUN steps run here) whose environment holds `marker`. */
function nodeProcessesWith(marker: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const env = fs.readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (env.includes(marker) && path.basename(cmd[0] ?? '') === 'node') out.push(Number(d));
    } catch { /* gone, or not ours to read */ }
  }
  return out;
}

async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, stop?: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = stop?.();
    if (why) throw new Error(`${what}: ${why}`);
    try { const v = await check(); if (v !== undefined) return v; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface Build { output(): string; code(): number | null | undefined; exited: Promise<number | null>; child: ChildProcess }

/** buildctl in the background (plain progress: the RUN steps' output is in `output()`). */
function startBuild(args: string[]): Build {
  const child = spawn(buildctlBin, ['--addr', bed.buildkit.addr, 'build', '--progress', 'plain', '--frontend', 'dockerfile.v0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let code: number | null | undefined;
  child.stdout!.setEncoding('utf8').on('data', (t: string) => { output += t; });
  child.stderr!.setEncoding('utf8').on('data', (t: string) => { output += t; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => { code = c; resolve(c); }));
  return { output: () => output, code: () => code, exited, child };
}

const buildArgs = (args: Record<string, string>) => Object.entries(args).flatMap(([k, v]) => ['--opt', `build-arg:${k}=${v}`]);

describe("Gantry's own image, built by Gantry's pipeline", () => {
  let status: PipelineStatus;
  let digest: string;
  let imageRef: string;
  let sha: string;

  it('the root gantry.yaml takes this commit through checkout, gates, build (local base), verify and release', async () => {
    expect(base.ref).toBe(`${bed.registry.addr}/gantry-base/node:20.20.2-bookworm-slim`);
    // This repository's commit, in a local bare remote (as a clone URL would serve it).
    sha = git(root, 'rev-parse', 'HEAD');
    const origin = path.join(bed.dir, 'gantry.git');
    execFileSync('git', ['init', '-q', '--bare', origin]);
    execFileSync('git', ['-C', origin, 'config', 'receive.shallowUpdate', 'true']); // when this clone is shallow
    git(root, 'push', '-q', origin, `${sha}:refs/heads/main`);
    // The committed gantry.yaml, as is, but for the image repository and the base image.
    const parsed = parseConfigText(git(root, 'show', `${sha}:gantry.yaml`));
    if (!parsed.ok) throw new Error(`gantry.yaml: ${JSON.stringify(parsed.errors)}`);
    expect(parsed.config.build?.args.NODE_IMAGE).toBe('node:20.20.2-bookworm-slim');
    const config: GantryConfig = {
      ...parsed.config,
      app: { ...parsed.config.app, image: `${bed.registry.addr}/${REPOSITORY}` },
      build: { ...parsed.config.build!, args: { ...parsed.config.build!.args, NODE_IMAGE: base.ref } },
    };
    const repo = `gantry-ci/${unique('gantry')}`;
    const input: PipelineInput = { repo, sha, config, source: { url: `file://${origin}`, depth: 1 }, startedBy: { id: 'ci', channel: 'api' } };
    const handle = await h.client.workflow.start('pipeline', { workflowId: pipelineWorkflowId(repo, sha), taskQueue: h.taskQueue, args: [input] });
    let error: unknown;
    try { await handle.result(); } catch (err) { error = err; }
    status = await handle.query(pipelineStatusQuery);
    const build = status.stages.find((s) => s.name === 'build');
    const log = build?.reason?.match(/log (\S+)/)?.[1];
    if (status.state !== 'succeeded') throw new Error(`pipeline ${status.state}: ${status.reason}\n${log && fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-4000) : ''}\n${String(error)}`);
    expect(status.stages.map((s) => [s.name, s.state])).toEqual([
      ['checkout', 'succeeded'], ['gates', 'succeeded'], ['build', 'succeeded'], ['verify', 'succeeded'], ['release:production', 'succeeded'],
    ]);
    expect(status.gates!.map((g) => [g.name, g.state])).toEqual([
      ['dockerfile', 'passed'], ['cli-entry', 'passed'], ['config-parser-entry', 'passed'], ['size', 'passed'],
    ]);
    expect(status.image).toMatchObject({ estargz: true });
    digest = status.image!.digest;
    imageRef = `${bed.registry.addr}/${REPOSITORY}@${digest}`;
    expect(status.image!.ref).toBe(imageRef);
    console.log(`self-image: pipeline ${Math.round(Date.parse(status.stages.at(-1)!.endedAt!) - Date.parse(status.stages[0]!.startedAt!)) / 1000} s; `
      + `build ${(build!.durationMs! / 1000).toFixed(0)} s; base image ${base.built ? `built in ${(base.ms / 1000).toFixed(0)} s` : 'reused'}; `
      + `size gate: ${status.gates!.find((g) => g.name === 'size')!.reason}`);
  }, 15 * 60_000);

  it('the image runs as a numeric non-root user, holds the prebuilt workflow bundle, and no devDependency', async () => {
    expect(digest).toBeDefined();
    const c = new RegistryClient(bed.registry.addr);
    const { manifest } = await c.getManifest(REPOSITORY, digest) as { manifest: Manifest };
    const configRes = await fetch(c.url(REPOSITORY, 'blobs', manifest.config!.digest));
    const image = await configRes.json() as { config: { User?: string; Env?: string[]; Cmd?: string[]; WorkingDir?: string; ExposedPorts?: Record<string, unknown> } };
    expect(image.config.User).toBe('10001:10001');
    expect(image.config.WorkingDir).toBe('/app');
    expect(image.config.Cmd).toEqual(['node', '--import', 'tsx', 'api/main.ts']);
    expect(Object.keys(image.config.ExposedPorts ?? {})).toEqual(['8080/tcp']);
    expect(image.config.Env).toEqual(expect.arrayContaining([
      'NODE_ENV=production', 'GANTRY_DATA_DIR=/var/lib/gantry', 'GANTRY_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js', 'GANTRY_API_ADDR=0.0.0.0:8080',
    ]));

    // Every file of the image, from the layers' tables of contents (later layers win).
    const files = new Map<string, TocEntry>();
    for (const layer of manifest.layers!) {
      // A large file's further chunks are entries of their own (type chunk): the first entry describes the file.
      for (const e of await tocOf(c, layer)) if (e.type !== 'chunk') files.set(e.name.replace(/^\.?\//, '').replace(/\/$/, ''), e);
    }
    const bundle = files.get('app/dist/workflow-bundle.js');
    expect(bundle).toMatchObject({ type: 'reg' });
    expect(bundle!.uid ?? 0).toBe(0); // the TOC leaves zero values out: root owns the code
    expect(bundle!.size).toBeGreaterThan(1024 * 1024);
    // The same bytes Temporal's bundler makes of this commit's workflows? At least its entry point.
    expect(files.get('app/workflows/index.ts')).toMatchObject({ type: 'reg' });
    expect(files.get('usr/local/bin/node')).toMatchObject({ type: 'reg' });
    expect(files.get('var/lib/gantry')).toMatchObject({ type: 'dir', uid: 10001, gid: 10001 });
    expect(files.get('usr/local/bin/gantry')).toMatchObject({ type: 'symlink' });
    for (const prod of ['tsx', '@temporalio/worker', '@temporalio/core-bridge', 'fastify', 'zod']) {
      expect(files.get(`app/node_modules/${prod}/package.json`)).toMatchObject({ type: 'reg' });
    }
    // No devDependency: every package the lockfile marks dev-only is absent (jest, typescript, eslint, ...).
    const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([p, v]) => p && v.dev).map(([p]) => p);
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/jest', 'node_modules/typescript', 'node_modules/eslint']));
    expect(devOnly.filter((p) => files.has(`app/${p}`))).toEqual([]);
    // Nor the repository's tests, test bed, benchmarks or git metadata.
    expect(['app/test', 'app/testbed', 'app/bench', 'app/.git', 'app/Dockerfile'].filter((p) => files.has(p))).toEqual([]);
  }, 120_000);

  it('starts from the image: CLI, API and release worker (prebuilt bundle) run a release, stop on SIGTERM, write only /tmp and the data dir', async () => {
    expect(imageRef).toBeDefined();
    const marker = `GANTRY_SELF_TEST=${crypto.randomBytes(8).toString('hex')}`;
    const token = crypto.randomBytes(16).toString('hex');
    const port = 20_000 + crypto.randomInt(20_000);
    const taskQueue = unique('tq-self-image');
    const dir = fs.mkdtempSync(path.join(bed.dir, 'start-'));
    fs.writeFileSync(path.join(dir, 'Dockerfile'), [
      'ARG IMAGE',
      'FROM ${IMAGE}',
      'ARG TEMPORAL_ADDRESS', 'ARG GANTRY_TASK_QUEUE', 'ARG GANTRY_BUILD_TASK_QUEUE', 'ARG GANTRY_TOKENS', 'ARG API_PORT', 'ARG GANTRY_SELF_TEST',
      // As the image's user (USER 10001:10001 is inherited): the CLI, then both servers; the test ends them.
      'RUN touch /tmp/.start && echo "uid $(id -u)" && gantry config schema > /tmp/schema.json && test -s /tmp/schema.json && echo "cli ok" \\',
      ' && { GANTRY_WORKER_ROLE=release GANTRY_CLUSTER=sim GANTRY_SIM_APPLY_DELAY_MS=0 GANTRY_SIM_READY_DELAY_MS=0 node --import tsx worker/main.ts & W=$!; \\',
      '      GANTRY_API_ADDR=127.0.0.1:$API_PORT node --import tsx api/main.ts & A=$!; \\',
      '      wait $W; w=$?; wait $A; a=$?; echo "exit codes: worker $w api $a"; \\',
      '      echo "written outside /tmp and /var/lib/gantry:"; \\',
      // (Directories the user may not even read, like /root, are left out: it cannot write there either.)
      '      find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /var/lib/gantry \\) -prune -o -newer /tmp/.start -print 2>/dev/null; \\',
      '      echo "end of list"; test $w -eq 0 && test $a -eq 0; }',
      '',
    ].join('\n'));
    const args = {
      IMAGE: imageRef, TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: taskQueue, GANTRY_BUILD_TASK_QUEUE: `${taskQueue}-build`,
      GANTRY_TOKENS: JSON.stringify({ [token]: { id: 'alice', groups: ['sre'] } }), API_PORT: String(port), GANTRY_SELF_TEST: marker.split('=')[1]!,
    };
    const build = startBuild(['--local', `context=${dir}`, '--local', `dockerfile=${dir}`, ...buildArgs(args)]);
    const api = `http://127.0.0.1:${port}`;
    const ended = () => (build.code() !== undefined ? `the build ended (exit ${build.code()}) first:\n${build.output().slice(-4000)}` : undefined);
    try {
      await poll('the image\'s API to answer', 180_000, async () => ((await fetch(`${api}/healthz`)).ok ? true : undefined), ended);
      const app = unique('selfimg');
      const auth = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
      const res = await fetch(`${api}/v1/releases`, {
        method: 'POST', headers: auth,
        body: JSON.stringify({
          config: `app: { name: ${app}, image: registry.local/${app} }\nenvironments: [{ name: staging, replicas: 2, cells: [{ name: a }], groups: [{ pods: 1 }, { pods: rest }] }]\n`,
          environment: 'staging', revision: { digest: `sha256:${'ab'.repeat(32)}`, sha: 'c0ffee1' },
        }),
      });
      expect(await res.text()).toMatch(/workflowId/);
      expect(res.status).toBe(201);
      // Run by the image's worker: no other worker polls this task queue.
      const phase = await poll('the release to end', 120_000, async () => {
        const s = await (await fetch(`${api}/v1/releases/${app}/staging`, { headers: auth })).json() as { phase?: string };
        return s.phase === 'succeeded' || s.phase === 'failed' || s.phase === 'rolled-back' ? s.phase : undefined;
      }, ended);
      expect(phase).toBe('succeeded');
      // SIGTERM, as Kubernetes stops a pod: both stop and exit 0, so the RUN step (and the build) succeeds.
      const pids = nodeProcessesWith(marker);
      expect(pids).toHaveLength(2);
      for (const pid of pids) process.kill(pid, 'SIGTERM');
      await poll('the build to end', 60_000, async () => (build.code() !== undefined ? true : undefined));
    } finally {
      for (const pid of nodeProcessesWith(marker)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      if (build.code() === undefined) build.child.kill('SIGTERM');
      await build.exited;
    }
    const output = build.output();
    if (build.code() !== 0) throw new Error(`the start build failed (exit ${build.code()}):\n${output.slice(-6000)}`);
    expect(output).toMatch(/uid 10001\b/);
    expect(output).toContain('cli ok');
    expect(output).toContain(`gantry worker: role release, task queue ${taskQueue} on `);
    expect(output).toMatch(/gantry worker: role release, .*, workflows from the prebuilt bundle \/app\/dist\/workflow-bundle\.js/);
    expect(output).toContain('exit codes: worker 0 api 0');
    const written = /written outside \/tmp and \/var\/lib\/gantry:\n([\s\S]*?)#\d+ [\d.]+ end of list/.exec(output)?.[1];
    expect(written).toBeDefined();
    expect(written!.split('\n').map((l) => l.replace(/^#\d+ [\d.]+ /, '').trim()).filter(Boolean)).toEqual([]);
  }, 10 * 60_000);

  it('the build-worker target adds git, buildctl and hadolint; a build worker from it runs checkout and gates of a pipeline', async () => {
    expect(imageRef).toBeDefined();
    // Stand-ins for moby/buildkit and hadolint/hadolint (no Docker Hub here): the test bed's own
    // pinned binaries, at the paths the Dockerfile copies from.
    const tools = fs.mkdtempSync(path.join(bed.dir, 'tools-'));
    fs.copyFileSync(buildctlBin, path.join(tools, 'buildctl'));
    fs.copyFileSync(hadolintBin, path.join(tools, 'hadolint'));
    fs.writeFileSync(path.join(tools, 'Dockerfile.buildkit'), 'FROM scratch\nCOPY buildctl /usr/bin/buildctl\n');
    fs.writeFileSync(path.join(tools, 'Dockerfile.hadolint'), 'FROM scratch\nCOPY hadolint /bin/hadolint\n');
    const toolImage = async (name: string) => {
      const b = startBuild(['--local', `context=${tools}`, '--local', `dockerfile=${tools}`, '--opt', `filename=Dockerfile.${name}`,
        '--output', `type=image,name=${bed.registry.addr}/tools/${name}:test,push=true`]);
      if (await b.exited !== 0) throw new Error(`tool image ${name}: ${b.output().slice(-2000)}`);
      return `${bed.registry.addr}/tools/${name}:test`;
    };
    const [buildkitImage, hadolintImage] = [await toolImage('buildkit'), await toolImage('hadolint')];

    // The commit's sources and its Dockerfile, plus one stage on top of build-worker that runs the
    // tools and then the build worker (as the image's user) until the test stops it.
    const src = fs.mkdtempSync(path.join(bed.dir, 'src-'));
    execFileSync('git', ['-C', root, 'archive', '--format=tar', '-o', path.join(bed.dir, 'src.tar'), sha]);
    execFileSync('tar', ['-xf', path.join(bed.dir, 'src.tar'), '-C', src]);
    const df = fs.mkdtempSync(path.join(bed.dir, 'dockerfile-'));
    fs.writeFileSync(path.join(df, 'Dockerfile'), `${git(root, 'show', `${sha}:Dockerfile`)}

FROM build-worker AS check
ARG TEMPORAL_ADDRESS
ARG GANTRY_BUILD_TASK_QUEUE
ARG GANTRY_TASK_QUEUE
ARG GANTRY_SELF_TEST
RUN echo "uid $(id -u)" && git --version && buildctl --version && hadolint --version \\
 && { GANTRY_WORKER_ROLE=build node --import tsx worker/main.ts & W=$!; wait $W; w=$?; echo "exit code: build worker $w"; test $w -eq 0; }
`);
    const marker = `GANTRY_SELF_TEST=${crypto.randomBytes(8).toString('hex')}`;
    const buildQueue = unique('tq-self-build');
    const build = startBuild(['--local', `context=${src}`, '--local', `dockerfile=${df}`, '--opt', 'target=check', ...buildArgs({
      NODE_IMAGE: base.ref, BUILDKIT_IMAGE: buildkitImage, HADOLINT_IMAGE: hadolintImage,
      // The pipeline's build passed the commit time: the same value lets the stages it built come from the cache.
      SOURCE_DATE_EPOCH: git(root, 'log', '-1', '--format=%ct', sha),
      TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: `${buildQueue}-release`, GANTRY_BUILD_TASK_QUEUE: buildQueue, GANTRY_SELF_TEST: marker.split('=')[1]!,
    })]);
    // The commit, served by git's own daemon on loopback (the RUN step shares the host's network, not its files).
    const port = 20_000 + crypto.randomInt(20_000);
    const daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${bed.dir}`, '--listen=127.0.0.1', `--port=${port}`, bed.dir], { stdio: 'ignore', detached: true });
    try {
      const ended = () => (build.code() !== undefined ? `the build ended (exit ${build.code()}) first:\n${build.output().slice(-4000)}` : undefined);
      await poll('the build worker in the image to start', 300_000, async () => (/gantry worker: role build/.test(build.output()) ? true : undefined), ended);
      // A gates-only pipeline: the workflow on this test's worker, checkout and gates on the image's build worker.
      const repo = `gantry-ci/${unique('gantry-gates')}`;
      const input: PipelineInput = {
        repo, sha, gatesOnly: true, buildTaskQueue: buildQueue, source: { url: `git://127.0.0.1:${port}/gantry.git`, depth: 1 }, startedBy: { id: 'ci', channel: 'api' },
      };
      const handle = await h.client.workflow.start('pipeline', { workflowId: pipelineWorkflowId(repo, sha), taskQueue: h.taskQueue, args: [input] });
      let error: unknown;
      try { await handle.result(); } catch (err) { error = err; }
      const gates = await handle.query(pipelineStatusQuery);
      if (gates.state !== 'succeeded') throw new Error(`gates-only pipeline ${gates.state}: ${gates.reason} ${String(error)}\n${build.output().slice(-3000)}`);
      expect(gates.stages.map((s) => [s.name, s.state])).toEqual([['checkout', 'succeeded'], ['gates', 'succeeded']]);
      // (The image-size gate judges a built image: a gates-only run does not get to it.)
      expect(gates.gates!.filter((g) => g.name !== 'size').map((g) => [g.name, g.state])).toEqual([['dockerfile', 'passed'], ['cli-entry', 'passed'], ['config-parser-entry', 'passed']]);
      // Run by the image's build worker: its logs are paths in its data dir, on its host.
      expect(gates.gates![0]!.log!.path).toMatch(/^\/var\/lib\/gantry\/pipeline-logs\//);
      const pids = nodeProcessesWith(marker);
      expect(pids).toHaveLength(1);
      process.kill(pids[0]!, 'SIGTERM');
      await poll('the build to end', 60_000, async () => (build.code() !== undefined ? true : undefined));
    } finally {
      for (const pid of nodeProcessesWith(marker)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      if (build.code() === undefined) build.child.kill('SIGTERM');
      await build.exited;
      try { process.kill(-daemon.pid!, 'SIGTERM'); } catch { /* gone */ }
    }
    const out = build.output();
    if (build.code() !== 0) throw new Error(`the build-worker build failed (exit ${build.code()}):\n${out.slice(-6000)}`);
    expect(out).toMatch(/uid 10001\b/);
    expect(out).toMatch(/git version 2\.39\.5/);
    expect(out).toMatch(/buildctl github\.com\/moby\/buildkit v0\.31\.2/);
    expect(out).toMatch(/Haskell Dockerfile Linter 2\.15\.1/);
    expect(out).toContain('exit code: build worker 0');
  }, 10 * 60_000);
});
