// Release trains: Temporal Schedules (one per app and environment, id train/<app>/<env>) that start
// the releaseTrain workflow at their departure times, with overlap SKIP: while a train's release is
// still in progress, later departures are skipped. The routes: api/routes/trains.ts.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription } from '@temporalio/client';
import type { Caller } from './service.js';
import { isTimeZone } from '../core/windows.js';
import { mayOperateTrain, recordTrainAction, type TrainAction, type TrainAuditEntry } from '../core/trains.js';
import type { ApproverPolicy } from '../core/approval.js';
import { TASK_QUEUE } from '../workflows/messages.js';
import type { TrainInput } from '../workflows/train.js';
import { GantryError } from './errors.js';
import { loadConfigOffThread } from './config-parse.js';

export interface CreateTrainRequest {
  config: string | unknown;
  environment: string;
  /** Cron expressions, e.g. "0 10 * * 1-4" (Mon-Thu 10:00). */
  cron: string[];
  timeZone?: string;
  paused?: boolean;
}

export interface TrainSummary {
  id: string;
  app: string;
  environment: string;
  cron: string[];
  timeZone: string;
  paused: boolean;
  nextDepartures: string[];
  recentRuns: { scheduledAt: string; workflowId: string }[];
  skippedOverlap: number;
  /** Who created, changed and triggered the train, newest last (core/trains.ts). */
  audit: TrainAuditEntry[];
}

/** What a train's schedule keeps besides its action (set at creation; a schedule's memo is not updatable). */
interface TrainMemo { app: string; environment: string; cron: string[]; timeZone: string }

export function trainScheduleId(app: string, environment: string): string {
  return `train/${app}/${environment}`;
}

