// The failure vocabulary (workflows/failures.ts): one table of types, each with its retryability,
// why, and a hint; fail() makes failures from it; the proxies take their nonRetryableErrorTypes from
// it; and no activity constructs an ApplicationFailure any other way (a lint-like scan of the source,
// so the rule keeps holding as activities are added).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { fail, FAILURES, failureHint, failureHintOf, FailureType, failureTypes, isFailureType, nonRetryableErrorTypes } from '../../workflows/failures.js';
import { FailureType as MessagesFailureType } from '../../workflows/messages.js';
import { gitFailureType } from '../../activities/git.js';
import { registryStatusFailure } from '../../activities/registry.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

describe('the failure table', () => {
  it.each(failureTypes.map((type) => ({ type })))('$type has a retryability, a reason for it and a hint', ({ type }) => {
    const spec = FAILURES[type];
    expect(typeof spec.retryable).toBe('boolean');
    expect(spec.why.trim().length).toBeGreaterThan(10);
    expect(spec.hint.trim().length).toBeGreaterThan(10);
    expect(FailureType[type]).toBe(type);
  });

  it('nonRetryableErrorTypes is exactly the table\'s non-retryable types', () => {
    expect([...nonRetryableErrorTypes].sort()).toEqual(failureTypes.filter((t) => FAILURES[t].retryable === false).sort());
    expect(nonRetryableErrorTypes.length).toBeGreaterThan(0);
    expect(nonRetryableErrorTypes.length).toBeLessThan(failureTypes.length);
  });

  it('the names clients branch on are still the ones on the wire (api/service.ts, tests, existing histories)', () => {
    expect(MessagesFailureType).toBe(FailureType);
    for (const name of ['Refused', 'BadRequest', 'RolledBack', 'RollbackFailed', 'StageFailed', 'InvalidTarget', 'Forbidden', 'InvalidSpec',
      'ClusterUnavailable', 'CommitNotFound', 'RefMoved', 'RefNotFound', 'InvalidConfig', 'BuildFailed', 'ImageNotFound', 'SecretMissing',
      'TagConflict', 'RegistryForbidden', 'GitHubNotConfigured', 'GitHubBadInput']) {
      expect(isFailureType(name)).toBe(true);
    }
  });

  // The decisions the style notes asked for, pinned: changing one is a decision, made in the table.
  it.each([
    { type: 'ClusterUnavailable', retryable: true },
    { type: 'RegistryUnavailable', retryable: true },
    { type: 'RepoUnavailable', retryable: true },
    { type: 'RepoForbidden', retryable: false },
    { type: 'RepoNotFound', retryable: false },
    { type: 'WorkspaceCorrupt', retryable: true },
    { type: 'BuilderUnavailable', retryable: true },
    { type: 'ToolMissing', retryable: false },
    { type: 'Forbidden', retryable: false },
  ] as const)('$type: retryable $retryable', ({ type, retryable }) => {
    expect(FAILURES[type].retryable).toBe(retryable);
  });

  it('isFailureType and failureHint know only the table (no prototype names)', () => {
    expect(isFailureType('toString')).toBe(false);
    expect(isFailureType('GitHub404')).toBe(false);
    expect(isFailureType(undefined)).toBe(false);
    expect(failureHint('Forbidden')).toBe(FAILURES.Forbidden.hint);
    expect(failureHint('constructor')).toBeUndefined();
  });

  it('failureHintOf finds the table\'s type along the cause chain (as a workflow sees an activity failure)', () => {
    const inner = fail(FailureType.CommitNotFound, 'commit 0123 not found');
    const wrapped = new Error('activity failed', { cause: new Error('retry state: non-retryable', { cause: inner }) });
    expect(failureHintOf(wrapped)).toBe(FAILURES.CommitNotFound.hint);
    expect(failureHintOf(ApplicationFailure.create({ message: 'x', type: 'GitHub404' }))).toBeUndefined();
    expect(failureHintOf(new Error('plain'))).toBeUndefined();
    expect(failureHintOf('a string')).toBeUndefined();
  });
});

