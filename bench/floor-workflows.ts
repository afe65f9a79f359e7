// The floor the release benchmark is compared against: a bare workflow doing what one release group
// does at minimum (one activity per group; older code did two in a row), with nothing of Gantry's in the path.
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(): Promise<number> }>({ startToCloseTimeout: '10s' });

export async function floorSteps(steps: number, activitiesPerStep: number): Promise<number[]> {
  const stamps: number[] = [];
  for (let i = 0; i < steps; i++) {
    let t = 0;
    for (let j = 0; j < activitiesPerStep; j++) t = await noop();
    stamps.push(t);
  }
  return stamps;
}
