// Build benchmarks (`npx tsx bench/build.ts`), against a throwaway registry and BuildKit daemon from
// the test bed, printing `BENCH <name> <value> <unit>` lines:
//  1. Cold build versus rebuild after a one-file change, for an app with a dependency stage
//     (48 MB of vendored files and a compute step over them) and a small app stage: warm with
//     BuildKit's local cache, and warm from the registry cache only (local cache pruned, as on a
//     fresh CI builder). Target from the issue: rebuild at least 5x faster than cold.
//  2. The pipeline's own overhead per stage: stage duration minus the time inside the tools it
//     runs (git, gate processes, buildctl, registry calls), median over several pipelines on a real
//     Temporal dev server. Release stages run the simulated cluster (no tool time): all overhead.
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createBuildActivities } from '../activities/build.js';
import { defaultBuild } from '../core/build.js';
import type { PipelineStatus } from '../core/pipeline.js';
import { startEphemeralTemporal } from '../testbed/ephemeral-temporal.js';
import { buildctlBin, hadolintBin } from '../testbed/paths.js';
import { pipelineStatusQuery, pipelineWorkflowId } from '../workflows/messages.js';
import type { PipelineInput } from '../workflows/pipeline.js';
import { createSampleRepo, startBuildBed, startPipelineHarness, type BuildBed } from '../test/support/build-bed.js';

function bench(name: string, value: number, unit: string): void {
  console.log(`BENCH ${name} ${Number.isInteger(value) ? value : value.toFixed(2)} ${unit}`);
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };

/** A typical service layout: dependencies built in their own stage, the app in a small one. */
const benchDockerfile = `FROM scratch AS deps
COPY tools/busybox /bin/sh
COPY deps/ /deps/
RUN mkdir -p /out/deps && cp -r /deps/. /out/deps/ && for i in 1 2 3 4; do sha256sum /deps/* > /out/deps/sums$i; gzip -c /deps/lib0.bin > /dev/null; done

FROM scratch AS build
COPY tools/busybox /bin/sh
COPY src/ /src/
RUN mkdir -p /out && cp -r /src /out/app && sha256sum /out/app/* > /out/app.sums

FROM scratch
COPY --from=deps /out/deps /app/deps
COPY --from=build /out/ /app/
`;

async function buildBenchmark(bed: BuildBed): Promise<void> {
  const app = 'bench-build';
  const image = `${bed.registry.addr}/gantry/${app}`;
  const sample = createSampleRepo(bed.dir, { app, image, depsBytes: 48 * 1024 * 1024, dockerfile: benchDockerfile });
  const build = createBuildActivities({ workspaceRoot: bed.workspaceRoot, logDir: bed.logDir, buildkitAddr: bed.buildkit.addr, buildctlBin, hadolintBin });
  const run = async (sha: string, label: string) => {
    const t0 = performance.now();
    const r = await build.buildImage({ pipelineId: label, source: { repo: `bench/${app}`, url: sample.url, sha }, image, build: defaultBuild });
    return { ms: performance.now() - t0, toolMs: r.toolMs, steps: r.steps };
  };
  const cold = await run(sample.head(), 'cold');
  const warmLocal = await run(sample.commit({ 'src/version.txt': 'v2\n' }, 'one-file change'), 'warm-local');
  execFileSync(buildctlBin, ['--addr', bed.buildkit.addr, 'prune', '--all']);
  const warmRegistry = await run(sample.commit({ 'src/version.txt': 'v3\n' }, 'another one-file change'), 'warm-registry');
  bench('build_cold_ms', cold.toolMs, 'ms');
  bench('build_cold_steps_executed', cold.steps.executed, 'steps');
  bench('build_warm_local_ms', warmLocal.toolMs, 'ms');
  bench('build_warm_local_steps_executed', warmLocal.steps.executed, 'steps');
  bench('build_warm_registry_cache_ms', warmRegistry.toolMs, 'ms');
  bench('build_warm_registry_cache_steps_executed', warmRegistry.steps.executed, 'steps');
  bench('build_cold_over_warm_local_ratio', cold.toolMs / warmLocal.toolMs, 'x');
  bench('build_cold_over_warm_registry_cache_ratio', cold.toolMs / warmRegistry.toolMs, 'x');
}

async function overheadBenchmark(bed: BuildBed, runs: number): Promise<void> {
  const h = await startPipelineHarness(bed);
  try {
    const app = 'bench-pipeline';
    const sample = createSampleRepo(bed.dir, { app, image: `${bed.registry.addr}/gantry/${app}` });
    const perStage = new Map<string, number[]>();
    for (let i = 0; i <= runs; i++) {
      const sha = i === 0 ? sample.head() : sample.commit({ 'src/version.txt': `v${i + 1}\n` }, `change ${i}`);
      const repo = `bench/${app}`;
      const input: PipelineInput = { repo, sha, source: { url: sample.url }, startedBy: { id: 'bench', channel: 'api' } };
      const handle = await h.client.workflow.start('pipeline', { workflowId: pipelineWorkflowId(repo, sha), taskQueue: h.taskQueue, args: [input] });
      await handle.result();
      const s: PipelineStatus = await handle.query(pipelineStatusQuery);
      if (s.state !== 'succeeded') throw new Error(`pipeline ${i}: ${s.reason}`);
      if (i === 0) continue; // warm-up: workflow bundle, caches, connections
      for (const st of s.stages) {
        const over = (st.durationMs ?? 0) - (st.toolMs ?? 0);
        perStage.set(st.name, [...(perStage.get(st.name) ?? []), over]);
      }
    }
    let total = 0;
    for (const [name, xs] of perStage) {
      const m = median(xs);
      total += m;
      bench(`pipeline_overhead_${name.replace(/[^a-z0-9]+/gi, '_')}_ms_p50`, m, 'ms');
    }
    bench('pipeline_overhead_total_ms_p50', total, 'ms');
  } finally {
    await h.close();
  }
}

async function main(): Promise<void> {
  const temporal = await startEphemeralTemporal();
  process.env.GANTRY_TEST_TEMPORAL_ADDRESS = temporal.address;
  const bed = await startBuildBed();
  try {
    await buildBenchmark(bed);
    await overheadBenchmark(bed, Number(process.env.GANTRY_BENCH_PIPELINES ?? 5));
  } finally {
    await bed.stop();
    temporal.stop();
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error('build benchmark failed:', err instanceof Error ? err.stack : err);
  process.exit(1);
});
