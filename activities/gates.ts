// Quality gates on the worker: each gate runs as a process (argv array, working directory inside
// the checked-out commit, a minimal environment plus what the gate declares, a timeout), its output
// captured to a log file capped in size, and its reports parsed here (fast-xml-parser for JUnit and
// Cobertura, hadolint's JSON). The verdicts are core/gates.ts's. Also the process runner the build
// activity uses: every child in its own process group, killed as a group on cancel or timeout.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { XMLParser } from 'fast-xml-parser';
import { parseDuration } from '../core/duration.js';
import {
  commandVerdict, coverageVerdict, junitVerdict, lintVerdict, type CoverageSummary, type GateResult, type GateSpec,
  type JunitSummary, type LintFinding, type ProcessOutcome, type Verdict,
} from '../core/gates.js';
import { fail, FailureType } from '../workflows/failures.js';
import type { GateRequest, GateRun } from '../workflows/pipeline-activity-types.js';
import { activitySignal, ensureCheckout, safeHeartbeat, type GitOptions } from './git.js';
import { countGateResult } from './metrics.js';

// --- process runner -----------------------------------------------------------------------------

export interface RunProcessOptions {
  argv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  logFile: string;
  /** Bytes of output kept in the log file; the rest is counted, not written. */
  maxLogBytes?: number;
  signal?: AbortSignal;
  /** Sees every output line; returns the text to log for it (undefined: the line itself, null: nothing). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => string | null | undefined;
  /** Called every `tickMs` while the process runs (heartbeats). */
  onTick?: () => void;
  tickMs?: number;
}

export interface RunProcessResult extends ProcessOutcome {
  cancelled: boolean;
  durationMs: number;
  log: { path: string; bytes: number; truncated: boolean };
  /** The last few KB of output, for reasons and errors. */
  tail: string;
}

const TAIL = 8 * 1024;

export function killTree(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pid, signal); } catch { try { process.kill(pid, signal); } catch { /* gone */ } }
}

/**
 * Runs a process to completion. Cancellation (signal) and the timeout kill its whole process
 * group: SIGTERM, then SIGKILL after 3 s. Resolves once the process has exited.
 */
export function runProcess(o: RunProcessOptions): Promise<RunProcessResult> {
  const [cmd, ...args] = o.argv;
  if (!cmd) throw new Error('runProcess: empty argv');
  fs.mkdirSync(path.dirname(o.logFile), { recursive: true });
  const fd = fs.openSync(o.logFile, 'w');
  const cap = o.maxLogBytes ?? 1024 * 1024;
  let written = 0, total = 0, truncated = false, tail = '';
  const write = (text: string) => {
    const buf = Buffer.from(text);
    total += buf.length;
    tail = (tail + text).slice(-TAIL);
    if (written >= cap) { truncated = true; return; }
    const part = written + buf.length > cap ? buf.subarray(0, cap - written) : buf;
    fs.writeSync(fd, part);
    written += part.length;
    if (part.length < buf.length) { truncated = true; fs.writeSync(fd, `\n[gantry: output truncated at ${cap} bytes]\n`); }
  };
  const t0 = performance.now();
  return new Promise((resolve) => {
    let timedOut = false, cancelled = false, spawnError: string | undefined;
    if (o.signal?.aborted) {
      fs.closeSync(fd);
      resolve({ exitCode: null, signal: null, timedOut: false, cancelled: true, durationMs: 0, log: { path: o.logFile, bytes: 0, truncated: false }, tail: '' });
      return;
    }
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      if (!child.pid || killTimer) return;
      killTree(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killTree(child.pid!, 'SIGKILL'), 3000);
    };
    const onAbort = () => { cancelled = true; stop(); };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = o.timeoutMs > 0 ? setTimeout(() => { timedOut = true; stop(); }, o.timeoutMs) : undefined;
    const tick = o.onTick ? setInterval(o.onTick, o.tickMs ?? 5000) : undefined;
    const lineReader = (stream: 'stdout' | 'stderr') => {
      let pending = '';
      return {
        data(chunk: Buffer) {
          pending += chunk.toString('utf8');
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            const out = o.onLine ? o.onLine(line, stream) : undefined;
            if (out !== null) write(`${out ?? line}\n`);
          }
        },
        end() { if (pending) { const out = o.onLine ? o.onLine(pending, stream) : undefined; if (out !== null) write(`${out ?? pending}\n`); pending = ''; } },
      };
    };
    const so = lineReader('stdout'), se = lineReader('stderr');
    child.stdout.on('data', so.data);
    child.stderr.on('data', se.data);
    child.on('error', (err) => { spawnError = err.message; });
    child.on('close', (code, sig) => {
      so.end(); se.end();
      if (timer) clearTimeout(timer);
      if (tick) clearInterval(tick);
      if (killTimer) clearTimeout(killTimer);
      o.signal?.removeEventListener('abort', onAbort);
      // The group may hold children that outlived the leader: end them too.
      if (child.pid) killTree(child.pid, 'SIGKILL');
      fs.closeSync(fd);
      resolve({
        exitCode: code, signal: sig, timedOut, cancelled, durationMs: performance.now() - t0,
        ...(spawnError ? { error: spawnError } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
        log: { path: o.logFile, bytes: total, truncated }, tail,
      });
    });
  });
}

