// `npm run demo` end to end, as a person runs it (unattended: --auto-approve --exit): a real `git
// push` to the demo's bare repository runs Gantry's post-receive hook, and the pipeline of the
// pushed commit goes through checkout, gates, a BuildKit eStargz build, verify, staging and a
// grouped production release that waits for a person (approved by the flag), on the test bed's
// registry, BuildKit, Kubernetes control plane and Prometheus; Temporal is this run's dev server.
// The demo releases the fixed app `webshop` (a demo release still running on the test bed's
// cluster is aborted by it, as by any new demo run). While the release waits, the printed console link
// is opened as a person would: a token sign-in with the printed token, then the release page.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';
import { testAddress } from '../support/temporal.js';

// The whole mission on a shared 2-core machine: about a minute when it is quiet.
jest.setTimeout(600_000);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

/** The console link as the demo prints it: sign in with the printed token (same origin), then its page. */
async function openConsole(link: string, token: string): Promise<{ login: number; cookie: boolean; page: number; app: boolean }> {
  const origin = new URL(link).origin;
  const login = await fetch(`${origin}/ui/login/token`, {
    method: 'POST', redirect: 'manual', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }).toString(),
  });
  const cookie = login.headers.getSetCookie().find((c) => c.startsWith('gantry_session='))?.split(';')[0];
  const page = await fetch(link, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
  return { login: login.status, cookie: !!cookie, page: page.status, app: (await page.text()).includes('webshop') };
}

function runDemo(): Promise<{ code: number | null; out: string; console?: Promise<unknown> }> {
  // Approval after 3 s: the console is checked while the release waits (and the API is up until --exit).
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'testbed', 'demo.ts'), '--auto-approve=3', '--exit'], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '', TEMPORAL_ADDRESS: testAddress(), GANTRY_DEMO_API_ADDR: '127.0.0.1:0', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let checked: Promise<unknown> | undefined;
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    const m = /Approve it in the console:\n {2}│ {2}(http:\/\/\S+)\n {2}│ {2}sign in with alice's token: (\S+)\n/.exec(out);
    if (m && !checked) checked = openConsole(m[1]!, m[2]!).catch((err: unknown) => String(err));
  });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), 540_000);
  return new Promise((resolve) => child.once('exit', (code) => { clearTimeout(timer); resolve({ code, out, ...(checked ? { console: checked } : {}) }); }));
}

describe('npm run demo', () => {
  it('goes from a git push through checkout, gates, build, verify, staging and grouped production approved by a person', async () => {
    const { code, out, console: opened } = await runDemo();
    const show = `demo output:\n${out}`;
    expect({ code, show }).toEqual({ code: 0, show });
    // The push ran the hook, which started the pipeline through the API.
    expect(out).toMatch(/git {5}│ remote: gantry: refs\/heads\/main [0-9a-f]{12}: pipeline started: pipeline\/webshop\/[0-9a-f]{40}/);
    // Each stage ended well, with what it did.
    expect(out).toMatch(/✓ checkout [\d.]+s: [0-9a-f]{12} by bob: New checkout page/);
    expect(out).toMatch(/✓ gates [\d.]+s: 2 gates passed/);
    expect(out).toMatch(/gate unit \(junit\): passed, 2 tests passed/);
    expect(out).toMatch(/✓ build [\d.]+s: \d+ of \d+ steps ran/);
    expect(out).toMatch(/✓ verify [\d.]+s: all 1 layer is eStargz/);
    expect(out).toMatch(/image 127\.0\.0\.1:\d+\/demo\/webshop@sha256:[0-9a-f]{64} \([\d.]+ KiB, 1 layer, eStargz\)/);
    expect(out).toMatch(/staging │ zone-a: \d+ stable \+ 2 new/);
    expect(out).toMatch(/✓ release:staging [\d.]+s/);
    // Production in groups: the first confirmed by its check, the second by a person, then the rest.
    expect(out).toMatch(/group 1 confirmed: checks passed/);
    expect(out).toMatch(/group 2\/3 \(half\).*waiting-approval/);
    const link = /Approve it in the console:\n {2}│ {2}(http:\/\/127\.0\.0\.1:\d+)\/ui\/releases\/webshop\/production\n/.exec(out);
    expect(link).not.toBeNull();
    expect(out).toContain(`GANTRY_API=${link![1]} GANTRY_TOKEN=alice-`);
    expect(out).toMatch(/npm run --silent gantry -- approve webshop production/);
    // The printed link, after a token sign-in with the printed token, is the release page.
    expect(out).toMatch(/sign in with alice's token: alice-[0-9a-f]{24}\n/);
    expect(await opened).toEqual({ login: 303, cookie: true, page: 200, app: true });
    expect(out).toMatch(/group 2 approved by alice/);
    expect(out).toMatch(/group 3 confirmed: checks passed/);
    expect(out).toMatch(/✓ release:production [\d.]+s/);
    expect(out).toMatch(/✓ tag [\d.]+s: release\/webshop\/[0-9a-f]{7} pushed/);
    expect(out).toMatch(/The pipeline succeeded/);
  });
});
