// The application's release configuration (gantry.yaml in the application's repository):
// schema, validation with path-and-hint errors, and resolution (replicas spread over cells, group
// plans checked). Pure: callers read the file; this module only parses text and objects.
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { releaseCalendarSchema, type ReleaseCalendar } from './windows.js';
import { planGroups, spreadReplicas, type PodCount } from './plan.js';
export { environmentPlan } from './plan.js';
import type { CheckSpec } from './analysis.js';
import type { ApproverPolicy } from './approval.js';
import { buildSpecProblems, defaultBuild, type BuildSpec } from './build.js';
import { isAllowedEnvName, isSafeRelativePath, parseSize, type GateSpec } from './gates.js';
import { reservedLabel } from './rollout.js';

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const name = (what: string) => z.string().max(63).regex(dnsLabel, {
  error: `${what} must be a lowercase DNS label (a-z, 0-9, '-'; at most 63 characters)`,
});
const duration = z.string().refine((v) => parseDuration(v) !== undefined, { error: 'not a duration' });

const podsMessage = 'pods must be a positive count (2), a percentage of the cell\'s replicas (\'25%\') or \'rest\'';
const podCount = z.union([
  z.number().int().positive(),
  // abort + messages: a bad string gives one error saying what pods may be (not a regex dump plus 'Invalid input').
  z.string().regex(/^(100|[1-9]?[0-9](\.[0-9]+)?)%$/, { error: podsMessage, abort: true }).refine((v) => Number(v.slice(0, -1)) > 0, { error: podsMessage }),
  z.literal('rest'),
], { error: podsMessage });

const confirm = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auto') }),
  z.strictObject({ type: z.literal('pause'), duration }),
  z.strictObject({
    type: z.literal('manual'),
    timeout: duration.optional(),
    onTimeout: z.enum(['rollback', 'hold']).default('rollback'),
  }),
], { error: 'confirm.type must be one of auto, pause, manual' });

const group = z.strictObject({
  name: z.string().min(1).optional(),
  pods: podCount,
  confirm: confirm.default({ type: 'auto' }),
});

const check = z.strictObject({
  name: name('check name'),
  provider: z.literal('prometheus').default('prometheus'),
  query: z.string().min(1),
  min: z.number().optional(),
  max: z.number().optional(),
}).refine((c) => c.min !== undefined || c.max !== undefined, { error: 'a check needs a threshold', path: ['max'] })
  .refine((c) => c.min === undefined || c.max === undefined || c.min <= c.max, { error: 'min is greater than max: no value could pass', path: ['min'] });

// Kubernetes label keys and values (a prefix/ name key; values of at most 63 characters).
const labelKeyRe = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelValue = z.string().max(63).regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, { error: 'not a Kubernetes label value (at most 63 of a-z, A-Z, 0-9, -, _, .)' });

// Cluster settings (optional; used by the Kubernetes activities, ignored by the simulated cluster).
// Given on an environment they apply to each of its cells; a cell may give its own. The resolved
// config carries them on each cell, in the same shape, so a resolved config parses again unchanged.
const clusterSettings = {
  traffic: z.strictObject({
    httpRoute: z.strictObject({ name: name('HTTPRoute name'), namespace: name('namespace').optional() }),
  }).optional(),
  drain: z.strictObject({ grace: duration }).optional(),
  pod: z.strictObject({
    port: z.number().int().min(1).max(65535).optional(),
    labels: z.record(z.string(), labelValue).superRefine((labels, ctx) => {
      for (const k of Object.keys(labels)) {
        if (k.length > 253 || !labelKeyRe.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: `'${k}' is not a Kubernetes label key (name or prefix/name)` });
        else if (reservedLabel(k)) ctx.addIssue({ code: 'custom', path: [k], message: `'${k}' is set by Gantry itself (gantry.dev/app, environment, cell, revision, serving; app.kubernetes.io/managed-by)` });
      }
    }).optional(),
  }).optional(),
};

const cell = z.strictObject({
  name: name('cell name'),
  context: z.string().min(1).optional(),
  namespace: name('namespace').optional(),
  replicas: z.number().int().nonnegative().optional(),
  // The cell's pods run on nodes labelled topology.kubernetes.io/zone=<zone>.
  zone: labelValue.min(1).optional(),
  ...clusterSettings,
});

