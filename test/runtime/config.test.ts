// One typed runtime configuration per process (issue 8): the environment → WorkerConfig / ApiConfig,
// with production defaults (nothing from the test bed), every problem reported with the variable,
// the message and a hint, and secrets never echoed or carried where a config is printed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_BUILDKIT_ADDR, loadApiConfig, loadWorkerConfig, RuntimeConfigError, unwritable, which, type WorkerProbe,
} from '../../runtime/config.js';
import { createGantryActivities } from '../../worker/activities.js';

/** A machine with no cluster, no tools on PATH, and everything writable. */
const bare = (o: Partial<WorkerProbe> = {}): WorkerProbe => ({ exists: () => false, home: '/home/g', which: () => undefined, unwritable: () => undefined, ...o });

function errorsOf(fn: () => unknown): { path: string; message: string; hint: string }[] {
  try { fn(); } catch (e) { if (e instanceof RuntimeConfigError) return e.errors; throw e; }
  throw new Error('expected a RuntimeConfigError');
}

describe('the worker configuration', () => {
  it('has production defaults: Temporal on localhost:7233, no Prometheus, tools on PATH, state under the XDG state dir', () => {
    const c = loadWorkerConfig({ HOME: '/home/g', GANTRY_CLUSTER: 'sim' }, bare());
    expect(c.temporal).toEqual({ address: 'localhost:7233', namespace: 'default', configured: false, tls: false, apiKey: false });
    expect(c.taskQueue).toBe('gantry');
    expect(c.logLevel).toBe('info');
    expect(c.dataDir).toBe('/home/g/.local/state/gantry');
    expect(c.pipeline).toEqual({
      workspaceRoot: '/home/g/.local/state/gantry/workspaces', logDir: '/home/g/.local/state/gantry/pipeline-logs',
      buildkitAddr: DEFAULT_BUILDKIT_ADDR, buildctlBin: 'buildctl', hadolintBin: 'hadolint',
    });
    expect(c.cluster).toEqual({ kind: 'sim', why: 'GANTRY_CLUSTER=sim', dir: '/home/g/.local/state/gantry/sim', applyDelayMs: 1000, readyDelayMs: 1000 });
    expect(c.github).toEqual({ apiUrl: 'https://api.github.com', tokenEnv: 'GANTRY_GITHUB_TOKEN' });
    expect(c.slack).toMatchObject({ enabled: false, tokenEnv: 'SLACK_BOT_TOKEN' });
    // No default reaches into the test bed's cache (~/.cache/gantry).
    expect(JSON.stringify(c)).not.toMatch(/\.cache\/gantry|9090|prometheus/i);
  });

  it('reads every setting', () => {
    const c = loadWorkerConfig({
      TEMPORAL_ADDRESS: 'temporal.example.com:7233', TEMPORAL_NAMESPACE: 'gantry-prod', GANTRY_TASK_QUEUE: 'team-a', GANTRY_LOG_LEVEL: 'WARN',
      GANTRY_DATA_DIR: '/data', GANTRY_WORKSPACE_DIR: '/scratch/ws', GANTRY_BUILDKIT_ADDR: 'tcp://buildkitd:1234',
      GANTRY_BUILDCTL: '/opt/bin/buildctl', GANTRY_HADOLINT: 'hadolint',
      GANTRY_CLUSTER: 'kubernetes', GANTRY_KUBECONFIG: '/etc/gantry/kubeconfig', GANTRY_KUBE_CONTEXT: 'prod-eu',
      GANTRY_PROMETHEUS_URL: 'http://prometheus.monitoring:9090/', GANTRY_DRAIN_GRACE: '10s',
      GANTRY_GITHUB_API_URL: 'https://ghe.example.com/api/v3/', GANTRY_SLACK_CHANNEL: 'C0123', SLACK_BOT_TOKEN: 'xoxb-secret',
    }, bare({ exists: (f) => f === '/etc/gantry/kubeconfig', which: (cmd) => (cmd === 'hadolint' ? '/usr/bin/hadolint' : cmd) }));
    expect(c.temporal).toEqual({ address: 'temporal.example.com:7233', namespace: 'gantry-prod', configured: true, tls: false, apiKey: false });
    expect([c.taskQueue, c.logLevel, c.dataDir]).toEqual(['team-a', 'warn', '/data']);
    expect(c.pipeline).toEqual({ workspaceRoot: '/scratch/ws', logDir: '/data/pipeline-logs', buildkitAddr: 'tcp://buildkitd:1234', buildctlBin: '/opt/bin/buildctl', hadolintBin: '/usr/bin/hadolint' });
    expect(c.cluster).toEqual({
      kind: 'kubernetes', why: 'GANTRY_CLUSTER=kubernetes; GANTRY_KUBECONFIG is set', access: { kind: 'kubeconfig', path: '/etc/gantry/kubeconfig' },
      context: 'prod-eu', prometheusUrl: 'http://prometheus.monitoring:9090', drainGrace: '10s',
    });
    expect(c.github.apiUrl).toBe('https://ghe.example.com/api/v3');
    expect(c.slack).toMatchObject({ enabled: true, channel: 'C0123' });
  });

  it('keeps the environment for secrets off the printable config', () => {
    const c = loadWorkerConfig({ GANTRY_CLUSTER: 'sim', HOME: '/h', SLACK_BOT_TOKEN: 'xoxb-very-secret', GANTRY_GITHUB_TOKEN: 'ghp_secret' }, bare());
    expect(c.env.SLACK_BOT_TOKEN).toBe('xoxb-very-secret');
    expect(JSON.stringify(c)).not.toMatch(/secret/);
    expect(Object.keys(c)).not.toContain('env');
  });

  it('reports every problem at once, each with the variable, what is wrong (the value echoed) and a hint', () => {
    const errors = errorsOf(() => loadWorkerConfig({
      TEMPORAL_ADDRESS: 'temporal', GANTRY_LOG_LEVEL: 'verbose', GANTRY_TASK_QUEUE: 'team a', GANTRY_DATA_DIR: 'relative/dir',
      GANTRY_PROMETHEUS_URL: 'prometheus:9090', GANTRY_DRAIN_GRACE: '5', GANTRY_SIM_APPLY_DELAY_MS: 'soon', GANTRY_BUILDCTL: 'bin/buildctl',
      GANTRY_CLUSTER: 'kubernetes',
    }, bare()));
    const byPath = Object.fromEntries(errors.map((e) => [e.path, e]));
    expect(Object.keys(byPath).sort()).toEqual([
      'GANTRY_BUILDCTL', 'GANTRY_CLUSTER', 'GANTRY_DATA_DIR', 'GANTRY_DRAIN_GRACE', 'GANTRY_LOG_LEVEL', 'GANTRY_PROMETHEUS_URL',
      'GANTRY_SIM_APPLY_DELAY_MS', 'GANTRY_TASK_QUEUE', 'TEMPORAL_ADDRESS',
    ]);
    expect(byPath.TEMPORAL_ADDRESS).toEqual({ path: 'TEMPORAL_ADDRESS', message: "expected host:port, got 'temporal'", hint: expect.stringMatching(/host:port, e\.g\. .*:7233/) });
    expect(byPath.GANTRY_LOG_LEVEL!.message).toBe("expected one of trace, debug, info, warn, error, got 'verbose'");
    expect(byPath.GANTRY_TASK_QUEUE!.message).toMatch(/without spaces/);
    expect(byPath.GANTRY_DATA_DIR!.message).toBe("expected an absolute path, got 'relative/dir'");
    expect(byPath.GANTRY_CLUSTER!.message).toMatch(/asks for Kubernetes, but no cluster access was found/);
    expect(byPath.GANTRY_CLUSTER!.hint).toMatch(/GANTRY_KUBECONFIG/);
    for (const e of errors) expect(e.hint.length).toBeGreaterThan(10);
    // The message lists them, one per line, with the hint under each.
    try { loadWorkerConfig({ TEMPORAL_ADDRESS: 'temporal', GANTRY_CLUSTER: 'sim' }, bare()); } catch (e) {
      expect((e as Error).message).toBe("TEMPORAL_ADDRESS: expected host:port, got 'temporal'\n  hint: the Temporal frontend as host:port, e.g. temporal-frontend.temporal:7233, or <namespace>.<account>.tmprl.cloud:7233 (default localhost:7233)");
    }
  });

  it('GANTRY_PUBLIC_URL: optional; an origin (the console links of statuses and notices), validated as for the API', () => {
    expect(loadWorkerConfig({ GANTRY_CLUSTER: 'sim', HOME: '/h' }, bare()).publicUrl).toBeUndefined();
    expect(loadWorkerConfig({ GANTRY_CLUSTER: 'sim', HOME: '/h', GANTRY_PUBLIC_URL: 'https://gantry.example.com/' }, bare()).publicUrl).toBe('https://gantry.example.com');
    expect(loadWorkerConfig({ GANTRY_CLUSTER: 'sim', HOME: '/h', GANTRY_PUBLIC_URL: 'http://gantry.internal:8080' }, bare()).publicUrl).toBe('http://gantry.internal:8080');
    for (const [value, message] of [
      ['https://gantry.example.com/gantry', "expected a scheme, host and optional port only, got 'https://gantry.example.com/gantry'"],
      ['gantry.example.com', "expected an http(s) URL, got 'gantry.example.com'"],
      ['ftp://gantry.example.com', "expected an http(s) URL, got 'ftp://gantry.example.com'"],
    ]) {
      expect(errorsOf(() => loadWorkerConfig({ GANTRY_CLUSTER: 'sim', HOME: '/h', GANTRY_PUBLIC_URL: value! }, bare()))).toEqual([
        { path: 'GANTRY_PUBLIC_URL', message, hint: expect.stringMatching(/^the URL browsers open Gantry at, e\.g\. https:\/\/gantry\.example\.com/) },
      ]);
    }
  });

  it('names a directory it cannot write, and which setting put it there', () => {
    const errors = errorsOf(() => loadWorkerConfig({ GANTRY_CLUSTER: 'sim', GANTRY_DATA_DIR: '/ro', GANTRY_PIPELINE_LOG_DIR: '/logs' },
      bare({ unwritable: (d) => (d.startsWith('/ro') ? '/ro is not writable by this process' : undefined) })));
    expect(errors.map((e) => e.path)).toEqual(['GANTRY_DATA_DIR', 'GANTRY_DATA_DIR']);
    expect(errors[0]!.message).toBe('the worker cannot write /ro/workspaces: /ro is not writable by this process');
  });

  it('unwritable: checks the nearest existing directory without creating anything', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-cfg-'));
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, '');
    expect(unwritable(path.join(dir, 'new', 'deeper'))).toBeUndefined();
    expect(fs.existsSync(path.join(dir, 'new'))).toBe(false);
    expect(unwritable(path.join(file, 'sub'))).toBe(`${file} is not a directory`);
    fs.rmSync(dir, { recursive: true });
  });

  it('which: finds an executable on PATH only', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-path-'));
    fs.writeFileSync(path.join(dir, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'data'), '', { mode: 0o644 });
    expect(which('tool', { PATH: `/nonexistent:${dir}` })).toBe(path.join(dir, 'tool'));
    expect(which('data', { PATH: dir })).toBeUndefined();
    expect(which('tool', {})).toBeUndefined();
    fs.rmSync(dir, { recursive: true });
  });

  it('the composition root builds every activity a workflow calls from it', () => {
    const c = loadWorkerConfig({ GANTRY_CLUSTER: 'sim', HOME: '/h' }, bare());
    const a = createGantryActivities(c);
    for (const name of ['describeTarget', 'applyGroup', 'waitHealthy', 'measure', 'rollback', 'finalize', 'checkout', 'runGate', 'buildImage',
      'verifyImage', 'resolveDigest', 'promoteImage', 'deleteImage', 'tagRelease', 'recordBuild', 'newestBuild', 'environmentRevision', 'notify',
      'githubCommitStatus']) {
      expect(typeof (a as unknown as Record<string, unknown>)[name]).toBe('function');
    }
    const notify = async () => ({ delivered: false });
    expect(createGantryActivities(c, { notify }).notify).toBe(notify);
  });
});

