// Authenticated servers for the credential tests, all real and owned by the test that starts them:
// Debian's docker-registry (distribution 2.8.2) with htpasswd or token auth (its own config and
// storage on a free loopback port), a token server issuing the JWTs distribution verifies (ES256,
// signed by a key whose certificate is in the registry's rootcertbundle and sent as the `x5c`
// header: registry/auth/token/token.go VerifySigningKey), a buildkitd on TCP with mTLS, and the
// certificates for it (openssl, argv only). Plus a capture of everything this process writes, for
// the scans that no secret reached a log.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { importPKCS8, SignJWT } from 'jose';
import { fetchTrusting } from '../../activities/https.js';
import { buildkitdConfig, overlayWorks } from '../../testbed/buildkit.js';
import { freePort, killGroup } from '../../testbed/ephemeral-temporal.js';
import { buildctlBin, buildkitdBin, registryBin, runcBin } from '../../testbed/paths.js';
import { isAlive, poll, tryRun } from '../../testbed/proc.js';

export interface Daemon { addr: string; pid: number; dir: string; log: string; stop(): Promise<void> }

function spawnDaemon(argv: string[], log: string): { pid: number; exited: () => boolean } {
  const out = fs.openSync(log, 'w');
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.unref();
  let exited = false;
  child.once('exit', () => { exited = true; });
  return { pid: child.pid!, exited: () => exited };
}

async function stopGroup(pid: number): Promise<void> {
  try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ }
  if (!(await poll(() => !isAlive(pid), { timeoutMs: 15_000, what: `process ${pid} to stop`, throwOnTimeout: false }))) killGroup(pid);
}

// --- registries ---------------------------------------------------------------------------------

export type RegistryAuthConfig =
  | { kind: 'htpasswd'; users: Record<string, string> }
  | { kind: 'token'; realm: string; service: string; issuer: string; rootCertBundle: string };

/**
 * distribution 2.8.2 with auth on, loopback only, deletes enabled, its own storage; with `tls`, over
 * HTTPS on `tls.host` (another loopback address than 127.0.0.1, which Gantry speaks plain HTTP to).
 */
export async function startAuthRegistry(auth: RegistryAuthConfig, tls?: { host: string; cert: string; key: string; ca: string }): Promise<Daemon> {
  if (!fs.existsSync(registryBin)) throw new Error(`registry binary missing at ${registryBin}: run \`npm run testbed -- install\``);
  const port = await freePort();
  const addr = `${tls?.host ?? '127.0.0.1'}:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gantry-${auth.kind}-registry-`));
  const authYaml: string[] = [];
  switch (auth.kind) {
    case 'htpasswd': {
      const file = path.join(dir, 'htpasswd');
      fs.writeFileSync(file, Object.entries(auth.users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 10)}\n`).join(''));
      authYaml.push('auth:', '  htpasswd:', '    realm: gantry-test', `    path: ${JSON.stringify(file)}`);
      break;
    }
    case 'token':
      authYaml.push('auth:', '  token:', `    realm: ${JSON.stringify(auth.realm)}`, `    service: ${JSON.stringify(auth.service)}`,
        `    issuer: ${JSON.stringify(auth.issuer)}`, `    rootcertbundle: ${JSON.stringify(auth.rootCertBundle)}`);
      break;
    default: { const never: never = auth; throw new Error(`unknown auth ${JSON.stringify(never)}`); }
  }
  const cfg = path.join(dir, 'config.yml');
  fs.writeFileSync(cfg, [
    'version: 0.1',
    'log: {level: info, fields: {service: registry}}',
    'storage:',
    `  filesystem: {rootdirectory: ${JSON.stringify(path.join(dir, 'data'))}}`,
    '  delete: {enabled: true}',
    'http:',
    `  addr: ${addr}`,
    ...(tls ? [`  tls: {certificate: ${JSON.stringify(tls.cert)}, key: ${JSON.stringify(tls.key)}}`] : []),
    ...authYaml,
    '',
  ].join('\n'));
  const log = path.join(dir, 'registry.log');
  const d = spawnDaemon([registryBin, 'serve', cfg], log);
  // Up, and enforcing: /v2/ without credentials is 401.
  const get = tls ? fetchTrusting(fs.readFileSync(tls.ca, 'utf8')) : fetch;
  await poll(async () => d.exited() || (await get(`${tls ? 'https' : 'http'}://${addr}/v2/`, { signal: AbortSignal.timeout(2000) })).status === 401,
    { timeoutMs: 30_000, what: `${auth.kind} registry at ${addr} (log ${log})` }).catch((err: unknown) => { killGroup(d.pid); throw err; });
  if (d.exited()) throw new Error(`registry exited at start: ${fs.readFileSync(log, 'utf8').slice(-1500)}`);
  return { addr, pid: d.pid, dir, log, async stop() { await stopGroup(d.pid); fs.rmSync(dir, { recursive: true, force: true }); } };
}

