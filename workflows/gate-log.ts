// Reads the tail of a gate's log on the worker that wrote it. A gate's log stays on that worker's disk
// (GateResult.log: path and host); each worker that runs gates also polls a queue of its own host
// (hostTaskQueue), so this one activity reaches exactly that machine. No retries: a host that is gone
// is said at once (schedule-to-start), not waited for.
import { proxyActivities } from '@temporalio/workflow';
import { nonRetryableErrorTypes } from './failures.js';

/** Every log tail is at most this long (it is the workflow's result, in its history). */
export const MAX_GATE_LOG_TAIL = 64 * 1024;

export interface GateLogRequest { path: string; maxBytes: number }
export interface GateLogTail {
  /** The last `shownBytes` of the log, as UTF-8 (a cut multibyte character at the start is dropped). */
  text: string;
  bytes: number;
  shownBytes: number;
  host: string;
}
export interface GateLogActivities { readGateLogTail(req: GateLogRequest): Promise<GateLogTail> }

/**
 * The task queue only the workers on `host` with this pipeline log directory poll, next to the build
 * queue they serve. The directory is part of it: several workers on one machine (a test bed, a
 * laptop) each read only their own logs, so a request must reach the one that wrote the file.
 */
export function hostTaskQueue(buildTaskQueue: string, host: string, logDir: string): string {
  return `${buildTaskQueue}@${host}/${fnv1a(logDir.replace(/\/+$/, ''))}`;
}

/** The log directory of a gate log path (<logDir>/<pipeline>/<gate>.log, activities/gates.ts pipelineLogPath). */
export function logDirOf(logPath: string): string {
  return logPath.split('/').slice(0, -2).join('/');
}

/** FNV-1a (32 bits, hex): a short stable key of a string (no Node built-ins: workflow code imports this module). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h.toString(16).padStart(8, '0');
}

export async function readGateLog(input: GateLogRequest & { queue: string }): Promise<GateLogTail> {
  const act = proxyActivities<GateLogActivities>({
    taskQueue: input.queue, scheduleToStartTimeout: '10s', startToCloseTimeout: '10s',
    retry: { maximumAttempts: 1, nonRetryableErrorTypes },
  });
  return act.readGateLogTail({ path: input.path, maxBytes: Math.min(input.maxBytes, MAX_GATE_LOG_TAIL) });
}
