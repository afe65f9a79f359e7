// Issue 9: GET /v1/releases/:app/:env/stream, server-sent events of a release's status. On the run's
// real Temporal dev server with the simulated cluster, through a LISTENING API with real tokens (fetch
// reads the stream as a client would; inject cannot stream).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../../core/config.js';
import type { ReleaseStatus } from '../../core/release.js';
import { ReleaseStreams } from '../../api/stream.js';
import { caller, startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { auth, DIGEST_A, listenOnLoopback, testServer, until, type Person } from './helpers.js';

const POLL_MS = 200;
const HEARTBEAT_MS = 300;

let h: Harness;
let server: FastifyInstance;
let streams: ReleaseStreams;
let base: string;
/** Real status queries by release (GantryService.status, counted on its way out). */
const statusCalls = new Map<string, number>();

beforeAll(async () => {
  h = await startHarness();
  const real = h.service.status.bind(h.service);
  h.service.status = (app, env, ...rest) => { statusCalls.set(app, (statusCalls.get(app) ?? 0) + 1); return real(app, env, ...rest); };
  streams = new ReleaseStreams(h.service, { pollMs: POLL_MS, heartbeatMs: HEARTBEAT_MS, closedCheckMs: 500 });
  server = testServer(h.service, { streams });
  base = await listenOnLoopback(server);
}, 60_000);
afterAll(async () => { await server?.close(); await h?.close(); });

interface SseEvent { id?: string; event: string; data: string }

/** A client of one stream: its events and heartbeat comments as they arrive. */
class Sse {
  readonly events: SseEvent[] = [];
  heartbeats = 0;
  done = false;
  private readonly abort = new AbortController();
  status = 0;
  contentType = '';

  static async open(url: string, headers: Record<string, string>): Promise<Sse> {
    const s = new Sse();
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: s.abort.signal });
    s.status = res.status;
    s.contentType = res.headers.get('content-type') ?? '';
    if (res.status !== 200) { s.body = await res.text(); s.done = true; return s; }
    void s.read(res.body!.getReader());
    return s;
  }

  body = '';

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: SseEvent = { event: 'message', data: '' };
          let data: string[] | undefined;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) { if (line === ': heartbeat') this.heartbeats++; continue; }
            const c = line.indexOf(':');
            const [k, v] = c < 0 ? [line, ''] : [line.slice(0, c), line.slice(c + 1).replace(/^ /, '')];
            if (k === 'id') ev.id = v;
            else if (k === 'event') ev.event = v;
            else if (k === 'data') (data ??= []).push(v);
          }
          if (data) { ev.data = data.join('\n'); this.events.push(ev); }
        }
      }
    } catch { /* aborted */ }
    this.done = true;
  }

  statuses(): { id: string; event: string; status: ReleaseStatus }[] {
    return this.events.filter((e) => e.event === 'status' || e.event === 'end').map((e) => ({ id: e.id!, event: e.event, status: JSON.parse(e.data) as ReleaseStatus }));
  }

  close(): void { this.abort.abort(); }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const open = (who: Person | undefined, app: string, extra: Record<string, string> = {}) =>
  Sse.open(`${base}/v1/releases/${app}/production/stream`, { ...(who ? auth(who) : {}), ...extra });

