// The fast path (Kube.getJson and Kube.send, issue 13) against the test bed's real API server: it reads what
// the typed clients read, fails with the same words (403 naming the verb, resource and namespace, 401,
// 404), honours cancellation and the request timeout, takes credentials from the kubeconfig on every
// request (an exec plugin's token that changes is used at once) and keeps its connections: counted at
// a TCP relay in front of the API server (the TLS session is end to end; the relay sees connections).
import fs from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CoreV1Api, KubeConfig, type V1ConfigMap, type V1ConfigMapList, type V1PodList } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import {
  ContentType, FIELD_MANAGER, KubeClients, apiMessage, applyObject, call, isConflict, isTransient, mergePatch, readOrUndefined, resourcePath,
  type Kube, type Wire,
} from '../../activities/k8s/client.js';
import { SERVICE_ACCOUNT_DIR } from '../../activities/k8s/choose.js';
import { apiserverUrl } from '../../testbed/k8s/config.js';
import { pki } from '../../testbed/k8s/pki.js';
import { unique } from '../support/temporal.js';
import { mintToken, tokenKubeconfig } from './rbac-support.js';
import { ensureTestbed } from './support/testbed.js';

jest.setTimeout(120_000);

const ns = unique('fastread');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-fastread-'));
let admin: KubeConfig;
let kube: Kube;
let tokens: { nobody: string; other: string };

const configMaps = (namespace = ns) => resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace });
/** The test's ConfigMaps (not the kube-root-ca.crt the controller adds). */
const mine = { query: { labelSelector: 'gantry.dev/app' } };
const pods = (namespace = ns) => resourcePath({ group: '', version: 'v1', resource: 'pods', namespace });

beforeAll(async () => {
  const tb = await ensureTestbed();
  admin = new KubeConfig();
  admin.loadFromFile(tb.kubeconfig);
  const core = admin.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const [name, labels] of [
    ['cm-a', { 'gantry.dev/app': 'x', tier: 'a' }], ['cm-b', { 'gantry.dev/app': 'x', tier: 'b' }],
    ['cm-c', { 'gantry.dev/app': 'x', tier: 'c' }], ['cm-other', { 'gantry.dev/app': 'y', tier: 'a' }],
  ] as const) {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels }, data: { k: name } } });
  }
  // ServiceAccounts with no rights at all: every request they make is refused by RBAC.
  for (const name of ['nobody', 'other']) await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  tokens = { nobody: await mintToken(admin, { name: 'nobody', namespace: ns }), other: await mintToken(admin, { name: 'other', namespace: ns }) };
  kube = new KubeClients({ kubeconfig: tb.kubeconfig }).for();
});

afterAll(async () => {
  fs.rmSync(tmp, { recursive: true, force: true });
  await admin?.makeApiClient(CoreV1Api).deleteNamespace({ name: ns }).catch(() => undefined);
});

