// Quality gates: what gantry.yaml declares, and every verdict, pure. The worker runs the tools and
// parses their reports (activities/gates.ts); the pass/fail decision and its reason are made here,
// from counts and numbers, and table-tested.

/** Fields every gate has. `run` is an argv array (never a shell string), run in `cwd` (relative to the repository). */
interface GateBase {
  name: string;
  /** Run this before reading reports. Required for `command`; optional for report gates. */
  run?: string[];
  /** Working directory relative to the repository root ('.' by default); never absolute, never '..'. */
  cwd?: string;
  /** Plain (non-secret) environment variables for `run`. */
  env?: Record<string, string>;
  /** Names of variables copied from the worker's own environment (secrets stay out of history and logs). */
  passEnv?: string[];
  /** Duration, e.g. '10m'. */
  timeout?: string;
}

export type GateSpec =
  | (GateBase & { type: 'command'; run: string[] })
  | (GateBase & { type: 'junit'; reports: string[] })
  | (GateBase & { type: 'coverage'; report: string; format?: 'lcov' | 'cobertura'; min: number })
  | (GateBase & { type: 'hadolint'; dockerfile: string; failOn?: HadolintLevel; ignore?: string[] })
  | (GateBase & { type: 'image-size'; max: string });

export type GateType = GateSpec['type'];

/** Gates that run after the build, against the pushed image. */
export const postBuildGateTypes: readonly GateType[] = ['image-size'];
export const isPostBuildGate = (g: GateSpec): boolean => postBuildGateTypes.includes(g.type);

/** `skipped`: never run, because an earlier stage failed (e.g. the image-size gate after a failed test gate). */
export type GateState = 'pending' | 'running' | 'passed' | 'failed' | 'skipped';

/** One line of the gate report (workflow status and CLI). */
export interface GateResult {
  name: string;
  type: GateType;
  state: GateState;
  durationMs?: number;
  reason?: string;
  /** Where the captured output is: a file on the worker that ran the gate. */
  log?: { path: string; host: string; bytes: number; truncated: boolean };
}

// --- command ------------------------------------------------------------------------------------

export interface ProcessOutcome { exitCode: number | null; signal?: string | null; timedOut: boolean; timeoutMs?: number; error?: string }

export function commandVerdict(argv: readonly string[], o: ProcessOutcome): Verdict {
  const what = argv.join(' ');
  if (o.error) return fail(`could not run ${what}: ${o.error}`);
  if (o.timedOut) return fail(`${what} did not finish within ${o.timeoutMs ?? '?'} ms (killed)`);
  if (o.exitCode === 0) return pass(`${what} exited 0`);
  if (o.exitCode === null) return fail(`${what} was killed by ${o.signal ?? 'a signal'}`);
  return fail(`${what} exited ${o.exitCode}`);
}

export interface Verdict { pass: boolean; reason: string }
const pass = (reason: string): Verdict => ({ pass: true, reason });
const fail = (reason: string): Verdict => ({ pass: false, reason });

// --- JUnit --------------------------------------------------------------------------------------

/** Counts from one or more JUnit XML reports; `failing` names the failed or errored test cases. */
export interface JunitSummary { files: number; tests: number; failures: number; errors: number; skipped: number; failing: string[] }

export function junitVerdict(s: JunitSummary, maxNames = 10): Verdict {
  if (s.files === 0) return fail('no JUnit report found');
  if (s.tests === 0) return fail(`the JUnit report${s.files > 1 ? 's have' : ' has'} no test cases`);
  const bad = s.failures + s.errors;
  if (bad === 0) return pass(`${s.tests} tests passed${s.skipped ? `, ${s.skipped} skipped` : ''}`);
  const names = s.failing.slice(0, maxNames).join('; ');
  const more = s.failing.length > maxNames ? ` and ${s.failing.length - maxNames} more` : '';
  const counts = [s.failures ? `${s.failures} failed` : '', s.errors ? `${s.errors} errored` : ''].filter(Boolean).join(', ');
  return fail(`${counts} of ${s.tests} tests${names ? `: ${names}${more}` : ''}`);
}

// --- coverage -----------------------------------------------------------------------------------

/** Line coverage: covered and total lines (lcov LH/LF sums, or Cobertura lines-covered/lines-valid). */
export interface CoverageSummary { format: 'lcov' | 'cobertura'; covered: number; total: number; rate?: number }

