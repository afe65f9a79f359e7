// gantry.yaml from a request (text, or the document as a JSON object) is parsed and validated off the
// API's event loop, in a small pool of worker threads, so that a large or hostile config delays only
// its own answer and never /healthz or anyone else's request.
//
// Bounded everywhere, and each bound answers clearly:
//  - text longer than CONFIG_TEXT_LIMIT characters: 413, before any parsing;
//  - a parse that runs longer than parseTimeoutMs, or needs more than maxMemoryMb of heap (aliases
//    expanding, say): its worker is terminated and replaced; 413 (the config is too large or complex);
//  - more than maxQueue parses waiting, or one waiting longer than queueTimeoutMs: 503 with Retry-After;
//  - an invalid config: 400 with every problem (path, message, hint), as GantryService always answered.
//
// The pool is shared by the process (configParser()); its threads start on first use, are unref'd
// (they never keep a process alive) and end after idleTimeoutMs without work; ready() starts them ahead.
// A thread's start (loading the parser, about a second) counts toward the queue wait of what waits for it.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { MAX_CONFIG_CHARS, type ConfigResult, type GantryConfig } from '../core/config.js';
import { GantryError } from './errors.js';

/** The most characters of gantry.yaml text the API parses (core's limit; a real one is a few KiB). */
export const CONFIG_TEXT_LIMIT = MAX_CONFIG_CHARS;

export interface ConfigParserOptions {
  /** Worker threads (default: one per spare core, 1 or 2). */
  threads?: number;
  /** Parses that may wait for a thread (default 32); beyond that, 503. */
  maxQueue?: number;
  /** How long a parse may wait for a thread (default 10 s); then 503. */
  queueTimeoutMs?: number;
  /** How long one parse may run (default 5 s); then its thread is replaced and the answer is 413. */
  parseTimeoutMs?: number;
  /** Heap of a thread (default 256 MB); a parse that needs more ends its thread: 413. */
  maxMemoryMb?: number;
  /** A thread idle this long ends (default 60 s); the next parse starts one again. */
  idleTimeoutMs?: number;
  /** How long a thread may take to start (load the parser) before it counts as failed (default 30 s). */
  startTimeoutMs?: number;
  /** The most characters of text (default CONFIG_TEXT_LIMIT). */
  maxTextLength?: number;
}

type Settings = Required<ConfigParserOptions>;

function defaults(o: ConfigParserOptions): Settings {
  return {
    threads: o.threads ?? Math.max(1, Math.min(2, os.availableParallelism() - 1)),
    maxQueue: o.maxQueue ?? 32,
    queueTimeoutMs: o.queueTimeoutMs ?? 10_000,
    parseTimeoutMs: o.parseTimeoutMs ?? 5_000,
    maxMemoryMb: o.maxMemoryMb ?? 256,
    idleTimeoutMs: o.idleTimeoutMs ?? 60_000,
    startTimeoutMs: o.startTimeoutMs ?? 30_000,
    maxTextLength: o.maxTextLength ?? CONFIG_TEXT_LIMIT,
  };
}

const kib = (n: number) => (n % 1024 === 0 ? `${n / 1024} KiB` : `${n} characters`);

/** 413 for text over the limit: checked before the text is queued, parsed or copied to a thread. */
export function checkConfigSize(config: unknown, limit = CONFIG_TEXT_LIMIT): void {
  if (typeof config === 'string' && config.length > limit) {
    throw new GantryError('too_large', `gantry.yaml is ${config.length} characters; the API parses at most ${limit} (${kib(limit)})`,
      [{ path: 'config', message: 'too large', hint: 'a gantry.yaml is a few KiB: remove what is repeated or generated' }],
      `send a gantry.yaml of at most ${kib(limit)}`);
  }
}

/** The config of a parse result, or the 400 GantryService has always answered for an invalid one. */
export function configOrError(result: ConfigResult): GantryConfig {
  if (result.ok) return result.config;
  const n = result.errors.length;
  throw new GantryError('bad_request', `invalid gantry.yaml (${n} problem${n === 1 ? '' : 's'})`,
    result.errors.map((e) => ({ path: `config.${e.path}`, message: e.message, hint: e.hint })));
}

