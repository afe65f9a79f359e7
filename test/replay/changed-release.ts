// Bundle entry for replay.test.ts: the release workflow with one new step at its start (a timer
// before anything else, e.g. a new "wait for the freeze window" added without patched()). A release
// that was waiting for approval when the worker was upgraded to this code cannot carry on.
import { sleep } from '@temporalio/workflow';
import { release as current, type ReleaseInput } from '../../workflows/release.js';

export async function release(input: ReleaseInput): ReturnType<typeof current> {
  await sleep('1s');
  return current(input);
}
