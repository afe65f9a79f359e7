// The build and registry activities called directly (no workflow) against a real BuildKit and a
// real registry, and the gate runner's report parsers and process handling on real processes.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createGitActivities } from '../../activities/git.js';
import { createBuildActivities } from '../../activities/build.js';
import { gateEnv, parseCobertura, parseHadolintJson, parseJunit, parseLcov, redact, runProcess } from '../../activities/gates.js';
import { createRegistryActivities } from '../../activities/registry.js';
import { defaultBuild } from '../../core/build.js';
import type { GateSpec } from '../../core/gates.js';
import { buildctlBin, hadolintBin } from '../../testbed/paths.js';
import { createSampleRepo, failingJunit, passingJunit, processesMatching, sampleDockerfile, startBuildBed, type BuildBed, type SampleRepo } from '../support/build-bed.js';
import { pushPlainImage } from '../support/auth-registry.js';
import { unique } from '../support/temporal.js';

let bed: BuildBed;
beforeAll(async () => { bed = await startBuildBed(); }, 180_000);
afterAll(async () => { await bed?.stop(); }, 60_000);

async function rejection(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('build and registry activities (real BuildKit and registry)', () => {
  const app = unique('direct');
  let sample: SampleRepo;
  let image: string;
  let digest: string;
  const registry = createRegistryActivities();
  const opts = () => ({ workspaceRoot: bed.workspaceRoot, logDir: bed.logDir, buildkitAddr: bed.buildkit.addr, buildctlBin, hadolintBin, env: { PATH: process.env.PATH } });

  beforeAll(() => {
    image = `${bed.registry.addr}/gantry/${app}`;
    sample = createSampleRepo(bed.dir, { app, image });
  });

  it('buildImage pushes eStargz by digest; a retry of the same commit yields the same digest from cache', async () => {
    const build = createBuildActivities(opts());
    const source = { repo: `acme/${app}`, url: sample.url, sha: sample.head() };
    const req = { pipelineId: 'p1', source, image, build: defaultBuild, commitTime: '2026-11-01T10:00:00Z' };
    const a = await build.buildImage(req);
    expect(a.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a.ref).toBe(`${image}@${a.digest}`);
    expect(a.tag).toBe(source.sha);
    expect(a.steps.executed).toBeGreaterThan(0);
    const b = await build.buildImage(req);
    expect(b.digest).toBe(a.digest); // reproducible: SOURCE_DATE_EPOCH from the commit, timestamps rewritten
    expect(b.steps).toEqual({ total: a.steps.total, executed: 0, cached: a.steps.total });
    digest = a.digest;
  });

  it('verifyImage finds every layer eStargz; resolveDigest and promoteImage work by digest', async () => {
    const v = await registry.verifyImage({ image, digest });
    expect(v).toMatchObject({ estargz: true, reason: expect.stringMatching(/^all \d+ layers? (is|are) eStargz$/) });
    expect(v.layers.length).toBeGreaterThan(0);
    expect(v.sizeBytes).toBeGreaterThan(0);
    expect(await registry.resolveDigest({ image, tag: sample.head() })).toEqual({ digest });
    expect(await registry.promoteImage({ image, digest, tag: 'stable' })).toEqual({ digest, tag: 'stable' });
    expect(await registry.promoteImage({ image, digest, tag: 'stable' })).toEqual({ digest, tag: 'stable' });
    expect(await registry.resolveDigest({ image, tag: 'stable' })).toEqual({ digest });
  });

  it('verifyImage rejects a plain gzip image with the reasons', async () => {
    const plain = `${bed.registry.addr}/gantry/plain-${app}`;
    const d = await pushPlainImage(bed.registry.addr, `gantry/plain-${app}`, 'v1');
    const v = await registry.verifyImage({ image: plain, digest: d });
    expect(v.estargz).toBe(false);
    expect(v.layers[0]!.reasons).toEqual([
      'annotation containerd.io/snapshot/stargz/toc.digest is missing',
      'annotation io.containers.estargz.uncompressed-size is missing',
      'footer: the last 51 bytes are not a gzip member',
    ]);
  });

  it('deleteImage deletes by digest; unknown images are typed non-retryable failures', async () => {
    expect(await registry.deleteImage({ image, digest })).toEqual({ deleted: true });
    expect(await registry.deleteImage({ image, digest })).toEqual({ deleted: false });
    const gone = await rejection(registry.resolveDigest({ image, tag: sample.head() }));
    expect(gone.type).toBe('ImageNotFound');
    expect(gone.nonRetryable).toBe(true);
    const bad = await rejection(registry.deleteImage({ image, digest: 'latest' }));
    expect(bad).toMatchObject({ type: 'BadRequest', nonRetryable: true });
  });

  it('a failing build step is a non-retryable BuildFailed naming the step; a missing secret is refused before building', async () => {
    const build = createBuildActivities(opts());
    const sha = sample.commit({ Dockerfile: sampleDockerfile({ extraRun: ' && exit 3' }) }, 'broken build');
    const err = await rejection(build.buildImage({ pipelineId: 'p2', source: { repo: `acme/${app}`, url: sample.url, sha }, image, build: defaultBuild }));
    expect(err.type).toBe('BuildFailed');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/RUN mkdir -p \/out && cp -r \/deps \/out\/deps && exit 3.*exit code: 3/);
    const secret = await rejection(build.buildImage({ pipelineId: 'p3', source: { repo: `acme/${app}`, url: sample.url, sha }, image, build: { ...defaultBuild, secrets: [{ id: 'npm', env: 'GANTRY_NO_SUCH_VAR' }] } }));
    expect(secret).toMatchObject({ type: 'SecretMissing', nonRetryable: true, message: 'build secret npm: the worker has no environment variable GANTRY_NO_SUCH_VAR' });
  });

  it('a missing buildctl is ToolMissing, non-retryable (retrying on the same worker cannot install it)', async () => {
    const build = createBuildActivities({ ...opts(), buildctlBin: path.join(bed.dir, 'no-such-buildctl') });
    const err = await rejection(build.buildImage({ pipelineId: 'p4', source: { repo: `acme/${app}`, url: sample.url, sha: sample.head() }, image, build: defaultBuild }));
    expect(err).toMatchObject({ type: 'ToolMissing', nonRetryable: true, message: expect.stringContaining('buildctl is not installed on this worker') });
  });

  it('a worktree whose HEAD was moved fails WorkspaceCorrupt (retryable) and is removed, so the retry checks the commit out afresh', async () => {
    const git = createGitActivities({ workspaceRoot: bed.workspaceRoot });
    const before = sample.head();
    const sha = sample.commit({ 'NOTES.md': 'second commit\n' }, 'a second commit');
    const source = { repo: `acme/${app}`, url: sample.url, sha };
    const co = await git.checkout({ pipelineId: 'ws1', source, readConfig: false });
    expect(co.sha).toBe(sha);
    // A gate that moves HEAD (e.g. git checkout) leaves the next activity a worktree at the wrong commit.
    execFileSync('git', ['-C', co.workspace, 'checkout', '--quiet', '--detach', before]);
    const err = await rejection(git.checkout({ pipelineId: 'ws1', source, readConfig: false }));
    expect(err).toMatchObject({ type: 'WorkspaceCorrupt', nonRetryable: false });
    expect(fs.existsSync(co.workspace)).toBe(false);
    // The retry: before the fix it met the same worktree and failed the same way, every attempt.
    const again = await git.checkout({ pipelineId: 'ws1', source, readConfig: false });
    expect(again.workspace).toBe(co.workspace);
    expect(execFileSync('git', ['-C', again.workspace, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()).toBe(sha);
  });
});

describe('git activity cancellation', () => {
  it('cancelling a checkout that hangs on the network kills git and its remote helper', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const server = http.createServer(() => { /* never answers: git waits */ });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as import('node:net').AddressInfo).port;
    const url = `http://127.0.0.1:${port}/hang.git`;
    try {
      const env = new MockActivityEnvironment();
      const git = createGitActivities({ workspaceRoot: path.join(bed.dir, 'cancel-ws') });
      const run = env.run(git.checkout, { pipelineId: 'c', source: { repo: 'hang/repo', url, sha: 'a'.repeat(40) }, readConfig: false });
      const deadline = Date.now() + 20_000;
      // Cancel once git's HTTP helper has connected and waits for an answer that never comes.
      while (sockets.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(sockets.size).toBeGreaterThan(0);
      expect(processesMatching(url).length).toBeGreaterThan(0);
      env.cancel();
      const err = await run.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(CancelledFailure);
      const gone = Date.now() + 10_000;
      while (processesMatching(url).length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
      expect(processesMatching(url)).toEqual([]);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});

describe('gate reports and processes', () => {
  it('parses JUnit: nested suites, skipped, failures and errors by name, count-only suites', () => {
    expect(parseJunit(passingJunit)).toEqual({ tests: 3, failures: 0, errors: 0, skipped: 0, failing: [] });
    expect(parseJunit(failingJunit)).toEqual({ tests: 3, failures: 1, errors: 1, skipped: 0, failing: ['app.greeting › says goodbye', 'app.version › reports the version'] });
    const nested = `<testsuites><testsuite name="outer"><testsuite name="inner"><testcase name="a"><skipped/></testcase><testcase name="b &amp; c"><failure/></testcase></testsuite></testsuite></testsuites>`;
    expect(parseJunit(nested)).toEqual({ tests: 2, failures: 1, errors: 0, skipped: 1, failing: ['b & c'] });
    expect(parseJunit('<testsuite name="s" tests="5" failures="2" errors="0" skipped="1"></testsuite>')).toMatchObject({ tests: 5, failures: 2, skipped: 1 });
    expect(() => parseJunit('<html/>')).toThrow(/not a JUnit report/);
  });

  it('parses lcov and Cobertura line coverage', () => {
    expect(parseLcov('TN:\nSF:a.js\nLF:10\nLH:7\nend_of_record\nSF:b.js\nLF:30\nLH:30\nend_of_record\n')).toEqual({ format: 'lcov', covered: 37, total: 40 });
    expect(() => parseLcov('hello')).toThrow(/not an lcov tracefile/);
    expect(parseCobertura('<?xml version="1.0"?><coverage line-rate="0.75" lines-covered="75" lines-valid="100" version="1"><packages/></coverage>'))
      .toEqual({ format: 'cobertura', covered: 75, total: 100, rate: 0.75 });
    expect(() => parseCobertura('<report/>')).toThrow(/not a Cobertura report/);
  });

  it('parses hadolint JSON from the real hadolint', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-hl-'));
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nMAINTAINER x\n');
    let out = '';
    const r = await runProcess({ argv: [hadolintBin, '--no-fail', '--format', 'json', 'Dockerfile'], cwd: dir, env: { PATH: process.env.PATH }, timeoutMs: 30_000, logFile: path.join(dir, 'log'), onLine: (l) => { out += l; return undefined; } });
    expect(r.exitCode).toBe(0);
    expect(parseHadolintJson(out)).toEqual([{ code: 'DL4000', level: 'error', line: 2, message: 'MAINTAINER is deprecated' }]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a gate sees a minimal environment, its own variables and the named worker variables only', () => {
    const gate: GateSpec = { name: 'g', type: 'command', run: ['true'], env: { MODE: 'ci' }, passEnv: ['NPM_TOKEN'] };
    const env = gateEnv(gate, { PATH: '/bin', HOME: '/root', NPM_TOKEN: 'secret-value', AWS_SECRET_ACCESS_KEY: 'nope' });
    expect(env).toEqual({ PATH: '/bin', HOME: '/root', LANG: 'C.UTF-8', CI: 'true', MODE: 'ci', NPM_TOKEN: 'secret-value' });
    expect(() => gateEnv(gate, { PATH: '/bin' })).toThrow(/the worker has no environment variable NPM_TOKEN/);
    expect(redact('token=secret-value!', ['secret-value'])).toBe('token=[redacted]!');
  });

  it('a timeout kills the whole process group, children included; output is capped', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-proc-'));
    const marker = `sleep 7${Math.floor(Math.random() * 90) + 10}.5`;
    const r = await runProcess({
      argv: ['sh', '-c', `head -c 300000 /dev/zero | tr '\\0' 'x'; echo; (${marker}) & ${marker}`], cwd: dir, env: { PATH: process.env.PATH },
      timeoutMs: 1500, logFile: path.join(dir, 'gate.log'), maxLogBytes: 10_000,
    });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.log.truncated).toBe(true);
    expect(r.log.bytes).toBeGreaterThan(300_000);
    expect(fs.statSync(path.join(dir, 'gate.log')).size).toBeLessThan(10_100);
    expect(fs.readFileSync(path.join(dir, 'gate.log'), 'utf8')).toContain('[gantry: output truncated at 10000 bytes]');
    await new Promise((res) => setTimeout(res, 300));
    expect(processesMatching(marker)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an abort signal (activity cancellation) kills the process group promptly', async () => {
    const ac = new AbortController();
    const marker = `sleep 8${Math.floor(Math.random() * 90) + 10}.5`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-proc-'));
    const p = runProcess({ argv: ['sh', '-c', `(${marker}) & ${marker}`], cwd: dir, env: { PATH: process.env.PATH }, timeoutMs: 0, logFile: path.join(dir, 'log'), signal: ac.signal });
    while (processesMatching(marker).length < 2) await new Promise((res) => setTimeout(res, 50));
    ac.abort();
    const r = await p;
    expect(r.cancelled).toBe(true);
    await new Promise((res) => setTimeout(res, 300));
    expect(processesMatching(marker)).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
