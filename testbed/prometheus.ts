// Test bed: Prometheus for analysis. Debian's package (2.42, /usr/bin/prometheus), installed with
// --no-install-recommends and a policy-rc.d guard so the package does not start its own service; we
// run our own on 127.0.0.1 with a config in the state dir. Metrics come from scrape targets that
// tests and the demo register as files (file_sd: one JSON file per target, picked up within a second
// or so), scraped every second. GANTRY_PROMETHEUS_URL points Gantry at a user's Prometheus instead.
import fs from 'node:fs';
import path from 'node:path';
import { stateDir } from './paths.js';
import { poll, readPid, run, startDaemon, stopDaemon, tryRun } from './proc.js';

const NAME = 'prometheus';
export const prometheusBin = '/usr/bin/prometheus';
/** Debian bookworm's prometheus (2.42.0+ds-5+deb12u1); `prometheus --version` prints 2.42.0+ds. */
export const prometheusPin = '2.42.0+ds';
export const prometheusDir = path.join(stateDir, 'prometheus');
export const prometheusTargetsDir = path.join(prometheusDir, 'targets');
const configFile = path.join(prometheusDir, 'prometheus.yml');
const dataDir = path.join(prometheusDir, 'data');
export const embeddedPrometheus = { host: '127.0.0.1', port: Number(process.env.GANTRY_PROMETHEUS_PORT ?? 9090) };
/** How often the test bed's Prometheus scrapes its targets. */
export const scrapeIntervalSeconds = 1;

type Log = (m: string) => void;

export function userPrometheusUrl(): string | undefined { return process.env.GANTRY_PROMETHEUS_URL || undefined; }
export function embeddedPrometheusUrl(): string { return `http://${embeddedPrometheus.host}:${embeddedPrometheus.port}`; }
/** The Prometheus Gantry queries: the user's (GANTRY_PROMETHEUS_URL), else the test bed's. */
export function prometheusUrl(): string { return userPrometheusUrl() ?? embeddedPrometheusUrl(); }

export async function installedPrometheusVersion(): Promise<string | undefined> {
  if (!fs.existsSync(prometheusBin)) return undefined;
  const out = await tryRun([prometheusBin, '--version'], { timeoutMs: 30_000 });
  return out ? /prometheus, version (\S+)/.exec(out.stdout + out.stderr)?.[1] : undefined;
}

/** apt-get install prometheus (no recommends), without letting the package start its own service. */
export async function installPrometheus(log: Log = console.log): Promise<void> {
  const have = await installedPrometheusVersion();
  if (have === prometheusPin) { log(`prometheus: ${have} already installed (${prometheusBin})`); return; }
  if (have) log(`prometheus: found ${have}, expected ${prometheusPin}; installing the Debian package`);
  const t0 = Date.now();
  // policy-rc.d exiting 101 tells invoke-rc.d not to start services during the install.
  const policy = '/usr/sbin/policy-rc.d';
  const ours = !fs.existsSync(policy);
  if (ours) fs.writeFileSync(policy, '#!/bin/sh\n# gantry test bed: do not start services from package scripts\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => run(['apt-get', 'install', '-y', '--no-install-recommends', 'prometheus'], { env, timeoutMs: 900_000 });
    try {
      await install();
    } catch {
      log('prometheus: apt-get install failed; running apt-get update and retrying');
      await run(['apt-get', 'update'], { env, timeoutMs: 600_000 });
      await install();
    }
  } finally {
    if (ours) fs.rmSync(policy, { force: true });
  }
  const now = await installedPrometheusVersion();
  if (!now) throw new Error(`prometheus: ${prometheusBin} missing after apt-get install prometheus`);
  if (now !== prometheusPin) log(`prometheus: installed ${now} (pin ${prometheusPin}); continuing`);
  log(`prometheus: installed ${now} in ${Date.now() - t0} ms`);
}

