// Pipeline state: one commit's way through its stages. Table-driven over stage outcomes.
import { describe, expect, it } from '@jest/globals';
import { endStage, newPipeline, startStage, type PipelineStatus, type StageState } from '../../core/pipeline.js';

const T0 = Date.parse('2024-06-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function pipeline(over: { ref?: string; author?: string } = {}): PipelineStatus {
  return newPipeline({
    id: 'pipeline/shop/abc1234', repo: 'github.com/acme/shop', sha: 'abc1234', ...over,
    stages: [
      { name: 'staging', environment: 'staging', workflowId: 'release/shop/staging' },
      { name: 'canary', environment: 'canary' },
      { name: 'production', environment: 'production', workflowId: 'release/shop/production' },
    ],
  }, T0);
}

describe('newPipeline', () => {
  it('starts running with every stage pending', () => {
    const p = pipeline({ ref: 'refs/heads/main', author: 'carol' });
    expect(p).toEqual({
      id: 'pipeline/shop/abc1234', repo: 'github.com/acme/shop', sha: 'abc1234', ref: 'refs/heads/main', author: 'carol',
      state: 'running', startedAt: iso(T0),
      stages: [
        { name: 'staging', environment: 'staging', workflowId: 'release/shop/staging', state: 'pending' },
        { name: 'canary', environment: 'canary', state: 'pending' },
        { name: 'production', environment: 'production', workflowId: 'release/shop/production', state: 'pending' },
      ],
    });
  });

  it.each([
    { name: 'no ref or author: keys left out', over: {}, absent: ['ref', 'author', 'endedAt', 'reason'] },
    { name: 'empty ref and author: keys left out', over: { ref: '', author: '' }, absent: ['ref', 'author'] },
  ])('$name', ({ over, absent }) => {
    const p = pipeline(over);
    for (const k of absent) expect(p).not.toHaveProperty(k);
  });

  it('copies the stage list instead of sharing it', () => {
    const stages = [{ name: 'only' }];
    const p = newPipeline({ id: 'p', repo: 'r', sha: 's', stages }, T0);
    startStage(p, 'only', T0);
    expect(stages[0]).toEqual({ name: 'only' });
  });
});

