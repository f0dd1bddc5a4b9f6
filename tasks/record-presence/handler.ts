import {
  DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type GetItemCommandInput,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { InvalidPresenceEventError } from '../shared/errors';
import { readEnv } from '../shared/env';
import { registryRead } from '../shared/device-registry';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';
import {
  subscriptionsFromAttribute,
  subscriptionsToAttribute,
  type SessionSubscriptions,
  type SubscriptionEntry,
} from '../shared/presence';
import { pushTopicOf } from '../../contracts/push-topic';
import { PRESENCE_TABLE } from '../../contracts/tables';
import { describeZodError } from '../shared/validation';

/**
 * RecordPresence: keeps the PRESENCE table (`clientId` → connection and subscription state, see
 * tasks/shared/presence.ts) in step with the broker, from the AWS IoT lifecycle events the IoT
 * topic rules forward here: `$aws/events/presence/connected|disconnected/<clientId>` and
 * `$aws/events/subscriptions/subscribed|unsubscribed/<clientId>`.
 *
 * Lifecycle events can arrive out of order and more than once (AWS says so for all of them), so a
 * write only lands if its event is newer than what the item already holds.
 *
 * Connect / disconnect ("newer", see `supersedes`):
 *  - `versionNumber` identifies a connection: it grows with each new connection of a client id,
 *    and the connect and disconnect events of one connection share it. Within one connection,
 *    disconnected comes after connected.
 *  - `versionNumber` goes back to 0 after a client has been away for about an hour, and
 *    `timestamp` is only approximate; so versions decide between events close in time, and time
 *    decides between events further apart than REORDER_WINDOW_MS.
 * The case this protects against: a client reconnects (version N+1) before the broker has
 * noticed its old connection died; the old connection's disconnect (version N, often with a
 * later timestamp) arrives last and must not mark the client offline.
 *
 * Subscribe / unsubscribe events carry no version, only the session they belong to. The item
 * keeps one entry per recent session (`applySubscriptionEvent`); within a session the later
 * timestamp wins, since one session's events are stamped by the broker that holds it. Only the
 * device's own push topic counts. A subscription may be recorded before its session's connect:
 * the two events are invoked concurrently and either write can land first.
 *
 * Only registered devices have presence: before writing, one GetItem on the device registry table
 * (tasks/shared/device-registry.ts), not Aurora, which may be paused. An event of a client id with
 * no registry item (never registered, unregistered, or deactivated by the stale-device sweep; the
 * IoT authorizer admits any client id issued to the caller's agent) is ignored and logged.
 * Disconnects are the exception: they can only lower presence, and refusing them would leave the
 * item of a device that was connected when it left the registry `connected`, with no expiry, for
 * good. They skip the registry read and obey only the ordering and clock rules.
 *
 * An event stamped more than MAX_CLOCK_SKEW_MS ahead of this function's clock is refused: written,
 * it would outrank every real event of the device for as long as its timestamp stays ahead. A
 * stored timestamp that far ahead (written before this check existed) is overwritten by any event.
 *
 * A write, or the registry read, that fails for any reason other than a newer item throws
 * PresenceWriteError, so that Lambda retries the asynchronous invocation and then hands the event
 * to the on-failure destination (the presence-failures queue).
 */

/**
 * Longer than the timestamp inaccuracy (AWS documents about ±2 minutes) and the overlap of an old
 * and a new connection of one client id; far shorter than the hour after which versions restart.
 */
export const REORDER_WINDOW_MS = 10 * 60 * 1000;
/**
 * How far ahead of the clock an event's timestamp may be: AWS stamps lifecycle events to within
 * about ±2 minutes, so 5 minutes leaves room for that and for this function's own clock.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Items of disconnected clients expire (the table's TTL, `PRESENCE_TABLE.timeToLiveAttribute`): no item also means offline. */
export const DISCONNECTED_TTL_SECONDS = 30 * 24 * 60 * 60;
/**
 * Sessions whose subscription the item remembers besides the current connection's: enough for a
 * few reconnects within the reorder window, small enough to keep the item a few hundred bytes.
 */
export const MAX_TRACKED_SESSIONS = 8;
/** Read-modify-write rounds for a subscription event before two concurrent writers are an error. */
export const MAX_SUBSCRIPTION_WRITE_ATTEMPTS = 4;
const CONFLICT_BACKOFF_MS = 20;

const env = readEnv({ PRESENCE_TABLE_NAME: z.string().min(1), DEVICE_REGISTRY_TABLE_NAME: z.string().min(1) });
const { logger, metrics, tracer, instrument } = observability('record-presence');
const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));

