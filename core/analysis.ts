// Analysis verdicts: each check's measurement against its thresholds, combined worst-first
// (fail > inconclusive > pass), as in Argo Rollouts' analysis helpers. Pure; table-tested.

export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** Best to worst. */
export const verdictOrder: readonly Verdict[] = ['pass', 'inconclusive', 'fail'];

export interface CheckSpec {
  name: string;
  /** A PromQL instant query that must return a single number. */
  query: string;
  /** Pass only if value >= min. */
  min?: number;
  /** Pass only if value <= max. */
  max?: number;
}

/**
 * What a metrics provider returned for one check: a value, no data, or an error. `index` is the
 * check's position in the list it was asked to measure: the measurement's identity. `check` (the
 * name) is for people; results recorded before `index` existed are matched by name.
 */
export interface Measurement { check: string; index?: number; value?: number | null; error?: string }

export interface CheckResult { check: string; verdict: Verdict; value?: number; reason: string }

export interface AnalysisResult { verdict: Verdict; checks: CheckResult[] }

export function worst(verdicts: readonly Verdict[]): Verdict {
  return verdicts.reduce<Verdict>((acc, v) => (verdictOrder.indexOf(v) > verdictOrder.indexOf(acc) ? v : acc), 'pass');
}

export function assessCheck(spec: CheckSpec, m: Measurement | undefined): CheckResult {
  if (!m) return { check: spec.name, verdict: 'inconclusive', reason: 'no measurement was taken' };
  if (m.error) return { check: spec.name, verdict: 'inconclusive', reason: `query failed: ${m.error}` };
  if (m.value === undefined || m.value === null) return { check: spec.name, verdict: 'inconclusive', reason: 'query returned no data' };
  const v = m.value;
  if (Number.isNaN(v)) return { check: spec.name, verdict: 'inconclusive', value: v, reason: 'query returned NaN' };
  if (spec.min !== undefined && v < spec.min) return { check: spec.name, verdict: 'fail', value: v, reason: `${v} is below the minimum ${spec.min}` };
  if (spec.max !== undefined && v > spec.max) return { check: spec.name, verdict: 'fail', value: v, reason: `${v} is above the maximum ${spec.max}` };
  return { check: spec.name, verdict: 'pass', value: v, reason: describeBounds(v, spec) };
}

function describeBounds(v: number, spec: CheckSpec): string {
  const parts = [spec.min !== undefined ? `>= ${spec.min}` : '', spec.max !== undefined ? `<= ${spec.max}` : ''].filter(Boolean);
  return `${v} is within ${parts.join(' and ') || 'bounds'}`;
}

/**
 * The measurement of the check at position `i`: matched by position (its identity), never by a
 * name another check might share; a measurement without a position (recorded by an older worker)
 * by name, and only when the name points at one check.
 */
export function measurementFor(specs: readonly CheckSpec[], i: number, measurements: readonly Measurement[]): Measurement | undefined {
  const byIndex = measurements.find((m) => m.index === i);
  if (byIndex) return byIndex.check === specs[i]?.name ? byIndex : undefined;
  const name = specs[i]?.name;
  if (name === undefined || specs.filter((s) => s.name === name).length !== 1) return undefined;
  return measurements.find((m) => m.index === undefined && m.check === name);
}

/** Assesses every check; no checks means pass (nothing to disprove the group). */
export function assessAnalysis(specs: readonly CheckSpec[], measurements: readonly Measurement[]): AnalysisResult {
  const checks = specs.map((s, i) => assessCheck(s, measurementFor(specs, i, measurements)));
  return { verdict: worst(checks.map((c) => c.verdict)), checks };
}

export function summarizeAnalysis(r: AnalysisResult): string {
  const bad = r.checks.filter((c) => c.verdict !== 'pass');
  if (bad.length === 0) return `analysis passed (${r.checks.length} check${r.checks.length === 1 ? '' : 's'})`;
  return `analysis ${r.verdict}: ${bad.map((c) => `${c.check}: ${c.reason}`).join('; ')}`;
}
