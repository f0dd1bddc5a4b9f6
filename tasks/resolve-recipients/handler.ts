import { ExecuteStatementCommand, RDSDataClient, type SqlParameter } from '@aws-sdk/client-rds-data';
import { z } from 'zod';
import { RECIPIENT_QUERIES } from '../../sql/queries';
import { AudienceSchema, SQS_QUEUE_NAME_MAX, clientIdProblem, type Audience, type Device } from '../shared/envelope';
import { InvalidTaskInputError, RecipientsUnavailableError } from '../shared/errors';
import { readEnv } from '../shared/env';
import { createLogger } from '../shared/logger';
import { isTransientDataApiError } from '../shared/data-api';
import { describeZodError } from '../shared/validation';
import { CursorSchema, decodeCursor, encodeCursor } from './cursor';

export { isTransientDataApiError };

/**
 * ResolveRecipients: one page of the devices concerned with a message, from the per-topic SQL
 * over the Aurora Data API, paged by keyset on (agent_id, client_id).
 */

/**
 * Both `$.page` and `$.presence` hold a whole page in the execution state (256 KiB at most), at
 * roughly 100 bytes per device; 500 keeps a page well inside that next to the envelope.
 */
export const MAX_PAGE_SIZE = 500;

const env = readEnv({
  DB_CLUSTER_ARN: z.string().min(1),
  DB_SECRET_ARN: z.string().min(1),
  DB_NAME: z.string().min(1),
  PAGE_SIZE: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(100),
  INBOX_QUEUE_NAME_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'must be a valid SQS queue name part')
    .max(SQS_QUEUE_NAME_MAX - '.fifo'.length - 1, 'leaves no room for a client id in an 80-character queue name'),
});

const logger = createLogger('resolve-recipients');
const rdsData = new RDSDataClient({});

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

const RowsSchema = z.array(z.object({ agent_id: z.string().min(1), client_id: z.string().min(1) }));

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
export const recipientsStatement = (audience: Audience, after: Device | null, limit: number): { sql: string; parameters: SqlParameter[] } => {
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

const fetchRows = async (audience: Audience, after: Device | null, limit: number): Promise<Device[]> => {
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
  // The Data API sends "[]" for no rows; an absent field means the same.
  const rows = RowsSchema.parse(JSON.parse(formattedRecords ?? '[]'));
  return rows.map((row) => ({ agentId: row.agent_id, clientId: row.client_id }));
};

const usable = (device: Device): boolean => {
  const problem = clientIdProblem(device.clientId, env.INBOX_QUEUE_NAME_PREFIX);
  if (problem === undefined) return true;
  logger.warn('device skipped: its client id cannot be a push topic segment or an inbox queue name', {
    agentId: device.agentId,
    clientId: device.clientId,
    problem,
  });
  return false;
};

export const handler = async (event: unknown): Promise<ResolveRecipientsOutput> => {
  const input = ResolveRecipientsInputSchema.safeParse(event);
  if (!input.success) {
    const { message } = describeZodError(input.error);
    throw new InvalidTaskInputError(`expected { audience, cursor }: ${message}`);
  }
  const { audience, cursor } = input.data;
  let after = cursor === null ? null : decodeCursor(cursor);

  // One extra row tells whether another page exists without a second query.
  for (;;) {
    const rows = await fetchRows(audience, after, env.PAGE_SIZE + 1);
    const hasMore = rows.length > env.PAGE_SIZE;
    const page = rows.slice(0, env.PAGE_SIZE);
    const devices = page.filter(usable);
    const last = page.at(-1);
    // The workflow reads count 0 as "audience done", so a page whose every id was skipped must
    // not end the paging: keep reading until a usable device or the end of the audience.
    if (devices.length > 0 || !hasMore || last === undefined) {
      const nextCursor = hasMore && last !== undefined ? encodeCursor(last) : null;
      logger.info('recipients page resolved', { topic: audience.topic, count: devices.length, skipped: page.length - devices.length, more: nextCursor !== null });
      return { devices, count: devices.length, nextCursor };
    }
    after = last;
  }
};
