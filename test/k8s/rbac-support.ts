// Tools of test/k8s/rbac.test.ts: the shipped rules (deploy/rbac/*) read and bound to a test
// ServiceAccount, a token minted for it with the TokenRequest API, a kubeconfig that holds only that
// token and the test bed's CA, and a recording TLS proxy in front of the API server that notes every
// request the worker makes, as the authorizer sees it (verb, API group, resource, namespace) and how
// it was answered, so the test can compare the verbs used with the verbs granted.
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubernetesObjectApi, type KubeConfig, type KubernetesObject, type V1PolicyRule } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { apiserverUrl } from '../../testbed/k8s/config.js';
import { pki } from '../../testbed/k8s/pki.js';

export type RbacMode = 'namespaced' | 'cluster';

/** The ServiceAccount the shipped bindings name (the README tells installers to create it in `gantry`). */
export const SHIPPED_SUBJECT = { kind: 'ServiceAccount', name: 'gantry-release-worker', namespace: 'gantry' } as const;

export const rbacDir = fileURLToPath(new URL('../../deploy/rbac', import.meta.url));

interface RbacObject extends KubernetesObject {
  rules?: V1PolicyRule[];
  roleRef?: { apiGroup: string; kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** Every object of deploy/rbac/<mode>/*.yaml, in file order. */
export function readRbac(mode: RbacMode): RbacObject[] {
  const dir = path.join(rbacDir, mode);
  const out: RbacObject[] = [];
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(dir, f), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${f}: ${doc.errors[0]!.message}`);
      const o = doc.toJS() as RbacObject | null;
      if (o) out.push(o);
    }
  }
  return out;
}

/** The rules of the mode's Role or ClusterRole. */
export function shippedRules(mode: RbacMode): V1PolicyRule[] {
  const role = readRbac(mode).find((o) => o.kind === (mode === 'namespaced' ? 'Role' : 'ClusterRole'));
  if (!role?.rules) throw new Error(`deploy/rbac/${mode}: no ${mode === 'namespaced' ? 'Role' : 'ClusterRole'} with rules`);
  return role.rules;
}

/** A permission as `verb group/resource` (core group: `verb /resource`). */
export const permission = (verb: string, group: string, resource: string) => `${verb} ${group}/${resource}`;

/** The rules as a set of permissions (no wildcards: a shipped rule never has one, checked by the test). */
export function permissions(rules: readonly V1PolicyRule[]): Set<string> {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups ?? []) for (const res of r.resources ?? []) for (const v of r.verbs) out.add(permission(v, g, res));
  return out;
}

/** Removes one verb from one resource (the resource stays when other verbs remain). */
export function without(rules: readonly V1PolicyRule[], verb: string, resource: string): V1PolicyRule[] {
  return rules.map((r) => (r.resources?.includes(resource) ? { ...r, verbs: r.verbs.filter((v) => v !== verb) } : r)).filter((r) => r.verbs.length > 0);
}

export interface Grant {
  mode: RbacMode;
  /** The ServiceAccount bound (instead of gantry/gantry-release-worker). */
  subject: { name: string; namespace: string };
  /** namespaced mode: the application namespace the Role and RoleBinding go to. */
  namespace?: string;
  /** cluster mode: a suffix for the cluster-scoped names, so runs do not collide. */
  suffix?: string;
  /** Replaces the shipped rules (a verb removed). */
  rules?: V1PolicyRule[];
}

/**
 * Creates exactly the shipped objects of the mode, with the namespace, the subject (and in cluster
 * mode the names) substituted, through the admin kubeconfig. Returns a function that deletes them.
 */
export async function bindRbac(admin: KubeConfig, g: Grant): Promise<() => Promise<void>> {
  const api = KubernetesObjectApi.makeApiClient(admin);
  const suffix = g.suffix ?? '';
  const objects = readRbac(g.mode).map((o): RbacObject => {
    const meta = { ...o.metadata!, ...(g.mode === 'namespaced' ? { namespace: g.namespace! } : { name: `${o.metadata!.name!}${suffix}` }) };
    if (o.kind === 'Role' || o.kind === 'ClusterRole') return { ...o, metadata: meta, ...(g.rules ? { rules: g.rules } : {}) };
    if (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') {
      return {
        ...o, metadata: meta,
        roleRef: { ...o.roleRef!, name: `${o.roleRef!.name}${g.mode === 'cluster' ? suffix : ''}` },
        subjects: [{ kind: 'ServiceAccount', name: g.subject.name, namespace: g.subject.namespace }],
      };
    }
    throw new Error(`deploy/rbac/${g.mode}: unexpected ${o.kind}`);
  });
  const made: RbacObject[] = [];
  for (const o of objects) made.push(await api.create(o));
  return async () => { for (const o of made.reverse()) await api.delete(o).catch(() => undefined); };
}

/** A token of the ServiceAccount, minted with the TokenRequest API (what the kubelet mounts into a pod). */
export async function mintToken(admin: KubeConfig, sa: { name: string; namespace: string }): Promise<string> {
  const r = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: sa.name, namespace: sa.namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  if (!r.status?.token) throw new Error('the TokenRequest returned no token');
  return r.status.token;
}

/** A kubeconfig with nothing but `server`, the test bed's CA and the bearer token (no client certificate). */
export function tokenKubeconfig(token: string, server = apiserverUrl): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-rbac-'));
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'release-worker',
    clusters: [{ name: 'testbed', cluster: { server, 'certificate-authority-data': fs.readFileSync(pki.caCrt).toString('base64') } }],
    users: [{ name: 'release-worker', user: { token } }],
    contexts: [{ name: 'release-worker', context: { cluster: 'testbed', user: 'release-worker' } }],
  }), { mode: 0o600 });
  return file;
}

/** A request as the authorizer sees it (k8s.io/apiserver request info): its RBAC verbs, group, resource. */
export interface Authorized {
  method: string;
  url: string;
  status: number;
  /** The verbs checked: one, or `patch` and `create` for a server-side apply that created the object (201). */
  verbs: string[];
  group: string;
  /** With the subresource: deployments/scale. Undefined for a non-resource path. */
  resource?: string;
  namespace?: string;
  name?: string;
}

/** The authorizer's view of a request path and method (the API server's RequestInfoFactory, for the paths Gantry uses). */
export function authorizationOf(method: string, url: string, status: number): Authorized {
  const u = new URL(url, 'https://x');
  const parts = u.pathname.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) { group = ''; rest = parts.slice(2); }
  else if (parts[0] === 'apis' && parts.length >= 3) { group = parts[1]!; rest = parts.slice(3); }
  else return { method, url, status, verbs: [method.toLowerCase()], group: '' };
  let namespace: string | undefined;
  // /namespaces/{ns}/{resource}/...; /namespaces/{name} is the Namespace itself (authorized in itself).
  if (rest[0] === 'namespaces' && rest.length >= 3) { namespace = rest[1]; rest = rest.slice(2); }
  else if (rest[0] === 'namespaces' && rest.length === 2) namespace = rest[1];
  const [resource, name, sub] = rest;
  const watch = u.searchParams.get('watch');
  const verb = method === 'GET' ? (watch === 'true' || watch === '1' ? 'watch' : name ? 'get' : 'list')
    : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch'
      : method === 'DELETE' ? (name ? 'delete' : 'deletecollection') : method.toLowerCase();
  // A server-side apply that creates the object is authorized as create too (201 Created).
  const verbs = verb === 'patch' && status === 201 ? ['patch', 'create'] : [verb];
  return {
    method, url, status, verbs, group, ...(resource ? { resource: sub ? `${resource}/${sub}` : resource } : {}),
    ...(namespace !== undefined ? { namespace } : {}), ...(name ? { name } : {}),
  };
}

/**
 * A TLS proxy in front of the test bed's API server, serving the API server's own certificate (so a
 * kubeconfig with the test bed's CA trusts it), forwarding every request unchanged (the client's
 * bearer token and nothing else; no client certificate upstream) and streaming the answers (watches
 * included). It notes each request with the status it got.
 */
export class RecordingProxy {
  private constructor(private readonly server: https.Server, readonly url: string, readonly requests: Authorized[]) {}

  static async start(upstream = apiserverUrl): Promise<RecordingProxy> {
    const up = new URL(upstream);
    const ca = fs.readFileSync(pki.caCrt);
    const requests: Authorized[] = [];
    const server = https.createServer({ cert: fs.readFileSync(pki.apiserverCrt), key: fs.readFileSync(pki.apiserverKey) }, (req, res) => {
      const forward = https.request({
        host: up.hostname, port: up.port, method: req.method, path: req.url, ca, agent: false,
        headers: { ...req.headers, host: up.host },
      }, (answer) => {
        requests.push(authorizationOf(req.method ?? 'GET', req.url ?? '/', answer.statusCode ?? 0));
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        res.on('close', () => { if (!answer.complete) forward.destroy(); }); // a watch the client ended
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new RecordingProxy(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`, requests);
  }

  /** Permissions used (the API server authorized them: any answer but 401/403). */
  used(): Set<string> {
    return new Set(this.requests.filter((r) => r.status !== 401 && r.status !== 403 && r.resource)
      .flatMap((r) => r.verbs.map((v) => permission(v, r.group, r.resource!))));
  }

  /** Requests refused (403), as permissions. */
  refused(): Set<string> {
    return new Set(this.requests.filter((r) => r.status === 403).flatMap((r) => r.verbs.map((v) => permission(v, r.group, r.resource ?? r.url))));
  }

  /** Paths that are not resource requests (none expected). */
  nonResource(): string[] {
    return this.requests.filter((r) => !r.resource).map((r) => `${r.method} ${r.url}`);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
