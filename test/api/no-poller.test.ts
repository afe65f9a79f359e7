// A query the server refuses because no worker polls the workflow's task queue reads as 'unavailable'
// (503) naming the queue and how to start a worker (api/service.ts noPollerError, used by queryOnWorker).
// The server answers FAILED_PRECONDITION "no poller seen for task queue recently, worker may be down"
// only once a queue has had no poller for minutes (a worker that stopped after ensureWorker looked),
// too slow to provoke here: the error below has the client's shape (ServiceError over the gRPC error).
import { describe, expect, it } from '@jest/globals';
import { ServiceError } from '@temporalio/client';
import { GantryError } from '../../api/errors.js';
import { noPollerError } from '../../api/service.js';

const grpc = (code: number, details: string) => Object.assign(new Error(`${code} ${details}`), { code, details });

describe('noPollerError', () => {
  it('maps FAILED_PRECONDITION "no poller seen" (at any depth of the cause chain) to unavailable (503) with the queue and a hint', () => {
    const err = new ServiceError('Failed to query Workflow', { cause: grpc(9, 'no poller seen for task queue recently, worker may be down') });
    for (const e of [err, err.cause, new Error('wrapped', { cause: err })]) {
      const mapped = noPollerError(e, 'gantry-x');
      expect(mapped).toBeInstanceOf(GantryError);
      expect(mapped!.code).toBe('unavailable');
      expect(mapped!.httpStatus).toBe(503);
      expect(mapped!.message).toBe("no Gantry worker is polling task queue 'gantry-x'");
      expect(mapped!.hint).toBe('start one: a Gantry worker with GANTRY_TASK_QUEUE=gantry-x (npm run worker); the workflow waits durably until one polls');
    }
  });

  it.each([
    ['another FAILED_PRECONDITION', new ServiceError('x', { cause: grpc(9, 'workflow not ready') })],
    ['a deadline', new ServiceError('Failed to query Workflow', { cause: grpc(4, 'DEADLINE_EXCEEDED: Deadline exceeded') })],
    ['a plain error', new Error('no poller seen')],
    ['not an error', undefined],
  ])('passes %s through', (_name, e) => {
    expect(noPollerError(e, 'q')).toBeUndefined();
  });
});