function config(app: string) {
  const r = parseConfig({
    app: { name: app, image: 'registry.local/shop/web' },
    environments: [{
      name: 'production', replicas: 4, cells: [{ name: 'zone-a' }], deadlines: { progress: '20s' },
      groups: [{ pods: 1, confirm: { type: 'manual' } }, { pods: 'rest' }],
      approvers: { users: ['alice', 'bob', 'carol'], required: 2 },
    }],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe('the release status stream', () => {
  const app = unique('stream');

  beforeAll(async () => {
    await h.service.startRelease({ config: config(app), environment: 'production', revision: { digest: DIGEST_A, author: 'carol' } }, caller('dave', ['dev']));
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
  }, 60_000);

  it('refuses a caller without a token (401) and an unknown release (404) before any event, with the JSON error of the REST routes', async () => {
    const anon = await open(undefined, app);
    expect(anon.status).toBe(401);
    expect(JSON.parse(anon.body)).toMatchObject({ error: 'unauthenticated' });
    const missing = await open('alice', unique('nosuch'));
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: 'not_found' });
    const bad = await Sse.open(`${base}/v1/releases/Bad_Name/production/stream`, auth('alice'));
    expect(bad.status).toBe(400);
  });

  it('shares one poller between watchers of one caller, keeps allowedActions per caller, heartbeats, resumes, one event per change, and ends', async () => {
    const a1 = await open('alice', app);
    const a2 = await open('alice', app);
    const e = await open('eve', app);
    expect(a1.status).toBe(200);
    expect(a1.contentType).toMatch(/^text\/event-stream/);
    await until('first events', () => a1.statuses().length && a2.statuses().length && e.statuses().length ? true : undefined, 10_000, 20);
    const [first] = a1.statuses();
    expect(first!.status.phase).toBe('waiting-approval');
    expect(a2.statuses()[0]!.id).toBe(first!.id); // one poller: the same state under the same id
    // Each caller sees their own allowedActions: alice may approve, eve may not.
    expect(first!.status.allowedActions?.approve.allowed).toBe(true);
    expect(e.statuses()[0]!.status.allowedActions?.approve.allowed).toBe(false);
    expect(streams.pollerCount).toBe(2); // alice's (two watchers) and eve's

    // Idle: no new events (the state did not change), heartbeats, and one query per poller per interval.
    const before = statusCalls.get(app) ?? 0;
    const hb = a1.heartbeats;
    await sleep(1500);
    const calls = (statusCalls.get(app) ?? 0) - before;
    // Two pollers at most every 200 ms over 1.5 s: ≤ 2 × 8; a poller per watcher would be three.
    expect(calls).toBeLessThanOrEqual(2 * Math.ceil(1500 / POLL_MS + 1));
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(a1.heartbeats - hb).toBeGreaterThanOrEqual(3);
    expect(a1.statuses()).toHaveLength(1);
    expect(a2.statuses()).toHaveLength(1);

    // Resume with the current id: nothing at once (heartbeats only), as the state did not change.
    a2.close();
    const r1 = await open('alice', app, { 'last-event-id': first!.id });
    await sleep(800);
    expect(r1.status).toBe(200);
    expect(r1.statuses()).toHaveLength(0);
    expect(r1.heartbeats).toBeGreaterThanOrEqual(1);
    r1.close();

    // alice approves (1 of 2): exactly one new event for each watcher.
    await h.service.decide(app, 'production', 'approve', caller('alice'));
    await until('the approval event', () => a1.statuses().length >= 2 && e.statuses().length >= 2 ? true : undefined, 10_000, 20);
    await sleep(1000);
    expect(a1.statuses()).toHaveLength(2);
    expect(e.statuses()).toHaveLength(2);
    const second = a1.statuses()[1]!;
    expect(Number(second.id)).toBeGreaterThan(Number(first!.id));
    expect(second.status.decisions.map((d) => d.by)).toEqual(['alice']);
    expect(second.status.allowedActions?.approve.allowed).toBe(false); // she has approved already

    // Resume with the old id: the current state at once.
    const r2 = await open('alice', app, { 'last-event-id': first!.id });
    await until('the resumed state', () => r2.statuses().length ? true : undefined, 5_000, 20);
    expect(r2.statuses()[0]).toMatchObject({ id: second.id, event: 'status' });
    r2.close();

    // bob's approval lets it finish: the last event is `end` with the final status, then the stream closes.
    await h.service.decide(app, 'production', 'approve', caller('bob'));
    await until('the end event', () => a1.done && e.done ? true : undefined, 60_000, 50);
    const last = a1.statuses().at(-1)!;
    expect(last.event).toBe('end');
    expect(last.status.phase).toBe('succeeded');
    expect(a1.statuses().filter((s) => s.event === 'end')).toHaveLength(1);
    expect(e.statuses().at(-1)).toMatchObject({ event: 'end', status: { phase: 'succeeded' } });
    // Ids increase along the stream.
    const ids = a1.statuses().map((s) => Number(s.id));
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // The last watcher left: no poller keeps querying.
    await until('pollers stopped', () => streams.pollerCount === 0 ? true : undefined, 5_000, 20);
    const after = statusCalls.get(app) ?? 0;
    await sleep(3 * POLL_MS);
    expect(statusCalls.get(app)).toBe(after);

    // A watcher arriving after the end gets the final status as `end` at once, and the stream closes.
    const late = await open('bob', app);
    await until('the late end', () => late.done ? true : undefined, 10_000, 20);
    expect(late.statuses().map((s) => [s.event, s.status.phase])).toEqual([['end', 'succeeded']]);
  }, 120_000);

  it('an error after the stream started is `event: error` with the JSON error body, then the stream closes', async () => {
    // A release on a second worker's task queue, whose worker then stops: the status query has no one to answer it.
    const h2 = await startHarness();
    let stopped = false;
    try {
      const other = unique('stream-w');
      await h2.service.startRelease({ config: config(other), environment: 'production', revision: { digest: DIGEST_A, author: 'carol' } }, caller('dave', ['dev']));
      await waitForStatus(h2.service, other, 'production', (s) => s.phase === 'waiting-approval');
      const s = await open('alice', other);
      await until('the first event', () => s.statuses().length ? true : undefined, 10_000, 20);
      await h2.close();
      stopped = true;
      await until('the error event', () => s.done ? true : undefined, 30_000, 50);
      const err = s.events.at(-1)!;
      expect(err.event).toBe('error');
      expect(JSON.parse(err.data)).toMatchObject({ error: 'unavailable', message: expect.stringMatching(/worker|task queue/) });
      // Reconnecting now gets the same error as a plain HTTP 503 before any event.
      const again = await open('alice', other);
      expect(again.status).toBe(503);
      expect(JSON.parse(again.body)).toMatchObject({ error: 'unavailable' });
    } finally {
      if (!stopped) await h2.close();
    }
  }, 90_000);

  it('a release whose workflow is terminated from outside ends the stream with its last status', async () => {
    const gone = unique('stream-t');
    await h.service.startRelease({ config: config(gone), environment: 'production', revision: { digest: DIGEST_A, author: 'carol' } }, caller('dave', ['dev']));
    await waitForStatus(h.service, gone, 'production', (s) => s.phase === 'waiting-approval');
    const s = await open('alice', gone);
    await until('the first event', () => s.statuses().length ? true : undefined, 10_000, 20);
    await h.client.workflow.getHandle(`release/${gone}/production`).terminate('test: ended from outside');
    await until('the end event', () => s.done ? true : undefined, 15_000, 50);
    expect(s.statuses().map((e) => [e.event, e.status.phase])).toEqual([['status', 'waiting-approval'], ['end', 'waiting-approval']]);
  }, 60_000);

  it('bounds the number of streams (503 beyond)', async () => {
    const small = new ReleaseStreams(h.service, { pollMs: POLL_MS, maxStreams: 1 });
    const s2 = testServer(h.service, { streams: small });
    const url = await listenOnLoopback(s2);
    try {
      const running = unique('stream-b');
      await h.service.startRelease({ config: config(running), environment: 'production', revision: { digest: DIGEST_A, author: 'carol' } }, caller('dave', ['dev']));
      await waitForStatus(h.service, running, 'production', (s) => s.phase === 'waiting-approval');
      const one = await Sse.open(`${url}/v1/releases/${running}/production/stream`, auth('alice'));
      expect(one.status).toBe(200);
      const two = await Sse.open(`${url}/v1/releases/${running}/production/stream`, auth('bob'));
      expect(two.status).toBe(503);
      expect(JSON.parse(two.body)).toMatchObject({ error: 'unavailable' });
      one.close();
      await until('the slot freed', () => small.streamCount === 0 ? true : undefined, 5_000, 20);
      await h.service.decide(running, 'production', 'reject', caller('alice'));
    } finally {
      await s2.close();
    }
  }, 60_000);
});
