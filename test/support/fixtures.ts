// Configs used across tests.
import { parseConfig, type GantryConfig, type RawConfig } from '../../core/config.js';

export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;

/** The seed's example: 10 pods over 2 zones, groups of 1, 2 and the rest per zone. */
export function seedConfig(app: string, overrides: Partial<RawConfig['environments'][number]> = {}): GantryConfig {
  const raw: RawConfig = {
    app: { name: app, image: 'registry.local/shop/web' },
    environments: [{
      name: 'production',
      replicas: 10,
      cells: [{ name: 'zone-a' }, { name: 'zone-b' }],
      groups: [
        { pods: 1, confirm: { type: 'auto' } },
        { pods: 2, confirm: { type: 'manual' } },
        { pods: 'rest', confirm: { type: 'auto' } },
      ],
      approvers: { users: ['alice', 'bob'], groups: ['sre'] },
      deadlines: { progress: '20s' },
      ...overrides,
    }],
  };
  const r = parseConfig(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}