// The protocol of api/config-parse-worker.mjs.
type ParseRequest = { id: number; text: string } | { id: number; object: unknown };
type ParseResponse = { ready: true } | { id: number; result: ConfigResult } | { id: number; failure: string };

interface Task {
  id: number;
  request: ParseRequest;
  resolve(r: ConfigResult): void;
  reject(err: unknown): void;
  queueTimer?: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  state: 'starting' | 'idle' | 'busy';
  /** Settles when the thread is ready, or has ended without being ready. */
  started: Promise<void>;
  markStarted(): void;
  task?: Task;
  timer?: NodeJS.Timeout;
  /** Why the thread is being ended (the answer for its task). */
  ending?: GantryError;
}

export class ConfigParserPool {
  readonly settings: Settings;
  private readonly slots = new Set<Slot>();
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;

  constructor(options: ConfigParserOptions = {}) {
    this.settings = defaults(options);
  }

  /** Threads running, and parses waiting (for tests and the benchmark). */
  get stats(): { threads: number; busy: number; queued: number } {
    let busy = 0;
    for (const s of this.slots) if (s.state === 'busy') busy++;
    return { threads: this.slots.size, busy, queued: this.queue.length };
  }

  /** Parses and validates gantry.yaml off the event loop. Rejects with a GantryError (413, 503) when a bound is hit. */
  parse(config: string | unknown): Promise<ConfigResult> {
    if (this.closed) return Promise.reject(unavailable('the config parser is shut down', 'the API server is stopping; retry against a running one'));
    try { checkConfigSize(config, this.settings.maxTextLength); } catch (err) { return Promise.reject(err); }
    if (this.queue.length >= this.settings.maxQueue) {
      return Promise.reject(unavailable(`too many configs are being parsed (${this.queue.length} waiting)`, 'retry in a few seconds', 5));
    }
    const id = this.nextId++;
    const request: ParseRequest = typeof config === 'string' ? { id, text: config } : { id, object: config };
    return new Promise<ConfigResult>((resolve, reject) => {
      const task: Task = { id, request, resolve, reject };
      task.queueTimer = setTimeout(() => {
        const i = this.queue.indexOf(task);
        if (i < 0) return;
        this.queue.splice(i, 1);
        reject(unavailable(`the config waited more than ${seconds(this.settings.queueTimeoutMs)} for a parser`, 'the API is busy parsing other configs; retry in a few seconds', 5));
      }, this.settings.queueTimeoutMs);
      this.queue.push(task);
      this.pump();
    });
  }

  /** Starts the threads (if not running) and waits until they are ready; resolves even if one fails to start. */
  async ready(): Promise<void> {
    if (this.closed) return;
    while (this.slots.size < this.settings.threads) this.spawn();
    await Promise.all([...this.slots].map((s) => s.started));
  }

