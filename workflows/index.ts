// Workflow bundle entry: every workflow type the worker registers.
export { release } from './release.js';
export { pipeline } from './pipeline.js';