/** The environment a gate's process sees: a minimal base, the gate's own variables, and the named worker variables. */
export function gateEnv(gate: GateSpec, workerEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: workerEnv.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: workerEnv.HOME ?? os.homedir(), LANG: workerEnv.LANG ?? 'C.UTF-8', CI: 'true' };
  for (const [k, v] of Object.entries(gate.env ?? {})) env[k] = v;
  for (const name of gate.passEnv ?? []) {
    const v = workerEnv[name];
    if (v === undefined) throw fail(FailureType.SecretMissing, `gate ${gate.name}: the worker has no environment variable ${name} (passEnv)`);
    env[name] = v;
  }
  return env;
}

/** Replaces every value of the named variables in text (secrets never reach logs or reasons). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

// --- report parsers -----------------------------------------------------------------------------

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['testsuite', 'testcase', 'package', 'class'].includes(name), processEntities: true });

const num = (v: unknown): number => { const n = Number(v); return Number.isFinite(n) ? n : 0; };

interface XmlCase { name?: string; classname?: string; failure?: unknown; error?: unknown; skipped?: unknown }
interface XmlSuite { name?: string; testcase?: XmlCase[]; testsuite?: XmlSuite[]; tests?: string; failures?: string; errors?: string; skipped?: string }

/** Counts from a JUnit XML document (<testsuites> or a bare <testsuite>, nested suites included). */
export function parseJunit(text: string): Omit<JunitSummary, 'files'> {
  const doc = xml.parse(text) as { testsuites?: { testsuite?: XmlSuite[] }; testsuite?: XmlSuite[] };
  if (!doc.testsuites && !doc.testsuite) throw new Error('not a JUnit report (no <testsuites> or <testsuite>)');
  const out = { tests: 0, failures: 0, errors: 0, skipped: 0, failing: [] as string[] };
  const visit = (s: XmlSuite) => {
    const cases = s.testcase ?? [];
    if (cases.length) {
      for (const c of cases) {
        out.tests++;
        const name = [c.classname, c.name].filter(Boolean).join(' › ') || '(unnamed test)';
        if (c.failure !== undefined) { out.failures++; out.failing.push(name); } else if (c.error !== undefined) { out.errors++; out.failing.push(name); } else if (c.skipped !== undefined) out.skipped++;
      }
    } else if (!s.testsuite?.length) {
      // A suite that lists only counts.
      out.tests += num(s.tests); out.failures += num(s.failures); out.errors += num(s.errors); out.skipped += num(s.skipped);
    }
    for (const child of s.testsuite ?? []) visit(child);
  };
  for (const s of doc.testsuites?.testsuite ?? doc.testsuite ?? []) visit(s);
  return out;
}

