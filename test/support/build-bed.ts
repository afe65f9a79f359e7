// The build test bed for tests and benchmarks: a throwaway registry and BuildKit daemon (real
// binaries from `npm run testbed -- install`; missing ones fail loudly), a worker with the
// simulated cluster plus the pipeline's checkout/gate/build/registry activities, and a sample
// application in a temporary git repository (FROM scratch: no base image can be pulled here;
// RUN steps use a copied static busybox).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { createSimClusterActivities, type SimEffect } from '../../activities/index.js';
import { GantryService } from '../../api/service.js';
import { startEphemeralBuildkit, type EphemeralBuildkit } from '../../testbed/buildkit.js';
import { git } from '../../testbed/git.js';
import { buildctlBin, busyboxStaticBin, hadolintBin } from '../../testbed/paths.js';
import { startEphemeralRegistry, type EphemeralRegistry } from '../../testbed/registry.js';
import { createWorker } from '../../worker/worker.js';
import { testActivities } from './activities.js';
import { connectClient, connectNative, unique } from './temporal.js';

export interface BuildBed { registry: EphemeralRegistry; buildkit: EphemeralBuildkit; dir: string; workspaceRoot: string; logDir: string; stop(): Promise<void> }

export async function startBuildBed(): Promise<BuildBed> {
  for (const [what, bin] of [['buildctl', buildctlBin], ['hadolint', hadolintBin], ['busybox-static', busyboxStaticBin]] as const) {
    if (!fs.existsSync(bin)) throw new Error(`${what} missing at ${bin}: run \`npm run testbed -- install\``);
  }
  const registry = await startEphemeralRegistry();
  let buildkit: EphemeralBuildkit;
  try { buildkit = await startEphemeralBuildkit(); } catch (err) { registry.stop(); throw err; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-build-test-'));
  return {
    registry, buildkit, dir, workspaceRoot: path.join(dir, 'workspaces'), logDir: path.join(dir, 'logs'),
    async stop() {
      await buildkit.stop();
      registry.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PipelineHarness {
  client: Client;
  service: GantryService;
  effects: SimEffect[];
  sim: ReturnType<typeof createSimClusterActivities>;
  taskQueue: string;
  close(): Promise<void>;
}

export async function startPipelineHarness(bed: BuildBed, env: NodeJS.ProcessEnv = process.env): Promise<PipelineHarness> {
  const { client, connection } = await connectClient();
  const native: NativeConnection = await connectNative();
  const effects: SimEffect[] = [];
  const sim = createSimClusterActivities({ onEffect: (e) => effects.push(e) });
  const taskQueue = unique('tq-build');
  // The pipeline activities as the worker configures them (runtime/config.ts), on this bed; `env` is
  // where they read build secrets and passEnv values.
  const activities = testActivities(taskQueue, sim, {
    ...env, GANTRY_CLUSTER: 'sim', GANTRY_WORKSPACE_DIR: bed.workspaceRoot, GANTRY_PIPELINE_LOG_DIR: bed.logDir,
    GANTRY_BUILDKIT_ADDR: bed.buildkit.addr, GANTRY_BUILDCTL: buildctlBin, GANTRY_HADOLINT: hadolintBin,
  });
  const worker: Worker = await createWorker({ connection: native, taskQueue, activities });
  const running = worker.run();
  return {
    client, service: new GantryService(client, taskQueue), effects, sim, taskQueue,
    async close() {
      worker.shutdown();
      await running;
      await native.close();
      await (connection as Connection).close();
    },
  };
}

// --- the sample application ---------------------------------------------------------------------

export { git, gitAsync } from '../../testbed/git.js';

export const passingJunit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="app" tests="3" failures="0" errors="0">
  <testcase classname="app.greeting" name="says hello"/><testcase classname="app.greeting" name="says goodbye"/>
  <testcase classname="app.version" name="reports the version"/>
</testsuite></testsuites>
`;
export const failingJunit = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="app" tests="3" failures="1" errors="1">
  <testcase classname="app.greeting" name="says hello"/>
  <testcase classname="app.greeting" name="says goodbye"><failure message="expected goodbye">assertion failed</failure></testcase>
  <testcase classname="app.version" name="reports the version"><error message="boom">TypeError</error></testcase>
</testsuite></testsuites>
`;
export const lcov = (hit: number, found: number) => `TN:\nSF:src/app.js\nLF:${found}\nLH:${hit}\nend_of_record\n`;

/**
 * A Dockerfile hadolint accepts: FROM scratch; the build stage gets a static busybox as /bin/sh
 * (Debian's busybox-static runs its applets from the shell without a PATH), so RUN works.
 */
export const sampleDockerfile = (o: { extraRun?: string; secret?: boolean } = {}) => `FROM scratch AS build
COPY tools/busybox /bin/sh
COPY deps/ /deps/
RUN mkdir -p /out && cp -r /deps /out/deps${o.extraRun ?? ''}
COPY src/ /src/
${o.secret ? 'ARG APP_MODE=dev\nRUN --mount=type=secret,id=token,required=true sha256sum /run/secrets/token > /out/token.sha256 && echo "$APP_MODE" > /out/mode\n' : ''}RUN cp -r /src /out/app && sha256sum /out/app/* > /out/app.sums

FROM scratch
COPY --from=build /out/ /app/
`;

export function sampleGantryYaml(o: { app: string; image: string; gates?: string; build?: string }): string {
  return `app:
  name: ${o.app}
  image: ${o.image}
environments:
  - name: staging
    replicas: 2
    cells: [{ name: zone-a }]
    groups: [{ pods: rest }]
  - name: production
    replicas: 4
    cells: [{ name: zone-a }, { name: zone-b }]
    groups: [{ pods: 1 }, { pods: rest }]
build:
  dockerfile: Dockerfile
  tag: { name: 'release/{app}/{sha7}' }
${o.build ?? ''}gates:
${o.gates ?? `  - { name: unit, type: junit, run: [sh, scripts/test.sh], reports: [reports/junit.xml] }
  - { name: coverage, type: coverage, report: coverage/lcov.info, min: 80 }
  - { name: dockerfile, type: hadolint, dockerfile: Dockerfile }
  - { name: smoke, type: command, run: [sh, -c, 'test -s src/index.html'] }
  - { name: size, type: image-size, max: 50MB }
`}`;
}

export interface SampleRepo {
  /** Bare repository the pipeline clones (file:// URL). */
  url: string;
  origin: string;
  work: string;
  /** Writes files (path → content, or null to delete), commits, pushes to main; returns the new sha. */
  commit(files: Record<string, string | Buffer | null>, message: string): string;
  head(): string;
}

export function createSampleRepo(root: string, o: { app: string; image: string; gates?: string; build?: string; depsBytes?: number; dockerfile?: string }): SampleRepo {
  const origin = path.join(root, `${o.app}.git`);
  const work = path.join(root, `${o.app}-work`);
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', origin]);
  execFileSync('git', ['init', '-q', '-b', 'main', work]);
  git(work, 'remote', 'add', 'origin', origin);
  const commit = (files: Record<string, string | Buffer | null>, message: string): string => {
    for (const [rel, content] of Object.entries(files)) {
      const p = path.join(work, rel);
      if (content === null) { fs.rmSync(p, { force: true }); continue; }
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
      if (rel.startsWith('tools/')) fs.chmodSync(p, 0o755);
    }
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', message);
    git(work, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
    return git(work, 'rev-parse', 'HEAD');
  };
  // "Dependencies": incompressible bytes standing in for a vendored dependency tree.
  const deps: Record<string, Buffer> = {};
  const total = o.depsBytes ?? 256 * 1024;
  const files = Math.max(1, Math.ceil(total / (1024 * 1024)));
  for (let i = 0; i < files; i++) deps[`deps/lib${i}.bin`] = pseudoRandom(Math.ceil(total / files), i + 1);
  commit({
    'gantry.yaml': sampleGantryYaml(o),
    Dockerfile: o.dockerfile ?? sampleDockerfile(),
    '.dockerignore': 'reports/\ncoverage/\n',
    'tools/busybox': fs.readFileSync(busyboxStaticBin),
    'scripts/test.sh': 'set -e\nmkdir -p reports\ncp fixtures/junit.xml reports/junit.xml\n',
    'fixtures/junit.xml': passingJunit,
    'coverage/lcov.info': lcov(90, 100),
    'src/index.html': '<h1>hello</h1>\n',
    'src/version.txt': 'v1\n',
    ...deps,
  }, 'sample app\n\nThe first commit.');
  return { url: `file://${origin}`, origin, work, commit, head: () => git(work, 'rev-parse', 'HEAD') };
}

/** Deterministic incompressible bytes (xorshift). */
export function pseudoRandom(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}

/** PIDs of processes whose command line contains `needle`. */
export function processesMatching(needle: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle)) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}
