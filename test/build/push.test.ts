// A push builds from source: a real `git push` to a bare repository whose post-receive hook runs
// `gantry hook post-receive --source`. main gets the full pipeline (checkout, gates, BuildKit build,
// eStargz check, releases, tag); a feature branch gets a gates-only run (checkout and gates, no build).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import type { PipelineStatus } from '../../core/pipeline.js';
import { cliBin, listenOnLoopback, people, testServer, until } from '../api/helpers.js';
import { createSampleRepo, git, gitAsync, startBuildBed, startPipelineHarness, type BuildBed, type PipelineHarness, type SampleRepo } from '../support/build-bed.js';
import { unique } from '../support/temporal.js';

// Real git, BuildKit and registry on a shared 2-core machine: a push takes about a minute when the
// machine is busy (speed is measured in bench/build.ts, not here).
jest.setTimeout(300_000);

let bed: BuildBed;
let h: PipelineHarness;
let server: FastifyInstance;
let sample: SampleRepo;
let app: string;
const saved = { api: process.env.GANTRY_API, token: process.env.GANTRY_TOKEN };

beforeAll(async () => {
  bed = await startBuildBed();
  h = await startPipelineHarness(bed);
  server = testServer(h.service);
  const url = await listenOnLoopback(server);
  app = unique('pushed');
  sample = createSampleRepo(bed.dir, { app, image: `${bed.registry.addr}/gantry/${app}` });
  // The hook file is git's (a shell script git runs); Gantry's CLI gets an argv.
  fs.writeFileSync(path.join(sample.origin, 'hooks', 'post-receive'),
    `#!/bin/sh\nunset NODE_OPTIONS\nexec '${process.execPath}' '${cliBin}' hook post-receive --repo ${app} --source\n`, { mode: 0o755 });
  // git passes its environment to the hook: the API address and the pusher's token.
  process.env.GANTRY_API = url;
  process.env.GANTRY_TOKEN = people.dave.token;
}, 600_000);
afterAll(async () => {
  if (saved.api === undefined) delete process.env.GANTRY_API; else process.env.GANTRY_API = saved.api;
  if (saved.token === undefined) delete process.env.GANTRY_TOKEN; else process.env.GANTRY_TOKEN = saved.token;
  await server?.close();
  await h?.close();
  await bed?.stop();
});

const ended = (p: PipelineStatus | undefined) => (p && p.state !== 'running' ? p : undefined);

describe('git push builds from source (hook --source, real BuildKit and registry)', () => {
  it('a push to main runs checkout, gates, build, verify and the releases of the pushed commit', async () => {
    // The push runs asynchronously: its post-receive hook calls the API this test process serves.
    fs.writeFileSync(path.join(sample.work, 'src', 'index.html'), '<h1>pushed</h1>\n');
    git(sample.work, 'commit', '-qam', 'change the page');
    const sha = git(sample.work, 'rev-parse', 'HEAD');
    const pushed = await gitAsync(sample.work, 'push', 'origin', 'HEAD:refs/heads/main');
    expect(pushed).not.toMatch(/cannot reach the Gantry API/);
    const p = await until('the pipeline of the pushed commit to end', () => h.service.pipelineStatus(app, sha).then(ended, () => undefined), 300_000, 500);
    expect(p.state).toBe('succeeded');
    expect(p.stages.map((s) => [s.name, s.state])).toEqual(expect.arrayContaining([['checkout', 'succeeded'], ['gates', 'succeeded'], ['build', 'succeeded'], ['verify', 'succeeded'], ['release:staging', 'succeeded'], ['release:production', 'succeeded']]));
    expect(p.image?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(p.image?.estargz).toBe(true);
    expect(p.commit?.sha).toBe(sha);
  });

  it('a push to a feature branch runs the gates only: no build, no release', async () => {
    git(sample.work, 'checkout', '-b', 'feature/x');
    fs.writeFileSync(path.join(sample.work, 'src', 'index.html'), '<h1>feature</h1>\n');
    git(sample.work, 'commit', '-am', 'feature work');
    const sha = git(sample.work, 'rev-parse', 'HEAD');
    const pushed = await gitAsync(sample.work, 'push', 'origin', 'feature/x');
    expect(pushed).not.toMatch(/cannot reach the Gantry API/);
    const p = await until('the gates-only run to end', () => h.service.pipelineStatus(app, sha, { gatesOnly: true }).then(ended, () => undefined), 300_000, 500);
    expect(p.state).toBe('succeeded');
    expect(p.stages.map((s) => s.name)).toEqual(['checkout', 'gates']);
    expect(p.image).toBeUndefined();
    await expect(h.service.pipelineStatus(app, sha)).rejects.toThrow(/no pipeline/);
  });
});
