import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { z } from 'zod';
import { AGENT_QUERIES } from '../../sql/agent-queries';
import { RecipientsUnavailableError } from '../shared/errors';
import { isTransientDataApiError, longParam, runStatement } from '../shared/data-api';
import { registryDelete } from '../shared/device-registry';
import { readEnv } from '../shared/env';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';

/**
 * DeactivateDevices: the daily device lifecycle sweep. Devices not seen (registered, or inbox
 * drained) for STALE_DEVICE_DAYS days are deactivated, so the fan-out stops sending to their
 * inboxes; their agents see them as inactive in the device list and can register again. In batches
 * of BATCH_LIMIT until a batch comes back short. A transient Data API error (Aurora resuming) fails
 * the invocation with RecipientsUnavailableError, and the schedule's retry policy runs it again:
 * the sweep is idempotent.
 *
 * The device registry items of the deactivated devices are deleted too (one DeleteItem each: the
 * role may delete registry items and nothing else, which BatchWriteItem, also a put, would not
 * allow), so record-presence stops recording them. A deactivated device is never reactivated, so a
 * later run will not return it again: a delete that still fails after the SDK's retries is logged
 * (ERROR) with its client id, the other batches go on, and the invocation then fails with
 * DeviceRegistryCleanupError naming them all, so the failure shows in the function's Errors metric
 * (the schedule's retry finds nothing left to deactivate and succeeds). Such a leftover item only
 * lets presence be recorded for a device no notification goes to; unregister deletes it.
 */

const env = readEnv({
  DB_CLUSTER_ARN: z.string().min(1),
  DB_SECRET_ARN: z.string().min(1),
  DB_NAME: z.string().min(1),
  DEVICE_REGISTRY_TABLE_NAME: z.string().min(1),
  STALE_DEVICE_DAYS: z.coerce.number().int().min(1).max(3650),
  BATCH_LIMIT: z.coerce.number().int().min(1).max(1000).default(500),
});

const { logger, metrics, tracer, instrument } = observability('deactivate-devices');
const rdsData = tracer.captureAWSv3Client(new RDSDataClient({}));
const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const database = { resourceArn: env.DB_CLUSTER_ARN, secretArn: env.DB_SECRET_ARN, database: env.DB_NAME };

/** A bound on the batches of one run, so a bug can never loop until the timeout. */
const MAX_BATCHES = 200;
/** Registry deletes in flight at once: a batch of 500 takes a few seconds, far below the table's on-demand limits. */
const REGISTRY_DELETE_CONCURRENCY = 10;

/** Registry items of deactivated devices that could not be deleted (each logged with its error). */
export class DeviceRegistryCleanupError extends Error {
  constructor(public readonly clientIds: readonly string[]) {
    super(`the device registry items of ${clientIds.length} deactivated devices could not be deleted: ${clientIds.join(', ')}`);
    this.name = 'DeviceRegistryCleanupError';
  }
}

/** The client ids whose registry item could not be deleted. */
const deleteRegistryItems = async (clientIds: readonly string[]): Promise<string[]> => {
  const failed: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < clientIds.length) {
      const clientId = clientIds[next];
      next += 1;
      try {
        await dynamodb.send(new DeleteItemCommand(registryDelete(clientId, env.DEVICE_REGISTRY_TABLE_NAME)));
      } catch (error) {
        logger.error('device registry item of a deactivated device not deleted', { clientId, error });
        failed.push(clientId);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(REGISTRY_DELETE_CONCURRENCY, clientIds.length) }, worker));
  return failed;
};

export interface DeactivateDevicesOutput {
  deactivated: number;
  batches: number;
}

// The event is the schedule's (no customer data), logged with execution data on.
export const handler = instrument(async (): Promise<DeactivateDevicesOutput> => {
  let deactivated = 0;
  let batches = 0;
  const registryLeft: string[] = [];
  while (batches < MAX_BATCHES) {
    let rows: { client_id: string; agent_id: string }[];
    try {
      rows = await runStatement(rdsData, database, AGENT_QUERIES.devicesDeactivateStale.sql, [
        longParam('stale_days', env.STALE_DEVICE_DAYS),
        longParam('batch_limit', env.BATCH_LIMIT),
      ]);
    } catch (error) {
      if (!isTransientDataApiError(error)) throw error;
      throw new RecipientsUnavailableError(`stale-device sweep: ${(error as Error).name}; the schedule retries`, { cause: error });
    }
    batches += 1;
    deactivated += rows.length;
    for (const row of rows) logger.info('device deactivated: not seen recently', { clientId: row.client_id, agentId: row.agent_id, staleDays: env.STALE_DEVICE_DAYS });
    registryLeft.push(...(await deleteRegistryItems(rows.map((row) => row.client_id))));
    if (rows.length < env.BATCH_LIMIT) break;
  }
  logger.info('stale-device sweep done', { deactivated, batches, staleDays: env.STALE_DEVICE_DAYS, registryItemsLeft: registryLeft.length });
  metrics.addMetric(METRIC_NAMES.devicesDeactivated, MetricUnit.Count, deactivated);
  metrics.addMetric(METRIC_NAMES.registryItemsLeft, MetricUnit.Count, registryLeft.length);
  if (registryLeft.length > 0) throw new DeviceRegistryCleanupError(registryLeft);
  return { deactivated, batches };
}, { logEventWithExecutionData: true });
