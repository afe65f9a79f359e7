// The gantry CLI. Everything but `config validate|schema` goes through the HTTP API (never straight
// to Temporal), authenticated with $GANTRY_TOKEN, so the CLI is just another client with the same
// rules as the rest: the server decides who may do what.
//
//   gantry config validate [-f gantry.yaml]        gantry config schema
//   gantry release start -e <env> --digest sha256:… [-f gantry.yaml] [--sha …] [--author …] [--watch]
//   gantry release list | status <app> <env> [--json] | history <app> <env> | watch <app> <env>
//   gantry approve|reject|pause|resume|promote|abort|rollback|override <app> <env> [-m comment]
//   gantry pipeline start --repo … --sha … (--digest … | --source <git url>) [-f gantry.yaml]   gantry pipeline status --repo … --sha …
//   gantry hook post-receive [--repo name]   (a git server's post-receive hook: cli/hook.ts)
//
// A terminal never receives raw control or bidi characters from a release's data (names, reasons,
// comments, events, errors — any of which may come from someone else's input): every value printed
// is shown with core/text.ts (displayLine: escaped and on one line, so a comment cannot forge a line of
// the audit trail), `--json` escapes them as JSON \uXXXX escapes (jsonText), and everything written
// to stdout and stderr passes displayText as a last guard. Error texts from the server are capped.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import type { ErrorDetail } from '../core/errors.js';
import type { ReleaseStatus } from '../core/release.js';
import type { PipelineStatus } from '../core/pipeline.js';
import { cap, displayLine, displayText, jsonText } from '../core/text.js';
import { parseDuration } from '../core/duration.js';
import { registerHookCommands } from './hook.js';

export const DEFAULT_API = 'http://127.0.0.1:8080';
const ACTIONS = ['approve', 'reject', 'pause', 'resume', 'promote', 'abort', 'rollback', 'override'] as const;
const FINAL = new Set(['succeeded', 'rolled-back', 'failed']);

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
  fetch: typeof fetch;
  sleep(ms: number): Promise<void>;
  now(): Date;
  /** stdout is a terminal: `release watch` redraws in place. Default: process.stdout.isTTY. */
  isTTY?: boolean;
  /** Raw terminal output for cursor moves and colors only (never for data). Default: process.stdout. */
  term?: (text: string) => void;
}

/** Output that shows safely: displayText on everything written (idempotent). */
function safeIO(io: CliIO): CliIO {
  return { ...io, stdout: (t) => io.stdout(displayText(t)), stderr: (t) => io.stderr(displayText(t)) };
}

/** A value from the server or the user, shown on one line with controls escaped. */
const l = (v: string | number | undefined | null): string => displayLine(v === undefined || v === null ? '' : String(v));
/** Caps for the texts of an error from the server (its details are listed at most MAX_ERROR_DETAILS). */
const ERROR_TEXT_LIMIT = 1000;
const MAX_ERROR_DETAILS = 50;

function defaultIO(): CliIO {
  return {
    stdout: (t) => { process.stdout.write(t); },
    stderr: (t) => { process.stderr.write(t); },
    env: process.env,
    cwd: process.cwd(),
    fetch: (...args) => fetch(...args),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => new Date(),
    isTTY: !!process.stdout.isTTY,
    term: (t) => { process.stdout.write(t); },
  };
}

// ---------------------------------------------------------------------------------------------
// Errors: everything the user should read ends up as a CliError (message, hint, details).

/** An error detail as the API sends it (core/errors.ts); the hint is optional on the wire. */
type Detail = Omit<ErrorDetail, 'hint'> & Partial<Pick<ErrorDetail, 'hint'>>;

export class CliError extends Error {
  constructor(message: string, readonly hint?: string, readonly details: Detail[] = [], readonly status?: number) {
    super(message);
    this.name = 'CliError';
  }
}

