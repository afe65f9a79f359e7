// api/input.ts: the one input parser of every route. One path format, one hint table, `invalid <what>`.
import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { GantryError } from '../../api/errors.js';
import { issuePath, parse, refuseIdentityFields, releaseParams } from '../../api/input.js';

function refusal(fn: () => unknown): ReturnType<GantryError['toJSON']> {
  try { fn(); } catch (err) {
    expect(err).toBeInstanceOf(GantryError);
    return (err as GantryError).toJSON();
  }
  throw new Error('expected a refusal');
}

describe('issuePath', () => {
  const cases: [string, string, PropertyKey[], string][] = [
    ['the body itself', '', [], '(body)'],
    ['a base alone', 'payload', [], 'payload'],
    ['a field', '', ['environment'], 'environment'],
    ['nested fields', '', ['revision', 'digest'], 'revision.digest'],
    ['an index', '', ['cron', 0], 'cron[0]'],
    ['under a base', 'config', ['environments', 1, 'name'], 'config.environments[1].name'],
    ['a field name with an escape is shown escaped', '', ['a\u001b[2Jb'], 'a\\u{1b}[2Jb'],
    ['a long field name is capped', '', ['x'.repeat(100)], `${'x'.repeat(40)}… (60 more characters)`],
  ];
  it.each(cases)('%s', (_name, base, path, expected) => {
    expect(issuePath(base, path)).toBe(expected);
  });
});

describe('parse', () => {
  const body = z.strictObject({ environment: z.string(), cron: z.array(z.string()).optional() });

  it('returns the parsed input', () => {
    expect(parse(body, { environment: 'production' }, 'release train')).toEqual({ environment: 'production' });
  });

  it('names every problem: invalid <what>, the path, "is required" only when missing, a hint from the one table', () => {
    expect(refusal(() => parse(body, { cron: ['ok', 5] }, 'release train'))).toEqual({
      error: 'bad_request', message: 'invalid release train',
      details: [
        { path: 'environment', message: 'is required', hint: 'an environment named in gantry.yaml, e.g. "production"' },
        { path: 'cron[1]', message: expect.stringMatching(/expected string/), hint: expect.stringMatching(/cron expressions/) },
      ],
    });
  });

  it('unknown fields are named, escaped, and a field called constructor finds no prototype hint', () => {
    const r = refusal(() => parse(body, { environment: 'p', constructor: 1, 'x\u001b': 2 }, 'request'));
    expect(r.details).toEqual([{ path: '(body)', message: "unknown fields 'constructor', 'x\\u{1b}'", hint: 'remove it, or check the spelling' }]);
    const nested = refusal(() => parse(z.object({ constructor: z.string() }), { constructor: 1 }, 'request'));
    expect(nested.details![0]!.hint).toBe('see the API reference');
  });

  it('route params: app and environment must be DNS labels', () => {
    expect(parse(releaseParams, { app: 'shop', env: 'production' }, 'release name')).toEqual({ app: 'shop', env: 'production' });
    expect(refusal(() => parse(releaseParams, { app: 'Shop', env: 'a'.repeat(64) }, 'release train name'))).toMatchObject({
      message: 'invalid release train name',
      details: [
        { path: 'app', message: 'app must be a lowercase DNS label', hint: "the app name from gantry.yaml, e.g. 'shop'" },
        { path: 'env', hint: "the environment name, e.g. 'production'" },
      ],
    });
  });

  it('a base prefixes every path', () => {
    const r = refusal(() => parse(z.object({ actions: z.array(z.object({ action_id: z.string() })).min(1) }), { actions: [] }, 'interactivity payload', 'payload'));
    expect(r).toMatchObject({ message: 'invalid interactivity payload', details: [{ path: 'payload.actions' }] });
  });
});

describe('refuseIdentityFields', () => {
  it('refuses a body naming an identity, and lets anything else through', () => {
    expect(refusal(() => refuseIdentityFields({ comment: 'ok', by: 'alice', user: 'bob' }))).toMatchObject({
      message: 'identity comes from the token, not the request body', details: [{ path: 'by' }, { path: 'user' }],
    });
    for (const b of [undefined, null, 'text', [], { comment: 'ok' }]) expect(() => refuseIdentityFields(b)).not.toThrow();
  });
});
