// Property tests of gantry.yaml validation (core/config.ts) and the group planner (core/plan.ts) on
// generated input: valid configs, configs with one or several mutated values, arbitrary JSON and
// arbitrary text. Properties: nothing throws; every rejection names a path, a message and a hint,
// all short, one line and free of control characters; every accepted config plans each
// environment so that every pod moves exactly once, in groups that never move a pod back.
//
// CI runs a fixed seed with a few hundred cases per property (a few seconds). A longer run:
//   GANTRY_PROPERTY_RUNS=20000 NODE_OPTIONS=--experimental-vm-modules npx jest --runInBand test/property/config.property.test.ts
// (GANTRY_PROPERTY_SEED=<n> picks another seed; a failure prints its seed and path to replay it.)
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseConfig, parseConfigText, type ConfigError, type GantryConfig } from '../../core/config.js';
import { environmentPlan, planGroups, type PodCount } from '../../core/plan.js';

const runs = (n: number): number => Number(process.env.GANTRY_PROPERTY_RUNS ?? n);
const seed = Number(process.env.GANTRY_PROPERTY_SEED ?? 42);
const params = (n: number) => ({ seed, numRuns: runs(n) });

const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
/** Mostly valid values, sometimes not: so that both acceptance and every kind of refusal are exercised. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) => fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: invalid });
const duration = mostly(fc.constantFrom('1s', '30s', '10m', '2h', '3d', '1y'), fc.constantFrom('0s', '100y', '1000000y', '25h', '10', 'soon', '-5m', ''));
const podCount: fc.Arbitrary<unknown> = mostly(
  fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom('rest', '10%', '25%', '50%', '100%')),
  fc.oneof(fc.integer({ min: -2, max: 30 }), fc.constantFrom('0%', '150%', '12.5%', 'half')),
);
const confirm = fc.oneof(
  fc.constant({ type: 'auto' }),
  duration.map((d) => ({ type: 'pause', duration: d })),
  fc.record({ type: fc.constant('manual'), timeout: duration, onTimeout: fc.constantFrom('rollback', 'hold') }, { requiredKeys: ['type'] }),
);
const check = fc.record({ name: label, query: mostly(fc.constantFrom('sum(rate(x[5m]))', 'avg(up)'), fc.constant('')), max: fc.double({ min: 0, max: 10, noNaN: true }), min: fc.double({ min: -10, max: 0, noNaN: true }) }, { requiredKeys: ['name', 'query', 'max'] });
const person = mostly(fc.constantFrom('alice', 'bob', 'carol', 'sre-lead'), fc.string({ maxLength: 8 }));
const environment = fc.record({
  name: label,
  replicas: fc.integer({ min: 0, max: 60 }),
  cells: fc.uniqueArray(fc.record({ name: label, zone: fc.constantFrom('zone-a', 'zone-b') }, { requiredKeys: ['name'] }), { minLength: 1, maxLength: 4, selector: (c) => c.name }),
  groups: fc.array(fc.record({ pods: podCount, confirm }, { requiredKeys: ['pods'] }), { minLength: 1, maxLength: 4 }),
  analysis: mostly(fc.uniqueArray(check, { maxLength: 3, selector: (c) => c.name }), fc.array(check, { maxLength: 3 })),
  approvers: fc.record({ users: fc.uniqueArray(person, { maxLength: 3 }), groups: fc.array(person, { maxLength: 2 }), required: mostly(fc.constant(1), fc.integer({ min: 0, max: 4 })), expiry: duration }, { requiredKeys: [] }),
  bake: duration,
}, { requiredKeys: ['name', 'cells', 'groups'] });
const config = fc.record({
  app: fc.record({ name: label, image: mostly(fc.constant('registry.local/shop/web'), fc.constantFrom('r/x:1', 'r/x@sha256:ab')) }),
  environments: fc.uniqueArray(environment, { minLength: 1, maxLength: 3, selector: (e) => e.name }),
});

/** A config with some of its values replaced by arbitrary JSON (wrong types, hostile strings, odd keys). */
const mutated = fc.tuple(config, fc.array(fc.tuple(fc.nat(), fc.oneof(fc.jsonValue(), fc.string(), fc.constantFrom('__proto__', 'constructor', '\u001b[2J', '\u202e', 'x'.repeat(500)))), { maxLength: 4 }))
  .map(([c, edits]) => {
    const doc = structuredClone(c) as Record<string, unknown>;
    for (const [at, value] of edits) {
      const paths = objectPaths(doc);
      const p = paths[at % paths.length]!;
      setAt(doc, p, value);
    }
    return doc;
  });

