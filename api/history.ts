// What happened, for people looking back (the console's history, audit, pipelines and calendar views,
// and their JSON routes): every run of a release, the decisions people made, recent pipelines, which
// revision each environment of an app runs, and an environment's release calendar. Reads only:
// visibility lists first, then at most a bounded page of status queries (each bound is named where
// it applies), so no page costs more than its size.
import crypto from 'node:crypto';
import { ActivityFailure, ApplicationFailure, ScheduleNotFoundError, TimeoutFailure, WorkflowFailedError, WorkflowNotFoundError, type WorkflowExecutionInfo } from '@temporalio/client';
import { executionInfoFromRaw } from '@temporalio/client/lib/helpers.js';
import { z } from 'zod';
import type { Action, Channel } from '../core/approval.js';
import { calendarSpans, upcomingFreezes, type CalendarSpan } from '../core/calendar-week.js';
import type { EnvironmentConfig } from '../core/config.js';
import type { ReleaseStatus, Revision } from '../core/release.js';
import { queryLiteral } from '../core/search-attributes.js';
import { calendarState, describeOpening, describeWindow, type ReleaseCalendar } from '../core/windows.js';
import { releaseWorkflowId, statusQuery, type ReleaseMemo } from '../workflows/messages.js';
import { hostTaskQueue, logDirOf, MAX_GATE_LOG_TAIL, type GateLogTail } from '../workflows/gate-log.js';
import { GantryKind, GantryPhase } from '../workflows/search-attributes.js';
import type { TrainInput } from '../workflows/train.js';
import { GantryError } from './errors.js';
import { label } from './input.js';
import type { GantryService } from './service.js';
import { trainScheduleId } from './trains.js';

/** A run's page: at most this many runs, each asked for its status (starter, stop cause, decisions). */
export const MAX_RUNS_PAGE = 50;
/** The audit log reads the decisions of at most this many release runs, newest first. */
export const MAX_AUDIT_RUNS = 200;
export const DEFAULT_AUDIT_RUNS = 50;
/** Status queries in flight at once for one page (a closed run's query replays it on a worker). */
const QUERY_CONCURRENCY = 4;
const QUERY_DEADLINE_MS = 5_000;

export type RunOutcome = 'running' | 'succeeded' | 'rolled-back' | 'failed' | 'terminated' | 'canceled' | 'timed-out' | 'continued-as-new' | 'unknown';

export interface ReleaseRun {
  workflowId: string;
  runId: string;
  app: string;
  environment: string;
  kind: 'release' | 'rollback';
  outcome: RunOutcome;
  startTime: string;
  closeTime?: string;
  durationMs?: number;
  revision?: Revision;
  previous?: Revision;
  /** From the run's status query; absent when no worker answered in time (see `details`). */
  startedBy?: string;
  /** Why it stopped or rolled back (health, analysis, deadline, a person's reject or abort). */
  stop?: { cause: string; reason: string; by?: string };
  reason?: string;
  /** Whether the status query answered (starter, stop and decisions come from it). */
  details: boolean;
  decisions?: ReleaseStatus['decisions'];
}

export interface RunsPage { runs: ReleaseRun[]; nextPageToken?: string }

export interface AuditEntry {
  at: string;
  by: string;
  action: Action | `train:${string}`;
  channel: Channel;
  comment?: string;
  app: string;
  environment: string;
  /** The workflow (release/<app>/<env>) and run the decision went to, or the train's schedule id. */
  release: string;
  runId?: string;
  group?: number;
}

export interface AuditQuery { person?: string; action?: string; app?: string; environment?: string; runs?: number }

export interface AuditLog {
  entries: AuditEntry[];
  /** How many release runs were read, and the bound: older runs' decisions are not in this answer. */
  runsRead: number;
  runsLimit: number;
  /** Runs whose status no worker answered (their decisions are missing). */
  unanswered: number;
}

export interface PipelineRun { workflowId: string; repo: string; sha: string; gatesOnly: boolean; status: string; startTime: string; closeTime?: string }

