// Test helpers for the real Temporal servers: the run's dev server, and the time-skipping server.
import crypto from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';

let runtimeInstalled = false;
/** Worker logs at WARN in tests: failures stay visible, routine state changes do not drown them. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try { Runtime.install({ logger: new DefaultLogger('WARN') }); } catch { /* already installed in this process */ }
}
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporalTestServerBin } from '../../testbed/paths.js';

export function testAddress(): string {
  const a = process.env.GANTRY_TEST_TEMPORAL_ADDRESS;
  if (!a) throw new Error('no test Temporal server: jest globalSetup did not run (use npm test)');
  return a;
}

export async function connectClient(): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address: testAddress() });
  return { client: new Client({ connection, namespace: 'default' }), connection };
}

export function connectNative(): Promise<NativeConnection> {
  quietRuntime();
  return NativeConnection.connect({ address: testAddress() });
}

/** A name unique to this test run, so runs never collide on workflow ids or task queues. */
export function unique(prefix: string): string {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

/**
 * The Java time-skipping test server from the test bed's install. The SDK gives a new server only
 * 5 s to come up; on 2 busy cores that can be too little, so startup (only) is retried.
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  let last: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: temporalTestServerBin } } });
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`time-skipping test server did not start (${temporalTestServerBin}): ${last instanceof Error ? last.message : String(last)}`);
}