function objectPaths(v: unknown, base: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [base];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...objectPaths(x, [...base, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...objectPaths(x, [...base, k]));
  return out;
}
function setAt(doc: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  if (path.length === 0) { doc.__extra = value; return; }
  let cur = doc as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  Object.defineProperty(cur, path[path.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
}

// Outside text in a reported error is escaped: no C0/C1 controls, no bidi or invisible format characters.
const unsafe = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/; // eslint-disable-line no-control-regex

function wellFormed(errors: readonly ConfigError[]): void {
  expect(errors.length).toBeGreaterThan(0);
  expect(errors.length).toBeLessThanOrEqual(51);
  for (const e of errors) {
    for (const field of [e.path, e.message, e.hint]) {
      expect(typeof field).toBe('string');
      expect(field.length).toBeGreaterThan(0);
      expect(field.length).toBeLessThan(1000);
      expect(field).not.toMatch(unsafe);
    }
    expect(e.hint.length).toBeGreaterThan(10);
  }
}

/** Every pod of every cell moves exactly once, never back, and the last group moves the rest. */
function plansMovePodsOnce(c: GantryConfig): void {
  for (const env of c.environments) {
    const plan = environmentPlan(env);
    expect(plan).toHaveLength(env.groups.length);
    for (const cell of env.cells) {
      let moved = 0;
      let canary = 0;
      for (const g of plan) {
        const step = g.perCell.find((x) => x.cell === cell.name)!;
        expect(step.add).toBeGreaterThanOrEqual(0);
        moved += step.add;
        expect(step.canary).toBe(canary + step.add);
        expect(step.canary + step.stable).toBe(cell.replicas);
        canary = step.canary;
      }
      expect(moved).toBe(cell.replicas);
    }
  }
}

describe('gantry.yaml validation on generated configs', () => {
  it('generated configs: accepted ones plan every pod exactly once; rejected ones say where, what and how to fix', () => {
    let accepted = 0;
    fc.assert(fc.property(config, (c) => {
      const r = parseConfig(c);
      if (r.ok) { accepted++; plansMovePodsOnce(r.config); } else wellFormed(r.errors);
    }), params(200));
    // The generator is not so hostile that nothing is ever accepted (the property above would be vacuous).
    expect(accepted).toBeGreaterThan(runs(200) / 50);
  });

  it('mutated configs (wrong types, hostile strings, prototype keys): no exception escapes, every error well formed', () => {
    fc.assert(fc.property(mutated, (c) => {
      const r = parseConfig(c);
      if (r.ok) plansMovePodsOnce(r.config); else wellFormed(r.errors);
    }), params(200));
  });

  it('arbitrary JSON values: no exception escapes', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const r = parseConfig(v);
      if (!r.ok) wellFormed(r.errors);
    }), params(150));
  });

  it('text: generated YAML round-trips, and arbitrary or damaged text never throws', () => {
    fc.assert(fc.property(config, fc.nat(), fc.string({ maxLength: 6 }), (c, at, junk) => {
      const text = stringify(c);
      const direct = parseConfig(c);
      const viaText = parseConfigText(text);
      expect(viaText.ok).toBe(direct.ok);
      const damaged = text.slice(0, at % (text.length + 1)) + junk + text.slice(at % (text.length + 1));
      const r = parseConfigText(damaged);
      if (!r.ok) wellFormed(r.errors);
    }), params(150));
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (t) => {
      const r = parseConfigText(t);
      if (!r.ok) wellFormed(r.errors);
    }), params(150));
  });
});

describe('the group planner on generated cells and groups', () => {
  it('a plan either moves every pod once or says which group is wrong and why', () => {
    const cells = fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 6 }).map((rs) => rs.map((replicas, i) => ({ name: `c${i}`, replicas })));
    const groups = fc.array(podCount.filter((p) => typeof p === 'number' ? p >= 1 : p !== 'half' && p !== '0%' && p !== '150%' && p !== '12.5%'), { minLength: 1, maxLength: 6 })
      .map((ps) => ps.map((pods) => ({ pods: pods as PodCount })));
    fc.assert(fc.property(cells, groups, (cs, gs) => {
      const r = planGroups(cs, gs);
      if (!r.ok) {
        for (const e of r.errors) {
          expect(e.message.length).toBeGreaterThan(0);
          expect(e.hint.length).toBeGreaterThan(0);
          if (e.group !== undefined) expect(e.group).toBeLessThan(gs.length);
        }
        return;
      }
      for (const cell of cs) {
        let canary = 0;
        for (const g of r.groups) {
          const step = g.perCell.find((x) => x.cell === cell.name)!;
          expect(step.add).toBeGreaterThanOrEqual(0);
          expect(step.canary).toBe(canary + step.add);
          expect(step.stable).toBe(cell.replicas - step.canary);
          canary = step.canary;
        }
        expect(canary).toBe(cell.replicas);
      }
    }), params(500));
  });
});
