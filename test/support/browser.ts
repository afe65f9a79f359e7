// Real Chromium for the console's browser tests: Debian's chromium-headless-shell, pinned and
// installed by `npm run testbed -- install` (testbed/chromium.ts), driven by playwright-core (which
// downloads no browser of its own). Missing browser: a loud error, never a skip.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chromiumHeadlessShellBin, pins } from '../../testbed/paths.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Every screenshot of a run (gitignored). */
export const artifactsDir = path.join(repoRoot, 'test-artifacts', 'console');
/** The screenshots the README shows, refreshed only with GANTRY_UPDATE_SCREENSHOTS=1. */
export const docsShotsDir = path.join(repoRoot, 'docs', 'console');

export interface TestBrowser {
  browser: Browser;
  /** Chromium's own version, e.g. 156.0.8078.114. */
  version: string;
  /** Closes every context and the browser; kills the process when a clean close hangs. */
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!fs.existsSync(chromiumHeadlessShellBin)) {
    throw new Error(`browser tests: ${chromiumHeadlessShellBin} is missing; run \`npm run testbed -- install\` (installs Debian's chromium-headless-shell ${pins.chromium})`);
  }
  // A browser server (not launch()) so the test holds the process and can kill it.
  // --no-sandbox: the tests run as root, where Chromium refuses its sandbox.
  const server = await chromium.launchServer({ executablePath: chromiumHeadlessShellBin, args: ['--no-sandbox'], timeout: 30_000 });
  let browser: Browser;
  try {
    browser = await chromium.connect(server.wsEndpoint(), { timeout: 30_000 });
  } catch (err) {
    await server.kill();
    throw err;
  }
  return {
    browser,
    version: browser.version(),
    async close() {
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<'hung'>((r) => { timer = setTimeout(() => r('hung'), 10_000); });
      try {
        const res = await Promise.race([browser.close().then(() => server.close()).then(() => 'closed' as const), hung]);
        if (res === 'closed') return;
      } catch { /* a broken connection: kill below */ } finally {
        clearTimeout(timer);
      }
      await server.kill();
    },
  };
}

/**
 * A full-page screenshot in test-artifacts/console/<name>.png; with `docs` and
 * GANTRY_UPDATE_SCREENSHOTS=1 also copied to docs/console/<name>.png for the README.
 */
export async function screenshot(page: Page, name: string, opts: { docs?: boolean } = {}): Promise<string> {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`screenshot name ${JSON.stringify(name)}: use lowercase letters, digits and '-'`);
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (opts.docs && process.env.GANTRY_UPDATE_SCREENSHOTS === '1') {
    fs.mkdirSync(docsShotsDir, { recursive: true });
    fs.copyFileSync(file, path.join(docsShotsDir, `${name}.png`));
  }
  return file;
}
