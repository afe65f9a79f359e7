// Issue 9: the console's home, one release live, and its actions, through a LISTENING API (the console
// configured with createConsoleAuth behind a trusted auth proxy on 127.0.0.1), the run's real Temporal dev
// server and a worker with the simulated cluster. Requests are what a browser without JavaScript sends
// (GET, form POST, 303); the live route is read as htmx's SSE extension reads it.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import { createConsoleAuth } from '../../api/console/auth.js';
import { startApi } from '../../api/main.js';
import { ReleaseStreams } from '../../api/stream.js';
import { loadApiConfig, type ConsoleSettings } from '../../runtime/config.js';
import { startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { testAddress, unique } from '../support/temporal.js';
import { DIGEST_A, DIGEST_B, listenOnLoopback, testServer, until } from '../api/helpers.js';

let h: Harness;
let server: FastifyInstance;
let base: string;

const settings = {
  sessionSecretEnv: 'GANTRY_UI_SESSION_SECRET', sessionTtlMs: 3600_000,
  proxy: { trusted: ['127.0.0.1', '::1'], userHeader: 'x-forwarded-user', groupsHeader: 'x-forwarded-groups' },
  env: { GANTRY_UI_SESSION_SECRET: 'console-views-test-secret-0123456789abcdef' },
} as unknown as ConsoleSettings;

beforeAll(async () => {
  h = await startHarness();
  const streams = new ReleaseStreams(h.service, { pollMs: 200, heartbeatMs: 5_000 });
  server = testServer(h.service, { streams, console: { auth: createConsoleAuth(settings), temporalUiUrl: 'http://127.0.0.1:8233' } });
  base = await listenOnLoopback(server);
}, 60_000);
afterAll(async () => { await server?.close(); await h?.close(); });

/** What the auth proxy adds for a signed-in person. */
const as = (id: string, groups: string[] = []) => ({ 'x-forwarded-user': id, 'x-forwarded-groups': groups.join(',') });
const get = async (path: string, who: Record<string, string>) => {
  const res = await fetch(`${base}${path}`, { headers: who, redirect: 'manual' });
  return { res, body: await res.text() };
};
const csrfOf = (body: string) => /<meta name="csrf-token" content="([^"]+)">/.exec(body)?.[1];
const post = (path: string, who: Record<string, string>, form: Record<string, string>, origin = base) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { ...who, origin, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString(), redirect: 'manual' });
/** The HTML of the element carrying data-testid=`id` up to the end of its table. */
const tableOf = (body: string, id: string) => { const i = body.indexOf(`data-testid="${id}"`); return i < 0 ? undefined : body.slice(i, body.indexOf('</table>', i)); };

const HOSTILE = 'fix: <script>alert(1)</script> & "quotes"';

function config(app: string): string {
  return `app: { name: ${app}, image: registry.local/shop/web }
environments:
  - name: production
    replicas: 4
    cells: [{ name: zone-a }, { name: zone-b }]
    groups:
      - { pods: 1, confirm: { type: manual } }
      - { pods: rest }
    approvers: { users: [alice, bob, carol], required: 1 }
    deadlines: { progress: 20s }
`;
}

/** A client of the live route: its raw SSE messages as they arrive. */
class Live {
  readonly messages: { id?: string; event?: string; data: string }[] = [];
  done = false;
  status = 0;
  contentType = '';
  private readonly abort = new AbortController();

  static async open(url: string, headers: Record<string, string>): Promise<Live> {
    const l = new Live();
    const res = await fetch(url, { headers: { accept: 'text/html, text/event-stream', 'hx-request': 'true', ...headers }, signal: l.abort.signal });
    l.status = res.status;
    l.contentType = res.headers.get('content-type') ?? '';
    void l.read(res.body!.getReader());
    return l;
  }

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
          const m: { id?: string; event?: string; data: string } = { data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            const k = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (k === 'id') m.id = v; else if (k === 'event') m.event = v; else if (k === 'data') data.push(v);
          }
          if (data.length || m.event) { m.data = data.join('\n'); this.messages.push(m); }
        }
      }
    } catch { /* aborted */ }
    this.done = true;
  }

  /** The swapped fragments (unnamed messages). */
  fragments(): string[] { return this.messages.filter((m) => !m.event).map((m) => m.data); }
  close(): void { this.abort.abort(); }
}

