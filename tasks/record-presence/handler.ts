import { DynamoDBClient, UpdateItemCommand, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { InvalidPresenceEventError } from '../shared/errors';
import { readEnv } from '../shared/env';
import { createLogger } from '../shared/logger';
import { describeZodError } from '../shared/validation';

/**
 * RecordPresence: keeps the PRESENCE table (`clientId` → `state`) in step with the broker, from
 * the AWS IoT lifecycle events (`$aws/events/presence/connected|disconnected/<clientId>`) an IoT
 * topic rule forwards here.
 *
 * Lifecycle events can arrive out of order and more than once, so a write only lands if its
 * event is newer than the one the item already holds. "Newer" (see `supersedes`):
 *  - `versionNumber` identifies a connection: it grows with each new connection of a client id,
 *    and the connect and disconnect events of one connection share it. Within one connection,
 *    disconnected comes after connected.
 *  - `versionNumber` goes back to 0 after a client has been away for about an hour, and
 *    `timestamp` is only approximate; so versions decide between events close in time, and time
 *    decides between events further apart than REORDER_WINDOW_MS.
 * The case this protects against: a client reconnects (version N+1) before the broker has
 * noticed its old connection died; the old connection's disconnect (version N, often with a
 * later timestamp) arrives last and must not mark the client offline.
 */

/**
 * Longer than the timestamp inaccuracy (AWS documents about ±2 minutes) and the overlap of an old
 * and a new connection of one client id; far shorter than the hour after which versions restart.
 */
export const REORDER_WINDOW_MS = 10 * 60 * 1000;
/** Items of disconnected clients expire (DynamoDB TTL on `expiresAt`): no item also means offline. */
export const DISCONNECTED_TTL_SECONDS = 30 * 24 * 60 * 60;

const env = readEnv({ PRESENCE_TABLE_NAME: z.string().min(1) });
const logger = createLogger('record-presence');
const dynamodb = new DynamoDBClient({});

export const PRESENCE_STATES = ['connected', 'disconnected'] as const;
export type PresenceState = (typeof PRESENCE_STATES)[number];

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

/** Published on the same topic tree the rule listens to; a refused connection changes no presence. */
const ConnectFailedEventSchema = z.object({ clientId: z.string().min(1), eventType: z.literal('connect_failed') });

export interface RecordPresenceOutput {
  clientId: string;
  /** The event's type: the state written when `applied`. */
  state: PresenceState | 'connect_failed';
  /** False when the item already held a newer (or the same) event, or for `connect_failed`. */
  applied: boolean;
}

/** What the PRESENCE item holds about the last event it took. */
export interface StoredPresence {
  state: PresenceState;
  eventTimestamp: number;
  versionNumber: number;
}

/**
 * Whether `event` may overwrite `stored`. The ConditionExpression of `presenceUpdate` is this
 * function written for DynamoDB; the tests hold the two to the same answers.
 */
export const supersedes = (
  stored: StoredPresence | undefined,
  event: Pick<LifecycleEvent, 'eventType' | 'timestamp' | 'versionNumber'>,
  windowMs: number = REORDER_WINDOW_MS,
): boolean => {
  if (stored === undefined) return true;
  if (stored.eventTimestamp < event.timestamp - windowMs) return true;
  if (stored.eventTimestamp > event.timestamp + windowMs) return false;
  if (stored.versionNumber < event.versionNumber) return true;
  return stored.versionNumber === event.versionNumber && stored.state === 'connected' && event.eventType === 'disconnected';
};

/** The conditional UpdateItem for one event (exported so tests can assert it exactly). */
export const presenceUpdate = (event: LifecycleEvent, tableName: string, now: Date): UpdateItemCommandInput => {
  const disconnected = event.eventType === 'disconnected';
  const sameConnection = disconnected ? ' OR (#versionNumber = :versionNumber AND #state = :connected)' : '';
  return {
    TableName: tableName,
    Key: { clientId: { S: event.clientId } },
    UpdateExpression:
      'SET #state = :state, #eventTimestamp = :eventTimestamp, #versionNumber = :versionNumber, #sessionIdentifier = :sessionIdentifier, #updatedAt = :updatedAt' +
      (disconnected ? ', #expiresAt = :expiresAt' : ' REMOVE #expiresAt'),
    ConditionExpression:
      'attribute_not_exists(#clientId)' +
      ' OR #eventTimestamp < :clearlyNewerThan' +
      ` OR (#eventTimestamp <= :notClearlyOlderThan AND (#versionNumber < :versionNumber${sameConnection}))`,
    ExpressionAttributeNames: {
      '#clientId': 'clientId',
      '#state': 'state',
      '#eventTimestamp': 'eventTimestamp',
      '#versionNumber': 'versionNumber',
      '#sessionIdentifier': 'sessionIdentifier',
      '#updatedAt': 'updatedAt',
      '#expiresAt': 'expiresAt',
    },
    ExpressionAttributeValues: {
      ':state': { S: event.eventType },
      ':eventTimestamp': { N: String(event.timestamp) },
      ':versionNumber': { N: String(event.versionNumber) },
      ':sessionIdentifier': { S: event.sessionIdentifier },
      ':updatedAt': { S: now.toISOString() },
      ':clearlyNewerThan': { N: String(event.timestamp - REORDER_WINDOW_MS) },
      ':notClearlyOlderThan': { N: String(event.timestamp + REORDER_WINDOW_MS) },
      ...(disconnected && {
        ':connected': { S: 'connected' },
        ':expiresAt': { N: String(Math.floor(event.timestamp / 1000) + DISCONNECTED_TTL_SECONDS) },
      }),
    },
  };
};

const parseEvent = (event: unknown): LifecycleEvent | { ignored: z.infer<typeof ConnectFailedEventSchema> } => {
  const connectFailed = ConnectFailedEventSchema.safeParse(event);
  if (connectFailed.success) return { ignored: connectFailed.data };
  const parsed = LifecycleEventSchema.safeParse(event);
  if (!parsed.success) {
    const { field, message } = describeZodError(parsed.error);
    throw new InvalidPresenceEventError(message, field);
  }
  return parsed.data;
};

export const handler = async (event: unknown): Promise<RecordPresenceOutput> => {
  const parsed = parseEvent(event);
  if ('ignored' in parsed) {
    logger.info('connect_failed event ignored: a refused connection changes no presence', { clientId: parsed.ignored.clientId });
    return { clientId: parsed.ignored.clientId, state: 'connect_failed', applied: false };
  }
  const { clientId, eventType: state, versionNumber, timestamp } = parsed;
  try {
    await dynamodb.send(new UpdateItemCommand(presenceUpdate(parsed, env.PRESENCE_TABLE_NAME, new Date())));
  } catch (error) {
    // By name: a second copy of the SDK in a bundle would defeat instanceof.
    if (error instanceof Error && error.name === 'ConditionalCheckFailedException') {
      logger.info('stale lifecycle event dropped: the item already holds a newer one', { clientId, state, versionNumber, eventTimestamp: timestamp });
      return { clientId, state, applied: false };
    }
    throw error;
  }
  logger.info('presence recorded', { clientId, state, versionNumber, eventTimestamp: timestamp });
  return { clientId, state, applied: true };
};