const environment = z.strictObject({
  name: name('environment name'),
  replicas: z.number().int().nonnegative().optional(),
  cells: z.array(cell).min(1),
  groups: z.array(group).min(1),
  analysis: z.array(check).default([]),
  approvers: z.strictObject({
    users: z.array(z.string().min(1)).default([]),
    groups: z.array(z.string().min(1)).default([]),
    required: z.number().int().positive().default(1),
    allowStarter: z.boolean().default(false),
    expiry: duration.optional(),
    escalateAfter: duration.optional(),
    escalateTo: z.strictObject({
      users: z.array(z.string().min(1)).default([]),
      groups: z.array(z.string().min(1)).default([]),
    }).optional(),
  }).default({ users: [], groups: [], required: 1, allowStarter: false }),
  calendar: releaseCalendarSchema(z).optional(),
  deadlines: z.strictObject({
    progress: duration.default('10m'),
    analysis: duration.default('5m'),
  }).default({ progress: '10m', analysis: '5m' }),
  bake: duration.default('0s'),
  ...clusterSettings,
});

// Build and quality gates (optional sections; the build issue). Paths are inside the repository.
const relPath = z.string().refine(isSafeRelativePath, { error: 'must be a path inside the repository (relative, no ..)' });
const argv = z.array(z.string().min(1)).min(1, { error: 'run is an argv array: [program, arg, ...] (no shell string)' });
const envName = z.string().refine(isAllowedEnvName, { error: 'not an allowed environment variable name' });
const gateBase = {
  name: name('gate name'), run: argv.optional(), cwd: relPath.optional(),
  env: z.record(envName, z.string()).optional(), passEnv: z.array(envName).optional(), timeout: duration.optional(),
};
const gate = z.discriminatedUnion('type', [
  z.strictObject({ ...gateBase, type: z.literal('command'), run: argv }),
  z.strictObject({ ...gateBase, type: z.literal('junit'), reports: z.array(relPath).min(1) }),
  z.strictObject({ ...gateBase, type: z.literal('coverage'), report: relPath, format: z.enum(['lcov', 'cobertura']).optional(), min: z.number().min(0).max(100) }),
  z.strictObject({ ...gateBase, type: z.literal('hadolint'), dockerfile: relPath, failOn: z.enum(['error', 'warning', 'info', 'style']).optional(), ignore: z.array(z.string().regex(/^[A-Z]+\d+$/)).optional() }),
  z.strictObject({ ...gateBase, type: z.literal('image-size'), max: z.string().refine((v) => parseSize(v) !== undefined, { error: "not a size: use '200MB', '1.5GiB'" }) }),
], { error: 'gate type must be one of command, junit, coverage, hadolint, image-size' });
const build = z.strictObject({
  context: relPath.default('.'),
  dockerfile: relPath.default('Dockerfile'),
  target: z.string().min(1).optional(),
  args: z.record(z.string(), z.string()).default({}),
  secrets: z.array(z.strictObject({ id: z.string().min(1), env: envName })).default([]),
  cache: z.string().min(1).optional(),
  timeout: duration.default('30m'),
  tag: z.strictObject({ name: z.string().min(1), after: name('environment name').optional() }).optional(),
}).superRefine((b, ctx) => { for (const message of buildSpecProblems(b as BuildSpec)) ctx.addIssue({ code: 'custom', message }); });

// Push triggers (optional; the triggers issue): what a push to a branch does, and which tags release.
// Patterns are globs over the branch or tag name: `*` within one path segment, `**` across segments.
const refPattern = z.string().min(1).max(200).regex(/^[^\s~^:\\]+$/, { error: 'a branch or tag pattern: a name or a glob such as release/* or v*' });
const triggers = z.strictObject({
  branches: z.array(z.strictObject({ pattern: refPattern, action: z.enum(['pipeline', 'gates', 'none'], { error: 'action must be one of pipeline, gates, none' }) })).optional(),
  tags: z.array(z.strictObject({ pattern: refPattern, environment: name('environment name') })).optional(),
});

export const configSchema = z.strictObject({
  version: z.literal(1).default(1),
  app: z.strictObject({
    name: name('app name'),
    // No '@digest', and no ':tag' after the last '/' (a ':port' on the registry host is fine).
    image: z.string().min(1).regex(/^(?!.*:[^/]*$)[^@\s]+$/, { error: 'image is the repository without a tag or digest; releases deploy by digest' }),
  }),
  environments: z.array(environment).min(1),
  build: build.optional(),
  gates: z.array(gate).optional(),
  triggers: triggers.optional(),
});

export type RawConfig = z.input<typeof configSchema>;
type ParsedConfig = z.output<typeof configSchema>;

