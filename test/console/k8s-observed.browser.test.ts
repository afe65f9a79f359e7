// The console in real Chromium over a release on the real local control plane (kube-apiserver + KWOK
// nodes in zone-a and zone-b, an HTTPRoute): while the release waits for approval after group 1, the
// release page's cells grid shows, per cell, the pods ready and serving per revision exactly as the
// cluster has them (counted here independently, from Pods and EndpointSlices) and the route's weight
// as set and as read back (from the HTTPRoute itself). alice approves in the browser; the live view
// follows the release to its end and the grid shows every pod on the new revision.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import type { BrowserContext, Page } from 'playwright-core';
import { createConsoleAuth } from '../../api/console/auth.js';
import { ReleaseStreams } from '../../api/stream.js';
import { loadApiConfig } from '../../runtime/config.js';
import { listenOnLoopback, testServer, until } from '../api/helpers.js';
import { V1, V2, baseline, caller, clusterCounts, dropNamespace, k8sConfig, revisionOf, siteState, startK8sHarness, unique, type K8sHarness } from '../k8s/support/harness.js';
import { launchBrowser, screenshot, type TestBrowser } from '../support/browser.js';

jest.setTimeout(300_000);

const SECRET = 'c0ns0le-k8s-browser-test-'.padEnd(48, 'x');

let h: K8sHarness;
let server: FastifyInstance;
let base: string;
let tb: TestBrowser;
let context: BrowserContext;

beforeAll(async () => {
  h = await startK8sHarness();
  const settings = loadApiConfig({ GANTRY_UI_SESSION_SECRET: SECRET, GANTRY_UI_TRUSTED_PROXIES: '127.0.0.1' }).console;
  if (!settings) throw new Error('expected the console to be configured');
  server = testServer(h.service, { streams: new ReleaseStreams(h.service, { pollMs: 250, heartbeatMs: 5000 }), console: { auth: createConsoleAuth(settings) } });
  base = await listenOnLoopback(server);
  tb = await launchBrowser();
  // alice (group sre), as the auth proxy in front of the console names her.
  context = await tb.browser.newContext({ extraHTTPHeaders: { 'x-forwarded-user': 'alice', 'x-forwarded-groups': 'sre' }, viewport: { width: 1366, height: 900 } });
}, 900_000);
afterAll(async () => {
  await context?.close().catch(() => undefined);
  await tb?.close();
  await server?.close();
  await h?.close();
});

/** The cells grid as the browser shows it: per row, the cell and the text of its columns. */
async function grid(page: Page): Promise<{ cell: string; stable: string; fresh: string; weight: string }[]> {
  return page.locator('[data-testid="cells"] tbody tr').evaluateAll((rows) => rows.map((r) => {
    const td = [...r.querySelectorAll('td')].map((c) => (c.textContent ?? '').replace(/\s+/g, ' ').trim());
    return { cell: (r.querySelector('th')?.textContent ?? '').trim(), stable: td[0] ?? '', fresh: td[1] ?? '', weight: td[3] ?? '' };
  }));
}

describe('console on the local Kubernetes test bed (real Chromium, real control plane)', () => {
  const app = unique('uik8s');
  const manual = { type: 'manual' as const };
  const config = k8sConfig(app, {
    groups: [{ pods: 1, confirm: manual }, { pods: 'rest', confirm: { type: 'auto' as const } }],
    traffic: { httpRoute: { name: app } },
  });
  afterAll(async () => { await dropNamespace(h, app); });

  it('the cells grid shows the pods and weights the cluster has; alice approves and the live view follows to the end', async () => {
    await baseline(h, config, V1);
    const fresh = revisionOf(config, V2);
    await h.service.startRelease({ config, environment: 'production', revision: { ...V2, author: 'carol' } }, caller('dave'));
    await until('the release to wait for approval of group 1 with an observation', async () => {
      const s = await h.service.status(app, 'production', 0);
      return s.phase === 'waiting-approval' && s.group.current === 1 && s.observed ? s : undefined;
    }, 180_000, 250);

    const page = await context.newPage();
    const csp: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) csp.push(m.text()); });
    page.on('pageerror', (e) => csp.push(`page error: ${e.message}`));
    const res = await page.goto(`${base}/ui/releases/${app}/production`);
    expect(res?.status()).toBe(200);

    // What the cluster has, counted independently, and what the browser shows: equal, cell by cell.
    const cluster = await clusterCounts(h, app, fresh);
    const route = await siteState(h, config);
    expect(route.weight).toBe(20);
    const shown = await grid(page);
    expect(shown.map((r) => r.cell)).toEqual(['zone-a', 'zone-b']);
    for (const r of shown) {
      const c = cluster[r.cell]!;
      expect(r.stable).toContain(`4 planned`);
      expect(r.stable).toContain(`${c.stable.ready} ready · ${c.stable.serving} serving`);
      expect(r.fresh).toContain(`1 planned`);
      expect(r.fresh).toContain(`${c.new.ready} ready · ${c.new.serving} serving`);
      expect(r.weight).toContain(`set 20 % · actual ${route.weight} %`);
    }
    expect(cluster['zone-a']).toEqual({ stable: { ready: 4, serving: 4 }, new: { ready: 1, serving: 1 } });
    await screenshot(page, 'release-k8s-observed', { docs: true });

    // alice approves in the browser; the release runs its last group on the cluster.
    await page.locator('#action-approve').click();
    await page.waitForURL(`${base}/ui/releases/${app}/production**`);
    await page.locator('[data-testid="decision-line"]').waitFor();
    expect(await page.locator('[data-testid="decision-line"]').innerText()).toMatch(/approve by alice via ui/);
    const final = await h.service.waitForRelease(app, 'production');
    expect(final.phase).toBe('succeeded');
    // The live view reaches the end without a reload, and the grid shows every pod on the new revision.
    await until('the live view to show succeeded', async () => ((await page.locator('[data-testid="phase"]').innerText()).toLowerCase().includes('succeeded') ? true : undefined), 60_000, 250);
    const after = await clusterCounts(h, app, fresh);
    expect(after['zone-a']!.new).toEqual({ ready: 5, serving: 5 });
    const done = await until('the grid to show every pod on the new revision', async () => {
      const g = await grid(page);
      return g.length === 2 && g.every((r) => /5 ready · 5 serving/.test(r.fresh)) ? g : undefined;
    }, 60_000, 250);
    expect(done.map((r) => r.cell)).toEqual(['zone-a', 'zone-b']);
    await screenshot(page, 'release-k8s-succeeded');
    expect(csp).toEqual([]);
    await page.close();
  });
});