/** lcov tracefile: the sums of LH (lines hit) and LF (lines found) over every record. */
export function parseLcov(text: string): CoverageSummary {
  let covered = 0, total = 0, records = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('LF:')) total += num(line.slice(3));
    else if (line.startsWith('LH:')) covered += num(line.slice(3));
    else if (line === 'end_of_record') records++;
  }
  if (records === 0 && total === 0) throw new Error('not an lcov tracefile (no LF:/LH: lines or end_of_record)');
  return { format: 'lcov', covered, total };
}

export function parseCobertura(text: string): CoverageSummary {
  const doc = xml.parse(text) as { coverage?: Record<string, string> };
  const c = doc.coverage;
  if (!c) throw new Error('not a Cobertura report (no <coverage>)');
  const covered = num(c['lines-covered']), total = num(c['lines-valid']);
  return { format: 'cobertura', covered, total, ...(c['line-rate'] !== undefined ? { rate: num(c['line-rate']) } : {}) };
}

export function parseHadolintJson(text: string): LintFinding[] {
  const data = JSON.parse(text || '[]') as { code: string; level: string; line: number; message: string }[];
  if (!Array.isArray(data)) throw new Error('hadolint did not print a JSON array');
  return data.map((f) => ({ code: String(f.code), level: String(f.level), line: Number(f.line), message: String(f.message) }));
}

// --- the gate activity --------------------------------------------------------------------------

export interface GateOptions extends GitOptions {
  /** Gate and build logs: <logDir>/<pipeline>/<gate>.log */
  logDir: string;
  hadolintBin: string;
  /** Where passEnv and build secrets are looked up (default: the worker's process.env). */
  env?: NodeJS.ProcessEnv;
  maxLogBytes?: number;
}

export function pipelineLogPath(logDir: string, pipelineId: string, name: string): string {
  return path.join(logDir, pipelineId.replace(/[^A-Za-z0-9._-]+/g, '_'), `${name.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`);
}

function inside(root: string, rel: string): string {
  const p = path.resolve(root, rel);
  if (p !== root && !p.startsWith(`${root}${path.sep}`)) throw fail(FailureType.BadRequest, `path ${rel} leaves the repository`);
  return p;
}

