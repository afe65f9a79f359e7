// The build activity: buildctl against BuildKit, building the checked-out commit (a pristine
// worktree) and pushing it as eStargz (compression=estargz, force-compression, OCI media types),
// with a registry cache imported and exported. The digest is read from the metadata file;
// BuildKit's progress (rawjson) is heartbeated and turned into a readable, capped log; a
// cancelled activity kills buildctl's process group, which cancels the solve in buildkitd.
// Secrets reach BuildKit only as secret mounts, by environment-variable reference. Registry
// credentials reach buildctl as DOCKER_CONFIG (a per-build directory whose config.json links to the
// worker's credentials file), buildkitd's TLS client certificate as --tlscacert/--tlscert/--tlskey.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { CancelledFailure } from '@temporalio/common';
import {
  buildctlArgs, buildSpecProblems, classifyBuildFailure, digestFromMetadata, ProgressTracker, type Vertex,
} from '../core/build.js';
import { parseImageRef } from '../core/image.js';
import { fail, FailureType } from '../workflows/failures.js';
import type { BuildRequest, BuildResult, PipelineActivities } from '../workflows/pipeline-activity-types.js';
import { createGateActivities, pipelineLogPath, redact, runProcess, type GateOptions } from './gates.js';
import { activitySignal, createGitActivities, ensureCheckout, safeHeartbeat } from './git.js';
import { createRegistryActivities, type RegistryOptions } from './registry.js';
import { RegistryAuth, type RegistryAuthFile } from './registry-auth.js';

/** The TLS client of buildkitd over TCP (runtime/config.ts: GANTRY_BUILDKIT_TLS_DIR or the three paths). */
export interface BuildkitTls {
  caCert: string;
  cert: string;
  key: string;
  /** Where the paths came from, for messages. */
  setting: string;
}

export interface BuildOptions extends GateOptions {
  /** BuildKit daemon address, e.g. unix:///run/buildkit/buildkitd.sock */
  buildkitAddr: string;
  buildctlBin: string;
  /** How often the build heartbeats while BuildKit is quiet (ms). */
  heartbeatMs?: number;
  buildkitTls?: BuildkitTls;
  /** The Docker config.json buildctl pushes with (the registry client's too); none: anonymous. */
  registryAuthFile?: RegistryAuthFile;
}

/** buildctl's global flags for buildkitd over TLS (before the subcommand). */
export function buildctlTlsArgs(tls: BuildkitTls | undefined): string[] {
  return tls ? ['--tlscacert', tls.caCert, '--tlscert', tls.cert, '--tlskey', tls.key] : [];
}

/** A refusal by the registry during the push or the cache import/export (buildctl's words). */
const REGISTRY_AUTH_RE = /\b401 Unauthorized\b|\b403 Forbidden\b|failed to authorize|failed to fetch (?:anonymous|oauth) token|unauthorized: |denied: /i;
/** buildkitd over TCP refused the connection's TLS (no or a wrong client certificate, an untrusted server). */
const BUILDKIT_TLS_RE = /tls: |x509: |certificate|handshake|server preface|authentication handshake failed/i;

/**
 * Why buildkitd at a tcp:// address refuses the worker's TLS files, found by a handshake of our own
 * (buildctl often reports only "broken pipe" when the server rejects the client certificate after a
 * TLS 1.3 handshake): the alert or verification error, or undefined when TLS is not the problem
 * (the handshake passes, or nothing answers).
 */
export async function buildkitTlsProblem(addr: string, files: BuildkitTls, timeoutMs = 5000): Promise<string | undefined> {
  const u = new URL(addr.replace(/^tcp:/, 'http:'));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  let ca: Buffer, cert: Buffer, key: Buffer;
  try {
    [ca, cert, key] = [files.caCert, files.cert, files.key].map((f) => fs.readFileSync(f)) as [Buffer, Buffer, Buffer];
  } catch (err) { return `the TLS files cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`; }
  return new Promise((resolve) => {
    let settled = false;
    const done = (why: string | undefined) => { if (!settled) { settled = true; socket.destroy(); resolve(why); } };
    const socket = tls.connect({ host, port: Number(u.port), ca, cert, key, ALPNProtocols: ['h2'], ...(net.isIP(host) ? {} : { servername: host }) });
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('secureConnect', () => {
      // With TLS 1.3 the server judges the client certificate after the handshake: speak first (the
      // HTTP/2 preface) and give it a moment to answer with an alert.
      socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      setTimeout(() => done(undefined), 1000).unref();
    });
    socket.on('data', () => undefined);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      done(/CERT|ALERT|SELF_SIGNED|VERIFY|ALTNAME|ISSUER|SSL/i.test(code) ? `${code}: ${err.message}` : undefined);
    });
  });
}

