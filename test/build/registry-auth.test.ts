// Registry credentials against real registries that enforce them: distribution 2.8.2 with htpasswd
// (Basic) auth, and with token auth behind a token server of this test (JWTs signed by a key whose
// certificate is the registry's rootcertbundle). The registry activities get their credentials the
// production way: a Docker config.json named by GANTRY_REGISTRY_AUTH_FILE or DOCKER_CONFIG, read
// by runtime/config.ts. Wrong or missing credentials are a non-retryable RegistryForbidden that
// names the registry, the repository and where the credentials were looked for; no password, auth
// string or token reaches this process's output or a failure.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { createRegistryActivities } from '../../activities/registry.js';
import { RuntimeConfigError } from '../../runtime/config.js';
import { testWorkerConfig } from '../support/activities.js';
import {
  basic, captureOutput, makeCa, makeLeaf, pushPlainImage, startAuthRegistry, startTokenServer, writeDockerConfig, type Daemon, type TokenServer,
} from '../support/auth-registry.js';

const PASSWORD = `pw-${crypto.randomBytes(12).toString('hex')}`;
const WRONG = `wrong-${crypto.randomBytes(12).toString('hex')}`;
const TOKEN_PASSWORD = `tpw-${crypto.randomBytes(12).toString('hex')}`;
const IDENTITY_TOKEN = `idt-${crypto.randomBytes(12).toString('hex')}`;

