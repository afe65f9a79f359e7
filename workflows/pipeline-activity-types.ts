// The activities of the pipeline's first half (checkout, gates, build, image checks, tag), declared
// as interfaces; implementations in activities/git.ts, gates.ts, build.ts and registry.ts. Every
// request carries names and references only: secrets are named here and resolved on the worker.
import type { BuildSpec } from '../core/build.js';
import type { GantryConfig } from '../core/config.js';
import type { LayerVerdict } from '../core/estargz.js';
import type { GateResult, GateSpec } from '../core/gates.js';
import type { CommitInfo } from '../core/pipeline.js';

/** Where the commit comes from. `repo` names it (owner/name); `url` is what git clones. */
export interface SourceRef {
  repo: string;
  url: string;
  sha: string;
  /** The ref the pipeline was started for; the checkout refuses it when it no longer points at `sha`. */
  ref?: string;
  /** Shallow fetch of just the commit (large repositories). */
  depth?: number;
  /** gantry.yaml's path in the repository. */
  configPath?: string;
}

export interface CheckoutRequest { pipelineId: string; source: SourceRef; readConfig: boolean }
export interface CheckoutResult {
  sha: string;
  workspace: string;
  host: string;
  commit: CommitInfo;
  /** The commit's gantry.yaml, validated (when readConfig). */
  config?: GantryConfig;
  toolMs: number;
}

export interface GateRequest { pipelineId: string; source: SourceRef; gate: GateSpec }
export interface GateRun { result: GateResult; toolMs: number }

export interface BuildRequest {
  pipelineId: string;
  source: SourceRef;
  /** Image repository from gantry.yaml (no tag). */
  image: string;
  build: BuildSpec;
  /** Commit time (ISO), for reproducible timestamps (SOURCE_DATE_EPOCH). */
  commitTime?: string;
}
export interface BuildResult {
  /** The pushed manifest's digest. */
  digest: string;
  /** image@digest. */
  ref: string;
  /** The mutable tag pushed alongside (the commit sha), for people; releases never use it. */
  tag: string;
  steps: { total: number; executed: number; cached: number };
  log: { path: string; host: string; bytes: number; truncated: boolean };
  toolMs: number;
}

export interface VerifyImageRequest { image: string; digest: string }
export interface VerifyImageResult { estargz: boolean; reason: string; layers: LayerVerdict[]; sizeBytes: number; toolMs: number }

export interface ResolveRequest { image: string; tag: string }
export interface PromoteRequest { image: string; digest: string; tag: string }
export interface DeleteRequest { image: string; digest: string }

export interface TagRequest { source: SourceRef; tag: string; message: string }
export interface TagResult { tag: string; created: boolean; toolMs: number }

export interface PipelineActivities {
  checkout(req: CheckoutRequest): Promise<CheckoutResult>;
  runGate(req: GateRequest): Promise<GateRun>;
  buildImage(req: BuildRequest): Promise<BuildResult>;
  verifyImage(req: VerifyImageRequest): Promise<VerifyImageResult>;
  resolveDigest(req: ResolveRequest): Promise<{ digest: string }>;
  promoteImage(req: PromoteRequest): Promise<{ digest: string; tag: string }>;
  deleteImage(req: DeleteRequest): Promise<{ deleted: boolean }>;
  tagRelease(req: TagRequest): Promise<TagResult>;
}

// Failure types of these activities (CommitNotFound, BuildFailed, RegistryUnavailable, …), their
// retryability and their hints: workflows/failures.ts.