function formatError(err: CliError): string {
  const t = (v: unknown, limit = ERROR_TEXT_LIMIT) => cap(l(typeof v === 'string' ? v : String(v)), limit);
  const lines = [`error: ${t(err.message)}`];
  const details = Array.isArray(err.details) ? err.details : [];
  for (const d of details.slice(0, MAX_ERROR_DETAILS)) lines.push(`  ${t(d?.path, 200)}: ${t(d?.message, 500)}${d?.hint ? `\n    hint: ${t(d.hint, 500)}` : ''}`);
  if (details.length > MAX_ERROR_DETAILS) lines.push(`  … and ${details.length - MAX_ERROR_DETAILS} more`);
  if (err.hint) lines.push(`hint: ${t(err.hint)}`);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// The API client

interface ApiErrorBody { error?: string; message?: string; hint?: string; details?: Detail[]; requestId?: string }

class Api {
  constructor(private readonly base: string, private readonly token: string | undefined, private readonly io: CliIO) {}

  async request<T>(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; body: T }> {
    const url = `${this.base}${route}`;
    const headers: Record<string, string> = { accept: 'application/json', 'x-gantry-channel': 'cli' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.io.fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000}s` : cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CliError(`cannot reach the Gantry API at ${this.base} (${why})`,
        'start it with `npm start` (worker and API) or `npm run api`, or point --api / GANTRY_API at a running Gantry API', [], 0);
    }
    const raw = await res.text();
    return this.answer<T>(method, route, res, raw);
  }

  /** Opens a server-sent event stream (no deadline: it lasts as long as the release); throws on an HTTP error. */
  async stream(route: string, lastEventId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/event-stream', 'x-gantry-channel': 'cli' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    let res: Response;
    try {
      res = await this.io.fetch(`${this.base}${route}`, { method: 'GET', headers, signal });
    } catch (err) {
      if (signal.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach the Gantry API at ${this.base} (${cause?.code ?? cause?.message ?? (err as Error).message})`,
        'start it with `npm start` (worker and API) or `npm run api`, or point --api / GANTRY_API at a running Gantry API', [], 0);
    }
    if (res.ok) return res;
    this.answer('GET', route, res, await res.text());
    return res;
  }

  private answer<T>(method: string, route: string, res: Response, raw: string): { status: number; body: T } {
    let parsed: unknown;
    try { parsed = raw ? JSON.parse(raw) : undefined; } catch { parsed = undefined; }
    if (!res.ok) {
      const e = (parsed ?? {}) as ApiErrorBody;
      let hint = e.hint;
      if (res.status === 401 && !this.token) hint = 'GANTRY_TOKEN is not set: export GANTRY_TOKEN=<your API token>';
      if (e.requestId) hint = `${hint ? `${hint}; ` : ''}request id ${e.requestId}`;
      const message = typeof e.message === 'string' ? e.message : `${method} ${route}: HTTP ${res.status}${raw ? `: ${raw.slice(0, 200)}` : ''}`;
      throw new CliError(message, typeof hint === 'string' ? hint : undefined, Array.isArray(e.details) ? e.details : [], res.status);
    }
    return { status: res.status, body: parsed as T };
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

const seg = (s: string) => encodeURIComponent(s);
const short = (d?: string) => (d && d.startsWith('sha256:') ? `${d.slice(0, 19)}…` : d);

function revisionText(r: ReleaseStatus['revision'] | undefined): string {
  if (!r) return '-';
  const extra = [r.sha ? `sha ${l(r.sha)}` : '', r.author ? `author ${l(r.author)}` : ''].filter(Boolean).join(', ');
  return `${l(r.image)}${r.digest ? `@${l(short(r.digest))}` : ''}${extra ? ` (${extra})` : ''}`;
}

function cellsText(s: ReleaseStatus): string {
  return s.cells.map((c) => `${l(c.cell)} ${l(c.canary)}/${l(c.replicas)} new`).join(', ');
}

function groupText(s: ReleaseStatus): string {
  const named = s.group.name && !/^group \d+$/.test(s.group.name) ? ` (${l(s.group.name)})` : '';
  return `group ${l(s.group.current)}/${l(s.group.of)}${named}`;
}

/** The command that moves a waiting release on, when a person is needed. */
/**
 * One line: what the caller may do now (the API's allowedActions, by the workflow's policy), and why
 * not, when the action the release waits for is refused to them.
 */
export function yourActions(s: ReleaseStatus): string | undefined {
  const a = s.allowedActions;
  if (!a) return undefined;
  const may = Object.entries(a).filter(([, v]) => v.allowed).map(([k, v]) => (v.reason ? `${k} (${l(v.reason)})` : k));
  const awaited = s.waiting?.on === 'approval' ? 'approve' : s.waiting?.on === 'window' ? 'override' : s.waiting?.on === 'resume' ? 'resume' : undefined;
  const refused = awaited && !a[awaited].allowed ? `; not ${awaited}: ${l(a[awaited].reason ?? 'refused')}` : '';
  return `${may.length ? may.join(', ') : 'nothing now'}${refused}`;
}

function nextCommand(s: ReleaseStatus): string | undefined {
  const target = `${l(s.app)} ${l(s.environment)}`;
  if (s.phase === 'waiting-approval') return `gantry approve ${target}   (or: gantry reject ${target})`;
  if (s.phase === 'paused') return `gantry resume ${target}`;
  if (s.phase === 'waiting' && s.waiting?.who.includes('promote')) return `gantry promote ${target}   (to skip the wait)`;
  return undefined;
}

export function progressLine(s: ReleaseStatus, at: Date): string {
  const why = s.waiting ? `${l(s.waiting.reason)}${s.waiting.who ? ` (${l(s.waiting.who)})` : ''}` : l(s.summary);
  return `[${at.toTimeString().slice(0, 8)}] ${groupText(s)} ${cellsText(s)} — ${l(s.phase)}: ${why}`;
}

function time(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? l(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function table(cells: string[][]): string {
  const rows = cells.map((r) => r.map((c) => l(c)));
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

export function statusText(s: ReleaseStatus): string {
  const out = [`${s.kind === 'rollback' ? 'rollback of ' : ''}${l(s.app)} → ${l(s.environment)}: ${l(s.phase)}`, `  ${l(s.summary)}`];
  out.push(`  revision   ${revisionText(s.revision)}`);
  if (s.previous) out.push(`  previous   ${revisionText(s.previous)}`);
  out.push(`  started    ${time(s.startedAt)} by ${l(s.startedBy)}`);
  out.push(`  progress   ${groupText(s)}: ${cellsText(s)}`);
  if (s.waiting) {
    out.push(`  waiting    on ${l(s.waiting.on)} since ${time(s.waiting.since)}${s.waiting.until ? ` (until ${time(s.waiting.until)})` : ''}: ${l(s.waiting.reason)}`);
    out.push(`             ${l(s.waiting.who)}`);
  }
  const next = nextCommand(s);
  if (next) out.push(`  next       ${next}`);
  const yours = yourActions(s);
  if (yours) out.push(`  you may    ${yours}`);
  if (s.analysis) out.push(`  analysis   ${l(s.analysis.verdict)}`);
  if (s.stop) out.push(`  stopped    ${l(s.stop.cause)}: ${l(s.stop.reason)}`);
  if (s.outcome) out.push(`  outcome    ${l(s.outcome.result)} at ${time(s.outcome.at)}: ${l(s.outcome.reason)}`);
  const hint = s.outcome?.hint ?? s.stop?.hint;
  if (hint) out.push(`  hint       ${l(hint)}`);
  if (s.decisions.length) {
    out.push('  decisions');
    for (const d of s.decisions) out.push(`    ${time(d.at)}  ${l(d.action)} by ${l(d.by)} via ${l(d.channel)}${d.comment ? `: ${l(d.comment)}` : ''}`);
  }
  if (s.events.length) {
    out.push('  recent events');
    for (const e of s.events) out.push(`    ${time(e.at)}  ${l(e.message)}`);
  }
  return `${out.join('\n')}\n`;
}

function releaseTarget(workflowId: string): { app: string; env: string } | undefined {
  const m = /^release\/([^/]+)\/([^/]+)$/.exec(workflowId);
  return m ? { app: m[1]!, env: m[2]! } : undefined;
}

// ---------------------------------------------------------------------------------------------

interface Started { workflowId: string; runId: string; existing: boolean }
interface Listed { workflowId: string; app: string; environment: string; status: string; phase?: string; summary?: string; startTime: string; closeTime?: string }
interface History { app: string; environment: string; phase: string; summary: string; decisions: ReleaseStatus['decisions']; events: ReleaseStatus['events'] }

function readFile(io: CliIO, file: string): string {
  const full = path.resolve(io.cwd, file);
  try {
    return fs.readFileSync(full, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${file} (${code ?? String(err)})`, code === 'ENOENT' ? `run gantry in the application's repository, or pass -f <path to gantry.yaml>` : undefined);
  }
}

// --- release watch ------------------------------------------------------------------------------
// Follows GET /v1/releases/:app/:env/stream (server-sent events: the status when it changed, `end` with
// the final status); falls back to polling the status when the API has no stream route (404/405 or not
// an event stream: an older API) and reconnects (Last-Event-ID) when a stream breaks. On a terminal the
// view is redrawn in place; otherwise (pipes, CI logs) it prints a line per change, as it always did.

interface WatchOptions { intervalMs: number; timeoutMs?: number }

/** Shows statuses as they come: a line per change (pipes), or one block redrawn in place (terminals). */
class WatchView {
  private lastKey = '';
  private readonly seen = new Set<string>();
  private first = true;
  private drawn = 0;
  private readonly tty: boolean;
  private readonly color: boolean;

  constructor(private readonly io: CliIO) {
    this.tty = !!io.isTTY && !!io.term;
    // NO_COLOR (no-color.org): present and not empty turns colors off.
    this.color = this.tty && !io.env.NO_COLOR;
  }

  private paint(code: string, text: string): string {
    return this.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }

  private colorOf(phase: string): string {
    if (phase === 'succeeded') return '32';
    if (phase === 'failed' || phase === 'rolled-back' || phase === 'rolling-back') return '31';
    if (phase.startsWith('waiting') || phase === 'paused') return '33';
    return '36';
  }

  /** Shows one status; returns the exit code when the release ended. */
  show(s: ReleaseStatus): number | undefined {
    const now = this.io.now();
    if (this.tty) this.redraw(s, now);
    else this.lines(s, now);
    if (!FINAL.has(s.phase)) return undefined;
    const mark = s.phase === 'succeeded' ? '✓' : '✗';
    this.drawn = 0;
    this.write(this.paint(this.colorOf(s.phase), mark), ` ${l(s.app)} → ${l(s.environment)} ${l(s.summary)}\n`);
    return s.phase === 'succeeded' ? 0 : 1;
  }

  /** A colored prefix (raw control sequences only on a terminal) and escaped text. */
  private write(prefix: string, text: string): void {
    if (this.color) { this.io.term!(prefix); this.io.stdout(text); } else this.io.stdout(`${prefix}${text}`);
  }

  private lines(s: ReleaseStatus, now: Date): void {
    for (const e of s.events) {
      const k = `${e.at}|${e.type}|${e.message}`;
      if (this.seen.has(k)) continue;
      this.seen.add(k);
      if (!this.first) this.io.stdout(`[${now.toTimeString().slice(0, 8)}]   · ${l(e.message)}\n`);
    }
    this.first = false;
    const key = JSON.stringify([s.phase, s.group, s.cells, s.waiting ? [s.waiting.on, s.waiting.reason, s.waiting.who] : null]);
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.io.stdout(`${progressLine(s, now)}\n`);
      const next = nextCommand(s);
      if (next) this.io.stdout(`           → ${next}\n`);
    }
  }

  private redraw(s: ReleaseStatus, now: Date): void {
    // Each row: a raw part (colors only: control sequences never come from the server) and escaped text.
    const rows: [string, string][] = [
      [this.paint('1', `${l(s.app)} → ${l(s.environment)}`), `  ${l(s.kind)} of ${revisionText(s.revision)}`],
      [`  phase:    ${this.paint(this.colorOf(s.phase), l(s.phase))}`, `   (${now.toTimeString().slice(0, 8)})`],
      ['', `  progress: ${groupText(s)} ${cellsText(s)}`],
      ['', `  ${s.waiting ? `${l(s.waiting.reason)}${s.waiting.who ? ` (${l(s.waiting.who)})` : ''}` : l(s.summary)}`],
    ];
    const next = nextCommand(s);
    if (next) rows.push(['', `  next:     ${next}`]);
    if (s.events.length) rows.push(['', '  events:']);
    for (const e of s.events.slice(-8)) rows.push(['', `    ${time(e.at)}  ${l(e.message)}`]);
    // Move up over the last drawing and clear it, then draw again.
    if (this.drawn > 0) this.io.term!(`\u001b[${this.drawn}F\u001b[J`);
    for (const [raw, text] of rows) {
      if (raw) this.write(raw, `${cap(text, 200)}\n`);
      else this.io.stdout(`${cap(text, 200)}\n`);
    }
    this.drawn = rows.length;
  }
}

/** Server-sent events from a response body: each event's name, id and data (a small parser of the spec's fields). */
async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; id?: string; data: string }> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'event') event = v;
        else if (field === 'id') id = v;
        else if (field === 'data') data.push(v);
      }
      if (data.length) yield { event, ...(id !== undefined ? { id } : {}), data: data.join('\n') };
    }
  }
}

