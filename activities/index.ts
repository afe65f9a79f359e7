// Activity implementations registered by the worker.
export { createSimClusterActivities, readEffects, type SimOptions, type SimEffect } from './sim-cluster.js';
export { createPipelineActivities, createBuildActivities, type BuildOptions } from './build.js';
export { createGitActivities, ensureCheckout, type GitOptions } from './git.js';
export { createGateActivities, runProcess, type GateOptions } from './gates.js';
export { createRegistryActivities, RegistryClient, type RegistryOptions } from './registry.js';
export { createGitHubActivities, githubFailure, type GitHubActivities, type CommitStatusInput, type DeploymentStatusInput } from './github.js';
export { createSlackActivities, approvalMessage, slackNoticeSink, type SlackActivities, type ApprovalRequestInput } from './slack.js';
