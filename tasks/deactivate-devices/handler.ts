import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { z } from 'zod';
import { AGENT_QUERIES } from '../../sql/agent-queries';
import { RecipientsUnavailableError } from '../shared/errors';
import { isTransientDataApiError, longParam, runStatement } from '../shared/data-api';
import { readEnv } from '../shared/env';
import { createLogger } from '../shared/logger';

/**
 * DeactivateDevices: the daily device lifecycle sweep. Devices not seen (registered, or inbox
 * drained) for STALE_DEVICE_DAYS days are deactivated, so the fan-out stops sending to their
 * inboxes; their agents see them as inactive in the device list and can register again. In batches
 * of BATCH_LIMIT until a batch comes back short. A transient Data API error (Aurora resuming) fails
 * the invocation with RecipientsUnavailableError, and the schedule's retry policy runs it again:
 * the sweep is idempotent.
 */

const env = readEnv({
  DB_CLUSTER_ARN: z.string().min(1),
  DB_SECRET_ARN: z.string().min(1),
  DB_NAME: z.string().min(1),
  STALE_DEVICE_DAYS: z.coerce.number().int().min(1).max(3650),
  BATCH_LIMIT: z.coerce.number().int().min(1).max(1000).default(500),
});

const logger = createLogger('deactivate-devices');
const rdsData = new RDSDataClient({});
const database = { resourceArn: env.DB_CLUSTER_ARN, secretArn: env.DB_SECRET_ARN, database: env.DB_NAME };

/** A bound on the batches of one run, so a bug can never loop until the timeout. */
const MAX_BATCHES = 200;

export interface DeactivateDevicesOutput {
  deactivated: number;
  batches: number;
}

export const handler = async (): Promise<DeactivateDevicesOutput> => {
  let deactivated = 0;
  let batches = 0;
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
    if (rows.length < env.BATCH_LIMIT) break;
  }
  logger.info('stale-device sweep done', { deactivated, batches, staleDays: env.STALE_DEVICE_DAYS });
  return { deactivated, batches };
};
