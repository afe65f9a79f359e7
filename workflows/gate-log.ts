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

/** The task queue only the workers on `host` poll, next to the build queue they serve. */
export function hostTaskQueue(buildTaskQueue: string, host: string): string {
  return `${buildTaskQueue}@${host}`;
}

export async function readGateLog(input: GateLogRequest & { queue: string }): Promise<GateLogTail> {
  const act = proxyActivities<GateLogActivities>({
    taskQueue: input.queue, scheduleToStartTimeout: '10s', startToCloseTimeout: '10s',
    retry: { maximumAttempts: 1, nonRetryableErrorTypes },
  });
  return act.readGateLogTail({ path: input.path, maxBytes: Math.min(input.maxBytes, MAX_GATE_LOG_TAIL) });
}
