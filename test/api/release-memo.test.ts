// Issue 12, defect 9: every release carries what the API needs, however it was started. A release
// started by a pipeline (every git push) used to carry no memo: `gantry rollback` after it succeeded
// answered 500 and `gantry release list` showed '?' for its app and environment. A rolled-back
// release was listed as 'failed'. On the real Temporal dev server, simulated cluster.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DIGEST_A, DIGEST_B, seedConfig } from '../support/fixtures.js';
import { caller, startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { pipelineWorkflowId } from '../../workflows/messages.js';

const BROKEN = `sha256:${'0'.repeat(63)}2`;
let h: Harness;

beforeAll(async () => { h = await startHarness({ neverReady: (r) => r.digest === BROKEN }); });
afterAll(async () => { await h?.close(); });

/** One environment, two groups that confirm themselves: a release that runs to the end alone. */
function autoConfig(app: string) {
  return seedConfig(app, { groups: [{ pods: 1 }, { pods: 'rest' }], deadlines: { progress: '3s' } });
}

async function pipelineDone(repo: string, sha: string): Promise<void> {
  await h.client.workflow.getHandle(pipelineWorkflowId(repo, sha)).result();
}

describe('releases started by a pipeline carry a memo', () => {
  it('are listed with their app and environment, and can be rolled back once they succeeded', async () => {
    const app = unique('memo');
    const config = autoConfig(app);
    // First release (digest A) from the API, then a pipeline releases digest B over it.
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'succeeded');
    const sha = 'abcdef1';
    await h.service.startPipeline({ config, repo: `acme/${app}`, sha, revision: { digest: DIGEST_B } }, { identity: { id: 'git-push', groups: [] }, channel: 'git' });
    await pipelineDone(`acme/${app}`, sha);

    const listed = await h.service.list(10, { app });
    expect(listed.length).toBe(2);
    for (const r of listed) expect(r).toMatchObject({ app, environment: 'production', status: 'completed' });

    const rolled = await h.service.decide(app, 'production', 'rollback', caller('alice', ['sre']), 'back to A');
    expect(rolled.started).toMatchObject({ existing: false });
    const back = await waitForStatus(h.service, app, 'production', (s) => s.phase === 'succeeded' && s.revision.digest === DIGEST_A);
    expect(back.revision.digest).toBe(DIGEST_A);
  });

  it('a rolled-back release is listed as rolled-back, not failed', async () => {
    const app = unique('memo');
    const config = autoConfig(app);
    await h.service.startRelease({ config, environment: 'production', revision: { digest: DIGEST_A } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'succeeded');
    await h.service.startRelease({ config, environment: 'production', revision: { digest: BROKEN } }, caller('dave'));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'rolled-back', 60_000);
    await h.service.waitForRelease(app, 'production');
    let listed = await h.service.list(10, { app });
    for (let i = 0; i < 50 && !listed.some((r) => r.status === 'rolled-back'); i++) { // visibility is eventually consistent
      await new Promise((r) => setTimeout(r, 100));
      listed = await h.service.list(10, { app });
    }
    expect(listed.map((r) => r.status).sort()).toEqual(['completed', 'rolled-back']);
  });

  it('a finished release without a memo (an older Gantry) gets a clear refusal, not a 500', async () => {
    const app = unique('memo');
    const config = autoConfig(app);
    const env = config.environments[0]!;
    // Started the way pipelines used to start releases: no memo.
    const prev = await h.client.workflow.start('release', {
      workflowId: `release/${app}/production`, taskQueue: h.taskQueue,
      args: [{ app, environment: env, revision: { image: config.app.image, digest: DIGEST_A }, startedBy: { id: 'x', channel: 'api' } }],
    });
    await prev.result();
    await h.client.workflow.start('release', {
      workflowId: `release/${app}/production`, taskQueue: h.taskQueue,
      args: [{ app, environment: env, revision: { image: config.app.image, digest: DIGEST_B }, startedBy: { id: 'x', channel: 'api' } }],
    }).then((w) => w.result());
    await expect(h.service.decide(app, 'production', 'rollback', caller('alice', ['sre']))).rejects.toThrow(/carries no configuration to roll back with/);
    const listed = await h.service.list(10, { app });
    for (const r of listed) expect(r).toMatchObject({ app, environment: 'production' });
  });
});
