// Runs before npm start/test/bench (npm's pre-scripts): installs the pinned npm dependencies when
// node_modules is missing or older than package-lock.json. Plain Node, no deps.
// Not `npm ci`: the npm on these machines writes lockfiles without the other platforms' optional
// packages (e.g. @swc/core-darwin-arm64), and `npm ci` then refuses the lockfile as out of sync.
// `npm install --no-save` installs exactly the locked versions and leaves the lockfile untouched.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const marker = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
const stale = !fs.existsSync(marker) || fs.statSync(marker).mtimeMs < fs.statSync(lock).mtimeMs;
if (stale) {
  console.log('gantry: installing the locked npm dependencies');
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}
