// Analysis verdicts, table-driven like Argo Rollouts' analysis helpers.
import { describe, expect, it } from '@jest/globals';
import { assessAnalysis, assessCheck, summarizeAnalysis, verdictOrder, worst, type CheckSpec, type Measurement, type Verdict } from '../../core/analysis.js';

const spec = (bounds: { min?: number; max?: number }): CheckSpec => ({ name: 'error-rate', query: 'sum(rate(errors[1m]))', ...bounds });
const value = (v: number | null | undefined): Measurement => ({ check: 'error-rate', value: v });

describe('assessCheck', () => {
  it.each<{ name: string; spec: CheckSpec; m: Measurement | undefined; verdict: Verdict; value?: number; reason: RegExp }>([
    // max only
    { name: 'max: below passes', spec: spec({ max: 0.05 }), m: value(0.01), verdict: 'pass', value: 0.01, reason: /^0\.01 is within <= 0\.05$/ },
    { name: 'max: equal to the bound passes', spec: spec({ max: 0.05 }), m: value(0.05), verdict: 'pass', value: 0.05, reason: /within <= 0\.05/ },
    { name: 'max: above fails', spec: spec({ max: 0.05 }), m: value(0.06), verdict: 'fail', value: 0.06, reason: /^0\.06 is above the maximum 0\.05$/ },
    { name: 'max 0: zero passes', spec: spec({ max: 0 }), m: value(0), verdict: 'pass', value: 0, reason: /^0 is within <= 0$/ },
    { name: 'max 0: anything above fails', spec: spec({ max: 0 }), m: value(0.0001), verdict: 'fail', value: 0.0001, reason: /above the maximum 0/ },
    { name: 'max: +Infinity fails', spec: spec({ max: 1 }), m: value(Number.POSITIVE_INFINITY), verdict: 'fail', value: Number.POSITIVE_INFINITY, reason: /Infinity is above the maximum 1/ },
    // min only
    { name: 'min: above passes', spec: spec({ min: 0.99 }), m: value(0.999), verdict: 'pass', value: 0.999, reason: /^0\.999 is within >= 0\.99$/ },
    { name: 'min: equal to the bound passes', spec: spec({ min: 0.99 }), m: value(0.99), verdict: 'pass', value: 0.99, reason: /within >= 0\.99/ },
    { name: 'min: below fails', spec: spec({ min: 0.99 }), m: value(0.98), verdict: 'fail', value: 0.98, reason: /^0\.98 is below the minimum 0\.99$/ },
    { name: 'min: negative value below 0 fails', spec: spec({ min: 0 }), m: value(-1), verdict: 'fail', value: -1, reason: /-1 is below the minimum 0/ },
    // both
    { name: 'both: inside passes and names both bounds', spec: spec({ min: 10, max: 20 }), m: value(15), verdict: 'pass', value: 15, reason: /^15 is within >= 10 and <= 20$/ },
    { name: 'both: on the lower bound passes', spec: spec({ min: 10, max: 20 }), m: value(10), verdict: 'pass', value: 10, reason: /within >= 10 and <= 20/ },
    { name: 'both: on the upper bound passes', spec: spec({ min: 10, max: 20 }), m: value(20), verdict: 'pass', value: 20, reason: /within >= 10 and <= 20/ },
    { name: 'both: below fails on min', spec: spec({ min: 10, max: 20 }), m: value(9.5), verdict: 'fail', value: 9.5, reason: /below the minimum 10/ },
    { name: 'both: above fails on max', spec: spec({ min: 10, max: 20 }), m: value(20.5), verdict: 'fail', value: 20.5, reason: /above the maximum 20/ },
    // no thresholds (the config refuses this, the function still answers)
    { name: 'no bounds: any number passes', spec: spec({}), m: value(123), verdict: 'pass', value: 123, reason: /^123 is within bounds$/ },
    // no usable value
    { name: 'NaN is inconclusive, not a pass', spec: spec({ max: 1 }), m: value(Number.NaN), verdict: 'inconclusive', value: Number.NaN, reason: /returned NaN/ },
    { name: 'NaN with min is inconclusive, not a fail', spec: spec({ min: 1 }), m: value(Number.NaN), verdict: 'inconclusive', value: Number.NaN, reason: /NaN/ },
    { name: 'null value: no data', spec: spec({ max: 1 }), m: value(null), verdict: 'inconclusive', reason: /^query returned no data$/ },
    { name: 'undefined value: no data', spec: spec({ max: 1 }), m: value(undefined), verdict: 'inconclusive', reason: /no data/ },
    { name: 'measurement without a value field: no data', spec: spec({ max: 1 }), m: { check: 'error-rate' }, verdict: 'inconclusive', reason: /no data/ },
    { name: 'error string: query failed', spec: spec({ max: 1 }), m: { check: 'error-rate', error: 'connection refused' }, verdict: 'inconclusive', reason: /^query failed: connection refused$/ },
    { name: 'error wins over a value that would fail', spec: spec({ max: 1 }), m: { check: 'error-rate', value: 99, error: 'timeout' }, verdict: 'inconclusive', reason: /query failed: timeout/ },
    { name: 'missing measurement', spec: spec({ max: 1 }), m: undefined, verdict: 'inconclusive', reason: /^no measurement was taken$/ },
  ])('$name', ({ spec: s, m, verdict, value: v, reason }) => {
    const r = assessCheck(s, m);
    expect(r.check).toBe('error-rate');
    expect(r.verdict).toBe(verdict);
    if (v === undefined) expect(r).not.toHaveProperty('value');
    else expect(r.value).toBe(v);
    expect(r.reason).toMatch(reason);
  });
});

