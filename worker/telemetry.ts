// A worker process's logs and metrics, installed once in the Temporal Runtime before any connection
// (Runtime.install may be called only once per process, and a connection installs the default one).
//
// Logs: every log of the SDK, the workflows (`log` from @temporalio/workflow), the activities and
// Temporal's native core goes through one pino logger, as the API's (one JSON object a line, the
// same redaction of tokens and authorization headers) — or, with GANTRY_LOG_FORMAT=text, Temporal's
// plain lines for a terminal. The worker's start lines stay plain text on stdout, as the API's do.
//
// Metrics (GANTRY_METRICS_ADDR): the Runtime's Prometheus endpoint serves the SDK's metrics
// (temporal_*) and Gantry's own, emitted through Temporal's metricMeter by the release workflow
// (workflows/metrics.ts) and the activities, plus gantry_build_info. Durations are in seconds.
import { DefaultLogger, Runtime, type LogEntry, type LogLevel as TemporalLogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';
import { gantryLogger } from '../runtime/logging.js';
import type { WorkerConfig } from '../runtime/config.js';

/** Histogram buckets (seconds) for Gantry's durations: a release takes minutes to days, a stage seconds to hours. */
export const GANTRY_HISTOGRAM_BUCKETS: Record<string, number[]> = {
  gantry_release_duration_seconds: [30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400, 259200],
  gantry_pipeline_stage_duration_seconds: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600],
};

const PINO_LEVEL: Record<TemporalLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error',
};

/** A Temporal log entry as a pino call: the message, the entry's metadata as fields, the SDK's timestamp kept. */
export function forwardEntry(log: Logger, entry: LogEntry): void {
  const { sdkComponent, ...meta } = entry.meta ?? {};
  log[PINO_LEVEL[entry.level]]({ ...meta, ...(sdkComponent ? { sdkComponent } : {}), temporalTime: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString() }, entry.message);
}

export interface InstalledTelemetry {
  /** The pino logger (undefined with GANTRY_LOG_FORMAT=text). */
  log?: Logger;
  /** Where metrics are served, when they are. */
  metricsAddr?: string;
}

/** Installs the process's Temporal Runtime: logger, core log forwarding, Prometheus. Call once, before connecting. */
export function installTelemetry(config: Pick<WorkerConfig, 'logLevel' | 'logFormat' | 'metricsAddr'>, version: string): InstalledTelemetry {
  const level = config.logLevel.toUpperCase() as TemporalLogLevel;
  const log = config.logFormat === 'json' ? gantryLogger(config.logLevel, { component: 'worker' }) : undefined;
  const logger = log ? new DefaultLogger(level, (entry) => forwardEntry(log, entry)) : new DefaultLogger(level);
  const metricsAddr = config.metricsAddr ? `${config.metricsAddr.host.includes(':') ? `[${config.metricsAddr.host}]` : config.metricsAddr.host}:${config.metricsAddr.port}` : undefined;
  Runtime.install({
    logger,
    telemetryOptions: {
      // Core's own logs (connection, polling) through the same logger, at warn and above.
      logging: log ? { filter: { core: level === 'TRACE' || level === 'DEBUG' ? level : 'WARN', other: 'ERROR' }, forward: {} } : { filter: { core: 'WARN', other: 'ERROR' } },
      ...(metricsAddr ? { metrics: { prometheus: { bindAddress: metricsAddr, useSecondsForDurations: true, histogramBucketOverrides: GANTRY_HISTOGRAM_BUCKETS } } } : {}),
    },
  });
  if (metricsAddr) {
    Runtime.instance().metricMeter.createGauge('gantry_build_info', 'int', undefined, 'Always 1; the version of the Gantry worker').set(1, { version, component: 'worker' });
  }
  return { ...(log ? { log } : {}), ...(metricsAddr ? { metricsAddr } : {}) };
}
