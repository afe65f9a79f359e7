// The Gantry worker process (worker/main.ts, unchanged: same activities, same options) for the chaos
// run, which starts it dozens of times. The only difference: the workflow code is the bundle built
// once per run from the same workflows/index.ts (GANTRY_CHAOS_WORKFLOW_BUNDLE), instead of being
// bundled again by every start (seconds of webpack on a busy 2-core machine).
import { Worker, type WorkerOptions } from '@temporalio/worker';

const codePath = process.env.GANTRY_CHAOS_WORKFLOW_BUNDLE;
if (codePath) {
  const create = Worker.create.bind(Worker);
  Worker.create = (options: WorkerOptions) => {
    const { workflowsPath: _bundled, ...rest } = options;
    return create({ ...rest, workflowBundle: { codePath } });
  };
}

await import('../../../worker/main.js');
