// An abort while a group is still in flight (new pods that never become Ready, a 10-minute progress
// deadline) cancels the group's activity, and the rollback starts at once instead of after the deadline.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { V1, V2, baseline, caller, dropNamespace, k8sConfig, podCounts, revisionOf, startK8sHarness, unique, type K8sHarness } from './support/harness.js';

let h: K8sHarness;
beforeAll(async () => { h = await startK8sHarness(); }, 900_000);
afterAll(async () => { await h?.close(); });

describe('abort in flight (real control plane)', () => {
  it('abort while a group waits for its new pods cancels the group: rolled back long before the 10-minute deadline', async () => {
    const app = unique('abortin');
    const config = k8sConfig(app, { deadlines: { progress: '10m' }, traffic: { httpRoute: { name: app } } });
    const broken = k8sConfig(app, { deadlines: { progress: '10m' }, traffic: { httpRoute: { name: app } }, pod: { labels: { 'gantry.dev/fail': 'true' } } });
    await baseline(h, config, V1);
    await h.service.startRelease({ config: broken, environment: 'production', revision: V2 }, caller('carol'));
    await new Promise((r) => setTimeout(r, 4000)); // the group is applying: its new pods never become Ready
    await h.service.decide(app, 'production', 'abort', caller('bob', ['sre']), 'stuck');
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('rolled-back');
    expect(final.stop?.cause).toBe('abort');
    // Without the cancellation the rollback would start only at the progress deadline (10 minutes).
    expect(Date.parse(final.outcome!.at) - Date.parse(final.stop!.at)).toBeLessThan(60_000);
    const r1 = revisionOf(config, V1);
    expect(await podCounts(h, config)).toEqual({ 'zone-a': { [r1]: 5 }, 'zone-b': { [r1]: 5 } });
    await dropNamespace(h, app);
  });
});
