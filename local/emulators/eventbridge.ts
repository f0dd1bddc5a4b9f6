import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { matchesEventPattern, type EventPattern } from '../../contracts/event-pattern';
import { AWS_LIMITS, payloadBytes } from '../../contracts/limits';
import { handlePreflight, LocalServiceError, readBody, sendJson } from './http-util';

/**
 * A local EventBridge endpoint for the AWS JSON 1.1 protocol `@aws-sdk/client-eventbridge` speaks.
 * Only `PutEvents` is served over HTTP; rules are registered in process (`putRule`) with their
 * event pattern, matched by the runtime's matcher (`contracts/event-pattern.ts`, the one the local
 * pipe filter uses too, which refuses an operator it does not implement rather than guess), and an
 * in-process target that gets the whole event, as a rule without an input transformer delivers it.
 *
 * As on AWS: a request holds 1 to 10 entries whose sizes sum to at most 256 KB, else the whole
 * request is a ValidationException; an entry without Source, DetailType or Detail fails with
 * InvalidArgument, one whose Detail is not a JSON object with MalformedDetail, one for a bus that
 * does not exist with ResourceNotFoundException, and the others are accepted (partial failure,
 * `FailedEntryCount`). Targets are invoked after the answer, asynchronously; a failing target is
 * retried (`targetRetryAttempts`), then handed to the rule's `deadLetter` (the rule target's DLQ on
 * AWS), else to the endpoint's, else logged: one failed target never stops the others nor the
 * endpoint.
 *
 * Every event received is kept in a bounded log, with the rules it matched and what each delivery
 * did, for tests and the dashboard.
 */

/** An event as EventBridge delivers it to a rule's target. */
export interface EventBridgeEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  /** `yyyy-mm-ddThh:mm:ssZ`, as EventBridge writes it. */
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: unknown;
}

/** A rule's target: called with the whole event; a rejection is a failed delivery. */
export type RuleTarget = (event: EventBridgeEvent) => Promise<unknown>;

export interface RuleDefinition {
  readonly name: string;
  readonly eventPattern: EventPattern;
  readonly target: RuleTarget;
  /** @default the endpoint's first bus */
  readonly eventBusName?: string;
  /** Where a delivery of this rule that failed every attempt goes. @default the endpoint's `deadLetter` */
  readonly deadLetter?: (failure: FailedDelivery) => Promise<void>;
}

export interface RuleDelivery {
  readonly rule: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  error?: string;
}

/** One event received on a bus, the rules it matched and their deliveries. */
export interface ReceivedEvent {
  readonly eventBusName: string;
  readonly receivedAt: number;
  readonly event: EventBridgeEvent;
  readonly deliveries: RuleDelivery[];
}

/** A delivery that failed every attempt. */
export interface FailedDelivery {
  readonly rule: string;
  readonly event: EventBridgeEvent;
  readonly attempts: number;
  readonly error: string;
}

