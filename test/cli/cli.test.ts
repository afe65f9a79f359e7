// The gantry CLI against a listening API server on the real Temporal dev server: end to end as a
// child process (node cli/bin.js …), and in-process through run() for the error paths.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { run } from '../../cli/main.js';
import type { Harness } from '../support/release-harness.js';
import { unique } from '../support/temporal.js';
import { cliBin, configYaml, DIGEST_A, DIGEST_B, people, startListeningApi, until, type ListeningApi, type Person } from '../api/helpers.js';

const bin = cliBin;

let l: ListeningApi;
let h: Harness;
let api: string;
let dir: string;

beforeAll(async () => {
  l = await startListeningApi('gantry-cli-');
  ({ h, url: api, dir } = l);
});
afterAll(async () => { await l?.close(); });

interface Result { code: number; stdout: string; stderr: string }

function childEnv(who?: Person): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GANTRY_API: api };
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not for the CLI
  delete env.GANTRY_TOKEN;
  if (who) env.GANTRY_TOKEN = people[who].token;
  return env;
}

/** Starts `node cli/bin.js …args` (argv array, no shell). */
function spawnGantry(args: string[], who?: Person) {
  const child = spawn(process.execPath, [bin, ...args], { cwd: dir, env: childEnv(who), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => { out.stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out.stderr += d.toString(); });
  const done = new Promise<Result>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`gantry ${args.join(' ')} timed out; stdout: ${out.stdout} stderr: ${out.stderr}`)); }, 45_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, ...out }); });
  });
  return { child, out, done };
}

const gantry = (args: string[], who?: Person) => spawnGantry(args, who).done;

/** The CLI in this process (same code as bin.js runs), output captured. */
async function cli(args: string[], who?: Person, env: Record<string, string> = {}): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, cwd: dir,
    env: { GANTRY_API: api, ...(who ? { GANTRY_TOKEN: people[who].token } : {}), ...env },
  });
  return { code, stdout, stderr };
}

