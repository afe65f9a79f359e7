// Webhook intake benchmark (npx tsx bench/webhooks.ts): signed GitHub push deliveries into the HTTP
// API on loopback, each verified (HMAC of the raw body), deduplicated (delivery id, then commit) and
// turned into a pipeline start on a throwaway in-memory Temporal dev server. Every commit is
// delivered twice (a redelivery with the same X-GitHub-Delivery), interleaved, so half the intake
// is duplicates that must not start anything. No worker: the benchmark measures acknowledgement
// (verify, dedupe, start), not the pipelines. Prints `BENCH <name> <value> <unit>` lines.
// Targets (from the issue): 500 deliveries/s and p99 acknowledgement under 100 ms. For comparison the
// benchmark ends with the same number of bare client.workflow.start calls on the same server.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { Webhooks } from '@octokit/webhooks';
import { identityTable } from '../api/auth.js';
import { buildServer } from '../api/server.js';
import { triggerConfig } from '../api/server-config.js';
import { GantryService } from '../api/service.js';
import { startEphemeralTemporal } from '../testbed/ephemeral-temporal.js';

const COMMITS = Number(process.env.BENCH_WEBHOOK_COMMITS ?? 1500);
const CONCURRENCY = Number(process.env.BENCH_WEBHOOK_CONCURRENCY ?? 32);
const SECRET = crypto.randomBytes(24).toString('hex');
const REPO = 'bench/shop';

function bench(name: string, value: number, unit: string): void {
  console.log(`BENCH ${name} ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}`);
}
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

const GANTRY_YAML = `app: { name: shop, image: registry.local/bench/shop }
environments:
  - name: production
    replicas: 4
    cells: [{ name: zone-a }, { name: zone-b }]
    groups: [{ pods: 1 }, { pods: rest }]
triggers:
  branches: [{ pattern: main, action: pipeline }]
`;

interface Delivery { id: string; body: string; signature: string; sha: string }

async function deliveries(n: number, ws: Webhooks): Promise<Delivery[]> {
  const out: Delivery[] = [];
  for (let i = 0; i < n; i++) {
    const sha = crypto.randomBytes(20).toString('hex');
    const body = JSON.stringify({
      ref: 'refs/heads/main', before: '0'.repeat(40), after: sha, created: false, deleted: false, forced: false,
      head_commit: { id: sha, message: `commit ${i}`, author: { name: 'Bench', email: 'bench@example.com', username: 'bench' } },
      repository: { full_name: REPO, name: 'shop', owner: { login: 'bench' } }, sender: { login: 'bench', type: 'User' },
    });
    out.push({ id: crypto.randomUUID(), body, signature: await ws.sign(body), sha });
  }
  return out;
}

async function main(): Promise<void> {
  const temporal = await startEphemeralTemporal();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bench-webhooks-'));
  const connection = await Connection.connect({ address: temporal.address });
  try {
    const client = new Client({ connection, namespace: 'default' });
    const service = new GantryService(client, 'bench-webhooks');
    const file = path.join(dir, 'gantry.yaml');
    fs.writeFileSync(file, GANTRY_YAML);
    const triggers = triggerConfig({ repos: [{ name: REPO, config: file, secret_env: 'BENCH_SECRET' }] }, { env: { BENCH_SECRET: SECRET } });
    const server = buildServer({ service, identities: identityTable([]), triggers, logger: false });
    await server.listen({ host: '127.0.0.1', port: 0 });
    const a = server.server.address();
    const url = `http://127.0.0.1:${a && typeof a === 'object' ? a.port : 0}/v1/webhooks/github`;
    const ws = new Webhooks({ secret: SECRET });

    const send = async (d: Delivery): Promise<{ status: number; ms: number }> => {
      const t0 = performance.now();
      const res = await fetch(url, { method: 'POST', body: d.body, headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': d.id, 'x-hub-signature-256': d.signature } });
      await res.arrayBuffer();
      return { status: res.status, ms: performance.now() - t0 };
    };
    const drive = async (list: Delivery[]) => {
      const results: { status: number; ms: number }[] = new Array(list.length);
      let next = 0;
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < list.length; i = next++) results[i] = await send(list[i]!);
      }));
      return results;
    };

    // Warm-up: connections, JIT, the first starts.
    await drive(await deliveries(100, ws));

    const unique = await deliveries(COMMITS, ws);
    // Each commit twice with the same delivery id; the copy follows a few places later, so some
    // copies arrive while the first is still being started.
    const stream: Delivery[] = [];
    unique.forEach((d, i) => { stream.push(d); if (i >= 3) stream.push(unique[i - 3]!); });
    stream.push(...unique.slice(-3));
    const t0 = performance.now();
    const results = await drive(stream);
    const seconds = (performance.now() - t0) / 1000;

    const started = results.filter((r) => r.status === 201).length;
    const repeated = results.filter((r) => r.status === 200).length;
    const failed = results.length - started - repeated;
    const lat = results.map((r) => r.ms).sort((x, y) => x - y);
    bench('webhook_push_deliveries_per_s', results.length / seconds, '1/s');
    bench('webhook_workflow_starts_per_s', started / seconds, '1/s');
    bench('webhook_ack_ms_p50', percentile(lat, 50), 'ms');
    bench('webhook_ack_ms_p99', percentile(lat, 99), 'ms');
    bench('webhook_ack_ms_max', lat.at(-1)!, 'ms');
    bench('webhook_deliveries', results.length, 'count');
    bench('webhook_starts', started, 'count');
    bench('webhook_duplicates_answered_without_start', repeated, 'count');
    bench('webhook_failed', failed, 'count');

    // What Temporal holds: one pipeline per commit (plus the warm-up's 100), none for the copies.
    const want = COMMITS + 100;
    let inTemporal = 0;
    for (let i = 0; i < 100; i++) {
      inTemporal = (await client.workflow.count(`WorkflowType = 'pipeline'`)).count;
      if (inTemporal >= want) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    bench('webhook_pipelines_in_temporal', inTemporal - 100, 'count');
    await server.close();

    // Baseline on the same server: bare client.workflow.start calls (same options, same concurrency),
    // no HTTP, no verification. The intake cannot start workflows faster than this.
    const raw: number[] = [];
    let next = 0;
    const r0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < COMMITS; i = next++) {
        const t = performance.now();
        await client.workflow.start('pipeline', { workflowId: `raw/${i}`, taskQueue: 'bench-raw', args: [{ i }], workflowIdConflictPolicy: 'FAIL', workflowIdReusePolicy: 'REJECT_DUPLICATE' });
        raw.push(performance.now() - t);
      }
    }));
    raw.sort((x, y) => x - y);
    bench('temporal_raw_starts_per_s', COMMITS / ((performance.now() - r0) / 1000), '1/s');
    bench('temporal_raw_start_ms_p99', percentile(raw, 99), 'ms');
    if (failed > 0 || started !== COMMITS || inTemporal !== want) {
      console.error(`webhook benchmark: expected ${COMMITS} starts and ${COMMITS} pipelines; got ${started} starts, ${inTemporal - 100} pipelines, ${failed} failures`);
      process.exitCode = 1;
    }
  } finally {
    await connection.close();
    temporal.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
