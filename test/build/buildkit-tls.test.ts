// BuildKit over TCP with mutual TLS, pushing to a registry that requires credentials, all real: a
// buildkitd of this test on a loopback port with --tlscacert/--tlscert/--tlskey (certificates made
// by openssl here), distribution 2.8.2 with htpasswd auth, and a whole pipeline (checkout, gates,
// build, verify, releases, tag) on a worker configured the production way: GANTRY_BUILDKIT_TLS_DIR
// (Kubernetes' ca.crt/tls.crt/tls.key names) and GANTRY_REGISTRY_AUTH_FILE (a Secret's
// .dockerconfigjson, not named config.json). A client without a certificate, or with one of another
// CA, is a non-retryable BuilderTlsFailed naming the settings; a wrong registry password a
// RegistryForbidden naming the registry, the repository and the file. No password, auth string or
// key reaches this process's output, the pipeline logs, a failure or the workflow history.
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { createBuildActivities } from '../../activities/build.js';
import { defaultBuild } from '../../core/build.js';
import type { PipelineStatus } from '../../core/pipeline.js';
import { RuntimeConfigError } from '../../runtime/config.js';
import { freePort } from '../../testbed/ephemeral-temporal.js';
import { buildctlBin, hadolintBin } from '../../testbed/paths.js';
import { pipelineStatusQuery, pipelineWorkflowId } from '../../workflows/messages.js';
import type { PipelineInput } from '../../workflows/pipeline.js';
import { testWorkerConfig } from '../support/activities.js';
import {
  basic, buildctlTls, captureOutput, makeBuildkitCerts, makeCa, makeLeaf, startAuthRegistry, startTlsBuildkit, writeDockerConfig,
  type Daemon, type TlsFiles,
} from '../support/auth-registry.js';
import { createSampleRepo, startPipelineHarness, type BuildBed, type PipelineHarness, type SampleRepo } from '../support/build-bed.js';
import { unique } from '../support/temporal.js';

const PASSWORD = `pw-${crypto.randomBytes(12).toString('hex')}`;
const WRONG = `wrong-${crypto.randomBytes(12).toString('hex')}`;

