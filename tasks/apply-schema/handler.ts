import { ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { z } from 'zod';
import { SCHEMA_SQL, schemaStatements } from '../../sql/schema';
import { RecipientsUnavailableError } from '../shared/errors';
import { isTransientDataApiError } from '../shared/data-api';
import { readEnv } from '../shared/env';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';

/**
 * ApplySchema: the onEvent handler of the recipients-schema custom resource (CDK Provider
 * framework). On Create and Update it runs every statement of sql/schema.sql through the Data API,
 * one per call, in order; every statement is idempotent (IF NOT EXISTS), so running it on a
 * database that already has the schema changes nothing. A paused Aurora Serverless v2 answers
 * DatabaseResumingException until it has resumed (up to about a minute): transient errors are
 * retried with backoff until MAX_WAIT_SECONDS have passed. Delete leaves the database as it is
 * (it holds agents and devices, not this stack's data).
 */

const env = readEnv({
  DB_CLUSTER_ARN: z.string().min(1),
  DB_SECRET_ARN: z.string().min(1),
  DB_NAME: z.string().min(1),
  /** Backoff before the first retry; doubles up to 30 s. */
  RETRY_BASE_MS: z.coerce.number().int().min(1).default(2000),
  /** How long to keep retrying transient errors; the function's timeout is longer. */
  MAX_WAIT_SECONDS: z.coerce.number().int().min(1).max(840).default(600),
});

const { logger, metrics, tracer, instrument } = observability('apply-schema');
const rdsData = tracer.captureAWSv3Client(new RDSDataClient({}));

export const PHYSICAL_RESOURCE_ID = 'recipients-schema';

export interface ApplySchemaResult {
  PhysicalResourceId: string;
  Data?: { statements: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const execute = async (sql: string, index: number, deadline: number): Promise<void> => {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await rdsData.send(new ExecuteStatementCommand({ resourceArn: env.DB_CLUSTER_ARN, secretArn: env.DB_SECRET_ARN, database: env.DB_NAME, sql }));
      return;
    } catch (error) {
      if (!isTransientDataApiError(error)) throw error;
      const wait = Math.min(env.RETRY_BASE_MS * 2 ** attempt, 30_000);
      if (Date.now() + wait > deadline) {
        throw new RecipientsUnavailableError(`statement ${index + 1} still failing after ${env.MAX_WAIT_SECONDS} s: ${(error as Error).name}`, { cause: error });
      }
      logger.info('database not ready; retrying', { statement: index + 1, attempt: attempt + 1, waitMs: wait, error });
      await sleep(wait);
    }
  }
};

// The event holds a presigned response URL (a credential): never logged.
export const handler = instrument(async (event: CloudFormationCustomResourceEvent): Promise<ApplySchemaResult> => {
  if (event.RequestType === 'Delete') {
    logger.info('schema left in place on delete');
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const statements = schemaStatements(SCHEMA_SQL);
  const deadline = Date.now() + env.MAX_WAIT_SECONDS * 1000;
  for (const [index, sql] of statements.entries()) await execute(sql, index, deadline);
  logger.info('schema applied', { requestType: event.RequestType, statements: statements.length });
  metrics.addMetric(METRIC_NAMES.schemaStatementsApplied, MetricUnit.Count, statements.length);
  return { PhysicalResourceId: PHYSICAL_RESOURCE_ID, Data: { statements: statements.length } };
});
