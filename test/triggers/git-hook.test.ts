// A plain git server: a bare repository with `gantry hook post-receive` installed as its
// post-receive hook, a clone, and a real `git push`: the pipeline of the pushed commit starts
// (through the listening API and the real Temporal dev server).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pipelineWorkflowId } from '../../workflows/messages.js';
import { cliBin, configYaml, people, startListeningApi, until, type ListeningApi } from '../api/helpers.js';
import type { Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';

const bin = cliBin;

let l: ListeningApi;
let h: Harness;
let api: string;
let dir: string;

beforeAll(async () => {
  l = await startListeningApi('gantry-hook-');
  ({ h, url: api, dir } = l);
});
afterAll(async () => { await l?.close(); });

function gitEnv(token?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_API: api, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', HOME: dir };
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not for the CLI the hook runs
  delete env.GANTRY_TOKEN;
  if (token) env.GANTRY_TOKEN = token;
  return env;
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv = gitEnv()): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('git', ['-c', 'user.name=Carol', '-c', 'user.email=carol@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, env, timeout: 90_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`git ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A bare repository whose post-receive hook execs the gantry CLI (the hook file is git's; the CLI gets an argv). */
async function bareRepo(name: string): Promise<string> {
  const bare = path.join(dir, `${name}.git`);
  await git(['init', '--bare', bare], dir);
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  fs.writeFileSync(path.join(bare, 'hooks', 'post-receive'), `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(bin)} hook post-receive\n`, { mode: 0o755 });
  return bare;
}

describe('gantry hook post-receive (real git push to a bare repository)', () => {
  it('a push to main starts the pipeline of the pushed sha; a feature branch says gates only; a bad token starts nothing', async () => {
    const app = unique('hooked');
    const bare = await bareRepo(app);
    const work = path.join(dir, `${app}-work`);
    await git(['clone', bare, work], dir);
    fs.writeFileSync(path.join(work, 'gantry.yaml'), configYaml(app, { manual: false }));
    fs.writeFileSync(path.join(work, 'README.md'), '# hooked\n');
    await git(['add', 'gantry.yaml', 'README.md'], work);
    await git(['commit', '-m', 'first release'], work);
    const sha = (await git(['rev-parse', 'HEAD'], work)).stdout.trim();

    const pushed = await git(['push', 'origin', 'HEAD:refs/heads/main'], work, gitEnv(people.dave.token));
    expect(pushed.stderr).toContain(`remote: gantry: refs/heads/main ${sha.slice(0, 12)}: pipeline started: ${pipelineWorkflowId(app, sha)}`);
    const status = await until('the pipeline of the pushed sha', () => h.service.pipelineStatus(app, sha).catch(() => undefined));
    expect(status).toMatchObject({ repo: app, sha, ref: 'refs/heads/main' });
    const desc = await h.client.workflow.getHandle(pipelineWorkflowId(app, sha)).describe();
    expect(desc.status.name === 'RUNNING' || desc.status.name === 'COMPLETED').toBe(true);

    // A feature branch: gates only, which start nothing yet, and the pusher is told.
    await git(['checkout', '-b', 'feature/x'], work);
    fs.writeFileSync(path.join(work, 'README.md'), '# hooked, more\n');
    await git(['commit', '-am', 'feature work'], work);
    const featureSha = (await git(['rev-parse', 'HEAD'], work)).stdout.trim();
    const feature = await git(['push', 'origin', 'feature/x'], work, gitEnv(people.dave.token));
    expect(feature.stderr).toMatch(new RegExp(`remote: gantry: refs/heads/feature/x ${featureSha.slice(0, 12)}: branch feature/x runs the quality gates only`));
    expect(await h.client.workflow.getHandle(pipelineWorkflowId(app, featureSha)).describe().then(() => true, () => false)).toBe(false);

    // With a token the API does not know, the hook reports the refusal and nothing starts.
    await git(['checkout', 'main'], work);
    fs.writeFileSync(path.join(work, 'README.md'), '# hooked, again\n');
    await git(['commit', '-am', 'second'], work);
    const secondSha = (await git(['rev-parse', 'HEAD'], work)).stdout.trim();
    const refused = await git(['push', 'origin', 'HEAD:refs/heads/main'], work, gitEnv('not-a-valid-token-000000'));
    expect(refused.stderr).toContain('remote: gantry: refs/heads/main: unknown or revoked token');
    expect(await h.client.workflow.getHandle(pipelineWorkflowId(app, secondSha)).describe().then(() => true, () => false)).toBe(false);
  });
});