export type ConfirmPolicy = { type: 'auto' } | { type: 'pause'; duration: string } | { type: 'manual'; timeout?: string; onTimeout: 'rollback' | 'hold' };

/** Cluster settings of a cell (each present only when configured on the cell or its environment). */
export interface CellClusterSettings {
  /** The zone (node label topology.kubernetes.io/zone) the cell's pods run in. */
  zone?: string;
  /** The Gateway API HTTPRoute whose backendRefs weights carry the canary's share. */
  traffic?: { httpRoute: { name: string; namespace: string } };
  /** How long a pod taken out of service keeps running before it is removed. */
  drain?: { grace: string };
  /** The pod's container port (default 8080) and extra labels (part of the revision). */
  pod?: { port?: number; labels?: Record<string, string> };
}

/** One cell, resolved: the environment's cluster settings are carried on each of its cells. */
export interface CellConfig extends CellClusterSettings { name: string; context?: string; namespace: string; replicas: number }
export interface GroupConfig { name: string; pods: PodCount; confirm: ConfirmPolicy }

/** One environment, resolved: replicas known per cell, plan validated. */
export interface EnvironmentConfig {
  name: string;
  cells: CellConfig[];
  groups: GroupConfig[];
  analysis: CheckSpec[];
  approvers: ApproverPolicy & {
    /** An approval counts for this long; a late quorum needs fresh approvals. */
    expiry?: string;
    /** After waiting this long for approval, a notice goes to escalateTo (once per wait). */
    escalateAfter?: string;
    escalateTo?: { users: string[]; groups: string[] };
  };
  /** Release windows and freezes: a group starts only while the calendar is open. */
  calendar?: ReleaseCalendar;
  deadlines: { progress: string; analysis: string };
  bake: string;
}

/** What a push to a matching branch starts: the full pipeline, the quality gates only, or nothing. */
export type BranchAction = 'pipeline' | 'gates' | 'none';
export interface TriggerConfig { branches: { pattern: string; action: BranchAction }[]; tags: { pattern: string; environment: string }[] }
/** Without a triggers section (or without its branches): main runs the pipeline, other branches the gates only. */
export const defaultBranchRules: TriggerConfig['branches'] = [{ pattern: 'main', action: 'pipeline' }, { pattern: '**', action: 'gates' }];

export interface GantryConfig { version: 1; app: { name: string; image: string }; environments: EnvironmentConfig[]; build?: BuildSpec; gates?: GateSpec[]; triggers?: TriggerConfig }

/** One problem in a config: where (a path like `environments[1].groups[0].pods`), what, and how to fix it. */
export interface ConfigError { path: string; message: string; hint: string }

export type ConfigResult = { ok: true; config: GantryConfig } | { ok: false; errors: ConfigError[] };

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(top level)';
}

const hints: Record<string, string> = {
  pods: "use a count (2), a percentage of each cell's replicas ('25%'), or 'rest'",
  duration: "use a duration with a unit: '30s', '10m', '48h', '3d'",
  timeout: "use a duration with a unit: '30s', '10m', '48h', '3d'",
  progress: "use a duration with a unit: '30s', '10m'",
  analysis: "a list of checks: [{ name, query, max }], or for deadlines a duration like '5m'",
  bake: "use a duration with a unit, or '0s' for no bake time",
  type: 'one of: auto (continue when checks pass), pause (wait a duration), manual (wait for approval)',
  onTimeout: 'one of: rollback, hold',
  replicas: 'a whole number of pods, 0 or more',
  required: 'how many distinct approvers must approve, at least 1',
  image: 'the image repository, e.g. registry.example.com/team/app (no tag: releases deploy by digest)',
  name: "a lowercase DNS label such as 'zone-a' or 'production'",
  namespace: "a lowercase DNS label such as 'shop'",
  query: 'a PromQL instant query returning one number',
  max: 'give min, max or both: the bounds a passing value stays within',
  min: 'give min, max or both: the bounds a passing value stays within',
  cells: 'at least one cell: [{ name: zone-a, replicas: 5 }]',
  groups: "at least one group; the last is usually { pods: rest }",
  environments: 'at least one environment, in release order: staging first, production last',
  version: 'the config format version: 1',
  expiry: "how long an approval counts, e.g. '4h'",
  escalateAfter: "how long an approval may wait before escalateTo is told, e.g. '1h'",
  escalateTo: 'who hears about an overdue approval: { users: [...], groups: [...] }',
  run: 'an argv array, e.g. [npm, test] (no shell string)',
  reports: 'JUnit XML report paths inside the repository, e.g. [reports/junit.xml]',
  report: 'the coverage report path inside the repository (lcov.info or cobertura.xml)',
  dockerfile: 'a path inside the repository, e.g. Dockerfile',
  context: "a directory inside the repository, e.g. '.'",
  secrets: 'a list of { id, env }: env names a variable on the worker that holds the value',
  gates: 'a list of gates: [{ name, type: command|junit|coverage|hadolint|image-size, ... }]',
  zone: "the zone's topology.kubernetes.io/zone node label value, e.g. 'zone-a'",
  port: 'the container port the app listens on, 1-65535 (default 8080)',
  pod: 'pod: { port?, labels? }: the container port (default 8080) and extra pod labels',
  drain: "drain: { grace: '5s' }: how long a pod out of service keeps running before removal",
  grace: "how long a pod out of service keeps running before removal, e.g. '5s' (default 5s)",
  httpRoute: "the Gateway API HTTPRoute to shift weights on: { name, namespace? } (namespace defaults to the cell's)",
  traffic: 'traffic: { httpRoute: { name, namespace? } }; without it traffic follows the replica ratio',
  labels: 'extra pod labels of the new revision, e.g. { team: shop } (the gantry.dev/* keys Gantry sets are reserved)',
  triggers: 'branches: [{ pattern: main, action: pipeline }], tags: [{ pattern: "v*", environment: production }]',
  pattern: "a branch or tag name, or a glob: 'main', 'release/*', 'v*', '**'",
  action: 'one of: pipeline (the full pipeline), gates (quality gates only), none',
};

