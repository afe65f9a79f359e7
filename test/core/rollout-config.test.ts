// The cluster settings of gantry.yaml (core/config.ts): zone per cell; traffic, drain and pod per
// environment or per cell; resolved onto every cell in the same shape, so a resolved config parses
// again unchanged (the API and the workflow pass resolved configs around).
import { describe, expect, it } from '@jest/globals';
import { parseConfig, type RawConfig } from '../../core/config.js';

const base = (env: Partial<RawConfig['environments'][number]> = {}): RawConfig => ({
  app: { name: 'shop', image: 'registry.local/shop/web' },
  environments: [{ name: 'production', replicas: 4, cells: [{ name: 'zone-a', zone: 'zone-a' }, { name: 'zone-b', zone: 'zone-b', namespace: 'shop-b' }], groups: [{ pods: 1 }, { pods: 'rest' }], ...env }],
});

describe('cluster settings in gantry.yaml', () => {
  it('without them, cells resolve as before (only zone added where given)', () => {
    const r = parseConfig(base());
    expect(r.ok && r.config.environments[0]!.cells).toEqual([
      { name: 'zone-a', namespace: 'shop', replicas: 2, zone: 'zone-a' },
      { name: 'zone-b', namespace: 'shop-b', replicas: 2, zone: 'zone-b' },
    ]);
  });

  it('environment settings apply to every cell; the route namespace defaults to the cell\'s; a cell may override', () => {
    const raw = base({
      traffic: { httpRoute: { name: 'shop' } },
      drain: { grace: '3s' },
      pod: { port: 9090, labels: { team: 'web', tier: 'front' } },
    });
    raw.environments[0]!.cells[1] = { ...raw.environments[0]!.cells[1]!, drain: { grace: '10s' }, pod: { labels: { tier: 'edge' } } };
    const r = parseConfig(raw);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.config.environments[0]!.cells).toEqual([
      { name: 'zone-a', namespace: 'shop', replicas: 2, zone: 'zone-a', traffic: { httpRoute: { name: 'shop', namespace: 'shop' } }, drain: { grace: '3s' }, pod: { port: 9090, labels: { team: 'web', tier: 'front' } } },
      { name: 'zone-b', namespace: 'shop-b', replicas: 2, zone: 'zone-b', traffic: { httpRoute: { name: 'shop', namespace: 'shop-b' } }, drain: { grace: '10s' }, pod: { port: 9090, labels: { team: 'web', tier: 'edge' } } },
    ]);
    // Resolved configs round-trip (the API re-validates what it is given).
    const again = parseConfig(r.config);
    expect(again.ok && again.config).toEqual(r.config);
  });

  it.each<{ name: string; env: Partial<RawConfig['environments'][number]>; path: string; message: RegExp; hint: RegExp }>([
    { name: 'a bad drain grace', env: { drain: { grace: 'soon' } }, path: 'environments[0].drain.grace', message: /not a duration/, hint: /'5s'/ },
    { name: 'a route without a name', env: { traffic: { httpRoute: {} as never } }, path: 'environments[0].traffic.httpRoute.name', message: /required/, hint: /add name/ },
    { name: 'a port out of range', env: { pod: { port: 70000 } }, path: 'environments[0].pod.port', message: /65535|too big/i, hint: /container port/ },
    { name: 'a reserved label', env: { pod: { labels: { 'gantry.dev/revision': 'x' } } }, path: 'environments[0].pod.labels.gantry.dev/revision', message: /set by Gantry itself/, hint: /./ },
    { name: 'a bad label value', env: { pod: { labels: { team: 'a b' } } }, path: 'environments[0].pod.labels.team', message: /not a Kubernetes label value/, hint: /./ },
    { name: 'an unknown traffic router', env: { traffic: { nginx: {} } as never }, path: 'environments[0].traffic', message: /unknown key 'nginx'/, hint: /remove 'nginx'/ },
  ])('rejects $name with its path and a hint', ({ env, path, message, hint }) => {
    const r = parseConfig(base(env));
    expect(r.ok).toBe(false);
    const e = !r.ok ? r.errors.find((x) => x.path === path) : undefined;
    expect(e).toBeDefined();
    expect(e!.message).toMatch(message);
    expect(e!.hint).toMatch(hint);
  });

  it('the test bed\'s failure switch gantry.dev/fail is an allowed pod label', () => {
    expect(parseConfig(base({ pod: { labels: { 'gantry.dev/fail': 'true' } } })).ok).toBe(true);
  });
});