/** The failure a promise rejects with (as a plain object, so two can be compared). */
async function failureOf(p: Promise<unknown>) {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(err)}`);
  return { type: err.type, nonRetryable: err.nonRetryable, message: err.message };
}

describe('Kube.getJson', () => {
  it('a list (label and field selectors URL-encoded) is the typed client\'s list: names, resourceVersions, timestamps as strings', async () => {
    // A set-based selector: spaces, parentheses and a comma that must survive the query string.
    const labelSelector = 'gantry.dev/app=x,tier in (a,b)';
    const raw = await kube.getJson<Wire<V1ConfigMapList>>(configMaps(), { query: { labelSelector } });
    const typed = await kube.core.listNamespacedConfigMap({ namespace: ns, labelSelector }, kube.opts());
    expect(raw.items.map((c) => c.metadata!.name).sort()).toEqual(['cm-a', 'cm-b']);
    const byName = (l: { items: { metadata?: { name?: string; resourceVersion?: string } }[] }) => l.items.map((c) => [c.metadata!.name, c.metadata!.resourceVersion]).sort();
    expect(byName(raw)).toEqual(byName(typed));
    expect(raw.items.map((c) => c.data)).toEqual(expect.arrayContaining(typed.items.map((c) => c.data)));
    expect(Number(raw.metadata!.resourceVersion)).toBeGreaterThanOrEqual(Math.max(...raw.items.map((c) => Number(c.metadata!.resourceVersion))));
    // The wire form: an RFC 3339 string where the typed client gives a Date (Wire<T> says so).
    const a = raw.items.find((c) => c.metadata!.name === 'cm-a')!;
    expect(typeof a.metadata!.creationTimestamp).toBe('string');
    expect(Date.parse(a.metadata!.creationTimestamp!)).toBe(typed.items.find((c) => c.metadata!.name === 'cm-a')!.metadata!.creationTimestamp!.getTime());

    const byField = await kube.getJson<Wire<V1ConfigMapList>>(configMaps(), { query: { fieldSelector: 'metadata.name=cm-other', labelSelector: undefined } });
    expect(byField.items.map((c) => c.metadata!.name)).toEqual(['cm-other']);
  });

  it('a missing object: readOrUndefined gives undefined, call() the typed client\'s InvalidTarget failure', async () => {
    const missing = resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace: ns, name: 'no-such-map' });
    expect(await readOrUndefined('read ConfigMap', () => kube.getJson<Wire<V1ConfigMap>>(missing))).toBeUndefined();
    const one = await readOrUndefined('read ConfigMap', () => kube.getJson<Wire<V1ConfigMap>>(`${configMaps()}/cm-a`));
    expect(one?.data).toEqual({ k: 'cm-a' });
    const raw = await failureOf(call(`read ConfigMap ${ns}/no-such-map`, () => kube.getJson(missing)));
    const typed = await failureOf(call(`read ConfigMap ${ns}/no-such-map`, () => kube.core.readNamespacedConfigMap({ name: 'no-such-map', namespace: ns }, kube.opts())));
    expect(raw).toEqual(typed);
    expect(raw).toMatchObject({ type: 'InvalidTarget', nonRetryable: true });
  });

  it('403 for a ServiceAccount token without rights: the same non-retryable Forbidden, naming the user, verb, resource and namespace', async () => {
    const nobody = new KubeClients({ kubeconfig: tokenKubeconfig(tokens.nobody) }).for();
    const what = `list Pods in ${ns}`;
    const raw = await failureOf(call(what, () => nobody.getJson<Wire<V1PodList>>(pods(), { query: { labelSelector: 'gantry.dev/app=x' } })));
    const typed = await failureOf(call(what, () => nobody.core.listNamespacedPod({ namespace: ns, labelSelector: 'gantry.dev/app=x' }, nobody.opts())));
    expect(raw).toEqual(typed);
    expect(raw.type).toBe('Forbidden');
    expect(raw.nonRetryable).toBe(true);
    expect(raw.message).toBe(`${what}: HTTP 403: User "system:serviceaccount:${ns}:nobody" may not list pods in namespace "${ns}": grant it as deploy/rbac/ does (check the kubeconfig's user and its RBAC permissions)`);
    // A read that readOrUndefined wraps: a 403 is not a missing object.
    const get = await failureOf(readOrUndefined(`read ConfigMap ${ns}/cm-a`, () => nobody.getJson(`${configMaps()}/cm-a`)));
    expect(get.message).toMatch(new RegExp(`may not get configmaps in namespace "${ns}"`));
  });

  it('401 for a token the API server does not know: the typed client\'s Forbidden failure (plus the server\'s word, which client-node drops)', async () => {
    const stranger = new KubeClients({ kubeconfig: tokenKubeconfig('not-a-real-token') }).for();
    const raw = await failureOf(call('list Pods', () => stranger.getJson(pods())));
    const typed = await failureOf(call('list Pods', () => stranger.core.listNamespacedPod({ namespace: ns }, stranger.opts())));
    expect(raw).toMatchObject({ type: typed.type, nonRetryable: typed.nonRetryable });
    expect(typed.message).toBe('list Pods: HTTP 401 (check the kubeconfig\'s user and its RBAC permissions)');
    expect(raw.message).toBe('list Pods: HTTP 401: Unauthorized (check the kubeconfig\'s user and its RBAC permissions)');
    expect(raw).toMatchObject({ type: 'Forbidden', nonRetryable: true });
  });

  it('no API server listening: the typed client\'s retryable ClusterUnavailable failure', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve)); // a port nothing listens on
    const cfg = JSON.parse(admin.exportConfig()) as { clusters: { cluster: { server: string } }[] };
    for (const c of cfg.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
    const file = path.join(tmp, 'refused-kubeconfig');
    fs.writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    const k = new KubeClients({ kubeconfig: file }).for();
    const raw = await failureOf(call(`list Pods in ${ns}`, () => k.getJson(pods())));
    const typed = await failureOf(call(`list Pods in ${ns}`, () => k.core.listNamespacedPod({ namespace: ns }, k.opts())));
    expect(raw).toMatchObject({ type: 'ClusterUnavailable', nonRetryable: false });
    expect(typed).toMatchObject({ type: raw.type, nonRetryable: raw.nonRetryable });
    expect(raw.message).toMatch(new RegExp(`^list Pods in ${ns}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`));
    // Writes too: readOrUndefined must not take a refused connection for a missing object.
    expect(await failureOf(readOrUndefined('drain Pod', () => mergePatch(k, `${pods()}/p`, {})))).toMatchObject({ type: 'ClusterUnavailable' });
  });

  it('cancellation and the request timeout end a request that has not answered, promptly, as a transient AbortError', async () => {
    // A watch never ends by itself: only the signal or the timeout can end this GET.
    const watch = { query: { watch: 'true', labelSelector: 'gantry.dev/app=x' } };
    const ctrl = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ctrl.abort(), 300);
    const err = await kube.getJson(configMaps(), { ...watch, signal: ctrl.signal }).then(() => undefined, (e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect((err as Error).name).toBe('AbortError');
    expect(isTransient(err)).toBe(true);
    expect(apiMessage(err)).toBe('request timed out or was cancelled');
    // Already cancelled: no request at all.
    const pre = new AbortController();
    pre.abort();
    await expect(kube.getJson(configMaps(), { signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' });

    const quick = new KubeClients({ kubeconfig: (await ensureTestbed()).kubeconfig, requestTimeoutMs: 400 }).for();
    const t1 = Date.now();
    const timedOut = await quick.getJson(configMaps(), watch).then(() => undefined, (e: unknown) => e);
    expect((timedOut as Error).name).toBe('AbortError');
    expect(Date.now() - t1).toBeGreaterThanOrEqual(350);
    expect(Date.now() - t1).toBeLessThan(2000);
    // The agent is still usable after the aborted requests.
    expect((await quick.getJson<Wire<V1ConfigMapList>>(configMaps(), mine)).items).toHaveLength(4);
  });

  it('keeps its connections: 20 sequential reads use one, 5 rounds of 6 parallel reads at most 6 (the typed client opens one per call)', async () => {
    const relay = await TcpRelay.start(new URL(apiserverUrl));
    try {
      const cfg = JSON.parse(admin.exportConfig()) as { clusters: { cluster: { server: string } }[] };
      for (const c of cfg.clusters) c.cluster.server = relay.url;
      const file = path.join(tmp, 'relay-kubeconfig');
      fs.writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
      const k = new KubeClients({ kubeconfig: file }).for();

      for (let i = 0; i < 20; i++) expect((await k.getJson<Wire<V1ConfigMapList>>(configMaps(), mine)).items).toHaveLength(4);
      expect(relay.connections).toBe(1);
      for (let round = 0; round < 5; round++) {
        await Promise.all(Array.from({ length: 6 }, () => k.getJson<Wire<V1ConfigMapList>>(configMaps())));
      }
      expect(relay.connections).toBeLessThanOrEqual(6);

      // What the read path replaced: client-node builds a new agent, so a new TLS connection, per call.
      const before = relay.connections;
      for (let i = 0; i < 5; i++) await k.core.listNamespacedConfigMap({ namespace: ns }, k.opts());
      expect(relay.connections - before).toBe(5);
    } finally {
      await relay.close();
    }
  });

  it('in a pod (the mounted service account token and CA, as loadFromCluster reads them): the requests are the ServiceAccount\'s', async () => {
    const prefix = path.join(tmp, 'pod');
    const dir = path.join(prefix, SERVICE_ACCOUNT_DIR);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'token'), tokens.nobody);
    fs.copyFileSync(pki.caCrt, path.join(dir, 'ca.crt'));
    fs.writeFileSync(path.join(dir, 'namespace'), ns);
    const url = new URL(apiserverUrl);
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    Object.assign(process.env, { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port });
    try {
      const pod = new KubeClients({ inCluster: { pathPrefix: prefix } }).for();
      const f = await failureOf(call(`list Pods in ${ns}`, () => pod.getJson(pods())));
      expect(f).toMatchObject({ type: 'Forbidden', nonRetryable: true });
      expect(f.message).toMatch(new RegExp(`User "system:serviceaccount:${ns}:nobody" may not list pods in namespace "${ns}"`));
    } finally {
      for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
        if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
  });

  it('credentials come from the kubeconfig on every request: a token an exec plugin hands out is used as soon as it changes, on the same connection', async () => {
    const relay = await TcpRelay.start(new URL(apiserverUrl));
    try {
      const tokenFile = path.join(tmp, 'exec-token');
      fs.writeFileSync(tokenFile, tokens.nobody);
      // An exec credential plugin (client.authentication.k8s.io) without an expiry: run for every request.
      const plugin = `const t = require('fs').readFileSync(${JSON.stringify(tokenFile)}, 'utf8'); process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: t } }));`;
      const file = path.join(tmp, 'exec-kubeconfig');
      fs.writeFileSync(file, JSON.stringify({
        apiVersion: 'v1', kind: 'Config', 'current-context': 'exec',
        clusters: [{ name: 'testbed', cluster: { server: relay.url, 'certificate-authority-data': fs.readFileSync(pki.caCrt).toString('base64') } }],
        users: [{ name: 'exec', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', plugin], interactiveMode: 'Never' } } }],
        contexts: [{ name: 'exec', context: { cluster: 'testbed', user: 'exec' } }],
      }), { mode: 0o600 });
      const k = new KubeClients({ kubeconfig: file }).for();
      const who = async () => (await failureOf(call('list Pods', () => k.getJson(pods())))).message;
      expect(await who()).toMatch(new RegExp(`"system:serviceaccount:${ns}:nobody" may not list pods`));
      fs.writeFileSync(tokenFile, tokens.other);
      expect(await who()).toMatch(new RegExp(`"system:serviceaccount:${ns}:other" may not list pods`));
      expect(relay.connections).toBe(1);
    } finally {
      await relay.close();
    }
  });
});

describe('Kube.send (the activities\' writes)', () => {
  const cm = (name: string) => resourcePath({ group: '', version: 'v1', resource: 'configmaps', namespace: ns, name });

  it('server-side apply creates and updates as Gantry\'s field manager; a merge patch changes one field; DELETE removes (a missing object is undefined)', async () => {
    const body = (v: string): V1ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace: ns, labels: { 'gantry.dev/app': 'z' } }, data: { v } });
    await applyObject(kube, cm('applied'), body('1'));
    await applyObject(kube, cm('applied'), body('2'));
    const patched = await mergePatch<Wire<V1ConfigMap>>(kube, cm('applied'), { metadata: { labels: { extra: 'yes' } } });
    expect(patched.metadata!.labels).toEqual({ 'gantry.dev/app': 'z', extra: 'yes' });
    const typed = await kube.core.readNamespacedConfigMap({ name: 'applied', namespace: ns }, kube.opts());
    expect(typed.data).toEqual({ v: '2' });
    expect(typed.metadata!.managedFields!.map((f) => [f.manager, f.operation]).sort()).toEqual([[FIELD_MANAGER, 'Apply'], [FIELD_MANAGER, 'Update']]);
    await kube.send('DELETE', cm('applied'));
    expect(await readOrUndefined('read', () => kube.getJson(cm('applied')))).toBeUndefined();
    expect(await readOrUndefined('delete ConfigMap', () => kube.send('DELETE', cm('applied')))).toBeUndefined();
  });

  it('a stale resourceVersion is a 409 (isConflict); an invalid object is the typed client\'s InvalidSpec; a denied patch names the verb', async () => {
    const { metadata } = await kube.getJson<Wire<V1ConfigMap>>(cm('cm-a'));
    await mergePatch(kube, cm('cm-a'), { metadata: { resourceVersion: metadata!.resourceVersion }, data: { k: 'changed' } });
    const stale = await mergePatch(kube, cm('cm-a'), { metadata: { resourceVersion: metadata!.resourceVersion }, data: { k: 'again' } }).then(() => undefined, (e: unknown) => e);
    expect(isConflict(stale)).toBe(true);

    const invalid: V1ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'invalid', namespace: ns, labels: { 'not a valid key!': 'x' } } };
    const raw = await failureOf(call(`apply ConfigMap ${ns}/invalid`, () => applyObject(kube, cm('invalid'), invalid)));
    const typed = await failureOf(call(`apply ConfigMap ${ns}/invalid`, () => kube.core.patchNamespacedConfigMap(
      { name: 'invalid', namespace: ns, body: invalid, fieldManager: FIELD_MANAGER, force: true }, kube.opts({ contentType: ContentType.apply }))));
    expect(raw).toEqual(typed);
    expect(raw).toMatchObject({ type: 'InvalidSpec', nonRetryable: true });

    const nobody = new KubeClients({ kubeconfig: tokenKubeconfig(tokens.nobody) }).for();
    const what = `drain Pod ${ns}/p`;
    const denied = await failureOf(readOrUndefined(what, () => mergePatch(nobody, resourcePath({ group: '', version: 'v1', resource: 'pods', namespace: ns, name: 'p' }), { metadata: { labels: { a: 'b' } } })));
    const typedDenied = await failureOf(readOrUndefined(what, () => nobody.core.patchNamespacedPod(
      { name: 'p', namespace: ns, body: { metadata: { labels: { a: 'b' } } }, fieldManager: FIELD_MANAGER }, nobody.opts({ contentType: ContentType.merge }))));
    expect(denied).toEqual(typedDenied);
    expect(denied.message).toMatch(new RegExp(`User "system:serviceaccount:${ns}:nobody" may not patch pods in namespace "${ns}"`));
  });
});

/** A TCP relay to the API server that counts the connections clients open through it. */
class TcpRelay {
  connections = 0;
  private readonly open = new Set<net.Socket>();
  private constructor(private readonly server: net.Server) {}

  get url(): string { return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`; }

  static async start(upstream: URL): Promise<TcpRelay> {
    const server = net.createServer();
    const relay = new TcpRelay(server);
    server.on('connection', (c) => {
      relay.connections++;
      const u = net.connect(Number(upstream.port), upstream.hostname);
      for (const s of [c, u]) { relay.open.add(s); s.on('close', () => relay.open.delete(s)); s.on('error', () => { c.destroy(); u.destroy(); }); }
      c.pipe(u).pipe(c);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  close(): Promise<void> {
    for (const s of this.open) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
