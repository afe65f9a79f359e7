#!/usr/bin/env node
// The `gantry` command: runs the TypeScript CLI (cli/main.ts) through tsx's loader in this process:
// no build step, no shell, arguments passed through as they are.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('./main.ts');
process.exitCode = await run(process.argv.slice(2));
