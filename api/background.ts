// Work an HTTP handler starts after it has answered (Slack wants a reply within 3 s; the outcome goes
// to response_url later). Tracked so that closing the server waits for it, and so that its failures are
// always handled (logged), never left as unhandled rejections.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { cap, displayLine } from '../core/text.js';

export type Background = (what: string, work: Promise<unknown>, log: FastifyBaseLogger) => void;

export function backgroundWork(app: FastifyInstance): Background {
  const pending = new Set<Promise<void>>();
  app.addHook('onClose', async () => { await Promise.allSettled([...pending]); });
  return (what, work, log) => {
    const tracked: Promise<void> = work.then(() => undefined, (err: unknown) => {
      // The message may carry outside text (a reply's URL, a remote error): one line, escaped, capped.
      log.warn({ err: { message: cap(displayLine(err instanceof Error ? err.message : String(err)), 500) } }, `${what} failed after the reply`);
    }).finally(() => { pending.delete(tracked); });
    pending.add(tracked);
  };
}
