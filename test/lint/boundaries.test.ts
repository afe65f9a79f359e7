// The architecture rule is enforced by lint: core/ and workflows/ may not import Node built-ins,
// activities (except as types), or client libraries. This proves the rule fires.
import { describe, expect, it } from '@jest/globals';
import { ESLint } from 'eslint';

// The probe is linted as text under a path that does not exist, so type-aware parsing is off here.
const eslint = new ESLint({
  cwd: process.cwd(),
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: false, project: null } },
    rules: { '@typescript-eslint/no-floating-promises': 'off' },
  },
});
const probe = [
  "import fs from 'node:fs';",
  "import { Client } from '@temporalio/client';",
  "import { createSimClusterActivities } from '../activities/index.js';",
  "import type { SimOptions } from '../activities/index.js';",
  'export const x = [fs, Client, createSimClusterActivities] as unknown as SimOptions;',
].join('\n');

async function restricted(filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(probe, { filePath });
  const fatal = result!.messages.filter((m) => m.fatal);
  if (fatal.length) throw new Error(`eslint could not lint the probe: ${fatal.map((m) => m.message).join('; ')}`);
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => `${m.line}:${m.message.split('.')[0]}`);
}

describe('architecture boundaries (eslint)', () => {
  it.each(['workflows/probe.ts', 'core/probe.ts'])('%s may not import built-ins, clients or activity values', async (file) => {
    const msgs = await restricted(file);
    expect(msgs.some((m) => m.startsWith('1:'))).toBe(true); // node:fs
    expect(msgs.some((m) => m.startsWith('2:'))).toBe(true); // @temporalio/client
    expect(msgs.some((m) => m.startsWith('3:'))).toBe(true); // activities (value import)
    expect(msgs.some((m) => m.startsWith('4:'))).toBe(false); // activities as types: allowed
  });

  it('activities/ may use Node and client libraries', async () => {
    expect(await restricted('activities/probe.ts')).toEqual([]);
  });
});
