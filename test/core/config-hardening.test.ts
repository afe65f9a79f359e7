// Regression tests for the config defects found by adversarial testing (issue 12: defects 1, 2, 3,
// 5 (identifiers and echoes), 10 and 11). Each failed on the code before its fix.
import { describe, expect, it } from '@jest/globals';
import {
  MAX_CONFIG_CHARS, MAX_CONFIG_DEPTH, MAX_CONFIG_ERRORS, parseConfig, parseConfigText, yamlNestingDepth, type ConfigError,
} from '../../core/config.js';
import { assessAnalysis, type CheckSpec } from '../../core/analysis.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
function raw(): Record<string, any> {
  return {
    app: { name: 'shop', image: 'registry.local/shop/web' },
    environments: [{ name: 'production', replicas: 10, cells: [{ name: 'zone-a' }, { name: 'zone-b' }], groups: [{ pods: 1 }, { pods: 'rest' }] }],
  };
}
const env0 = (c: Record<string, any>) => c.environments[0];
/* eslint-enable @typescript-eslint/no-explicit-any */

function errorsOf(input: unknown): ConfigError[] {
  const r = parseConfig(input);
  if (r.ok) throw new Error('expected errors, the config was accepted');
  return r.errors;
}
function errorAt(input: unknown, path: string): ConfigError {
  const errors = errorsOf(input);
  const e = errors.find((x) => x.path === path);
  if (!e) throw new Error(`no error at ${path}; got ${JSON.stringify(errors)}`);
  return e;
}

describe('defect 1: two analysis checks with the same name', () => {
  it('is refused with the path of the second and a clear hint', () => {
    const c = raw();
    env0(c).analysis = [{ name: 'errors', query: 'a', max: 0.05 }, { name: 'errors', query: 'b', min: 100 }];
    const e = errorAt(c, 'environments[0].analysis[1].name');
    expect(e.message).toBe("duplicate check 'errors' (also environments[0].analysis[0])");
    expect(e.hint).toMatch(/unique name/);
  });

  it('measurements are matched by position, not by a name another check could share', () => {
    // Two checks that (bypassing the schema) share a name: each must be judged by its own bounds.
    const specs: CheckSpec[] = [{ name: 'm', query: 'a', max: 0.05 }, { name: 'm', query: 'b', min: 100 }];
    const r = assessAnalysis(specs, [{ check: 'm', index: 0, value: 0.01 }, { check: 'm', index: 1, value: 150 }]);
    expect(r.verdict).toBe('pass');
    expect(r.checks.map((x) => x.value)).toEqual([0.01, 150]);
  });

  it('an old measurement without a position is matched by name only when the name is unique', () => {
    const unique: CheckSpec[] = [{ name: 'a', query: 'a', max: 1 }, { name: 'b', query: 'b', max: 1 }];
    expect(assessAnalysis(unique, [{ check: 'b', value: 0.5 }, { check: 'a', value: 0.2 }]).checks.map((x) => x.value)).toEqual([0.2, 0.5]);
    const shared: CheckSpec[] = [{ name: 'm', query: 'a', max: 0.05 }, { name: 'm', query: 'b', min: 100 }];
    expect(assessAnalysis(shared, [{ check: 'm', value: 0.01 }]).verdict).toBe('inconclusive');
  });

  it('a measurement whose position names another check is not used', () => {
    const specs: CheckSpec[] = [{ name: 'a', query: 'a', max: 1 }];
    expect(assessAnalysis(specs, [{ check: 'zzz', index: 0, value: 0.5 }]).checks[0]!.verdict).toBe('inconclusive');
  });
});