describe('startStage / endStage', () => {
  type Run = [name: string, ok: boolean, reason?: string];
  it.each<{ name: string; runs: Run[]; states: StageState[]; pipeline: PipelineStatus['state']; reason?: string; ended: boolean }>([
    { name: 'nothing run yet', runs: [], states: ['pending', 'pending', 'pending'], pipeline: 'running', ended: false },
    { name: 'first stage succeeded', runs: [['staging', true]], states: ['succeeded', 'pending', 'pending'], pipeline: 'running', ended: false },
    { name: 'two stages succeeded', runs: [['staging', true], ['canary', true]], states: ['succeeded', 'succeeded', 'pending'], pipeline: 'running', ended: false },
    { name: 'every stage succeeded', runs: [['staging', true], ['canary', true], ['production', true]], states: ['succeeded', 'succeeded', 'succeeded'], pipeline: 'succeeded', ended: true },
    {
      name: 'first stage failed: the rest skipped', runs: [['staging', false, 'rolled back: analysis failed']],
      states: ['failed', 'skipped', 'skipped'], pipeline: 'failed', reason: 'staging failed: rolled back: analysis failed', ended: true,
    },
    {
      name: 'middle stage failed: earlier kept, later skipped', runs: [['staging', true], ['canary', false, 'rejected by bob']],
      states: ['succeeded', 'failed', 'skipped'], pipeline: 'failed', reason: 'canary failed: rejected by bob', ended: true,
    },
    {
      name: 'last stage failed without a reason', runs: [['staging', true], ['canary', true], ['production', false]],
      states: ['succeeded', 'succeeded', 'failed'], pipeline: 'failed', reason: 'production failed', ended: true,
    },
  ])('$name -> $pipeline', ({ runs, states, pipeline: want, reason, ended }) => {
    const p = pipeline();
    let now = T0;
    for (const [name, ok, why] of runs) {
      startStage(p, name, now);
      expect(p.stages.find((s) => s.name === name)!.state).toBe('running');
      now += 60_000;
      endStage(p, name, ok, why, now);
    }
    expect(p.stages.map((s) => s.state)).toEqual(states);
    expect(p.state).toBe(want);
    if (reason === undefined) expect(p).not.toHaveProperty('reason');
    else expect(p.reason).toBe(reason);
    if (ended) expect(p.endedAt).toBe(iso(now));
    else expect(p).not.toHaveProperty('endedAt');
    // Every stage that ran has its times and a one-minute duration; the others have none.
    for (const s of p.stages) {
      if (s.state === 'succeeded' || s.state === 'failed') {
        expect(s.durationMs).toBe(60_000);
        expect(Date.parse(s.endedAt!) - Date.parse(s.startedAt!)).toBe(60_000);
      } else {
        expect(s).not.toHaveProperty('startedAt');
        expect(s).not.toHaveProperty('durationMs');
      }
    }
  });

  it('records the stage reason on the stage, success or failure', () => {
    const p = pipeline();
    startStage(p, 'staging', T0);
    endStage(p, 'staging', true, 'release succeeded', T0 + 1000);
    expect(p.stages[0]).toMatchObject({ state: 'succeeded', reason: 'release succeeded', startedAt: iso(T0), endedAt: iso(T0 + 1000), durationMs: 1000 });
    startStage(p, 'canary', T0 + 2000);
    endStage(p, 'canary', false, 'health deadline', T0 + 5000);
    expect(p.stages[1]).toMatchObject({ state: 'failed', reason: 'health deadline', durationMs: 3000 });
  });

  it('a stage ended without being started has no duration', () => {
    const p = pipeline();
    endStage(p, 'staging', false, 'could not start', T0 + 5000);
    expect(p.stages[0]).toEqual({ name: 'staging', environment: 'staging', workflowId: 'release/shop/staging', state: 'failed', endedAt: iso(T0 + 5000), reason: 'could not start' });
    expect(p.state).toBe('failed');
  });

  it('a stage still running when another fails is not skipped (only pending ones are)', () => {
    const p = pipeline();
    startStage(p, 'canary', T0);
    endStage(p, 'staging', false, 'boom', T0 + 1000);
    expect(p.stages.map((s) => s.state)).toEqual(['failed', 'running', 'skipped']);
  });

  it.each([
    { name: 'startStage', run: (p: PipelineStatus) => startStage(p, 'qa', T0) },
    { name: 'endStage', run: (p: PipelineStatus) => endStage(p, 'qa', true, undefined, T0) },
  ])('$name of an unknown stage throws, naming pipeline and stage', ({ run }) => {
    expect(() => run(pipeline())).toThrow('pipeline pipeline/shop/abc1234 has no stage qa');
  });
});

describe('gates that never ran', () => {
  it('a post-build gate still pending when an earlier stage fails is skipped, not left pending (issue 12)', () => {
    const p = newPipeline({ id: 'p', repo: 'r', sha: 's', stages: [{ name: 'gates' }, { name: 'build' }, { name: 'verify' }] }, T0);
    p.gates = [{ name: 'unit', type: 'command', state: 'failed', reason: '3 tests failed' }, { name: 'size', type: 'image-size', state: 'pending' }];
    startStage(p, 'gates', T0);
    endStage(p, 'gates', false, 'unit: 3 tests failed', T0 + 1000);
    expect(p.gates).toEqual([
      { name: 'unit', type: 'command', state: 'failed', reason: '3 tests failed' },
      { name: 'size', type: 'image-size', state: 'skipped', reason: 'not run: gates failed' },
    ]);
  });
});