export interface EnvironmentRow {
  environment: string;
  /** What the environment runs now: the last release that ended well (or, after a rollback, what it went back to). */
  current?: { revision: Revision; since?: string; workflowId: string; runId: string; kind: 'release' | 'rollback' };
  /** A release running now. */
  inFlight?: { revision?: Revision; phase?: string; startTime: string; runId: string };
  last?: { outcome: RunOutcome; closeTime?: string };
}

export interface CalendarView {
  app: string;
  environment: string;
  /** Where the calendar was read: the newest release's memo, else the train's stored config. */
  source: 'release' | 'train' | 'none';
  /** The zone the environment's times are written in (the calendar's, else its first window's, else UTC). */
  timeZone: string;
  configured: boolean;
  open: boolean;
  reason: string;
  opensAt?: string;
  closesAt?: string;
  opensAtText?: string;
  closesAtText?: string;
  windows: string[];
  spans: { start: string; end: string; open: boolean; freeze?: string }[];
  freezes: { from: string; to: string; reason: string; start: string; end: string; active: boolean }[];
  from: string;
  to: string;
}

const iso = (ms: number) => new Date(ms).toISOString();
const memoOf = (w: WorkflowExecutionInfo) => (w.memo ?? {}) as Partial<ReleaseMemo>;

function outcomeOf(w: WorkflowExecutionInfo): RunOutcome {
  const m = memoOf(w);
  switch (w.status.name) {
    case 'RUNNING': return 'running';
    case 'COMPLETED': return m.outcome ?? 'succeeded';
    case 'FAILED': return m.outcome === 'rolled-back' ? 'rolled-back' : 'failed';
    case 'TERMINATED': return 'terminated';
    case 'CANCELLED': return 'canceled';
    case 'TIMED_OUT': return 'timed-out';
    case 'CONTINUED_AS_NEW': return 'continued-as-new';
    default: return 'unknown';
  }
}

/** Runs `fn` over `items`, at most `n` at a time, in order. */
async function mapLimit<T, R>(items: readonly T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]!); }
  }));
  return out;
}

/** A page token is the server's, base64url: anything else is a client error, said as one. */
function tokenBytes(token: string | undefined): Buffer | undefined {
  if (token === undefined || token === '') return undefined;
  if (!/^[A-Za-z0-9_-]{1,4096}$/.test(token)) throw new GantryError('bad_request', 'invalid page token', [{ path: 'pageToken', message: 'not a page token', hint: 'pass nextPageToken from the previous page as it was given' }]);
  return Buffer.from(token, 'base64url');
}

export class HistoryReader {
  constructor(private readonly service: GantryService) {}

  private get client() { return this.service.client; }

  /** One visibility page, decoded (memo, search attributes) as the SDK's own list decodes it. */
  private async page(query: string, pageSize: number, pageToken?: string): Promise<{ items: WorkflowExecutionInfo[]; nextPageToken?: string }> {
    const namespace = this.client.options.namespace;
    const nextPageToken = tokenBytes(pageToken);
    const res = await this.client.workflowService.listWorkflowExecutions({ namespace, query, pageSize, ...(nextPageToken ? { nextPageToken } : {}) }).catch((err: unknown) => {
      // A token from another query (or a stale one) is refused by the server as INVALID_ARGUMENT.
      if ((err as { code?: unknown }).code === 3 && nextPageToken) throw new GantryError('bad_request', 'the page token does not belong to this list', [{ path: 'pageToken', message: 'refused by Temporal', hint: 'start again from the first page' }]);
      throw err;
    });
    const items = await Promise.all((res.executions ?? []).map((raw) => executionInfoFromRaw(raw, this.client.options.loadedDataConverter, raw, namespace)));
    const token = res.nextPageToken && res.nextPageToken.length > 0 ? Buffer.from(res.nextPageToken).toString('base64url') : undefined;
    return { items: items as WorkflowExecutionInfo[], ...(token ? { nextPageToken: token } : {}) };
  }