/** The PRESENCE write failed (not because the item held a newer event): the invocation fails so Lambda retries it. */
export class PresenceWriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PresenceWriteError';
  }
}

/** Why an event was refused without a write (logged and returned as `reason`). */
export const REFUSAL_REASONS = {
  /** The event's timestamp is more than MAX_CLOCK_SKEW_MS ahead of the clock. */
  timestampAheadOfClock: 'timestamp-ahead-of-clock',
  /** A subscribe / unsubscribe of topics other than the device's own push topic. */
  notThePushTopic: 'not-the-push-topic',
  /** The client id of a connect or subscription event has no item in the device registry: not a registered device. */
  unregisteredClientId: 'unregistered-client-id',
} as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[keyof typeof REFUSAL_REASONS];

export const PRESENCE_STATES = ['connected', 'disconnected'] as const;
export type PresenceState = (typeof PRESENCE_STATES)[number];
export const SUBSCRIPTION_EVENT_TYPES = ['subscribed', 'unsubscribed'] as const;
export type SubscriptionEventType = (typeof SUBSCRIPTION_EVENT_TYPES)[number];

/** A connect or disconnect lifecycle event of AWS IoT; fields not listed are ignored. */
export const LifecycleEventSchema = z.object({
  clientId: z.string().min(1),
  timestamp: z.number().int().nonnegative(),
  eventType: z.enum(PRESENCE_STATES),
  sessionIdentifier: z.string().min(1),
  versionNumber: z.number().int().nonnegative(),
  principalIdentifier: z.string().optional(),
  ipAddress: z.string().optional(),
  thingName: z.string().optional(),
  clientInitiatedDisconnect: z.boolean().optional(),
  disconnectReason: z.string().optional(),
});
export type LifecycleEvent = z.infer<typeof LifecycleEventSchema>;

/** A subscribe or unsubscribe lifecycle event of AWS IoT; fields not listed are ignored. */
export const SubscriptionEventSchema = z.object({
  clientId: z.string().min(1),
  timestamp: z.number().int().nonnegative(),
  eventType: z.enum(SUBSCRIPTION_EVENT_TYPES),
  sessionIdentifier: z.string().min(1),
  topics: z.array(z.string()),
  principalIdentifier: z.string().optional(),
  thingName: z.string().optional(),
});
export type SubscriptionEvent = z.infer<typeof SubscriptionEventSchema>;

/** Every lifecycle event record-presence takes, told apart by `eventType`. */
export const PresenceEventSchema = z.discriminatedUnion('eventType', [LifecycleEventSchema, SubscriptionEventSchema]);
export type PresenceEvent = z.infer<typeof PresenceEventSchema>;

const isSubscriptionEvent = (event: PresenceEvent): event is SubscriptionEvent =>
  (SUBSCRIPTION_EVENT_TYPES as readonly string[]).includes(event.eventType);

/** Published on the same topic tree the rule listens to; a refused connection changes no presence. */
const ConnectFailedEventSchema = z.object({ clientId: z.string().min(1), eventType: z.literal('connect_failed') });

export interface RecordPresenceOutput {
  clientId: string;
  /** The event's type: what was recorded when `applied`. */
  state: PresenceState | SubscriptionEventType | 'connect_failed';
  /** False when the item already held a newer (or the same) event, for `connect_failed`, and when refused. */
  applied: boolean;
  /** Set when the event was refused rather than superseded. */
  reason?: RefusalReason;
}

/** What the PRESENCE item holds about the last connect / disconnect event it took. */
export interface StoredPresence {
  state: PresenceState;
  eventTimestamp: number;
  versionNumber: number;
}

/**
 * Whether `event` may overwrite `stored`. The ConditionExpression of `presenceUpdate` is this
 * function written for DynamoDB; the tests hold the two to the same answers. `latestPlausible`
 * is the latest timestamp not refused as ahead of the clock: a stored one beyond it never blocks.
 */
