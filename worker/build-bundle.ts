// `npm run bundle [-- <output file>]`: the prebuilt workflow bundle, as in Temporal's `production`
// sample (samples-typescript production/src/scripts/build-workflow-bundle.ts): bundleWorkflowCode
// over workflows/index.ts written to one file (default dist/workflow-bundle.js). A worker started
// with GANTRY_WORKFLOW_BUNDLE=<that file> loads it (workflowBundle: { codePath }) instead of running
// webpack over the sources at every start; the image builds it at image build time (Dockerfile).
// The bundle is this commit's workflow code: build it from the same tree the worker runs.
import fs from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { defaultWorkflowBundlePath, workflowsPath } from './worker.js';

async function main(argv: string[]): Promise<void> {
  if (argv.length > 1 || argv[0]?.startsWith('-')) {
    console.error('usage: npm run bundle [-- <output file>]  (default dist/workflow-bundle.js)');
    process.exitCode = 2;
    return;
  }
  const out = path.resolve(argv[0] ?? defaultWorkflowBundlePath);
  const started = Date.now();
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  await fs.mkdir(path.dirname(out), { recursive: true });
  // Written whole, then renamed: a worker never reads a half-written bundle.
  const tmp = `${out}.${process.pid}.tmp`;
  await fs.writeFile(tmp, code);
  await fs.rename(tmp, out);
  console.log(`workflow bundle written to ${out} (${(code.length / 1024).toFixed(0)} KiB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error('bundle failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
