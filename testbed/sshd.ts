// Test bed: OpenSSH's server from Debian, pinned, so the git-over-SSH tests (test/build/
// git-credentials.test.ts) run against a real sshd. Installed only: no service is started or
// enabled (aptInstallPinned keeps maintainer scripts from starting it); each test starts its own
// `sshd -D -f <config>` on a free loopback port with its own host key and authorized keys.
import fs from 'node:fs';
import { aptInstallPinned, dpkgVersion } from './registry.js';
import { pins, sshdBin } from './paths.js';

export async function installSshd(log: (m: string) => void = console.log): Promise<void> {
  const before = await dpkgVersion('openssh-server');
  // The server requires the client and sftp server of the same build.
  await aptInstallPinned({ 'openssh-server': pins.openssh, 'openssh-client': pins.openssh, 'openssh-sftp-server': pins.openssh }, log);
  if (before === pins.openssh) log(`sshd: openssh-server ${before} already installed`);
  if (!fs.existsSync(sshdBin)) throw new Error(`sshd: ${sshdBin} missing after installing openssh-server`);
}
