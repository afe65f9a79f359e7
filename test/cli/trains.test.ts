// The release-train commands end to end: CLI → HTTP API → Temporal Schedules (real dev server).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stringify } from 'yaml';
import { startApi, type RunningApi } from '../../api/main.js';
import { run } from '../../cli/main.js';
import { startHarness, type Harness } from '../support/release-harness.js';
import { people, testIdentities } from '../api/helpers.js';
import { unique } from '../support/temporal.js';

let h: Harness;
let api: RunningApi;
const token = people.alice.token;

beforeAll(async () => {
  h = await startHarness();
  api = await startApi({ client: h.client, taskQueue: h.taskQueue, listen: '127.0.0.1:0', logger: false, identities: testIdentities() });
}, 60_000);
afterAll(async () => { await api?.close(); await h?.close(); });

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(args, { stdout: (t) => { out += t; }, stderr: (t) => { err += t; }, env: { GANTRY_API: api.url, GANTRY_TOKEN: token } });
  return { code, out, err };
}

describe('gantry train (CLI over the API)', () => {
  it('create, list, status, trigger and delete a train; bad cron names the field', async () => {
    const app = unique('shop');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-train-'));
    const file = path.join(dir, 'gantry.yaml');
    fs.writeFileSync(file, stringify({ app: { name: app, image: 'registry.local/shop/web' }, environments: [{ name: 'production', replicas: 2, cells: [{ name: 'a' }], groups: [{ pods: 'rest' }] }] }));
    const created = await cli(['train', 'create', '-f', file, '-e', 'production', '--cron', '0 10 * * 1-4', '--tz', 'Europe/Berlin']);
    expect(created).toMatchObject({ code: 0, out: `created: train/${app}/production\n` });
    expect((await cli(['train', 'list'])).out).toMatch(new RegExp(`train/${app}/production\\s+0 10 \\* \\* 1-4\\s+Europe/Berlin\\s+next `));
    expect((await cli(['train', 'status', app, 'production'])).out).toMatch(/skipped \(a release was still in progress\): 0/);
    expect(await cli(['train', 'trigger', app, 'production'])).toMatchObject({ code: 0, out: `train ${app}/production departed\n` });
    const bad = await cli(['train', 'create', '-f', file, '-e', 'production', '--cron', 'at noon']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/cron\[0\]: not a cron expression/);
    expect(await cli(['train', 'delete', app, 'production'])).toMatchObject({ code: 0 });
    const gone = await cli(['train', 'status', app, 'production']);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/no release train for/);
  });
});
