// The activities the workflows call, declared as interfaces. Implementations live in activities/
// (the simulated cluster today; the Kubernetes implementation in the cluster issue). Every
// activity is idempotent: it converges the world to a described state, so a retry after a crash
// changes nothing that was already done.
import type { Measurement, CheckSpec } from '../core/analysis.js';
import type { Revision } from '../core/release.js';
import type { ObservedState } from '../core/observed.js';
import type { CatalogBuild } from '../core/catalog.js';

export interface CellTarget {
  name: string; context?: string; namespace: string; replicas: number;
  // Cluster settings resolved from gantry.yaml (core/config.ts CellClusterSettings); optional.
  zone?: string;
  traffic?: { httpRoute: { name: string; namespace: string } };
  drain?: { grace: string };
  pod?: { port?: number; labels?: Record<string, string> };
}

export interface Target { app: string; environment: string; cells: CellTarget[] }

export interface DescribeTargetRequest { target: Target }
export interface DescribeTargetResult { stable?: Revision }

export interface ApplyGroupRequest {
  releaseId: string;
  target: Target;
  revision: Revision;
  stable?: Revision;
  group: number;
  /** Desired new-revision pods per cell after this group (cumulative, not a delta: idempotent). */
  canary: Record<string, number>;
  /**
   * The progress deadline. A lossless group adds the new pods first and drains old ones only once
   * the new ones are ready and serving; if they are not ready by then, nothing old is drained and
   * the result says `ready: false` (the release then rolls back).
   */
  deadlineMs: number;
  /**
   * Then verify the group's health in the same activity (one dispatch and one workflow task less per
   * group), answered in the result's `health`. A worker that predates it ignores the field and returns
   * no `health`: the workflow then runs waitHealthy as before.
   */
  verify?: { deadlineMs: number };
}
export interface ApplyGroupResult {
  changed: boolean;
  /** The health check `verify` asked for (absent when not asked, or when the group was not ready). */
  health?: HealthResult;
  /** false: the new pods did not become ready and serving within the deadline; no old pod was drained. */
  ready?: boolean;
  reason?: string;
  /** The target as the activity last saw it (core/observed.ts): the release's status shows it. */
  observed?: ObservedState;
}

export interface WaitHealthyRequest {
  releaseId: string;
  target: Target;
  revision: Revision;
  group: number;
  canary: Record<string, number>;
  deadlineMs: number;
}
export interface HealthResult { healthy: boolean; reason: string; observed?: ObservedState }

/** What a rollback or a finalize saw last (an older worker returns nothing). */
export interface ObservedResult { observed?: ObservedState }

export interface MeasureRequest { releaseId: string; target: Target; revision: Revision; group: number; checks: CheckSpec[] }

/** Looks at the target while the release waits (read-only), heartbeating what it sees; see ReleaseActivities.observeTarget. */
export interface ObserveTargetRequest {
  releaseId: string;
  target: Target;
  revision: Revision;
  /** New pods per cell of the last group applied (for the weight Gantry has set); none: nothing applied yet. */
  canary?: Record<string, number>;
  /** Between looks (watch events wake it sooner). Default 2000 ms. */
  intervalMs?: number;
  /** Returns (nothing) after this long; the workflow starts another while it still waits. */
  maxMs: number;
}

export interface RollbackRequest { releaseId: string; target: Target; revision: Revision; stable?: Revision; reason: string }
export interface FinalizeRequest { releaseId: string; target: Target; revision: Revision }

export interface ReleaseActivities {
  /** What revision serves the target now (the stable one a rollback returns to). */
  describeTarget(req: DescribeTargetRequest): Promise<DescribeTargetResult>;
  /** Moves pods to the new revision until each cell has `canary` new pods; drains before change. */
  applyGroup(req: ApplyGroupRequest): Promise<ApplyGroupResult>;
  /** Waits until the group's new pods are ready and serving, or the deadline passes. */
  waitHealthy(req: WaitHealthyRequest): Promise<HealthResult>;
  /** Runs the analysis queries once and returns raw measurements (the verdict is core's). */
  measure(req: MeasureRequest): Promise<Measurement[]>;
  /**
   * While the release waits (approval, timer, window, pause): looks at the target now and then and
   * heartbeats the observed state (core/observed.ts), which the API reads from the workflow's
   * description. Read-only; runs until cancelled (or `maxMs`); never part of the release's outcome.
   */
  observeTarget(req: ObserveTargetRequest): Promise<void>;
  /** Capacity first, then traffic, then removes the new pods: back to `stable`. */
  rollback(req: RollbackRequest): Promise<ObservedResult | void>;
  /** The new revision becomes the stable one. */
  finalize(req: FinalizeRequest): Promise<ObservedResult | void>;
}

// Failure types (InvalidTarget, Forbidden, InvalidSpec, ClusterUnavailable, …) and their retryability: workflows/failures.ts.

/** A notice about a release, for people (chat). Best effort: a failed notice never stops a release. */
export interface NotifyRequest {
  releaseId: string;
  app: string;
  environment: string;
  kind: 'waiting-approval' | 'escalation' | 'waiting-window';
  message: string;
  to: { users: string[]; groups: string[] };
  /** The group waiting (0-based), so a chat button can approve exactly this group. */
  group: number;
}

export interface NotifyActivities {
  notify(req: NotifyRequest): Promise<{ delivered: boolean; detail?: string }>;
}

/** The build catalog and release state, read and written through the Temporal client (activities). */
export interface CatalogActivities {
  /** Records a build that passed its gates in the app's catalog (signal-with-start; idempotent per digest). */
  recordBuild(req: { app: string; build: CatalogBuild }): Promise<void>;
  newestBuild(req: { app: string }): Promise<CatalogBuild | undefined>;
  /** What the environment runs (the last successful release) and whether a release is in progress. */
  environmentRevision(req: { app: string; environment: string }): Promise<{ running?: Revision; current?: Revision }>;
}
