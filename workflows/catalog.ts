// The build catalog workflow: one per app (id builds/<app>), a small durable entity. Pipelines tell
// it about builds that passed their gates (signal-with-start from an activity); release trains ask it
// for the newest. It continues as new before its history grows large.
import { condition, continueAsNew, defineQuery, defineSignal, setHandler, setWorkflowOptions, workflowInfo, allHandlersFinished } from '@temporalio/workflow';
import { addBuild, type Catalog, type CatalogBuild } from '../core/catalog.js';

export const buildPassedSignal = defineSignal<[CatalogBuild]>('buildPassed');
export const catalogQuery = defineQuery<Catalog>('catalog');

export function catalogWorkflowId(app: string): string {
  return `builds/${app}`;
}

export async function buildCatalog(initial: Catalog): Promise<void> {
  let catalog = initial;
  let seen = 0;
  setHandler(buildPassedSignal, (b) => { catalog = addBuild(catalog, b); seen++; });
  setHandler(catalogQuery, () => catalog);
  // Lives until its history suggests a fresh run; carries the catalog over.
  await condition(() => workflowInfo().continueAsNewSuggested || seen >= 500);
  await condition(allHandlersFinished);
  await continueAsNew<typeof buildCatalog>(catalog);
}

// Worker Versioning (README "Upgrading Gantry"): a versioned worker pins the workflows it starts
// (releases, pipelines, trains: they end, and must end on the code that started them). The catalog
// never ends (it continues as new), so pinned it would keep the version that started it alive for
// ever; AUTO_UPGRADE moves it to the current version at its next task. The price: its code must stay
// replay-safe across versions (patched() as before), which its few commands (none but
// continue-as-new) make easy. Only a versioned worker may say so: the server refuses a workflow task
// completion that carries a versioning behavior from an unversioned worker (INVALID_ARGUMENT
// "versioning behavior cannot be specified without deployment options"), which would leave the
// catalog's tasks failing for ever; the getter runs on each worker before the workflow's first
// activation there; an unversioned worker reports a version without a deployment name (its build id only).
setWorkflowOptions(() => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'AUTO_UPGRADE' } : {}), buildCatalog);