function hintFor(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `remove ${issue.keys.join(', ')} or check the spelling (see the config reference in README.md)`;
  const key = [...issue.path].reverse().find((p) => typeof p === 'string');
  if (issue.code === 'invalid_type' && issue.input === undefined) return `add ${String(key ?? 'it')}: ${hints[String(key)] ?? 'it is required'}`;
  return (key !== undefined && hints[String(key)]) || 'see the config reference in README.md';
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  return issue.message;
}

/** Validates and resolves a parsed config object. Every problem is reported, not just the first. */
export function parseConfig(input: unknown): ConfigResult {
  // reportInput: zod 4 leaves issue.input out by default, and hintFor/issueMessage tell "missing" from
  // "wrong type" by it; without it every wrong-type value was reported as "is required".
  const parsed = configSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: issueMessage(i), hint: hintFor(i) })) };
  }
  return resolve(parsed.data);
}

/** Parses gantry.yaml text, then validates it. */
export function parseConfigText(text: string): ConfigResult {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '(document)';
    return { ok: false, errors: [{ path: where, message: `not valid YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, hint: 'fix the YAML syntax (indentation, quotes, colons)' }] };
  }
  if (doc === null || doc === undefined) return { ok: false, errors: [{ path: '(document)', message: 'the file is empty', hint: 'start from the example in README.md' }] };
  return parseConfig(doc);
}

function resolve(raw: ParsedConfig): ConfigResult {
  const errors: ConfigError[] = [];
  const dup = (items: readonly { name: string }[], base: string, what: string) => {
    const seen = new Map<string, number>();
    items.forEach((it, i) => {
      const first = seen.get(it.name);
      if (first !== undefined) errors.push({ path: `${base}[${i}].name`, message: `duplicate ${what} '${it.name}' (also ${base}[${first}])`, hint: `give each ${what} a unique name` });
      else seen.set(it.name, i);
    });
  };
  dup(raw.environments, 'environments', 'environment');

  const environments: EnvironmentConfig[] = raw.environments.map((env, ei) => {
    const base = `environments[${ei}]`;
    dup(env.cells, `${base}.cells`, 'cell');
    const explicit = env.cells.map((c) => c.replicas);
    let replicas: number[];
    if (explicit.every((r) => r !== undefined)) {
      replicas = explicit as number[];
      const sum = replicas.reduce((a, b) => a + b, 0);
      if (env.replicas !== undefined && env.replicas !== sum) {
        errors.push({ path: `${base}.replicas`, message: `replicas is ${env.replicas} but the cells add up to ${sum}`, hint: 'give the total or per-cell replicas, not both; or make them agree' });
      }
    } else if (explicit.some((r) => r !== undefined)) {
      errors.push({ path: `${base}.cells`, message: 'some cells give replicas and some do not', hint: 'give replicas on every cell, or only the environment total (spread evenly over the cells)' });
      replicas = explicit.map((r) => r ?? 0);
    } else if (env.replicas !== undefined) {
      replicas = spreadReplicas(env.replicas, env.cells.length);
    } else {
      errors.push({ path: `${base}.replicas`, message: 'is required when the cells give no replicas', hint: 'give the total, e.g. replicas: 10 (spread evenly over the cells), or replicas on each cell' });
      replicas = env.cells.map(() => 0);
    }
    const cells: CellConfig[] = env.cells.map((c, ci) => {
      const namespace = c.namespace ?? raw.app.name;
      const traffic = c.traffic ?? env.traffic;
      const drain = c.drain ?? env.drain;
      const port = c.pod?.port ?? env.pod?.port;
      const labels = { ...env.pod?.labels, ...c.pod?.labels };
      const pod = { ...(port !== undefined ? { port } : {}), ...(Object.keys(labels).length ? { labels } : {}) };
      return {
        name: c.name, ...(c.context ? { context: c.context } : {}), namespace, replicas: replicas[ci] ?? 0,
        ...(c.zone ? { zone: c.zone } : {}),
        ...(traffic ? { traffic: { httpRoute: { name: traffic.httpRoute.name, namespace: traffic.httpRoute.namespace ?? namespace } } } : {}),
        ...(drain ? { drain: { grace: drain.grace } } : {}),
        ...(Object.keys(pod).length ? { pod } : {}),
      };
    });
    const plan = planGroups(cells, env.groups as { pods: PodCount }[]);
    if (!plan.ok) {
      for (const e of plan.errors) errors.push({ path: e.group !== undefined ? `${base}.groups[${e.group}].pods` : `${base}.groups`, message: e.message, hint: e.hint });
    }
    const a = env.approvers;
    if (a.required > 1 && a.users.length > 0 && a.groups.length === 0 && a.required > a.users.length) {
      errors.push({ path: `${base}.approvers.required`, message: `${a.required} approvals required but only ${a.users.length} approvers listed`, hint: 'list more approvers or lower required' });
    }
    return {
      name: env.name,
      cells,
      groups: env.groups.map((g, gi) => ({ name: g.name ?? `group ${gi + 1}`, pods: g.pods as PodCount, confirm: g.confirm })),
      analysis: env.analysis.map((c) => ({ name: c.name, query: c.query, ...(c.min !== undefined ? { min: c.min } : {}), ...(c.max !== undefined ? { max: c.max } : {}) })),
      approvers: {
        users: a.users, groups: a.groups, required: a.required, allowStarter: a.allowStarter,
        ...(a.expiry ? { expiry: a.expiry } : {}), ...(a.escalateAfter ? { escalateAfter: a.escalateAfter } : {}),
        ...(a.escalateTo ? { escalateTo: a.escalateTo } : {}),
      },
      ...(env.calendar ? { calendar: env.calendar as ReleaseCalendar } : {}),
      deadlines: env.deadlines,
      bake: env.bake,
    };
  });
  if (raw.build?.tag?.after && !environments.some((e) => e.name === raw.build?.tag?.after)) {
    errors.push({ path: 'build.tag.after', message: `unknown environment '${raw.build.tag.after}'`, hint: `one of: ${environments.map((e) => e.name).join(', ')}` });
  }
  if (raw.gates) dup(raw.gates, 'gates', 'gate');
  (raw.triggers?.tags ?? []).forEach((t, i) => {
    if (!environments.some((e) => e.name === t.environment)) errors.push({ path: `triggers.tags[${i}].environment`, message: `unknown environment '${t.environment}'`, hint: `one of: ${environments.map((e) => e.name).join(', ')}` });
  });
  if (errors.length) return { ok: false, errors };
  const extra = {
    ...(raw.build ? { build: { ...defaultBuild, ...raw.build } as BuildSpec } : {}), ...(raw.gates ? { gates: raw.gates as GateSpec[] } : {}),
    ...(raw.triggers ? { triggers: { branches: raw.triggers.branches ?? defaultBranchRules.map((r) => ({ ...r })), tags: raw.triggers.tags ?? [] } } : {}),
  };
  return { ok: true, config: { version: 1, app: raw.app, environments, ...extra } };
}

export function formatConfigErrors(errors: readonly ConfigError[]): string {
  return errors.map((e) => `  ${e.path}: ${e.message}\n    hint: ${e.hint}`).join('\n');
}

/** JSON Schema of gantry.yaml, for editors (`npm run schema`). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
