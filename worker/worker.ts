// Worker construction shared by the worker process, tests and benchmarks, and a supervisor that runs
// the worker in a process of its own (see the end of this file for why that matters).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { TASK_QUEUE } from '../workflows/messages.js';
import type { GantryActivities } from './activities.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The workflow bundle entry, as TypeScript source (the bundler compiles it). */
export const workflowsPath = path.join(here, '..', 'workflows', 'index.ts');
/** Where `npm run bundle` (worker/build-bundle.ts) writes the prebuilt workflow bundle by default. */
export const defaultWorkflowBundlePath = path.join(here, '..', 'dist', 'workflow-bundle.js');

/**
 * Where a worker's workflow code comes from: a prebuilt bundle (GANTRY_WORKFLOW_BUNDLE, written at
 * image build time by `npm run bundle`, as in Temporal's `production` sample: no webpack at start,
 * nothing written at run time), or else the TypeScript sources, bundled when the worker starts.
 */
export function workflowCode(bundlePath?: string): Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> {
  return bundlePath ? { workflowBundle: { codePath: bundlePath } } : { workflowsPath };
}

/**
 * Worker Versioning (runtime/config.ts: GANTRY_WORKER_DEPLOYMENT and GANTRY_BUILD_ID): the Worker
 * Deployment this worker belongs to and the build id of its code. Set, the worker polls as that
 * deployment version and every workflow it starts is PINNED to it (README "Upgrading Gantry"):
 * a release waiting days for approval finishes on the code that started it, while new releases go
 * to the deployment's current version. A workflow may declare otherwise (the build catalog is
 * AUTO_UPGRADE: workflows/catalog.ts). Unset: an unversioned worker, as before.
 */
export interface WorkerVersion { deploymentName: string; buildId: string }

/** The SDK's workerDeploymentOptions for a version (none: unversioned). For every worker of the process. */
export function deploymentOptions(version: WorkerVersion | undefined): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  return version
    ? { workerDeploymentOptions: { version: { deploymentName: version.deploymentName, buildId: version.buildId }, useWorkerVersioning: true, defaultVersioningBehavior: 'PINNED' } }
    : {};
}

export interface GantryWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue?: string;
  /**
   * Every activity the workflows call (build them with createGantryActivities in worker/activities.ts,
   * overriding single members in tests): a missing one fails to compile, not when a workflow calls it.
   */
  activities: GantryActivities;
  identity?: string;
  /** A prebuilt workflow bundle (see workflowCode); default: bundle the sources at start. */
  workflowBundle?: string;
  /** Worker Versioning: the deployment version of this worker's code (none: unversioned). */
  version?: WorkerVersion;
  extra?: Partial<WorkerOptions>;
}

export async function createWorker(o: GantryWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace ?? 'default',
    taskQueue: o.taskQueue ?? TASK_QUEUE,
    ...workflowCode(o.workflowBundle),
    activities: o.activities,
    ...(o.identity ? { identity: o.identity } : {}),
    ...deploymentOptions(o.version),
    ...o.extra,
  });
}

// ---------------------------------------------------------------------------------------------
// Running the worker in its own process
//
// A workflow task that runs longer than the SDK's deadlock timeout (5 s) is stopped by Node's `vm`
// timeout. When that interrupts workflow code running inside a CancellationScope (the SDK keeps
// scopes in an AsyncLocalStorage, the release workflow runs every cluster step in one), Node's
// async-hooks stack is left unbalanced, and Node ends the WHOLE process ("Error: async hook stack
// has become corrupted"), although workflows run in a worker thread: nodejs/node#38503,
// temporalio/sdk-typescript#939. No worker option avoids it (reuseV8Context: false crashes the
// same way; debugMode removes the timeout but runs workflows on the main thread, where a slow one
// stalls everything else). Workflow code must stay far below that timeout (see core/windows.ts);
// and anything that must outlive a bad workflow, like the HTTP API, must not share the worker's
// process: run the worker as a child process with superviseWorker, which starts it again when it
// dies (workflows are durable: the new worker replays them and carries on).

