// activities/https.ts against real TLS servers (node:https on loopback) with certificates from a
// private CA made by openssl (test/support/auth-registry.ts, argv only): the CA given is trusted
// besides the system's roots; without it, with another CA, for a name the certificate does not
// carry, self-signed or expired, the failure is classified as an untrusted certificate with Node's
// code; other failures (refused, timeout, the activity's abort) are not.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fetchTrusting, httpsFetch, isAbort, requestFailureText, untrustedCertificate, type UntrustedCertificate } from '../../activities/https.js';
import { freePort } from '../../testbed/ephemeral-temporal.js';
import { makeCa, makeLeaf } from '../support/auth-registry.js';

let dir: string;
let caPem: string;
let otherCaPem: string;
const servers: https.Server[] = [];
/** Base URLs: a leaf for 127.0.0.1, a leaf for another name, a self-signed certificate, an expired leaf. */
let good: string;
let misnamed: string;
let selfSigned: string;
let expired: string;

async function serve(cert: { cert: string; key: string }): Promise<string> {
  const server = https.createServer({ cert: fs.readFileSync(cert.cert), key: fs.readFileSync(cert.key) }, (req, res) => {
    if (req.url === '/hang') return; // never answers: the timeout and the abort end the request
    if (req.url === '/redirect') { res.writeHead(302, { location: '/echo' }).end(); return; }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString('utf8') })));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What a request fails with (a failed expectation when it does not fail). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeDefined();
  return err;
}

async function untrusted(p: Promise<unknown>): Promise<UntrustedCertificate> {
  const cert = untrustedCertificate(await rejection(p));
  expect(cert).toBeDefined();
  return cert!;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-https-'));
  const ca = makeCa(dir, 'private-ca');
  caPem = fs.readFileSync(ca.cert, 'utf8');
  otherCaPem = fs.readFileSync(makeCa(dir, 'other-ca').cert, 'utf8');
  good = await serve(makeLeaf(dir, ca, 'server', 'serverAuth', 'IP:127.0.0.1'));
  misnamed = await serve(makeLeaf(dir, ca, 'elsewhere', 'serverAuth', 'DNS:elsewhere.test'));
  selfSigned = await serve(makeCa(dir, 'self-signed'));
  // A leaf whose notAfter is a day before now (openssl x509 -days -1).
  fs.writeFileSync(path.join(dir, 'expired.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n');
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'expired.key', '-out', 'expired.csr', '-subj', '/CN=expired']);
  openssl(['x509', '-req', '-in', 'expired.csr', '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', 'expired.pem', '-days', '-1', '-extfile', 'expired.ext']);
  expired = await serve({ cert: path.join(dir, 'expired.pem'), key: path.join(dir, 'expired.key') });
}, 60_000);

afterAll(async () => {
  for (const s of servers) { s.closeAllConnections(); await new Promise<void>((resolve) => s.close(() => resolve())); }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('httpsFetch and fetchTrusting', () => {
  it('with the private CA: the server is trusted (GET, POST with a body, redirects followed)', async () => {
    const res = await httpsFetch(`${good}/ok`, { ca: caPem, timeoutMs: 5000 });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ method: 'GET', url: '/ok', body: '' });
    const f = fetchTrusting(caPem);
    const post = await f(`${good}/post`, { method: 'POST', body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(await post.json()).toEqual({ method: 'POST', url: '/post', body: 'a=1' });
    const redirected = await f(`${good}/redirect`);
    expect(redirected.status).toBe(200);
    expect(((await redirected.json()) as { url: string }).url).toBe('/echo');
  });

  it('without a CA, or with another one: an untrusted certificate (unknown issuer), with Node\'s code in the problem text', async () => {
    for (const p of [httpsFetch(`${good}/ok`), fetch(`${good}/ok`), httpsFetch(`${good}/ok`, { ca: otherCaPem }), fetchTrusting(otherCaPem)(`${good}/ok`)]) {
      const cert = await untrusted(p);
      expect(cert).toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', reason: 'unknown-issuer' });
      expect(cert.problem).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate');
    }
  });

  it('a certificate for another name, even from the trusted CA: hostname mismatch', async () => {
    const cert = await untrusted(httpsFetch(`${misnamed}/ok`, { ca: caPem }));
    expect(cert).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID', reason: 'hostname-mismatch' });
    expect(cert.problem).toMatch(/^ERR_TLS_CERT_ALTNAME_INVALID: .*IP: 127\.0\.0\.1 is not in the cert's list/);
  });

  it('a self-signed certificate, and an expired one from the trusted CA', async () => {
    expect(await untrusted(httpsFetch(`${selfSigned}/ok`))).toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', reason: 'self-signed' });
    const old = await untrusted(httpsFetch(`${expired}/ok`, { ca: caPem }));
    expect(old).toMatchObject({ code: 'CERT_HAS_EXPIRED', reason: 'expired' });
    expect(old.problem).toBe('CERT_HAS_EXPIRED: certificate has expired');
  });

  it('a refused connection, a timeout and an abort are not certificate problems', async () => {
    const refused = await rejection(httpsFetch(`https://127.0.0.1:${await freePort()}/`, { ca: caPem }));
    expect(untrustedCertificate(refused)).toBeUndefined();
    expect(requestFailureText(refused)).toMatch(/^connect ECONNREFUSED 127\.0\.0\.1:\d+$/);

    const started = Date.now();
    const timedOut = await rejection(httpsFetch(`${good}/hang`, { ca: caPem, timeoutMs: 300 }));
    expect((timedOut as Error).name).toBe('TimeoutError');
    expect(isAbort(timedOut)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(untrustedCertificate(timedOut)).toBeUndefined();

    // The activity's cancellation aborts the request even with a long timeout.
    const ac = new AbortController();
    const pending = rejection(httpsFetch(`${good}/hang`, { ca: caPem, timeoutMs: 60_000, signal: ac.signal }));
    setTimeout(() => ac.abort(new Error('activity cancelled')), 100);
    const aborted = await pending;
    expect((aborted as Error).message).toBe('activity cancelled');
    expect(untrustedCertificate(aborted)).toBeUndefined();
    expect(isAbort(refused)).toBe(false);
  });

  it('errors that are not about certificates, or not errors, are classified as such', () => {
    expect(untrustedCertificate(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }))).toBeUndefined();
    expect(untrustedCertificate('CERT_HAS_EXPIRED')).toBeUndefined();
    expect(untrustedCertificate(undefined)).toBeUndefined();
    expect(requestFailureText('plain')).toBe('plain');
    expect(requestFailureText(new Error('other'))).toBe('other');
  });
});
