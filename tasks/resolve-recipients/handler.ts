import { ExecuteStatementCommand, RDSDataClient, type SqlParameter } from '@aws-sdk/client-rds-data';
import { z } from 'zod';
import { RECIPIENT_QUERIES } from '../../sql/queries';
import { AudienceSchema, type Audience, type Device } from '../../contracts/envelope';
import { MAX_INBOX_QUEUE_NAME_PREFIX_LENGTH, QUEUE_NAME_PART_PATTERN, clientIdProblem } from '../../contracts/naming';
import { RECIPIENTS_PAGE_SIZE } from '../../contracts/recipients-page';
import { InvalidTaskInputError, RecipientsUnavailableError } from '../shared/errors';
import { readEnv } from '../shared/env';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';
import { isTransientDataApiError } from '../shared/data-api';
import { describeZodError } from '../shared/validation';
import { CursorSchema, decodeCursor, encodeCursor, type CursorPosition } from './cursor';

export { isTransientDataApiError };

/**
 * ResolveRecipients: one page of the devices concerned with a message, from the per-topic SQL
 * over the Aurora Data API, paged by keyset on (agent_id, client_id).
 */

const env = readEnv({
  DB_CLUSTER_ARN: z.string().min(1),
  DB_SECRET_ARN: z.string().min(1),
  DB_NAME: z.string().min(1),
  PAGE_SIZE: z.coerce.number().int().min(1).max(RECIPIENTS_PAGE_SIZE.max).default(RECIPIENTS_PAGE_SIZE.default),
  INBOX_QUEUE_NAME_PREFIX: z
    .string()
    .regex(QUEUE_NAME_PART_PATTERN, 'must be a valid SQS queue name part')
    .max(MAX_INBOX_QUEUE_NAME_PREFIX_LENGTH, 'leaves no room for a client id in an 80-character queue name'),
});

const { logger, metrics, tracer, instrument } = observability('resolve-recipients');
const rdsData = tracer.captureAWSv3Client(new RDSDataClient({}));

export const ResolveRecipientsInputSchema = z
  .object({
    audience: AudienceSchema,
    cursor: CursorSchema,
  })
  .superRefine(({ audience }, ctx) => {
    if (audience.topic === 'direct' && audience.assignedAgentId === undefined) {
      ctx.addIssue({ code: 'custom', path: ['audience', 'assignedAgentId'], message: 'is required for the direct topic' });
    }
    if (audience.topic === 'team' && audience.teamId === undefined) {
      ctx.addIssue({ code: 'custom', path: ['audience', 'teamId'], message: 'is required for the team topic' });
    }
  });
export type ResolveRecipientsInput = z.infer<typeof ResolveRecipientsInputSchema>;

export interface ResolveRecipientsOutput {
  devices: Device[];
  count: number;
  /** Where the next page starts; null when this page is the last one. */
  nextCursor: string | null;
}

/** The Data API answered something that is not the rows of a recipients query (wrong statement, wrong database). */
export class UnexpectedRecipientsResultError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnexpectedRecipientsResultError';
  }
}

/** The Data API's JSON records: one object per row, every column a key (NULL as null). */
const RecordsSchema = z.array(z.record(z.string(), z.unknown()));
const DeviceRowSchema = z.object({ agent_id: z.string().min(1), client_id: z.string().min(1) });
/** How much of a malformed row's values goes into the log. */
const LOGGED_VALUE_CHARS = 200;

/** One row of a page: the device it names, or why it names none; and where the next page starts after it. */
type Row = { device: Device; position: CursorPosition } | { malformed: Record<string, unknown>; problem: string; position: CursorPosition | null };

const loggable = (value: unknown): unknown => (typeof value === 'string' ? value.slice(0, LOGGED_VALUE_CHARS) : value === undefined ? null : typeof value);

/**
 * A row whose values are not a device is skipped (and logged), never an error: a database without
 * the schema's CHECK can hold an empty client_id, and one bad row must not cost the rest of the
 * audience its notifications. Only records without the query's columns fail the call.
 */
const rowOf = (record: Record<string, unknown>, index: number): Row => {
  if (!('agent_id' in record) || !('client_id' in record)) {
    throw new UnexpectedRecipientsResultError(`record ${index} has no agent_id and client_id columns: the statement is not a recipients query`);
  }
  const parsed = DeviceRowSchema.safeParse(record);
  if (parsed.success) {
    const device = { agentId: parsed.data.agent_id, clientId: parsed.data.client_id };
    return { device, position: device };
  }
  const { agent_id: agentId, client_id: clientId } = record;
  const position = typeof agentId === 'string' ? { agentId, clientId: typeof clientId === 'string' ? clientId : null } : null;
  return { malformed: record, problem: describeZodError(parsed.error).message, position };
};

const text = (name: string, value: string | null | undefined): SqlParameter =>
  value === null || value === undefined ? { name, value: { isNull: true } } : { name, value: { stringValue: value } };

