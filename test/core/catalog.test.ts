import { describe, expect, it } from '@jest/globals';
import { addBuild, decideTrain, newestBuild, type Catalog, type CatalogBuild } from '../../core/catalog.js';

const build = (n: number, at: string): CatalogBuild => ({ sha: `${n}`.repeat(40).slice(0, 40), image: 'r/shop', digest: `sha256:${`${n}`.repeat(64).slice(0, 64)}`, passedAt: at });
const b1 = build(1, '2026-11-20T10:00:00Z');
const b2 = build(2, '2026-11-21T10:00:00Z');
const b3 = build(3, '2026-11-19T10:00:00Z');

describe('build catalog', () => {
  it('keeps builds newest first by the time they passed, whatever the order they arrive in', () => {
    let c: Catalog = { app: 'shop', builds: [] };
    for (const b of [b1, b2, b3]) c = addBuild(c, b);
    expect(c.builds.map((b) => b.sha[0])).toEqual(['2', '1', '3']);
    expect(newestBuild(c)).toBe(b2);
  });
  it('is idempotent per digest (a redelivered signal changes nothing)', () => {
    const c = addBuild(addBuild({ app: 'shop', builds: [] }, b1), { ...b1 });
    expect(c.builds).toHaveLength(1);
  });
  it('keeps at most the limit', () => {
    let c: Catalog = { app: 'shop', builds: [] };
    for (let i = 1; i <= 9; i++) c = addBuild(c, build(i, `2026-11-0${i}T00:00:00Z`), 5);
    expect(c.builds.map((b) => b.sha[0])).toEqual(['9', '8', '7', '6', '5']);
  });
});

describe('train decision', () => {
  it.each([
    { name: 'no build yet', newest: undefined, env: {}, want: { kind: 'skip', reason: 'no build has passed its gates yet' } },
    { name: 'a release in progress', newest: b2, env: { running: { digest: b1.digest } }, want: { kind: 'skip', reason: expect.stringMatching(/already in progress/) } },
    { name: 'already runs the newest', newest: b2, env: { current: { digest: b2.digest } }, want: { kind: 'skip', reason: expect.stringMatching(/^already running the newest build/) } },
    { name: 'runs an older build: release the newest', newest: b2, env: { current: { digest: b1.digest } }, want: { kind: 'release', build: b2 } },
    { name: 'never released: release the newest', newest: b2, env: {}, want: { kind: 'release', build: b2 } },
  ])('$name', ({ newest, env, want }) => {
    expect(decideTrain(newest, env)).toMatchObject(want);
  });
});
