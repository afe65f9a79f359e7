// Token → identity: GANTRY_TOKENS and the server config file, digests only, no token in any error.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { authenticate, bearerToken, IdentityConfigError, loadIdentities, resolveToken, sha256Hex } from '../../api/auth.js';
import { GantryError } from '../../api/errors.js';

const ALICE = 'alice-token-5c1e9f0b7d3a';
const BOB = 'bob-token-82ad4e6f1c09';

function tmpFile(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-auth-'));
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(file, text);
  return file;
}

describe('api/auth', () => {
  it('merges GANTRY_TOKENS and the GANTRY_SERVER_CONFIG file, which holds only sha256 digests', () => {
    const file = tmpFile(`identities:\n  - id: bob\n    groups: [sre]\n    token_sha256: ${sha256Hex(BOB).toUpperCase()}\n`);
    expect(fs.readFileSync(file, 'utf8')).not.toContain(BOB);
    const table = loadIdentities({ env: { GANTRY_TOKENS: JSON.stringify({ [ALICE]: { id: 'alice', groups: ['dev'] } }), GANTRY_SERVER_CONFIG: file } });
    expect(table.size).toBe(2);
    expect(table.sources).toEqual(['GANTRY_TOKENS', file]);
    expect(resolveToken(table, ALICE)).toEqual({ id: 'alice', groups: ['dev'] });
    expect(resolveToken(table, BOB)).toEqual({ id: 'bob', groups: ['sre'] });
    expect(resolveToken(table, `${BOB}x`)).toBeUndefined();
    expect(resolveToken(table, '')).toBeUndefined();
    expect(resolveToken(table, undefined)).toBeUndefined();
    expect(loadIdentities({ env: {} }).size).toBe(0);
  });

  it('authenticate: 401 GantryErrors with message and hint for a missing, malformed or unknown token', () => {
    const table = loadIdentities({ env: { GANTRY_TOKENS: JSON.stringify({ [ALICE]: { id: 'alice' } }) } });
    expect(authenticate(table, `Bearer ${ALICE}`)).toEqual({ id: 'alice', groups: [] });
    expect(authenticate(table, `bearer   ${ALICE}`).id).toBe('alice');
    for (const [header, message] of [[undefined, 'missing bearer token'], [`Basic ${ALICE}`, 'the Authorization header is not a bearer token'], ['Bearer nope-nope-nope-nope', 'unknown or revoked token']] as const) {
      const err = (() => { try { authenticate(table, header); } catch (e) { return e; } return undefined; })();
      expect(err).toBeInstanceOf(GantryError);
      expect((err as GantryError).httpStatus).toBe(401);
      expect((err as GantryError).toJSON()).toMatchObject({ error: 'unauthenticated', message, hint: expect.any(String) });
      expect(JSON.stringify((err as GantryError).toJSON())).not.toContain(ALICE);
    }
    expect(bearerToken(['Bearer abc', 'Bearer def'])).toBe('abc');
  });

  it('malformed sources fail loudly, naming the problem and never the token', () => {
    const bad = (env: Record<string, string>) => { try { loadIdentities({ env }); } catch (e) { return e as Error; } throw new Error('did not throw'); };
    const short = bad({ GANTRY_TOKENS: JSON.stringify({ 'short-secret': { id: 'x' } }) });
    expect(short).toBeInstanceOf(IdentityConfigError);
    expect(short.message).toMatch(/GANTRY_TOKENS is invalid: entry 1: tokens must be at least 16 characters/);
    expect(short.message).not.toContain('short-secret');
    const noId = bad({ GANTRY_TOKENS: JSON.stringify({ [ALICE]: { groups: [] } }) });
    expect(noId.message).toMatch(/entry 1\.id/);
    expect(noId.message).not.toContain(ALICE);
    expect(bad({ GANTRY_TOKENS: '{nope' }).message).toMatch(/not valid JSON/);
    expect(bad({ GANTRY_SERVER_CONFIG: tmpFile("identities:\n  - id: bob\n    token_sha256: \"1234\"\n") }).message).toMatch(/identities\.0\.token_sha256: token_sha256 must be 64 hex digits/);
    expect(bad({ GANTRY_SERVER_CONFIG: tmpFile('identities:\n  - id: bob\n    token_sha256: 1234\n') }).message).toMatch(/64 hex digits in quotes/);
    expect(bad({ GANTRY_SERVER_CONFIG: '/nonexistent/gantry-server.yaml' }).message).toMatch(/cannot be read: ENOENT/);
    const dup = bad({ GANTRY_TOKENS: JSON.stringify({ [ALICE]: { id: 'alice' } }), GANTRY_SERVER_CONFIG: tmpFile(`identities:\n  - id: mallory\n    token_sha256: ${sha256Hex(ALICE)}\n`) });
    expect(dup.message).toBe('the same token is given to both alice and mallory');
  });
});
