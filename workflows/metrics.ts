// Gantry's release metrics, emitted through Temporal's workflow metricMeter (served by the worker's
// Prometheus endpoint, GANTRY_METRICS_ADDR: worker/telemetry.ts). The SDK emits nothing while a
// workflow replays, so each counter moves once per release, when it happens; no command is written
// (no patch needed: test/replay/). The SDK adds namespace, taskQueue and workflowType labels.
import { metricMeter, workflowInfo } from '@temporalio/workflow';
import type { Outcome, StopCause } from '../core/release.js';

/** Prometheus-style result label: succeeded, rolled_back, failed, cancelled. */
export type ReleaseResultLabel = 'succeeded' | 'rolled_back' | 'failed' | 'cancelled';

export function resultLabel(outcome: Outcome | undefined, cancelled: boolean): ReleaseResultLabel {
  if (cancelled) return 'cancelled';
  switch (outcome) {
    case 'succeeded': return 'succeeded';
    case 'rolled-back': return 'rolled_back';
    case 'failed': case undefined: return 'failed';
    default: { const never: never = outcome; return String(never) as ReleaseResultLabel; }
  }
}

/** One release ended: gantry_releases_total and gantry_release_duration_seconds (from the run's start). */
export function countRelease(app: string, environment: string, result: ReleaseResultLabel): void {
  metricMeter.createCounter('gantry_releases_total', undefined, 'Releases that ended, by app, environment and result').add(1, { app, environment, result });
  const seconds = Math.max(0, (Date.now() - workflowInfo().runStartTime.getTime()) / 1000);
  metricMeter.createHistogram('gantry_release_duration_seconds', 'float', 's', 'How long releases took, start to end').record(seconds, { app, environment, result });
}

/** A rollback started: gantry_rollbacks_total by cause (health, analysis, deadline, rejected, abort, cancelled, rollback). */
export function countRollback(app: string, environment: string, cause: StopCause): void {
  metricMeter.createCounter('gantry_rollbacks_total', undefined, 'Rollbacks, by app, environment and cause').add(1, { app, environment, cause });
}

/** A pipeline stage ended: gantry_pipeline_stage_duration_seconds{stage, result=passed|failed}. */
export function recordStageDuration(stage: string, result: 'passed' | 'failed', seconds: number): void {
  metricMeter.createHistogram('gantry_pipeline_stage_duration_seconds', 'float', 's', 'How long pipeline stages took (checkout, gates, build, verify, release:<environment>, tag)').record(Math.max(0, seconds), { stage, result });
}