let dir: string;
let capture: ReturnType<typeof captureOutput>;
const failures: ApplicationFailure[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-registry-auth-'));
  capture = captureOutput();
});
afterAll(() => {
  capture?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  failures.push(err as ApplicationFailure);
  return err as ApplicationFailure;
}

/** The registry activities as a worker configured from `env` builds them (runtime/config.ts). */
function activitiesFrom(env: Record<string, string | undefined>) {
  const config = testWorkerConfig({ HOME: path.join(dir, 'empty-home'), ...env });
  return { config, registry: createRegistryActivities(config.pipeline) };
}

describe('a registry with htpasswd (Basic) auth', () => {
  let reg: Daemon;
  let image: string;
  let digest: string;
  let rightFile: string;
  let wrongFile: string;
  let otherHostFile: string;

  beforeAll(async () => {
    reg = await startAuthRegistry({ kind: 'htpasswd', users: { ci: PASSWORD } });
    image = `${reg.addr}/gantry/app`;
    digest = await pushPlainImage(reg.addr, 'gantry/app', 'v1', basic('ci', PASSWORD));
    rightFile = writeDockerConfig(path.join(dir, 'right', 'config.json'), { [reg.addr]: { user: 'ci', password: PASSWORD } });
    wrongFile = writeDockerConfig(path.join(dir, 'wrong', '.dockerconfigjson'), { [`https://${reg.addr}/v1/`]: { user: 'ci', password: WRONG } });
    otherHostFile = writeDockerConfig(path.join(dir, 'other', 'config.json'), { 'registry.example.com': { user: 'ci', password: PASSWORD } });
  }, 60_000);
  afterAll(async () => { await reg?.stop(); });

  it('the registry enforces it: anonymous reads are 401', async () => {
    const res = await fetch(`http://${reg.addr}/v2/gantry/app/manifests/v1`, { method: 'HEAD' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it('resolve, verify, promote and delete work with the config.json of GANTRY_REGISTRY_AUTH_FILE', async () => {
    const { config, registry } = activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: rightFile });
    expect(config.pipeline.registryAuthFile).toEqual({ path: rightFile, setting: 'GANTRY_REGISTRY_AUTH_FILE' });
    expect(await registry.resolveDigest({ image, tag: 'v1' })).toEqual({ digest });
    const v = await registry.verifyImage({ image, digest });
    // manifest and blob ranges read: a verdict (a plain gzip layer), not a refusal
    expect(v).toMatchObject({ estargz: false, layers: [expect.objectContaining({ digest: expect.stringMatching(/^sha256:/) })] });
    expect(v.reason).toMatch(/media type|annotation|footer/);
    expect(await registry.promoteImage({ image, digest, tag: 'promoted' })).toEqual({ digest, tag: 'promoted' });
    expect(await registry.resolveDigest({ image, tag: 'promoted' })).toEqual({ digest });
    expect(await registry.deleteImage({ image, digest })).toEqual({ deleted: true });
    const gone = await rejection(registry.resolveDigest({ image, tag: 'v1' }));
    expect(gone.type).toBe('ImageNotFound');
  });

  it('DOCKER_CONFIG (a directory with config.json) is read when GANTRY_REGISTRY_AUTH_FILE is not set', async () => {
    const d2 = await pushPlainImage(reg.addr, 'gantry/app', 'v2', basic('ci', PASSWORD));
    const { config, registry } = activitiesFrom({ DOCKER_CONFIG: path.dirname(rightFile) });
    expect(config.pipeline.registryAuthFile).toEqual({ path: rightFile, setting: 'DOCKER_CONFIG' });
    expect(await registry.resolveDigest({ image, tag: 'v2' })).toEqual({ digest: d2 });
  });

  it('a wrong password: non-retryable RegistryForbidden naming the registry, the repository and the file', async () => {
    const { registry } = activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: wrongFile });
    const err = await rejection(registry.resolveDigest({ image, tag: 'v2' }));
    expect(err.type).toBe('RegistryForbidden');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(reg.addr);
    expect(err.message).toContain('gantry/app');
    expect(err.message).toContain(`${wrongFile} (GANTRY_REGISTRY_AUTH_FILE)`);
    expect(err.message).toContain("user 'ci'");
    expect(err.message).not.toContain(WRONG);
  });

  it('no credentials at all, or none for this host: the message says where it looked', async () => {
    const none = await rejection(activitiesFrom({}).registry.resolveDigest({ image, tag: 'v2' }));
    expect(none.type).toBe('RegistryForbidden');
    expect(none.nonRetryable).toBe(true);
    expect(none.message).toContain(`${reg.addr} requires authentication for gantry/app`);
    expect(none.message).toContain('no registry credentials are configured (set GANTRY_REGISTRY_AUTH_FILE');
    const other = await rejection(activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: otherHostFile }).registry.promoteImage({ image, digest, tag: 'x' }));
    expect(other.type).toBe('RegistryForbidden');
    expect(other.message).toContain(`${otherHostFile} (GANTRY_REGISTRY_AUTH_FILE) has no auths entry for ${reg.addr}`);
  });

  it('the configuration refuses a missing or invalid credentials file at start, naming the setting, never the content', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, `{"auths": {"${reg.addr}": {"auth": "${PASSWORD}"`);
    const errs = (env: Record<string, string>) => {
      try { testWorkerConfig(env); } catch (err) { expect(err).toBeInstanceOf(RuntimeConfigError); return (err as RuntimeConfigError).errors; }
      throw new Error('expected a RuntimeConfigError');
    };
    expect(errs({ GANTRY_REGISTRY_AUTH_FILE: path.join(dir, 'nope.json') })).toEqual([
      expect.objectContaining({ path: 'GANTRY_REGISTRY_AUTH_FILE', message: `registry credentials: no file at ${path.join(dir, 'nope.json')}` }),
    ]);
    const invalid = errs({ GANTRY_REGISTRY_AUTH_FILE: bad });
    expect(invalid).toEqual([expect.objectContaining({ path: 'GANTRY_REGISTRY_AUTH_FILE', message: `registry credentials: ${bad} is not valid JSON` })]);
    expect(JSON.stringify(invalid)).not.toContain(PASSWORD);
    fs.mkdirSync(path.join(dir, 'dc'));
    fs.copyFileSync(bad, path.join(dir, 'dc', 'config.json'));
    expect(errs({ DOCKER_CONFIG: path.join(dir, 'dc') })).toEqual([
      expect.objectContaining({ path: 'DOCKER_CONFIG', message: `registry credentials: ${path.join(dir, 'dc', 'config.json')} is not valid JSON` }),
    ]);
  });
});

