// Chaos benchmark (`npx tsx bench/chaos.ts`): the chaos run of test/durability/chaos.test.ts with 50+
// SIGKILLs of the worker (CHAOS_KILLS, default 50) and one restart of the Temporal dev server, during
// CHAOS_ROUNDS rounds (default: one per 20 kills) of the three releases on the local control plane
// (scenario and checks: test/k8s/support/chaos.ts). Prints `BENCH <name> <value> <unit>` lines; exits
// non-zero when a release ends wrongly or an effect differs from the plan. CHAOS_SEED=<seed> replays a
// run's kill schedule.
import { chaosSeed, runChaos, summarize } from '../test/k8s/support/chaos.js';

function bench(name: string, value: number, unit: string): void {
  console.log(`BENCH ${name} ${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`);
}

async function main(): Promise<void> {
  const raw = process.env.CHAOS_KILLS ?? '50';
  const kills = Number(raw);
  if (!Number.isInteger(kills) || kills < 1 || kills > 1000) throw new Error(`CHAOS_KILLS=${raw}: use a whole number from 1 to 1000`);
  const rawRounds = process.env.CHAOS_ROUNDS ?? String(Math.max(1, Math.round(kills / 20)));
  const rounds = Number(rawRounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error(`CHAOS_ROUNDS=${rawRounds}: use a whole number from 1 to 20`);
  const seed = chaosSeed();
  const r = await runChaos({ kills, rounds, seed, timeoutMs: 60 * 60_000, log: (m) => console.log(`# ${m}`) });
  for (const line of summarize(r)) console.log(`# ${line}`);
  const correct = r.releases.filter((x) => x.phase === x.expected).length;
  bench('chaos_kills_survived', r.kills.length, 'kills');
  bench('chaos_duplicate_effects', r.duplicates, 'count');
  bench('chaos_effect_checks_failed', r.checks.filter((c) => !c.ok).length, 'count');
  bench('chaos_pods_removed_while_serving', r.violations.length, 'count');
  bench('chaos_min_serving_pods', r.minServing, 'pods');
  bench('chaos_releases_correct', correct, 'releases');
  bench('chaos_temporal_restarts', r.serverRestart ? 1 : 0, 'count');
  bench('chaos_worker_unexpected_exits', r.unexpectedExits.length, 'count');
  bench('chaos_activity_attempts_retried', r.releases.reduce((n, x) => n + x.activityRetries, 0), 'count');
  bench('chaos_workflow_tasks_timed_out', r.releases.reduce((n, x) => n + x.workflowTaskTimeouts, 0), 'count');
  bench('chaos_wall_s', r.wallMs / 1000, 's');
  const ok = correct === r.releases.length && r.releases.length === 3 * rounds && r.duplicates === 0 && r.checks.every((c) => c.ok) && r.violations.length === 0
    && r.graceViolations.length === 0 && r.minServing >= r.floor && r.kills.length >= kills && !!r.serverRestart;
  if (!ok) {
    console.error(`bench/chaos: the run did not hold (seed ${seed}); see the lines above`);
    process.exit(1);
  }
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(`bench/chaos failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
