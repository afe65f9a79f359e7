// The build catalog of an app: the builds that passed their gates, newest first. Pure; the catalog
// workflow keeps one per app, release trains ask it for the newest.

export interface CatalogBuild {
  sha: string;
  image: string;
  digest: string;
  author?: string;
  message?: string;
  /** When it passed its gates (ISO). */
  passedAt: string;
  pipelineId?: string;
}

export interface Catalog { app: string; builds: CatalogBuild[] }

/** How many builds a catalog keeps. */
export const catalogLimit = 50;

/** Adds a build (idempotent per digest), newest first, trimmed to the limit. */
export function addBuild(c: Catalog, b: CatalogBuild, limit = catalogLimit): Catalog {
  const others = c.builds.filter((x) => x.digest !== b.digest);
  const builds = [b, ...others].sort((x, y) => Date.parse(y.passedAt) - Date.parse(x.passedAt)).slice(0, limit);
  return { app: c.app, builds };
}

export function newestBuild(c: Catalog): CatalogBuild | undefined {
  return c.builds[0];
}

export type TrainDecision =
  | { kind: 'release'; build: CatalogBuild; reason: string }
  | { kind: 'skip'; reason: string };

/**
 * What a release train does at its departure time: release the newest build that passed its gates,
 * unless there is none, the environment already runs it, or a release is in progress there.
 */
export function decideTrain(newest: CatalogBuild | undefined, env: { running?: { digest?: string }; current?: { digest?: string } }): TrainDecision {
  if (!newest) return { kind: 'skip', reason: 'no build has passed its gates yet' };
  if (env.running) return { kind: 'skip', reason: `a release is already in progress (${env.running.digest ?? 'unknown revision'})` };
  if (env.current?.digest === newest.digest) return { kind: 'skip', reason: `already running the newest build ${newest.digest} (${newest.sha.slice(0, 12)})` };
  return { kind: 'release', build: newest, reason: `newest build that passed its gates: ${newest.sha.slice(0, 12)} ${newest.digest}` };
}
