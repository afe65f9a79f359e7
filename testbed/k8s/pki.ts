// Test bed, Kubernetes part: the local cluster's PKI, made once with openssl (argv only) and kept in
// the state dir, so a restart reuses the same CA, serving cert, admin client cert and SA keys.
import fs from 'node:fs';
import path from 'node:path';
import { run } from '../proc.js';
import { apiserverUrl, kubeconfigPath, pkiDir } from './config.js';

export const pki = {
  caCrt: path.join(pkiDir, 'ca.crt'),
  caKey: path.join(pkiDir, 'ca.key'),
  apiserverCrt: path.join(pkiDir, 'apiserver.crt'),
  apiserverKey: path.join(pkiDir, 'apiserver.key'),
  adminCrt: path.join(pkiDir, 'admin.crt'),
  adminKey: path.join(pkiDir, 'admin.key'),
  saKey: path.join(pkiDir, 'sa.key'),
  saPub: path.join(pkiDir, 'sa.pub'),
};

const days = '3650';
const apiserverSans = ['IP:127.0.0.1', 'IP:10.96.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local'];

function openssl(args: string[]) {
  return run(['openssl', ...args], { cwd: pkiDir, timeoutMs: 60_000 });
}

/** Creates whatever part of the PKI is missing (all of it when the CA is missing). Returns true if anything was made. */
export async function ensurePki(log: (m: string) => void): Promise<boolean> {
  fs.mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  let made = false;
  const caFresh = !fs.existsSync(pki.caCrt) || !fs.existsSync(pki.caKey);
  if (caFresh) {
    log(`k8s: creating PKI in ${pkiDir}`);
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', pki.caKey, '-out', pki.caCrt,
      '-days', days, '-subj', '/CN=gantry-testbed-ca']);
    made = true;
  }
  if (caFresh || !fs.existsSync(pki.apiserverCrt) || !fs.existsSync(pki.apiserverKey)) {
    const csr = path.join(pkiDir, 'apiserver.csr');
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', pki.apiserverKey, '-out', csr,
      '-subj', '/CN=kube-apiserver', '-addext', `subjectAltName=${apiserverSans.join(',')}`]);
    await openssl(['x509', '-req', '-in', csr, '-CA', pki.caCrt, '-CAkey', pki.caKey, '-CAcreateserial',
      '-days', days, '-copy_extensions', 'copy', '-out', pki.apiserverCrt]);
    made = true;
  }
  if (caFresh || !fs.existsSync(pki.adminCrt) || !fs.existsSync(pki.adminKey)) {
    const csr = path.join(pkiDir, 'admin.csr');
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', pki.adminKey, '-out', csr,
      '-subj', '/O=system:masters/CN=gantry-testbed-admin']);
    await openssl(['x509', '-req', '-in', csr, '-CA', pki.caCrt, '-CAkey', pki.caKey, '-CAcreateserial',
      '-days', days, '-out', pki.adminCrt]);
    made = true;
  }
  if (!fs.existsSync(pki.saKey) || !fs.existsSync(pki.saPub)) {
    await openssl(['genrsa', '-out', pki.saKey, '2048']);
    await openssl(['rsa', '-in', pki.saKey, '-pubout', '-out', pki.saPub]);
    made = true;
  }
  if (made) {
    await openssl(['verify', '-CAfile', pki.caCrt, pki.apiserverCrt, pki.adminCrt]);
    for (const f of fs.readdirSync(pkiDir)) if (f.endsWith('.key')) fs.chmodSync(path.join(pkiDir, f), 0o600);
  }
  if (made || !fs.existsSync(kubeconfigPath)) writeKubeconfig();
  return made;
}

/** The admin kubeconfig, with the CA and client certificate embedded. */
export function writeKubeconfig(): void {
  const b64 = (f: string) => fs.readFileSync(f).toString('base64');
  const text = `apiVersion: v1
kind: Config
clusters:
- name: gantry-testbed
  cluster:
    server: ${apiserverUrl}
    certificate-authority-data: ${b64(pki.caCrt)}
users:
- name: gantry-testbed-admin
  user:
    client-certificate-data: ${b64(pki.adminCrt)}
    client-key-data: ${b64(pki.adminKey)}
contexts:
- name: gantry-testbed
  context:
    cluster: gantry-testbed
    user: gantry-testbed-admin
current-context: gantry-testbed
`;
  fs.mkdirSync(path.dirname(kubeconfigPath), { recursive: true });
  fs.writeFileSync(`${kubeconfigPath}.tmp`, text, { mode: 0o600 });
  fs.renameSync(`${kubeconfigPath}.tmp`, kubeconfigPath);
}