describe('an HTTPS registry with a private CA (GANTRY_REGISTRY_CA_FILE) and htpasswd auth', () => {
  let reg: Daemon;
  let ca: { cert: string; key: string };
  let image: string;
  let digest: string;
  let authFile: string;

  beforeAll(async () => {
    const certs = path.join(dir, 'https-certs');
    fs.mkdirSync(certs);
    ca = makeCa(certs, 'registry-ca');
    // 127.0.0.2: loopback, but not an address Gantry speaks plain HTTP to, so HTTPS as for any registry.
    const server = makeLeaf(certs, ca, 'registry', 'serverAuth', 'IP:127.0.0.2');
    reg = await startAuthRegistry({ kind: 'htpasswd', users: { ci: PASSWORD } }, { host: '127.0.0.2', cert: server.cert, key: server.key, ca: ca.cert });
    image = `${reg.addr}/gantry/secure`;
    digest = await pushPlainImage(reg.addr, 'gantry/secure', 'v1', basic('ci', PASSWORD), fs.readFileSync(ca.cert, 'utf8'));
    authFile = writeDockerConfig(path.join(dir, 'https-auth', 'config.json'), { [reg.addr]: { user: 'ci', password: PASSWORD } });
  }, 60_000);
  afterAll(async () => { await reg?.stop(); });

  it('with the CA: resolve, verify (blob ranges), promote and delete over HTTPS with credentials', async () => {
    const { config, registry } = activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: authFile, GANTRY_REGISTRY_CA_FILE: ca.cert });
    expect(config.pipeline.registryCaFile).toBe(ca.cert);
    expect(await registry.resolveDigest({ image, tag: 'v1' })).toEqual({ digest });
    expect((await registry.verifyImage({ image, digest })).layers).toHaveLength(1);
    expect(await registry.promoteImage({ image, digest, tag: 'promoted' })).toEqual({ digest, tag: 'promoted' });
    expect(await registry.deleteImage({ image, digest })).toEqual({ deleted: true });
  });

  it('without it: the non-retryable RegistryUntrusted naming GANTRY_REGISTRY_CA_FILE; a missing CA file is a config error', async () => {
    const err = await rejection(activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: authFile }).registry.resolveDigest({ image, tag: 'promoted' }));
    expect(err.type).toBe('RegistryUntrusted');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(`${reg.addr} presented a certificate the worker does not trust`);
    expect(err.message).toContain('set GANTRY_REGISTRY_CA_FILE');
    const wrongCa = makeCa(path.join(dir, 'https-certs'), 'other-ca');
    const wrong = await rejection(activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: authFile, GANTRY_REGISTRY_CA_FILE: wrongCa.cert }).registry.resolveDigest({ image, tag: 'promoted' }));
    expect(wrong.type).toBe('RegistryUntrusted');
    expect(wrong.message).toContain(`check GANTRY_REGISTRY_CA_FILE (${wrongCa.cert})`);
    expect(() => testWorkerConfig({ GANTRY_REGISTRY_CA_FILE: path.join(dir, 'nope.pem') })).toThrow(`GANTRY_REGISTRY_CA_FILE: no file at ${path.join(dir, 'nope.pem')}`);
  });
});

