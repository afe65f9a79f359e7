// Activity implementations registered by the worker.
export { createSimClusterActivities, readEffects, type SimOptions, type SimEffect } from './sim-cluster.js';