export const supersedes = (
  stored: StoredPresence | undefined,
  event: Pick<LifecycleEvent, 'eventType' | 'timestamp' | 'versionNumber'>,
  windowMs: number = REORDER_WINDOW_MS,
  latestPlausible: number = Number.POSITIVE_INFINITY,
): boolean => {
  if (stored === undefined) return true;
  if (stored.eventTimestamp > latestPlausible) return true;
  if (stored.eventTimestamp < event.timestamp - windowMs) return true;
  if (stored.eventTimestamp > event.timestamp + windowMs) return false;
  if (stored.versionNumber < event.versionNumber) return true;
  return stored.versionNumber === event.versionNumber && stored.state === 'connected' && event.eventType === 'disconnected';
};

/** The latest event timestamp accepted at `now`. */
export const latestPlausibleTimestamp = (now: Date): number => now.getTime() + MAX_CLOCK_SKEW_MS;

/** The conditional UpdateItem for one connect / disconnect event (exported so tests can assert it exactly). */
export const presenceUpdate = (event: LifecycleEvent, tableName: string, now: Date): UpdateItemCommandInput => {
  const disconnected = event.eventType === 'disconnected';
  const sameConnection = disconnected ? ' OR (#versionNumber = :versionNumber AND #state = :connected)' : '';
  return {
    TableName: tableName,
    Key: { [PRESENCE_TABLE.partitionKey]: { S: event.clientId } },
    UpdateExpression:
      'SET #state = :state, #eventTimestamp = :eventTimestamp, #versionNumber = :versionNumber, #sessionIdentifier = :sessionIdentifier, #updatedAt = :updatedAt' +
      (disconnected ? ', #expiresAt = :expiresAt' : ' REMOVE #expiresAt'),
    // No eventTimestamp: no connection recorded yet (the item may hold only subscriptions).
    ConditionExpression:
      'attribute_not_exists(#eventTimestamp)' +
      ' OR #eventTimestamp > :latestPlausible' +
      ' OR #eventTimestamp < :clearlyNewerThan' +
      ` OR (#eventTimestamp <= :notClearlyOlderThan AND (#versionNumber < :versionNumber${sameConnection}))`,
    ExpressionAttributeNames: {
      '#state': 'state',
      '#eventTimestamp': 'eventTimestamp',
      '#versionNumber': 'versionNumber',
      '#sessionIdentifier': 'sessionIdentifier',
      '#updatedAt': 'updatedAt',
      '#expiresAt': PRESENCE_TABLE.timeToLiveAttribute,
    },
    ExpressionAttributeValues: {
      ':state': { S: event.eventType },
      ':eventTimestamp': { N: String(event.timestamp) },
      ':versionNumber': { N: String(event.versionNumber) },
      ':sessionIdentifier': { S: event.sessionIdentifier },
      ':updatedAt': { S: now.toISOString() },
      ':latestPlausible': { N: String(latestPlausibleTimestamp(now)) },
      ':clearlyNewerThan': { N: String(event.timestamp - REORDER_WINDOW_MS) },
      ':notClearlyOlderThan': { N: String(event.timestamp + REORDER_WINDOW_MS) },
      ...(disconnected && {
        ':connected': { S: 'connected' },
        ':expiresAt': { N: String(Math.floor(event.timestamp / 1000) + DISCONNECTED_TTL_SECONDS) },
      }),
    },
  };
};

/**
 * Whether a subscription event may overwrite its session's entry: the later timestamp wins; at the
 * same timestamp a subscribe beats an unsubscribe, because a wrong "online" costs one push nobody
 * receives (the inbox has the message anyway) while a wrong "offline" leaves a listening device
 * without pushes until it reconnects.
 */
export const subscriptionSupersedes = (
  entry: SubscriptionEntry | undefined,
  event: Pick<SubscriptionEvent, 'eventType' | 'timestamp'>,
  latestPlausible: number = Number.POSITIVE_INFINITY,
): boolean => {
  if (entry === undefined || entry.at > latestPlausible) return true;
  if (entry.at !== event.timestamp) return entry.at < event.timestamp;
  return !entry.subscribed && event.eventType === 'subscribed';
};

