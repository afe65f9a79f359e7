// The pipeline's first half against real components: a sample app in a temporary git repository
// (real git), checked out, gated (JUnit, lcov, hadolint, a command, the image size), built by a
// real BuildKit daemon into a real registry as eStargz, verified, then released by digest through
// the (simulated) cluster, and tagged. Failures: gates, moved refs, missing commits, cancellation.
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import tar from 'tar-stream';
import type { PipelineStatus } from '../../core/pipeline.js';
import { FAILURES } from '../../workflows/failures.js';
import { pipelineStatusQuery, pipelineWorkflowId } from '../../workflows/messages.js';
import type { PipelineInput } from '../../workflows/pipeline.js';
import { buildctlBin } from '../../testbed/paths.js';
import {
  createSampleRepo, failingJunit, git, lcov, passingJunit, processesMatching, sampleDockerfile, startBuildBed, startPipelineHarness,
  type BuildBed, type PipelineHarness, type SampleRepo,
} from '../support/build-bed.js';
import { unique } from '../support/temporal.js';

const SECRET = `tok-${crypto.randomBytes(12).toString('hex')}`;
let bed: BuildBed;
let h: PipelineHarness;

beforeAll(async () => {
  bed = await startBuildBed();
  h = await startPipelineHarness(bed, { ...process.env, GANTRY_TEST_TOKEN: SECRET });
}, 180_000);
afterAll(async () => {
  await h?.close();
  await bed?.stop();
}, 60_000);

interface Run { handle: WorkflowHandle; status: PipelineStatus; error?: unknown }

async function startPipeline(repo: string, sample: SampleRepo, sha: string, extra: Partial<PipelineInput> = {}): Promise<WorkflowHandle> {
  const input: PipelineInput = { repo, sha, source: { url: sample.url }, startedBy: { id: 'dave', channel: 'api' }, ...extra };
  return h.client.workflow.start('pipeline', { workflowId: pipelineWorkflowId(repo, sha), taskQueue: h.taskQueue, args: [input] });
}

async function runPipeline(repo: string, sample: SampleRepo, sha: string, extra: Partial<PipelineInput> = {}): Promise<Run> {
  const handle = await startPipeline(repo, sample, sha, extra);
  let error: unknown;
  try { await handle.result(); } catch (err) { error = err; }
  return { handle, status: await handle.query(pipelineStatusQuery), ...(error ? { error } : {}) };
}

const imageOf = (app: string) => `${bed.registry.addr}/gantry/${app}`;