async function watch(api: Api, io: CliIO, app: string, env: string, opts: WatchOptions): Promise<number> {
  const view = new WatchView(io);
  const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : undefined;
  const timeout = new AbortController();
  const timer = opts.timeoutMs !== undefined ? setTimeout(() => timeout.abort(), opts.timeoutMs) : undefined;
  let last: ReleaseStatus | undefined;
  const timedOut = () => new CliError(`timed out after ${opts.timeoutMs! / 1000} s watching ${l(app)} → ${l(env)}${last ? ` (still ${l(last.phase)}: ${l(last.summary)})` : ''}`,
    'the release goes on without the watch; raise --timeout, or look again with: gantry release watch / gantry release status');
  try {
    const streamed = await watchStream(api, io, app, env, view, timeout.signal, (s) => { last = s; });
    if (streamed !== 'unsupported') return streamed;
    return await watchPolling(api, io, app, env, view, opts.intervalMs, deadline, (s) => { last = s; });
  } catch (err) {
    if (timeout.signal.aborted) throw timedOut();
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
  }

  async function watchPolling(api: Api, io: CliIO, app: string, env: string, view: WatchView, intervalMs: number, deadline: number | undefined, seen: (s: ReleaseStatus) => void): Promise<number> {
    let failures = 0;
    for (;;) {
      if (deadline !== undefined && Date.now() >= deadline) throw timedOut();
      let s: ReleaseStatus;
      try {
        s = (await api.request<ReleaseStatus>('GET', `/v1/releases/${seg(app)}/${seg(env)}?events=20`, undefined, 15_000)).body;
        failures = 0;
      } catch (err) {
        // A hiccup of the API or Temporal while watching is retried; a refusal or unknown release is not.
        if (err instanceof CliError && (err.status === 0 || (err.status ?? 0) >= 500) && ++failures < 20) {
          if (failures === 1) io.stderr(`[${io.now().toTimeString().slice(0, 8)}] ${cap(l(err.message), ERROR_TEXT_LIMIT)}; retrying\n`);
          await io.sleep(intervalMs);
          continue;
        }
        throw err;
      }
      seen(s);
      const code = view.show(s);
      if (code !== undefined) return code;
      await io.sleep(intervalMs);
    }
  }
}