  /** The status of one run (closed runs too: a worker replays it), or undefined when none answers in time. */
  private async runStatus(workflowId: string, runId: string): Promise<ReleaseStatus | undefined> {
    const handle = this.client.workflow.getHandle(workflowId, runId);
    return this.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(statusQuery, { events: 0 })).catch(() => undefined);
  }

  private async toRun(w: WorkflowExecutionInfo, withDetails: boolean): Promise<ReleaseRun> {
    const m = memoOf(w);
    const [, app = '?', environment = '?'] = /^release\/([^/]+)\/([^/]+)$/.exec(w.workflowId) ?? [];
    const kind = w.typedSearchAttributes.get(GantryKind) === 'rollback' ? 'rollback' : 'release';
    const s = withDetails ? await this.runStatus(w.workflowId, w.runId) : undefined;
    const run: ReleaseRun = {
      workflowId: w.workflowId, runId: w.runId, app: m.app ?? app, environment: m.environment?.name ?? environment,
      kind: s?.kind ?? kind, outcome: outcomeOf(w), startTime: w.startTime.toISOString(),
      ...(w.closeTime ? { closeTime: w.closeTime.toISOString(), durationMs: w.closeTime.getTime() - w.startTime.getTime() } : {}),
      ...(m.revision ? { revision: m.revision } : s ? { revision: s.revision } : {}),
      ...(m.previous ? { previous: m.previous } : s?.previous ? { previous: s.previous } : {}),
      details: !!s,
    };
    if (s) {
      run.startedBy = s.startedBy;
      if (s.stop) run.stop = { cause: s.stop.cause, reason: s.stop.reason, ...(s.stop.by ? { by: s.stop.by } : {}) };
      if (s.outcome) run.reason = s.outcome.reason;
      run.decisions = s.decisions;
    }
    return run;
  }

  /**
   * Every run of release/<app>/<env>, newest first, a page at a time (Temporal's own page token).
   * Each run on the page is asked for its status (starter, stop cause), QUERY_CONCURRENCY at a time.
   */
  async runs(app: string, environment: string, opts: { pageSize?: number; pageToken?: string } = {}): Promise<RunsPage> {
    const pageSize = Math.min(Math.max(1, opts.pageSize ?? 20), MAX_RUNS_PAGE);
    const { items, nextPageToken } = await this.page(`WorkflowId = ${queryLiteral(releaseWorkflowId(app, environment))}`, pageSize, opts.pageToken);
    const runs = await mapLimit(items, QUERY_CONCURRENCY, (w) => this.toRun(w, true));
    return { runs, ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /**
   * The decisions people made, newest first: those of the newest `runs` release runs (default
   * DEFAULT_AUDIT_RUNS, at most MAX_AUDIT_RUNS; narrowed to an app or environment first, an
   * environment alone among at most ten times that many runs), one status query each, plus the audit
   * trail each release train keeps (create, change, trigger, pause). A rollback of a finished release
   * is a new run (kind rollback) whose starter is shown in the runs list, not a decision here.
   */
  async audit(q: AuditQuery = {}): Promise<AuditLog> {
    const runsLimit = Math.min(Math.max(1, q.runs ?? DEFAULT_AUDIT_RUNS), MAX_AUDIT_RUNS);
    const where = q.app && q.environment ? ` AND WorkflowId = ${queryLiteral(releaseWorkflowId(q.app, q.environment))}`
      : q.app ? ` AND WorkflowId STARTS_WITH ${queryLiteral(`release/${q.app}/`)}` : '';
    const listed: WorkflowExecutionInfo[] = [];
    let token: string | undefined;
    // Narrowing by environment alone happens here, so the runs looked at are bounded too.
    let scanned = 0;
    do {
      const p = await this.page(`WorkflowType = 'release'${where}`, Math.min(100, runsLimit * (q.environment && !q.app ? 4 : 1)), token);
      scanned += p.items.length;
      for (const w of p.items) {
        // Without an app the environment is narrowed here (the workflow id starts with the app).
        if (q.environment && !q.app && !w.workflowId.endsWith(`/${q.environment}`)) continue;
        if (listed.length < runsLimit) listed.push(w);
      }
      token = p.nextPageToken;
    } while (token && listed.length < runsLimit && scanned < runsLimit * 10);
    const runs = await mapLimit(listed, QUERY_CONCURRENCY, (w) => this.toRun(w, true));
    const entries: AuditEntry[] = [];
    for (const r of runs) {
      for (const d of r.decisions ?? []) {
        entries.push({ at: d.at, by: d.by, action: d.action, channel: d.channel, ...(d.comment ? { comment: d.comment } : {}), app: r.app, environment: r.environment, release: r.workflowId, runId: r.runId, ...(d.group !== undefined ? { group: d.group } : {}) });
      }
    }
    for await (const s of this.client.schedule.list()) {
      const [kind, app, environment] = s.scheduleId.split('/');
      if (kind !== 'train' || !app || !environment) continue;
      if ((q.app && app !== q.app) || (q.environment && environment !== q.environment)) continue;
      const input = await this.trainInput(app, environment);
      for (const e of input?.audit ?? []) entries.push({ at: e.at, by: e.by, action: `train:${e.action}`, channel: e.channel, app, environment, release: s.scheduleId });
    }
    const kept = entries
      .filter((e) => (!q.person || e.by === q.person) && (!q.action || e.action === q.action || e.action === `train:${q.action}`))
      .sort((a, b) => b.at.localeCompare(a.at));
    return { entries: kept, runsRead: runs.length, runsLimit, unanswered: runs.filter((r) => !r.details).length };
  }

  /** The newest pipelines (and gates-only runs), one visibility list. */
  async pipelines(limit = 50): Promise<PipelineRun[]> {
    const { items } = await this.page(`WorkflowType = 'pipeline'`, Math.min(Math.max(1, limit), 200));
    return items.map((w) => {
      const m = /^(pipeline|gates)\/(.+)\/([^/]+)$/.exec(w.workflowId);
      return {
        workflowId: w.workflowId, repo: m?.[2] ?? '?', sha: m?.[3] ?? '?', gatesOnly: m?.[1] === 'gates',
        status: w.status.name.toLowerCase(), startTime: w.startTime.toISOString(), ...(w.closeTime ? { closeTime: w.closeTime.toISOString() } : {}),
      };
    });
  }

  /**
   * Per environment of an app: the revision it runs now and the release in flight, from the newest
   * 200 release runs of the app (one visibility list; revisions from the memo, no queries).
   */
  async environments(app: string): Promise<EnvironmentRow[]> {
    const rows = new Map<string, EnvironmentRow>();
    let token: string | undefined;
    let seen = 0;
    do {
      const p = await this.page(`WorkflowId STARTS_WITH ${queryLiteral(`release/${app}/`)}`, 100, token);
      for (const w of p.items) {
        seen++;
        const m = memoOf(w);
        const env = m.environment?.name ?? w.workflowId.split('/')[2] ?? '?';
        const row = rows.get(env) ?? { environment: env };
        rows.set(env, row);
        const outcome = outcomeOf(w);
        const kind = w.typedSearchAttributes.get(GantryKind) === 'rollback' ? 'rollback' : 'release';
        if (outcome === 'running') {
          const phase = w.typedSearchAttributes.get(GantryPhase);
          if (!row.inFlight) row.inFlight = { ...(m.revision ? { revision: m.revision } : {}), ...(phase ? { phase } : {}), startTime: w.startTime.toISOString(), runId: w.runId };
          continue;
        }
        if (!row.last) row.last = { outcome, ...(w.closeTime ? { closeTime: w.closeTime.toISOString() } : {}) };
        if (row.current) continue;
        const since = w.closeTime?.toISOString();
        // A succeeded run put its revision there; a rolled-back one left (went back to) its previous.
        const revision = outcome === 'succeeded' ? m.revision : outcome === 'rolled-back' ? m.previous : undefined;
        if (revision) row.current = { revision, ...(since ? { since } : {}), workflowId: w.workflowId, runId: w.runId, kind };
      }
      token = p.nextPageToken;
    } while (token && seen < 200);
    return [...rows.values()].sort((a, b) => a.environment.localeCompare(b.environment));
  }

  /**
   * The tail (at most MAX_GATE_LOG_TAIL bytes) of a gate's log, read on the worker host that wrote it:
   * the readGateLog workflow runs one activity on that host's own queue (workflows/gate-log.ts). A
   * host no worker polls any more answers within 10 s that the log cannot be reached.
   */
  async gateLog(repo: string, sha: string, gate: string, opts: { gatesOnly?: boolean; maxBytes?: number } = {}): Promise<GateLogTail & { path: string; gate: string }> {
    const p = await this.service.pipelineStatus(repo, sha, opts.gatesOnly ? { gatesOnly: true } : {});
    const g = p.gates?.find((x) => x.name === gate);
    if (!g) throw new GantryError('not_found', `the pipeline of ${repo}@${sha} has no gate ${gate}`, [], `its gates: ${(p.gates ?? []).map((x) => x.name).join(', ') || 'none'}`);
    if (!g.log) throw new GantryError('not_found', `gate ${gate} has no log yet (${g.state})`, [], 'a gate has a log once it has run');
    await this.service.ensureWorker(this.service.taskQueue);
    const queue = hostTaskQueue(this.service.buildTaskQueue, g.log.host, logDirOf(g.log.path));
    try {
      const tail = await this.client.workflow.execute('readGateLog', {
        taskQueue: this.service.taskQueue, workflowId: `gate-log/${crypto.randomUUID()}`, workflowExecutionTimeout: '30s',
        args: [{ queue, path: g.log.path, maxBytes: Math.min(opts.maxBytes ?? MAX_GATE_LOG_TAIL, MAX_GATE_LOG_TAIL) }],
      }) as GateLogTail;
      return { ...tail, path: g.log.path, gate };
    } catch (err) {
      const cause = err instanceof WorkflowFailedError && err.cause instanceof ActivityFailure ? err.cause.cause : undefined;
      if (cause instanceof TimeoutFailure) {
        throw new GantryError('unavailable', `no worker on ${g.log.host} answered (task queue ${queue}): the log is on that host's disk at ${g.log.path}`, [], 'the worker that ran the gate is gone or not polling its host queue; read the file on that host if it still exists');
      }
      if (cause instanceof ApplicationFailure) throw new GantryError('not_found', cause.message, [], `read it on ${g.log.host} at ${g.log.path} if it still exists`);
      throw err;
    }
  }

  private async trainInput(app: string, environment: string): Promise<TrainInput | undefined> {
    try {
      const d = await this.client.schedule.getHandle(trainScheduleId(app, environment)).describe();
      return d.action.type === 'startWorkflow' ? d.action.args?.[0] as TrainInput | undefined : undefined;
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return undefined;
      throw err;
    }
  }

  /** The environment's config as Gantry last saw it: the newest release's memo, else the train's stored input. */
  async environmentConfig(app: string, environment: string): Promise<{ source: 'release' | 'train'; env: EnvironmentConfig } | undefined> {
    const memo = await this.client.workflow.getHandle(releaseWorkflowId(app, environment)).describe()
      .then((d) => (d.memo ?? {}) as Partial<ReleaseMemo>)
      .catch((err: unknown) => { if (err instanceof WorkflowNotFoundError) return undefined; throw err; });
    if (memo?.environment?.name === environment) return { source: 'release', env: memo.environment };
    const input = await this.trainInput(app, environment);
    if (input?.environment?.name === environment) return { source: 'train', env: input.environment };
    return undefined;
  }

  /** The environment's week ahead (from `now`, `days` days): windows minus freezes, and what that means now. */
  async calendar(app: string, environment: string, now: number, days = 7): Promise<CalendarView> {
    const found = await this.environmentConfig(app, environment);
    if (!found) throw new GantryError('not_found', `Gantry has seen no release or train of ${app} to ${environment}`, [], 'the calendar is read from the newest release (or the release train) of that environment: start one first');
    return calendarView(app, environment, found.source, found.env.calendar, now, days);
  }

  /** The app and environment pairs that have releases (newest runs first) or trains, at most `limit`. */
  async knownEnvironments(limit = 50): Promise<{ app: string; environment: string }[]> {
    const seen = new Map<string, { app: string; environment: string }>();
    const { items } = await this.page(`WorkflowType = 'release'`, 200);
    for (const w of items) {
      const m = /^release\/([^/]+)\/([^/]+)$/.exec(w.workflowId);
      if (m && seen.size < limit) seen.set(w.workflowId, { app: m[1]!, environment: m[2]! });
    }
    for await (const s of this.client.schedule.list()) {
      const [kind, app, environment] = s.scheduleId.split('/');
      if (kind === 'train' && app && environment && seen.size < limit) seen.set(releaseWorkflowId(app, environment), { app, environment });
    }
    return [...seen.values()].sort((a, b) => `${a.app}/${a.environment}`.localeCompare(`${b.app}/${b.environment}`));
  }
}

/** The calendar of one environment as the views show it. Pure over core/windows.ts. */
export function calendarView(app: string, environment: string, source: CalendarView['source'], cal: ReleaseCalendar | undefined, now: number, days = 7): CalendarView {
  const c: ReleaseCalendar = cal ?? { windows: [], freezes: [] };
  const timeZone = c.timeZone ?? c.windows[0]?.timeZone ?? 'UTC';
  const to = now + days * 86_400_000;
  const st = calendarState(c, now);
  const spans: CalendarSpan[] = calendarSpans(c, now, to);
  return {
    app, environment, source, timeZone, configured: !!cal && (c.windows.length > 0 || c.freezes.length > 0),
    open: st.open, reason: st.reason,
    ...(st.opensAt !== undefined ? { opensAt: iso(st.opensAt), opensAtText: describeOpening(st.opensAt, timeZone) } : {}),
    ...(st.closesAt !== undefined ? { closesAt: iso(st.closesAt), closesAtText: describeOpening(st.closesAt, timeZone) } : {}),
    windows: c.windows.map(describeWindow),
    spans: spans.map((s) => ({ start: iso(s.start), end: iso(s.end), open: s.open, ...(s.freeze ? { freeze: s.freeze } : {}) })),
    freezes: upcomingFreezes(c, now).map((f) => ({ from: f.freeze.from, to: f.freeze.to, reason: f.freeze.reason, start: iso(f.start), end: iso(f.end), active: f.active })),
    from: iso(now), to: iso(to),
  };
}

// ---------------------------------------------------------------------------------------------
// JSON routes

export const runsQuery = z.object({ pageToken: z.string().max(4096).optional(), pageSize: z.coerce.number().int().min(1).max(MAX_RUNS_PAGE).optional() });
const person = z.string().min(1).max(200).regex(/^[^\s\p{Cc}]+$/u, { error: 'person must be an identity id (no spaces)' });
export const auditQuery = z.object({
  person: person.optional(),
  action: z.string().min(1).max(40).regex(/^[a-z:]+$/, { error: 'action must be a decision such as approve, or train:trigger' }).optional(),
  app: label('app').optional(),
  env: label('environment').optional(),
  runs: z.coerce.number().int().min(1).max(MAX_AUDIT_RUNS).optional(),
});
export const calendarQuery = z.object({ days: z.coerce.number().int().min(1).max(31).optional() });

/** The audit query parameters (person, action, app, env, runs) as the reader takes them. */
export function auditFilters(q: z.infer<typeof auditQuery>): AuditQuery {
  return { ...(q.person ? { person: q.person } : {}), ...(q.action ? { action: q.action } : {}), ...(q.app ? { app: q.app } : {}), ...(q.env ? { environment: q.env } : {}), ...(q.runs ? { runs: q.runs } : {}) };
}

const CSV_COLUMNS = ['at', 'by', 'action', 'channel', 'app', 'environment', 'release', 'runId', 'group', 'comment'] as const;

/** RFC 4180 CSV; a cell that a spreadsheet would run as a formula (=, +, -, @, tab, CR) is prefixed with '. */
export function auditCsv(entries: readonly AuditEntry[]): string {
  const cell = (v: unknown) => {
    let s = v === undefined ? '' : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [CSV_COLUMNS.join(','), ...entries.map((e) => CSV_COLUMNS.map((c) => cell(e[c])).join(','))].join('\r\n') + '\r\n';
}
