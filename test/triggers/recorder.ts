// A local HTTP server on 127.0.0.1 that records every request and answers through a handler: it
// stands in for api.github.com, a GitHub Enterprise API, Slack's Web API and Slack response_urls.
import http from 'node:http';
import { Webhooks } from '@octokit/webhooks';
import { createRequire } from 'node:module';

// The package's entry is a JSON file (all of GitHub's documented example deliveries).
const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as { name: string; examples: Record<string, unknown>[] }[];

export interface Recorded { method: string; url: string; path: string; query: URLSearchParams; headers: http.IncomingHttpHeaders; body: string; json?: unknown }
export interface Answer { status?: number; headers?: Record<string, string>; body?: unknown }
export type Handler = (req: Recorded) => Answer | undefined;

export interface Recorder { url: string; requests: Recorded[]; handler: Handler; close(): Promise<void> }

export async function startRecorder(handler: Handler = () => undefined): Promise<Recorder> {
  const rec: Recorder = { url: '', requests: [], handler, close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      let json: unknown;
      try { json = body ? JSON.parse(body) : undefined; } catch { json = undefined; }
      const r: Recorded = { method: req.method ?? '', url: req.url ?? '', path: u.pathname, query: u.searchParams, headers: req.headers, body, ...(json !== undefined ? { json } : {}) };
      rec.requests.push(r);
      let a: Answer | undefined;
      try { a = rec.handler(r); } catch (err) { a = { status: 500, body: { message: String(err) } }; }
      const answer = a ?? { status: 200, body: {} };
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...(answer.headers ?? {}) });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  if (!a || typeof a !== 'object') throw new Error('recorder did not bind');
  rec.url = `http://127.0.0.1:${a.port}`;
  rec.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return rec;
}

/** A deep copy of a real example payload from @octokit/webhooks-examples. */
export function example<T = Record<string, unknown>>(event: string, pick: (e: Record<string, unknown>) => boolean = () => true): T {
  const def = examples.find((d) => d.name === event);
  const found = def?.examples.find(pick);
  if (!found) throw new Error(`no ${event} example`);
  return structuredClone(found) as T;
}

export async function signGitHub(secret: string, body: string): Promise<string> {
  return new Webhooks({ secret }).sign(body);
}
