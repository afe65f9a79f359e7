// Real git servers that enforce credentials, for the credential tests (test/build/git-credentials,
// test/triggers/github-app):
//  - git smart HTTP over TLS: git's own `git http-backend` as a CGI behind a Node HTTPS server that
//    requires Basic auth (a test CA made with openssl, argv only);
//  - git over SSH: OpenSSH's sshd (Debian openssh-server, installed by `npm run testbed -- install`)
//    started with its own config on a free loopback port, its own host key and authorized_keys;
//  - fetch that trusts the test CA (Node's fetch takes its CAs at process start only).
// Everything lives in a temp dir; every process started here is stopped by its `stop()`.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../testbed/ephemeral-temporal.js';
import { sshdBin } from '../../testbed/paths.js';

export const GIT_HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';

const gitEnv = { GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 'test@example.com', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 'test@example.com', GIT_CONFIG_NOSYSTEM: '1', HOME: os.tmpdir() };
export function gitSync(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...gitEnv }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** A bare repository `<root>/<name>.git` with one commit (a README and a gantry.yaml-less tree); returns its sha. */
export function createBareRepo(root: string, name: string): { dir: string; sha: string } {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-gitwork-'));
  gitSync(work, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(work, 'README.md'), `# ${name}\n`);
  gitSync(work, 'add', '.');
  gitSync(work, 'commit', '-q', '-m', `first commit of ${name}`);
  const sha = gitSync(work, 'rev-parse', 'HEAD').trim();
  const dir = path.join(root, `${name}.git`);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  gitSync(root, 'clone', '-q', '--bare', work, dir);
  fs.rmSync(work, { recursive: true, force: true });
  return { dir, sha };
}

// ---------------------------------------------------------------------------------------------
// TLS: a test CA and a server certificate for 127.0.0.1

export interface TestCa { dir: string; caFile: string; caPem: string; key: Buffer; cert: Buffer }

export function makeTestCa(dir: string): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Gantry git test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  const caFile = path.join(dir, 'ca.pem');
  return { dir, caFile, caPem: fs.readFileSync(caFile, 'utf8'), key: fs.readFileSync(path.join(dir, 'server.key')), cert: fs.readFileSync(path.join(dir, 'server.pem')) };
}

/** A fetch (for octokit) that trusts `caPem`; the request body is a string or absent, as octokit sends it. */
export function caFetch(caPem: string): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => { headers[k] = v; });
    const body = init.body === undefined || init.body === null ? undefined : String(init.body as string);
    return new Promise<Response>((resolve, reject) => {
      const req = https.request(url, { method: init.method ?? 'GET', headers, ca: caPem }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
          const status = res.statusCode ?? 500;
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: h }));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }) as typeof fetch;
}

// ---------------------------------------------------------------------------------------------
// git smart HTTP: git http-backend as a CGI

/**
 * Serves the request with git http-backend (repositories under `root`); pushes are allowed for
 * `remoteUser` (the backend enables receive-pack only for an authenticated user).
 */
export function gitBackend(root: string, req: http.IncomingMessage, res: http.ServerResponse, remoteUser: string, pathInfo: string): void {
  const u = new URL(req.url ?? '/', 'https://127.0.0.1');
  const h = (n: string) => { const v = req.headers[n]; return Array.isArray(v) ? v[0] : v; };
  const cgi = spawn(GIT_HTTP_BACKEND, [], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_PROJECT_ROOT: root, GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET', PATH_INFO: pathInfo, QUERY_STRING: u.search.slice(1),
      CONTENT_TYPE: h('content-type') ?? '', ...(h('content-length') ? { CONTENT_LENGTH: h('content-length')! } : {}),
      REMOTE_USER: remoteUser, REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      ...(h('content-encoding') ? { HTTP_CONTENT_ENCODING: h('content-encoding')! } : {}),
      ...(h('git-protocol') ? { GIT_PROTOCOL: h('git-protocol')! } : {}),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  cgi.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) { res.write(chunk); return; }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const k = line.slice(0, i).trim(); const v = line.slice(i + 1).trim();
      if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
      else res.setHeader(k, v);
    }
    res.statusCode = status;
    res.write(head.subarray(end + 4));
  });
  let stderr = '';
  cgi.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  cgi.on('close', (code) => {
    if (!headersDone) { res.statusCode = 500; res.end(`git http-backend failed (${code}): ${stderr}`); return; }
    res.end();
  });
}

