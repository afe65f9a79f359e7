// Test bed: a local Node 20 bookworm base image, because public base images cannot be pulled here
// (no Docker Hub). Gantry's Dockerfile takes its base as a build argument (NODE_IMAGE, default the
// public node:20.20.2-bookworm-slim); on the test bed it is this image, in a local registry:
//   <registry>/gantry-base/node:20.20.2-bookworm-slim
// Made in two cached steps:
// 1. rootfs (`npm run testbed -- install`): Debian's debootstrap (pinned) --variant=minbase bookworm
//    with ca-certificates, trimmed (apt caches, docs, man pages), the Debian image's apt sources, plus the machine's own Node
//    (pins.node, checked) and npm copied to /usr/local as in the official node image; packed as a
//    tar with numeric owners into ~/.cache/gantry/base-image/<recipe>/ (built once, reused).
// 2. image (`npm run testbed -- up` for the test bed's registry, or a test for its own throwaway
//    registry): a BuildKit build `FROM scratch` + `ADD rootfs.tar /` (ADD unpacks a local tar and
//    keeps its owners and modes, as the Debian and node images are made), pushed eStargz; skipped
//    when that registry already holds the image of this recipe (a label on its config).
// The machine reaches the npm registry through a TLS-intercepting egress proxy, so the rootfs
// trusts the machine's CA bundle (/etc/ssl/certs/ca-certificates.crt, copied in) and its npm uses
// it (/usr/local/etc/npmrc: cafile, like the machine's own npmrc): `RUN npm ci` in a BuildKit build
// (host networking) then reaches registry.npmjs.org. The public node image needs none of this.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildctlBin, home, pins } from './paths.js';
import { run } from './proc.js';
import { aptInstallPinned } from './registry.js';

type Log = (m: string) => void;

/** Bump when the rootfs or the image recipe changes: a new rootfs is made and registries holding the old one get the new one. */
const RECIPE = 2;
const MIRROR = 'http://deb.debian.org/debian';
const SUITE = 'bookworm';
export const BASE_REPOSITORY = 'gantry-base/node';
export const BASE_TAG = `${pins.node}-bookworm-slim`;
const RECIPE_LABEL = 'dev.gantry.testbed.base-recipe';
const recipeId = `${SUITE}-minbase-node-${pins.node}-r${RECIPE}`;
export const baseImageDir = path.join(home, 'base-image', recipeId);
const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

/** The base image's reference in a registry (host:port). */
export function baseImageRef(registryAddr: string): string { return `${registryAddr}/${BASE_REPOSITORY}:${BASE_TAG}`; }