/**
 * The entries worth keeping: always the one of `keepSession` (the recorded connection's session);
 * of the others, those within REORDER_WINDOW_MS of the newest (a session whose connect has not
 * landed yet, or an old one whose late events must still lose), at most MAX_TRACKED_SESSIONS of
 * them, newest first. Entries stamped beyond `latestPlausible` go.
 */
export const pruneSubscriptions = (
  subscriptions: SessionSubscriptions,
  keepSession: string | undefined,
  latestPlausible: number = Number.POSITIVE_INFINITY,
): SessionSubscriptions => {
  const plausible = Object.entries(subscriptions).filter(([, entry]) => entry.at <= latestPlausible);
  const newest = Math.max(...plausible.map(([, entry]) => entry.at));
  const kept = plausible.filter(([session]) => session === keepSession);
  const others = plausible
    .filter(([session, entry]) => session !== keepSession && entry.at >= newest - REORDER_WINDOW_MS)
    .sort(([, a], [, b]) => b.at - a.at)
    .slice(0, MAX_TRACKED_SESSIONS);
  return Object.fromEntries([...kept, ...others]);
};

/** The subscriptions after `event`, and whether it changed its session's entry. */
export const applySubscriptionEvent = (
  subscriptions: SessionSubscriptions,
  event: Pick<SubscriptionEvent, 'eventType' | 'timestamp' | 'sessionIdentifier'>,
  options: { currentSession?: string; latestPlausible?: number } = {},
): { subscriptions: SessionSubscriptions; applied: boolean } => {
  const session = event.sessionIdentifier;
  if (!subscriptionSupersedes(subscriptions[session], event, options.latestPlausible)) return { subscriptions, applied: false };
  const entry: SubscriptionEntry = { subscribed: event.eventType === 'subscribed', at: event.timestamp };
  const next = pruneSubscriptions({ ...subscriptions, [session]: entry }, options.currentSession, options.latestPlausible);
  // An event of a session already too old to track changes nothing.
  if (next[session] === undefined) return { subscriptions, applied: false };
  return { subscriptions: next, applied: true };
};

const SUBSCRIPTION_NAMES = {
  '#sessionIdentifier': 'sessionIdentifier',
  '#eventTimestamp': 'eventTimestamp',
  '#subscriptions': 'subscriptions',
  '#subscriptionsRevision': 'subscriptionsRevision',
};

/** The consistent read a subscription event starts from (exported so tests can assert it exactly). */
export const subscriptionRead = (clientId: string, tableName: string): GetItemCommandInput => ({
  TableName: tableName,
  Key: { [PRESENCE_TABLE.partitionKey]: { S: clientId } },
  ConsistentRead: true,
  ProjectionExpression: '#sessionIdentifier, #eventTimestamp, #subscriptions, #subscriptionsRevision',
  ExpressionAttributeNames: SUBSCRIPTION_NAMES,
});

/** What a subscription event needs to know of the item. */
export interface StoredSubscriptions {
  subscriptions: SessionSubscriptions;
  /** Bumped by every subscription write: the optimistic lock of the read-modify-write. */
  revision?: number;
  /** The session of the recorded connection, if any. */
  connectionSession?: string;
  /** Whether a connect / disconnect event has been recorded. */
  hasConnection: boolean;
}

export const storedSubscriptionsOf = (item: Record<string, AttributeValue> | undefined): StoredSubscriptions => {
  const revision = item?.subscriptionsRevision?.N;
  return {
    subscriptions: subscriptionsFromAttribute(item?.subscriptions),
    ...(revision !== undefined && { revision: Number(revision) }),
    ...(item?.sessionIdentifier?.S !== undefined && { connectionSession: item.sessionIdentifier.S }),
    hasConnection: item?.eventTimestamp !== undefined,
  };
};

/**
 * The write of a subscription event's outcome, conditional on the item being as it was read.
 * An item with no connection yet gets an expiry, which the connect event removes, so an item
 * whose connect never comes does not stay forever.
 */
