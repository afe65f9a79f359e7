// The application's release configuration (gantry.yaml in the application's repository):
// schema, validation with path-and-hint errors, and resolution (replicas spread over cells, group
// plans checked). Pure: callers read the file; this module only parses text and objects.
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, YAMLParseError, type Document } from 'yaml';
import { z } from 'zod';
import { MAX_DURATION_MS, MAX_TOOL_DURATION_MS, parseDuration } from './duration.js';
import type { ErrorDetail } from './errors.js';
import { cap, controlCharacterIn, displayLine, echo } from './text.js';
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
// Durations: a unit is required, and every value is bounded by what its consumer can hold: workflow
// timers (Temporal's durations become Go time.Duration on the server: about 292 years) at 100 years,
// and durations that activities wait out with Node timers (at most 24.8 days) at 24 hours.
const boundedDuration = (maxMs: number, max: string, what: string) => z.string().max(100, { error: 'not a duration' })
  .refine((v) => parseDuration(v) !== undefined, { error: 'not a duration', abort: true })
  .refine((v) => parseDuration(v)! <= maxMs, { error: `too long: ${what} may be at most ${max}` });
const duration = boundedDuration(MAX_DURATION_MS, '100 years (36525d)', 'a duration');
const toolDuration = boundedDuration(MAX_TOOL_DURATION_MS, '24h', 'this duration (a worker process waits it out)');
const positiveDuration = duration.refine((v) => parseDuration(v)! > 0, { error: 'must be longer than 0s' });

/** Free-text identifiers (group names, approver ids, group ids): printable, no control characters, bounded. */
const ident = (what: string, max = 253) => z.string().min(1, { error: `${what} must not be empty` }).max(max, { error: `${what} is at most ${max} characters` })
  .refine((v) => controlCharacterIn(v) === undefined, { error: (issue) => `${what} contains the control character ${controlCharacterIn(String(issue.input))}: use printable characters only` });

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
  name: ident('a group name', 63).optional(),
  pods: podCount,
  confirm: confirm.default({ type: 'auto' }),
});

const check = z.strictObject({
  name: name('check name'),
  provider: z.literal('prometheus').default('prometheus'),
  query: z.string().min(1).max(10_000),
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
  drain: z.strictObject({ grace: toolDuration }).optional(),
  pod: z.strictObject({
    port: z.number().int().min(1).max(65535).optional(),
    labels: z.record(z.string(), labelValue).superRefine((labels, ctx) => {
      for (const k of Object.keys(labels)) {
        if (k.length > 253 || !labelKeyRe.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: `${echo(k, 60)} is not a Kubernetes label key (name or prefix/name)` });
        else if (reservedLabel(k)) ctx.addIssue({ code: 'custom', path: [k], message: `${echo(k, 60)} is set by Gantry itself (gantry.dev/app, environment, cell, revision, serving; app.kubernetes.io/managed-by)` });
      }
    }).optional(),
  }).optional(),
};