describe('the console: home, one release live, actions', () => {
  const app = unique('ui');
  const env = 'production';
  const page = `/ui/releases/${app}/${env}`;

  beforeAll(async () => {
    // erin's change, started by carol: carol may not approve it (four-eyes), alice and bob may.
    await h.service.startRelease({ config: config(app), environment: env, revision: { digest: DIGEST_B, sha: 'abcdef1234567', author: 'erin', message: HOSTILE }, previous: { image: 'registry.local/shop/web', digest: DIGEST_A } },
      { identity: { id: 'carol', groups: ['dev'] }, channel: 'api' });
    await waitForStatus(h.service, app, env, (s) => s.phase === 'waiting-approval');
  }, 60_000);

  it('sends a browser without an identity to the sign-in page (303)', async () => {
    const r = await get('/ui', {});
    expect(r.res.status).toBe(303);
    expect(r.res.headers.get('location')).toMatch(/^\/ui\/login\?next=/);
  });

  it('home: the waiting release is under "waiting for me" for alice, not for carol (the starter); the table lists it for both, with an as-of time and a polled fragment', async () => {
    const alice = await until('the release in alice\'s waiting-for-me', async () => {
      const r = await get('/ui', as('alice', ['sre']));
      return tableOf(r.body, 'waiting-for-me')?.includes(`>${app}</a>`) ? r : undefined;
    });
    expect(alice.res.status).toBe(200);
    expect(alice.res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const mine = tableOf(alice.body, 'waiting-for-me')!;
    expect(mine).toContain('waiting-approval');
    expect(mine).toMatch(/approval/);
    // Who can unblock: the approvers less the excluded (GantryExcluded: carol started it), named once.
    expect(mine).toContain('data-testid="who-can-unblock">alice, bob<br><span class="muted">not carol</span></td>');
    // From the list's search attributes and memo: the group in progress of how many (GantryGroup), the
    // new revision's share and a bar per cell (GantryCells), since when, revision, starter.
    expect(mine).toContain('<span data-testid="group">1 of 2</span>');
    expect(mine).toMatch(/aria-label="new revision share of the pods: 50 %"/);
    expect(mine).toMatch(/<span class="cell">zone-a<\/span> <span class="bar" role="img" aria-label="zone-a: new pods: 1 of 2">/);
    expect(mine).toMatch(/<span class="cell">zone-b<\/span> <span class="bar" role="img" aria-label="zone-b: new pods: 1 of 2">/);
    expect(mine).toMatch(/approval<br><span class="muted">since <time datetime="[^"]+">/);
    expect(mine).toContain('sha256:bbbbbbbbbbbb</code> <code title="abcdef1234567">abcdef1</code> <span class="muted">by erin</span>');
    expect(mine).toMatch(/<td>carol<\/td>/);
    expect(mine).toContain(`<a href="/ui/releases/${app}/production#h-actions" data-testid="decide-link">Approve or reject…</a>`);
    expect(alice.body).toContain('data-testid="as-of"');
    expect(alice.body).toMatch(/hx-get="\/ui\/fragments\/releases" hx-trigger="every 10s"/);

    const carol = await get('/ui', as('carol', ['dev']));
    expect(tableOf(carol.body, 'waiting-for-me')).not.toContain(`>${app}</a>`);
    expect(tableOf(carol.body, 'releases')).toContain(`>${app}</a>`);

    const frag = await get('/ui/fragments/releases?show=waiting', as('alice', ['sre']));
    expect(frag.res.status).toBe(200);
    expect(frag.body).not.toContain('<html');
    expect(tableOf(frag.body, 'releases')).toContain(`>${app}</a>`);
    const bad = await get('/ui?show=everything', as('alice'));
    expect(bad.res.status).toBe(400);
    expect(bad.body).toContain('data-testid="error"');
    expect(bad.body).toContain('show');
  });

  it('one release: group stepper, cells, waiting panel with approvers and who is excluded, the CLI command, links; the commit message is escaped', async () => {
    const r = await get(page, as('alice', ['sre']));
    expect(r.res.status).toBe(200);
    expect(r.res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const b = r.body;
    expect(b).toMatch(/data-testid="current-group">[\s\S]*?Group 1 of 2[\s\S]*?1 pod per cell<\/span> · <span>confirm: manual approval/);
    expect(b).toMatch(/<th scope="row">zone-a<\/th>/);
    expect(b).toMatch(/<th scope="row">zone-b<\/th>/);
    expect(b).toContain('data-testid="waiting-panel"');
    expect(b).toMatch(/data-testid="approvals"><strong>0 of 1<\/strong>/);
    // Who can approve: the approvers less who may not (carol started it; she is listed below with why).
    expect(b).toContain('data-testid="approvers">alice, bob</dd>');
    expect(b).toContain('carol: started this release (four-eyes)');
    expect(b).toContain(`gantry approve ${app} ${env}`);
    expect(b).toContain(`http://127.0.0.1:8233/namespaces/default/workflows/release%2F${app}%2F${env}`);
    expect(b).toContain('hx-sse:connect="/ui/releases/');
    expect(b).toContain('data-testid="live-indicator"');
    // The hostile message is text, never markup.
    expect(b).not.toContain('<script>alert(1)</script>');
    expect(b).toContain('fix: &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;');
    // alice may approve; carol sees the button disabled, with the reason as text.
    expect(b).toMatch(/data-testid="action-approve"(?![^>]*disabled)[^>]*>Approve<\/button>/);
    const c = await get(page, as('carol', ['dev']));
    expect(c.body).toMatch(/data-testid="action-approve"[^>]*disabled[^>]*>Approve<\/button>\s*<span class="reason" id="why-approve"><span class="not-allowed" aria-hidden="true">⊘<\/span> Not now: [^<]*(four-eyes|started)/);
    expect(c.body).toMatch(/data-testid="action-reject"[^>]*data-confirm="Reject rolls the release back: /);
  });

  it('errors are HTML with the message and hint: an unknown release is a 404 page, a bad name a 400 naming the field; for htmx a fragment', async () => {
    const missing = await get(`/ui/releases/${app}-none/${env}`, as('alice'));
    expect(missing.res.status).toBe(404);
    expect(missing.res.headers.get('content-type')).toContain('text/html');
    expect(missing.body).toMatch(/data-testid="error"[\s\S]*no release of [\s\S]*class="hint">start one with: gantry release start/);
    const bad = await get('/ui/releases/Not_A_Label/production', as('alice'));
    expect(bad.res.status).toBe(400);
    expect(bad.body).toContain('<code>app</code>: app must be a lowercase DNS label');
    const frag = await fetch(`${base}/ui/releases/${app}-none/${env}/live`, { headers: { ...as('alice'), 'hx-request': 'true' } });
    expect(frag.status).toBe(404);
    const fb = await frag.text();
    expect(fb).toContain('data-testid="error"');
    expect(fb).not.toContain('<html');
  });

  it('refuses a POST without the CSRF token (403) or from another origin, and decides nothing', async () => {
    const noToken = await post(`${page}/approve`, as('alice', ['sre']), { comment: 'lgtm' });
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toContain('CSRF');
    const token = csrfOf((await get(page, as('alice', ['sre']))).body)!;
    const foreign = await post(`${page}/approve`, as('alice', ['sre']), { _csrf: token }, 'https://evil.example');
    expect(foreign.status).toBe(403);
    expect((await h.service.status(app, env, 0)).decisions).toEqual([]);
  });

  it('as carol (the starter) approve is refused by the workflow: the page shows the reason, and nothing is recorded', async () => {
    const token = csrfOf((await get(page, as('carol', ['dev']))).body)!;
    const r = await post(`${page}/approve`, as('carol', ['dev']), { _csrf: token, comment: 'mine, looks fine' });
    expect(r.status).toBe(403);
    const body = await r.text();
    expect(body).toMatch(/data-testid="error"[\s\S]*Refused:[\s\S]*(four-eyes|started)/);
    expect(body).not.toMatch(/Refused:<\/strong> refused/i);
    expect(body).toContain('data-testid="waiting-panel"');
    expect((await h.service.status(app, env, 0)).decisions).toEqual([]);
  });

  it('alice approves with CSRF: 303 to the release, the decision recorded via ui and shown; the live route sends a fragment, then a new one after the approval, then ends', async () => {
    const live = await Live.open(`${base}${page}/live`, as('alice', ['sre']));
    expect(live.status).toBe(200);
    expect(live.contentType).toContain('text/event-stream');
    await until('the first live fragment', () => live.fragments().length >= 1 || undefined, 15_000);
    const first = live.fragments()[0]!;
    expect(first).toContain('data-testid="waiting-panel"');
    expect(first).not.toContain('<html');
    expect(live.messages[0]!.id).toMatch(/^\d+$/);

    const token = csrfOf((await get(page, as('alice', ['sre']))).body)!;
    const r = await post(`${page}/approve`, as('alice', ['sre']), { _csrf: token, comment: 'looks <good>' });
    expect(r.status).toBe(303);
    const location = r.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^/ui/releases/${app}/${env}\\?decided=approve&at=`));
    const decisions = (await h.service.status(app, env, 0)).decisions;
    expect(decisions).toEqual([expect.objectContaining({ action: 'approve', by: 'alice', channel: 'ui', comment: 'looks <good>' })]);

    const shown = await get(location, as('alice', ['sre']));
    expect(shown.body).toMatch(/data-testid="decision-line">Recorded: approve by alice via ui at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: looks &lt;good&gt;</);

    await until('a live fragment after the approval', () => live.fragments().slice(1).some((f) => f.includes('approve</strong> by alice via ui')) || undefined, 20_000);
    await until('the end of the live stream', () => (live.done && live.messages.some((m) => m.event === 'gantry-end')) || undefined, 30_000);
    const last = live.fragments().at(-1)!;
    expect(last).toContain('succeeded');
    live.close();
  }, 60_000);

  it('after the success, Roll back is enabled and starts a rollback release to the previous revision; the page then shows that release', async () => {
    await waitForStatus(h.service, app, env, (s) => s.phase === 'succeeded');
    const before = await get(page, as('bob'));
    expect(before.body).toMatch(/data-testid="action-rollback"(?![^>]* disabled)[^>]*>Roll back<\/button>\s*<span class="reason" id="why-rollback">starts a rollback release to registry.local\/shop\/web@sha256:aaaaaaaaaaaa<\/span>/);
    // Ended: said once, with when; only Roll back is shown.
    expect(before.body).toMatch(/data-testid="ended">The release has ended \(succeeded at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)\.<\/p>/);
    expect(before.body.match(/<button type="submit" id="action-/g)).toHaveLength(1);
    expect(before.body).not.toMatch(/[0-9a-f]{64}<\/(span|p|li)>/);
    // eve is neither an approver, the author nor the starter: the button says so, and the API refuses her too.
    const eve = await get(page, as('eve', ['marketing']));
    expect(eve.body).toMatch(/data-testid="action-rollback"[^>]* disabled[^>]*>Roll back<\/button>\s*<span class="reason" id="why-rollback"><span class="not-allowed" aria-hidden="true">⊘<\/span> Not now: eve may not rollback this release/);
    const refused = await post(`${page}/rollback`, as('eve', ['marketing']), { _csrf: csrfOf(eve.body)! });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(/Refused:[\s\S]*eve may not rollback this release/);
    expect(await h.service.status(app, env, 0)).toMatchObject({ kind: 'release', phase: 'succeeded' });
    const r = await post(`${page}/rollback`, as('bob'), { _csrf: csrfOf(before.body)!, comment: 'error budget' });
    expect(r.status).toBe(303);
    const location = r.headers.get('location')!;
    expect(location).toMatch(/\?started=/);
    const after = await get(location, as('bob'));
    // The console's one time format, and the digest shortened to 12 hex digits in prose.
    expect(after.body).toMatch(new RegExp(`data-testid="decision-line">Recorded: rollback by bob via ui at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC: a rollback release to registry.local/shop/web@${DIGEST_A.slice(0, 'sha256:'.length + 12)} started<`));
    expect(after.body).toContain('rollback release</span>');
    const s = await h.service.status(app, env, 0);
    expect(s).toMatchObject({ kind: 'rollback', startedBy: 'bob', revision: { digest: DIGEST_A } });
  }, 60_000);
});

describe('startApi (npm run api) with the console configured', () => {
  it('serves /ui behind the trusted proxy, with the Temporal UI link of GANTRY_TEMPORAL_UI_URL; without GANTRY_UI_* there is no console', async () => {
    const app = unique('uiapi');
    // Started by a tag push of a GitHub repository: the list links the commit there.
    await h.service.startReleaseOnce({ config: config(app), environment: 'production', revision: { digest: DIGEST_A, sha: 'fedcba9876543', author: 'erin' } }, { identity: { id: 'carol', groups: [] }, channel: 'github' }, 'tag:acme/shop:v1.2.3:fedcba9876543');
    await waitForStatus(h.service, app, 'production', (s) => s.phase === 'waiting-approval');
    const env = { HOME: process.env.HOME ?? '/tmp', TEMPORAL_ADDRESS: testAddress(), GANTRY_TASK_QUEUE: h.taskQueue };
    const api = await startApi({
      config: loadApiConfig({ ...env, GANTRY_UI_TRUSTED_PROXIES: '127.0.0.1', GANTRY_UI_SESSION_SECRET: 'x'.repeat(40), GANTRY_TEMPORAL_UI_URL: 'http://127.0.0.1:8233/' }),
      client: h.client, listen: '127.0.0.1:0', logger: false,
    });
    try {
      const r = await fetch(`${api.url}/ui/releases/${app}/production`, { headers: as('alice') });
      expect(r.status).toBe(200);
      const body = await r.text();
      expect(body).toContain(`href="http://127.0.0.1:8233/namespaces/default/workflows/release%2F${app}%2Fproduction"`);
      expect(body).toContain('data-testid="waiting-panel"');
      expect(body).toContain('href="https://github.com/acme/shop/commit/fedcba9876543"');
      const home = await (await fetch(`${api.url}/ui?app=${app}`, { headers: as('alice') })).text();
      expect(tableOf(home, 'releases')).toContain('<a href="https://github.com/acme/shop/commit/fedcba9876543" rel="noreferrer"><code>fedcba9</code></a>');
    } finally {
      await api.close();
    }
    const plain = await startApi({ config: loadApiConfig(env), client: h.client, listen: '127.0.0.1:0', logger: false });
    try {
      expect((await fetch(`${plain.url}/ui`, { headers: as('alice'), redirect: 'manual' })).status).toBe(404);
    } finally {
      await plain.close();
    }
  }, 60_000);
});