describe('a registry with token auth (Bearer challenge, token server)', () => {
  let tokens: TokenServer;
  let reg: Daemon;
  let image: string;
  let digest: string;
  let otherDigest: string;
  let rightFile: string;
  let wrongFile: string;
  let identityFile: string;
  // The registry's challenge lists a scope's actions in Go map order (push,pull or pull,push): sorted here.
  const sorted = (scope: string) => scope.replace(/:([a-z,]+)$/, (_, a: string) => `:${a.split(',').sort().join(',')}`);
  const scopesAsked = (from: number) => tokens.requests.slice(from).map((r) => `${r.method} ${r.scopes.map(sorted).join(' ')} ${r.status}`);

  beforeAll(async () => {
    tokens = await startTokenServer({
      dir, users: { ci: TOKEN_PASSWORD }, identityTokens: { [IDENTITY_TOKEN]: 'ci' },
      grant: (user, repo) => (user === 'ci' && repo.startsWith('gantry/') ? ['pull', 'push', 'delete'] : []),
    });
    reg = await startAuthRegistry({ kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle });
    image = `${reg.addr}/gantry/tokenapp`;
    const pushToken = await tokens.mint('ci', [{ name: 'gantry/tokenapp', actions: ['pull', 'push'] }, { name: 'other/app', actions: ['pull', 'push'] }]);
    digest = await pushPlainImage(reg.addr, 'gantry/tokenapp', 'v1', `Bearer ${pushToken}`);
    otherDigest = await pushPlainImage(reg.addr, 'other/app', 'v1', `Bearer ${pushToken}`);
    rightFile = writeDockerConfig(path.join(dir, 'token-right', 'config.json'), { [reg.addr]: { user: 'ci', password: TOKEN_PASSWORD } });
    wrongFile = writeDockerConfig(path.join(dir, 'token-wrong', 'config.json'), { [reg.addr]: { user: 'ci', password: WRONG } });
    identityFile = writeDockerConfig(path.join(dir, 'token-identity', 'config.json'), { [reg.addr]: { identityToken: IDENTITY_TOKEN } });
  }, 60_000);
  afterAll(async () => { await reg?.stop(); await tokens?.stop(); });

  it('the registry enforces it: anonymous reads get a Bearer challenge', async () => {
    const res = await fetch(`http://${reg.addr}/v2/gantry/tokenapp/manifests/v1`, { method: 'HEAD' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${tokens.realm}",service="${tokens.service}",scope="repository:gantry/tokenapp:pull"`);
  });

  it('resolve, verify, promote and delete through the token flow; a token is fetched once per scope and reused', async () => {
    const { registry } = activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: rightFile });
    const from = tokens.requests.length;
    expect(await registry.resolveDigest({ image, tag: 'v1' })).toEqual({ digest });
    expect(await registry.resolveDigest({ image, tag: 'v1' })).toEqual({ digest });
    expect((await registry.verifyImage({ image, digest })).layers).toHaveLength(1);
    expect(scopesAsked(from)).toEqual(['GET repository:gantry/tokenapp:pull 200']);
    expect(tokens.requests.at(-1)!.user).toBe('ci');
    expect(await registry.promoteImage({ image, digest, tag: 'promoted' })).toEqual({ digest, tag: 'promoted' });
    expect(await registry.deleteImage({ image, digest })).toEqual({ deleted: true });
    expect(scopesAsked(from)).toEqual([
      'GET repository:gantry/tokenapp:pull 200', 'GET repository:gantry/tokenapp:pull,push 200', 'GET repository:gantry/tokenapp:delete 200',
    ]);
  });

  it('an identity token in config.json is exchanged with the refresh-token grant (POST)', async () => {
    const d = await pushPlainImage(reg.addr, 'gantry/tokenapp', 'v3', `Bearer ${await tokens.mint('ci', [{ name: 'gantry/tokenapp', actions: ['pull', 'push'] }])}`);
    const from = tokens.requests.length;
    expect(await activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: identityFile }).registry.resolveDigest({ image, tag: 'v3' })).toEqual({ digest: d });
    expect(scopesAsked(from)).toEqual(['POST repository:gantry/tokenapp:pull 200']);
  });

  it('a cached token the registry starts refusing is replaced once (re-auth on 401); a fresh token refused fails', async () => {
    const d = await pushPlainImage(reg.addr, 'gantry/tokenapp', 'v4', `Bearer ${await tokens.mint('ci', [{ name: 'gantry/tokenapp', actions: ['pull', 'push'] }])}`);
    const { registry } = activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: rightFile });
    // distribution accepts a token until 60 s after its exp: this one for about 6 s more, while its
    // expires_in says 300 s, so the client keeps it after the registry stopped taking it.
    const t0 = Date.now();
    tokens.nextExp = Math.floor(t0 / 1000) - 54;
    const from = tokens.requests.length;
    expect(await registry.resolveDigest({ image, tag: 'v4' })).toEqual({ digest: d });
    expect(scopesAsked(from)).toEqual(['GET repository:gantry/tokenapp:pull 200']);
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 8_000 - Date.now())));
    expect(await registry.resolveDigest({ image, tag: 'v4' })).toEqual({ digest: d });
    expect(scopesAsked(from)).toEqual(['GET repository:gantry/tokenapp:pull 200', 'GET repository:gantry/tokenapp:pull 200']);
    expect(await registry.resolveDigest({ image, tag: 'v4' })).toEqual({ digest: d });
    expect(scopesAsked(from).length).toBe(2);
    // A token refused right after it was fetched is not fetched again: one retry, then the failure.
    tokens.nextExp = Math.floor(Date.now() / 1000) - 600;
    const fresh = activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: rightFile }).registry;
    const err = await rejection(fresh.resolveDigest({ image, tag: 'v4' }));
    expect(err.type).toBe('RegistryForbidden');
    expect(err.message).toContain(`${reg.addr} refused the credentials for gantry/tokenapp (HTTP 401`);
    expect(scopesAsked(from).length).toBe(3);
  }, 30_000);

  it('a wrong password: the token server refuses; non-retryable RegistryForbidden naming the registry, repository and file', async () => {
    const err = await rejection(activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: wrongFile }).registry.resolveDigest({ image, tag: 'v3' }));
    expect(err.type).toBe('RegistryForbidden');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain(`the token server refused (HTTP 401) access to ${reg.addr}/gantry/tokenapp (scope repository:gantry/tokenapp:pull)`);
    expect(err.message).toContain(`${wrongFile} (GANTRY_REGISTRY_AUTH_FILE)`);
    expect(tokens.requests.at(-1)).toMatchObject({ user: 'ci', status: 401 });
  });

  it('the right credentials but a repository outside their grant: RegistryForbidden', async () => {
    const err = await rejection(activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: rightFile }).registry.resolveDigest({ image: `${reg.addr}/other/app`, tag: 'v1' }));
    expect(err.type).toBe('RegistryForbidden');
    expect(err.message).toContain(`${reg.addr} refused the credentials for other/app (HTTP 401 insufficient_scope)`);
    expect(otherDigest).toMatch(/^sha256:/);
  });

  it('anonymous: a token without access, then a clear RegistryForbidden', async () => {
    const err = await rejection(activitiesFrom({}).registry.resolveDigest({ image, tag: 'v3' }));
    expect(err.type).toBe('RegistryForbidden');
    expect(err.message).toContain('no registry credentials are configured');
    expect(tokens.requests.at(-1)).toMatchObject({ method: 'GET', status: 200 });
    expect(tokens.requests.at(-1)!.user).toBeUndefined();
  });

  it('a token server that is down is RegistryUnavailable (retryable), not a refusal', async () => {
    fs.mkdirSync(path.join(dir, 'down'));
    const down = await startTokenServer({ dir: path.join(dir, 'down'), users: {}, grant: () => [] });
    await down.stop();
    const reg2 = await startAuthRegistry({ kind: 'token', realm: down.realm, service: down.service, issuer: down.issuer, rootCertBundle: down.rootCertBundle });
    try {
      const err = await rejection(activitiesFrom({ GANTRY_REGISTRY_AUTH_FILE: rightFile }).registry.resolveDigest({ image: `${reg2.addr}/gantry/x`, tag: 'v1' }));
      expect(err.type).toBe('RegistryUnavailable');
      expect(err.nonRetryable).toBe(false);
    } finally { await reg2.stop(); }
  });

  it('no password, auth string, identity token or issued token reached the output or a failure', () => {
    capture.stop();
    const secrets = [PASSWORD, WRONG, TOKEN_PASSWORD, IDENTITY_TOKEN, ...tokens.issued,
      ...[PASSWORD, WRONG, TOKEN_PASSWORD].map((p) => Buffer.from(`ci:${p}`).toString('base64'))];
    expect(tokens.issued.length).toBeGreaterThan(5);
    expect(failures.length).toBeGreaterThanOrEqual(5);
    const seen = [capture.text(), ...failures.map((f) => `${f.message} ${JSON.stringify(f.details)} ${f.stack ?? ''}`)].join('\n');
    for (const s of secrets) expect(seen).not.toContain(s);
  });
});
