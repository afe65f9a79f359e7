// Gantry's activity metrics, through the activity Context's metricMeter (Temporal's Runtime: the
// worker's Prometheus endpoint, GANTRY_METRICS_ADDR). Outside an activity (a unit test calling the
// function directly) nothing is recorded. The SDK adds namespace, taskQueue and activityType labels.
import { Context } from '@temporalio/activity';

function meter() {
  try {
    return Context.current().metricMeter;
  } catch {
    return undefined;
  }
}

export const GATE_RESULTS_METRIC = 'gantry_gate_results_total';

/** A gate ran: gantry_gate_results_total{gate, type, result} (result: the gate's state, passed or failed). */
export function countGateResult(gate: string, type: string, result: string): void {
  meter()?.createCounter(GATE_RESULTS_METRIC, undefined, 'Quality gate results, by gate, type and result').add(1, { gate, type, result });
}