describe('the API configuration', () => {
  it('has production defaults', () => {
    const c = loadApiConfig({});
    expect(c).toEqual({ temporal: { address: 'localhost:7233', namespace: 'default', configured: false, tls: false, apiKey: false }, taskQueue: 'gantry', buildTaskQueue: 'gantry', logLevel: 'info', listen: { host: '127.0.0.1', port: 8080 }, publicIndex: false, hasTokens: false });
  });

  it('reads GANTRY_API_ADDR, GANTRY_PUBLIC_INDEX, GANTRY_SERVER_CONFIG and notes GANTRY_TOKENS without keeping it on the config', () => {
    const c = loadApiConfig({ GANTRY_API_ADDR: '0.0.0.0:9000', GANTRY_PUBLIC_INDEX: 'true', GANTRY_SERVER_CONFIG: '/etc/gantry/server.yaml', GANTRY_TOKENS: '{"tok-secret-123":{}}' });
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(c.publicIndex).toBe(true);
    expect(c.serverConfigFile).toBe('/etc/gantry/server.yaml');
    expect(c.hasTokens).toBe(true);
    expect(JSON.stringify(c)).not.toMatch(/tok-secret/);
    expect(loadApiConfig({ GANTRY_API_ADDR: ':0' }).listen).toEqual({ host: '127.0.0.1', port: 0 });
  });

  it('GANTRY_API_ADDR: expected host:port …, with a hint; GANTRY_PUBLIC_INDEX must be a flag', () => {
    const errors = errorsOf(() => loadApiConfig({ GANTRY_API_ADDR: 'localhost:99999', GANTRY_PUBLIC_INDEX: 'maybe' }));
    expect(errors).toEqual([
      { path: 'GANTRY_API_ADDR', message: "expected host:port (e.g. 127.0.0.1:8080), :port or port, got 'localhost:99999'", hint: expect.stringMatching(/0\.0\.0\.0:8080 in a container/) },
      { path: 'GANTRY_PUBLIC_INDEX', message: "expected 1 or 0, got 'maybe'", hint: expect.stringMatching(/set 1/) },
    ]);
  });
});