describe('defect 2: durations beyond what Temporal and the worker can hold', () => {
  it.each<{ name: string; set: (c: Record<string, any>) => void; path: string; max: RegExp }>([ // eslint-disable-line @typescript-eslint/no-explicit-any
    { name: 'pause 1000000y', set: (c) => { env0(c).groups[0].confirm = { type: 'pause', duration: '1000000y' }; }, path: 'environments[0].groups[0].confirm.duration', max: /100 years/ },
    { name: 'manual timeout 300y', set: (c) => { env0(c).groups[0].confirm = { type: 'manual', timeout: '300y' }; }, path: 'environments[0].groups[0].confirm.timeout', max: /100 years/ },
    { name: 'bake 1000000y', set: (c) => { env0(c).bake = '1000000y'; }, path: 'environments[0].bake', max: /100 years/ },
    { name: 'approval expiry 200y', set: (c) => { env0(c).approvers = { groups: ['sre'], expiry: '200y' }; }, path: 'environments[0].approvers.expiry', max: /100 years/ },
    { name: 'escalateAfter 200y', set: (c) => { env0(c).approvers = { groups: ['sre'], escalateAfter: '200y' }; }, path: 'environments[0].approvers.escalateAfter', max: /100 years/ },
    { name: 'drain grace 30d', set: (c) => { env0(c).drain = { grace: '30d' }; }, path: 'environments[0].drain.grace', max: /24h/ },
    { name: 'progress deadline 2d', set: (c) => { env0(c).deadlines = { progress: '2d' }; }, path: 'environments[0].deadlines.progress', max: /24h/ },
    { name: 'gate timeout 1000000y', set: (c) => { c.gates = [{ name: 'unit', type: 'command', run: ['npm', 'test'], timeout: '1000000y' }]; }, path: 'gates[0].timeout', max: /24h/ },
    { name: 'build timeout 30d', set: (c) => { c.build = { timeout: '30d' }; }, path: 'build.timeout', max: /24h/ },
  ])('$name is refused at $path', ({ set, path, max }) => {
    const c = raw();
    set(c);
    const e = errorAt(c, path);
    expect(e.message).toMatch(/^too long: /);
    expect(e.message).toMatch(max);
    expect(e.hint.length).toBeGreaterThan(15);
  });

  it('the longest accepted values are accepted', () => {
    const c = raw();
    env0(c).groups[0].confirm = { type: 'pause', duration: '36525d' };
    env0(c).bake = '100y';
    env0(c).drain = { grace: '24h' };
    expect(parseConfig(c).ok).toBe(true);
  });
});

describe('defect 3: hostile gantry.yaml text is refused cheaply, with a clear error', () => {
  it(`a file over ${MAX_CONFIG_CHARS / 1024} KiB is refused before parsing`, () => {
    const r = parseConfigText(`# ${'x'.repeat(MAX_CONFIG_CHARS)}\n`);
    expect(r).toEqual({ ok: false, errors: [{ path: '(document)', message: expect.stringMatching(/the limit is 256 KiB/), hint: expect.any(String) }] });
  });

  it.each([
    ['1,000 flow levels', `app: ${'['.repeat(1000)}${']'.repeat(1000)}`],
    ['500 block levels', Array.from({ length: 500 }, (_, i) => `${' '.repeat(i)}k:`).join('\n')],
    ['1,000 sequence entries on one line', `${'- '.repeat(1000)}x`],
  ])('%s: "nests deeper than 64 levels", not a stack overflow', (_name, text) => {
    const r = parseConfigText(text);
    if (r.ok) throw new Error('accepted');
    expect(r.errors).toEqual([{ path: '(document)', message: `gantry.yaml nests deeper than ${MAX_CONFIG_DEPTH} levels`, hint: expect.stringMatching(/indentation/) }]);
  });

  it('the nesting scan counts what a real config nests', () => {
    expect(yamlNestingDepth('a: 1\nb:\n  c:\n    - d: [1, {e: 2}]\n')).toBe(5);
    expect(yamlNestingDepth('q: "rate(x{a=\\"b\\"}[5m])"\n')).toBe(2);
  });

  it('an alias bomb ("billion laughs") is refused', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [p, n] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e'], ['e', 'f'], ['f', 'g']]) lines.push(`${n}: &${n} [${Array(9).fill(`*${p}`).join(', ')}]`);
    const r = parseConfigText(lines.join('\n'));
    if (r.ok) throw new Error('accepted');
    expect(r.errors[0]).toEqual({ path: '(document)', message: expect.stringMatching(/aliases expand too far/), hint: expect.stringMatching(/at most 100 aliases/) });
  });

  it('a key given twice in a big map is found by a linear check, with its line', () => {
    const keys = Array.from({ length: 4000 }, (_, i) => `  k${i}: v`).join('\n');
    const r = parseConfigText(`app:\n${keys}\n${keys}\n`);
    if (r.ok) throw new Error('accepted');
    expect(r.errors).toEqual([{ path: 'line 4002, column 3', message: "not valid YAML: the key 'k0' is given twice in the same map", hint: expect.stringMatching(/give each key once/) }]);
  });

  it(`at most ${MAX_CONFIG_ERRORS} problems are reported, and the rest counted`, () => {
    const c = raw();
    env0(c).cells = Array.from({ length: 300 }, (_, i) => ({ name: `Bad_${i}` }));
    const errors = errorsOf(c);
    expect(errors).toHaveLength(MAX_CONFIG_ERRORS + 1);
    expect(errors.at(-1)).toEqual({ path: '(more)', message: 'and 250 more problems', hint: 'fix the ones above first' });
  });
});

