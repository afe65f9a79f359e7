// The environment the test bed gives Gantry's processes: its local addresses, tools and directories
// as the variables production reads (runtime/config.ts), so production code never imports testbed/.
// A variable the user set already wins.
import { buildctlBin, embeddedBuildkitAddr, hadolintBin, stateDir } from './paths.js';

/** The test bed's settings for a Gantry worker or API: Temporal, the task queue, data dir and build tools. */
export function testbedGantryEnv(base: NodeJS.ProcessEnv, o: { temporalAddress: string; taskQueue?: string }): NodeJS.ProcessEnv {
  return {
    ...base,
    TEMPORAL_ADDRESS: o.temporalAddress,
    ...(o.taskQueue ? { GANTRY_TASK_QUEUE: o.taskQueue } : {}),
    // Workspaces, pipeline logs and the simulated cluster under the test bed's state dir (GANTRY_HOME).
    GANTRY_DATA_DIR: base.GANTRY_DATA_DIR || stateDir,
    GANTRY_BUILDKIT_ADDR: base.GANTRY_BUILDKIT_ADDR || embeddedBuildkitAddr,
    GANTRY_BUILDCTL: base.GANTRY_BUILDCTL || buildctlBin,
    GANTRY_HADOLINT: base.GANTRY_HADOLINT || hadolintBin,
  };
}