export interface SuperviseOptions {
  /** The worker process's entry module, e.g. worker/main.ts. */
  entry: string;
  args?: string[];
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Node options of the child; default this process's (under tsx, its TypeScript loader). */
  execArgv?: string[];
  /** 'inherit' (default) shares this terminal; 'pipe' hands the output to onOutput. */
  stdio?: 'inherit' | 'pipe';
  onOutput?: (text: string) => void;
  /** Told of every exit; `restartInMs` is undefined when it is not started again (stopped, or exited cleanly). */
  onExit?: (e: { code: number | null; signal: NodeJS.Signals | null; restartInMs?: number }) => void;
  /** First wait before a restart; it doubles while the worker keeps dying within a minute, up to the max. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** How long stop() waits after SIGTERM (the SDK drains the worker) before SIGKILL. */
  stopGraceMs?: number;
}

export interface SupervisedWorker {
  /** The current child's pid (undefined between a death and the restart). */
  readonly pid: number | undefined;
  /** How many times the worker was started again after it died. */
  readonly restarts: number;
  /** Resolves when a child process has been started `count` times in all (1: the first start). */
  started(count?: number): Promise<void>;
  /** Stops the worker and does not start it again. */
  stop(): Promise<void>;
  /** Resolves when the worker has exited for good: stopped, or exited cleanly (code 0) on its own. */
  readonly done: Promise<void>;
}

/**
 * Runs a worker process and starts it again whenever it dies (a signal, or an exit code other than
 * 0). A clean exit (code 0: the worker was asked to stop, e.g. by Ctrl-C reaching its process
 * group, and drained) ends the supervision like stop().
 */
export function superviseWorker(o: SuperviseOptions): SupervisedWorker {
  const base = o.restartDelayMs ?? 1_000;
  const max = o.maxRestartDelayMs ?? 30_000;
  let child: ChildProcess | undefined;
  let starts = 0;
  let delay = base;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let exited: Promise<void> = Promise.resolve();
  const waiters: { count: number; resolve: () => void }[] = [];
  let finish!: () => void;
  const done = new Promise<void>((resolve) => { finish = resolve; });

  const start = () => {
    timer = undefined;
    if (stopping) return;
    const startedAt = Date.now();
    const c = spawn(process.execPath, [...(o.execArgv ?? process.execArgv), o.entry, ...(o.args ?? [])], {
      env: o.env ?? process.env, stdio: o.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    child = c;
    starts++;
    for (const w of waiters.filter((x) => starts >= x.count)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
    if (o.stdio === 'pipe') {
      c.stdout?.setEncoding('utf8').on('data', (t: string) => o.onOutput?.(t));
      c.stderr?.setEncoding('utf8').on('data', (t: string) => o.onOutput?.(t));
    }
    exited = new Promise((resolve) => {
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return;
        ended = true;
        child = undefined;
        if (stopping || (code === 0 && signal === null)) {
          stopping = true;
          o.onExit?.({ code, signal });
          finish();
        } else {
          // A worker that ran a while before dying starts again soon; one that keeps dying waits longer each time.
          const wait = Date.now() - startedAt > 60_000 ? base : delay;
          delay = Math.min(max, wait * 2);
          o.onExit?.({ code, signal, restartInMs: wait });
          timer = setTimeout(start, wait);
        }
        resolve();
      };
      c.once('exit', end);
      // A process that could not be started at all emits no 'exit'.
      c.once('error', (err) => {
        o.onOutput?.(`worker process: ${err.message}\n`);
        if (c.pid === undefined) end(null, null);
      });
    });
  };
  start();

  return {
    get pid() { return child?.pid; },
    get restarts() { return Math.max(0, starts - 1); },
    done,
    started(count = 1) {
      return starts >= count ? Promise.resolve() : new Promise((resolve) => { waiters.push({ count, resolve }); });
    },
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        const kill = setTimeout(() => c.kill('SIGKILL'), o.stopGraceMs ?? 15_000);
        await exited;
        clearTimeout(kill);
      }
      finish();
    },
  };
}