interface RawStatus { vertexes?: Vertex[]; logs?: { vertex: string; stream?: number; data?: string }[] }

function inside(root: string, rel: string): string {
  const p = path.resolve(root, rel);
  if (p !== root && !p.startsWith(`${root}${path.sep}`)) throw fail(FailureType.BadRequest, `path ${rel} leaves the repository`);
  return p;
}

export function createBuildActivities(opts: BuildOptions) {
  const host = os.hostname();
  return {
    async buildImage(req: BuildRequest): Promise<BuildResult> {
      const b = req.build;
      const problems = buildSpecProblems(b);
      if (problems.length) throw fail(FailureType.BadRequest, `invalid build section: ${problems.join('; ')}`);
      const image = parseImageRef(req.image);
      if ('error' in image || image.tag || image.digest) throw fail(FailureType.BadRequest, 'error' in image ? image.error : `${req.image}: the image is a repository, without tag or digest`);
      if (!fs.existsSync(opts.buildctlBin)) throw fail(FailureType.ToolMissing, `buildctl is not installed on this worker (${opts.buildctlBin})`);

      // Secrets: the names come from the workflow; the values only from this worker's environment.
      const workerEnv = opts.env ?? process.env;
      const env: NodeJS.ProcessEnv = { PATH: workerEnv.PATH ?? '/usr/bin:/bin', HOME: workerEnv.HOME ?? os.homedir() };
      const secretValues: string[] = [];
      for (const s of b.secrets) {
        const v = workerEnv[s.env];
        if (v === undefined) throw fail(FailureType.SecretMissing, `build secret ${s.id}: the worker has no environment variable ${s.env}`);
        env[s.env] = v;
        secretValues.push(v);
      }

      const tGit = performance.now();
      const ws = await ensureCheckout(opts, req.source, { pristine: true });
      const gitMs = performance.now() - tGit;
      const contextDir = inside(ws.treeDir, b.context);
      const dockerfile = inside(ws.treeDir, b.dockerfile);
      if (!fs.existsSync(dockerfile)) throw fail(FailureType.BuildFailed, `no Dockerfile at ${b.dockerfile} in ${req.source.repo}@${ws.sha.slice(0, 12)}`);
      const tag = ws.sha;
      const repo = `${image.registry}/${image.repository}`;
      const metaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-build-'));
      const metadataFile = path.join(metaDir, 'metadata.json');
      // buildctl reads registry credentials from $DOCKER_CONFIG/config.json: a directory of this build
      // whose config.json links to the worker's file (a Secret's key need not be named config.json);
      // empty without credentials, so buildctl never falls back to another file than the client does.
      const dockerConfig = path.join(metaDir, 'docker');
      fs.mkdirSync(dockerConfig, { mode: 0o700 });
      if (opts.registryAuthFile) fs.symlinkSync(opts.registryAuthFile.path, path.join(dockerConfig, 'config.json'));
      env.DOCKER_CONFIG = dockerConfig;
      const logFile = pipelineLogPath(opts.logDir, req.pipelineId, 'build');
      const epoch = req.commitTime ? Math.floor(Date.parse(req.commitTime) / 1000) : undefined;
      const argv = [opts.buildctlBin, ...buildctlTlsArgs(opts.buildkitTls), ...buildctlArgs({
        addr: opts.buildkitAddr, contextDir, dockerfileDir: path.dirname(dockerfile), dockerfileName: path.basename(dockerfile),
        ...(b.target ? { target: b.target } : {}), name: `${repo}:${tag}`, cacheRef: b.cache ?? `${repo}:buildcache`,
        args: b.args, secrets: b.secrets, metadataFile, ...(epoch !== undefined && Number.isFinite(epoch) ? { sourceDateEpoch: epoch } : {}),
      })];

      const tracker = new ProgressTracker();
      const names = new Map<string, string>();
      const reported = new Set<string>();
      const clean = (t: string) => (secretValues.length ? redact(t, secretValues) : t);
      const onLine = (line: string): string | null => {
        if (!line.startsWith('{')) return clean(line);
        let st: RawStatus;
        try { st = JSON.parse(line) as RawStatus; } catch { return clean(line); }
        const out: string[] = [];
        if (st.vertexes) {
          tracker.update(st.vertexes);
          for (const v of st.vertexes) {
            if (v.name) names.set(v.digest, v.name);
            const key = `${v.digest}:${v.completed ? 'done' : v.started ? 'start' : ''}`;
            if ((v.started || v.completed) && !reported.has(key)) {
              reported.add(key);
              const secs = v.started && v.completed ? ` (${((Date.parse(v.completed) - Date.parse(v.started)) / 1000).toFixed(2)}s)` : '';
              out.push(v.completed ? `${v.error ? 'ERROR' : v.cached ? 'CACHED' : 'DONE'} ${v.name ?? v.digest}${secs}${v.error ? `: ${v.error}` : ''}` : `START ${v.name ?? v.digest}`);
            }
          }
        }
        for (const l of st.logs ?? []) {
          const text = Buffer.from(l.data ?? '', 'base64').toString('utf8').replace(/\n$/, '');
          if (text) out.push(...text.split('\n').map((t) => `  | ${t}`));
        }
        return out.length ? clean(out.join('\n')) : null;
      };
      const signal = activitySignal();
      const heartbeat = () => { const s = tracker.summary(); safeHeartbeat({ steps: `${s.completed}/${s.total}`, executed: s.executed, cached: s.cached, current: s.current }); };
      try {
        const res = await runProcess({
          argv, cwd: ws.treeDir, env, timeoutMs: 0, logFile, maxLogBytes: opts.maxLogBytes, ...(signal ? { signal } : {}),
          onLine, onTick: heartbeat, tickMs: opts.heartbeatMs ?? 2000,
        });
        const steps = tracker.summary();
        const log = { path: logFile, host, bytes: res.log.bytes, truncated: res.log.truncated };
        if (res.cancelled) throw new CancelledFailure(`build cancelled: buildctl (and with it the BuildKit solve) stopped after ${steps.completed}/${steps.total} steps`);
        if (res.exitCode !== 0) {
          const tail = clean(res.tail.split('\n').filter((l) => !l.startsWith('{')).slice(-8).join('\n'));
          const why = steps.errors[0] ?? (/ERROR: (.*)/.exec(tail)?.[1] ?? tail.slice(-500));
          const kind = classifyBuildFailure(tail);
          if (REGISTRY_AUTH_RE.test(tail)) {
            const where = new RegistryAuth({ ...(opts.registryAuthFile ? { file: opts.registryAuthFile } : {}), fetch, signal: () => AbortSignal.timeout(1) }).where(image.registry);
            throw fail(FailureType.RegistryForbidden, `build: ${image.registry} refused the push or cache of ${image.repository}: ${clean(why)}; ${where} (log: ${logFile} on ${host})`, { details: { log: logFile, host } });
          }
          if (kind === 'infrastructure' && opts.buildkitAddr.startsWith('tcp://')) {
            const problem = opts.buildkitTls
              ? (await buildkitTlsProblem(opts.buildkitAddr, opts.buildkitTls)) ?? (BUILDKIT_TLS_RE.test(tail) ? clean(why) : undefined)
              : BUILDKIT_TLS_RE.test(tail) ? clean(why) : undefined;
            if (problem) {
              const whose = opts.buildkitTls
                ? `the worker's TLS client certificate (${opts.buildkitTls.setting}) was refused, or buildkitd's certificate is not signed by ${opts.buildkitTls.caCert}`
                : 'the worker has no TLS client certificate for it (set GANTRY_BUILDKIT_TLS_DIR, or GANTRY_BUILDKIT_TLS_CA_CERT, GANTRY_BUILDKIT_TLS_CERT and GANTRY_BUILDKIT_TLS_KEY)';
              throw fail(FailureType.BuilderTlsFailed, `BuildKit at ${opts.buildkitAddr} refused the TLS connection: ${whose}: ${problem}`);
            }
          }
          throw kind === 'build'
            ? fail(FailureType.BuildFailed, `${clean(why)} (log: ${logFile} on ${host})`, { details: { log: logFile, host } })
            : fail(FailureType.BuilderUnavailable, `BuildKit unavailable at ${opts.buildkitAddr}: ${why}`);
        }
        let meta: Record<string, unknown> = {};
        try { meta = JSON.parse(fs.readFileSync(metadataFile, 'utf8')) as Record<string, unknown>; } catch { /* checked below */ }
        const digest = digestFromMetadata(meta);
        if (!digest) throw fail(FailureType.BuilderUnavailable, `buildctl succeeded but wrote no containerimage.digest to ${metadataFile}`);
        return { digest, ref: `${repo}@${digest}`, tag, steps: { total: steps.total, executed: steps.executed, cached: steps.cached }, log, toolMs: gitMs + res.durationMs };
      } finally {
        fs.rmSync(metaDir, { recursive: true, force: true });
      }
    },
  };
}

/** Every activity of the pipeline's first half, for the worker. */
export function createPipelineActivities(opts: BuildOptions & RegistryOptions): PipelineActivities {
  return {
    ...createGitActivities(opts),
    ...createGateActivities(opts),
    ...createBuildActivities(opts),
    ...createRegistryActivities(opts),
  };
}
