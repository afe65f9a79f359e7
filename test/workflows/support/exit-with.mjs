// For test/workflows/worker-crash.test.ts: a stand-in worker process that exits with the code given
// (after a short life, so that the supervisor sees it start).
import { setTimeout } from 'node:timers';

setTimeout(() => process.exit(Number(process.argv[2] ?? 0)), 50);