export interface BasicUser { user: string; password: string }
export interface HttpsGitServer {
  url: string; origin: string; root: string;
  /** Every request: path and whether it carried accepted credentials. */
  requests: { method: string; path: string; authorized: boolean }[];
  /** Replaced per test: which Basic credentials are accepted. */
  accept: (cred: BasicUser | undefined) => boolean;
  /** Requests not for a repository (`/<owner>/<name>.git/...`) go here (e.g. a fake GitHub API). */
  other?: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;
  stop(): Promise<void>;
}

function basicOf(req: http.IncomingMessage): BasicUser | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const s = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = s.indexOf(':');
  return i < 0 ? undefined : { user: s.slice(0, i), password: s.slice(i + 1) };
}

/** An HTTPS git server (repositories under `root`) that answers 401 unless `accept` takes the Basic credentials. */
export async function startHttpsGitServer(ca: TestCa, root: string, accept: HttpsGitServer['accept']): Promise<HttpsGitServer> {
  const srv: HttpsGitServer = { url: '', origin: '', root, requests: [], accept, stop: async () => {} };
  const server = https.createServer({ key: ca.key, cert: ca.cert }, (req, res) => {
    const p = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    if (!/^\/[\w.-]+\/[\w.-]+\.git(\/|$)/.test(p)) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (srv.other) srv.other(req, res, Buffer.concat(chunks));
        else { res.statusCode = 404; res.end(); }
      });
      return;
    }
    const cred = basicOf(req);
    const authorized = srv.accept(cred);
    srv.requests.push({ method: req.method ?? '', path: p, authorized });
    if (!authorized) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="gantry test git"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    gitBackend(root, req, res, cred!.user, p);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  if (!a || typeof a !== 'object') throw new Error('git server did not bind');
  srv.origin = `https://127.0.0.1:${a.port}`;
  srv.url = srv.origin;
  srv.stop = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return srv;
}

// ---------------------------------------------------------------------------------------------
// git over SSH: a real sshd

export interface SshKey { file: string; pub: string }

export function sshKeygen(dir: string, name: string): SshKey {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file], { stdio: 'pipe' });
  return { file, pub: fs.readFileSync(`${file}.pub`, 'utf8').trim() };
}

export interface SshServer {
  port: number; user: string; hostKey: SshKey;
  /** known_hosts line for this server. */
  knownHostsLine: string;
  urlOf(repoDir: string): string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * sshd on a free loopback port, as the current user (root here: PermitRootLogin prohibit-password
 * allows keys only), its own host key and authorized_keys (StrictModes off: the files are in a temp dir).
 */
export async function startSshd(dir: string, authorized: string[]): Promise<SshServer> {
  if (!fs.existsSync(sshdBin)) throw new Error(`sshd is not installed at ${sshdBin}: run npm run testbed -- install (testbed/sshd.ts installs Debian's openssh-server)`);
  fs.mkdirSync(dir, { recursive: true });
  // The privilege separation directory sshd checks for at start (root only; a package install makes it at boot).
  if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = sshKeygen(dir, 'ssh_host_ed25519_key');
  const authFile = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authFile, `${authorized.join('\n')}\n`, { mode: 0o600 });
  const port = await freePort();
  const logFile = path.join(dir, 'sshd.log');
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(config, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${hostKey.file}`, `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authFile}`, 'StrictModes no', 'PermitRootLogin prohibit-password', 'PubkeyAuthentication yes',
    'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'AllowTcpForwarding no', 'X11Forwarding no',
    'PermitTTY no', 'LogLevel VERBOSE', '',
  ].join('\n'));
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(sshdBin, ['-D', '-e', '-f', config], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const log = () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } };
  const deadline = Date.now() + 15_000;
  while (!/Server listening on 127\.0\.0\.1 port/.test(log())) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${log()}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`sshd did not start: ${log()}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  const user = os.userInfo().username;
  return {
    port, user, hostKey,
    knownHostsLine: `[127.0.0.1]:${port} ${hostKey.pub.split(' ').slice(0, 2).join(' ')}`,
    urlOf: (repoDir) => `ssh://${user}@127.0.0.1:${port}${repoDir}`,
    log,
    stop: async () => {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
