// GET /readyz of the API process (the Kubernetes readiness probe of deploy/): ready against the test
// run's real Temporal dev server, with what the server config holds; 503 naming Temporal and its
// address when the connection points at a closed port, and naming the namespace when it does not
// exist. Served over real HTTP by startApi (the process's own start path), without a token.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { startApi, type RunningApi } from '../../api/main.js';
import { loadApiConfig } from '../../runtime/config.js';
import { testAddress, unique } from '../support/temporal.js';

const running: RunningApi[] = [];
const connections: Connection[] = [];
afterAll(async () => {
  for (const a of running) await a.close();
  for (const c of connections) await c.close();
});

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function serverConfigFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-readyz-'));
  const file = path.join(dir, 'server.yaml');
  const sha = crypto.createHash('sha256').update('readyz-token-0123456789abcdef').digest('hex');
  fs.writeFileSync(file, `identities:\n  - { id: alice, groups: [sre], token_sha256: ${sha} }\n`);
  return file;
}

async function start(env: Record<string, string>, client?: Client): Promise<RunningApi> {
  const config = loadApiConfig({ GANTRY_API_ADDR: '127.0.0.1:0', ...env });
  const api = await startApi({ config, logger: false, ...(client ? { client } : {}) });
  running.push(api);
  return api;
}

async function readyz(api: RunningApi): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${api.url}/readyz`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

describe('GET /readyz', () => {
  it('is 200 against the real Temporal server, without a token, and reports the loaded server config', async () => {
    const api = await start({ TEMPORAL_ADDRESS: testAddress(), GANTRY_SERVER_CONFIG: serverConfigFile() });
    const r = await readyz(api);
    expect(r).toEqual({
      status: 200,
      body: { ready: true, temporal: { ok: true, address: testAddress(), namespace: 'default' }, serverConfig: { identities: 1, repos: 0, slack: false } },
    });
    // Liveness stays the plain answer.
    expect(await (await fetch(`${api.url}/healthz`)).json()).toEqual({ ok: true });
  }, 60_000);

  it('is 503 naming Temporal and the address when the connection points at a closed port', async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    // A lazy connection: the API is up (as after a Temporal outage that began once it had started).
    const connection = Connection.lazy({ address });
    connections.push(connection);
    const api = await start({ TEMPORAL_ADDRESS: address }, new Client({ connection, namespace: 'default' }));
    const t0 = Date.now();
    const r = await readyz(api);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({
      ready: false, error: 'unavailable',
      message: expect.stringContaining(`Temporal is not reachable at ${address}`),
      hint: expect.stringContaining('TEMPORAL_ADDRESS'),
      temporal: { ok: false, address, namespace: 'default' },
    });
    // Liveness does not depend on Temporal: the pod is not restarted for an outage.
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  }, 60_000);

  it('is 503 naming the namespace when Temporal answers but the namespace does not exist', async () => {
    const ns = unique('no-such-namespace');
    const api = await start({ TEMPORAL_ADDRESS: testAddress(), TEMPORAL_NAMESPACE: ns });
    const r = await readyz(api);
    expect(r.status).toBe(503);
    expect(r.body.message).toBe(`Temporal at ${testAddress()} answers, but its namespace ${ns} does not exist`);
    expect(r.body.hint).toMatch(/TEMPORAL_NAMESPACE/);
  }, 60_000);
});