let dir: string;
let certs: TlsFiles;
let tlsDir: string;
let reg: Daemon;
let bk: Daemon & { snapshotter: string };
let authFile: string;
let wrongFile: string;
let workspaceRoot: string;
let logDir: string;
let capture: ReturnType<typeof captureOutput>;
let h: PipelineHarness | undefined;
const failures: ApplicationFailure[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-buildkit-tls-test-'));
  capture = captureOutput();
  certs = makeBuildkitCerts(path.join(dir, 'certs'));
  // The worker's files as a mounted kubernetes.io/tls Secret (plus ca.crt) would have them.
  tlsDir = path.join(dir, 'tls');
  fs.mkdirSync(tlsDir);
  fs.copyFileSync(certs.ca.cert, path.join(tlsDir, 'ca.crt'));
  fs.copyFileSync(certs.client.cert, path.join(tlsDir, 'tls.crt'));
  fs.copyFileSync(certs.client.key, path.join(tlsDir, 'tls.key'));
  reg = await startAuthRegistry({ kind: 'htpasswd', users: { ci: PASSWORD } });
  authFile = writeDockerConfig(path.join(dir, 'registry-secret', '.dockerconfigjson'), { [reg.addr]: { user: 'ci', password: PASSWORD } });
  wrongFile = writeDockerConfig(path.join(dir, 'wrong-secret', '.dockerconfigjson'), { [reg.addr]: { user: 'ci', password: WRONG } });
  workspaceRoot = path.join(dir, 'workspaces');
  logDir = path.join(dir, 'logs');
  bk = await startTlsBuildkit(certs);
}, 180_000);
afterAll(async () => {
  capture?.stop();
  await h?.close();
  await bk?.stop();
  await reg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function rejection(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  failures.push(err as ApplicationFailure);
  return err as ApplicationFailure;
}

const baseOpts = () => ({ workspaceRoot, logDir, buildkitAddr: bk.addr, buildctlBin, hadolintBin, env: { PATH: process.env.PATH, HOME: dir } });

describe('buildctl to buildkitd over mTLS, pushing with a config.json', () => {
  let sample: SampleRepo;
  let image: string;
  const app = unique('tls');

  beforeAll(() => {
    image = `${reg.addr}/gantry/${app}`;
    sample = createSampleRepo(dir, { app, image });
  });

  it('buildkitd enforces it: buildctl without a client certificate is refused, with one it answers', () => {
    const without = (() => {
      try { execFileSync(buildctlBin, ['--addr', bk.addr, '--timeout', '5', 'debug', 'workers'], { stdio: 'pipe', timeout: 30_000 }); return 'answered'; } catch (err) { return String((err as { stderr?: Buffer }).stderr ?? err); }
    })();
    expect(without).not.toBe('answered');
    const withCert = execFileSync(buildctlBin, ['--addr', bk.addr, ...buildctlTls({ ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key }), 'debug', 'workers'], { encoding: 'utf8', timeout: 30_000 });
    expect(withCert).toMatch(/ID/);
  });

  it('a build without a client certificate: non-retryable BuilderTlsFailed naming the settings', async () => {
    const build = createBuildActivities(baseOpts());
    const err = await rejection(build.buildImage({ pipelineId: 'tls-none', source: { repo: `acme/${app}`, url: sample.url, sha: sample.head() }, image, build: defaultBuild }));
    expect(err.type).toBe('BuilderTlsFailed');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(`BuildKit at ${bk.addr} refused the TLS connection: the worker has no TLS client certificate for it (set GANTRY_BUILDKIT_TLS_DIR`);
  }, 120_000);

  it('a client certificate of another CA: non-retryable BuilderTlsFailed naming where the certificate came from', async () => {
    const rogueCa = makeCa(path.join(dir, 'certs'), 'rogue-ca');
    const rogue = makeLeaf(path.join(dir, 'certs'), rogueCa, 'rogue-worker', 'clientAuth');
    const build = createBuildActivities({ ...baseOpts(), buildkitTls: { caCert: certs.ca.cert, cert: rogue.cert, key: rogue.key, setting: 'GANTRY_BUILDKIT_TLS_CERT' } });
    const err = await rejection(build.buildImage({ pipelineId: 'tls-rogue', source: { repo: `acme/${app}`, url: sample.url, sha: sample.head() }, image, build: defaultBuild }));
    expect(err.type).toBe('BuilderTlsFailed');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain("the worker's TLS client certificate (GANTRY_BUILDKIT_TLS_CERT) was refused");
    expect(err.message).toMatch(/ALERT|CERT/); // the alert buildkitd sent, from the worker's own handshake
  }, 120_000);

  it('with the right certificates but nothing listening, it stays BuilderUnavailable (retryable)', async () => {
    const port = await freePort();
    const build = createBuildActivities({ ...baseOpts(), buildkitAddr: `tcp://127.0.0.1:${port}`, buildkitTls: { caCert: certs.ca.cert, cert: certs.client.cert, key: certs.client.key, setting: 'GANTRY_BUILDKIT_TLS_DIR' } });
    const err = await rejection(build.buildImage({ pipelineId: 'tls-down', source: { repo: `acme/${app}`, url: sample.url, sha: sample.head() }, image, build: defaultBuild }));
    expect(err.type).toBe('BuilderUnavailable');
    expect(err.nonRetryable).toBe(false);
  }, 120_000);

  it('the right certificate but a wrong registry password: RegistryForbidden naming the registry, the repository and the file', async () => {
    const config = testWorkerConfig({
      HOME: dir, GANTRY_BUILDKIT_ADDR: bk.addr, GANTRY_BUILDKIT_TLS_DIR: tlsDir, GANTRY_REGISTRY_AUTH_FILE: wrongFile,
      GANTRY_WORKSPACE_DIR: workspaceRoot, GANTRY_PIPELINE_LOG_DIR: logDir, GANTRY_BUILDCTL: buildctlBin, GANTRY_HADOLINT: hadolintBin,
    });
    expect(config.pipeline.buildkitTls).toEqual({
      caCert: path.join(tlsDir, 'ca.crt'), cert: path.join(tlsDir, 'tls.crt'), key: path.join(tlsDir, 'tls.key'), setting: `GANTRY_BUILDKIT_TLS_DIR=${tlsDir}`,
    });
    const build = createBuildActivities({ ...config.pipeline, env: { PATH: process.env.PATH, HOME: dir } });
    const err = await rejection(build.buildImage({ pipelineId: 'tls-wrong-pw', source: { repo: `acme/${app}`, url: sample.url, sha: sample.head() }, image, build: defaultBuild }));
    expect(err.type).toBe('RegistryForbidden');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(`build: ${reg.addr} refused the push or cache of gantry/${app}`);
    expect(err.message).toContain(`${wrongFile} (GANTRY_REGISTRY_AUTH_FILE)`);
  }, 180_000);

  it('a whole pipeline on a worker configured with GANTRY_BUILDKIT_TLS_DIR and GANTRY_REGISTRY_AUTH_FILE builds, pushes, verifies and releases', async () => {
    const bed = {
      registry: { addr: reg.addr, pid: reg.pid, dir: reg.dir, log: reg.log, stop: () => undefined },
      buildkit: { addr: bk.addr, pid: bk.pid, root: bk.dir, snapshotter: bk.snapshotter, log: bk.log, stop: async () => undefined },
      dir, workspaceRoot, logDir, stop: async () => undefined,
    } satisfies BuildBed;
    h = await startPipelineHarness(bed, { PATH: process.env.PATH, HOME: dir, GANTRY_BUILDKIT_TLS_DIR: tlsDir, GANTRY_REGISTRY_AUTH_FILE: authFile });
    const papp = unique('tlspipe');
    const pimage = `${reg.addr}/gantry/${papp}`;
    const psample = createSampleRepo(dir, { app: papp, image: pimage });
    const sha = psample.head();
    const input: PipelineInput = { repo: `acme/${papp}`, sha, source: { url: psample.url }, startedBy: { id: 'dave', channel: 'api' } };
    const handle = await h.client.workflow.start('pipeline', { workflowId: pipelineWorkflowId(`acme/${papp}`, sha), taskQueue: h.taskQueue, args: [input] });
    let error: unknown;
    try { await handle.result(); } catch (err) { error = err; }
    const s: PipelineStatus = await handle.query(pipelineStatusQuery);
    expect(s.reason).toBeUndefined();
    expect(error).toBeUndefined();
    expect(s.stages.map((x) => [x.name, x.state])).toEqual([
      ['checkout', 'succeeded'], ['gates', 'succeeded'], ['build', 'succeeded'], ['verify', 'succeeded'],
      ['release:staging', 'succeeded'], ['release:production', 'succeeded'], ['tag', 'succeeded'],
    ]);
    expect(s.image).toMatchObject({ estargz: true, ref: `${pimage}@${s.image!.digest}` });
    // The registry holds it under the commit sha, for the right credentials only.
    const url = `http://${reg.addr}/v2/gantry/${papp}/manifests/${sha}`;
    const accept = { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json' };
    expect((await fetch(url, { method: 'HEAD', headers: accept })).status).toBe(401);
    const res = await fetch(url, { method: 'HEAD', headers: { ...accept, Authorization: basic('ci', PASSWORD) } });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(s.image!.digest);

    // No secret in the workflow history, the pipeline logs, the failures or this process's output.
    capture.stop();
    const keyBody = (f: string) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
    const secrets = [PASSWORD, WRONG, ...[PASSWORD, WRONG].map((p) => Buffer.from(`ci:${p}`).toString('base64')),
      ...keyBody(certs.client.key), ...keyBody(certs.ca.key), ...keyBody(certs.server.key)];
    const logs = fs.readdirSync(logDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
    expect(logs.some((f) => f.endsWith('build.log'))).toBe(true);
    const seen = [
      JSON.stringify(await handle.fetchHistory()), capture.text(), ...logs.map((f) => fs.readFileSync(f, 'utf8')),
      ...failures.map((f) => `${f.message} ${JSON.stringify(f.details)} ${f.stack ?? ''}`),
    ].join('\n');
    expect(failures.length).toBe(4);
    for (const secret of secrets) expect(seen).not.toContain(secret);
  }, 400_000);
});

describe('the BuildKit TLS settings are checked at start', () => {
  const errs = (env: Record<string, string>) => {
    try { testWorkerConfig({ HOME: dir, ...env }); } catch (err) { expect(err).toBeInstanceOf(RuntimeConfigError); return (err as RuntimeConfigError).errors; }
    throw new Error('expected a RuntimeConfigError');
  };

  it('a directory without the files, a missing file, an incomplete set and a unix address are errors naming the setting', () => {
    const empty = path.join(dir, 'empty-tls');
    fs.mkdirSync(empty, { recursive: true });
    expect(errs({ GANTRY_BUILDKIT_ADDR: bk.addr, GANTRY_BUILDKIT_TLS_DIR: empty })).toEqual([expect.objectContaining({
      path: 'GANTRY_BUILDKIT_TLS_DIR', message: `${empty} holds neither ca.pem, cert.pem, key.pem nor ca.crt, tls.crt, tls.key`,
    })]);
    expect(errs({ GANTRY_BUILDKIT_ADDR: bk.addr, GANTRY_BUILDKIT_TLS_CA_CERT: certs.ca.cert, GANTRY_BUILDKIT_TLS_CERT: certs.client.cert, GANTRY_BUILDKIT_TLS_KEY: path.join(dir, 'nope.key') }))
      .toEqual([expect.objectContaining({ path: 'GANTRY_BUILDKIT_TLS_KEY', message: `no file at ${path.join(dir, 'nope.key')}` })]);
    expect(errs({ GANTRY_BUILDKIT_ADDR: bk.addr, GANTRY_BUILDKIT_TLS_CERT: certs.client.cert }).map((e) => e.path).sort())
      .toEqual(['GANTRY_BUILDKIT_TLS_CA_CERT', 'GANTRY_BUILDKIT_TLS_KEY']);
    expect(errs({ GANTRY_BUILDKIT_ADDR: 'unix:///run/buildkit/buildkitd.sock', GANTRY_BUILDKIT_TLS_DIR: tlsDir })).toEqual([expect.objectContaining({
      path: 'GANTRY_BUILDKIT_ADDR', message: 'TLS certificates are configured, but the address unix:///run/buildkit/buildkitd.sock is not tcp://',
    })]);
    // The three explicit paths are taken as they are (buildctl's --tlsdir names are not needed).
    const ok = testWorkerConfig({ HOME: dir, GANTRY_BUILDKIT_ADDR: bk.addr, GANTRY_BUILDKIT_TLS_CA_CERT: certs.ca.cert, GANTRY_BUILDKIT_TLS_CERT: certs.client.cert, GANTRY_BUILDKIT_TLS_KEY: certs.client.key });
    expect(ok.pipeline.buildkitTls).toMatchObject({ caCert: certs.ca.cert, cert: certs.client.cert, key: certs.client.key });
  });
});
