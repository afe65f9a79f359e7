// Temporal connections through Temporal's client configuration (@temporalio/envconfig; issue 8):
// TLS and mTLS against a frontend that requires them, a TOML profile, an API key, and clear errors
// naming the setting (a wrong CA, a missing or mismatched key, no client certificate).
//
// The pinned dev server (temporal CLI 1.9.1) serves plain gRPC only, so the frontend that requires
// TLS is an honest stand-in: a TLS-terminating TCP proxy (node:tls, requestCert +
// rejectUnauthorized, ALPN h2) in front of the run's real dev server, with certificates made here
// with openssl (argv). The worker and the API connect through it exactly as they would to a
// secured Temporal; the proxy records each accepted client certificate.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { NativeConnection } from '@temporalio/worker';
import { startApi } from '../../api/main.js';
import { identityTable } from '../../api/auth.js';
import { emptyTriggerConfig } from '../../api/server-config.js';
import { createSimClusterActivities } from '../../activities/index.js';
import { loadApiConfig, loadWorkerConfig, RuntimeConfigError } from '../../runtime/config.js';
import { describeTemporal, temporalConnectError } from '../../runtime/temporal.js';
import { createGantryActivities } from '../../worker/activities.js';
import { createWorker } from '../../worker/worker.js';
import { DIGEST_A, seedConfig } from '../support/fixtures.js';
import { caller } from '../support/release-harness.js';
import { quietRuntime, testAddress, unique } from '../support/temporal.js';

jest.setTimeout(180_000);

let dir: string;
let proxy: tls.Server;
let proxyAddress: string;
/** Subject CNs of the client certificates the proxy accepted. */
const accepted: string[] = [];
const sockets = new Set<tls.TLSSocket>();
const f = (name: string) => path.join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, and a certificate signed by it (server: SAN 127.0.0.1 and localhost; client: clientAuth). */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}
function makeCert(name: string, ca: string, ext: string): void {
  fs.writeFileSync(f(`${name}.ext`), ext);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-tls-'));
  makeCa('server-ca');
  makeCa('client-ca');
  makeCa('wrong-ca');
  makeCert('frontend', 'server-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  makeCert('gantry-worker', 'client-ca', 'extendedKeyUsage=clientAuth\n');
  makeCert('stranger', 'wrong-ca', 'extendedKeyUsage=clientAuth\n');
  const [host, port] = [testAddress().slice(0, testAddress().lastIndexOf(':')), Number(testAddress().slice(testAddress().lastIndexOf(':') + 1))];
  proxy = tls.createServer({
    key: fs.readFileSync(f('frontend.key')), cert: fs.readFileSync(f('frontend.crt')),
    ca: fs.readFileSync(f('client-ca.crt')), requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'],
  }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const cn = socket.getPeerCertificate().subject?.CN;
    if (cn) accepted.push(String(cn));
    const upstream = net.connect({ host, port });
    socket.pipe(upstream).pipe(socket);
    const end = () => { socket.destroy(); upstream.destroy(); };
    socket.on('error', end);
    upstream.on('error', end);
  });
  proxy.on('tlsClientError', () => { /* refused handshakes: the tests look at the client's side */ });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyAddress = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  quietRuntime();
});

