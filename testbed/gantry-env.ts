// The environment the test bed gives Gantry's processes: its local addresses, tools and directories
// as the variables production reads (runtime/config.ts), so production code never imports testbed/.
// A variable the user set already wins.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
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

/** The console's session secret for this machine: made once, 0600 in the state dir, so sign-ins survive a restart. */
function consoleSessionSecret(): string {
  const file = path.join(stateDir, 'console-session-secret');
  try {
    const kept = fs.readFileSync(file, 'utf8').trim();
    if (kept.length >= 64) return kept;
  } catch { /* make one */ }
  const secret = crypto.randomBytes(32).toString('hex');
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * The console settings for a person on this machine (`npm start`, `npm run demo`): sign-in by pasting
 * an API token (the demo identities' tokens), a session secret, and links to the dev server's Temporal
 * UI. Only the additions, for the API's environment; a variable the user set wins.
 */
export function testbedConsoleEnv(base: NodeJS.ProcessEnv, o: { temporalUiUrl?: string | undefined }): NodeJS.ProcessEnv {
  return {
    GANTRY_UI_SESSION_SECRET: base.GANTRY_UI_SESSION_SECRET || consoleSessionSecret(),
    GANTRY_UI_TOKEN_LOGIN: base.GANTRY_UI_TOKEN_LOGIN || 'true',
    ...(o.temporalUiUrl && !base.GANTRY_TEMPORAL_UI_URL ? { GANTRY_TEMPORAL_UI_URL: o.temporalUiUrl } : {}),
  };
}
