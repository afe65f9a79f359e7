// Process helpers for the test bed: argv arrays only (never a shell string), daemons with PID
// files and log files, and readiness polled rather than slept.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { logDir, pidDir } from './paths.js';

export interface RunResult { stdout: string; stderr: string }

/** Runs argv[0] with argv[1..]; rejects with the command, exit code and stderr tail on failure. */
export function run(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('run: empty argv');
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 0, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const tail = String(stderr).trim().split('\n').slice(-15).join('\n');
          reject(new Error(`command failed (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${argv.join(' ')}\n${tail}`));
        } else resolve({ stdout: String(stdout), stderr: String(stderr) });
      });
  });
}

export async function tryRun(argv: string[], opts: Parameters<typeof run>[1] = {}): Promise<RunResult | undefined> {
  try { return await run(argv, opts); } catch { return undefined; }
}

export function pidFile(name: string): string { return path.join(pidDir, `${name}.pid`); }
export function logFile(name: string): string { return path.join(logDir, `${name}.log`); }

export function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

export function readPid(name: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile(name), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  } catch { return undefined; }
}

/** Starts a long-running daemon detached from this process, logging to state/logs/<name>.log. */
export function startDaemon(name: string, argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): number {
  fs.mkdirSync(logDir, { recursive: true });
  fs.mkdirSync(pidDir, { recursive: true });
  const out = fs.openSync(logFile(name), 'a');
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('startDaemon: empty argv');
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  if (!child.pid) throw new Error(`could not start ${name}: ${argv.join(' ')}`);
  child.unref();
  fs.writeFileSync(pidFile(name), String(child.pid));
  return child.pid;
}

/** Stops a daemon (SIGTERM, then SIGKILL after graceMs) and removes its PID file. */
export async function stopDaemon(name: string, graceMs = 10_000): Promise<boolean> {
  const pid = readPid(name);
  fs.rmSync(pidFile(name), { force: true });
  if (!pid) return false;
  try { process.kill(-pid, 'SIGTERM'); } catch { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
  const stopped = await poll(() => !isAlive(pid), { timeoutMs: graceMs, what: `${name} to stop`, throwOnTimeout: false });
  if (!stopped) { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }
  return true;
}

/** Polls `check` until it returns true (readiness is polled, never slept). */
export async function poll(check: () => boolean | Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; what: string; throwOnTimeout?: boolean; logName?: string }): Promise<boolean> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    try { if (await check()) return true; } catch { /* not ready yet */ }
    if (Date.now() > deadline) {
      if (opts.throwOnTimeout === false) return false;
      const hint = opts.logName ? `; see ${logFile(opts.logName)}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${hint}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
