// The build catalog and release-state activities: the Temporal client from inside an activity
// (workflows may not start or query other workflows themselves).
import { getClient } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Catalog, CatalogBuild } from '../core/catalog.js';
import type { Revision } from '../core/release.js';
import type { CatalogActivities } from '../workflows/activity-types.js';
import { buildCatalog, buildPassedSignal, catalogQuery, catalogWorkflowId } from '../workflows/catalog.js';
import { releaseWorkflowId, statusQuery, TASK_QUEUE } from '../workflows/messages.js';

/** Reads catalogs and releases; `client` defaults to the worker's own (getClient()). */
export function createCatalogActivities(opts: { client?: Client; taskQueue?: string } = {}): CatalogActivities {
  const client = () => opts.client ?? getClient();
  return {
    async recordBuild({ app, build }: { app: string; build: CatalogBuild }) {
      await client().workflow.signalWithStart(buildCatalog, {
        workflowId: catalogWorkflowId(app), taskQueue: opts.taskQueue ?? TASK_QUEUE,
        args: [{ app, builds: [] } satisfies Catalog], signal: buildPassedSignal, signalArgs: [build],
      });
    },

    async newestBuild({ app }: { app: string }) {
      try {
        const c = await client().workflow.getHandle(catalogWorkflowId(app)).query(catalogQuery);
        return c.builds[0];
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },

    async environmentRevision({ app, environment }: { app: string; environment: string }) {
      const handle = client().workflow.getHandle(releaseWorkflowId(app, environment));
      let desc;
      try {
        desc = await handle.describe();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return {};
        throw err;
      }
      const status = await handle.query(statusQuery, { events: 0 });
      if (desc.status.name === 'RUNNING') return { running: status.revision, ...(status.previous ? { current: status.previous } : {}) };
      const current: Revision | undefined = status.phase === 'succeeded' ? status.revision : status.previous;
      return current ? { current } : {};
    },
  };
}