export const subscriptionUpdate = (
  clientId: string,
  stored: StoredSubscriptions,
  subscriptions: SessionSubscriptions,
  tableName: string,
  now: Date,
): UpdateItemCommandInput => {
  const newest = Math.max(...Object.values(subscriptions).map((entry) => entry.at));
  const revisionCondition = stored.revision === undefined ? 'attribute_not_exists(#subscriptionsRevision)' : '#subscriptionsRevision = :readRevision';
  return {
    TableName: tableName,
    Key: { [PRESENCE_TABLE.partitionKey]: { S: clientId } },
    UpdateExpression:
      'SET #subscriptions = :subscriptions, #subscriptionsRevision = :revision, #updatedAt = :updatedAt' +
      (stored.hasConnection ? '' : ', #expiresAt = :expiresAt'),
    ConditionExpression: stored.hasConnection ? revisionCondition : `${revisionCondition} AND attribute_not_exists(#eventTimestamp)`,
    ExpressionAttributeNames: {
      '#subscriptions': 'subscriptions',
      '#subscriptionsRevision': 'subscriptionsRevision',
      '#updatedAt': 'updatedAt',
      ...(!stored.hasConnection && { '#eventTimestamp': 'eventTimestamp', '#expiresAt': PRESENCE_TABLE.timeToLiveAttribute }),
    },
    ExpressionAttributeValues: {
      ':subscriptions': subscriptionsToAttribute(subscriptions),
      ':revision': { N: String((stored.revision ?? 0) + 1) },
      ':updatedAt': { S: now.toISOString() },
      ...(stored.revision !== undefined && { ':readRevision': { N: String(stored.revision) } }),
      ...(!stored.hasConnection && { ':expiresAt': { N: String(Math.floor(newest / 1000) + DISCONNECTED_TTL_SECONDS) } }),
    },
  };
};

// By name: a second copy of the SDK in a bundle would defeat instanceof.
const isConditionalCheckFailure = (error: unknown): boolean => error instanceof Error && error.name === 'ConditionalCheckFailedException';

const writeFailure = (what: string, clientId: string, error: unknown): PresenceWriteError =>
  new PresenceWriteError(`${what} for ${clientId} failed: ${(error as Error).name}: ${(error as Error).message}`, { cause: error });

const isRegistered = async (clientId: string): Promise<boolean> => {
  try {
    const { Item } = await dynamodb.send(new GetItemCommand(registryRead(clientId, env.DEVICE_REGISTRY_TABLE_NAME)));
    return Item !== undefined;
  } catch (error) {
    throw writeFailure('reading the device registry', clientId, error);
  }
};

const recordConnection = async (event: LifecycleEvent, now: Date): Promise<RecordPresenceOutput> => {
  const { clientId, eventType: state, versionNumber, timestamp } = event;
  try {
    await dynamodb.send(new UpdateItemCommand(presenceUpdate(event, env.PRESENCE_TABLE_NAME, now)));
  } catch (error) {
    if (isConditionalCheckFailure(error)) {
      logger.info('stale lifecycle event dropped: the item already holds a newer one', { clientId, state, versionNumber, eventTimestamp: timestamp });
      return { clientId, state, applied: false };
    }
    throw writeFailure('the PRESENCE write', clientId, error);
  }
  logger.info('presence recorded', { clientId, state, versionNumber, eventTimestamp: timestamp });
  return { clientId, state, applied: true };
};

/** Full jitter, so two writers that collided do not collide again. */
const conflictBackoff = (attempt: number): number => Math.random() * CONFLICT_BACKOFF_MS * 2 ** (attempt - 1);

