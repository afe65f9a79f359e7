// Test infrastructure only. The Temporal client retries some failed calls on a timer (grpc-retry).
// If a test closes its client Connection while such a retry is pending (a query still in flight when
// a worker shuts down, say), the timer fires later, calls into the closed channel, and the error
// "Channel has been shut down" is thrown inside whichever test suite runs at that moment. So in tests
// client Connections are not closed: they live until the jest process ends (jest.config.js sets
// forceExit), and the per-run Temporal server is stopped by the global teardown. A late retry then
// meets a live server or a refused connection, both of which end as ordinary rejected promises.
import { Connection } from '@temporalio/client';

Connection.prototype.close = async function keepOpenUntilExit(): Promise<void> {
  // intentionally left open; see above
};
