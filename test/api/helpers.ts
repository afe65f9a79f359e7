// Shared by the API and CLI tests: tokens, configs as gantry.yaml text, and a server on the harness.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unique } from '../support/temporal.js';
import type { FastifyInstance } from 'fastify';
import { startHarness, waitForStatus, type Harness } from '../support/release-harness.js';
import { identityTable, sha256Hex, type IdentityTable } from '../../api/auth.js';
import { buildServer } from '../../api/server.js';
import type { GantryService } from '../../api/service.js';

/** People of the tests: alice and bob approve by name, frank through group sre, carol authors, dave starts, eve is nobody. */
export const people = {
  alice: { token: 'tok-alice-7f3a9c1e55d0', groups: [] as string[] },
  bob: { token: 'tok-bob-0c8e2b6d94aa', groups: [] as string[] },
  carol: { token: 'tok-carol-4d1f7a2c8b3e', groups: [] as string[] },
  dave: { token: 'tok-dave-9b5e3c7a1d2f', groups: ['dev'] },
  eve: { token: 'tok-eve-2a6c8e4f0b1d', groups: ['marketing'] },
  frank: { token: 'tok-frank-6e0a4c2b8d9f', groups: ['sre'] },
} as const;
export type Person = keyof typeof people;

/** alice..dave from plain tokens (as GANTRY_TOKENS gives them), eve and frank from sha256 digests (as the server config file does). */
export function testIdentities(): IdentityTable {
  return identityTable(Object.entries(people).map(([id, p]) => (id === 'eve' || id === 'frank'
    ? { identity: { id, groups: p.groups }, tokenSha256: sha256Hex(p.token) }
    : { identity: { id, groups: p.groups }, token: p.token })));
}

export const auth = (who: Person) => ({ authorization: `Bearer ${people[who].token}` });

export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;

/** The seed layout as gantry.yaml text: 10 pods over 2 zones, groups 1, 2 (manual), rest. */
export function configYaml(app: string, opts: { manual?: boolean } = {}): string {
  const manual = opts.manual ?? true;
  return `# gantry.yaml for ${app}
app:
  name: ${app}
  image: registry.local/shop/web
environments:
  - name: production
    replicas: 10
    cells: [{ name: zone-a }, { name: zone-b }]
    groups:
      - { pods: 1 }
      - { pods: 2, confirm: { type: ${manual ? 'manual' : 'auto'} } }
      - { pods: rest }
    approvers: { users: [alice, bob, carol], groups: [sre] }
    deadlines: { progress: 20s }
`;
}

export function testServer(service: GantryService, extra: Partial<Parameters<typeof buildServer>[0]> = {}): FastifyInstance {
  return buildServer({ service, identities: testIdentities(), ...extra });
}

export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface ListeningApi { h: Harness; server: FastifyInstance; url: string; dir: string; close(): Promise<void> }

/** The harness plus the API listening on a free loopback port, and a scratch directory. */
export async function startListeningApi(dirPrefix: string): Promise<ListeningApi> {
  const h = await startHarness();
  const server = testServer(h.service);
  const url = await listenOnLoopback(server);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), dirPrefix));
  return {
    h, server, dir, url,
    async close() {
      await server.close();
      await h.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The gantry CLI's entry point, as a git hook or a child process runs it. */
export const cliBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'bin.js');

/** Listens on a free loopback port; returns the base URL. */
export async function listenOnLoopback(server: FastifyInstance): Promise<string> {
  await server.listen({ host: '127.0.0.1', port: 0 });
  const a = server.server.address();
  if (!a || typeof a !== 'object') throw new Error('server did not bind');
  return `http://127.0.0.1:${a.port}`;
}

/** Starts a release of a fresh app (carol's change, started by dave) and waits until it waits for approval. */
export async function startWaitingRelease(service: GantryService, prefix: string): Promise<string> {
  const app = unique(prefix);
  await service.startRelease({ config: configYaml(app), environment: 'production', revision: { digest: DIGEST_A, sha: 'abc1234', author: 'carol' } }, { identity: { id: 'dave', groups: ['dev'] }, channel: 'api' });
  await waitForStatus(service, app, 'production', (s) => s.phase === 'waiting-approval');
  return app;
}

export const decisionsOf = async (service: GantryService, app: string) => (await service.status(app, 'production', 0)).decisions;
