// Workflow bundle entry: every workflow type the worker registers.
export { release } from './release.js';
export { pipeline } from './pipeline.js';
export { buildCatalog } from './catalog.js';
export { releaseTrain } from './train.js';
export { readGateLog } from './gate-log.js';