const recordSubscription = async (event: SubscriptionEvent, now: Date): Promise<RecordPresenceOutput> => {
  const { clientId, eventType: state, sessionIdentifier, timestamp } = event;
  const latestPlausible = latestPlausibleTimestamp(now);
  for (let attempt = 1; ; attempt += 1) {
    let stored: StoredSubscriptions;
    try {
      const { Item } = await dynamodb.send(new GetItemCommand(subscriptionRead(clientId, env.PRESENCE_TABLE_NAME)));
      stored = storedSubscriptionsOf(Item);
    } catch (error) {
      throw writeFailure('reading PRESENCE', clientId, error);
    }
    const next = applySubscriptionEvent(stored.subscriptions, event, { currentSession: stored.connectionSession, latestPlausible });
    if (!next.applied) {
      logger.info('stale lifecycle event dropped: the item already holds a newer one', { clientId, state, sessionIdentifier, eventTimestamp: timestamp });
      return { clientId, state, applied: false };
    }
    try {
      await dynamodb.send(new UpdateItemCommand(subscriptionUpdate(clientId, stored, next.subscriptions, env.PRESENCE_TABLE_NAME, now)));
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw writeFailure('the PRESENCE write', clientId, error);
      if (attempt >= MAX_SUBSCRIPTION_WRITE_ATTEMPTS) {
        throw new PresenceWriteError(`the PRESENCE item of ${clientId} changed under each of ${attempt} subscription writes`, { cause: error });
      }
      logger.debug('PRESENCE item changed since it was read; reading it again', { clientId, attempt });
      await sleep(conflictBackoff(attempt));
      continue;
    }
    logger.info('presence recorded', { clientId, state, sessionIdentifier, eventTimestamp: timestamp });
    return { clientId, state, applied: true };
  }
};

const parseEvent = (event: unknown): PresenceEvent | { ignored: z.infer<typeof ConnectFailedEventSchema> } => {
  const connectFailed = ConnectFailedEventSchema.safeParse(event);
  if (connectFailed.success) return { ignored: connectFailed.data };
  const parsed = PresenceEventSchema.safeParse(event);
  if (!parsed.success) {
    const { field, message } = describeZodError(parsed.error);
    throw new InvalidPresenceEventError(message, field);
  }
  return parsed.data;
};

const recordPresence = async (event: unknown): Promise<RecordPresenceOutput> => {
  const parsed = parseEvent(event);
  if ('ignored' in parsed) {
    logger.info('connect_failed event ignored: a refused connection changes no presence', { clientId: parsed.ignored.clientId });
    return { clientId: parsed.ignored.clientId, state: 'connect_failed', applied: false };
  }
  const now = new Date();
  const { clientId, eventType: state, timestamp } = parsed;
  if (timestamp > latestPlausibleTimestamp(now)) {
    const reason = REFUSAL_REASONS.timestampAheadOfClock;
    logger.warn(`lifecycle event refused: ${reason}`, { clientId, state, eventTimestamp: timestamp, now: now.getTime(), maxClockSkewMs: MAX_CLOCK_SKEW_MS, reason });
    return { clientId, state, applied: false, reason };
  }
  const subscription = isSubscriptionEvent(parsed);
  if (subscription && !parsed.topics.includes(pushTopicOf(clientId))) {
    const reason = REFUSAL_REASONS.notThePushTopic;
    logger.info(`subscription event ignored: ${reason}`, { clientId, state, topics: parsed.topics, reason });
    return { clientId, state, applied: false, reason };
  }
  // Last of the checks: the others cost no read.
  if (state !== 'disconnected' && !(await isRegistered(clientId))) {
    const reason = REFUSAL_REASONS.unregisteredClientId;
    logger.warn(`lifecycle event ignored: ${reason}`, { clientId, state, eventTimestamp: timestamp, reason });
    return { clientId, state, applied: false, reason };
  }
  return subscription ? recordSubscription(parsed, now) : recordConnection(parsed, now);
};

/** One count per event: recorded, stale (a newer event was already there) or ignored (with its reason). */
const countOutcome = (output: RecordPresenceOutput): void => {
  if (output.applied) {
    metrics.addMetric(METRIC_NAMES.presenceRecorded, MetricUnit.Count, 1);
  } else if (output.reason === undefined && output.state !== 'connect_failed') {
    metrics.addMetric(METRIC_NAMES.stalePresenceEvents, MetricUnit.Count, 1);
  } else {
    metrics.addDimension('reason', output.reason ?? 'connect-failed');
    metrics.addMetric(METRIC_NAMES.presenceEventsIgnored, MetricUnit.Count, 1);
  }
};

// Lifecycle events hold ids and addresses, no customer text and no credentials.
export const handler = instrument(async (event: unknown): Promise<RecordPresenceOutput> => {
  const output = await recordPresence(event);
  countOutcome(output);
  return output;
}, { logEventWithExecutionData: true });