async function manifest(app: string, ref: string): Promise<{ status: number; digest?: string; body?: { config: { digest: string }; layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[] } }> {
  const res = await fetch(`http://${bed.registry.addr}/v2/gantry/${app}/manifests/${ref}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' } });
  if (res.status !== 200) return { status: res.status };
  return { status: 200, digest: res.headers.get('docker-content-digest') ?? undefined, body: await res.json() as never };
}

async function blob(app: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${bed.registry.addr}/v2/gantry/${app}/blobs/${digest}`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** Every tar entry of a (multi-member) gzip layer, read whole: an independent look at what BuildKit pushed. */
async function untar(gz: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (hdr, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => { files.set(hdr.name, Buffer.concat(chunks)); next(); });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([zlib.gunzipSync(gz)]).pipe(extract);
  await done;
  return files;
}

/**
 * The test's own eStargz check, independent of the activity's (which range-reads footer and TOC):
 * download the whole layer, check the media type and annotations, find the footer's STARGZ magic
 * and the TOC offset in the last 51 bytes, decompress the whole layer and hash stargz.index.json.
 */
async function assertEstargz(app: string, layer: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }): Promise<Map<string, Buffer>> {
  expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
  const toc = layer.annotations?.['containerd.io/snapshot/stargz/toc.digest'];
  expect(toc).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(layer.annotations?.['io.containers.estargz.uncompressed-size']).toMatch(/^\d+$/);
  const data = await blob(app, layer.digest);
  expect(data.length).toBe(layer.size);
  const footer = data.subarray(data.length - 51);
  expect(footer.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  const magic = footer.toString('latin1').match(/([0-9a-f]{16})STARGZ/);
  expect(magic).not.toBeNull();
  expect(parseInt(magic![1]!, 16)).toBeLessThan(data.length - 51);
  const files = await untar(data);
  const index = files.get('stargz.index.json');
  expect(index).toBeDefined();
  expect(`sha256:${crypto.createHash('sha256').update(index!).digest('hex')}`).toBe(toc);
  expect(Number(layer.annotations!['io.containers.estargz.uncompressed-size'])).toBe(zlib.gunzipSync(data).length);
  return files;
}

function failureType(err: unknown): string | undefined {
  return err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure ? err.cause.type ?? undefined : undefined;
}

describe('pipeline from commit to eStargz image (real git, BuildKit, registry)', () => {
  const app = unique('web');
  const repo = `acme/${app}`;
  let sample: SampleRepo;
  let first: Run;

  it('checks out, gates, builds, verifies, releases image@digest to each environment and tags the commit', async () => {
    sample = createSampleRepo(bed.dir, {
      app, image: imageOf(app), dockerfile: sampleDockerfile({ secret: true }),
      build: '  secrets: [{ id: token, env: GANTRY_TEST_TOKEN }]\n  args: { APP_MODE: production }\n',
    });
    const sha = sample.head();
    first = await runPipeline(repo, sample, sha, { ref: 'refs/heads/main' });
    const s = first.status;
    expect(s.reason).toBeUndefined();
    expect(first.error).toBeUndefined();
    expect(s.state).toBe('succeeded');
    expect(s.stages.map((x) => [x.name, x.state])).toEqual([
      ['checkout', 'succeeded'], ['gates', 'succeeded'], ['build', 'succeeded'], ['verify', 'succeeded'],
      ['release:staging', 'succeeded'], ['release:production', 'succeeded'], ['tag', 'succeeded'],
    ]);
    for (const st of s.stages) {
      expect(st.durationMs).toBeGreaterThanOrEqual(0);
      expect(Date.parse(st.endedAt!)).toBeGreaterThanOrEqual(Date.parse(st.startedAt!));
    }
    expect(s.stages.find((x) => x.name === 'build')!.toolMs).toBeGreaterThan(0);
    // Commit metadata from git.
    expect(s.commit).toMatchObject({ sha, author: 'Carol Author', email: 'carol@example.com', message: expect.stringMatching(/^sample app/) });
    expect(s.author).toBe('Carol Author');
    // The gate report: every gate, its verdict, duration and log.
    expect(s.gates!.map((g) => [g.name, g.state])).toEqual([['unit', 'passed'], ['coverage', 'passed'], ['dockerfile', 'passed'], ['smoke', 'passed'], ['size', 'passed']]);
    expect(s.gates!.find((g) => g.name === 'unit')!.reason).toBe('3 tests passed');
    expect(s.gates!.find((g) => g.name === 'coverage')!.reason).toMatch(/line coverage 90% \(90\/100 lines\) meets the minimum 80%/);
    expect(s.gates!.find((g) => g.name === 'size')!.reason).toMatch(/within the budget of 50.0 MB/);
    const unitLog = s.gates!.find((g) => g.name === 'unit')!.log!;
    expect(fs.existsSync(unitLog.path)).toBe(true);

    // The image: pushed under the commit sha, by digest, eStargz on every layer (the activity said so, and so does this test).
    const digest = s.image!.digest;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(s.image).toMatchObject({ ref: `${imageOf(app)}@${digest}`, estargz: true });
    const m = await manifest(app, sha);
    expect(m.status).toBe(200);
    expect(m.digest).toBe(digest);
    expect(m.body!.layers.length).toBeGreaterThanOrEqual(1);
    const all = new Map<string, Buffer>();
    for (const layer of m.body!.layers) for (const [k, v] of await assertEstargz(app, layer)) all.set(k, v);
    expect(s.image!.layers).toBe(m.body!.layers.length);

    // The secret reached the RUN step through the secret mount ...
    const sha256 = crypto.createHash('sha256').update(SECRET).digest('hex');
    expect(all.get('app/token.sha256')?.toString()).toContain(sha256);
    // ... and nowhere else: not in the image config/history, the build log, or the workflow history.
    const config = (await blob(app, m.body!.config.digest)).toString();
    expect(config).not.toContain(SECRET);
    expect(all.get('app/mode')?.toString()).toBe('production\n'); // the build argument arrived
    expect(fs.readFileSync(s.stages.find((x) => x.name === 'build')!.reason!.match(/log (\S+) on/)![1]!, 'utf8')).not.toContain(SECRET);
    expect(JSON.stringify(await first.handle.fetchHistory())).not.toContain(SECRET);

    // Releases deployed image@digest, never the mutable tag.
    expect(h.sim.state().targets[`${app}/staging`]?.stable).toMatchObject({ image: imageOf(app), digest, sha });
    expect(h.sim.state().targets[`${app}/production`]?.stable).toMatchObject({ image: imageOf(app), digest, sha });

    // The annotated release tag is in the origin repository, on the commit.
    expect(s.tag).toBe(`release/${app}/${sha.slice(0, 7)}`);
    expect(execFileSync('git', ['cat-file', '-t', `refs/tags/${s.tag}`], { cwd: sample.origin, encoding: 'utf8' }).trim()).toBe('tag');
    expect(execFileSync('git', ['rev-parse', `refs/tags/${s.tag}^{commit}`], { cwd: sample.origin, encoding: 'utf8' }).trim()).toBe(sha);
    expect(execFileSync('git', ['cat-file', '-p', `refs/tags/${s.tag}`], { cwd: sample.origin, encoding: 'utf8' })).toContain(`image: ${imageOf(app)}@${digest}`);
  });

  it('a second build after a one-file change reuses the registry cache: fewer steps run', async () => {
    expect(first?.status.state).toBe('succeeded');
    // Empty BuildKit's local cache, so anything reused comes from the registry cache export.
    execFileSync(buildctlBin, ['--addr', bed.buildkit.addr, 'prune', '--all']);
    const sha = sample.commit({ 'src/version.txt': 'v2\n' }, 'bump version');
    const second = await runPipeline(repo, sample, sha);
    expect(second.status.reason).toBeUndefined();
    expect(second.error).toBeUndefined();
    expect(second.status.state).toBe('succeeded');
    const a = first.status.image!.steps!, b = second.status.image!.steps!;
    expect(b.total).toBe(a.total);
    expect(a.cached).toBe(0);
    expect(b.executed).toBeLessThan(a.executed);
    // COPY busybox, COPY deps and the deps RUN come from the cache; the steps after src/ ran again.
    expect(b.cached).toBeGreaterThanOrEqual(3);
    expect(second.status.image!.digest).not.toBe(first.status.image!.digest);
    expect(second.status.image!.estargz).toBe(true);
  });

  it('a ref that moved and a commit that does not exist stop at checkout with clear errors', async () => {
    const old = first.status.sha; // main has moved on since
    const moved = await runPipeline(`${repo}-moved`, sample, old, { ref: 'refs/heads/main' });
    expect(failureType(moved.error)).toBe('StageFailed');
    expect(moved.status.stages[0]).toMatchObject({ name: 'checkout', state: 'failed', reason: expect.stringMatching(new RegExp(`ref refs/heads/main moved: it points at ${sample.head().slice(0, 12)} now, this pipeline is for ${old.slice(0, 12)}`)) });
    expect(moved.status.stages.slice(1).every((x) => x.state === 'skipped')).toBe(true);
    // What to do about it travels with the status: the failure table's hint for the activity's type.
    expect(moved.status.stages[0]!.hint).toBe(FAILURES.RefMoved.hint);
    expect(moved.status.hint).toBe(FAILURES.RefMoved.hint);

    const missing = '0123456789abcdef0123456789abcdef01234567';
    const gone = await runPipeline(repo, sample, missing);
    expect(failureType(gone.error)).toBe('StageFailed');
    expect(gone.status.stages[0]).toMatchObject({ name: 'checkout', state: 'failed', reason: expect.stringContaining(`commit ${missing} not found in ${sample.url}`), hint: FAILURES.CommitNotFound.hint });
    // Not retried: a missing commit is a non-retryable failure (one attempt in the history).
    const history = await gone.handle.fetchHistory();
    expect(history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1]);
  });
});

describe('quality gates stop the pipeline before any build or release', () => {
  const app = unique('gated');
  let sample: SampleRepo;

  beforeAll(() => { sample = createSampleRepo(bed.dir, { app, image: imageOf(app) }); });

  async function expectGateFailure(sha: string, gate: string, reason: RegExp): Promise<void> {
    const r = await runPipeline(`acme/${app}`, sample, sha);
    expect(failureType(r.error)).toBe('StageFailed');
    const st = r.status;
    expect(st.state).toBe('failed');
    expect(st.stages.map((x) => [x.name, x.state])).toEqual([
      ['checkout', 'succeeded'], ['gates', 'failed'], ['build', 'skipped'], ['verify', 'skipped'],
      ['release:staging', 'skipped'], ['release:production', 'skipped'], ['tag', 'skipped'],
    ]);
    const g = st.gates!.find((x) => x.name === gate)!;
    expect(g.state).toBe('failed');
    expect(g.reason).toMatch(reason);
    expect(st.reason).toMatch(new RegExp(`^gates failed: 1 of 4 gates failed: ${gate}: `));
    // Nothing half-done: no image pushed for the commit, no release started.
    expect((await manifest(app, sha)).status).toBe(404);
    expect(h.effects.filter((e) => e.target.startsWith(`${app}/`))).toEqual([]);
  }

  it('a failing test report names the failing tests', async () => {
    const sha = sample.commit({ 'fixtures/junit.xml': failingJunit }, 'break a test');
    await expectGateFailure(sha, 'unit', /^1 failed, 1 errored of 3 tests: app\.greeting › says goodbye; app\.version › reports the version$/);
  });

  it('coverage below the threshold', async () => {
    const sha = sample.commit({ 'fixtures/junit.xml': passingJunit, 'coverage/lcov.info': lcov(61, 100) }, 'less coverage');
    await expectGateFailure(sha, 'coverage', /^line coverage 61% \(61\/100 lines\) is below the minimum 80%$/);
  });

  it('a Dockerfile lint error', async () => {
    const sha = sample.commit({ 'coverage/lcov.info': lcov(95, 100), Dockerfile: `FROM scratch\nMAINTAINER someone@example.com\nCOPY src/ /app/\n` }, 'old Dockerfile');
    await expectGateFailure(sha, 'dockerfile', /^Dockerfile: 1 finding at warning or above: DL4000 line 2 \(error\): MAINTAINER is deprecated$/);
  });
});

describe('cancelling a pipeline during the build', () => {
  it('kills buildctl and the build step; nothing keeps running and nothing is released', async () => {
    const app = unique('slow');
    const marker = `sleep ${90 + Math.floor(Math.random() * 9)}.${Math.floor(Math.random() * 9) + 1}`;
    const sample = createSampleRepo(bed.dir, { app, image: imageOf(app), gates: '  - { name: smoke, type: command, run: [sh, -c, "true"] }\n', dockerfile: sampleDockerfile({ extraRun: ` && ${marker}` }) });
    const handle = await startPipeline(`acme/${app}`, sample, sample.head());
    // Wait until BuildKit runs the slow RUN step (a real process under runc).
    const deadline = Date.now() + 90_000;
    while (processesMatching(marker).length === 0) {
      if (Date.now() > deadline) throw new Error(`the build step '${marker}' never started`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const buildctls = () => processesMatching(bed.buildkit.addr).filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(buildctlBin));
    expect(buildctls().length).toBe(1);
    await handle.cancel();
    const err = await handle.result().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    // The activity waited for its cancellation to complete: buildctl is gone already; the RUN step follows promptly.
    expect(buildctls()).toEqual([]);
    const gone = Date.now() + 20_000;
    while (processesMatching(marker).length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 200));
    expect(processesMatching(marker)).toEqual([]);
    const st = await handle.query(pipelineStatusQuery);
    expect(st.stages.find((x) => x.name === 'build')).toMatchObject({ state: 'failed', reason: 'cancelled' });
    expect(st.stages.filter((x) => x.name.startsWith('release:')).every((x) => x.state === 'skipped')).toBe(true);
    expect(h.effects.filter((e) => e.target.startsWith(`${app}/`))).toEqual([]);
    expect((await manifest(app, sample.head())).status).toBe(404);
    expect(git(sample.work, 'rev-parse', 'HEAD')).toBe(sample.head());
  });
});
