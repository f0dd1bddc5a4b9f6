import { BatchGetItemCommand, DynamoDBClient, type BatchGetItemCommandOutput, type KeysAndAttributes } from '@aws-sdk/client-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { DeviceSchema, type DeviceWithPresence } from '../../contracts/envelope';
import { PRESENCE_TABLE } from '../../contracts/tables';
import { InvalidTaskInputError, PresenceUnavailableError } from '../shared/errors';
import { readEnv } from '../shared/env';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';
import { isOnline } from '../shared/presence';
import { describeZodError } from '../shared/validation';

/**
 * CheckPresence: whether each device of a page can take a push right now, read from the PRESENCE
 * table that record-presence keeps from the AWS IoT lifecycle events: online when its latest
 * connection is open and that connection is subscribed to its push topic (tasks/shared/presence.ts).
 * No item means the device never connected (or its record expired): offline.
 */

/** BatchGetItem takes at most 100 keys per call. */
export const BATCH_GET_MAX_KEYS = 100;
/** Attempts per batch, the first included, before unprocessed keys make the lookup fail. */
export const MAX_BATCH_ATTEMPTS = 4;
const BACKOFF_BASE_MS = 50;

const env = readEnv({ PRESENCE_TABLE_NAME: z.string().min(1) });
const { logger, metrics, tracer, instrument } = observability('check-presence');
const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));

export const CheckPresenceInputSchema = z.object({ devices: z.array(DeviceSchema) });
export type CheckPresenceInput = z.infer<typeof CheckPresenceInputSchema>;

export interface CheckPresenceOutput {
  devices: DeviceWithPresence[];
  onlineCount: number;
}

/** `state` is a DynamoDB reserved word, so every attribute goes through a name placeholder. */
const PROJECTION: Pick<KeysAndAttributes, 'ProjectionExpression' | 'ExpressionAttributeNames'> = {
  ProjectionExpression: '#clientId, #state, #sessionIdentifier, #subscriptions',
  ExpressionAttributeNames: { '#clientId': PRESENCE_TABLE.partitionKey, '#state': 'state', '#sessionIdentifier': 'sessionIdentifier', '#subscriptions': 'subscriptions' },
};

const chunk = <T>(items: readonly T[], size: number): T[][] => {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
};

/** Full jitter: concurrent executions that were throttled together do not retry together. */
const backoff = (attempt: number): number => Math.random() * BACKOFF_BASE_MS * 2 ** (attempt - 1);

const readPresence = async (clientIds: readonly string[], online: Map<string, boolean>): Promise<void> => {
  let keys: KeysAndAttributes['Keys'] = clientIds.map((clientId) => ({ [PRESENCE_TABLE.partitionKey]: { S: clientId } }));
  for (let attempt = 1; ; attempt += 1) {
    let output: BatchGetItemCommandOutput;
    try {
      output = await dynamodb.send(new BatchGetItemCommand({ RequestItems: { [env.PRESENCE_TABLE_NAME]: { Keys: keys, ...PROJECTION } } }));
    } catch (error) {
      throw new PresenceUnavailableError(`the PRESENCE table could not be read: ${(error as Error).name}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    for (const item of output.Responses?.[env.PRESENCE_TABLE_NAME] ?? []) {
      const clientId = item[PRESENCE_TABLE.partitionKey]?.S;
      if (clientId !== undefined) online.set(clientId, isOnline(item));
    }
    const unprocessed = output.UnprocessedKeys?.[env.PRESENCE_TABLE_NAME]?.Keys ?? [];
    if (unprocessed.length === 0) return;
    if (attempt >= MAX_BATCH_ATTEMPTS) {
      throw new PresenceUnavailableError(`${unprocessed.length} PRESENCE keys were still unprocessed after ${attempt} attempts`);
    }
    logger.debug('retrying unprocessed PRESENCE keys', { unprocessed: unprocessed.length, attempt });
    keys = unprocessed;
    await sleep(backoff(attempt));
  }
};

export const handler = instrument(async (event: unknown): Promise<CheckPresenceOutput> => {
  const input = CheckPresenceInputSchema.safeParse(event);
  if (!input.success) {
    throw new InvalidTaskInputError(`expected { devices: [{ agentId, clientId }] }: ${describeZodError(input.error).message}`);
  }
  const { devices } = input.data;
  // DynamoDB rejects a BatchGetItem that names the same key twice.
  const clientIds = [...new Set(devices.map((device) => device.clientId))];
  const online = new Map<string, boolean>();
  await Promise.all(chunk(clientIds, BATCH_GET_MAX_KEYS).map((ids) => readPresence(ids, online)));

  const withPresence = devices.map((device) => ({ ...device, online: online.get(device.clientId) === true }));
  const onlineCount = withPresence.filter((device) => device.online).length;
  logger.info('presence checked', { devices: devices.length, onlineCount });
  metrics.addMetric(METRIC_NAMES.devicesOnline, MetricUnit.Count, onlineCount);
  metrics.addMetric(METRIC_NAMES.devicesOffline, MetricUnit.Count, devices.length - onlineCount);
  return { devices: withPresence, onlineCount };
}, { logEventWithExecutionData: true });