// --- certificates -------------------------------------------------------------------------------

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA: <name>.pem and <name>.key in `dir`. */
export function makeCa(dir: string, name: string): { cert: string; key: string } {
  openssl(['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

/** A leaf certificate signed by `ca`: <name>.pem and <name>.key in `dir`. */
export function makeLeaf(dir: string, ca: { cert: string; key: string }, name: string, usage: 'serverAuth' | 'clientAuth', san = 'IP:127.0.0.1,DNS:localhost'): { cert: string; key: string } {
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', `extendedKeyUsage=${usage}`,
    ...(usage === 'serverAuth' ? [`subjectAltName=${san}`] : []), '',
  ].join('\n'));
  openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', ext], dir);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

// --- the token server ---------------------------------------------------------------------------

export interface TokenRequest { method: string; user?: string; scopes: string[]; status: number }

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** The registry's rootcertbundle: the certificate of the signing key. */
  rootCertBundle: string;
  /** Every token handed out (the log scans look for them). */
  issued: string[];
  requests: TokenRequest[];
  /** The `exp` (Unix seconds) of the next token only, while its expires_in still claims 300 s: a token the registry refuses before the client expects. */
  nextExp?: number;
  /** Mints a token directly (for the test's own pushes). */
  mint(user: string, access: { name: string; actions: string[] }[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A Docker token server (distribution's token.md and oauth.md): GET with Basic credentials or POST
 * with a refresh token (an identity token); grants `grant(user, repository)`'s actions intersected
 * with the requested ones; anonymous requests get a token without access; wrong credentials 401.
 */
export async function startTokenServer(o: {
  dir: string; users: Record<string, string>; identityTokens?: Record<string, string>;
  grant: (user: string, repository: string) => string[];
}): Promise<TokenServer> {
  const signer = makeCa(o.dir, 'token-signer');
  const key = await importPKCS8(fs.readFileSync(signer.key, 'utf8'), 'ES256');
  const der = new crypto.X509Certificate(fs.readFileSync(signer.cert)).raw.toString('base64');
  const service = 'gantry-test-registry';
  const issuer = 'gantry-test-token-issuer';
  const port = await freePort();
  const state: TokenServer = {
    realm: `http://127.0.0.1:${port}/token`, service, issuer, rootCertBundle: signer.cert, issued: [], requests: [],
    async mint(user, access) {
      const now = Math.floor(Date.now() / 1000);
      const exp = state.nextExp ?? now + 300;
      delete state.nextExp;
      const token = await new SignJWT({ access: access.map((a) => ({ type: 'repository', name: a.name, actions: a.actions })) })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c: [der] })
        .setIssuer(issuer).setAudience(service).setSubject(user)
        .setIssuedAt(now - 5).setNotBefore(now - 5).setExpirationTime(exp).setJti(crypto.randomUUID())
        .sign(key);
      state.issued.push(token);
      return token;
    },
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const grantFor = async (user: string | undefined, scopes: string[]) => {
    const access: { name: string; actions: string[] }[] = [];
    for (const s of scopes) {
      const m = /^repository:([^:]+):(.+)$/.exec(s);
      if (!m || !user) continue;
      const allowed = o.grant(user, m[1]!);
      const actions = m[2]!.split(',').filter((a) => allowed.includes(a));
      if (actions.length) access.push({ name: m[1]!, actions });
    }
    return state.mint(user ?? '', access);
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', state.realm);
        const answer = (status: number, body: unknown, user?: string, scopes: string[] = []) => {
          state.requests.push({ method: req.method ?? '', ...(user ? { user } : {}), scopes, status });
          res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
        };
        if (url.pathname !== '/token') return answer(404, { error: 'not found' });
        if (req.method === 'POST') {
          const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
          const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
          const user = form.get('grant_type') === 'refresh_token' ? o.identityTokens?.[form.get('refresh_token') ?? ''] : undefined;
          if (!user || form.get('service') !== service) return answer(401, { error: 'invalid_grant' }, undefined, scopes);
          return answer(200, { access_token: await grantFor(user, scopes), expires_in: 300, scope: scopes.join(' ') }, user, scopes);
        }
        const scopes = url.searchParams.getAll('scope');
        if (url.searchParams.get('service') !== service) return answer(400, { error: 'unknown service' }, undefined, scopes);
        const authz = req.headers.authorization;
        let user: string | undefined;
        if (authz) {
          const m = /^Basic (.+)$/.exec(authz);
          const [u, ...p] = m ? Buffer.from(m[1]!, 'base64').toString('utf8').split(':') : [];
          if (!u || o.users[u] === undefined || o.users[u] !== p.join(':')) return answer(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }, u, scopes);
          user = u;
        }
        return answer(200, { token: await grantFor(user, scopes), expires_in: 300, issued_at: new Date().toISOString() }, user, scopes);
      })().catch((err: unknown) => { res.writeHead(500).end(String(err)); });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return state;
}

// --- images and credentials ---------------------------------------------------------------------

/** A Docker config.json with `auth` (base64 user:pass) entries, or identity tokens. */
export function writeDockerConfig(file: string, auths: Record<string, { user: string; password: string } | { identityToken: string }>): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const entries = Object.fromEntries(Object.entries(auths).map(([host, a]) => [host,
    'identityToken' in a ? { identitytoken: a.identityToken } : { auth: Buffer.from(`${a.user}:${a.password}`).toString('base64') }]));
  fs.writeFileSync(file, JSON.stringify({ auths: entries }, null, 2), { mode: 0o600 });
  return file;
}

/** Pushes a one-layer image (a plain gzip layer, not eStargz) through the distribution API, with `authorization` when given (HTTPS with `caPem`). */
export async function pushPlainImage(addr: string, repo: string, tag: string, authorization?: string, caPem?: string): Promise<string> {
  const fetch = caPem ? fetchTrusting(caPem) : globalThis.fetch;
  const scheme = caPem ? 'https' : 'http';
  const base = `${scheme}://${addr}/v2/${repo}`;
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  const upload = async (data: Buffer): Promise<string> => {
    const digest = `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST', headers });
    if (start.status !== 202) throw new Error(`blob upload start: HTTP ${start.status} ${await start.text()}`);
    const loc = new URL(start.headers.get('location')!, `${scheme}://${addr}`);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, { method: 'PUT', body: new Uint8Array(data), headers: { ...headers, 'Content-Type': 'application/octet-stream' } });
    if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status}`);
    return digest;
  };
  const { gzipSync } = await import('node:zlib');
  const layer = gzipSync(crypto.randomBytes(4096));
  const layerDigest = await upload(layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const configDigest = await upload(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
  }));
  const res = await fetch(`${base}/manifests/${tag}`, { method: 'PUT', body: new Uint8Array(manifest), headers: { ...headers, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (res.status !== 201) throw new Error(`manifest push: HTTP ${res.status} ${await res.text()}`);
  return res.headers.get('docker-content-digest')!;
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

// --- buildkitd with mTLS ------------------------------------------------------------------------

export interface TlsFiles { ca: { cert: string; key: string }; server: { cert: string; key: string }; client: { cert: string; key: string } }

/** A CA, buildkitd's server certificate (127.0.0.1) and a client certificate, in `dir`. */
export function makeBuildkitCerts(dir: string): TlsFiles {
  fs.mkdirSync(dir, { recursive: true });
  const ca = makeCa(dir, 'buildkit-ca');
  return { ca, server: makeLeaf(dir, ca, 'buildkitd', 'serverAuth'), client: makeLeaf(dir, ca, 'gantry-worker', 'clientAuth') };
}

export const buildctlTls = (t: { ca: string; cert: string; key: string }): string[] => ['--tlscacert', t.ca, '--tlscert', t.cert, '--tlskey', t.key];

/** buildkitd as root with the OCI worker (as testbed/buildkit.ts runs it), on TCP loopback with mTLS. */
export async function startTlsBuildkit(tls: TlsFiles): Promise<Daemon & { snapshotter: string }> {
  for (const b of [buildkitdBin, buildctlBin, runcBin]) if (!fs.existsSync(b)) throw new Error(`${b} is missing: run \`npm run testbed -- install\``);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-buildkit-tls-'));
  const port = await freePort();
  const addr = `tcp://127.0.0.1:${port}`;
  const snapshotter = (await overlayWorks(dir)) ? 'overlayfs' : 'native';
  const config = path.join(dir, 'buildkitd.toml');
  fs.writeFileSync(config, buildkitdConfig(snapshotter));
  const log = path.join(dir, 'buildkitd.log');
  const d = spawnDaemon([buildkitdBin, '--config', config, '--root', path.join(dir, 'state'), '--addr', addr,
    '--tlscacert', tls.ca.cert, '--tlscert', tls.server.cert, '--tlskey', tls.server.key,
    '--oci-worker=true', '--containerd-worker=false', '--oci-worker-net=host', `--oci-worker-snapshotter=${snapshotter}`], log);
  const client = buildctlTls({ ca: tls.ca.cert, cert: tls.client.cert, key: tls.client.key });
  await poll(async () => d.exited() || !!(await tryRun([buildctlBin, '--addr', addr, ...client, 'debug', 'workers'], { timeoutMs: 10_000 }))?.stdout.includes('ID'),
    { timeoutMs: 60_000, what: `buildkitd at ${addr} (log ${log})` }).catch((err: unknown) => { killGroup(d.pid); throw err; });
  if (d.exited()) throw new Error(`buildkitd exited at start: ${fs.readFileSync(log, 'utf8').slice(-2000)}`);
  return {
    addr, pid: d.pid, dir, log, snapshotter,
    async stop() {
      await stopGroup(d.pid);
      const mounts = (() => {
        try {
          return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
            .filter((m) => m.startsWith(`${dir}/`)).reverse();
        } catch { return []; }
      })();
      for (const m of mounts) await tryRun(['umount', '-l', m], { timeoutMs: 10_000 });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// --- log capture --------------------------------------------------------------------------------

/** Everything this process writes to stdout/stderr and through console while it is on. */
export function captureOutput(): { text(): string; stop(): void } {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
  const saved = methods.map((m) => [m, console[m]] as const);
  const grab = (c: unknown) => { chunks.push(typeof c === 'string' ? c : Buffer.isBuffer(c) ? c.toString('utf8') : String(c)); };
  process.stdout.write = ((c: unknown, ...rest: unknown[]) => { grab(c); return (out as (...a: unknown[]) => boolean)(c, ...rest); }) as typeof process.stdout.write;
  process.stderr.write = ((c: unknown, ...rest: unknown[]) => { grab(c); return (err as (...a: unknown[]) => boolean)(c, ...rest); }) as typeof process.stderr.write;
  for (const [m, f] of saved) console[m] = (...a: unknown[]) => { grab(a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x) ?? String(x))).join(' ')); f(...a); };
  return {
    text: () => chunks.join(''),
    stop() {
      process.stdout.write = out;
      process.stderr.write = err;
      for (const [m, f] of saved) console[m] = f;
    },
  };
}
