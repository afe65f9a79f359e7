// The prebuilt workflow bundle (GANTRY_WORKFLOW_BUNDLE, `npm run bundle`): the setting is checked at
// start (a missing or unreadable bundle names the setting and how to build it; a build worker, which
// runs no workflows, ignores it), and the script writes a bundle of every workflow that the worker
// options load instead of the sources. A worker running a release from the bundle, inside Gantry's
// image: test/build/self-image.test.ts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { loadWorkerConfig, RuntimeConfigError, type WorkerProbe } from '../../runtime/config.js';
import { workflowCode, workflowsPath } from '../../worker/worker.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const bare: WorkerProbe = { exists: () => false, home: '/home/g', which: () => undefined, unwritable: () => undefined };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-bundle-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function errorsOf(fn: () => unknown): { path: string; message: string; hint: string }[] {
  try { fn(); } catch (e) { if (e instanceof RuntimeConfigError) return e.errors; throw e; }
  throw new Error('expected a RuntimeConfigError');
}

describe('GANTRY_WORKFLOW_BUNDLE', () => {
  it('unset: the sources are bundled at start', () => {
    const c = loadWorkerConfig({ GANTRY_CLUSTER: 'sim' }, bare);
    expect(c.workflowBundle).toBeUndefined();
    expect(workflowCode(c.workflowBundle)).toEqual({ workflowsPath });
  });

  it('a missing bundle, a directory or a relative path stop the worker with the setting and the fix', () => {
    const missing = path.join(dir, 'nope.js');
    expect(errorsOf(() => loadWorkerConfig({ GANTRY_CLUSTER: 'sim', GANTRY_WORKFLOW_BUNDLE: missing }, bare))).toEqual([{
      path: 'GANTRY_WORKFLOW_BUNDLE', message: `the workflow bundle '${missing}' does not exist`, hint: expect.stringContaining('npm run bundle -- <file>'),
    }]);
    expect(errorsOf(() => loadWorkerConfig({ GANTRY_CLUSTER: 'sim', GANTRY_WORKFLOW_BUNDLE: dir }, bare))[0]!.message).toMatch(/is not a file$/);
    expect(errorsOf(() => loadWorkerConfig({ GANTRY_CLUSTER: 'sim', GANTRY_WORKFLOW_BUNDLE: 'dist/workflow-bundle.js' }, bare))[0]).toMatchObject({
      path: 'GANTRY_WORKFLOW_BUNDLE', message: "expected an absolute path, got 'dist/workflow-bundle.js'",
    });
  });

  it('a build worker runs no workflows and ignores it', () => {
    const c = loadWorkerConfig({ GANTRY_WORKER_ROLE: 'build', GANTRY_BUILD_TASK_QUEUE: 'b', GANTRY_WORKFLOW_BUNDLE: path.join(dir, 'nope.js') }, bare);
    expect(c.workflowBundle).toBeUndefined();
  });

  it('`npm run bundle -- <file>` writes a bundle that the worker options load instead of the sources', () => {
    const out = path.join(dir, 'workflow-bundle.js');
    const printed = execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'worker', 'build-bundle.ts'), out], { cwd: root, encoding: 'utf8' });
    expect(printed).toContain(`workflow bundle written to ${out}`);
    const code = fs.readFileSync(out, 'utf8');
    expect(code.length).toBeGreaterThan(100_000);
    // The release and pipeline workflows are in it (webpack keeps the exported function names).
    for (const name of ['release', 'pipeline', 'buildCatalog']) expect(code).toMatch(new RegExp(`\\b${name}\\b`));
    const c = loadWorkerConfig({ GANTRY_CLUSTER: 'sim', GANTRY_WORKFLOW_BUNDLE: out }, bare);
    expect(c.workflowBundle).toBe(out);
    expect(workflowCode(c.workflowBundle)).toEqual({ workflowBundle: { codePath: out } });
  }, 120_000);
});
