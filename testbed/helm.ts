// Test bed: the Helm CLI (helm template / lint of deploy/helm/gantry in test/deploy), built from the
// Go module proxy into the cache. helm.sh/helm/v3's go.mod has no replace or exclude directive, so
// a plain `go install …/cmd/helm@<pin>` builds it (no wrapper module needed, unlike BuildKit and
// Kubernetes); stamped like upstream's Makefile (version, and the Kubernetes version its lint rules
// and default .Capabilities assume, from the client-go it requires). Skipped when the installed
// binary reports the pin; the cold build time is recorded in state/build-tools-times.json.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildTimesFile } from './buildkit.js';
import { binDir, helmBin, pins } from './paths.js';
import { run, tryRun } from './proc.js';

type Log = (m: string) => void;
const MODULE = 'helm.sh/helm/v3';

export async function helmVersion(): Promise<string | undefined> {
  if (!fs.existsSync(helmBin)) return undefined;
  const out = await tryRun([helmBin, 'version', '--template', '{{.Version}}'], { timeoutMs: 30_000 });
  return out?.stdout.trim() || undefined;
}

function recordTime(entry: Record<string, unknown>): void {
  let all: Record<string, unknown> = {};
  try { all = JSON.parse(fs.readFileSync(buildTimesFile, 'utf8')) as Record<string, unknown>; } catch { /* first */ }
  all.helm = { ...entry, at: new Date().toISOString() };
  fs.mkdirSync(path.dirname(buildTimesFile), { recursive: true });
  fs.writeFileSync(buildTimesFile, JSON.stringify(all, null, 2));
}

/** "v0.37.0" (k8s.io/client-go) -> Kubernetes 1.37, as upstream's Makefile derives it. */
export function kubeVersionOfClientGo(v: string): { major: string; minor: string } {
  const m = /^v0\.(\d+)\./.exec(v);
  if (!m) throw new Error(`helm: cannot derive the Kubernetes version from k8s.io/client-go ${v}`);
  return { major: '1', minor: m[1]! };
}

export async function installHelm(log: Log = console.log): Promise<void> {
  const have = await helmVersion();
  if (have === pins.helm) { log(`helm: ${pins.helm} already built at ${helmBin}`); return; }
  fs.mkdirSync(binDir, { recursive: true });
  const t0 = performance.now();
  log(`helm: building ${MODULE}/cmd/helm@${pins.helm} into ${binDir} (a few minutes on 2 cores)`);
  const env = { ...process.env, CGO_ENABLED: '0', GOBIN: binDir };
  // The module's go.mod, for the client-go version the lint rules and .Capabilities are stamped with.
  const { stdout } = await run(['go', 'mod', 'download', '-json', `${MODULE}@${pins.helm}`], { cwd: binDir, env, timeoutMs: 10 * 60_000 });
  const info = JSON.parse(stdout) as { GoMod?: string; Error?: string };
  if (info.Error || !info.GoMod) throw new Error(`helm: go mod download ${MODULE}@${pins.helm}: ${info.Error ?? 'no go.mod'}`);
  const clientGo = /^\s*k8s\.io\/client-go (v\S+)/m.exec(fs.readFileSync(info.GoMod, 'utf8'))?.[1];
  if (!clientGo) throw new Error(`helm: ${info.GoMod} requires no k8s.io/client-go`);
  const kube = kubeVersionOfClientGo(clientGo);
  const ldflags = ['-s', '-w', `-X ${MODULE}/internal/version.version=${pins.helm}`,
    ...['pkg/lint/rules', 'pkg/chartutil'].flatMap((p) => [`-X ${MODULE}/${p}.k8sVersionMajor=${kube.major}`, `-X ${MODULE}/${p}.k8sVersionMinor=${kube.minor}`])];
  // Lower CPU priority, at most 2 parallel compiles: the machine is shared.
  await run(['nice', '-n', '10', 'go', 'install', '-p', '2', '-trimpath', '-ldflags', ldflags.join(' '), `${MODULE}/cmd/helm@${pins.helm}`],
    { cwd: binDir, env, timeoutMs: 60 * 60_000 });
  const ms = performance.now() - t0;
  const now = await helmVersion();
  if (now !== pins.helm) throw new Error(`helm: expected ${pins.helm} after the build, found ${now ?? 'nothing'} at ${helmBin}`);
  recordTime({ pin: pins.helm, ms: Math.round(ms), kubeVersion: `${kube.major}.${kube.minor}` });
  log(`helm: built ${pins.helm} in ${(ms / 1000).toFixed(0)} s`);
}