function writeConfig(): void {
  fs.mkdirSync(prometheusTargetsDir, { recursive: true });
  const text = `# Written by the gantry test bed (testbed/prometheus.ts). Targets: one JSON file per target in
# ${prometheusTargetsDir} ([{"targets": ["127.0.0.1:PORT"], "labels": {...}}]).
global:
  scrape_interval: ${scrapeIntervalSeconds}s
  evaluation_interval: 15s
scrape_configs:
  - job_name: gantry
    scrape_interval: ${scrapeIntervalSeconds}s
    scrape_timeout: ${scrapeIntervalSeconds}s
    file_sd_configs:
      - files: ['${prometheusTargetsDir}/*.json']
        refresh_interval: 5s
`;
  if (!fs.existsSync(configFile) || fs.readFileSync(configFile, 'utf8') !== text) fs.writeFileSync(configFile, text);
}

export async function prometheusReady(url = prometheusUrl()): Promise<boolean> {
  try {
    const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(3000) });
    return res.status === 200;
  } catch { return false; }
}

export interface PrometheusStatus { url: string; embedded: boolean; healthy: boolean; pid?: number }

export async function prometheusStatus(): Promise<PrometheusStatus> {
  const user = userPrometheusUrl();
  if (user) return { url: user, embedded: false, healthy: await prometheusReady(user) };
  const url = embeddedPrometheusUrl();
  const pid = readPid(NAME);
  return { url, embedded: true, healthy: await prometheusReady(url), ...(pid ? { pid } : {}) };
}

/** Starts the test bed's Prometheus on 127.0.0.1 (unless GANTRY_PROMETHEUS_URL is set) and waits until it is ready. */
export async function upPrometheus(log: Log = console.log): Promise<PrometheusStatus> {
  const user = userPrometheusUrl();
  if (user) {
    log(`prometheus: using GANTRY_PROMETHEUS_URL=${user} (embedded Prometheus not started)`);
    await poll(() => prometheusReady(user), { timeoutMs: 30_000, what: `Prometheus at ${user}` });
    return prometheusStatus();
  }
  await installPrometheus(log);
  writeConfig();
  const url = embeddedPrometheusUrl();
  if (await prometheusReady(url)) { log(`prometheus: already ready at ${url}`); return prometheusStatus(); }
  const t0 = Date.now();
  fs.mkdirSync(dataDir, { recursive: true });
  if (!readPid(NAME)) {
    startDaemon(NAME, [prometheusBin, `--config.file=${configFile}`, `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=${embeddedPrometheus.host}:${embeddedPrometheus.port}`, '--web.enable-lifecycle',
      '--storage.tsdb.retention.time=2d', '--log.level=warn']);
  }
  await poll(() => prometheusReady(url), { timeoutMs: 60_000, intervalMs: 250, what: `Prometheus at ${url}`, logName: NAME });
  log(`prometheus: ready at ${url} in ${Date.now() - t0} ms (scrape targets: ${prometheusTargetsDir})`);
  return prometheusStatus();
}

export async function downPrometheus(log: Log = console.log): Promise<void> {
  if (await stopDaemon(NAME)) log('prometheus: stopped'); else log('prometheus: not running');
}

/**
 * Registers a scrape target (host:port serving /metrics) with the test bed's Prometheus, under a
 * file name of its own; returns a function that removes it again.
 */
export function registerScrapeTarget(name: string, hostPort: string, labels: Record<string, string> = {}): () => void {
  fs.mkdirSync(prometheusTargetsDir, { recursive: true });
  const file = path.join(prometheusTargetsDir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify([{ targets: [hostPort], labels }]));
  fs.renameSync(tmp, file);
  return () => fs.rmSync(file, { force: true });
}

/** Waits until Prometheus answers `query` with a value (e.g. after registering a target). */
export async function waitForSeries(query: string, timeoutMs = 30_000, url = prometheusUrl()): Promise<number> {
  let value = Number.NaN;
  await poll(async () => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`, { signal: AbortSignal.timeout(3000) });
    const body = await res.json() as { data?: { result?: { value: [number, string] }[] } };
    const r = body.data?.result?.[0];
    if (!r) return false;
    value = Number(r.value[1]);
    return true;
  }, { timeoutMs, intervalMs: 250, what: `Prometheus to return data for ${query}`, logName: NAME });
  return value;
}
