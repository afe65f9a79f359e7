// Tools of test/deploy/install.test.ts: render deploy/kustomize overlays (the cached kubectl's
// built-in kustomize) and the Helm chart (the cached helm), move a rendering to fresh namespaces,
// server-side apply it to the test bed's kube-apiserver, wait for Deployments, ask the authorizer.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from '@jest/globals';
import { AppsV1Api, AuthorizationV1Api, CoreV1Api, DiscoveryV1Api, type KubeConfig, type KubernetesObject, type V1Deployment } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { bin } from '../../testbed/k8s/config.js';
import { helmBin } from '../../testbed/paths.js';

export const deployDir = fileURLToPath(new URL('../../deploy', import.meta.url));
export const chartDir = path.join(deployDir, 'helm', 'gantry');
export const overlayDir = (mode: 'namespaced' | 'cluster') => path.join(deployDir, 'kustomize', 'overlays', mode);
/** The kustomize base's image placeholders (never pullable: .invalid). */
export const PLACEHOLDERS = { gantry: 'example.invalid/gantry', buildWorker: 'example.invalid/gantry-build-worker' } as const;
/** The application namespace the namespaced overlay ships with (overlays/namespaced/app-namespace). */
export const SHIPPED_APP_NAMESPACE = 'my-app';
/** The namespace deploy/kustomize and deploy/rbac name. */
export const SHIPPED_NAMESPACE = 'gantry';

export type Obj = KubernetesObject & Record<string, unknown> & { metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

export interface ExecResult { code: number; stdout: string; stderr: string }

/** argv[0] with argv[1..] (no shell); resolves with the exit code and both outputs. */
export function exec(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && !stderr ? err.message : '') });
    });
  });
}

