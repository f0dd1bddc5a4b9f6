import { ExecuteStatementCommand, type RDSDataClient, type SqlParameter } from '@aws-sdk/client-rds-data';

/** What the Lambdas that reach the recipients database share about the RDS Data API. */

const TRANSIENT_ERROR_NAMES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'DatabaseResumingException',
  'DatabaseUnavailableException',
  'ServiceUnavailableError',
  'StatementTimeoutException',
  'InternalServerErrorException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

const NETWORK_ERROR_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/**
 * Errors worth the state machine's backoff-and-retry: throttling, Aurora resuming or failing
 * over, timeouts and dropped connections. Anything else (bad SQL, wrong ARN, missing permission)
 * would fail the same way again and propagates unchanged.
 */
export const isTransientDataApiError = (error: unknown): boolean => {
  if (!(error instanceof Error)) return false;
  if (TRANSIENT_ERROR_NAMES.has(error.name)) return true;
  const { code, $retryable } = error as { code?: unknown; $retryable?: unknown };
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true;
  if ($retryable !== undefined && $retryable !== null && $retryable !== false) return true;
  // The Data API reports a connection it lost to the cluster (e.g. during a failover) this way.
  return /Communications link failure/i.test(error.message);
};

/** Where a statement runs: the cluster, the secret the Data API signs in with, the database. */
export interface DataApiTarget {
  readonly resourceArn: string;
  readonly secretArn: string;
  readonly database: string;
}

export const textParam = (name: string, value: string | null | undefined): SqlParameter =>
  value === null || value === undefined ? { name, value: { isNull: true } } : { name, value: { stringValue: value } };

export const longParam = (name: string, value: number): SqlParameter => ({ name, value: { longValue: value } });

/**
 * Runs one statement with named parameters and returns its rows (`formatRecordsAs: JSON`, so
 * columns come back by name; an absent `formattedRecords`, as for DDL, means no rows).
 */
export const runStatement = async <Row = Record<string, unknown>>(
  client: RDSDataClient,
  target: DataApiTarget,
  sql: string,
  parameters: SqlParameter[] = [],
): Promise<Row[]> => {
  const { formattedRecords } = await client.send(
    new ExecuteStatementCommand({ ...target, sql, parameters, formatRecordsAs: 'JSON' }),
  );
  return JSON.parse(formattedRecords ?? '[]') as Row[];
};