const audienceValue = (audience: Audience): string | undefined => {
  switch (audience.topic) {
    case 'direct':
      return audience.assignedAgentId;
    case 'team':
      return audience.teamId;
    case 'sender':
      return audience.senderId;
  }
};

/**
 * The statement for one page: the topic's SQL and only named parameters, never values spliced
 * into SQL text. Exported so the SQL tests run exactly what the Lambda sends.
 */
export const recipientsStatement = (audience: Audience, after: CursorPosition | null, limit: number): { sql: string; parameters: SqlParameter[] } => {
  const query = RECIPIENT_QUERIES[audience.topic];
  return {
    sql: query.sql,
    parameters: [
      text('tenant_id', audience.tenantId),
      text(query.audienceParameter, audienceValue(audience)),
      // The sending agent never needs to hear about its own message.
      text('exclude_agent_id', audience.senderType === 'agent' ? audience.senderId : null),
      text('after_agent_id', after?.agentId ?? null),
      text('after_client_id', after?.clientId ?? null),
      { name: 'page_limit', value: { longValue: limit } },
    ],
  };
};

const fetchRows = async (audience: Audience, after: CursorPosition | null, limit: number): Promise<Row[]> => {
  const { sql, parameters } = recipientsStatement(audience, after, limit);
  let formattedRecords: string | undefined;
  try {
    ({ formattedRecords } = await rdsData.send(
      new ExecuteStatementCommand({
        resourceArn: env.DB_CLUSTER_ARN,
        secretArn: env.DB_SECRET_ARN,
        database: env.DB_NAME,
        sql,
        parameters,
        formatRecordsAs: 'JSON',
      }),
    ));
  } catch (error) {
    if (isTransientDataApiError(error)) {
      const name = (error as Error).name;
      logger.warn('recipients database unavailable; the workflow retries', { error, topic: audience.topic });
      throw new RecipientsUnavailableError(`recipients query failed transiently: ${name}: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  }
  let records: unknown;
  try {
    // The Data API sends "[]" for no rows; an absent field means the same.
    records = JSON.parse(formattedRecords ?? '[]');
  } catch (error) {
    throw new UnexpectedRecipientsResultError(`formattedRecords is not JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = RecordsSchema.safeParse(records);
  if (!parsed.success) {
    throw new UnexpectedRecipientsResultError(`formattedRecords is not an array of row objects: ${describeZodError(parsed.error).message}`);
  }
  return parsed.data.map(rowOf);
};

const usable = (row: Row): row is Extract<Row, { device: Device }> => {
  if (!('device' in row)) {
    logger.warn('device skipped: the recipients row is not an (agent_id, client_id) of text', {
      agentId: loggable(row.malformed.agent_id),
      clientId: loggable(row.malformed.client_id),
      problem: row.problem,
    });
    return false;
  }
  const problem = clientIdProblem(row.device.clientId, env.INBOX_QUEUE_NAME_PREFIX);
  if (problem === undefined) return true;
  logger.warn('device skipped: its client id cannot be a push topic segment or an inbox queue name', {
    agentId: row.device.agentId,
    clientId: row.device.clientId,
    problem,
  });
  return false;
};

export const handler = instrument(async (event: unknown): Promise<ResolveRecipientsOutput> => {
  const input = ResolveRecipientsInputSchema.safeParse(event);
  if (!input.success) {
    const { message } = describeZodError(input.error);
    throw new InvalidTaskInputError(`expected { audience, cursor }: ${message}`);
  }
  const { audience, cursor } = input.data;
  let after = cursor === null ? null : decodeCursor(cursor);
  let skipped = 0;

  // One extra row tells whether another page exists without a second query.
  for (;;) {
    const rows = await fetchRows(audience, after, env.PAGE_SIZE + 1);
    const hasMore = rows.length > env.PAGE_SIZE;
    const page = rows.slice(0, env.PAGE_SIZE);
    const devices = page.filter(usable).map((row) => row.device);
    skipped += page.length - devices.length;
    const last = page.at(-1)?.position;
    // Rows sort NULLS LAST: after one without a text agent_id, no row can name a device.
    if (hasMore && last === null) {
      logger.warn('audience ends at a row without an agent_id: no keyset position follows it', { topic: audience.topic, count: devices.length });
    }
    // The workflow reads count 0 as "audience done", so a page whose every id was skipped must
    // not end the paging: keep reading until a usable device or the end of the audience.
    if (devices.length > 0 || !hasMore || last === undefined || last === null) {
      const nextCursor = hasMore && last !== undefined && last !== null ? encodeCursor(last) : null;
      logger.info('recipients page resolved', { topic: audience.topic, count: devices.length, skipped, more: nextCursor !== null });
      metrics.addMetric(METRIC_NAMES.devicesResolved, MetricUnit.Count, devices.length);
      metrics.addMetric(METRIC_NAMES.devicesSkipped, MetricUnit.Count, skipped);
      return { devices, count: devices.length, nextCursor };
    }
    after = last;
  }
}, { logEventWithExecutionData: true });