/** Follows the stream until the release ends; 'unsupported' when the API has no stream route. */
async function watchStream(api: Api, io: CliIO, app: string, env: string, view: WatchView, signal: AbortSignal, seen: (s: ReleaseStatus) => void): Promise<number | 'unsupported'> {
  let lastId: string | undefined;
  let failures = 0;
  for (;;) {
    let res: Response;
    try {
      res = await api.stream(`/v1/releases/${seg(app)}/${seg(env)}/stream`, lastId, signal);
    } catch (err) {
      if (err instanceof CliError && (err.status === 404 || err.status === 405) && lastId === undefined && !/^no release/.test(err.message)) return 'unsupported';
      if (err instanceof CliError && (err.status === 0 || (err.status ?? 0) >= 500) && !signal.aborted && ++failures < 20) {
        if (failures === 1) io.stderr(`[${io.now().toTimeString().slice(0, 8)}] ${cap(l(err.message), ERROR_TEXT_LIMIT)}; retrying\n`);
        await io.sleep(1000);
        continue;
      }
      throw err;
    }
    if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream') || !res.body) {
      await res.body?.cancel();
      if (lastId === undefined) return 'unsupported';
      throw new CliError('the Gantry API answered the status stream with something else than an event stream', 'check --api / GANTRY_API');
    }
    try {
      for await (const e of sseEvents(res.body)) {
        failures = 0;
        if (e.id !== undefined) lastId = e.id;
        if (e.event === 'error') {
          const b = (() => { try { return JSON.parse(e.data) as ApiErrorBody; } catch { return {}; } })();
          const err = new CliError(typeof b.message === 'string' ? b.message : 'the status stream failed', typeof b.hint === 'string' ? b.hint : undefined, Array.isArray(b.details) ? b.details : [], b.error === 'not_found' ? 404 : 503);
          if (b.error === 'unavailable' && ++failures < 20) { io.stderr(`[${io.now().toTimeString().slice(0, 8)}] ${cap(l(err.message), ERROR_TEXT_LIMIT)}; retrying\n`); break; }
          throw err;
        }
        if (e.event !== 'status' && e.event !== 'end') continue;
        const s = JSON.parse(e.data) as ReleaseStatus;
        seen(s);
        const code = view.show(s);
        if (code !== undefined) return code;
        if (e.event === 'end') {
          io.stdout(`✗ ${l(s.app)} → ${l(s.environment)} ended while ${l(s.phase)}: its workflow was closed from outside (terminated, cancelled or timed out)\n`);
          return 1;
        }
      }
    } catch (err) {
      if (signal.aborted || err instanceof CliError) throw err;
      // The connection broke: reconnect with the last id (the server sends the state if it changed).
    }
    if (signal.aborted) throw new Error('aborted');
    await io.sleep(500);
  }
}