afterAll(async () => {
  // Client connections stay open until jest exits (test/support/keep-connections.ts): end them here.
  for (const s of sockets) s.destroy();
  await new Promise((r) => proxy?.close(r));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const mtls = () => ({
  TEMPORAL_ADDRESS: proxyAddress,
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: f('server-ca.crt'),
  TEMPORAL_TLS_CLIENT_CERT_PATH: f('gantry-worker.crt'),
  TEMPORAL_TLS_CLIENT_KEY_PATH: f('gantry-worker.key'),
});
const workerEnv = (env: Record<string, string>) => ({ HOME: dir, PATH: process.env.PATH, GANTRY_CLUSTER: 'sim', GANTRY_DATA_DIR: f('data'), ...env });

function configErrors(fn: () => unknown) {
  try { fn(); } catch (e) { if (e instanceof RuntimeConfigError) return e.errors; throw e; }
  throw new Error('expected a RuntimeConfigError');
}

async function connectError(env: Record<string, string>): Promise<string> {
  const config = loadWorkerConfig(workerEnv(env));
  const err = await NativeConnection.connect(config.temporal.connection).then(async (c) => { await c.close(); return undefined; }, (e: unknown) => e);
  if (!err) throw new Error('expected the connection to fail');
  return temporalConnectError(config.temporal, err).message;
}

describe('Temporal over mTLS (a frontend that requires client certificates)', () => {
  it('the worker and the API connect with the TEMPORAL_TLS_* variables, and a release runs through them', async () => {
    const taskQueue = unique('tls');
    const config = loadWorkerConfig(workerEnv({ ...mtls(), GANTRY_TASK_QUEUE: taskQueue }));
    expect(config.temporal.tls).toEqual({ serverCa: f('server-ca.crt'), clientCert: f('gantry-worker.crt'), clientKey: f('gantry-worker.key') });
    expect(describeTemporal(config.temporal)).toBe(`${proxyAddress} (namespace default, TLS with a client certificate (mTLS), CA ${f('server-ca.crt')})`);
    expect(JSON.stringify(config)).not.toMatch(/PRIVATE KEY/); // the key material is only in the connection options
    const before = accepted.length;
    const native = await NativeConnection.connect(config.temporal.connection);
    const worker = await createWorker({ connection: native, taskQueue, namespace: config.temporal.namespace, activities: createGantryActivities(config, createSimClusterActivities()) });
    const running = worker.run();
    const api = await startApi({
      config: loadApiConfig({ ...mtls(), GANTRY_TASK_QUEUE: taskQueue, GANTRY_API_ADDR: '127.0.0.1:0' }),
      identities: identityTable([]), triggers: emptyTriggerConfig(), logger: false,
    });
    try {
      const app = unique('tlsapp');
      await api.service.startRelease({ config: seedConfig(app, { groups: [{ pods: 'rest', confirm: { type: 'auto' } }] }), environment: 'production', revision: { digest: DIGEST_A } }, caller('carol'));
      const final = await api.service.waitForRelease(app, 'production');
      expect(final.phase).toBe('succeeded');
    } finally {
      await api.close();
      worker.shutdown();
      await running;
      await native.close();
    }
    // Every connection the proxy let through presented Gantry's client certificate.
    expect(accepted.length).toBeGreaterThan(before);
    expect(new Set(accepted.slice(before))).toEqual(new Set(['gantry-worker']));
  });

  it('a TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) carries the address and the TLS files', async () => {
    const file = f('temporal.toml');
    fs.writeFileSync(file, [
      '[profile.default]', 'address = "localhost:7233"', '',
      '[profile.prod]', `address = "${proxyAddress}"`, 'namespace = "default"', '',
      '[profile.prod.tls]', `server_ca_cert_path = "${f('server-ca.crt')}"`, `client_cert_path = "${f('gantry-worker.crt')}"`, `client_key_path = "${f('gantry-worker.key')}"`, '',
    ].join('\n'));
    const config = loadWorkerConfig(workerEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' }));
    expect(config.temporal).toMatchObject({ address: proxyAddress, profile: 'prod', configured: true, tls: { clientCert: f('gantry-worker.crt') } });
    const native = await NativeConnection.connect(config.temporal.connection);
    await native.close();
    // A profile that is not in the file is named, with the file.
    const errors = configErrors(() => loadWorkerConfig(workerEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'staging' })));
    expect(errors).toEqual([{ path: 'TEMPORAL_PROFILE', message: `no profile 'staging' in ${file}`, hint: expect.stringMatching(/\[profile\.<name>\]/) }]);
    // And a setting from the profile is named by its place in the file.
    fs.writeFileSync(f('bad.toml'), `[profile.prod]\naddress = "${proxyAddress}"\n[profile.prod.tls]\nclient_cert_path = "${f('gantry-worker.crt')}"\n`);
    const missing = configErrors(() => loadWorkerConfig(workerEnv({ TEMPORAL_CONFIG_FILE: f('bad.toml'), TEMPORAL_PROFILE: 'prod' })));
    expect(missing.map((e) => e.path)).toEqual(['profile.prod.tls.client_key_path']);
  });

  it('a wrong CA: the error names TEMPORAL_TLS_SERVER_CA_CERT_PATH', async () => {
    const message = await connectError({ ...mtls(), TEMPORAL_TLS_SERVER_CA_CERT_PATH: f('wrong-ca.crt') });
    expect(message).toMatch(/^cannot connect to Temporal at 127\.0\.0\.1:\d+ \(namespace default, TLS with a client certificate/);
    expect(message).toContain(`hint: the server's certificate is not signed by the CA in TEMPORAL_TLS_SERVER_CA_CERT_PATH (${f('wrong-ca.crt')})`);
  });

  it('no client certificate for a server that requires one: the error names TEMPORAL_TLS_CLIENT_CERT_PATH and _KEY_PATH', async () => {
    const { TEMPORAL_TLS_CLIENT_CERT_PATH: _c, TEMPORAL_TLS_CLIENT_KEY_PATH: _k, ...noCert } = mtls();
    const message = await connectError(noCert);
    expect(message).toMatch(/hint: the server refused the TLS handshake; if it requires client certificates \(mTLS\), set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH/);
  });

  it('the same refusal when the server closes the connection after the client finished its TLS 1.3 handshake (seen in CI)', () => {
    const { TEMPORAL_TLS_CLIENT_CERT_PATH: _c, TEMPORAL_TLS_CLIENT_KEY_PATH: _k, ...noCert } = mtls();
    const config = loadWorkerConfig(workerEnv(noCert));
    const closed = new Error('Failed to call GetSystemInfo: code: \'The operation was cancelled\', message: "operation was canceled", source: tonic::transport::Error(Transport, hyper::Error(Canceled, "connection closed"))');
    expect(temporalConnectError(config.temporal, closed).message).toMatch(/hint: the server refused the TLS handshake; if it requires client certificates \(mTLS\), set TEMPORAL_TLS_CLIENT_CERT_PATH/);
    const plain = loadWorkerConfig(workerEnv({ TEMPORAL_ADDRESS: '127.0.0.1:7233' }));
    expect(temporalConnectError(plain.temporal, closed).message).toMatch(/hint: check TEMPORAL_ADDRESS/);
  });

  it('a client certificate from a CA the server does not trust is refused, and said so', async () => {
    const message = await connectError({ ...mtls(), TEMPORAL_TLS_CLIENT_CERT_PATH: f('stranger.crt'), TEMPORAL_TLS_CLIENT_KEY_PATH: f('stranger.key') });
    expect(message).toMatch(/hint: the server refused the client certificate: check that TEMPORAL_TLS_CLIENT_CERT_PATH is signed by the CA the server trusts/);
  });
});

describe('Temporal settings checked at start (no connection tried)', () => {
  it('a certificate without its key names TEMPORAL_TLS_CLIENT_KEY_PATH', () => {
    const { TEMPORAL_TLS_CLIENT_KEY_PATH: _k, ...noKey } = mtls();
    expect(configErrors(() => loadWorkerConfig(workerEnv(noKey)))).toEqual([{
      path: 'TEMPORAL_TLS_CLIENT_KEY_PATH', message: 'is not set, but TEMPORAL_TLS_CLIENT_CERT_PATH is: mTLS needs the client certificate and its key',
      hint: expect.stringMatching(/private key of the client certificate/),
    }]);
  });

  it('a key that does not belong to the certificate, an unreadable CA, and a CA that is not a certificate', () => {
    expect(configErrors(() => loadApiConfig({ ...mtls(), TEMPORAL_TLS_CLIENT_KEY_PATH: f('stranger.key') }))).toEqual([{
      path: 'TEMPORAL_TLS_CLIENT_KEY_PATH', message: `the key in ${f('stranger.key')} does not belong to the certificate in ${f('gantry-worker.crt')}`, hint: expect.any(String),
    }]);
    expect(configErrors(() => loadApiConfig({ ...mtls(), TEMPORAL_TLS_SERVER_CA_CERT_PATH: f('nope.crt') }))).toEqual([{
      path: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', message: `cannot read ${f('nope.crt')}: ENOENT`, hint: expect.stringMatching(/CA that signed/),
    }]);
    expect(configErrors(() => loadApiConfig({ ...mtls(), TEMPORAL_TLS_SERVER_CA_CERT_PATH: f('frontend.ext') }))[0]).toMatchObject({
      path: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', message: `${f('frontend.ext')} is not a PEM certificate`,
    });
    expect(configErrors(() => loadApiConfig({ TEMPORAL_CONFIG_FILE: f('missing.toml') }))).toEqual([{
      path: 'TEMPORAL_CONFIG_FILE', message: `${f('missing.toml')} does not exist`, hint: expect.any(String),
    }]);
  });

  it('an API key turns TLS on (Temporal Cloud) and is sent, never printed', () => {
    const c = loadApiConfig({ TEMPORAL_ADDRESS: 'gantry.a1b2c.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'gantry.a1b2c', TEMPORAL_API_KEY: 'tcak-very-secret' });
    expect(c.temporal).toEqual({ address: 'gantry.a1b2c.tmprl.cloud:7233', namespace: 'gantry.a1b2c', configured: true, tls: {}, apiKey: true });
    expect(c.temporal.connection).toEqual({ address: 'gantry.a1b2c.tmprl.cloud:7233', tls: {}, apiKey: 'tcak-very-secret' });
    expect(JSON.stringify(c)).not.toMatch(/very-secret/);
    expect(describeTemporal(c.temporal)).toBe('gantry.a1b2c.tmprl.cloud:7233 (namespace gantry.a1b2c, TLS, API key)');
  });

  it('nothing configured: plain text to localhost:7233, not configured (npm start then starts the embedded dev server)', () => {
    const c = loadApiConfig({ HOME: dir });
    expect(c.temporal).toEqual({ address: 'localhost:7233', namespace: 'default', configured: false, tls: false, apiKey: false });
    expect(c.temporal.connection).toEqual({ address: 'localhost:7233' });
  });
});
