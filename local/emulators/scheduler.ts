import type { IncomingMessage, ServerResponse } from 'node:http';
import { CORS_HEADERS, handlePreflight, readBody, sendJson } from './http-util';

/**
 * A local EventBridge Scheduler endpoint for the REST-JSON protocol `@aws-sdk/client-scheduler`
 * speaks: CreateSchedule (POST /schedules/{Name}), GetSchedule (GET /schedules/{Name}?groupName=),
 * DeleteSchedule (DELETE /schedules/{Name}?groupName=) and ListSchedules (GET /schedules). Errors
 * carry the Scheduler's names (`x-amzn-errortype`) and statuses: ConflictException 409,
 * ResourceNotFoundException 404, ValidationException 400.
 *
 * One-time schedules (`at(yyyy-mm-ddThh:mm:ss)` in UTC) are timers that invoke their target in
 * process: `targets` maps a target ARN (the escalate function's) to a handler, which receives the
 * schedule's `Input` parsed as JSON, as Lambda does. A failed invocation is retried up to
 * RetryPolicy.MaximumRetryAttempts, then handed to `deadLetter` (the schedule's DLQ); after
 * completion a schedule with ActionAfterCompletion DELETE is deleted, as on AWS.
 *
 * What this endpoint refuses rather than gets wrong: rate() and cron() expressions, and time zones
 * other than UTC (ValidationException naming the local limitation). A one-time schedule whose time is
 * past fires at once; AWS's documentation does not say what it does, and the answer-timer never
 * creates one (tasks/answer-timer/handler.ts).
 */

export interface SchedulerTarget {
  (input: unknown): Promise<unknown>;
}

export interface ScheduleRecord {
  readonly arn: string;
  readonly name: string;
  readonly groupName: string;
  readonly scheduleExpression: string;
  readonly scheduleExpressionTimezone: string;
  readonly state: 'ENABLED' | 'DISABLED';
  readonly actionAfterCompletion: 'NONE' | 'DELETE';
  readonly flexibleTimeWindow: { Mode: string; MaximumWindowInMinutes?: number };
  readonly description?: string;
  readonly target: {
    Arn: string;
    RoleArn: string;
    Input?: string;
    DeadLetterConfig?: { Arn?: string };
    RetryPolicy?: { MaximumRetryAttempts?: number; MaximumEventAgeInSeconds?: number };
  };
  /** When the schedule is due, epoch milliseconds. */
  readonly dueAt: number;
  readonly creationDate: number;
}

/** Something that happened to a schedule, for tests and the dashboard. */
export type SchedulerActivity =
  | { readonly type: 'created' | 'deleted'; readonly name: string; readonly groupName: string; readonly at: number; readonly dueAt: number }
  | { readonly type: 'invoked'; readonly name: string; readonly groupName: string; readonly at: number; readonly dueAt: number; readonly attempts: number }
  | { readonly type: 'failed'; readonly name: string; readonly groupName: string; readonly at: number; readonly dueAt: number; readonly attempts: number; readonly error: string };

/** A failed invocation as the Scheduler sends it to a DLQ (the fields a reader needs). */
export interface SchedulerDeadLetter {
  readonly scheduleArn: string;
  readonly targetArn: string;
  readonly input?: string;
  readonly attempts: number;
  readonly error: string;
}

export interface LocalSchedulerOptions {
  readonly region: string;
  readonly accountId: string;
  /** Schedule groups that exist besides `default`. */
  readonly groups?: readonly string[];
  /** In-process targets by ARN. */
  readonly targets?: Record<string, SchedulerTarget>;
  /** Where invocations that failed every attempt go (the DLQ); logged when absent. */
  readonly deadLetter?: (letter: SchedulerDeadLetter) => Promise<void>;
  /**
   * Real milliseconds per scheduled millisecond: 1 runs in real time, 0.01 makes a 5-minute timer
   * fire after 3 seconds (for demos and tests; what the schedules say is not changed). @default 1
   */
  readonly timeScale?: number;
  /** Pause between attempts of a failed invocation. @default 200 */
  readonly retryDelayMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  readonly log?: (message: string) => void;
}

