// Workflows for test/workflows/worker-crash.test.ts (bundled by the worker in stuck-worker.ts).
import { CancellationScope, sleep } from '@temporalio/workflow';

/** A workflow task that never ends, inside a CancellationScope: it runs into the SDK's 5 s deadlock timeout. */
export async function stuckInScope(): Promise<void> {
  await CancellationScope.cancellable(async () => {
    await sleep(1);
    let _spins = 0;
    for (;;) _spins++;
  });
}

export async function ping(): Promise<string> {
  return 'pong';
}
