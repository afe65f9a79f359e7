// Test bed, part 3a: an OCI registry, Debian's docker-registry (distribution 2.8.2), pinned.
// Never with the packaged /etc/docker/registry/config.yml (it turns on htpasswd auth and listens on
// every interface): our own config, loopback only, deletes enabled, storage in the state dir.
// Also the pinned apt helper the build tools share.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, killGroup } from './ephemeral-temporal.js';
import { embeddedRegistry, pins, registryBin, registryStateDir } from './paths.js';
import { poll, readPid, run, startDaemon, stopDaemon, tryRun } from './proc.js';

type Log = (m: string) => void;
const NAME = 'registry';

export async function dpkgVersion(pkg: string): Promise<string | undefined> {
  const out = await tryRun(['dpkg-query', '-W', '-f=${Status}\t${Version}', pkg], { timeoutMs: 30_000 });
  if (!out) return undefined;
  const [status, version] = out.stdout.split('\t');
  return status?.includes('install ok installed') ? version : undefined;
}

/**
 * Installs Debian packages at exact versions (skipped when they already are). Debian maintainer
 * scripts would start services on install (docker-registry on :5000 with auth on); when the
 * machine has no policy-rc.d forbidding that, one is put in place for the install.
 */
export async function aptInstallPinned(pkgs: Record<string, string>, log: Log): Promise<void> {
  const missing: string[] = [];
  for (const [name, version] of Object.entries(pkgs)) if ((await dpkgVersion(name)) !== version) missing.push(`${name}=${version}`);
  if (missing.length === 0) return;
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !fs.existsSync(policy);
  if (ownPolicy) fs.writeFileSync(policy, '#!/bin/sh\n# gantry test bed: no service starts during apt-get install\nexit 101\n', { mode: 0o755 });
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...missing];
  try {
    log(`apt: installing ${missing.join(' ')}`);
    try {
      await run(install, { env, timeoutMs: 600_000 });
    } catch {
      log('apt: refreshing the package lists (apt-get update) and retrying');
      await run(['apt-get', 'update', '-q'], { env, timeoutMs: 600_000 });
      await run(install, { env, timeoutMs: 600_000 });
    }
  } finally {
    if (ownPolicy) fs.rmSync(policy, { force: true });
  }
  for (const [name, version] of Object.entries(pkgs)) {
    const now = await dpkgVersion(name);
    if (now !== version) throw new Error(`apt: expected ${name} ${version} after install, found ${now ?? 'nothing'}`);
  }
}

export async function installRegistry(log: Log = console.log): Promise<void> {
  const before = await dpkgVersion('docker-registry');
  await aptInstallPinned({ 'docker-registry': pins.dockerRegistry }, log);
  if (before === pins.dockerRegistry) log(`registry: docker-registry ${before} already installed`);
  if (!fs.existsSync(registryBin)) throw new Error(`registry: ${registryBin} missing after installing docker-registry`);
}

/** Our registry config: loopback only, deletes enabled, no auth. */
export function registryConfig(o: { addr: string; rootDir: string }): string {
  return [
    'version: 0.1',
    'log: {level: warn, fields: {service: registry}}',
    'storage:',
    `  filesystem: {rootdirectory: ${JSON.stringify(o.rootDir)}}`,
    '  delete: {enabled: true}',
    '  cache: {blobdescriptor: inmemory}',
    'http:',
    `  addr: ${o.addr}`,
    '  headers: {X-Content-Type-Options: [nosniff]}',
    '',
  ].join('\n');
}

export async function registryHealthy(addr: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${addr}/v2/`, { signal: AbortSignal.timeout(2000) });
    return res.status === 200;
  } catch { return false; }
}

export function embeddedRegistryAddr(): string { return `${embeddedRegistry.host}:${embeddedRegistry.port}`; }

export async function upRegistry(log: Log = console.log): Promise<string> {
  await installRegistry(log);
  const addr = embeddedRegistryAddr();
  if (await registryHealthy(addr)) { log(`registry: already serving at http://${addr}`); return addr; }
  const cfg = path.join(registryStateDir, 'config.yml');
  fs.mkdirSync(path.join(registryStateDir, 'data'), { recursive: true });
  fs.writeFileSync(cfg, registryConfig({ addr, rootDir: path.join(registryStateDir, 'data') }));
  startDaemon(NAME, [registryBin, 'serve', cfg]);
  await poll(() => registryHealthy(addr), { timeoutMs: 30_000, what: `registry at ${addr}`, logName: NAME });
  log(`registry: serving at http://${addr} (storage ${path.join(registryStateDir, 'data')})`);
  return addr;
}

export async function downRegistry(log: Log = console.log): Promise<void> {
  if (await stopDaemon(NAME)) log('registry: stopped'); else log('registry: not running');
}

export async function registryStatus(): Promise<{ addr: string; healthy: boolean; pid?: number }> {
  const addr = embeddedRegistryAddr();
  return { addr, healthy: await registryHealthy(addr), ...(readPid(NAME) ? { pid: readPid(NAME)! } : {}) };
}

export interface EphemeralRegistry { addr: string; pid: number; dir: string; log: string; stop(): void }

/** A throwaway registry on a free loopback port with its own storage (tests, benchmarks). */
export async function startEphemeralRegistry(): Promise<EphemeralRegistry> {
  if (!fs.existsSync(registryBin)) throw new Error(`registry binary missing at ${registryBin}: run \`npm run testbed -- install\``);
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-registry-'));
  const cfg = path.join(dir, 'config.yml');
  fs.writeFileSync(cfg, registryConfig({ addr, rootDir: path.join(dir, 'data') }));
  const log = path.join(dir, 'registry.log');
  const out = fs.openSync(log, 'w');
  const child = spawn(registryBin, ['serve', cfg], { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.unref();
  const pid = child.pid!;
  let exited = false;
  child.once('exit', () => { exited = true; });
  // poll() treats a throwing check as "not ready yet", so an early exit ends the wait by returning true.
  await poll(async () => exited || registryHealthy(addr), { timeoutMs: 30_000, what: `registry at ${addr} (log ${log})` })
    .catch((err: unknown) => { killGroup(pid); throw err; });
  if (exited) throw new Error(`registry exited at start: ${fs.readFileSync(log, 'utf8').slice(-1000)}`);
  return { addr, pid, dir, log, stop: () => { killGroup(pid); fs.rmSync(dir, { recursive: true, force: true }); } };
}