const NAME = /^[0-9a-zA-Z\-_.]{1,64}$/;
const AT = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/;
/** RetryPolicy defaults of the Scheduler (CreateSchedule API reference). */
const DEFAULT_RETRY_ATTEMPTS = 185;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Activity kept for the dashboard and tests; older entries are dropped (npm start runs for days). */
export const SCHEDULER_ACTIVITY_KEPT = 1000;

class SchedulerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

const validation = (message: string) => new SchedulerError(400, 'ValidationException', message);

/** `at(...)` in UTC → epoch ms, or a ValidationException naming what is wrong. */
const dueOf = (expression: unknown, timezone: unknown): number => {
  if (typeof expression !== 'string') throw validation('ScheduleExpression is required');
  if (timezone !== undefined && timezone !== 'UTC') {
    throw validation(`ScheduleExpressionTimezone ${String(timezone)}: the local scheduler supports UTC only`);
  }
  const match = AT.exec(expression);
  if (!match) throw validation(`ScheduleExpression ${expression}: the local scheduler supports one-time at(yyyy-mm-ddThh:mm:ss) schedules only`);
  const [, y, mo, d, h, mi, s] = match.map(Number);
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) throw validation(`Invalid Schedule Expression ${expression}.`);
  return ms;
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export class LocalScheduler {
  private readonly schedules = new Map<string, ScheduleRecord>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly groups: Set<string>;
  private readonly targets: Record<string, SchedulerTarget>;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly listeners = new Set<(activity: SchedulerActivity) => void>();
  private readonly now: () => number;
  private closed = false;
  readonly activity: SchedulerActivity[] = [];
  /** Real milliseconds per scheduled millisecond; see LocalSchedulerOptions.timeScale. */
  timeScale: number;

  constructor(private readonly options: LocalSchedulerOptions) {
    this.groups = new Set(['default', ...(options.groups ?? [])]);
    this.targets = { ...(options.targets ?? {}) };
    this.timeScale = options.timeScale ?? 1;
    this.now = options.now ?? Date.now;
  }

  /** Registers (or replaces) the in-process handler of a target ARN. */
  setTarget(arn: string, target: SchedulerTarget): void {
    this.targets[arn] = target;
  }

  addGroup(name: string): void {
    this.groups.add(name);
  }

  /** The schedules that exist now. */
  list(groupName?: string): ScheduleRecord[] {
    return [...this.schedules.values()].filter((s) => groupName === undefined || s.groupName === groupName);
  }

  get(groupName: string, name: string): ScheduleRecord | undefined {
    return this.schedules.get(this.key(groupName, name));
  }

  /** Called with everything that happens from now on; returns the unsubscribe function. */
  onActivity(listener: (activity: SchedulerActivity) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when no target invocation is running. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops every timer; schedules not yet due never fire. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.idle();
  }

  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (handlePreflight(req, res)) return;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const body = await readBody(req);
      const segments = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
      if (segments[0] !== 'schedules' || segments.length > 2) {
        throw new SchedulerError(404, 'UnknownOperationException', `${req.method} ${url.pathname} is not implemented by the local scheduler`);
      }
      if (segments.length === 1 && req.method === 'GET') {
        sendJson(res, 200, this.listSchedules(url.searchParams));
        return;
      }
      const name = segments[1];
      if (name === undefined || !NAME.test(name)) throw validation(`Name ${name ?? ''}: must be 1-64 characters of [0-9a-zA-Z-_.]`);
      switch (req.method) {
        case 'POST':
          sendJson(res, 200, this.create(name, body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as unknown)));
          return;
        case 'GET':
          sendJson(res, 200, this.describe(url.searchParams.get('groupName') ?? 'default', name));
          return;
        case 'DELETE':
          this.remove(url.searchParams.get('groupName') ?? 'default', name, true);
          sendJson(res, 200, {});
          return;
        default:
          throw new SchedulerError(405, 'UnknownOperationException', `${req.method} /schedules/{Name} is not implemented by the local scheduler`);
      }
    } catch (error) {
      const e = error instanceof SchedulerError ? error : error instanceof SyntaxError ? validation(`the body is not JSON: ${error.message}`) : undefined;
      if (e === undefined) {
        this.options.log?.(`scheduler: ${(error as Error).message}`);
        res.writeHead(500, { ...CORS_HEADERS, 'content-type': 'application/json', 'x-amzn-errortype': 'InternalServerException' });
        res.end(JSON.stringify({ Message: (error as Error).message }));
        return;
      }
      sendJson(res, e.status, { Message: e.message }, 'application/json', { 'x-amzn-errortype': e.code });
    }
  };

  private key(groupName: string, name: string): string {
    return `${groupName}/${name}`;
  }

  private arnOf(groupName: string, name: string): string {
    return `arn:aws:scheduler:${this.options.region}:${this.options.accountId}:schedule/${groupName}/${name}`;
  }

  private requireGroup(groupName: string): void {
    if (!this.groups.has(groupName)) throw new SchedulerError(404, 'ResourceNotFoundException', `Schedule group ${groupName} does not exist.`);
  }

  private create(name: string, input: unknown): { ScheduleArn: string } {
    if (!isObject(input)) throw validation('the request body must be a JSON object');
    const groupName = typeof input.GroupName === 'string' ? input.GroupName : 'default';
    this.requireGroup(groupName);
    const key = this.key(groupName, name);
    if (this.schedules.has(key)) throw new SchedulerError(409, 'ConflictException', `Schedule ${name} already exists.`);
    const dueAt = dueOf(input.ScheduleExpression, input.ScheduleExpressionTimezone);
    const window = input.FlexibleTimeWindow;
    if (!isObject(window) || (window.Mode !== 'OFF' && window.Mode !== 'FLEXIBLE')) throw validation('FlexibleTimeWindow.Mode must be OFF or FLEXIBLE');
    const target = input.Target;
    if (!isObject(target) || typeof target.Arn !== 'string' || typeof target.RoleArn !== 'string') throw validation('Target.Arn and Target.RoleArn are required');
    if (target.Input !== undefined && typeof target.Input !== 'string') throw validation('Target.Input must be a string');
    const state = input.State ?? 'ENABLED';
    if (state !== 'ENABLED' && state !== 'DISABLED') throw validation('State must be ENABLED or DISABLED');
    const actionAfterCompletion = input.ActionAfterCompletion ?? 'NONE';
    if (actionAfterCompletion !== 'NONE' && actionAfterCompletion !== 'DELETE') throw validation('ActionAfterCompletion must be NONE or DELETE');
    const record: ScheduleRecord = {
      arn: this.arnOf(groupName, name),
      name,
      groupName,
      scheduleExpression: input.ScheduleExpression as string,
      scheduleExpressionTimezone: (input.ScheduleExpressionTimezone as string | undefined) ?? 'UTC',
      state,
      actionAfterCompletion,
      flexibleTimeWindow: window as ScheduleRecord['flexibleTimeWindow'],
      description: typeof input.Description === 'string' ? input.Description : undefined,
      target: target as ScheduleRecord['target'],
      dueAt,
      creationDate: this.now(),
    };
    this.schedules.set(key, record);
    this.emit({ type: 'created', name, groupName, at: this.now(), dueAt });
    if (state === 'ENABLED') this.arm(record);
    return { ScheduleArn: record.arn };
  }

  private describe(groupName: string, name: string): Record<string, unknown> {
    this.requireGroup(groupName);
    const s = this.schedules.get(this.key(groupName, name));
    if (!s) throw new SchedulerError(404, 'ResourceNotFoundException', `Schedule ${name} does not exist.`);
    return {
      Arn: s.arn,
      Name: s.name,
      GroupName: s.groupName,
      ScheduleExpression: s.scheduleExpression,
      ScheduleExpressionTimezone: s.scheduleExpressionTimezone,
      State: s.state,
      ActionAfterCompletion: s.actionAfterCompletion,
      FlexibleTimeWindow: s.flexibleTimeWindow,
      Description: s.description,
      Target: s.target,
      CreationDate: s.creationDate / 1000,
      LastModificationDate: s.creationDate / 1000,
    };
  }

  private listSchedules(query: URLSearchParams): Record<string, unknown> {
    const group = query.get('ScheduleGroup') ?? undefined;
    const prefix = query.get('NamePrefix') ?? '';
    const state = query.get('State') ?? undefined;
    const max = Math.min(100, Math.max(1, Number(query.get('MaxResults') ?? 100)));
    const start = Number(query.get('NextToken') ?? 0);
    if (!Number.isInteger(start) || start < 0) throw validation('NextToken is not valid');
    const all = this.list(group).filter((s) => s.name.startsWith(prefix) && (state === undefined || s.state === state));
    const page = all.slice(start, start + max);
    return {
      Schedules: page.map((s) => ({
        Arn: s.arn,
        Name: s.name,
        GroupName: s.groupName,
        State: s.state,
        CreationDate: s.creationDate / 1000,
        LastModificationDate: s.creationDate / 1000,
        Target: { Arn: s.target.Arn },
      })),
      NextToken: start + max < all.length ? String(start + max) : undefined,
    };
  }

  private remove(groupName: string, name: string, requireExisting: boolean): void {
    this.requireGroup(groupName);
    const key = this.key(groupName, name);
    const s = this.schedules.get(key);
    if (!s) {
      if (requireExisting) throw new SchedulerError(404, 'ResourceNotFoundException', `Schedule ${name} does not exist.`);
      return;
    }
    this.schedules.delete(key);
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.emit({ type: 'deleted', name, groupName, at: this.now(), dueAt: s.dueAt });
  }

  private arm(record: ScheduleRecord): void {
    const key = this.key(record.groupName, record.name);
    const wanted = Math.max(0, (record.dueAt - this.now()) * this.timeScale);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      if (this.closed || this.schedules.get(key) !== record) return;
      // Node timers last at most ~24.8 days: a later schedule waits in steps.
      if (wanted > MAX_TIMER_MS) {
        this.arm(record);
        return;
      }
      const run = this.fire(record).finally(() => this.inFlight.delete(run));
      this.inFlight.add(run);
    }, Math.min(MAX_TIMER_MS, wanted));
    timer.unref?.();
    this.timers.set(key, timer);
  }

  private async fire(record: ScheduleRecord): Promise<void> {
    const { name, groupName, dueAt } = record;
    const attemptsAllowed = 1 + (record.target.RetryPolicy?.MaximumRetryAttempts ?? DEFAULT_RETRY_ATTEMPTS);
    let lastError = '';
    let attempts = 0;
    for (attempts = 1; attempts <= attemptsAllowed && !this.closed; attempts += 1) {
      try {
        const target = this.targets[record.target.Arn];
        if (target === undefined) throw Object.assign(new Error(`no local target for ${record.target.Arn}`), { name: 'ResourceNotFoundException' });
        await target(record.target.Input === undefined ? {} : (JSON.parse(record.target.Input) as unknown));
        this.emit({ type: 'invoked', name, groupName, at: this.now(), dueAt, attempts });
        this.complete(record);
        return;
      } catch (error) {
        lastError = `${(error as Error).name}: ${(error as Error).message}`;
        this.options.log?.(`scheduler: ${name} attempt ${attempts} failed: ${lastError}`);
        if (attempts < attemptsAllowed) await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs ?? 200));
      }
    }
    attempts -= 1;
    this.emit({ type: 'failed', name, groupName, at: this.now(), dueAt, attempts, error: lastError });
    const letter: SchedulerDeadLetter = { scheduleArn: record.arn, targetArn: record.target.Arn, input: record.target.Input, attempts, error: lastError };
    if (record.target.DeadLetterConfig?.Arn !== undefined && this.options.deadLetter) {
      await this.options.deadLetter(letter).catch((error: Error) => this.options.log?.(`scheduler: dead letter of ${name} lost: ${error.message}`));
    } else {
      this.options.log?.(`scheduler: ${name} gave up after ${attempts} attempts and has no DLQ: ${lastError}`);
    }
    this.complete(record);
  }

  private complete(record: ScheduleRecord): void {
    if (record.actionAfterCompletion === 'DELETE' && this.schedules.get(this.key(record.groupName, record.name)) === record) {
      this.remove(record.groupName, record.name, false);
    }
  }

  private emit(activity: SchedulerActivity): void {
    this.activity.push(activity);
    if (this.activity.length > SCHEDULER_ACTIVITY_KEPT) this.activity.splice(0, this.activity.length - SCHEDULER_ACTIVITY_KEPT);
    for (const listener of this.listeners) {
      try {
        listener(activity);
      } catch (error) {
        this.options.log?.(`scheduler: an activity listener failed: ${(error as Error).message}`);
      }
    }
  }
}
