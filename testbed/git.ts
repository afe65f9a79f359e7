// git for the test bed, the demo and the tests: argv arrays only, never a shell, with a fixed
// committer (no global git config needed) and no terminal prompts.
import { execFile, execFileSync } from 'node:child_process';

const gitId = ['-c', 'user.name=Carol Author', '-c', 'user.email=carol@example.com', '-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main'];

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', [...gitId, ...args], { cwd, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }).trim();
}

/**
 * git without blocking this process: for a push whose server hook calls an API served by this same
 * process (a synchronous push would hold the event loop, so the hook's request could not be answered).
 */
export function gitAsync(cwd: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', [...gitId, ...args], { cwd, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`git ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(`${stdout}${stderr}`.trim());
    });
  });
}