describe('defect 5: control characters and unbounded echoes in config errors', () => {
  it.each([
    ['a group name with an ANSI escape', (c: Record<string, any>) => { env0(c).groups[0].name = 'canary\u001b[2J'; }, 'environments[0].groups[0].name', /\\u\{1b\}/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['an approver with a bidi override', (c: Record<string, any>) => { env0(c).approvers = { users: ['al\u202eice'] }; }, 'environments[0].approvers.users[0]', /\\u\{202e\}/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['a group id with a newline', (c: Record<string, any>) => { env0(c).approvers = { groups: ['sre\nops'] }; }, 'environments[0].approvers.groups[0]', /\\u\{a\}/], // eslint-disable-line @typescript-eslint/no-explicit-any
  ])('%s is refused, naming the character', (_name, set, path, code) => {
    const c = raw();
    set(c);
    const e = errorAt(c, path);
    expect(e.message).toMatch(/contains the control character/);
    expect(e.message).toMatch(code);
  });

  it('a 100,000-character unknown key is echoed capped and escaped, in the path, message and hint', () => {
    const c = raw();
    const key = `\u001b[31m${'k'.repeat(100_000)}`;
    env0(c)[key] = 1;
    const errors = errorsOf(c);
    const text = JSON.stringify(errors);
    expect(text.length).toBeLessThan(1000);
    expect(text).not.toContain('\u001b');
    expect(errors[0]!.message).toMatch(/more characters\)'$/);
  });
});

describe('defect 10: approver rules that can never be met', () => {
  it('expiry 0s is refused: no approval would ever count', () => {
    const c = raw();
    env0(c).approvers = { groups: ['sre'], expiry: '0s' };
    expect(errorAt(c, 'environments[0].approvers.expiry').message).toBe('must be longer than 0s');
  });

  it('an approver listed twice is refused: the quorum counts people', () => {
    const c = raw();
    env0(c).approvers = { users: ['alice', 'alice'], required: 2 };
    const errors = errorsOf(c);
    expect(errors).toEqual(expect.arrayContaining([
      { path: 'environments[0].approvers.users[1]', message: "'alice' is listed twice (also environments[0].approvers.users[0])", hint: expect.stringMatching(/distinct people/) },
      { path: 'environments[0].approvers.required', message: '2 approvals required but only 1 distinct approver listed', hint: expect.any(String) },
    ]));
  });
});

describe('defect 11: hints are never looked up through Object.prototype', () => {
  it.each(['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'])('a missing or wrong key named %s gets a text hint', (key) => {
    const c = raw();
    env0(c).cells[0] = { name: 'zone-a', [key]: 1 };
    Object.defineProperty(env0(c).cells[0], key, { value: 1, enumerable: true });
    for (const e of errorsOf(c)) {
      expect(typeof e.hint).toBe('string');
      expect(e.hint).not.toMatch(/native code|function/);
    }
  });

  it('the JSON API path: a wrong value under a key named constructor', () => {
    const e = errorsOf(JSON.parse('{"app":{"name":"shop","image":"r/x"},"environments":[{"name":"p","replicas":1,"cells":[{"name":"a"}],"groups":[{"pods":"rest"}],"approvers":{"constructor":5}}]}'));
    for (const x of e) expect(x.hint).not.toMatch(/native code/);
  });
});
