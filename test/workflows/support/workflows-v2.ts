// Bundle entry for worker-versioning.test.ts: "Gantry version 2" of the workflows. Everything is
// the real code except the release, whose plan gains a step before its last group (made WITHOUT
// patched(), as a change may be once every worker is versioned). A release started on version 1
// and replayed on this code would silently switch plans after its approval: with Worker
// Versioning it stays PINNED to version 1 and keeps its original plan.
import type { GroupConfig } from '../../../core/config.js';
import { release as v1, type ReleaseInput } from '../../../workflows/release.js';

export { pipeline } from '../../../workflows/pipeline.js';
export { buildCatalog } from '../../../workflows/catalog.js';
export { releaseTrain } from '../../../workflows/train.js';

/** The step version 2 adds: one more pod per cell, automatically confirmed, before the last group. */
export const V2_STEP: GroupConfig = { name: 'v2 extra step', pods: 1, confirm: { type: 'auto' } };

export async function release(input: ReleaseInput): ReturnType<typeof v1> {
  const groups = input.environment.groups;
  return v1({ ...input, environment: { ...input.environment, groups: [...groups.slice(0, -1), V2_STEP, ...groups.slice(-1)] } });
}
