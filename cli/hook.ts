// `gantry hook post-receive`: the post-receive hook of a plain git server. git passes one line per
// updated ref on stdin, `<old-sha> <new-sha> <ref>`; for each branch or tag that was not deleted the
// hook reads gantry.yaml at the pushed commit (git cat-file, in the repository the hook runs in) and
// sends the push to the API (POST /v1/triggers/push, bearer $GANTRY_TOKEN), which applies the
// branch and tag rules. The output reaches the pusher as `remote:` lines. git runs every command
// here from an argv array: no shell.
//
// Install (the hook file is the only shell; it just execs the CLI):
//   #!/bin/sh
//   exec /usr/bin/node /opt/gantry/cli/bin.js hook post-receive --repo shop
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import type { Command } from 'commander';

export interface RefUpdate { old: string; new: string; ref: string }

const ZERO = /^0+$/;

/** Parses post-receive input; malformed lines are reported, not guessed at. */
export function parsePostReceive(text: string): { updates: RefUpdate[]; errors: string[] } {
  const updates: RefUpdate[] = [];
  const errors: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = /^([0-9a-f]{40,64}) ([0-9a-f]{40,64}) (refs\/\S+)$/.exec(line.trim());
    if (m) updates.push({ old: m[1]!, new: m[2]!, ref: m[3]! });
    else errors.push(`not a '<old> <new> <ref>' line: ${line.slice(0, 200)}`);
  }
  return { updates, errors };
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env, maxBuffer: 4 * 1024 * 1024, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`git ${args[0]}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return text;
}

interface ApiLike { request<T>(method: 'GET' | 'POST', route: string, body?: unknown, timeoutMs?: number): Promise<{ status: number; body: T }> }

export interface HookDeps {
  api(): ApiLike;
  print(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
  setExit(code: number): void;
  stdin?: NodeJS.ReadableStream;
}

interface PushAnswer { action: string; started: { workflowId: string; existing: boolean } | null; reason?: string; environment?: string }

export function registerHookCommands(program: Command, deps: HookDeps): void {
  const hook = program.command('hook').description('git server hooks');
  hook.command('post-receive')
    .description('run as a git post-receive hook: start what the pushed refs trigger (reads "<old> <new> <ref>" lines on stdin)')
    .option('--repo <name>', 'repository name Gantry knows it by (default: the repository directory, without .git)')
    .option('--config-path <path>', 'gantry.yaml inside the repository', 'gantry.yaml')
    .option('--source', 'the pipeline builds the pushed commit from this repository (sends file://<repository> as the clone URL; the worker must be able to read it)')
    .action(async (o: { repo?: string; configPath: string; source?: boolean }) => {
      const gitDir = path.resolve(deps.cwd, deps.env.GIT_DIR ?? '.');
      const repo = o.repo ?? path.basename(gitDir).replace(/\.git$/, '');
      const { updates, errors } = parsePostReceive(await readStdin(deps.stdin ?? process.stdin));
      for (const e of errors) deps.stderr(`gantry: ${e}\n`);
      const gitEnv = { ...process.env, ...deps.env } as NodeJS.ProcessEnv;
      let failed = errors.length > 0;
      for (const u of updates) {
        if (ZERO.test(u.new)) { deps.print(`gantry: ${u.ref} deleted: nothing to do`); continue; }
        try {
          // Peel annotated tags to their commit.
          const sha = (await git(['rev-parse', '--verify', `${u.new}^{commit}`], gitDir, gitEnv)).trim();
          let config: string;
          try {
            config = await git(['cat-file', 'blob', `${sha}:${o.configPath}`], gitDir, gitEnv);
          } catch {
            deps.print(`gantry: ${u.ref}: no ${o.configPath} at ${sha.slice(0, 12)}: nothing to do`);
            continue;
          }
          const message = (await git(['log', '-1', '--format=%s', sha, '--'], gitDir, gitEnv)).trim();
          const delivery = crypto.createHash('sha256').update(`${repo}\0${u.ref}\0${u.old}\0${u.new}`).digest('hex');
          const { body } = await deps.api().request<PushAnswer>('POST', '/v1/triggers/push', { repo, ref: u.ref, sha, before: u.old, config, delivery, ...(message ? { message } : {}), ...(o.source ? { cloneUrl: `file://${gitDir}` } : {}) });
          if (body.started) deps.print(`gantry: ${u.ref} ${sha.slice(0, 12)}: ${body.action}${body.environment ? ` to ${body.environment}` : ''} ${body.started.existing ? 'already started' : 'started'}: ${body.started.workflowId}`);
          else deps.print(`gantry: ${u.ref} ${sha.slice(0, 12)}: ${body.reason ?? body.action}`);
        } catch (err) {
          failed = true;
          const hint = (err as { hint?: string }).hint;
          deps.stderr(`gantry: ${u.ref}: ${err instanceof Error ? err.message : String(err)}${hint ? ` (${hint})` : ''}\n`);
        }
      }
      if (failed) deps.setExit(1);
    });
}