describe('fail()', () => {
  it.each(failureTypes.map((type) => ({ type })))('$type: nonRetryable is the table\'s, the hint is a detail', ({ type }) => {
    const f = fail(type, 'what happened', { details: { status: 418 } });
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f).toMatchObject({ type, message: 'what happened', nonRetryable: !FAILURES[type].retryable });
    expect(f.details).toEqual([{ hint: FAILURES[type].hint, status: 418 }]);
  });

  it('keeps a cause; a retry delay only on a retryable type', () => {
    const cause = new Error('socket hang up');
    expect(fail(FailureType.ClusterUnavailable, 'x', { cause, nextRetryDelay: '5s' })).toMatchObject({ cause, nextRetryDelay: '5s' });
    expect(fail(FailureType.Forbidden, 'x', { nextRetryDelay: '5s' }).nextRetryDelay).toBeUndefined();
  });
});

describe('activities map what they meet to the table', () => {
  it.each([
    { name: 'missing commit', msg: 'fatal: remote error: upload-pack: not our ref 1234', type: 'CommitNotFound' },
    { name: 'bad HTTPS credentials', msg: "remote: Invalid username or password.\nfatal: Authentication failed for 'https://git.example/acme/shop.git/'", type: 'RepoForbidden' },
    { name: 'no credentials, prompts disabled', msg: "fatal: could not read Username for 'https://git.example': terminal prompts disabled", type: 'RepoForbidden' },
    { name: 'SSH key refused', msg: 'git@git.example: Permission denied (publickey).\r\nfatal: Could not read from remote repository.', type: 'RepoForbidden' },
    { name: 'unknown SSH host key', msg: 'Host key verification failed.\r\nfatal: Could not read from remote repository.', type: 'RepoForbidden' },
    { name: 'no such repository', msg: "fatal: '/srv/git/nope.git' does not appear to be a git repository\nfatal: Could not read from remote repository.", type: 'RepoNotFound' },
    { name: 'HTTP 404', msg: "fatal: unable to access 'https://git.example/x.git/': The requested URL returned error: 404", type: 'RepoNotFound' },
    { name: 'SSH connection refused', msg: 'ssh: connect to host git.example port 22: Connection refused\r\nfatal: Could not read from remote repository.', type: 'RepoUnavailable' },
    { name: 'DNS', msg: "fatal: unable to access 'https://git.example/x.git/': Could not resolve host: git.example", type: 'RepoUnavailable' },
    { name: 'HTTP 503', msg: "fatal: unable to access 'https://git.example/x.git/': The requested URL returned error: 503", type: 'RepoUnavailable' },
    { name: 'something else', msg: "fatal: Unable to create '/w/cache.git/index.lock': File exists.", type: 'GitFailed' },
  ] as const)('git: $name is $type', ({ msg, type }) => {
    expect(gitFailureType(msg)).toBe(type);
  });

  const res = (status: number, headers: Record<string, string> = {}) => ({ status, headers: new Headers(headers) });
  it.each([
    // 429 and 408 were non-retryable before (every status below 500 was): a busy registry failed the pipeline.
    { status: 429, headers: { 'retry-after': '4' }, type: 'RegistryUnavailable', nonRetryable: false, nextRetryDelay: '4s' },
    { status: 408, type: 'RegistryUnavailable', nonRetryable: false },
    { status: 502, type: 'RegistryUnavailable', nonRetryable: false },
    { status: 400, type: 'RegistryRejected', nonRetryable: true },
    { status: 413, type: 'RegistryRejected', nonRetryable: true },
  ])('registry: HTTP $status is $type', ({ status, headers, type, nonRetryable, nextRetryDelay }) => {
    const f = registryStatusFailure('PUT r/x:1', res(status, headers));
    expect(f).toMatchObject({ type, nonRetryable, message: `PUT r/x:1: HTTP ${status}` });
    expect(f.details?.[0]).toMatchObject({ status });
    expect(f.nextRetryDelay).toBe(nextRetryDelay);
  });
});

