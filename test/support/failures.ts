// The ApplicationFailure a promise rejects with (an activity run in MockActivityEnvironment, say);
// fails the test when it resolves or rejects with anything else. `seen`, when given, collects the
// failure's message and details, for tests that scan everything shown for secrets.
import { expect } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';

export async function failureOf(p: Promise<unknown>, seen?: string[]): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  const f = err as ApplicationFailure;
  seen?.push(f.message, JSON.stringify(f.details ?? []));
  return f;
}