/** The machine's Node and npm, checked against the pin (the image must hold the Node Gantry is pinned to). */
async function hostNode(): Promise<{ node: string; npmDir: string; npmVersion: string }> {
  const nodeBin = fs.realpathSync(process.execPath);
  const version = (await run([nodeBin, '--version'])).stdout.trim();
  if (version !== `v${pins.node}`) {
    throw new Error(`base image: this machine's Node is ${version} (${nodeBin}); the local base image copies it and must be v${pins.node}: install Node ${pins.node} or change pins.node in testbed/paths.ts together with NODE_IMAGE in the Dockerfile`);
  }
  // npm next to node: <prefix>/bin/node and <prefix>/lib/node_modules/npm (Debian/NodeSource: /usr).
  const npmDir = path.join(path.dirname(path.dirname(nodeBin)), 'lib', 'node_modules', 'npm');
  const pkg = path.join(npmDir, 'package.json');
  if (!fs.existsSync(pkg)) throw new Error(`base image: npm not found at ${npmDir} (next to ${nodeBin})`);
  return { node: nodeBin, npmDir, npmVersion: (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version };
}

const rootfsTar = () => path.join(baseImageDir, 'rootfs.tar');
const doneMarker = () => path.join(baseImageDir, 'done.json');

/** Step 1: the rootfs tar and the Dockerfile next to it; built once into the cache. Returns the directory. */
export async function prepareBaseRootfs(log: Log = console.log): Promise<string> {
  if (fs.existsSync(doneMarker()) && fs.existsSync(rootfsTar())) {
    log(`base image: rootfs ${recipeId} already in ${baseImageDir}`);
    return baseImageDir;
  }
  const host = await hostNode();
  await aptInstallPinned({ debootstrap: pins.debootstrap }, log);
  const t0 = performance.now();
  const work = `${baseImageDir}.tmp-${process.pid}`;
  const rootfs = path.join(work, 'rootfs');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  try {
    log(`base image: debootstrap --variant=minbase ${SUITE} from ${MIRROR} (about a minute)`);
    await run(['nice', '-n', '10', 'debootstrap', '--variant=minbase', '--include=ca-certificates', SUITE, rootfs, MIRROR], { timeoutMs: 30 * 60_000 });
    const debootstrapMs = performance.now() - t0;
    // Trim like the slim images: no package caches or lists, no docs but the copyright files, no man/info pages.
    for (const d of ['var/cache/apt/archives', 'var/lib/apt/lists', 'usr/share/man', 'usr/share/info', 'var/log']) {
      const dir = path.join(rootfs, d);
      for (const e of fs.existsSync(dir) ? fs.readdirSync(dir) : []) if (e !== 'partial' && e !== 'lock') fs.rmSync(path.join(dir, e), { recursive: true, force: true });
    }
    const docs = path.join(rootfs, 'usr/share/doc');
    for (const pkg of fs.readdirSync(docs)) {
      for (const f of fs.readdirSync(path.join(docs, pkg))) if (f !== 'copyright') fs.rmSync(path.join(docs, pkg, f), { recursive: true, force: true });
    }
    // apt sources like the Debian image's (updates and security too), so `apt-get install` in a build gets fixes.
    fs.rmSync(path.join(rootfs, 'etc/apt/sources.list'), { force: true });
    fs.writeFileSync(path.join(rootfs, 'etc/apt/sources.list.d/debian.sources'), [
      `Types: deb\nURIs: ${MIRROR}\nSuites: ${SUITE} ${SUITE}-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
      `Types: deb\nURIs: ${MIRROR}-security\nSuites: ${SUITE}-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
    ].join('\n'));
    // Node and npm in /usr/local, like the official node image.
    const local = path.join(rootfs, 'usr/local');
    fs.mkdirSync(path.join(local, 'bin'), { recursive: true });
    fs.copyFileSync(host.node, path.join(local, 'bin/node'));
    fs.chmodSync(path.join(local, 'bin/node'), 0o755);
    fs.cpSync(host.npmDir, path.join(local, 'lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
    fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(local, 'bin/npm'));
    fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(local, 'bin/npx'));
    // The machine's trust store (its egress proxy's CA), and npm told to use it.
    fs.copyFileSync('/etc/ssl/certs/ca-certificates.crt', path.join(rootfs, 'etc/ssl/certs/ca-certificates.crt'));
    fs.mkdirSync(path.join(local, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(local, 'etc/npmrc'), 'cafile=/etc/ssl/certs/ca-certificates.crt\nupdate-notifier=false\nfund=false\n');
    await run(['tar', '--numeric-owner', '-C', rootfs, '-cf', path.join(work, 'rootfs.tar'), '.'], { timeoutMs: 10 * 60_000 });
    fs.rmSync(rootfs, { recursive: true, force: true });
    fs.writeFileSync(path.join(work, 'Dockerfile'), [
      '# The test bed\'s stand-in for node:20.20.2-bookworm-slim (testbed/base-image.ts).',
      'FROM scratch',
      'ADD rootfs.tar /',
      `LABEL ${RECIPE_LABEL}="${recipeId}"`,
      `ENV NODE_VERSION=${pins.node} PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      'CMD ["node"]',
      '',
    ].join('\n'));
    const ms = performance.now() - t0;
    fs.writeFileSync(path.join(work, 'done.json'), JSON.stringify({
      recipe: recipeId, node: pins.node, npm: host.npmVersion, debootstrapMs: Math.round(debootstrapMs), ms: Math.round(ms),
      tarBytes: fs.statSync(path.join(work, 'rootfs.tar')).size,
      tarSha256: createHash('sha256').update(fs.readFileSync(path.join(work, 'rootfs.tar'))).digest('hex'), at: new Date().toISOString(),
    }, null, 2));
    fs.rmSync(baseImageDir, { recursive: true, force: true });
    fs.renameSync(work, baseImageDir);
    // Rootfs of older recipes are of no use any more.
    const parent = path.dirname(baseImageDir);
    for (const d of fs.readdirSync(parent)) if (d !== recipeId && !d.includes('.tmp-')) fs.rmSync(path.join(parent, d), { recursive: true, force: true });
    log(`base image: rootfs ${recipeId} (Node ${pins.node}, npm ${host.npmVersion}) ready in ${(ms / 1000).toFixed(0)} s (debootstrap ${(debootstrapMs / 1000).toFixed(0)} s)`);
    return baseImageDir;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The recipe label of the base image in `registryAddr`, or undefined when it is not there. */
export async function registryBaseRecipe(registryAddr: string): Promise<string | undefined> {
  const base = `http://${registryAddr}/v2/${BASE_REPOSITORY}`;
  const res = await fetch(`${base}/manifests/${BASE_TAG}`, { headers: { Accept: MANIFEST_ACCEPT }, signal: AbortSignal.timeout(10_000) });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`base image: GET ${base}/manifests/${BASE_TAG}: HTTP ${res.status}`);
  const manifest = await res.json() as { config?: { digest?: string } };
  if (!manifest.config?.digest) return undefined;
  const cfg = await fetch(`${base}/blobs/${manifest.config.digest}`, { signal: AbortSignal.timeout(10_000) });
  if (!cfg.ok) return undefined;
  const config = await cfg.json() as { config?: { Labels?: Record<string, string> } };
  return config.config?.Labels?.[RECIPE_LABEL];
}

export interface BaseImage { ref: string; built: boolean; ms: number }

/**
 * Step 2: the base image in a registry (loopback, plain HTTP) through a BuildKit daemon; nothing is
 * built when that registry already holds this recipe's image. Makes the rootfs first if needed.
 */
export async function ensureBaseImage(o: { registryAddr: string; buildkitAddr: string; log?: Log }): Promise<BaseImage> {
  const log = o.log ?? console.log;
  const ref = baseImageRef(o.registryAddr);
  const t0 = performance.now();
  if ((await registryBaseRecipe(o.registryAddr)) === recipeId) {
    log(`base image: ${ref} (${recipeId}) already in the registry`);
    return { ref, built: false, ms: performance.now() - t0 };
  }
  const dir = await prepareBaseRootfs(log);
  const t1 = performance.now();
  if (!fs.existsSync(buildctlBin)) throw new Error(`base image: buildctl missing at ${buildctlBin}: run \`npm run testbed -- install\``);
  await run(['nice', '-n', '10', buildctlBin, '--addr', o.buildkitAddr, 'build', '--frontend', 'dockerfile.v0',
    '--local', `context=${dir}`, '--local', `dockerfile=${dir}`,
    // eStargz already, so Gantry's builds (force-compression=estargz) reuse the base layer as it is.
    '--output', `type=image,name=${ref},push=true,compression=estargz,force-compression=true,oci-mediatypes=true`], { timeoutMs: 20 * 60_000 });
  const recipe = await registryBaseRecipe(o.registryAddr);
  if (recipe !== recipeId) throw new Error(`base image: pushed ${ref}, but the registry holds recipe ${recipe ?? 'nothing'}, expected ${recipeId}`);
  const ms = performance.now() - t1;
  log(`base image: built and pushed ${ref} in ${(ms / 1000).toFixed(1)} s`);
  return { ref, built: true, ms };
}
