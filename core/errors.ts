// One shape for "what is wrong, where, and how to fix it": gantry.yaml validation (core/config.ts
// ConfigError), the plan's errors (core/plan.ts, placed by group and cell instead of a path), the
// HTTP API's error bodies (api/errors.ts) and what the CLI prints from them (cli/main.ts).
export interface ErrorDetail {
  /** Where, as a path into the input (e.g. environments[0].groups[1].pods) or a setting's name. */
  path: string;
  /** What is wrong. */
  message: string;
  /** How to fix it. */
  hint: string;
}