describe('worst', () => {
  it.each<{ name: string; verdicts: Verdict[]; want: Verdict }>([
    { name: 'empty list: pass (nothing disproves)', verdicts: [], want: 'pass' },
    { name: 'single pass', verdicts: ['pass'], want: 'pass' },
    { name: 'single inconclusive', verdicts: ['inconclusive'], want: 'inconclusive' },
    { name: 'single fail', verdicts: ['fail'], want: 'fail' },
    { name: 'all pass', verdicts: ['pass', 'pass', 'pass'], want: 'pass' },
    { name: 'inconclusive beats pass', verdicts: ['pass', 'inconclusive', 'pass'], want: 'inconclusive' },
    { name: 'fail beats pass', verdicts: ['pass', 'fail'], want: 'fail' },
    { name: 'fail beats inconclusive (fail first)', verdicts: ['fail', 'inconclusive'], want: 'fail' },
    { name: 'fail beats inconclusive (fail last)', verdicts: ['inconclusive', 'pass', 'fail'], want: 'fail' },
    { name: 'order does not matter', verdicts: ['inconclusive', 'fail', 'pass', 'inconclusive'], want: 'fail' },
  ])('$name', ({ verdicts, want }) => {
    expect(worst(verdicts)).toBe(want);
  });

  it('verdictOrder runs from best to worst', () => {
    expect(verdictOrder).toEqual(['pass', 'inconclusive', 'fail']);
  });
});

describe('assessAnalysis', () => {
  const errors: CheckSpec = { name: 'error-rate', query: 'errors', max: 0.05 };
  const latency: CheckSpec = { name: 'p99-latency', query: 'latency', max: 300 };
  const success: CheckSpec = { name: 'success', query: 'ok', min: 0.99 };
  const specs = [errors, latency, success];

  it.each<{ name: string; specs: CheckSpec[]; ms: Measurement[]; verdict: Verdict; checks: Verdict[]; summary: RegExp }>([
    {
      name: 'no checks: pass',
      specs: [], ms: [{ check: 'error-rate', value: 1 }], verdict: 'pass', checks: [], summary: /^analysis passed \(0 checks\)$/,
    },
    {
      name: 'one check passes: singular in the summary',
      specs: [errors], ms: [{ check: 'error-rate', value: 0.01 }], verdict: 'pass', checks: ['pass'], summary: /^analysis passed \(1 check\)$/,
    },
    {
      name: 'all pass',
      specs, ms: [{ check: 'error-rate', value: 0.01 }, { check: 'p99-latency', value: 120 }, { check: 'success', value: 0.995 }],
      verdict: 'pass', checks: ['pass', 'pass', 'pass'], summary: /^analysis passed \(3 checks\)$/,
    },
    {
      name: 'one missing measurement makes the whole analysis inconclusive',
      specs, ms: [{ check: 'error-rate', value: 0.01 }, { check: 'success', value: 0.995 }],
      verdict: 'inconclusive', checks: ['pass', 'inconclusive', 'pass'], summary: /^analysis inconclusive: p99-latency: no measurement was taken$/,
    },
    {
      name: 'a failure outweighs an inconclusive check',
      specs, ms: [{ check: 'error-rate', value: 0.2 }, { check: 'p99-latency', error: 'timeout' }, { check: 'success', value: 0.995 }],
      verdict: 'fail', checks: ['fail', 'inconclusive', 'pass'],
      summary: /^analysis fail: error-rate: 0\.2 is above the maximum 0\.05; p99-latency: query failed: timeout$/,
    },
    {
      name: 'measurements for unknown checks are ignored',
      specs: [errors], ms: [{ check: 'other', value: 99 }, { check: 'error-rate', value: 0 }],
      verdict: 'pass', checks: ['pass'], summary: /passed/,
    },
    {
      name: 'measurements are matched by name, not by position',
      specs: [errors, success], ms: [{ check: 'success', value: 0.5 }, { check: 'error-rate', value: 0.01 }],
      verdict: 'fail', checks: ['pass', 'fail'], summary: /^analysis fail: success: 0\.5 is below the minimum 0\.99$/,
    },
    {
      name: 'no measurements at all: every check inconclusive',
      specs, ms: [], verdict: 'inconclusive', checks: ['inconclusive', 'inconclusive', 'inconclusive'], summary: /error-rate: .*; p99-latency: .*; success: /,
    },
  ])('$name', ({ specs: s, ms, verdict, checks, summary }) => {
    const r = assessAnalysis(s, ms);
    expect(r.verdict).toBe(verdict);
    expect(r.checks.map((c) => c.verdict)).toEqual(checks);
    expect(r.checks.map((c) => c.check)).toEqual(s.map((x) => x.name));
    expect(summarizeAnalysis(r)).toMatch(summary);
  });
});