export function buildProgram(rawIO: CliIO, setExit: (code: number) => void): Command {
  const io = safeIO(rawIO);
  const program = new Command('gantry')
    .description('Gantry: gradual, observable, reversible releases (talks to the Gantry HTTP API)')
    .addOption(new Option('--api <url>', `Gantry API base URL (env GANTRY_API, default ${DEFAULT_API})`))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.stdout(t), writeErr: (t) => io.stderr(t) });

  const api = (): Api => {
    const base = (program.opts<{ api?: string }>().api ?? io.env.GANTRY_API ?? DEFAULT_API).replace(/\/+$/, '');
    if (!/^https?:\/\/[^/\s]+/.test(base)) throw new CliError(`--api ${base} is not an http(s) URL`, `e.g. ${DEFAULT_API}`);
    return new Api(base, io.env.GANTRY_TOKEN?.trim() || undefined, io);
  };
  const print = (t: string) => io.stdout(t.endsWith('\n') ? t : `${t}\n`);
  const json = (v: unknown) => print(jsonText(v, 2));

  // --- config (local) -------------------------------------------------------------------------
  const config = program.command('config').description('check gantry.yaml locally');
  config.command('validate')
    .description('validate gantry.yaml: every problem, with its path and a hint')
    .option('-f, --file <path>', 'the config file', 'gantry.yaml')
    .action(async (o: { file: string }) => {
      const { parseConfigText } = await import('../core/config.js');
      const r = parseConfigText(readFile(io, o.file));
      if (!r.ok) {
        io.stderr(`${o.file}: ${r.errors.length} problem${r.errors.length === 1 ? '' : 's'}\n`);
        for (const e of r.errors) io.stderr(`  ${l(e.path)}: ${l(e.message)}\n    hint: ${l(e.hint)}\n`);
        setExit(1);
        return;
      }
      const envs = r.config.environments.map((e) => `${e.name} (${e.cells.length} cell${e.cells.length === 1 ? '' : 's'}, ${e.cells.reduce((a, c) => a + c.replicas, 0)} replicas, ${e.groups.length} group${e.groups.length === 1 ? '' : 's'})`);
      print(`${o.file}: valid — app ${l(r.config.app.name)} (${l(r.config.app.image)}); environments: ${l(envs.join(', '))}`);
    });
  config.command('schema')
    .description('print the JSON Schema of gantry.yaml (for editors)')
    .action(async () => {
      const { configJsonSchema } = await import('../core/config.js');
      json(configJsonSchema());
    });

  // --- release --------------------------------------------------------------------------------
  const release = program.command('release').description('start, list, inspect and watch releases');
  release.command('start')
    .description('start a release of one revision to one environment')
    .requiredOption('-e, --env <environment>', 'environment name from gantry.yaml')
    .requiredOption('--digest <digest>', 'image digest to release (sha256:…)')
    .option('-f, --file <path>', 'the config file', 'gantry.yaml')
    .option('--sha <sha>', 'commit sha of the revision')
    .option('--author <id>', 'author of the change (may not approve it: four-eyes)')
    .option('--message <text>', 'commit message')
    .option('--image <image>', "image repository (default: gantry.yaml's app.image)")
    .option('-w, --watch', 'watch the release after starting it')
    .action(async (o: { env: string; digest: string; file: string; sha?: string; author?: string; message?: string; image?: string; watch?: boolean }) => {
      const revision = { digest: o.digest, ...(o.sha ? { sha: o.sha } : {}), ...(o.author ? { author: o.author } : {}), ...(o.message ? { message: o.message } : {}), ...(o.image ? { image: o.image } : {}) };
      const { body } = await api().request<Started>('POST', '/v1/releases', { config: readFile(io, o.file), environment: o.env, revision });
      const t = releaseTarget(body.workflowId);
      print(`${body.existing ? 'already running' : 'started'}: ${l(body.workflowId)} (run ${l(body.runId)})`);
      if (!t) return;
      if (o.watch) { setExit(await watch(api(), io, t.app, t.env, { intervalMs: 500 })); return; }
      print(`  watch it:  gantry release watch ${l(t.app)} ${l(t.env)}`);
    });

  release.command('list')
    .description('list releases (most recent first)')
    .option('--limit <n>', 'how many', '50')
    .option('--waiting-for-me', 'only running releases that wait on you (to approve, override a window or resume)')
    .option('--json', 'print JSON')
    .action(async (o: { limit: string; json?: boolean; waitingForMe?: boolean }) => {
      const { body } = await api().request<{ releases: Listed[] }>('GET', `/v1/releases?limit=${seg(o.limit)}${o.waitingForMe ? '&waitingFor=me' : ''}`);
      if (o.json) { json(body.releases); return; }
      if (!body.releases.length) { print(o.waitingForMe ? 'nothing waits on you' : 'no releases yet; start one with: gantry release start -e <env> --digest sha256:…'); return; }
      print(table([['APP', 'ENV', 'STATE', 'STARTED', 'SUMMARY'], ...body.releases.map((r) => [r.app, r.environment, r.phase ?? r.status, time(r.startTime), r.summary ?? ''])]));
    });

  release.command('status')
    .description('the state of the latest release of <app> to <env>')
    .argument('<app>').argument('<env>')
    .option('--json', 'print the status as JSON')
    .option('--events <n>', 'recent events to show (0: all)', '10')
    .action(async (app: string, env: string, o: { json?: boolean; events: string }) => {
      const { body } = await api().request<ReleaseStatus>('GET', `/v1/releases/${seg(app)}/${seg(env)}?events=${seg(o.events)}`);
      if (o.json) json(body); else print(statusText(body));
    });

  release.command('history')
    .description('every decision and event of the latest release of <app> to <env>')
    .argument('<app>').argument('<env>')
    .option('--json', 'print JSON')
    .action(async (app: string, env: string, o: { json?: boolean }) => {
      const { body } = await api().request<History>('GET', `/v1/releases/${seg(app)}/${seg(env)}/history`);
      if (o.json) { json(body); return; }
      const out = [`${l(body.app)} → ${l(body.environment)}: ${l(body.phase)} — ${l(body.summary)}`, '', 'decisions:'];
      if (!body.decisions.length) out.push('  (none)');
      for (const d of body.decisions) out.push(`  ${time(d.at)}  ${l(d.action).padEnd(8)} by ${l(d.by)} via ${l(d.channel)}${typeof d.group === 'number' && d.group >= 0 ? ` (group ${d.group + 1})` : ''}${d.comment ? `: ${l(d.comment)}` : ''}`);
      out.push('', 'events:');
      for (const e of body.events) out.push(`  ${time(e.at)}  ${l(e.type).padEnd(18)} ${l(e.message)}`);
      print(out.join('\n'));
    });

  release.command('watch')
    .description('follow a release live; exits 0 when it succeeds, 1 when it rolls back or fails')
    .argument('<app>').argument('<env>')
    .option('--interval <ms>', 'polling interval when the API has no status stream (older APIs)', '500')
    .option('--timeout <duration>', 'give up after this long (e.g. 30s, 10m, 2h): exits 1 with what the release was doing')
    .action(async (app: string, env: string, o: { interval: string; timeout?: string }) => {
      const interval = Number(o.interval);
      if (!Number.isFinite(interval) || interval < 50) throw new CliError(`--interval ${o.interval}: expected milliseconds, at least 50`);
      const timeoutMs = o.timeout === undefined ? undefined : parseDuration(o.timeout);
      if (timeoutMs === undefined && o.timeout !== undefined || (timeoutMs !== undefined && (timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1))) {
        throw new CliError(`--timeout ${l(o.timeout)}: expected a duration with a unit, e.g. 30s, 10m or 2h (at most 24 days)`);
      }
      setExit(await watch(api(), io, app, env, { intervalMs: interval, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }));
    });

  // --- decisions ------------------------------------------------------------------------------
  const describe: Record<(typeof ACTIONS)[number], string> = {
    approve: 'approve the group waiting for approval',
    reject: 'reject the group waiting for approval (rolls back)',
    pause: 'pause the release where it is',
    resume: 'resume a paused release',
    promote: 'skip the remaining pauses and approvals',
    abort: 'stop the release and roll back',
    rollback: 'roll back (a running release, or a finished one to the revision it replaced)',
    override: 'let a release held by its release window move now (a reason is required: -m)',
  };
  for (const action of ACTIONS) {
    program.command(action)
      .description(describe[action])
      .argument('<app>').argument('<env>')
      .option('-m, --message <comment>', 'a comment for the audit trail')
      .action(async (app: string, env: string, o: { message?: string }) => {
        const { body } = await api().request<{ decision: { action: string; by: string; channel: string }; summary: string; started?: Started }>(
          'POST', `/v1/releases/${seg(app)}/${seg(env)}/${action}`, o.message ? { comment: o.message } : {});
        print(`${action} by ${l(body.decision.by)} recorded: ${l(body.summary)}`);
        if (body.started) print(`  watch it:  gantry release watch ${l(app)} ${l(env)}`);
      });
  }

  // --- pipeline -------------------------------------------------------------------------------
  const pipeline = program.command('pipeline').description('one commit through every environment, in order');
  pipeline.command('start')
    .description('start the pipeline of a commit (a second start of the same commit finds the first)')
    .requiredOption('--repo <repo>', 'repository, owner/name')
    .requiredOption('--sha <sha>', 'commit sha')
    .option('--digest <digest>', 'image digest built from that commit (sha256:…); not with --source')
    .option('--source <url>', 'build from source: the git URL to clone (checkout, gates, build, verify run first)')
    .option('--depth <n>', 'with --source: shallow fetch depth (1: just the commit)')
    .option('-f, --file <path>', 'the config file (with --source, default: the commit\'s own gantry.yaml)')
    .option('--ref <ref>', 'branch or tag (with --source: refused if it no longer points at the sha)')
    .option('--author <id>', 'author of the change')
    .option('--message <text>', 'commit message')
    .action(async (o: { repo: string; sha: string; digest?: string; source?: string; depth?: string; file?: string; ref?: string; author?: string; message?: string }) => {
      if (!o.source && !o.digest) throw new CliError('give --digest (a prebuilt image) or --source (build it)');
      const revision = { ...(o.digest ? { digest: o.digest } : {}), ...(o.author ? { author: o.author } : {}), ...(o.message ? { message: o.message } : {}) };
      const file = o.file ?? (o.source ? undefined : 'gantry.yaml');
      const { body } = await api().request<Started>('POST', '/v1/pipelines', {
        ...(file ? { config: readFile(io, file) } : {}), repo: o.repo, sha: o.sha, ...(o.ref ? { ref: o.ref } : {}), revision,
        ...(o.source ? { source: { url: o.source, ...(o.depth ? { depth: Number(o.depth) } : {}) } } : {}),
      });
      print(`${body.existing ? 'already started' : 'started'}: ${l(body.workflowId)} (run ${l(body.runId)})`);
      print(`  follow it:  gantry pipeline status --repo ${l(o.repo)} --sha ${l(o.sha)}`);
    });
  pipeline.command('status')
    .description('the stages of a commit\'s pipeline')
    .requiredOption('--repo <repo>', 'repository, owner/name')
    .requiredOption('--sha <sha>', 'commit sha')
    .option('--json', 'print JSON')
    .action(async (o: { repo: string; sha: string; json?: boolean }) => {
      const { body } = await api().request<PipelineStatus>('GET', `/v1/pipelines?repo=${seg(o.repo)}&sha=${seg(o.sha)}`);
      if (o.json) { json(body); return; }
      const out = [`${l(body.repo)}@${l(body.sha)}${body.ref ? ` (${l(body.ref)})` : ''}: ${l(body.state)}${body.reason ? ` — ${l(body.reason)}` : ''}`];
      if (body.hint) out.push(`  hint: ${l(body.hint)}`);
      if (body.commit) out.push(`  commit ${l(body.commit.sha.slice(0, 12))} by ${l(body.commit.author)}: ${l(body.commit.message.split('\n')[0])}`);
      out.push(table(body.stages.map((s) => [`  ${s.name}`, s.state, s.durationMs !== undefined ? `${(s.durationMs / 1000).toFixed(1)}s` : '', s.reason ?? ''])));
      if (body.gates?.length) {
        out.push('  gates:');
        out.push(table(body.gates.map((g) => [`    ${g.name}`, g.type, g.state, g.durationMs !== undefined ? `${(g.durationMs / 1000).toFixed(1)}s` : '', g.reason ?? '', g.log ? `log ${g.log.path} on ${g.log.host}${g.log.truncated ? ' (truncated)' : ''}` : ''])));
      }
      if (body.image) out.push(`  image: ${l(body.image.ref)}${body.image.sizeBytes !== undefined ? ` (${(body.image.sizeBytes / 1e6).toFixed(1)} MB` : ' ('}${body.image.estargz ? ', eStargz' : ''}${body.image.steps ? `, ${body.image.steps.executed} of ${body.image.steps.total} steps ran` : ''})`);
      if (body.tag) out.push(`  tag: ${l(body.tag)}`);
      const running = body.stages.find((s) => s.state === 'running' && s.environment);
      if (running?.workflowId) {
        const t = releaseTarget(running.workflowId);
        if (t) out.push(`  watch the running release:  gantry release watch ${l(t.app)} ${l(t.env)}`);
      }
      print(out.join('\n'));
    });

  // --- release trains -------------------------------------------------------------------------
  const train = program.command('train').description('release trains: the newest build that passed its gates, at fixed times');
  train.command('create')
    .description('create (or update) the release train of an environment')
    .requiredOption('-e, --env <env>', 'environment')
    .requiredOption('--cron <expr...>', 'departure times, cron: "0 10 * * 1-4" is Mon-Thu 10:00')
    .option('--tz <zone>', 'IANA time zone of the departure times', 'UTC')
    .option('-f, --file <path>', 'the config file', 'gantry.yaml')
    .option('--paused', 'create it paused')
    .action(async (o: { env: string; cron: string[]; tz: string; file: string; paused?: boolean }) => {
      const { body } = await api().request<{ id: string; existing: boolean }>('POST', '/v1/trains', { config: readFile(io, o.file), environment: o.env, cron: o.cron, timeZone: o.tz, ...(o.paused ? { paused: true } : {}) });
      print(`${body.existing ? 'updated' : 'created'}: ${l(body.id)}`);
    });
  train.command('list').description('every release train').option('--json', 'print JSON').action(async (o: { json?: boolean }) => {
    const { body } = await api().request<{ trains: { id: string; cron: string[]; timeZone: string; paused: boolean; nextDepartures: string[] }[] }>('GET', '/v1/trains');
    if (o.json) { json(body); return; }
    print(body.trains.length ? table(body.trains.map((t) => [t.id, t.cron.join(' | '), t.timeZone, t.paused ? 'paused' : `next ${t.nextDepartures[0] ?? '-'}`])) : 'no release trains');
  });
  train.command('status').description('departures, recent runs and skips of a train').argument('<app>').argument('<env>').action(async (app: string, env: string) => {
    const { body } = await api().request<{ id: string; cron: string[]; timeZone: string; paused: boolean; nextDepartures: string[]; recentRuns: { scheduledAt: string; workflowId: string }[]; skippedOverlap: number }>('GET', `/v1/trains/${seg(app)}/${seg(env)}`);
    print([`${l(body.id)}: ${l(body.cron.join(' | '))} (${l(body.timeZone)})${body.paused ? ', paused' : ''}`,
      `  next: ${l(body.nextDepartures.slice(0, 3).join(', ')) || '-'}`,
      `  skipped (a release was still in progress): ${l(body.skippedOverlap)}`,
      ...body.recentRuns.map((r) => `  ran ${l(r.scheduledAt)}: ${l(r.workflowId)}`)].join('\n'));
  });
  train.command('trigger').description('depart now (skipped if its release is still in progress)').argument('<app>').argument('<env>').action(async (app: string, env: string) => {
    await api().request('POST', `/v1/trains/${seg(app)}/${seg(env)}/trigger`, {});
    print(`train ${l(app)}/${l(env)} departed`);
  });
  train.command('delete').description('delete a release train').argument('<app>').argument('<env>').action(async (app: string, env: string) => {
    await api().request('DELETE', `/v1/trains/${seg(app)}/${seg(env)}`);
    print(`train ${l(app)}/${l(env)} deleted`);
  });

  // --- git server hooks (cli/hook.ts) ---------------------------------------------------------
  registerHookCommands(program, { api, print, stderr: (t) => io.stderr(t), env: io.env, cwd: io.cwd, setExit });

  return program;
}

/** Runs the CLI with user arguments (no node/script); returns the exit code. Never calls process.exit. */
export async function run(args: readonly string[], ioOverrides: Partial<CliIO> = {}): Promise<number> {
  const io: CliIO = safeIO({ ...defaultIO(), ...ioOverrides });
  let code = 0;
  const program = buildProgram(io, (c) => { code = c; });
  if (args.length === 0) { program.outputHelp(); return 0; }
  try {
    await program.parseAsync([...args], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : err.exitCode || 1;
    if (err instanceof CliError) { io.stderr(formatError(err)); return 1; }
    io.stderr(`error: ${cap(l(err instanceof Error ? err.message : String(err)), ERROR_TEXT_LIMIT)}\n`);
    return 1;
  }
}

const entry = process.argv[1] ? path.resolve(process.argv[1]) : '';
if (entry === fileURLToPath(import.meta.url)) {
  process.exitCode = await run(process.argv.slice(2));
}