export function coveragePercent(c: CoverageSummary): number | undefined {
  if (c.total > 0) return (100 * c.covered) / c.total;
  return c.rate !== undefined ? 100 * c.rate : undefined;
}

export function coverageVerdict(c: CoverageSummary, min: number): Verdict {
  const pct = coveragePercent(c);
  if (pct === undefined) return fail(`the ${c.format} report has no lines to measure`);
  const shown = `${floor2(pct)}%`;
  const lines = c.total > 0 ? ` (${c.covered}/${c.total} lines)` : '';
  // Compare at the precision shown, so "79.99% is below 80%" never reads as "80% is below 80%".
  return floor2(pct) >= min ? pass(`line coverage ${shown}${lines} meets the minimum ${min}%`)
    : fail(`line coverage ${shown}${lines} is below the minimum ${min}%`);
}

const floor2 = (x: number) => Math.floor(x * 100 + 1e-9) / 100;

// --- Dockerfile lint ----------------------------------------------------------------------------

export type HadolintLevel = 'error' | 'warning' | 'info' | 'style';
const levelRank: Record<HadolintLevel, number> = { error: 3, warning: 2, info: 1, style: 0 };

export interface LintFinding { code: string; level: string; line: number; message: string }

export function lintVerdict(file: string, findings: readonly LintFinding[], failOn: HadolintLevel = 'warning', ignore: readonly string[] = []): Verdict {
  const counted = findings.filter((f) => !ignore.includes(f.code));
  const blocking = counted.filter((f) => (levelRank[f.level as HadolintLevel] ?? 3) >= levelRank[failOn]);
  if (blocking.length === 0) return pass(`${file}: no findings at ${failOn} or above${counted.length ? ` (${counted.length} below)` : ''}`);
  const shown = blocking.slice(0, 5).map((f) => `${f.code} line ${f.line} (${f.level}): ${f.message}`).join('; ');
  return fail(`${file}: ${blocking.length} finding${blocking.length > 1 ? 's' : ''} at ${failOn} or above: ${shown}${blocking.length > 5 ? ` and ${blocking.length - 5} more` : ''}`);
}

// --- image size ---------------------------------------------------------------------------------

const units: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** '200MB', '1.5GiB', '512kb', or a plain number of bytes. */
export function parseSize(s: string | number): number | undefined {
  if (typeof s === 'number') return Number.isFinite(s) && s >= 0 ? s : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$/i.exec(s);
  if (!m) return undefined;
  const unit = units[(m[2] ?? 'b').toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

export function formatSize(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

/** The image's size is what a node pulls: the compressed layers plus the config blob. */
export function imageSizeVerdict(bytes: number, max: string): Verdict {
  const budget = parseSize(max);
  if (budget === undefined) return fail(`image size budget '${max}' is not a size`);
  return bytes <= budget ? pass(`image is ${formatSize(bytes)}, within the budget of ${formatSize(budget)}`)
    : fail(`image is ${formatSize(bytes)}, over the budget of ${formatSize(budget)} by ${formatSize(bytes - budget)}`);
}

// --- the report ---------------------------------------------------------------------------------

/** The pipeline's gate verdict: which gates failed, in one line. */
export function gatesVerdict(results: readonly GateResult[]): Verdict {
  const failed = results.filter((r) => r.state === 'failed');
  if (failed.length === 0) return pass(`${results.length} gate${results.length === 1 ? '' : 's'} passed`);
  return fail(`${failed.length} of ${results.length} gate${results.length === 1 ? '' : 's'} failed: ${failed.map((r) => `${r.name}: ${r.reason ?? 'failed'}`).join(' | ')}`);
}

/** A path inside the repository: relative, no '..' segments, no NUL. */
export function isSafeRelativePath(p: string): boolean {
  if (!p || p.includes('\0') || p.startsWith('/') || p.startsWith('\\') || /^[a-zA-Z]:/.test(p)) return false;
  return !p.split(/[\\/]+/).includes('..');
}

/** Variable names a gate may set or pass: POSIX-ish names, never the loader's or git's knobs. */
export function isAllowedEnvName(n: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(n) && !/^(LD_|DYLD_|GIT_|NODE_OPTIONS$)/.test(n);
}
