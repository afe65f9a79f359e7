// The Kubernetes objects of a release, rendered from the target and the revision. A revision is
// identified by the hash of its rendered, cell-independent pod spec (image by digest, port, labels):
// the same in every cell, so one Service selects a revision across cells, and a changed config is a
// new revision even with the same image.
import crypto from 'node:crypto';
import type { V1ConfigMap, V1Deployment, V1Namespace, V1Service } from '@kubernetes/client-node';
import type { Revision } from '../../core/release.js';
import {
  Annotations, DEFAULT_CONTAINER_PORT, Labels, SERVICE_PORT, selectorLabels, workloadName, type ResourceNames,
} from '../../core/rollout.js';
import type { CellTarget, Target } from '../../workflows/activity-types.js';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
const managed = { [Labels.managedBy]: 'gantry' };

export function imageRef(r: Revision): string {
  return r.digest ? `${r.image}@${r.digest}` : r.image;
}

/** JSON with sorted keys, so equal objects hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** What makes a revision: the cell-independent part of the pod template. */
export function revisionSpec(cell: CellTarget, revision: Revision) {
  return {
    labels: { ...(cell.pod?.labels ?? {}) },
    containers: [{
      name: 'app',
      image: imageRef(revision),
      ports: [{ name: 'http', containerPort: cell.pod?.port ?? DEFAULT_CONTAINER_PORT, protocol: 'TCP' }],
    }],
  };
}

/** The revision's id: 10 hex digits of the SHA-256 of its rendered spec. */
export function revisionHash(cell: CellTarget, revision: Revision): string {
  return crypto.createHash('sha256').update(canonicalJson(revisionSpec(cell, revision))).digest('hex').slice(0, 10);
}

/** The revision of a target (every cell renders the same spec; a difference is a config error). */
export function targetRevision(target: Target, revision: Revision): string {
  const hashes = new Set(target.cells.map((c) => revisionHash(c, revision)));
  if (hashes.size > 1) throw new Error(`the cells of ${target.app}/${target.environment} render different pod specs (port or pod labels differ)`);
  return [...hashes][0] ?? revisionHash({ name: '', namespace: '', replicas: 0 }, revision);
}

function revisionAnnotations(revision: Revision, releaseId?: string): Record<string, string> {
  return {
    [Annotations.image]: revision.image,
    ...(revision.digest ? { [Annotations.digest]: revision.digest } : {}),
    ...(revision.sha ? { [Annotations.sha]: revision.sha } : {}),
    ...(releaseId ? { [Annotations.releaseId]: releaseId } : {}),
  };
}

/** The workload of one revision in one cell (a Deployment whose pod template never changes). */
export function renderDeployment(p: { target: Target; cell: CellTarget; revision: Revision; hash: string; replicas: number; releaseId?: string }): V1Deployment {
  const { target, cell, revision, hash } = p;
  const spec = revisionSpec(cell, revision);
  const match = { ...selectorLabels(target.app, target.environment), [Labels.cell]: cell.name, [Labels.revision]: hash };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: workloadName(target.app, target.environment, cell.name, hash),
      namespace: cell.namespace,
      labels: { ...match, ...managed },
      annotations: revisionAnnotations(revision, p.releaseId),
    },
    spec: {
      replicas: p.replicas,
      revisionHistoryLimit: 1,
      selector: { matchLabels: match },
      template: {
        metadata: {
          // The serving label is deliberately not in the selector: flipping it takes a pod out of
          // every Service without orphaning it from its ReplicaSet.
          labels: { ...spec.labels, ...match, [Labels.serving]: 'true', ...managed },
          annotations: revisionAnnotations(revision),
        },
        spec: {
          containers: spec.containers,
          ...(cell.zone ? { nodeSelector: { [ZONE_LABEL]: cell.zone } } : {}),
          // Spread the cell's pods over its nodes where possible.
          topologySpreadConstraints: [{
            maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: match },
          }],
        },
      },
    },
  };
}

export function renderService(name: string, namespace: string, target: Target, extra: Record<string, string>): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, labels: { ...selectorLabels(target.app, target.environment), ...managed } },
    spec: {
      selector: { ...selectorLabels(target.app, target.environment), [Labels.serving]: 'true', ...extra },
      ports: [{ name: 'http', port: SERVICE_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

/** The three Services of a site: all serving pods (main), and the stable and canary backends of a router. */
export function renderServices(names: ResourceNames, namespace: string, target: Target, stable: string, canary: string): { main: V1Service; stable: V1Service; canary: V1Service } {
  return {
    main: renderService(names.main, namespace, target, {}),
    stable: renderService(names.stable, namespace, target, { [Labels.revision]: stable }),
    canary: renderService(names.canary, namespace, target, { [Labels.revision]: canary }),
  };
}

export function renderNamespace(name: string): V1Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: managed } };
}

// ---------------------------------------------------------------------------------------------
// The revision record (a ConfigMap per site): where a rollback returns to, and the history.

export interface RevisionRecord extends Revision {
  /** The rendered spec's hash (the gantry.dev/revision label). */
  revision: string;
  releaseId?: string;
  /** The release's workflow run (a release id is reused by later releases of the same app and environment). */
  run?: string;
  at: string;
}
export interface HistoryEntry extends RevisionRecord { event: 'released' | 'rolled-back'; reason?: string }
export interface RecordData { stable?: RevisionRecord; canary?: RevisionRecord; history: HistoryEntry[] }

export const HISTORY_LIMIT = 20;

export function parseRecord(cm: Pick<V1ConfigMap, 'data'> | undefined): RecordData {
  const parse = <T>(s: string | undefined): T | undefined => { try { return s ? JSON.parse(s) as T : undefined; } catch { return undefined; } };
  const d = cm?.data ?? {};
  return { ...(parse<RevisionRecord>(d.stable) ? { stable: parse<RevisionRecord>(d.stable)! } : {}), ...(parse<RevisionRecord>(d.canary) ? { canary: parse<RevisionRecord>(d.canary)! } : {}), history: parse<HistoryEntry[]>(d.history) ?? [] };
}

export function renderRecord(name: string, namespace: string, target: Target, data: RecordData): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, labels: { ...selectorLabels(target.app, target.environment), ...managed } },
    data: {
      ...(data.stable ? { stable: JSON.stringify(data.stable) } : {}),
      ...(data.canary ? { canary: JSON.stringify(data.canary) } : {}),
      history: JSON.stringify(data.history.slice(-HISTORY_LIMIT)),
    },
  };
}

export function revisionOf(r: RevisionRecord): Revision {
  return { image: r.image, ...(r.digest ? { digest: r.digest } : {}), ...(r.sha ? { sha: r.sha } : {}), ...(r.author ? { author: r.author } : {}), ...(r.message ? { message: r.message } : {}) };
}