  /** Ends every thread; waiting and running parses answer 503. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.queue.splice(0)) {
      clearTimeout(t.queueTimer);
      t.reject(unavailable('the config parser is shut down', 'the API server is stopping; retry against a running one'));
    }
    await Promise.all([...this.slots].map((s) => this.end(s, unavailable('the config parser is shut down', 'the API server is stopping; retry against a running one'))));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const idle = [...this.slots].find((s) => s.state === 'idle');
      if (!idle) {
        const starting = [...this.slots].filter((s) => s.state === 'starting').length;
        // Start a thread for waiting work, but no more than the work needs.
        if (this.slots.size < this.settings.threads && starting < this.queue.length) this.spawn();
        return;
      }
      const task = this.queue.shift()!;
      clearTimeout(task.queueTimer);
      this.run(idle, task);
    }
  }

  private run(slot: Slot, task: Task): void {
    clearTimeout(slot.timer);
    slot.state = 'busy';
    slot.task = task;
    slot.timer = setTimeout(() => {
      void this.end(slot, new GantryError('too_large', `gantry.yaml took longer than ${seconds(this.settings.parseTimeoutMs)} to parse: it is too large or too complex`,
        [{ path: 'config', message: 'too complex to parse', hint: 'a gantry.yaml is a few KiB of plain YAML: remove repeated, generated or deeply nested parts' }],
        'send a smaller, simpler gantry.yaml'));
    }, this.settings.parseTimeoutMs);
    slot.worker.postMessage(task.request);
  }

  private spawn(): void {
    const worker = new Worker(new URL('./config-parse-worker.mjs', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.settings.maxMemoryMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
      // The parent's flags (e.g. tsx's loader) are not needed: the worker loads tsx itself.
      execArgv: [],
      stdout: false, stderr: false,
    });
    worker.unref();
    let markStarted = () => {};
    const started = new Promise<void>((resolve) => { markStarted = resolve; });
    const slot: Slot = { worker, state: 'starting', started, markStarted };
    this.slots.add(slot);
    slot.timer = setTimeout(() => {
      void this.end(slot, unavailable(`the config parser did not start within ${seconds(this.settings.startTimeoutMs)}`, 'retry; if it persists, the API server log has the cause'));
    }, this.settings.startTimeoutMs);

    worker.on('message', (m: ParseResponse) => {
      if ('ready' in m) {
        clearTimeout(slot.timer);
        slot.markStarted();
        this.idle(slot);
        return;
      }
      const task = slot.task;
      if (!task || task.id !== m.id) return;
      clearTimeout(slot.timer);
      slot.task = undefined;
      if ('result' in m) task.resolve(m.result);
      else task.reject(new GantryError('bad_request', 'gantry.yaml could not be parsed', [{ path: 'config', message: m.failure, hint: 'fix the YAML: plain maps and lists, no deep nesting or aliases' }]));
      this.idle(slot);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (slot.ending) return;
      if (slot.state === 'starting') {
        slot.ending = unavailable('the config parser could not start', `retry; if it persists, check the API server (${err.message.slice(0, 200)})`);
        return;
      }
      slot.ending = err.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? new GantryError('too_large', `parsing gantry.yaml needed more than ${this.settings.maxMemoryMb} MB of memory`,
          [{ path: 'config', message: 'too large once parsed', hint: 'anchors and aliases that expand into huge documents are refused; write the config out plainly' }],
          'send a smaller, simpler gantry.yaml')
        : unavailable('the config parser failed', `retry; if it persists, the API server log has the cause (${err.message.slice(0, 200)})`);
    });
    worker.on('exit', () => {
      clearTimeout(slot.timer);
      slot.markStarted();
      const wasStarting = slot.state === 'starting';
      this.slots.delete(slot);
      const why = slot.ending ?? unavailable('the config parser stopped', 'retry');
      if (slot.task) { slot.task.reject(why); slot.task = undefined; }
      if (wasStarting && ![...this.slots].some((s) => s.state !== 'starting')) {
        // The thread could not start: what waits for one would wait in vain.
        for (const t of this.queue.splice(0)) { clearTimeout(t.queueTimer); t.reject(why); }
      }
      if (!this.closed) this.pump();
    });
  }

  private idle(slot: Slot): void {
    slot.state = 'idle';
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => { if (slot.state === 'idle') void this.end(slot, unavailable('idle', 'retry')); }, this.settings.idleTimeoutMs);
    slot.timer.unref();
    this.pump();
  }

  private async end(slot: Slot, why: GantryError): Promise<void> {
    slot.ending ??= why;
    clearTimeout(slot.timer);
    await slot.worker.terminate();
  }
}

function unavailable(message: string, hint: string, retryAfterSeconds?: number): GantryError {
  const err = new GantryError('unavailable', message, [], hint);
  if (retryAfterSeconds !== undefined) err.retryAfterSeconds = retryAfterSeconds;
  return err;
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

let shared: ConfigParserPool | undefined;

/** The process's pool (created on first use). */
export function configParser(): ConfigParserPool {
  shared ??= new ConfigParserPool();
  return shared;
}

/** Replaces the process's pool (tests, embedders with other bounds); the old one is closed. */
export async function setConfigParser(options: ConfigParserOptions): Promise<ConfigParserPool> {
  const old = shared;
  shared = new ConfigParserPool(options);
  await old?.close();
  return shared;
}

/** gantry.yaml (text or object) parsed and validated off the event loop; the result as parseConfigText gives it. */
export function parseConfigOffThread(config: string | unknown): Promise<ConfigResult> {
  return configParser().parse(config);
}

/**
 * The resolved config of a request's gantry.yaml, or a GantryError — 400
 * listing every problem, 413 too large or complex, 503 when the parsers are saturated.
 */
export async function loadConfigOffThread(config: string | unknown): Promise<GantryConfig> {
  return configOrError(await parseConfigOffThread(config));
}
