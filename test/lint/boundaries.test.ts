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

async function restrictedMessages(filePath: string, text: string) {
  const [result] = await eslint.lintText(text, { filePath });
  const fatal = result!.messages.filter((m) => m.fatal);
  if (fatal.length) throw new Error(`eslint could not lint the probe: ${fatal.map((m) => m.message).join('; ')}`);
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports');
}

async function restricted(filePath: string, text = probe): Promise<string[]> {
  return (await restrictedMessages(filePath, text)).map((m) => `${m.line}:${m.message.split('.')[0]}`);
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

  // Production code never stands on the test rig: the worker and the API took their defaults from
  // testbed/ (paths, the Prometheus URL, the Temporal address) until issue 8.
  const rigProbe = [
    "import { stateDir } from '../testbed/paths.js';",
    "import { kubeconfigPath } from '../../testbed/k8s/config.js';",
    "import type { Testbed } from '../test/k8s/support/testbed.js';",
    "import { startApi } from '../api/main.js';",
    'export const x = [stateDir, kubeconfigPath, startApi] as unknown as Testbed;',
  ].join('\n');

  it.each(['worker/probe.ts', 'api/probe.ts', 'activities/probe.ts', 'activities/k8s/probe.ts', 'cli/probe.ts', 'runtime/probe.ts'])(
    '%s may not import the test bed or tests', async (file) => {
      const msgs = await restrictedMessages(file, rigProbe);
      expect(msgs.map((m) => m.line)).toEqual([1, 2, 3]); // line 4, another production module, is allowed
      for (const m of msgs) expect(m.message).toMatch(/may not import the test bed or tests: take the setting from the runtime config/);
    });

  it('the test bed itself, tests and benchmarks may import it', async () => {
    for (const file of ['testbed/probe.ts', 'test/probe.ts', 'bench/probe.ts']) expect(await restricted(file, rigProbe)).toEqual([]);
  });
});
