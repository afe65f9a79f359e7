// A worker process for test/workflows/worker-crash.test.ts, run under superviseWorker: polls
// GANTRY_TEST_TASK_QUEUE on GANTRY_TEST_TEMPORAL_ADDRESS with the workflows of stuck-workflows.ts.
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address: process.env.GANTRY_TEST_TEMPORAL_ADDRESS! });
const worker = await Worker.create({
  connection, taskQueue: process.env.GANTRY_TEST_TASK_QUEUE!,
  workflowsPath: fileURLToPath(new URL('./stuck-workflows.ts', import.meta.url)),
});
console.log(`stuck-worker ${process.pid} polling`);
await worker.run();
await connection.close();