describe('the rule keeps holding (source scans)', () => {
  const construction = /ApplicationFailure\s*\.\s*(create|retryable|nonRetryable|fromError)\s*\(|new\s+ApplicationFailure\s*\(/;

  it('no activity constructs an ApplicationFailure except through fail()', () => {
    const files = sourceFiles('activities');
    expect(files.length).toBeGreaterThan(10);
    const offenders = files.flatMap((f) => fs.readFileSync(path.join(root, f), 'utf8').split('\n')
      .map((line, i) => ({ at: `${f}:${i + 1}`, line: line.trim() }))
      .filter(({ line }) => construction.test(line) && !line.startsWith('//') && !line.startsWith('*')));
    expect(offenders).toEqual([]);
  });

  it('the scan does fire on a construction', () => {
    expect(construction.test("throw ApplicationFailure.create({ message: 'x', type: 'Y' });")).toBe(true);
    expect(construction.test("throw ApplicationFailure.nonRetryable('x', 'Y');")).toBe(true);
    expect(construction.test('if (err instanceof ApplicationFailure) throw err;')).toBe(false);
  });

  /** The argument text of every proxyActivities(...) call in a source text (balanced parentheses). */
  function proxyCalls(text: string): string[] {
    const calls: string[] = [];
    const re = /proxyActivities\s*(<[^(]*>)?\s*\(/g;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      let depth = 1;
      let i = m.index + m[0].length;
      const start = i;
      for (; i < text.length && depth > 0; i++) {
        if (text[i] === '(') depth++;
        else if (text[i] === ')') depth--;
      }
      calls.push(text.slice(start, i - 1));
    }
    return calls;
  }

  it('every proxyActivities call in workflows/ takes nonRetryableErrorTypes from the table', () => {
    const checked: string[] = [];
    for (const f of sourceFiles('workflows')) {
      const text = fs.readFileSync(path.join(root, f), 'utf8');
      const calls = proxyCalls(text);
      if (!calls.length) continue;
      expect(text).toMatch(/import \{[^}]*\bnonRetryableErrorTypes\b[^}]*\} from '\.\/failures\.js';/);
      // A shared `const retry = { ... }` must carry the derived list as is.
      const shared = /const retry = \{([^}]*)\}/.exec(text)?.[1];
      calls.forEach((args, n) => {
        const where = `${f}, proxyActivities call ${n + 1}`;
        const own = /retry:\s*\{([^}]*)\}/.exec(args)?.[1];
        const body = own !== undefined && !/\.\.\.retry\b/.test(own) ? own : (/\bretry\b/.test(args) ? shared : undefined);
        expect({ where, retry: body === undefined ? 'none' : 'given' }).toEqual({ where, retry: 'given' });
        // Shorthand only: the name is the derived list, never a hand-written one.
        expect({ where, derived: /(^|[\s,{])nonRetryableErrorTypes\s*(,|$)/.test(body!.trim()) }).toEqual({ where, derived: true });
        checked.push(where);
      });
    }
    // release (cluster, analysis, notifier, rescue), pipeline (short, githubApi, catalog, gates, build), train (catalog)
    expect(checked.length).toBeGreaterThanOrEqual(10);
  });

  it('nothing in workflows/ hand-writes a list of non-retryable types', () => {
    for (const f of sourceFiles('workflows')) {
      if (f.endsWith('failures.ts')) continue;
      const text = fs.readFileSync(path.join(root, f), 'utf8');
      expect({ f, handWritten: /nonRetryableErrorTypes\s*:/.test(text) }).toEqual({ f, handWritten: false });
    }
  });
});
