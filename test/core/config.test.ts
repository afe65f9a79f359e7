// gantry.yaml: validation with path + message + hint, and resolution. Table-driven.
import { describe, expect, it } from '@jest/globals';
import { configJsonSchema, environmentPlan, formatConfigErrors, formatPath, parseConfig, parseConfigText, type ConfigError, type GantryConfig } from '../../core/config.js';
import { seedConfig } from '../support/fixtures.js';

/** A fresh, valid raw config (plain JSON, as YAML would give it) each time. */
function raw(): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    app: { name: 'shop', image: 'registry.local/shop/web' },
    environments: [{
      name: 'production',
      replicas: 10,
      cells: [{ name: 'zone-a' }, { name: 'zone-b' }],
      groups: [{ pods: 1 }, { pods: 'rest' }],
    }],
  };
}

function ok(input: unknown): GantryConfig {
  const r = parseConfig(input);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${formatConfigErrors(r.errors)}`);
  return r.config;
}

function errorsOf(input: unknown): ConfigError[] {
  const r = parseConfig(input);
  if (r.ok) throw new Error('expected errors, the config was accepted');
  return r.errors;
}

describe('parseConfig: valid configs', () => {
  it('minimal: defaults filled in, replicas spread, namespace defaults to the app name', () => {
    const c = ok(raw());
    expect(c).toEqual({
      version: 1,
      app: { name: 'shop', image: 'registry.local/shop/web' },
      environments: [{
        name: 'production',
        cells: [{ name: 'zone-a', namespace: 'shop', replicas: 5 }, { name: 'zone-b', namespace: 'shop', replicas: 5 }],
        groups: [{ name: 'group 1', pods: 1, confirm: { type: 'auto' } }, { name: 'group 2', pods: 'rest', confirm: { type: 'auto' } }],
        analysis: [],
        approvers: { users: [], groups: [], required: 1, allowStarter: false },
        deadlines: { progress: '10m', analysis: '5m' },
        bake: '0s',
      }],
    });
  });

  it('full: every field given is carried through', () => {
    const c = ok({
      version: 1,
      app: { name: 'shop', image: 'registry.local:5000/shop/web' },
      environments: [
        {
          name: 'staging', replicas: 2, cells: [{ name: 'eu', context: 'kind-staging', namespace: 'shop-staging' }],
          groups: [{ name: 'all', pods: 'rest' }],
        },
        {
          name: 'production',
          cells: [{ name: 'zone-a', replicas: 6, context: 'prod-a' }, { name: 'zone-b', replicas: 4, namespace: 'web' }],
          groups: [
            { name: 'canary', pods: 1, confirm: { type: 'auto' } },
            { pods: '50%', confirm: { type: 'pause', duration: '10m' } },
            { pods: 'rest', confirm: { type: 'manual', timeout: '48h', onTimeout: 'hold' } },
          ],
          analysis: [
            { name: 'error-rate', query: 'sum(rate(http_errors[5m]))', max: 0.05 },
            { name: 'success', provider: 'prometheus', query: 'avg(up)', min: 0.99, max: 1 },
          ],
          approvers: { users: ['alice', 'bob'], groups: ['sre'], required: 2, allowStarter: true },
          deadlines: { progress: '15m', analysis: '2m' },
          bake: '1h',
        },
      ],
    });
    expect(c.app.image).toBe('registry.local:5000/shop/web');
    expect(c.environments.map((e) => e.name)).toEqual(['staging', 'production']);
    const [staging, prod] = c.environments;
    expect(staging!.cells).toEqual([{ name: 'eu', context: 'kind-staging', namespace: 'shop-staging', replicas: 2 }]);
    expect(staging!.groups).toEqual([{ name: 'all', pods: 'rest', confirm: { type: 'auto' } }]);
    expect(prod!.cells).toEqual([
      { name: 'zone-a', context: 'prod-a', namespace: 'shop', replicas: 6 },
      { name: 'zone-b', namespace: 'web', replicas: 4 },
    ]);
    expect(prod!.groups).toEqual([
      { name: 'canary', pods: 1, confirm: { type: 'auto' } },
      { name: 'group 2', pods: '50%', confirm: { type: 'pause', duration: '10m' } },
      { name: 'group 3', pods: 'rest', confirm: { type: 'manual', timeout: '48h', onTimeout: 'hold' } },
    ]);
    // The provider is a config detail; the domain check has name, query and bounds only.
    expect(prod!.analysis).toEqual([
      { name: 'error-rate', query: 'sum(rate(http_errors[5m]))', max: 0.05 },
      { name: 'success', query: 'avg(up)', min: 0.99, max: 1 },
    ]);
    expect(prod!.approvers).toEqual({ users: ['alice', 'bob'], groups: ['sre'], required: 2, allowStarter: true });
    expect(prod!.deadlines).toEqual({ progress: '15m', analysis: '2m' });
    expect(prod!.bake).toBe('1h');
    expect(environmentPlan(prod!).map((g) => g.perCell.map((x) => x.canary))).toEqual([[1, 1], [4, 3], [6, 4]]);
  });

  it.each<{ name: string; env: Record<string, unknown>; replicas: number[] }>([
    { name: '10 over 2 cells', env: { replicas: 10, cells: [{ name: 'a' }, { name: 'b' }] }, replicas: [5, 5] },
    { name: '10 over 3 cells: remainder to the first', env: { replicas: 10, cells: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }, replicas: [4, 3, 3] },
    { name: '1 over 3 cells', env: { replicas: 1, cells: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }, replicas: [1, 0, 0] },
    { name: 'per-cell replicas, no total', env: { cells: [{ name: 'a', replicas: 7 }, { name: 'b', replicas: 2 }] }, replicas: [7, 2] },
    { name: 'per-cell replicas agreeing with the total', env: { replicas: 9, cells: [{ name: 'a', replicas: 7 }, { name: 'b', replicas: 2 }] }, replicas: [7, 2] },
    { name: 'zero replicas (scaled to nothing)', env: { replicas: 0, cells: [{ name: 'a' }] }, replicas: [0] },
  ])('replicas: $name', ({ env, replicas }) => {
    const c = raw();
    delete c.environments[0].replicas;
    Object.assign(c.environments[0], env, { groups: [{ pods: 'rest' }] });
    expect(ok(c).environments[0]!.cells.map((x) => x.replicas)).toEqual(replicas);
  });

  it('the seed fixture resolves to 5 + 5 pods and three groups', () => {
    const env = seedConfig('shop').environments[0]!;
    expect(env.cells.map((c) => [c.name, c.namespace, c.replicas])).toEqual([['zone-a', 'shop', 5], ['zone-b', 'shop', 5]]);
    expect(env.groups.map((g) => g.confirm.type)).toEqual(['auto', 'manual', 'auto']);
    expect(env.groups[1]!.confirm).toEqual({ type: 'manual', onTimeout: 'rollback' });
    expect(env.deadlines).toEqual({ progress: '20s', analysis: '5m' });
  });
});

describe('parseConfigText', () => {
  it('parses a YAML file into the same config as the object', () => {
    const text = [
      'app:',
      '  name: shop',
      '  image: registry.local/shop/web',
      'environments:',
      '  - name: production',
      '    replicas: 10',
      '    cells: [{ name: zone-a }, { name: zone-b }]',
      '    groups:',
      '      - pods: 1',
      "      - pods: 'rest'",
    ].join('\n');
    const r = parseConfigText(text);
    expect(r).toEqual(parseConfig(raw()));
    expect(r.ok).toBe(true);
  });

  it.each<{ name: string; text: string; path: RegExp; message: RegExp; hint: RegExp }>([
    { name: 'unclosed flow sequence', text: 'app:\n  name: shop\n  image: [unclosed\n', path: /^line \d+, column \d+$/, message: /^not valid YAML: /, hint: /fix the YAML syntax/ },
    { name: 'bad indentation: line and column of the offending key', text: 'app:\n  name: shop\n name: x\n', path: /^line 3, column 1$/, message: /not valid YAML: .*same column/, hint: /indentation/ },
    { name: 'duplicate key', text: 'app: {name: a}\napp: {name: b}\n', path: /^line 2, column 1$/, message: /not valid YAML: the key 'app' is given twice in the same map/, hint: /give each key once/ },
    { name: 'tab indentation', text: 'app:\n\tname: shop\n', path: /^line 2, column \d+$/, message: /not valid YAML/, hint: /YAML syntax/ },
    { name: 'empty file', text: '', path: /^\(document\)$/, message: /^the file is empty$/, hint: /README/ },
    { name: 'only a comment', text: '# nothing yet\n', path: /^\(document\)$/, message: /empty/, hint: /example/ },
  ])('$name', ({ text, path, message, hint }) => {
    const r = parseConfigText(text);
    if (r.ok) throw new Error('expected a YAML error');
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.path).toMatch(path);
    expect(r.errors[0]!.message).toMatch(message);
    expect(r.errors[0]!.message).not.toContain('\n');
    expect(r.errors[0]!.hint).toMatch(hint);
  });

  it('valid YAML with schema errors reports the schema paths', () => {
    const r = parseConfigText('app:\n  name: shop\nenvironments: []\n');
    if (r.ok) throw new Error('expected errors');
    expect(r.errors.map((e) => e.path)).toEqual(['app.image', 'environments']);
  });
});

/* eslint-disable @typescript-eslint/no-explicit-any */
type Mutate = (c: Record<string, any>) => void;
const env0 = (c: Record<string, any>) => c.environments[0];
/* eslint-enable @typescript-eslint/no-explicit-any */

describe('parseConfig: invalid configs', () => {
  it.each<{ name: string; mutate: Mutate; path: string; message: RegExp; hint: RegExp }>([
    // app
    { name: 'image missing', mutate: (c) => { delete c.app.image; }, path: 'app.image', message: /^is required$/, hint: /^add image: the image repository/ },
    { name: 'image with a digest', mutate: (c) => { c.app.image = 'registry.local/shop/web@sha256:abc'; }, path: 'app.image', message: /without a tag or digest/, hint: /no tag: releases deploy by digest/ },
    { name: 'image with a tag', mutate: (c) => { c.app.image = 'registry.local/shop/web:1.2.3'; }, path: 'app.image', message: /without a tag or digest/, hint: /no tag/ },
    { name: 'image with spaces', mutate: (c) => { c.app.image = 'registry.local/shop web'; }, path: 'app.image', message: /without a tag or digest/, hint: /image repository/ },
    { name: 'app name not a DNS label', mutate: (c) => { c.app.name = 'Shop_Web'; }, path: 'app.name', message: /app name must be a lowercase DNS label/, hint: /lowercase DNS label such as/ },
    { name: 'app name too long', mutate: (c) => { c.app.name = 'a'.repeat(64); }, path: 'app.name', message: /./, hint: /DNS label/ },
    { name: 'app missing', mutate: (c) => { delete c.app; }, path: 'app', message: /^is required$/, hint: /^add app/ },
    { name: 'unknown top-level key', mutate: (c) => { c.apps = {}; }, path: '(top level)', message: /^unknown key 'apps'$/, hint: /remove 'apps' or check the spelling/ },
    { name: 'version 2', mutate: (c) => { c.version = 2; }, path: 'version', message: /expected 1/, hint: /config format version: 1/ },
    // environments
    { name: 'no environments', mutate: (c) => { c.environments = []; }, path: 'environments', message: /too small|>=1/i, hint: /at least one environment/ },
    { name: 'unknown key in an environment', mutate: (c) => { env0(c).replica = 3; }, path: 'environments[0]', message: /^unknown key 'replica'$/, hint: /remove 'replica' or check the spelling/ },
    { name: 'environment name upper case', mutate: (c) => { env0(c).name = 'Prod'; }, path: 'environments[0].name', message: /environment name must be a lowercase DNS label/, hint: /production/ },
    { name: 'environment replicas negative', mutate: (c) => { env0(c).replicas = -1; }, path: 'environments[0].replicas', message: />=0/, hint: /whole number of pods/ },
    { name: 'no replicas anywhere', mutate: (c) => { delete env0(c).replicas; }, path: 'environments[0].replicas', message: /required when the cells give no replicas/, hint: /replicas: 10/ },
    { name: 'replicas total and cells disagree', mutate: (c) => { env0(c).cells = [{ name: 'zone-a', replicas: 3 }, { name: 'zone-b', replicas: 3 }]; }, path: 'environments[0].replicas', message: /^replicas is 10 but the cells add up to 6$/, hint: /make them agree/ },
    { name: 'some cells give replicas, some not', mutate: (c) => { env0(c).cells = [{ name: 'zone-a', replicas: 3 }, { name: 'zone-b' }]; }, path: 'environments[0].cells', message: /some cells give replicas and some do not/, hint: /replicas on every cell, or only the environment total/ },
    { name: 'bake not a duration', mutate: (c) => { env0(c).bake = 'forever'; }, path: 'environments[0].bake', message: /not a duration/, hint: /'0s' for no bake time/ },
    { name: 'bake empty', mutate: (c) => { env0(c).bake = ''; }, path: 'environments[0].bake', message: /not a duration/, hint: /duration with a unit/ },
    { name: 'progress deadline without unit', mutate: (c) => { env0(c).deadlines = { progress: '5' }; }, path: 'environments[0].deadlines.progress', message: /not a duration/, hint: /'30s', '10m'/ },
    { name: 'analysis deadline not a duration', mutate: (c) => { env0(c).deadlines = { analysis: 'soon' }; }, path: 'environments[0].deadlines.analysis', message: /not a duration/, hint: /duration like '5m'/ },
    // cells
    { name: 'no cells', mutate: (c) => { env0(c).cells = []; }, path: 'environments[0].cells', message: /too small|>=1/i, hint: /at least one cell/ },
    { name: 'cell replicas negative', mutate: (c) => { delete env0(c).replicas; env0(c).cells = [{ name: 'zone-a', replicas: -1 }]; }, path: 'environments[0].cells[0].replicas', message: />=0/, hint: /^a whole number of pods, 0 or more$/ },
    { name: 'cell name with a dot', mutate: (c) => { env0(c).cells[1].name = 'zone.b'; }, path: 'environments[0].cells[1].name', message: /cell name must be a lowercase DNS label/, hint: /zone-a/ },
    { name: 'cell namespace upper case', mutate: (c) => { env0(c).cells[0].namespace = 'Shop'; }, path: 'environments[0].cells[0].namespace', message: /namespace must be a lowercase DNS label/, hint: /'shop'/ },
    { name: 'unknown key in a cell', mutate: (c) => { env0(c).cells[1].region = 'b'; }, path: 'environments[0].cells[1]', message: /^unknown key 'region'$/, hint: /remove 'region'/ },
    // groups
    { name: 'no groups', mutate: (c) => { env0(c).groups = []; }, path: 'environments[0].groups', message: /too small|>=1/i, hint: /at least one group/ },
    { name: 'pods 0', mutate: (c) => { env0(c).groups[1].pods = 0; }, path: 'environments[0].groups[1].pods', message: />0|positive/, hint: /a count \(2\), a percentage/ },
    { name: 'pods missing', mutate: (c) => { delete env0(c).groups[1].pods; }, path: 'environments[0].groups[1].pods', message: /pods must be|required/, hint: /'rest'/ },
    { name: 'pods 0%', mutate: (c) => { env0(c).groups[1].pods = '0%'; }, path: 'environments[0].groups[1].pods', message: /pods must be a positive count/, hint: /percentage/ },
    { name: 'pods all', mutate: (c) => { env0(c).groups[1].pods = 'all'; }, path: 'environments[0].groups[1].pods', message: /pods must be a positive count/, hint: /'rest'/ },
    { name: 'pods 150%', mutate: (c) => { env0(c).groups[1].pods = '150%'; }, path: 'environments[0].groups[1].pods', message: /pods must be a positive count/, hint: /'25%'/ },
    { name: 'plan short of every pod', mutate: (c) => { env0(c).groups = [{ pods: 1 }, { pods: 2 }]; }, path: 'environments[0].groups[1].pods', message: /the groups move only 3 of 5 pods in cell zone-a/, hint: /end the plan with a group `pods: rest`/ },
    { name: 'rest not last', mutate: (c) => { env0(c).groups = [{ pods: 'rest' }, { pods: 2 }]; }, path: 'environments[0].groups[1].pods', message: /comes after a group with `pods: rest`/, hint: /make it the last group/ },
    { name: 'a group that moves no pod', mutate: (c) => { env0(c).groups = [{ pods: 5 }, { pods: 'rest' }]; }, path: 'environments[0].groups[1].pods', message: /group 1 moves no pod in any cell/, hint: /remove the group/ },
    { name: 'confirm type unknown', mutate: (c) => { env0(c).groups[0].confirm = { type: 'wait' }; }, path: 'environments[0].groups[0].confirm.type', message: /confirm.type must be one of auto, pause, manual/, hint: /manual \(wait for approval\)/ },
    { name: 'pause without a duration', mutate: (c) => { env0(c).groups[0].confirm = { type: 'pause' }; }, path: 'environments[0].groups[0].confirm.duration', message: /^is required$/, hint: /^add duration: use a duration with a unit/ },
    { name: 'pause with a bare number', mutate: (c) => { env0(c).groups[0].confirm = { type: 'pause', duration: '10' }; }, path: 'environments[0].groups[0].confirm.duration', message: /not a duration/, hint: /'30s', '10m', '48h', '3d'/ },
    { name: 'manual onTimeout unknown', mutate: (c) => { env0(c).groups[0].confirm = { type: 'manual', onTimeout: 'skip' }; }, path: 'environments[0].groups[0].confirm.onTimeout', message: /rollback.*hold/, hint: /^one of: rollback, hold$/ },
    { name: 'manual timeout not a duration', mutate: (c) => { env0(c).groups[0].confirm = { type: 'manual', timeout: 'soon' }; }, path: 'environments[0].groups[0].confirm.timeout', message: /not a duration/, hint: /duration with a unit/ },
    { name: 'auto with an extra key', mutate: (c) => { env0(c).groups[0].confirm = { type: 'auto', duration: '1m' }; }, path: 'environments[0].groups[0].confirm', message: /^unknown key 'duration'$/, hint: /remove 'duration'/ },
    // analysis
    { name: 'check without a threshold', mutate: (c) => { env0(c).analysis = [{ name: 'err', query: 'q' }]; }, path: 'environments[0].analysis[0].max', message: /a check needs a threshold/, hint: /give min, max or both/ },
    { name: 'check without a query', mutate: (c) => { env0(c).analysis = [{ name: 'err', max: 1 }]; }, path: 'environments[0].analysis[0].query', message: /^is required$/, hint: /PromQL instant query/ },
    { name: 'check with another provider', mutate: (c) => { env0(c).analysis = [{ name: 'err', query: 'q', max: 1, provider: 'datadog' }]; }, path: 'environments[0].analysis[0].provider', message: /prometheus/, hint: /config reference/ },
    // approvers
    { name: 'required 0', mutate: (c) => { env0(c).approvers = { required: 0 }; }, path: 'environments[0].approvers.required', message: />0/, hint: /at least 1/ },
    { name: 'required more than the listed users', mutate: (c) => { env0(c).approvers = { users: ['alice'], required: 2 }; }, path: 'environments[0].approvers.required', message: /^2 approvals required but only 1 distinct approver listed$/, hint: /list more approvers, add a group, or lower required/ },
    { name: 'unknown key in approvers', mutate: (c) => { env0(c).approvers = { user: ['alice'] }; }, path: 'environments[0].approvers', message: /unknown key 'user'/, hint: /check the spelling/ },
    // duplicates
    { name: 'duplicate environment names', mutate: (c) => { c.environments.push(structuredClone(env0(c))); }, path: 'environments[1].name', message: /^duplicate environment 'production' \(also environments\[0\]\)$/, hint: /unique name/ },
    { name: 'duplicate cell names', mutate: (c) => { env0(c).cells[1].name = 'zone-a'; }, path: 'environments[0].cells[1].name', message: /^duplicate cell 'zone-a' \(also environments\[0\]\.cells\[0\]\)$/, hint: /give each cell a unique name/ },
  ])('$name -> $path', ({ mutate, path, message, hint }) => {
    const c = raw();
    mutate(c);
    const errors = errorsOf(c);
    const at = errors.filter((e) => e.path === path);
    expect({ paths: errors.map((e) => e.path), found: at.length > 0 }).toEqual({ paths: expect.arrayContaining([path]), found: true });
    expect(at[0]!.message).toMatch(message);
    expect(at[0]!.hint).toMatch(hint);
    // Every error anywhere carries a hint that is more than a placeholder.
    for (const e of errors) expect(e.hint.length).toBeGreaterThan(15);
  });

  it.each<{ name: string; mutate: Mutate; path: string; message: RegExp; hint: RegExp }>([
    { name: 'cell replicas not a whole number', mutate: (c) => { delete env0(c).replicas; env0(c).cells = [{ name: 'zone-a', replicas: 2.5 }]; }, path: 'environments[0].cells[0].replicas', message: /int|whole|integer/i, hint: /whole number of pods/ },
    { name: 'replicas given as a string', mutate: (c) => { env0(c).replicas = '10'; }, path: 'environments[0].replicas', message: /number/, hint: /whole number of pods/ },
    { name: 'pods given as a boolean', mutate: (c) => { env0(c).groups[0].pods = true; }, path: 'environments[0].groups[0].pods', message: /pods must be/, hint: /'rest'/ },
    { name: 'allowStarter given as a string', mutate: (c) => { env0(c).approvers = { allowStarter: 'yes' }; }, path: 'environments[0].approvers.allowStarter', message: /boolean/, hint: /./ },
    { name: 'cells given as an object', mutate: (c) => { env0(c).cells = { name: 'zone-a' }; }, path: 'environments[0].cells', message: /array/, hint: /at least one cell/ },
  ])('a value of the wrong type is not reported as missing: $name', ({ mutate, path, message, hint }) => {
    const c = raw();
    mutate(c);
    const errors = errorsOf(c);
    const e = errors.find((x) => x.path === path);
    expect(e).toBeDefined();
    expect(e!.message).not.toMatch(/is required/);
    expect(e!.hint).not.toMatch(/^add /);
    expect(e!.message).toMatch(message);
    expect(e!.hint).toMatch(hint);
  });

  it.each<{ name: string; input: unknown; path: string; message: RegExp }>([
    { name: 'null', input: null, path: '(top level)', message: /object/ },
    { name: 'a string', input: 'app: shop', path: '(top level)', message: /object/ },
    { name: 'a list', input: [], path: '(top level)', message: /object/ },
  ])('a document that is not a mapping: $name', ({ input, path, message }) => {
    const errors = errorsOf(input);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe(path);
    expect(errors[0]!.message).toMatch(message);
  });

  it('an empty mapping names both required keys', () => {
    expect(errorsOf({}).map((e) => [e.path, e.message])).toEqual([['app', 'is required'], ['environments', 'is required']]);
  });

  it('reports several unknown keys in one error', () => {
    const c = raw();
    env0(c).replica = 3;
    env0(c).zones = 2;
    const errors = errorsOf(c);
    expect(errors).toEqual([{ path: 'environments[0]', message: "unknown keys 'replica', 'zones'", hint: expect.stringMatching(/remove 'replica', 'zones' or check the spelling/) }]);
  });

  it('reports every schema problem at once, not just the first', () => {
    const c = raw();
    c.app.image = 'shop:latest@sha256:x';
    env0(c).name = 'Production';
    env0(c).cells[0].replicas = -1;
    env0(c).groups[1].pods = 'x';
    env0(c).groups[0].confirm = { type: 'pause' };
    const paths = errorsOf(c).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining([
      'app.image', 'environments[0].name', 'environments[0].cells[0].replicas', 'environments[0].groups[1].pods', 'environments[0].groups[0].confirm.duration',
    ]));
  });

  it('reports every resolution problem at once, across environments', () => {
    const c = raw();
    c.environments = [
      { name: 'staging', replicas: 4, cells: [{ name: 'a' }, { name: 'a' }], groups: [{ pods: 1 }] },
      { name: 'staging', cells: [{ name: 'b', replicas: 2 }], replicas: 3, groups: [{ pods: 'rest' }], approvers: { users: ['x'], required: 3 } },
    ];
    const errors = errorsOf(c);
    expect(errors.map((e) => e.path)).toEqual([
      'environments[1].name',
      'environments[0].cells[1].name',
      'environments[0].groups[0].pods', 'environments[0].groups[0].pods',
      'environments[1].replicas',
      'environments[1].approvers.required',
    ]);
    for (const e of errors) expect(e.hint).toBeTruthy();
  });

  it.each([
    { name: 'required within the listed users', approvers: { users: ['a', 'b'], required: 2 } },
    { name: 'required above the users but groups listed too (group size unknown)', approvers: { users: ['a'], groups: ['sre'], required: 3 } },
    { name: 'required above zero users: anyone may approve', approvers: { required: 2 } },
  ])('approvers accepted: $name', ({ approvers }) => {
    const c = raw();
    env0(c).approvers = approvers;
    expect(ok(c).environments[0]!.approvers.required).toBe(approvers.required);
  });
});

describe('formatPath and formatConfigErrors', () => {
  it.each<{ path: PropertyKey[]; want: string }>([
    { path: [], want: '(top level)' },
    { path: ['app'], want: 'app' },
    { path: ['app', 'image'], want: 'app.image' },
    { path: ['environments', 0, 'groups', 1, 'pods'], want: 'environments[0].groups[1].pods' },
    { path: ['environments', 2], want: 'environments[2]' },
  ])('$want', ({ path, want }) => {
    expect(formatPath(path)).toBe(want);
  });

  it('formats one error per entry with its hint on the next line', () => {
    expect(formatConfigErrors([{ path: 'app.image', message: 'is required', hint: 'add image' }, { path: 'version', message: 'bad', hint: 'use 1' }]))
      .toBe('  app.image: is required\n    hint: add image\n  version: bad\n    hint: use 1');
  });
});

describe('environmentPlan', () => {
  it('gives the group plan of a resolved environment', () => {
    const env = seedConfig('shop').environments[0]!;
    expect(environmentPlan(env).map((g) => g.perCell.map((c) => c.add))).toEqual([[1, 1], [2, 2], [2, 2]]);
  });

  it('throws on an environment whose plan is invalid', () => {
    const env = { ...seedConfig('shop').environments[0]!, groups: [{ name: 'g', pods: 1, confirm: { type: 'auto' as const } }] };
    expect(() => environmentPlan(env)).toThrow(/invalid plan for production: the groups move only 1 of 5 pods/);
  });
});

describe('configJsonSchema', () => {
  it('is a JSON Schema object describing app and environments', () => {
    const schema = configJsonSchema() as { type?: string; properties?: Record<string, { type?: string; properties?: Record<string, unknown> }>; required?: string[]; additionalProperties?: unknown };
    expect(schema.type).toBe('object');
    expect(Object.keys(schema.properties ?? {})).toEqual(expect.arrayContaining(['app', 'environments']));
    expect(schema.required).toEqual(expect.arrayContaining(['app', 'environments']));
    expect(schema.properties!.environments!.type).toBe('array');
    expect(Object.keys(schema.properties!.app!.properties ?? {})).toEqual(expect.arrayContaining(['name', 'image']));
    expect(schema.additionalProperties).toBe(false);
    // Serializable, as `npm run schema` prints it, and editors still see the pods pattern.
    const text = JSON.stringify(schema);
    expect(text).toContain(JSON.stringify('^(100|[1-9]?[0-9](\\.[0-9]+)?)%$'));
    expect(text).toContain('"rest"');
  });
});
