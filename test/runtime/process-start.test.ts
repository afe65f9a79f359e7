// The production processes stop at start on a configuration problem, naming the setting and the fix
// (issue 8): a worker asked for Kubernetes that finds no cluster access does not fall back to the
// test bed's kubeconfig (it used to, on a machine where the test bed exists, like this one) nor to
// the simulated cluster; the API names a bad GANTRY_API_ADDR. Real processes (tsx), no Temporal needed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';

jest.setTimeout(120_000);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

function run(entry: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-home-'));
  // Only what a fresh container would have: no KUBECONFIG, no KUBERNETES_SERVICE_HOST, an empty HOME.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, entry)], {
    cwd: root, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => { output += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { output += b.toString(); });
  return new Promise((resolve) => child.once('exit', (code) => { fs.rmSync(home, { recursive: true, force: true }); resolve({ code, output }); }));
}

describe('configuration errors at start', () => {
  it('worker: GANTRY_CLUSTER=kubernetes with no cluster access is a startup error with the fix', async () => {
    const r = await run('worker/main.ts', { GANTRY_CLUSTER: 'kubernetes', TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/gantry worker: configuration:\nGANTRY_CLUSTER: asks for Kubernetes, but no cluster access was found: no GANTRY_KUBECONFIG or KUBECONFIG, not in a pod/);
    expect(r.output).toMatch(/hint: set GANTRY_KUBECONFIG to a kubeconfig file, or run the worker in a pod with a service account token mounted/);
    expect(r.output).not.toMatch(/\.cache\/gantry/); // never the test bed's kubeconfig
  });

  it('worker: every bad setting at once', async () => {
    const r = await run('worker/main.ts', { GANTRY_CLUSTER: 'sim', TEMPORAL_ADDRESS: 'temporal', GANTRY_LOG_LEVEL: 'loud' });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/TEMPORAL_ADDRESS: expected host:port, got 'temporal'\n {2}hint: /);
    expect(r.output).toMatch(/GANTRY_LOG_LEVEL: expected one of trace, debug, info, warn, error, got 'loud'\n {2}hint: /);
  });

  it('API: GANTRY_API_ADDR: expected host:port …, with the hint', async () => {
    const r = await run('api/main.ts', { GANTRY_API_ADDR: 'everywhere' });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/gantry API: configuration:\nGANTRY_API_ADDR: expected host:port \(e\.g\. 127\.0\.0\.1:8080\), :port or port, got 'everywhere'\n {2}hint: host:port/);
  });
});