const cronField = /^[\d*,/\-A-Za-z?#L]+$/;

export class TrainService {
  /** attributesReady: whether Gantry's search attributes are registered (GantryService.searchAttributesReady); none: not used. */
  constructor(readonly client: Client, readonly taskQueue: string = TASK_QUEUE, private readonly attributesReady: () => Promise<boolean> = async () => false) {}

  /** Refuses, with the reason, a caller the environment's approver policy does not allow. */
  private authorize(caller: Caller, action: TrainAction, environment: string, policy: ApproverPolicy): TrainAuditEntry {
    const answer = mayOperateTrain(caller.identity, action, environment, policy);
    if (!answer.allowed) throw new GantryError('refused', answer.reason);
    return { at: new Date().toISOString(), by: caller.identity.id, channel: caller.channel, action };
  }

  /** The train's stored input (its environment's approver policy) and memo; undefined when there is none. */
  private async stored(id: string): Promise<{ input?: TrainInput; memo: Partial<TrainMemo> } | undefined> {
    try {
      const d = await this.client.schedule.getHandle(id).describe();
      const args = d.action.type === 'startWorkflow' ? d.action.args : undefined;
      return { ...(args?.[0] ? { input: args[0] as TrainInput } : {}), memo: (d.memo ?? {}) as Partial<TrainMemo> };
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return undefined;
      throw err;
    }
  }

  private async storedOrNotFound(app: string, environment: string): Promise<{ input?: TrainInput; memo: Partial<TrainMemo> }> {
    const s = await this.stored(trainScheduleId(app, environment));
    if (!s) throw new GantryError('not_found', `no release train for ${app} to ${environment}`, [], 'create one with: gantry train create');
    return s;
  }

  /** A train created before trains kept their policy is operated under the strictest reading: nobody listed, nobody allowed. */
  private static policyOf(input: TrainInput | undefined): ApproverPolicy {
    return input?.environment?.approvers ?? { users: [], groups: ['(unknown: recreate the train)'], required: 1, allowStarter: false };
  }

  async create(req: CreateTrainRequest, caller: Caller): Promise<{ id: string; existing: boolean }> {
    const config = await loadConfigOffThread(req.config);
    const env = config.environments.find((e) => e.name === req.environment);
    const details = [];
    if (!env) details.push({ path: 'environment', message: `unknown environment '${req.environment}'`, hint: `one of: ${config.environments.map((e) => e.name).join(', ')}` });
    if (!Array.isArray(req.cron) || req.cron.length === 0) details.push({ path: 'cron', message: 'at least one departure time is required', hint: 'cron expressions such as "0 10 * * 1-4" (Mon-Thu at 10:00)' });
    (req.cron ?? []).forEach((c, i) => {
      const fields = typeof c === 'string' ? c.trim().split(/\s+/) : [];
      if (fields.length !== 5 || !fields.every((f) => cronField.test(f))) details.push({ path: `cron[${i}]`, message: `not a cron expression: ${JSON.stringify(c)}`, hint: 'five fields: minute hour day-of-month month day-of-week, e.g. "0 10 * * 1-4"' });
    });
    const timeZone = req.timeZone ?? 'UTC';
    if (!isTimeZone(timeZone)) details.push({ path: 'timeZone', message: `unknown time zone ${timeZone}`, hint: 'an IANA zone such as Europe/Berlin or America/New_York' });
    if (details.length || !env) throw new GantryError('bad_request', 'invalid release train', details);
    const id = trainScheduleId(config.app.name, env.name);
    const before = await this.stored(id);
    // A change is judged by the policy the train has and by the one it gets.
    if (before) this.authorize(caller, 'update', env.name, TrainService.policyOf(before.input));
    const entry = this.authorize(caller, before ? 'update' : 'create', env.name, env.approvers);
    const input: TrainInput = {
      app: config.app.name, image: config.app.image, environment: env, schedule: id, audit: recordTrainAction(before?.input?.audit, entry), cron: req.cron,
      ...(await this.attributesReady() ? { searchAttributes: true } : {}),
    };
    const memo: TrainMemo = { app: config.app.name, environment: env.name, cron: req.cron, timeZone };
    try {
      await this.client.schedule.create({
        scheduleId: id,
        spec: { cronExpressions: req.cron, timezone: timeZone },
        action: { type: 'startWorkflow', workflowType: 'releaseTrain', args: [input], taskQueue: this.taskQueue, workflowId: `train-run/${config.app.name}/${env.name}` },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes' },
        state: { paused: req.paused ?? false, note: `release train for ${config.app.name} → ${env.name}` },
        memo: memo as unknown as Record<string, unknown>,
      });
      return { id, existing: false };
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) {
        // Creating again updates the departures and the environment config.
        await this.client.schedule.getHandle(id).update((prev) => ({
          ...prev, spec: { cronExpressions: req.cron, timezone: timeZone }, memo: memo as unknown as Record<string, unknown>,
          action: { type: 'startWorkflow', workflowType: 'releaseTrain', args: [input], taskQueue: this.taskQueue, workflowId: `train-run/${config.app.name}/${env.name}` },
        }));
        return { id, existing: true };
      }
      throw err;
    }
  }

  async describe(app: string, environment: string): Promise<TrainSummary> {
    const id = trainScheduleId(app, environment);
    try {
      const d = await this.client.schedule.getHandle(id).describe();
      const input = d.action.type === 'startWorkflow' ? d.action.args?.[0] as TrainInput | undefined : undefined;
      return {
        id, app, environment,
        cron: input?.cron ?? ((d.memo as Partial<TrainMemo> | undefined)?.cron) ?? [], timeZone: d.spec.timezone ?? 'UTC',
        paused: d.state.paused,
        nextDepartures: d.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString()),
        recentRuns: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), workflowId: a.action.workflow.workflowId })),
        skippedOverlap: d.info.numActionsSkippedOverlap,
        audit: input?.audit ?? [],
      };
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new GantryError('not_found', `no release train for ${app} to ${environment}`, [], 'create one with: gantry train create');
      throw err;
    }
  }

  async list(): Promise<TrainSummary[]> {
    const out: TrainSummary[] = [];
    for await (const s of this.client.schedule.list()) {
      if (!s.scheduleId.startsWith('train/')) continue;
      const [, app, environment] = s.scheduleId.split('/');
      if (app && environment) out.push(await this.describe(app, environment));
    }
    return out;
  }

  /** Departs now (the schedule's overlap policy still applies); recorded in the train's audit trail. */
  async trigger(app: string, environment: string, caller: Caller): Promise<TrainAuditEntry> {
    const s = await this.storedOrNotFound(app, environment);
    const entry = this.authorize(caller, 'trigger', environment, TrainService.policyOf(s.input));
    const handle = this.client.schedule.getHandle(trainScheduleId(app, environment));
    const audit = recordTrainAction(s.input?.audit, entry);
    await handle.update((prev) => (prev.action.type === 'startWorkflow'
      ? { ...prev, action: { ...prev.action, args: [{ ...(prev.action.args?.[0] as TrainInput), audit }] } }
      : prev));
    await this.settled(app, environment, (d) => TrainService.recorded(d, entry));
    // trigger() would default to ALLOW_ALL; a manual departure follows the train's policy.
    await handle.trigger(ScheduleOverlapPolicy.SKIP);
    return entry;
  }

  /**
   * Pauses or unpauses the train's schedule (no departures while paused; a manual trigger still
   * departs); recorded in the train's audit trail, and the note on the schedule says who and why.
   */
  async setPaused(app: string, environment: string, paused: boolean, caller: Caller, reason?: string): Promise<TrainAuditEntry> {
    const s = await this.storedOrNotFound(app, environment);
    const entry = this.authorize(caller, paused ? 'pause' : 'unpause', environment, TrainService.policyOf(s.input));
    const handle = this.client.schedule.getHandle(trainScheduleId(app, environment));
    const audit = recordTrainAction(s.input?.audit, entry);
    const note = `${paused ? 'paused' : 'unpaused'} by ${caller.identity.id} via ${caller.channel}${reason ? `: ${reason.slice(0, 200)}` : ''}`;
    // One update: the audit entry and the state change land together.
    await handle.update((prev) => ({
      ...prev, state: { ...prev.state, paused, note },
      ...(prev.action.type === 'startWorkflow' ? { action: { ...prev.action, args: [{ ...(prev.action.args?.[0] as TrainInput), audit }] } } : {}),
    }));
    await this.settled(app, environment, (d) => d.state.paused === paused && TrainService.recorded(d, entry));
    return entry;
  }

  /** Whether a description's audit trail ends with `entry`. */
  private static recorded(d: ScheduleDescription, entry: TrainAuditEntry): boolean {
    const audit = d.action.type === 'startWorkflow' ? (d.action.args?.[0] as TrainInput | undefined)?.audit : undefined;
    const last = audit?.[audit.length - 1];
    return !!last && last.at === entry.at && last.by === entry.by && last.action === entry.action;
  }

  /**
   * Waits (at most 5 s) until describe shows a change just made: a schedule applies updates
   * asynchronously, and the next operation reads the audit trail back from describe, so without this
   * two quick operations could each record over the other.
   */
  private async settled(app: string, environment: string, done: (d: ScheduleDescription) => boolean): Promise<void> {
    const handle = this.client.schedule.getHandle(trainScheduleId(app, environment));
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      if (done(await handle.describe())) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Deletes the train; the caller logs the returned audit entry (the schedule's own trail goes with it). */
  async remove(app: string, environment: string, caller: Caller): Promise<TrainAuditEntry> {
    const s = await this.storedOrNotFound(app, environment);
    const entry = this.authorize(caller, 'delete', environment, TrainService.policyOf(s.input));
    await this.client.schedule.getHandle(trainScheduleId(app, environment)).delete();
    return entry;
  }
}