const cell = z.strictObject({
  name: name('cell name'),
  context: ident('a kubeconfig context').optional(),
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
    users: z.array(ident('an approver id')).max(1000).default([]),
    groups: z.array(ident('a group id')).max(1000).default([]),
    required: z.number().int().positive().default(1),
    allowStarter: z.boolean().default(false),
    // 0s would make every approval lapse at once: no quorum could ever be reached.
    expiry: positiveDuration.optional(),
    escalateAfter: duration.optional(),
    escalateTo: z.strictObject({
      users: z.array(ident('an approver id')).max(1000).default([]),
      groups: z.array(ident('a group id')).max(1000).default([]),
    }).optional(),
  }).default({ users: [], groups: [], required: 1, allowStarter: false }),
  calendar: releaseCalendarSchema(z).optional(),
  deadlines: z.strictObject({
    progress: toolDuration.default('10m'),
    analysis: toolDuration.default('5m'),
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
  env: z.record(envName, z.string()).optional(), passEnv: z.array(envName).optional(), timeout: toolDuration.optional(),
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
  target: ident('a build target').optional(),
  args: z.record(z.string(), z.string()).default({}),
  secrets: z.array(z.strictObject({ id: ident('a secret id'), env: envName })).default([]),
  cache: z.string().min(1).optional(),
  timeout: toolDuration.default('30m'),
  tag: z.strictObject({ name: ident('a tag name'), after: name('environment name').optional() }).optional(),
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
/** A problem in gantry.yaml: its path, what is wrong, and how to fix it. */
export type ConfigError = ErrorDetail;

export type ConfigResult = { ok: true; config: GantryConfig } | { ok: false; errors: ConfigError[] };

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  // Keys come from the input: shown escaped and capped.
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${cap(displayLine(String(p)), 40)}`;
  return out || '(top level)';
}

// A Map, not an object literal: a path ending in 'constructor' or 'toString' must not find
// Object.prototype's functions as its hint.
const hints = new Map<string, string>(Object.entries({
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
}));

const keyList = (keys: readonly string[]): string => {
  const shown = keys.slice(0, 5).map((k) => echo(k, 40)).join(', ');
  return keys.length > 5 ? `${shown} and ${keys.length - 5} more` : shown;
};

function hintFor(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `remove ${keyList(issue.keys)} or check the spelling (see the config reference in README.md)`;
  const key = [...issue.path].reverse().find((p) => typeof p === 'string');
  const hint = key === undefined ? undefined : hints.get(key);
  if (issue.code === 'invalid_type' && issue.input === undefined) return `add ${key === undefined ? 'it' : cap(key, 40)}: ${hint ?? 'it is required'}`;
  return hint ?? 'see the config reference in README.md';
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${keyList(issue.keys)}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  return issue.message;
}

/** Validates and resolves a parsed config object. Every problem is reported, not just the first. */
export function parseConfig(input: unknown): ConfigResult {
  // reportInput: zod 4 leaves issue.input out by default, and hintFor/issueMessage tell "missing" from
  // "wrong type" by it; without it every wrong-type value was reported as "is required".
  const parsed = configSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    return { ok: false, errors: capErrors(parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: issueMessage(i), hint: hintFor(i) }))) };
  }
  return resolve(parsed.data);
}

/** The most problems reported for one config; the rest are counted in a last entry. */
export const MAX_CONFIG_ERRORS = 50;

function capErrors(errors: ConfigError[]): ConfigError[] {
  if (errors.length <= MAX_CONFIG_ERRORS) return errors;
  const rest = errors.length - MAX_CONFIG_ERRORS;
  return [...errors.slice(0, MAX_CONFIG_ERRORS), { path: '(more)', message: `and ${rest} more problem${rest === 1 ? '' : 's'}`, hint: 'fix the ones above first' }];
}

/** The largest gantry.yaml accepted, in characters (a real one is a few kilobytes). */
export const MAX_CONFIG_CHARS = 256 * 1024;
/** The deepest nesting of collections accepted (a real gantry.yaml nests about 6 deep). */
export const MAX_CONFIG_DEPTH = 64;
/** The most aliases a document may resolve (`*a` expansions): bounds "billion laughs" documents. */
export const MAX_CONFIG_ALIASES = 100;

const yamlHint = 'fix the YAML syntax (indentation, quotes, colons)';

/**
 * The deepest nesting in the text, by a linear scan that needs no parser: flow brackets
 * (`[`, `{`; counted even inside quotes, which only makes the bound stricter for odd strings) plus
 * block levels (indentation steps and `- ` sequence entries). Stops counting past `limit`.
 */
export function yamlNestingDepth(text: string, limit = MAX_CONFIG_DEPTH): number {
  let flow = 0;
  let max = 0;
  const indents: number[] = [];
  let lineStart = true;
  let col = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) { lineStart = true; col = 0; continue; }
    if (lineStart) {
      if (c === 32) { col++; continue; }
      lineStart = false;
      if (c !== 35 && c !== 13 && flow === 0) { // not a comment or an empty line; block context only
        while (indents.length && indents[indents.length - 1]! >= col) indents.pop();
        indents.push(col);
        let dashes = 0;
        while (text.charCodeAt(i + 2 * dashes) === 45 && text.charCodeAt(i + 2 * dashes + 1) === 32) dashes++;
        max = Math.max(max, indents.length + dashes);
      }
    }
    if (c === 91 || c === 123) { flow++; max = Math.max(max, indents.length + flow); } else if ((c === 93 || c === 125) && flow > 0) flow--;
    if (max > limit) return max;
  }
  return max;
}

/**
 * Parses gantry.yaml text, then validates it. Bounded before any parsing (size, nesting) and
 * while parsing (aliases), and linear in the size of the text, so a hostile file costs little:
 * duplicate keys are found with one set per map, not the YAML library's pairwise check.
 */
export function parseConfigText(text: string): ConfigResult {
  if (typeof text !== 'string') return { ok: false, errors: [{ path: '(document)', message: 'gantry.yaml must be text', hint: 'send the file as a string' }] };
  if (text.length > MAX_CONFIG_CHARS) {
    return { ok: false, errors: [{ path: '(document)', message: `gantry.yaml is ${Math.ceil(text.length / 1024)} KiB; the limit is ${MAX_CONFIG_CHARS / 1024} KiB`, hint: 'a gantry.yaml describes one app: split very large configs, or remove repeated content' }] };
  }
  const depth = yamlNestingDepth(text);
  if (depth > MAX_CONFIG_DEPTH) {
    return { ok: false, errors: [{ path: '(document)', message: `gantry.yaml nests deeper than ${MAX_CONFIG_DEPTH} levels`, hint: 'a gantry.yaml nests a few levels deep: environments, cells, groups; check the indentation and brackets' }] };
  }
  const lines = new LineCounter();
  let doc: unknown;
  try {
    const parsed = parseDocument(text, { prettyErrors: false, uniqueKeys: false, lineCounter: lines });
    const where = (offset: number | undefined) => {
      if (offset === undefined) return '(document)';
      const p = lines.linePos(offset);
      return `line ${p.line}, column ${p.col}`;
    };
    const first = parsed.errors[0];
    if (first) {
      const message = first.code === 'RESOURCE_EXHAUSTION' ? 'too large to read (nesting or aliases)' : cap(displayLine(first.message.split('\n')[0] ?? ''), 200);
      return { ok: false, errors: [{ path: where(first.pos[0]), message: `not valid YAML: ${message}`, hint: yamlHint }] };
    }
    const dupAt = duplicateKey(parsed);
    if (dupAt) return { ok: false, errors: [{ path: where(dupAt.offset), message: `not valid YAML: the key ${echo(dupAt.key, 60)} is given twice in the same map`, hint: 'give each key once (merge the two entries)' }] };
    doc = parsed.toJS({ maxAliasCount: MAX_CONFIG_ALIASES });
  } catch (err) {
    // toJS throws on too many aliases ("Excessive alias count…") and on aliases to nothing.
    const text = err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err);
    const excessive = /excessive alias/i.test(text);
    const message = err instanceof RangeError ? 'nested too deeply to read' : excessive ? `the aliases expand too far (more than ${MAX_CONFIG_ALIASES} expansions)` : cap(displayLine(text), 200);
    const hint = excessive ? `use at most ${MAX_CONFIG_ALIASES} aliases (*name); write repeated parts out`
      : /alias/i.test(text) ? 'define the anchor (&name) before the alias (*name) that uses it' : yamlHint;
    return { ok: false, errors: [{ path: err instanceof YAMLParseError && err.linePos ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '(document)', message: `not valid YAML: ${message}`, hint }] };
  }
  if (doc === null || doc === undefined) return { ok: false, errors: [{ path: '(document)', message: 'the file is empty', hint: 'start from the example in README.md' }] };
  return parseConfig(doc);
}

/** The first key given twice in one map, in one pass with a set per map (no recursion). */
function duplicateKey(doc: Document): { key: string; offset?: number } | undefined {
  const stack: unknown[] = [doc.contents];
  while (stack.length) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : pair.key === null || pair.key === undefined ? '' : String(pair.key);
        if (seen.has(key)) return { key, ...(isNode(pair.key) && pair.key.range ? { offset: pair.key.range[0] } : {}) };
        seen.add(key);
        stack.push(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return undefined;
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
    // Measurements are matched to checks by position, but people read verdicts by name: one name, one check.
    dup(env.analysis, `${base}.analysis`, 'check');
    const a = env.approvers;
    // The quorum counts people, so a person listed twice must not count twice here either.
    const listed = (list: readonly string[], path: string) => {
      const seen = new Map<string, number>();
      list.forEach((id, i) => {
        const first = seen.get(id);
        if (first !== undefined) errors.push({ path: `${path}[${i}]`, message: `${echo(id, 60)} is listed twice (also ${path}[${first}])`, hint: 'list each approver once: the quorum counts distinct people' });
        else seen.set(id, i);
      });
    };
    listed(a.users, `${base}.approvers.users`);
    listed(a.groups, `${base}.approvers.groups`);
    if (a.escalateTo) {
      listed(a.escalateTo.users, `${base}.approvers.escalateTo.users`);
      listed(a.escalateTo.groups, `${base}.approvers.escalateTo.groups`);
    }
    const people = new Set(a.users).size;
    if (a.required > 1 && people > 0 && a.groups.length === 0 && a.required > people) {
      errors.push({ path: `${base}.approvers.required`, message: `${a.required} approvals required but only ${people} distinct approver${people === 1 ? '' : 's'} listed`, hint: 'list more approvers, add a group, or lower required' });
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
  if (errors.length) return { ok: false, errors: capErrors(errors) };
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