export interface LocalEventBridgeOptions {
  readonly region: string;
  readonly accountId: string;
  /** The buses that exist, by name (the first is the default for putRule). @default ['default'] */
  readonly buses?: readonly string[];
  /** Retries of a failed target invocation. @default 2 */
  readonly targetRetryAttempts?: number;
  /** Pause before each retry. @default 200 */
  readonly retryDelayMs?: number;
  /** Where a delivery that failed every attempt goes; logged when absent. */
  readonly deadLetter?: (failure: FailedDelivery) => Promise<void>;
  /** Events kept in the log. @default 1000 */
  readonly keep?: number;
  readonly log?: (message: string) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

/** A request-level error, answered as the JSON protocol carries it (`__type`, `message`). */
export class EventBridgeError extends LocalServiceError {}

interface PutEventsRequestEntry {
  Source?: unknown;
  DetailType?: unknown;
  Detail?: unknown;
  EventBusName?: unknown;
  Resources?: unknown;
  Time?: unknown;
}

type PutEventsResultEntry = { EventId: string } | { ErrorCode: string; ErrorMessage: string };

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'AWSEvents.';

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** EventBridge's entry size: Time 14 bytes, Source, DetailType, Detail and each resource in UTF-8. */
const entryBytes = (entry: PutEventsRequestEntry): number => {
  const text = (value: unknown) => (typeof value === 'string' ? payloadBytes(value) : 0);
  const resources = Array.isArray(entry.Resources) ? entry.Resources.reduce((sum: number, r: unknown) => sum + text(r), 0) : 0;
  return (entry.Time !== undefined ? 14 : 0) + text(entry.Source) + text(entry.DetailType) + text(entry.Detail) + resources;
};

/** The SDK sends `Time` as epoch seconds; an RFC 3339 string is accepted too. */
const timeOf = (value: unknown, now: number): string => {
  const ms = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? Date.parse(value) : NaN;
  return new Date(Number.isFinite(ms) ? ms : now).toISOString().replace(/\.\d{3}Z$/, 'Z');
};

/** Checks every matcher of a pattern now, so that a rule the matcher cannot evaluate is refused when it is put. */
const assertEvaluable = (pattern: EventPattern): void => {
  matchesEventPattern(pattern, {});
  const walk = (node: EventPattern) => {
    for (const [key, sub] of Object.entries(node)) {
      if (Array.isArray(sub)) for (const matcher of sub) matchesEventPattern({ [key]: [matcher] }, {});
      else walk(sub as EventPattern);
    }
  };
  walk(pattern);
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class LocalEventBridge {
  /** Events received, newest last (bounded by `keep`). */
  readonly events: ReceivedEvent[] = [];
  private readonly buses: readonly string[];
  private readonly rules = new Map<string, RuleDefinition & { eventBusName: string }>();
  private readonly listeners: ((received: ReceivedEvent) => void)[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly options: LocalEventBridgeOptions) {
    this.buses = options.buses && options.buses.length > 0 ? options.buses : ['default'];
  }

  /** The ARN of a bus of this endpoint. */
  busArn(name: string): string {
    return `arn:aws:events:${this.options.region}:${this.options.accountId}:event-bus/${name}`;
  }

  /**
   * Adds a rule, or replaces the rule of that name. Throws UnsupportedPatternError for a pattern
   * the local matcher cannot evaluate, and for a bus that does not exist.
   */
  putRule(rule: RuleDefinition): void {
    const eventBusName = rule.eventBusName ?? this.buses[0];
    if (!this.buses.includes(eventBusName)) throw new EventBridgeError('ResourceNotFoundException', `Event bus ${eventBusName} does not exist.`);
    assertEvaluable(rule.eventPattern);
    this.rules.set(rule.name, { ...rule, eventBusName });
  }

  deleteRule(name: string): void {
    this.rules.delete(name);
  }

  ruleNames(): string[] {
    return [...this.rules.keys()];
  }

  /** Called for every event received, before its targets are invoked. */
  onEvent(listener: (received: ReceivedEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Resolves once every target invocation started so far has ended (retries included). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops invoking targets; deliveries in progress end after their current attempt. */
  close(): void {
    this.closed = true;
  }

  /** PutEvents, as the endpoint serves it (exposed for in-process callers and tests). */
  putEvents(input: { Entries?: unknown }): { FailedEntryCount: number; Entries: PutEventsResultEntry[] } {
    const entries = input.Entries;
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > AWS_LIMITS.eventBridgePutEventsEntries) {
      throw new EventBridgeError(
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${AWS_LIMITS.eventBridgePutEventsEntries}`,
      );
    }
    const total = (entries as PutEventsRequestEntry[]).reduce((sum, e) => sum + entryBytes(isPlainObject(e) ? e : {}), 0);
    if (total > AWS_LIMITS.eventBridgePutEventsBytes) {
      throw new EventBridgeError('ValidationException', 'Total size of the entries in the request is over the limit.');
    }
    const results = (entries as unknown[]).map((entry) => this.accept(isPlainObject(entry) ? (entry as PutEventsRequestEntry) : {}));
    return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
  }

  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (handlePreflight(req, res)) return;
    try {
      const target = String(req.headers['x-amz-target'] ?? '');
      const text = (await readBody(req)).toString('utf8');
      if (target !== `${TARGET_PREFIX}PutEvents`) {
        throw new EventBridgeError('UnknownOperationException', `${target || '(no X-Amz-Target)'} is not implemented by the local EventBridge endpoint`);
      }
      let input: unknown;
      try {
        input = JSON.parse(text || '{}');
      } catch {
        throw new EventBridgeError('SerializationException', 'the request body is not JSON');
      }
      sendJson(res, 200, this.putEvents(isPlainObject(input) ? input : {}), CONTENT_TYPE);
    } catch (err) {
      const e = err instanceof EventBridgeError ? err : new EventBridgeError('InternalException', (err as Error).message, 500);
      sendJson(res, e.status, { __type: e.code, message: e.message }, CONTENT_TYPE, { 'x-amzn-errortype': e.code });
    }
  };

  private accept(entry: PutEventsRequestEntry): PutEventsResultEntry {
    for (const field of ['Source', 'DetailType', 'Detail'] as const) {
      if (typeof entry[field] !== 'string' || entry[field] === '') {
        return { ErrorCode: 'InvalidArgument', ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.` };
      }
    }
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail as string);
    } catch {
      detail = undefined;
    }
    if (!isPlainObject(detail)) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    const named = typeof entry.EventBusName === 'string' && entry.EventBusName !== '' ? entry.EventBusName : 'default';
    const eventBusName = named.startsWith('arn:') ? named.slice(named.lastIndexOf('/') + 1) : named;
    if (!this.buses.includes(eventBusName)) return { ErrorCode: 'ResourceNotFoundException', ErrorMessage: `Event bus ${eventBusName} does not exist.` };

    const now = (this.options.now ?? Date.now)();
    const event: EventBridgeEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': entry.DetailType as string,
      source: entry.Source as string,
      account: this.options.accountId,
      time: timeOf(entry.Time, now),
      region: this.options.region,
      resources: Array.isArray(entry.Resources) ? entry.Resources.filter((r): r is string => typeof r === 'string') : [],
      detail,
    };
    const matched = [...this.rules.values()].filter((rule) => rule.eventBusName === eventBusName && this.matches(rule, event));
    const received: ReceivedEvent = {
      eventBusName,
      receivedAt: now,
      event,
      deliveries: matched.map((rule) => ({ rule: rule.name, status: 'pending', attempts: 0 })),
    };
    this.events.push(received);
    this.events.splice(0, Math.max(0, this.events.length - (this.options.keep ?? 1000)));
    for (const listener of this.listeners) {
      try {
        listener(received);
      } catch (err) {
        this.log(`eventbridge: an event listener threw: ${(err as Error).message}`);
      }
    }
    matched.forEach((rule, i) => this.track(this.deliver(rule, event, received.deliveries[i])));
    return { EventId: event.id };
  }

  private matches(rule: RuleDefinition, event: EventBridgeEvent): boolean {
    try {
      return matchesEventPattern(rule.eventPattern, event);
    } catch (err) {
      this.log(`eventbridge: rule ${rule.name} could not be evaluated: ${(err as Error).message}`);
      return false;
    }
  }

  private track(delivery: Promise<void>): void {
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
  }

  private async deliver(rule: RuleDefinition, event: EventBridgeEvent, record: RuleDelivery): Promise<void> {
    // After the PutEvents answer, as on AWS: a target never delays the caller.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const attempts = 1 + (this.options.targetRetryAttempts ?? 2);
    for (let attempt = 1; attempt <= attempts && !this.closed; attempt++) {
      record.attempts = attempt;
      try {
        await rule.target(JSON.parse(JSON.stringify(event)) as EventBridgeEvent);
        record.status = 'delivered';
        delete record.error;
        return;
      } catch (err) {
        record.error = `${(err as Error).name}: ${(err as Error).message}`;
        if (attempt < attempts) await sleep(this.options.retryDelayMs ?? 200);
      }
    }
    record.status = 'failed';
    const failure: FailedDelivery = { rule: rule.name, event, attempts: record.attempts, error: record.error ?? 'closed before delivery' };
    const deadLetter = rule.deadLetter ?? this.options.deadLetter;
    if (!deadLetter) {
      this.log(`eventbridge: rule ${rule.name} gave up on event ${event.id} after ${failure.attempts} attempt(s): ${failure.error}`);
      return;
    }
    try {
      await deadLetter(failure);
    } catch (err) {
      this.log(`eventbridge: the dead-letter of rule ${rule.name} failed for event ${event.id}: ${(err as Error).message}`);
    }
  }

  private log(message: string): void {
    (this.options.log ?? (() => undefined))(message);
  }
}
