// The worker's health endpoint (worker/health.ts, GANTRY_HEALTH_ADDR): the probes of deploy/'s
// worker Deployments. On the test run's real Temporal dev server:
// - a real Worker, reached through a TCP proxy: /readyz is 503 while the worker is INITIALIZED,
//   200 once it RUNS, 503 naming Temporal and the address when the proxy stops (Temporal gone),
//   200 again when it is back; /healthz is 200 throughout;
// - the real worker process (worker/main.ts, role build): with GANTRY_HEALTH_ADDR it serves
//   /readyz 200 listing its RUNNING worker on the build queue, and exits 0 on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadWorkerConfig, RuntimeConfigError } from '../../runtime/config.js';
import { startHealthServer, workerHealthSource, type HealthServer } from '../../worker/health.js';
import { quietRuntime, testAddress, unique } from '../support/temporal.js';
import { freePort, untilValue } from '../support/poll.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => { for (const c of cleanups.reverse()) await c().catch(() => undefined); });

/** A TCP proxy to `target` that can be stopped (every connection cut) and started again on the same port. */
class Proxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}
  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); s.on('error', () => undefined); }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}


async function probe(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => untilValue(what, fn, timeoutMs, 200);

describe('worker health endpoint', () => {
  it('GANTRY_HEALTH_ADDR: off by default, host:port or :port (loopback), a bad value named with its hint', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-health-config-'));
    cleanups.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const base = { GANTRY_CLUSTER: 'sim', GANTRY_DATA_DIR: dataDir, HOME: dataDir };
    expect(loadWorkerConfig(base).healthAddr).toBeUndefined();
    expect(loadWorkerConfig({ ...base, GANTRY_HEALTH_ADDR: '0.0.0.0:9090' }).healthAddr).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(loadWorkerConfig({ ...base, GANTRY_HEALTH_ADDR: ':9090' }).healthAddr).toEqual({ host: '127.0.0.1', port: 9090 });
    let err: unknown;
    try { loadWorkerConfig({ ...base, GANTRY_HEALTH_ADDR: 'everywhere' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(RuntimeConfigError);
    expect((err as RuntimeConfigError).errors).toEqual([{ path: 'GANTRY_HEALTH_ADDR', message: expect.stringContaining("got 'everywhere'"), hint: expect.stringContaining('0.0.0.0:9090 in a pod') }]);
  });

  it('readyz follows the worker state and the Temporal connection; healthz stays 200', async () => {
    quietRuntime();
    const [host, port] = testAddress().split(':') as [string, string];
    const proxy = new Proxy({ host, port: Number(port) });
    await proxy.start();
    cleanups.push(() => proxy.stop());
    const address = `127.0.0.1:${proxy.port}`;
    const connection = await NativeConnection.connect({ address });
    cleanups.push(() => connection.close());
    const taskQueue = unique('health');
    const worker = await Worker.create({ connection, namespace: 'default', taskQueue, activities: { noop: async () => undefined } });
    const health: HealthServer = await startHealthServer({ host: '127.0.0.1', port: 0 }, workerHealthSource(connection, { address, namespace: 'default' }, () => [worker]));
    cleanups.push(() => health.close());

    const before = await probe(`${health.url}/readyz`);
    expect(before.status).toBe(503);
    expect(before.body).toMatchObject({ ready: false, workers: [{ taskQueue, state: 'INITIALIZED' }], temporal: { ok: true }, reason: `worker ${taskQueue} is INITIALIZED (not RUNNING)` });

    const run = worker.run();
    cleanups.push(async () => { if (worker.getState() === 'RUNNING') worker.shutdown(); await run; });
    const ready = await until('readyz 200', async () => { const r = await probe(`${health.url}/readyz`); return r.status === 200 ? r : undefined; });
    expect(ready.body).toEqual({ ready: true, workers: [{ taskQueue, state: 'RUNNING' }], temporal: { ok: true, address, namespace: 'default' } });
    expect(await probe(`${health.url}/healthz`)).toEqual({ status: 200, body: { ok: true } });

    // Temporal gone (the proxy stops and cuts every connection): not ready, naming Temporal; still alive.
    await proxy.stop();
    const down = await until('readyz 503', async () => { const r = await probe(`${health.url}/readyz`); return r.status === 503 ? r : undefined; });
    expect(down.body).toMatchObject({ ready: false, reason: expect.stringContaining(`Temporal is not reachable at ${address}`), hint: expect.stringContaining('TEMPORAL_ADDRESS'), temporal: { ok: false } });
    expect((await probe(`${health.url}/healthz`)).status).toBe(200);

    // Back: ready again, on the same connection.
    await proxy.start();
    await until('readyz 200 again', async () => ((await probe(`${health.url}/readyz`)).status === 200 ? true : undefined));

    expect((await probe(`${health.url}/nope`)).status).toBe(404);
    expect((await fetch(`${health.url}/readyz`, { method: 'POST' })).status).toBe(405);
  }, 120_000);

  it('the worker process serves it when GANTRY_HEALTH_ADDR is set (role build), and exits 0 on SIGTERM', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-health-'));
    cleanups.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const queue = unique('health-q');
    const env = {
      PATH: process.env.PATH ?? '', HOME: dataDir,
      TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: queue, GANTRY_BUILD_TASK_QUEUE: `${queue}-build`,
      GANTRY_WORKER_ROLE: 'build', GANTRY_DATA_DIR: dataDir, GANTRY_LOG_LEVEL: 'warn', GANTRY_HEALTH_ADDR: `127.0.0.1:${port}`,
    };
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (b: Buffer) => { output += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { output += b.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(async () => { child.kill('SIGKILL'); await exited; });

    const ready = await until(`the worker process's /readyz (output so far: ${output})`, async () => {
      const r = await probe(`http://127.0.0.1:${port}/readyz`);
      return r.status === 200 ? r : undefined;
    }, 90_000);
    // The build role's workers: its queue, and its gate-log queue (<queue>@<host>/<log dir hash>: reads of its own logs).
    expect(ready.body).toMatchObject({ ready: true, temporal: { ok: true, address: testAddress() } });
    const workers = (ready.body as { workers: { taskQueue: string; state: string }[] }).workers;
    expect(workers.map((w) => w.state)).toEqual(['RUNNING', 'RUNNING']);
    expect(workers[0]!.taskQueue).toBe(`${queue}-build`);
    expect(workers[1]!.taskQueue).toMatch(new RegExp(`^${queue}-build@[^/]+/[0-9a-f]+$`));

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  }, 150_000);
});
