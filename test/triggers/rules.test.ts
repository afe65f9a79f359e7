// Branch and tag rules (core/triggers.ts decidePush, core/config.ts triggers), the delivery cache,
// and git's post-receive input: pure, no Temporal.
import { describe, expect, it } from '@jest/globals';
import { parseConfig, type GantryConfig, type RawConfig } from '../../core/config.js';
import { DeliveryCache } from '../../api/webhooks.js';
import { decidePush, globToRegExp } from '../../core/triggers.js';
import { parsePostReceive } from '../../cli/hook.js';

function config(triggers?: RawConfig['triggers']): GantryConfig {
  const r = parseConfig({
    app: { name: 'shop', image: 'registry.local/shop/web' },
    environments: [{ name: 'staging', replicas: 2, cells: [{ name: 'a' }], groups: [{ pods: 'rest' }] }, { name: 'production', replicas: 2, cells: [{ name: 'a' }], groups: [{ pods: 'rest' }] }],
    ...(triggers ? { triggers } : {}),
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe('globToRegExp', () => {
  const cases: [string, string, boolean][] = [
    ['main', 'main', true], ['main', 'mainline', false], ['release/*', 'release/1.2', true], ['release/*', 'release/1/2', false],
    ['release/**', 'release/1/2', true], ['**', 'feature/a/b', true], ['v*', 'v1.2.3', true], ['v*', 'x1', false],
    ['v?.*', 'v1.0', true], ['a.b', 'axb', false], ['(x)', '(x)', true],
  ];
  it.each(cases)('%s ~ %s → %s', (pattern, name, match) => expect(globToRegExp(pattern).test(name)).toBe(match));
});

describe('decidePush', () => {
  it('without a triggers section: main runs the pipeline, other branches gates only, tags nothing', () => {
    const c = config();
    expect(decidePush(c, 'refs/heads/main')).toEqual({ action: 'pipeline', branch: 'main' });
    expect(decidePush(c, 'refs/heads/feature/x')).toEqual({ action: 'gates', reason: "branch feature/x runs the quality gates only (rule '**')" });
    expect(decidePush(c, 'refs/tags/v1.0.0')).toEqual({ action: 'none', reason: 'no tag rule matches v1.0.0: nothing to release' });
    expect(decidePush(c, 'refs/heads/main', true)).toEqual({ action: 'ignored', reason: 'refs/heads/main was deleted: nothing to build' });
    expect(decidePush(c, 'refs/notes/commits')).toEqual({ action: 'ignored', reason: 'refs/notes/commits is neither a branch nor a tag' });
  });

  it('the first matching rule wins; tags release to their environment', () => {
    const c = config({
      branches: [{ pattern: 'release/*', action: 'pipeline' }, { pattern: 'wip/**', action: 'none' }, { pattern: 'main', action: 'pipeline' }],
      tags: [{ pattern: 'rc-*', environment: 'staging' }, { pattern: 'v*', environment: 'production' }],
    });
    expect(decidePush(c, 'refs/heads/release/2')).toEqual({ action: 'pipeline', branch: 'release/2' });
    expect(decidePush(c, 'refs/heads/wip/a/b')).toEqual({ action: 'none', reason: "branch wip/a/b is set to start nothing (rule 'wip/**')" });
    expect(decidePush(c, 'refs/heads/other')).toEqual({ action: 'none', reason: 'no branch rule matches other: nothing to do' });
    expect(decidePush(c, 'refs/tags/rc-1')).toEqual({ action: 'release', tag: 'rc-1', environment: 'staging' });
    expect(decidePush(c, 'refs/tags/v2.0.0')).toEqual({ action: 'release', tag: 'v2.0.0', environment: 'production' });
  });

  it('config: triggers are validated with path and hint; tags without branches keep the default branch rules', () => {
    const r = parseConfig({
      app: { name: 'shop', image: 'registry.local/shop/web' },
      environments: [{ name: 'production', replicas: 2, cells: [{ name: 'a' }], groups: [{ pods: 'rest' }] }],
      triggers: { branches: [{ pattern: 'main', action: 'deploy' }], tags: [{ pattern: 'v*', environment: 'prod' }] },
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([expect.objectContaining({ path: 'triggers.branches[0].action', message: 'action must be one of pipeline, gates, none', hint: expect.stringMatching(/^one of: pipeline/) })]);
    const r2 = parseConfig({
      app: { name: 'shop', image: 'registry.local/shop/web' },
      environments: [{ name: 'production', replicas: 2, cells: [{ name: 'a' }], groups: [{ pods: 'rest' }] }],
      triggers: { tags: [{ pattern: 'v*', environment: 'prod' }] },
    });
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.errors).toEqual([{ path: 'triggers.tags[0].environment', message: "unknown environment 'prod'", hint: 'one of: production' }]);
    const c = config({ tags: [{ pattern: 'v*', environment: 'production' }] });
    expect(c.triggers?.branches).toEqual([{ pattern: 'main', action: 'pipeline' }, { pattern: '**', action: 'gates' }]);
  });
});

describe('DeliveryCache', () => {
  it('runs a key once, concurrent copies included; forgets failures; evicts the oldest', async () => {
    const c = new DeliveryCache<number>(2);
    let runs = 0;
    const slow = () => new Promise<number>((r) => setTimeout(() => r(++runs), 20));
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => c.once('a', slow)));
    expect(runs).toBe(1);
    expect(all.map((x) => [x.value, x.repeated])).toEqual([[1, false], [1, true], [1, true], [1, true], [1, true]]);
    await expect(c.once('b', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect((await c.once('b', async () => 7)).value).toBe(7);
    await c.once('c', async () => 8);
    expect(c.size).toBe(2);
    expect((await c.once('a', async () => 99)).value).toBe(99); // 'a' was evicted
  });
});

describe('parsePostReceive', () => {
  it('reads "<old> <new> <ref>" lines and reports the rest', () => {
    const a = 'a'.repeat(40);
    const z = '0'.repeat(40);
    expect(parsePostReceive(`${z} ${a} refs/heads/main\n${a} ${z} refs/tags/v1\n\nnonsense\n`)).toEqual({
      updates: [{ old: z, new: a, ref: 'refs/heads/main' }, { old: a, new: z, ref: 'refs/tags/v1' }],
      errors: ["not a '<old> <new> <ref>' line: nonsense"],
    });
  });
});