/** A port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

describe('gantry CLI (real API server, real Temporal dev server)', () => {
  it('end to end as a child process: start, watch shows progress, four-eyes refusal, approve, watch exits 0', async () => {
    const app = unique('shop');
    const file = writeConfig(app, configYaml(app));

    const started = await gantry(['release', 'start', '-e', 'production', '-f', file, '--digest', DIGEST_A, '--sha', 'abc1234', '--author', 'carol'], 'dave');
    expect(started).toMatchObject({ code: 0, stderr: '' });
    expect(started.stdout).toMatch(new RegExp(`^started: release/${app}/production \\(run [0-9a-f-]+\\)\\n  watch it:  gantry release watch ${app} production\\n$`));

    const watch = spawnGantry(['release', 'watch', app, 'production'], 'eve');
    await until('watch to show the approval wait', () => (watch.out.stdout.includes(`→ gantry approve ${app} production`) ? true : undefined), 30_000);
    expect(watch.out.stdout).toMatch(/^\[\d\d:\d\d:\d\d\] group 2\/3 zone-a 3\/5 new, zone-b 3\/5 new — waiting-approval: waiting for approval of group 2 \(approvers: alice, bob, carol, group:sre \(not carol, dave\); 0 of 1 approval\)$/m);

    const refused = await gantry(['approve', app, 'production'], 'carol');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: carol is the author of this change and may not approve its release (four-eyes)\n');

    const approved = await gantry(['approve', app, 'production', '-m', 'lgtm'], 'alice');
    expect(approved).toMatchObject({ code: 0, stderr: '' });
    expect(approved.stdout).toMatch(/^approve by alice recorded: /);

    const watched = await watch.done;
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/\] {3}· group 2 approved by alice via cli: lgtm\n/);
    expect(watched.stdout).toMatch(/^\[\d\d:\d\d:\d\d\] group 3\/3 zone-a 5\/5 new, zone-b 5\/5 new — succeeded: /m);
    expect(watched.stdout).toMatch(new RegExp(`✓ ${app} → production succeeded: .*\\n$`));
    // Progress lines come only on change: the approval wait is printed once.
    expect(watched.stdout.match(/— waiting-approval/g)).toHaveLength(1);

    const history = await cli(['release', 'history', app, 'production'], 'eve');
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/approve\s+by alice via cli \(group 2\): lgtm/);
    expect(history.stdout).toMatch(/succeeded\s+/);
    const status = await cli(['release', 'status', app, 'production', '--json'], 'eve');
    expect(JSON.parse(status.stdout)).toMatchObject({ phase: 'succeeded', startedBy: 'dave', revision: { digest: DIGEST_A, author: 'carol' } });
  });

  it('watch exits 1 when the release is aborted and rolls back', async () => {
    const app = unique('shop');
    const file = writeConfig(app, configYaml(app));
    expect((await cli(['release', 'start', '-e', 'production', '-f', file, '--digest', DIGEST_B], 'dave')).code).toBe(0);
    const watching = cli(['release', 'watch', app, 'production', '--interval', '100'], 'eve');
    await h.service.status(app, 'production').catch(() => undefined);
    await until('waiting for approval', async () => ((await h.service.status(app, 'production').catch(() => undefined))?.phase === 'waiting-approval' ? true : undefined));
    const abort = await cli(['abort', app, 'production', '-m', 'wrong build'], 'bob');
    expect(abort.code).toBe(0);
    const w = await watching;
    expect(w.code).toBe(1);
    expect(w.stdout).toMatch(new RegExp(`✗ ${app} → production rolled-back: abort by bob via cli: wrong build`));
    const list = await cli(['release', 'list'], 'eve');
    expect(list.stdout).toMatch(new RegExp(`^${app}\\s+production\\s+rolled-back\\s+`, 'm'));
  });

  it('errors: unknown release, refusals, no or wrong token, unreachable server, bad input', async () => {
    const missing = await cli(['release', 'status', 'nope', 'production'], 'alice');
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'error: no release of nope to production\nhint: start one with: gantry release start\n' });
    const missingDecision = await cli(['approve', 'nope', 'production'], 'alice');
    expect(missingDecision.stderr).toBe('error: no release of nope to production\nhint: list releases with: gantry release list\n');

    const noToken = await cli(['release', 'list']);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toBe('error: missing bearer token\nhint: GANTRY_TOKEN is not set: export GANTRY_TOKEN=<your API token>\n');
    const wrongToken = await cli(['release', 'list'], undefined, { GANTRY_TOKEN: 'wrong-token-1234567890' });
    expect(wrongToken.stderr).toMatch(/^error: unknown or revoked token\nhint: check GANTRY_TOKEN/);

    const closed = await closedPort();
    const down = await cli(['release', 'list', '--api', `http://127.0.0.1:${closed}`], 'alice');
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(`error: cannot reach the Gantry API at http://127.0.0.1:${closed} (ECONNREFUSED)\nhint: start it with \`npm start\` (worker and API) or \`npm run api\`, or point --api / GANTRY_API at a running Gantry API\n`);

    const app = unique('shop');
    const broken = writeConfig(app, `app:\n  name: ${app}\n  image: registry.local/shop/web\nenvironments:\n  - name: production\n    replicas: 4\n    cells: [{ name: zone-a }]\n    groups: [{ pods: 0 }, { pods: rest, confirm: { type: manual, timeout: soon } }]\n`);
    const bad = await cli(['release', 'start', '-e', 'production', '-f', broken, '--digest', DIGEST_A], 'dave');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error: invalid gantry.yaml (2 problems)\n');
    expect(bad.stderr).toContain("  config.environments[0].groups[1].confirm.timeout: not a duration\n    hint: use a duration with a unit: '30s', '10m', '48h', '3d'\n");
    expect(bad.stderr).toMatch(/^ {2}config\.environments\[0\]\.groups\[0\]\.pods: .*\n {4}hint: use a count \(2\), a percentage/m);
    const digest = await cli(['release', 'start', '-e', 'production', '-f', writeConfig(`${app}-ok`, configYaml(app)), '--digest', 'latest'], 'dave');
    expect(digest.stderr).toBe('error: invalid revision\n  revision.digest: not an image digest\n    hint: sha256: followed by 64 hex digits, as the registry reports it\n');

    const usage = await cli(['release', 'start', '--digest', DIGEST_A], 'dave');
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/required option '-e, --env <environment>' not specified/);
  });

  it('config validate and schema work locally, without the API', async () => {
    const good = writeConfig('good', configYaml('shop'));
    const ok = await cli(['config', 'validate', '-f', good, '--api', 'http://127.0.0.1:9']);
    expect(ok).toEqual({ code: 0, stderr: '', stdout: `${good}: valid — app shop (registry.local/shop/web); environments: production (2 cells, 10 replicas, 3 groups)\n` });
    const bad = writeConfig('bad', 'app: { name: Shop, image: x }\nenvironments: []\nextra: 1\n');
    const r = await cli(['config', 'validate', '-f', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/: 3 problems\n/);
    expect(r.stderr).toContain("  (top level): unknown key 'extra'\n    hint: remove 'extra'");
    expect(r.stderr).toMatch(/^ {2}app\.name: app name must be a lowercase DNS label.*\n {4}hint: /m);
    expect(r.stderr).toMatch(/^ {2}environments: .*\n {4}hint: at least one environment/m);
    const none = await cli(['config', 'validate', '-f', 'missing.yaml']);
    expect(none.stderr).toBe("error: cannot read missing.yaml (ENOENT)\nhint: run gantry in the application's repository, or pass -f <path to gantry.yaml>\n");
    const schema = await cli(['config', 'schema']);
    expect(JSON.parse(schema.stdout)).toMatchObject({ type: 'object', properties: { app: expect.any(Object), environments: expect.any(Object) } });
  });

  it('pipeline start twice for the same commit finds the first; status shows its stages', async () => {
    const app = unique('shop');
    const file = writeConfig(app, configYaml(app, { manual: false }));
    const args = ['pipeline', 'start', '--repo', `acme/${app}`, '--sha', 'feedbeef1234', '--digest', DIGEST_A, '-f', file];
    const first = await cli(args, 'dave');
    expect(first.stdout).toMatch(new RegExp(`^started: pipeline/acme/${app}/feedbeef1234 `));
    const second = await cli(args, 'dave');
    expect(second.stdout).toMatch(new RegExp(`^already started: pipeline/acme/${app}/feedbeef1234 `));
    const done = await until('pipeline to succeed', async () => {
      const s = await cli(['pipeline', 'status', '--repo', `acme/${app}`, '--sha', 'feedbeef1234'], 'eve');
      return /: succeeded\n/.test(s.stdout) ? s.stdout : undefined;
    });
    expect(done).toMatch(/release:production\s+succeeded\s+\d+\.\ds/);
  });
});