export function createGateActivities(opts: GateOptions) {
  const host = os.hostname();
  return {
    /** Runs one gate in the commit's worktree and returns its verdict (a failed gate is a result, not an error). */
    async runGate(req: GateRequest): Promise<GateRun> {
      const gate = req.gate;
      const tGit = performance.now();
      const ws = await ensureCheckout(opts, req.source);
      const gitMs = performance.now() - tGit;
      const cwd = inside(ws.treeDir, gate.cwd ?? '.');
      const logFile = pipelineLogPath(opts.logDir, req.pipelineId, gate.name);
      const workerEnv = opts.env ?? process.env;
      const env = gateEnv(gate, workerEnv);
      const secrets = (gate.passEnv ?? []).map((n) => workerEnv[n] ?? '');
      const timeoutMs = parseDuration(gate.timeout ?? '10m') ?? 600_000;
      const t0 = performance.now();
      let toolMs = gitMs;
      let log: GateResult['log'] = { path: logFile, host, bytes: 0, truncated: false };
      const signal = activitySignal();

      const runStep = async (argv: string[]): Promise<RunProcessResult> => {
        if (gate.type !== 'command' && gate.type !== 'hadolint') {
          // A report gate with a command: stale reports from an earlier attempt must not count.
          for (const r of gate.type === 'junit' ? gate.reports : gate.type === 'coverage' ? [gate.report] : []) fs.rmSync(inside(ws.treeDir, r), { force: true });
        }
        const res = await runProcess({
          argv, cwd, env, timeoutMs, logFile, maxLogBytes: opts.maxLogBytes, ...(signal ? { signal } : {}),
          onLine: secrets.length ? (l) => redact(l, secrets) : undefined, onTick: () => safeHeartbeat({ gate: gate.name }), tickMs: 5000,
        });
        toolMs += res.durationMs;
        log = { path: logFile, host, bytes: res.log.bytes, truncated: res.log.truncated };
        if (res.cancelled) throw new CancelledFailure(`gate ${gate.name} cancelled: its process group was killed`);
        return res;
      };

      let verdict: Verdict;
      try {
        switch (gate.type) {
          case 'command': {
            verdict = commandVerdict(gate.run, await runStep(gate.run));
            break;
          }
          case 'junit': {
            if (gate.run) {
              const r = await runStep(gate.run);
              if (r.timedOut || r.error) { verdict = commandVerdict(gate.run, r); break; }
            }
            const sum: JunitSummary = { files: 0, tests: 0, failures: 0, errors: 0, skipped: 0, failing: [] };
            for (const rel of gate.reports) {
              const file = inside(ws.treeDir, rel);
              if (!fs.existsSync(file)) continue;
              const s = parseJunit(fs.readFileSync(file, 'utf8'));
              sum.files++; sum.tests += s.tests; sum.failures += s.failures; sum.errors += s.errors; sum.skipped += s.skipped; sum.failing.push(...s.failing);
            }
            verdict = sum.files === 0 ? { pass: false, reason: `no JUnit report at ${gate.reports.join(', ')}` } : junitVerdict(sum);
            break;
          }
          case 'coverage': {
            if (gate.run) {
              const r = await runStep(gate.run);
              if (r.timedOut || r.error || r.exitCode !== 0) { verdict = commandVerdict(gate.run, r); break; }
            }
            const file = inside(ws.treeDir, gate.report);
            if (!fs.existsSync(file)) { verdict = { pass: false, reason: `no coverage report at ${gate.report}` }; break; }
            const text = fs.readFileSync(file, 'utf8');
            const format = gate.format ?? (/^\s*</.test(text) ? 'cobertura' : 'lcov');
            verdict = coverageVerdict(format === 'cobertura' ? parseCobertura(text) : parseLcov(text), gate.min);
            break;
          }
          case 'hadolint': {
            const dockerfile = inside(ws.treeDir, gate.dockerfile);
            if (!fs.existsSync(dockerfile)) { verdict = { pass: false, reason: `no Dockerfile at ${gate.dockerfile}` }; break; }
            if (!fs.existsSync(opts.hadolintBin)) throw fail(FailureType.ToolMissing, `hadolint is not installed on this worker (${opts.hadolintBin})`);
            const json = `${logFile}.json`;
            const argv = [opts.hadolintBin, '--no-fail', '--no-color', '--format', 'json', dockerfile];
            let out = '';
            const r = await runProcess({
              argv, cwd, env, timeoutMs, logFile, maxLogBytes: opts.maxLogBytes, ...(signal ? { signal } : {}),
              onLine: (l, s) => { if (s === 'stdout') out += `${l}\n`; return undefined; },
            });
            toolMs += r.durationMs;
            log = { path: logFile, host, bytes: r.log.bytes, truncated: r.log.truncated };
            if (r.cancelled) throw new CancelledFailure(`gate ${gate.name} cancelled: its process group was killed`);
            if (r.exitCode !== 0) { verdict = commandVerdict(['hadolint', gate.dockerfile], r); break; }
            fs.writeFileSync(json, out);
            verdict = lintVerdict(gate.dockerfile, parseHadolintJson(out.trim()), gate.failOn ?? 'warning', gate.ignore ?? []);
            break;
          }
          case 'image-size':
            throw fail(FailureType.BadRequest, `gate ${gate.name}: image-size gates are judged after the build, not run`);
        }
      } catch (err) {
        if (err instanceof ApplicationFailure || err instanceof CancelledFailure) throw err;
        // A report that cannot be read is the gate's failure, with the parser's reason.
        verdict = { pass: false, reason: `could not read the report: ${err instanceof Error ? err.message : String(err)}` };
      }
      const result: GateResult = {
        name: gate.name, type: gate.type, state: verdict.pass ? 'passed' : 'failed', durationMs: Math.round(performance.now() - t0),
        reason: redact(verdict.reason, secrets), log,
      };
      countGateResult(gate.name, gate.type, result.state);
      return { result, toolMs };
    },
  };
}
