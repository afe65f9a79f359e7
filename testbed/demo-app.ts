// The demo's sample app and its git server: a tiny app (a static page, a unit test, a Dockerfile
// FROM scratch, a gantry.yaml with staging and a grouped production), a bare repository in the
// test bed's state dir with Gantry's post-receive hook installed, and a working clone that pushes
// to it. The hook is a real git hook: `git push` runs it, and it execs `gantry hook post-receive
// --source`, which posts the push to the API's POST /v1/triggers/push with its own token.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { git, gitAsync } from './git.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliBin = path.join(repoRoot, 'cli', 'bin.js');

/** A POSIX shell single-quoted word (the hook file is the one shell script, as git runs hooks). */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface DemoAppOptions {
  app: string;
  /** Where the pipeline pushes the image: <registry>/<repository>. */
  image: string;
  /** Cells pinned to the kwok nodes' zones (the local test bed); without, the cells have no zone. */
  zones: boolean;
}

/** gantry.yaml: staging in one group; production in groups of 1 (auto, checked), 2 (a person, four-eyes) and the rest per zone. */
export function demoGantryYaml(o: DemoAppOptions): string {
  const zone = (z: string) => (o.zones ? `, zone: ${z}` : '');
  return `# The demo's sample app (written by npm run demo, testbed/demo-app.ts).
app:
  name: ${o.app}
  image: ${o.image}
environments:
  - name: staging
    replicas: 2
    cells: [{ name: zone-a${zone('zone-a')} }]
    groups: [{ name: all, pods: rest }]
  - name: production
    replicas: 10
    cells: [{ name: zone-a${zone('zone-a')} }, { name: zone-b${zone('zone-b')} }]
    groups:
      # 1 pod per zone, confirmed automatically once the health check (analysis) passes
      - { name: canary, pods: 1, confirm: { type: auto } }
      # 2 more per zone, then a person in group sre confirms (not the change's author: four-eyes)
      - { name: half, pods: 2, confirm: { type: manual, timeout: 2h } }
      - { name: rest, pods: rest }
    analysis:
      - name: error-rate
        query: 'sum(rate(${o.app}_http_requests_total{code=~"5.."}[30s])) / sum(rate(${o.app}_http_requests_total[30s]))'
        max: 0.01
    approvers: { groups: [sre], allowStarter: false }
    deadlines: { progress: 2m, analysis: 1m }
    traffic: { httpRoute: { name: ${o.app} } }
    drain: { grace: 2s }
build:
  dockerfile: Dockerfile
  tag: { name: 'release/{app}/{sha7}', after: production }
gates:
  - { name: unit, type: junit, run: [node, --test, --test-reporter=junit, --test-reporter-destination=reports/junit.xml, test/cart.test.mjs], reports: [reports/junit.xml] }
  - { name: dockerfile, type: hadolint, dockerfile: Dockerfile }
  - { name: size, type: image-size, max: 1MB }
`;
}

/** The app's files at one version (the page and the price logic change with it). */
export function demoAppFiles(o: DemoAppOptions, version: string): Record<string, string> {
  return {
    'gantry.yaml': demoGantryYaml(o),
    // FROM scratch: no base image to pull, the page is the image.
    Dockerfile: 'FROM scratch\nCOPY site/ /srv/www/\n',
    '.dockerignore': 'reports/\ntest/\n',
    'reports/.gitkeep': '',
    'site/index.html': `<!doctype html>\n<title>${o.app}</title>\n<h1>${o.app}</h1>\n<p>version ${version}</p>\n`,
    'src/cart.mjs': 'export function total(items) {\n  return items.reduce((sum, i) => sum + i.price * i.quantity, 0);\n}\n',
    'test/cart.test.mjs': `import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { total } from '../src/cart.mjs';

describe('cart', () => {
  it('is 0 when empty', () => assert.equal(total([]), 0));
  it('adds price times quantity', () => assert.equal(total([{ price: 3, quantity: 2 }, { price: 1, quantity: 1 }]), 7));
});
`,
  };
}

export interface DemoRepo {
  /** The bare repository (the "git server"). */
  origin: string;
  /** The working clone the demo commits in and pushes from. */
  work: string;
  /** Writes the app at `version`, commits as `author`, returns the sha (not pushed yet). */
  commit(version: string, author: string, message: string): string;
  /** `git push origin HEAD:main`: git runs the post-receive hook; returns git's output (the hook's `remote:` lines). */
  push(): Promise<string>;
}

/**
 * The bare repository and clone under `dir` (kept across runs: each run pushes a new commit), with
 * the post-receive hook (re)written for this run's API address and the hook's token file.
 */
export function prepareDemoRepo(dir: string, o: DemoAppOptions & { apiUrl: string; hookTokenFile: string }): DemoRepo {
  const origin = path.join(dir, `${o.app}.git`);
  const work = path.join(dir, o.app);
  if (!fs.existsSync(path.join(origin, 'HEAD')) || !fs.existsSync(path.join(work, '.git'))) {
    fs.rmSync(origin, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    git(dir, 'init', '-q', '--bare', '-b', 'main', origin);
    git(dir, 'init', '-q', '-b', 'main', work);
    git(work, 'remote', 'add', 'origin', origin);
  }
  // The hook: git runs it with the repository as its cwd and the pushed refs on stdin. It names the
  // API and reads its own token (the git server's credential, not the pusher's); `--source` sends
  // file://<this repository> so the pipeline builds the pushed commit from here.
  fs.writeFileSync(path.join(origin, 'hooks', 'post-receive'), [
    '#!/bin/sh',
    '# Gantry post-receive hook (written by npm run demo): start what the pushed refs trigger.',
    'unset NODE_OPTIONS',
    `GANTRY_API=${quote(o.apiUrl)}`,
    `GANTRY_TOKEN=$(cat ${quote(o.hookTokenFile)}) || exit 1`,
    'export GANTRY_API GANTRY_TOKEN',
    `exec ${quote(process.execPath)} ${quote(cliBin)} hook post-receive --repo ${quote(o.app)} --source`,
    '',
  ].join('\n'), { mode: 0o755 });
  fs.chmodSync(path.join(origin, 'hooks', 'post-receive'), 0o755);
  return {
    origin, work,
    commit(version, author, message) {
      for (const [rel, content] of Object.entries(demoAppFiles(o, version))) {
        const p = path.join(work, rel);
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.writeFileSync(p, content);
      }
      git(work, 'add', '-A');
      git(work, '-c', `user.name=${author}`, '-c', `user.email=${author}@example.com`, 'commit', '-q', '--allow-empty', '-m', message);
      return git(work, 'rev-parse', 'HEAD');
    },
    push: () => gitAsync(work, 'push', 'origin', 'HEAD:refs/heads/main'),
  };
}
