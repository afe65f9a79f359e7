// Test bed: Debian's Chromium headless shell, pinned, so the console's browser tests
// (test/console/*.browser.test.ts, test/console/browser-smoke.test.ts) drive a real browser through
// playwright-core. playwright-core downloads no browser: this is the one it launches.
import fs from 'node:fs';
import { aptInstallPinned, dpkgVersion } from './registry.js';
import { chromiumHeadlessShellBin, pins } from './paths.js';

export async function installChromium(log: (m: string) => void = console.log): Promise<void> {
  const before = await dpkgVersion('chromium-headless-shell');
  // The shell depends on chromium-common of exactly the same build.
  await aptInstallPinned({ 'chromium-headless-shell': pins.chromium, 'chromium-common': pins.chromium }, log);
  if (before === pins.chromium) log(`chromium: chromium-headless-shell ${before} already installed`);
  if (!fs.existsSync(chromiumHeadlessShellBin)) throw new Error(`chromium: ${chromiumHeadlessShellBin} missing after installing chromium-headless-shell`);
}
