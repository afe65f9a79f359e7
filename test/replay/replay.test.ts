// Replays the recorded histories of every workflow type (test/replay/histories, recorded by
// record.ts on a real dev server) against the current workflow code: a change that would break a
// release, pipeline, train or catalog in flight when Gantry is upgraded fails here as a
// DeterminismViolationError. The last tests prove the check bites: the train history replayed on a
// train changed without patched() fails, so does a release waiting for approval replayed on a
// release with a new first step, and the train change behind patched() passes.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { workflowsPath } from '../../worker/worker.js';
import { quietRuntime } from '../support/temporal.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, 'histories');

interface Fixture { file: string; workflowId: string; type: string; history: History }

function load(file: string): Fixture {
  const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const type = started?.workflowType?.name;
  if (!type) throw new Error(`${file}: the first event is not WorkflowExecutionStarted: re-record it with npx tsx test/replay/record.ts`);
  return { file, workflowId: file.replace(/\.json$/, ''), type, history };
}

const fixtures = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map(load);

describe('replaying recorded histories on the current workflow code', () => {
  it('there is a recorded history for every workflow type the worker registers', async () => {
    const registered = Object.keys(await import('../../workflows/index.js')).sort();
    expect(registered.length).toBeGreaterThan(0);
    const recorded = new Set(fixtures.map((f) => f.type));
    expect(registered.filter((t) => !recorded.has(t))).toEqual([]);
    // The scenarios the issue names are all there.
    expect(fixtures.map((f) => f.workflowId)).toEqual(expect.arrayContaining(['release-waiting', 'release-approved', 'release-rolled-back', 'pipeline-failed-gate', 'pipeline-failed-gate-build-queue', 'release-train', 'build-catalog']));
  });

  it('every history replays without nondeterminism', async () => {
    quietRuntime();
    const failures: string[] = [];
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowsPath, replayName: 'gantry-replay' }, fixtures.map((f) => ({ workflowId: f.workflowId, history: f.history })))) {
      replayed++;
      if (r.error) failures.push(`${r.workflowId}: ${r.error.name}: ${r.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(fixtures.length);
  }, 180_000);
});

describe('the replay check catches an unsafe change', () => {
  const train = () => {
    const f = fixtures.find((x) => x.workflowId === 'release-train');
    if (!f) throw new Error('release-train.json is missing: npx tsx test/replay/record.ts train-and-catalog');
    return f;
  };

  it('the train changed without patched() (activities in another order) fails to replay with a DeterminismViolationError', async () => {
    quietRuntime();
    const f = train();
    const err = await Worker.runReplayHistory({ workflowsPath: path.join(here, 'reordered-train.ts'), replayName: 'gantry-replay-reordered' }, f.history, f.workflowId)
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DeterminismViolationError);
    expect((err as Error).message).toMatch(/nondetermin|environmentRevision|newestBuild/i);
  }, 180_000);

  it('a release waiting for approval, replayed on a release with a new first step (no patched()), fails with a DeterminismViolationError', async () => {
    quietRuntime();
    const f = fixtures.find((x) => x.workflowId === 'release-waiting');
    if (!f) throw new Error('release-waiting.json is missing: npx tsx test/replay/record.ts release-waiting');
    const err = await Worker.runReplayHistory({ workflowsPath: path.join(here, 'changed-release.ts'), replayName: 'gantry-replay-release' }, f.history, f.workflowId)
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DeterminismViolationError);
  }, 180_000);

  it('the same change behind patched() replays the old history (the old path) without error', async () => {
    quietRuntime();
    const f = train();
    await expect(Worker.runReplayHistory({ workflowsPath: path.join(here, 'patched-train.ts'), replayName: 'gantry-replay-patched' }, f.history, f.workflowId)).resolves.toBeUndefined();
  }, 180_000);
});