/** Like exec, but a non-zero exit is an error with the command and its stderr. */
export async function must(argv: string[], opts: Parameters<typeof exec>[1] = {}): Promise<string> {
  const r = await exec(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}:\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

/** The tools must be installed (`npm run testbed -- install`): fail loudly, never skip. */
export function requireTools(): { kubectl: string; helm: string } {
  for (const [what, p] of [['kubectl', bin.kubectl], ['helm', helmBin]] as const) {
    if (!fs.existsSync(p)) throw new Error(`${what} is missing at ${p}: run \`npm run testbed -- install\``);
  }
  return { kubectl: bin.kubectl, helm: helmBin };
}

export function parseObjects(text: string): Obj[] {
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`rendered YAML: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as Obj | null;
    if (o) out.push(o);
  }
  return out;
}

export const find = (objs: Obj[], kind: string, name: string, namespace?: string): Obj => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name && (namespace === undefined || x.metadata.namespace === namespace));
  if (!o) throw new Error(`no ${kind} ${namespace ? `${namespace}/` : ''}${name} in ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
};

/**
 * `kubectl kustomize` of an overlay, through a kustomization of our own next to it that sets the
 * images the way an installer does (`images:`, README "Install in a cluster"). Relative path: kustomize
 * refuses an absolute one.
 */
export async function kustomize(mode: 'namespaced' | 'cluster', images: { gantry: string; buildWorker: string }): Promise<Obj[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-kustomize-'));
  try {
    const [repo, tag] = splitImage(images.gantry);
    const [bwRepo, bwTag] = splitImage(images.buildWorker);
    fs.writeFileSync(path.join(dir, 'kustomization.yaml'), stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization',
      resources: [path.relative(dir, overlayDir(mode))],
      images: [{ name: PLACEHOLDERS.gantry, newName: repo, newTag: tag }, { name: PLACEHOLDERS.buildWorker, newName: bwRepo, newTag: bwTag }],
    }));
    return parseObjects(await must([bin.kubectl, 'kustomize', dir]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function splitImage(ref: string): [string, string] {
  const at = ref.lastIndexOf(':');
  return [ref.slice(0, at), ref.slice(at + 1)];
}

/** `helm template` of the chart; `set` as --set key=value pairs. */
export function helmTemplate(release: string, namespace: string, set: Record<string, string>): Promise<ExecResult> {
  return exec([helmBin, 'template', release, chartDir, '--namespace', namespace, ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`])]);
}

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

/**
 * The kustomize rendering moved to fresh names, as an installer edits the shipped names: the
 * namespace `gantry` (objects, the Namespace, binding subjects) and the overlay's application
 * namespace; cluster-scoped RBAC gets a suffix (the test bed is shared with test/k8s/rbac.test.ts).
 */
export function relocate(objs: Obj[], to: { namespace: string; appNamespace?: string; clusterSuffix: string }): Obj[] {
  const ns = (n: string | undefined) => (n === SHIPPED_NAMESPACE ? to.namespace : n === SHIPPED_APP_NAMESPACE && to.appNamespace ? to.appNamespace : n);
  return objs.map((o) => {
    const c = structuredClone(o);
    if (c.kind === 'Namespace') c.metadata.name = ns(c.metadata.name)!;
    else if (CLUSTER_SCOPED.has(c.kind!)) c.metadata.name = `${c.metadata.name}${to.clusterSuffix}`;
    else c.metadata.namespace = ns(c.metadata.namespace);
    if (c.kind === 'RoleBinding' || c.kind === 'ClusterRoleBinding') {
      const b = c as unknown as { roleRef: { kind: string; name: string }; subjects: { namespace?: string }[] };
      if (b.roleRef.kind === 'ClusterRole') b.roleRef.name = `${b.roleRef.name}${to.clusterSuffix}`;
      for (const s of b.subjects) s.namespace = ns(s.namespace);
    }
    return c;
  });
}

/** Server-side apply (kubectl, strict field validation by the API server's own schemas). */
export async function serverSideApply(kubeconfig: string, objs: Obj[], fieldManager: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-apply-'));
  const file = path.join(dir, 'objects.yaml');
  fs.writeFileSync(file, objs.map((o) => stringify(o)).join('---\n'));
  try {
    return await must([bin.kubectl, '--kubeconfig', kubeconfig, 'apply', '--server-side', `--field-manager=${fieldManager}`, '--validate=strict', '-f', file], { timeoutMs: 180_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until every Deployment in the namespace is Available with all its replicas ready. */
export async function waitAvailable(kc: KubeConfig, namespace: string, names: string[], timeoutMs = 240_000): Promise<V1Deployment[]> {
  const apps = kc.makeApiClient(AppsV1Api);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const list = await apps.listNamespacedDeployment({ namespace });
    const byName = new Map(list.items.map((d) => [d.metadata!.name!, d]));
    const pending = names.filter((n) => {
      const d = byName.get(n);
      const available = d?.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True');
      return !(d && available && (d.status?.readyReplicas ?? 0) === d.spec?.replicas && (d.status?.updatedReplicas ?? 0) === d.spec?.replicas);
    });
    if (pending.length === 0) return names.map((n) => byName.get(n)!);
    last = pending.map((n) => `${n}: ${JSON.stringify(byName.get(n)?.status ?? 'absent')}`).join('; ');
    if (Date.now() > deadline) throw new Error(`Deployments in ${namespace} not Available after ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Polls until a Service's EndpointSlices list exactly the IPs of the ready pods its selector picks
 * (the endpointslice controller's work), each on the named port; returns those IPs.
 */
export async function waitServiceEndpoints(kc: KubeConfig, namespace: string, service: string, port: { name: string; port: number }, timeoutMs = 60_000): Promise<string[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const svc = await core.readNamespacedService({ namespace, name: service });
    const labelSelector = Object.entries(svc.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    if (!labelSelector) throw new Error(`Service ${namespace}/${service} has no selector`);
    const pods = (await core.listNamespacedPod({ namespace, labelSelector })).items
      .filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    const podIps = pods.map((p) => p.status?.podIP ?? '').sort();
    const slices = (await discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${service}` })).items;
    const endpointIps = slices.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready).flatMap((e) => e.addresses)).sort();
    const ports = [...new Set(slices.flatMap((s) => (s.ports ?? []).map((p) => `${p.name}:${p.port}`)))];
    const got = { service, podIps, endpointIps, ports };
    const want = { service, podIps, endpointIps: podIps, ports: [`${port.name}:${port.port}`] };
    if ((pods.length > 0 && podIps.every(Boolean) && JSON.stringify(got) === JSON.stringify(want)) || Date.now() > deadline) {
      if (pods.length === 0) throw new Error(`Service ${namespace}/${service}: no ready pod matches its selector ${labelSelector}`);
      expect(got).toEqual(want);
      return podIps;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface Access { verb: string; group: string; resource: string; namespace?: string; subresource?: string }

/** The API server's authorizer (SubjectAccessReview) on a ServiceAccount. */
export async function allowed(kc: KubeConfig, sa: { namespace: string; name: string }, a: Access): Promise<boolean> {
  const r = await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${sa.namespace}:${sa.name}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'],
        resourceAttributes: { verb: a.verb, group: a.group, resource: a.resource, ...(a.subresource ? { subresource: a.subresource } : {}), ...(a.namespace ? { namespace: a.namespace } : {}) },
      },
    },
  });
  return r.status?.allowed === true;
}

export const readmePath = fileURLToPath(new URL('../../README.md', import.meta.url));

/** The README's `yaml` block in "4a. Install with kubectl (kustomize)" that sets the build worker's git file variables. */
export function readmeFileEnvPatch(): string {
  const text = fs.readFileSync(readmePath, 'utf8');
  const section = text.slice(text.indexOf('### 4a. Install with kubectl (kustomize)'), text.indexOf('### 4b. Install with Helm'));
  const m = /```yaml\n( {2}- patch: \|[\s\S]*?GANTRY_GIT_SSH_KEY_FILE[\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README "4a. Install with kubectl (kustomize)" has no ```yaml block with the GANTRY_GIT_SSH_KEY_FILE patch');
  return m[1]!;
}

/**
 * The README's kustomize install ("Install in a cluster", 4a), as written there: its two
 * kustomization files (the heredocs), in a directory next to a `gantry` checkout (a symlink to this
 * one), rendered with `kubectl kustomize`.
 */
export async function renderReadmeKustomization(extraPatches = ''): Promise<Obj[]> {
  const text = fs.readFileSync(readmePath, 'utf8');
  const section = text.slice(text.indexOf('### 4a. Install with kubectl (kustomize)'), text.indexOf('### 4b. Install with Helm'));
  const heredoc = (file: string): string => {
    const m = new RegExp(`cat > ${file.replace(/[./]/g, '\\$&')} <<'YAML'\\n([\\s\\S]*?)\\nYAML\\n`).exec(section);
    if (!m) throw new Error(`README "4a. Install with kubectl (kustomize)" has no \`cat > ${file} <<'YAML'\` block`);
    return `${m[1]}\n`;
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-readme-'));
  try {
    fs.symlinkSync(path.dirname(readmePath), path.join(dir, 'gantry'));
    fs.mkdirSync(path.join(dir, 'gantry-install', 'shop'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'gantry-install', 'shop', 'kustomization.yaml'), heredoc('shop/kustomization.yaml'));
    // extraPatches: more entries of its `patches:` list (its last key), e.g. the README's env patch.
    fs.writeFileSync(path.join(dir, 'gantry-install', 'kustomization.yaml'), heredoc('kustomization.yaml') + extraPatches);
    return parseObjects(await must([bin.kubectl, 'kustomize', path.join(dir, 'gantry-install')]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
