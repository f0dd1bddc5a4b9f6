import { randomBytes } from 'node:crypto';
import { ConditionalCheckFailedException, DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { RDSDataClient, type SqlParameter } from '@aws-sdk/client-rds-data';
import { DeleteMessageBatchCommand, DeleteQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { inboxQueueName } from '../../contracts/naming';
import { pushTopicOf } from '../../contracts/push-topic';
import { PRESENCE_TABLE } from '../../contracts/tables';
import { AGENT_QUERIES } from '../../sql/agent-queries';
import {
  AckInboxRequestSchema,
  ClaimRequestSchema,
  ClientIdPathSchema,
  INBOX_BATCH_MAX,
  INBOX_VISIBILITY_SECONDS,
  INBOX_WAIT_SECONDS,
  MAX_ACTIVE_DEVICES_PER_AGENT,
  RegisterDeviceRequestSchema,
  isClientIdOf,
  issueClientId,
  routeKeyOf,
  type AckInboxResponse,
  type AgentApiRoute,
  type ApiError,
  type ClaimResponse,
  type DeviceView,
  type ListDevicesResponse,
  type ReadInboxResponse,
  type RegisterDeviceResponse,
} from '../../contracts/agent-access';
import { InvalidAgentTokenError, createAgentTokenVerifier } from '../shared/agent-token';
import { isTransientDataApiError, longParam, runStatement, textParam } from '../shared/data-api';
import { registryDelete, registryPut } from '../shared/device-registry';
import { readEnv } from '../shared/env';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';
import { describeZodError } from '../shared/validation';

/**
 * The agent API (API Gateway HTTP API, JWT authorizer; docs/access.md): an agent's devices, the inbox
 * of each of them, and claims. Every request:
 * 1. verifies the bearer token again (the same verifier as the IoT authorizer, so both accept the
 *    same tokens; API Gateway has already checked it, this keeps the Lambda safe on its own);
 * 2. requires the token's agent to be an active row of `agents`, whose tenant is the only tenant
 *    this request can touch;
 * 3. for a device route, requires the client id to be one issued to this agent (its owner hash)
 *    and, where the device row matters, that row to be this agent's.
 * Register and unregister also keep the device registry table (tasks/shared/device-registry.ts),
 * the copy of the device list record-presence reads instead of Aurora.
 * Answers are JSON; every 4xx names what was wrong (`{ error, message }`).
 */

const env = readEnv({
  DB_CLUSTER_ARN: z.string().min(1),
  DB_SECRET_ARN: z.string().min(1),
  DB_NAME: z.string().min(1),
  /** `https://sqs.<region>.<suffix>/<account>/<prefix>-inbox-`: the inbox URL is this + clientId + `.fifo`. */
  INBOX_QUEUE_URL_PREFIX: z.url(),
  CONVO_HISTORY_TABLE_NAME: z.string().min(1),
  PRESENCE_TABLE_NAME: z.string().min(1),
  DEVICE_REGISTRY_TABLE_NAME: z.string().min(1),
  TOKEN_ISSUER: z.url(),
  TOKEN_AUDIENCE: z.string().min(1),
  JWKS_URI: z.url(),
  AGENT_ID_CLAIM: z.string().min(1).default('sub'),
});

const { logger, metrics, tracer, instrument } = observability('agent-api');
const rdsData = tracer.captureAWSv3Client(new RDSDataClient({}));
const sqs = tracer.captureAWSv3Client(new SQSClient({}));
const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const verifyToken = createAgentTokenVerifier({
  issuer: env.TOKEN_ISSUER,
  audience: env.TOKEN_AUDIENCE,
  jwksUri: env.JWKS_URI,
  agentIdClaim: env.AGENT_ID_CLAIM,
});
const database = { resourceArn: env.DB_CLUSTER_ARN, secretArn: env.DB_SECRET_ARN, database: env.DB_NAME };

/** A request body larger than this is refused before parsing; every valid body is far smaller. */
export const MAX_BODY_BYTES = 16 * 1024;
const DEVICE_LIST_LIMIT = 100;

/** An answer other than 2xx, with a stable code and a message that names what was wrong. */
export class AgentApiError extends Error {
  constructor(
    public readonly statusCode: number,
    public readonly code: string,
    message: string,
    public readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AgentApiError';
  }
}

interface Caller {
  agentId: string;
  tenantId: string;
}

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

const query = async <Row>(name: keyof typeof AGENT_QUERIES, parameters: SqlParameter[]): Promise<Row[]> => {
  try {
    return await runStatement<Row>(rdsData, database, AGENT_QUERIES[name].sql, parameters);
  } catch (error) {
    if (isTransientDataApiError(error)) {
      logger.warn('recipients database unavailable', { error, statement: name });
      throw new AgentApiError(503, 'RecipientsUnavailable', 'the recipients database is not available (it may be resuming); retry in a few seconds', { 'retry-after': '5' });
    }
    throw error;
  }
};

const bearerToken = (event: APIGatewayProxyEventV2): string | undefined => {
  const header = event.headers?.authorization ?? event.headers?.Authorization;
  const match = header === undefined ? null : /^Bearer (\S+)$/i.exec(header.trim());
  return match?.[1];
};

const authenticate = async (event: APIGatewayProxyEventV2): Promise<Caller> => {
  let agentId: string;
  try {
    ({ agentId } = await verifyToken(bearerToken(event)));
  } catch (error) {
    if (error instanceof InvalidAgentTokenError) {
      throw new AgentApiError(401, 'InvalidToken', `the bearer token was refused: ${error.message}`, { 'www-authenticate': 'Bearer' });
    }
    throw error;
  }
  const [agent] = await query<{ tenant_id: string }>('agentActive', [textParam('agent_id', agentId)]);
  if (agent === undefined) throw new AgentApiError(403, 'AgentNotActive', `agent ${agentId} is not an active agent of this system`);
  return { agentId, tenantId: agent.tenant_id };
};

const parse = <S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> => {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new AgentApiError(400, 'InvalidRequest', `${what}: ${describeZodError(parsed.error).message}`);
  return parsed.data;
};

const bodyOf = (event: APIGatewayProxyEventV2): unknown => {
  if (event.body === undefined || event.body === null || event.body === '') return {};
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(text, 'utf8') > MAX_BODY_BYTES) throw new AgentApiError(413, 'BodyTooLarge', `request body is larger than ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(text);
  } catch {
    throw new AgentApiError(400, 'InvalidRequest', 'request body is not JSON');
  }
};

/** The device of the path, if it is one issued to the caller; 400 for a malformed id, 403 for someone else's. */
const ownDevice = (event: APIGatewayProxyEventV2, caller: Caller): string => {
  const { clientId } = parse(ClientIdPathSchema, event.pathParameters ?? {}, 'path parameter clientId');
  if (!isClientIdOf(clientId, caller.agentId)) {
    throw new AgentApiError(403, 'NotYourDevice', `device ${clientId} is not a device of agent ${caller.agentId}`);
  }
  return clientId;
};

// The URL prefix is the queue URL of the inbox name prefix, so the name's rule applies to the URL as well.
const inboxUrl = (clientId: string): string => inboxQueueName(env.INBOX_QUEUE_URL_PREFIX, clientId);

const isMissingQueue = (error: unknown): boolean =>
  ['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue'].includes((error as { name?: string })?.name ?? '');

interface DeviceRow {
  client_id: string;
  label: string | null;
  active: boolean;
  registered_at: string;
  last_seen_at: string;
}

const viewOf = (row: DeviceRow): DeviceView => ({
  clientId: row.client_id,
  label: row.label,
  active: row.active,
  registeredAt: row.registered_at,
  lastSeenAt: row.last_seen_at,
});

const registerDevice = async (event: APIGatewayProxyEventV2, caller: Caller): Promise<APIGatewayProxyStructuredResultV2> => {
  const request = parse(RegisterDeviceRequestSchema, bodyOf(event), 'request body');
  const clientId = issueClientId(caller.agentId, (n) => randomBytes(n));
  const [row] = await query<DeviceRow>('deviceRegister', [
    textParam('client_id', clientId),
    textParam('agent_id', caller.agentId),
    textParam('label', request.label ?? null),
    longParam('max_active_devices', MAX_ACTIVE_DEVICES_PER_AGENT),
  ]);
  if (row === undefined) {
    throw new AgentApiError(409, 'TooManyDevices', `agent ${caller.agentId} already has ${MAX_ACTIVE_DEVICES_PER_AGENT} active devices; unregister one first`);
  }
  try {
    await dynamodb.send(new PutItemCommand(registryPut({ clientId, agentId: caller.agentId, registeredAt: row.registered_at }, env.DEVICE_REGISTRY_TABLE_NAME)));
  } catch (error) {
    // Without its registry item the device would never be online; the caller never learns its
    // client id, so the row goes too rather than holding one of the agent's device slots.
    logger.error('device registry write failed; removing the new device row', { agentId: caller.agentId, clientId, error });
    await query('deviceDelete', [textParam('client_id', clientId), textParam('agent_id', caller.agentId)]).catch((cleanupError: unknown) =>
      logger.error('device row left without a registry item: the stale-device sweep deactivates it', { agentId: caller.agentId, clientId, error: cleanupError }),
    );
    throw error;
  }
  logger.info('device registered', { agentId: caller.agentId, clientId });
  const body: RegisterDeviceResponse = { ...viewOf(row), notifyTopic: pushTopicOf(clientId) };
  return json(201, body);
};

const listDevices = async (_event: APIGatewayProxyEventV2, caller: Caller): Promise<APIGatewayProxyStructuredResultV2> => {
  const rows = await query<DeviceRow>('devicesList', [textParam('agent_id', caller.agentId), longParam('page_limit', DEVICE_LIST_LIMIT)]);
  const body: ListDevicesResponse = { devices: rows.map(viewOf) };
  return json(200, body);
};

const unregisterDevice = async (event: APIGatewayProxyEventV2, caller: Caller): Promise<APIGatewayProxyStructuredResultV2> => {
  const clientId = ownDevice(event, caller);
  const ids = [textParam('client_id', clientId), textParam('agent_id', caller.agentId)];
  // Deactivated first, so the workflow stops sending (and re-creating the inbox) before the queue
  // goes; every step is idempotent, so a retried unregister finishes what a failed one started.
  const [row] = await query<{ client_id: string }>('deviceDeactivate', ids);
  if (row === undefined) throw new AgentApiError(404, 'DeviceNotFound', `device ${clientId} is not registered`);
  try {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: inboxUrl(clientId) }));
  } catch (error) {
    if (!isMissingQueue(error)) throw error;
  }
  // The registry item before the presence item: once it is gone, record-presence writes no new
  // presence for the device, so the presence delete below is the last word.
  await dynamodb.send(new DeleteItemCommand(registryDelete(clientId, env.DEVICE_REGISTRY_TABLE_NAME)));
  await dynamodb.send(new DeleteItemCommand({ TableName: env.PRESENCE_TABLE_NAME, Key: { [PRESENCE_TABLE.partitionKey]: { S: clientId } } }));
  await query('deviceDelete', ids);
  logger.info('device unregistered', { agentId: caller.agentId, clientId });
  return { statusCode: 204, headers: { 'cache-control': 'no-store' } };
};

const readInbox = async (event: APIGatewayProxyEventV2, caller: Caller): Promise<APIGatewayProxyStructuredResultV2> => {
  const clientId = ownDevice(event, caller);
  const [seen] = await query<{ client_id: string }>('deviceTouch', [textParam('client_id', clientId), textParam('agent_id', caller.agentId)]);
  if (seen === undefined) throw new AgentApiError(404, 'DeviceNotFound', `device ${clientId} is not an active device of agent ${caller.agentId}; register a device`);
  let messages: ReadInboxResponse['messages'] = [];
  try {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: inboxUrl(clientId),
        MaxNumberOfMessages: INBOX_BATCH_MAX,
        WaitTimeSeconds: INBOX_WAIT_SECONDS,
        VisibilityTimeout: INBOX_VISIBILITY_SECONDS,
      }),
    );
    messages = (out.Messages ?? []).map((m) => ({ messageId: m.MessageId ?? '', receiptHandle: m.ReceiptHandle ?? '', body: m.Body ?? '' }));
  } catch (error) {
    // The workflow creates an inbox with the first notification for the device: none yet is empty.
    if (!isMissingQueue(error)) throw error;
  }
  const body: ReadInboxResponse = { messages };
  return json(200, body);
};

const ackInbox = async (event: APIGatewayProxyEventV2, caller: Caller): Promise<APIGatewayProxyStructuredResultV2> => {
  const clientId = ownDevice(event, caller);
  const { receiptHandles } = parse(AckInboxRequestSchema, bodyOf(event), 'request body');
  let body: AckInboxResponse;
  try {
    const out = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: inboxUrl(clientId),
        Entries: receiptHandles.map((receiptHandle, index) => ({ Id: String(index), ReceiptHandle: receiptHandle })),
      }),
    );
    body = {
      deleted: out.Successful?.length ?? 0,
      failed: (out.Failed ?? []).map((f) => ({ receiptHandle: receiptHandles[Number(f.Id)] ?? '', code: f.Code ?? 'Unknown' })),
    };
  } catch (error) {
    if (!isMissingQueue(error)) throw error;
    throw new AgentApiError(404, 'InboxNotFound', `device ${clientId} has no inbox`);
  }
  return json(200, body);
};

const claim = async (event: APIGatewayProxyEventV2, caller: Caller): Promise<APIGatewayProxyStructuredResultV2> => {
  const { conversationId, messageId } = parse(ClaimRequestSchema, bodyOf(event), 'request body');
  const key = { conversationId: { S: conversationId }, messageId: { S: messageId } };
  const handledAt = new Date().toISOString();
  // Missing, or of another tenant: the same answer, so a claim is no oracle for other tenants' ids.
  const notFound = new AgentApiError(404, 'MessageNotFound', 'no such message in your tenant');
  try {
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: env.CONVO_HISTORY_TABLE_NAME,
        Key: key,
        UpdateExpression: 'SET #handledBy = :agentId, #handledAt = :handledAt',
        ConditionExpression: 'attribute_exists(#messageId) AND #tenantId = :tenantId AND attribute_not_exists(#handledBy)',
        ExpressionAttributeNames: { '#messageId': 'messageId', '#tenantId': 'tenantId', '#handledBy': 'handledBy', '#handledAt': 'handledAt' },
        ExpressionAttributeValues: { ':agentId': { S: caller.agentId }, ':handledAt': { S: handledAt }, ':tenantId': { S: caller.tenantId } },
      }),
    );
    logger.info('claim won', { agentId: caller.agentId, conversationId, messageId });
    const body: ClaimResponse = { won: true, handledBy: caller.agentId, handledAt };
    return json(200, body);
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException) && (error as Error)?.name !== 'ConditionalCheckFailedException') throw error;
  }
  // Read only the three attributes the answer may carry (the role may read no others).
  const { Item: item } = await dynamodb.send(
    new GetItemCommand({
      TableName: env.CONVO_HISTORY_TABLE_NAME,
      Key: key,
      ConsistentRead: true,
      ProjectionExpression: '#tenantId, #handledBy, #handledAt',
      ExpressionAttributeNames: { '#tenantId': 'tenantId', '#handledBy': 'handledBy', '#handledAt': 'handledAt' },
    }),
  );
  if (item === undefined || item.tenantId?.S !== caller.tenantId) throw notFound;
  const handledBy = item.handledBy?.S;
  if (handledBy === undefined) {
    // Only if the item appeared between the update and this read: safe to retry.
    throw new AgentApiError(409, 'ClaimConflict', 'the message changed during the claim; retry');
  }
  const previousAt = item.handledAt?.S ?? null;
  const body: ClaimResponse =
    handledBy === caller.agentId
      ? { won: true, handledBy, handledAt: previousAt ?? handledAt, alreadyYours: true }
      : { won: false, handledBy, handledAt: previousAt };
  return json(200, body);
};

const ROUTES: Record<AgentApiRoute, (event: APIGatewayProxyEventV2, caller: Caller) => Promise<APIGatewayProxyStructuredResultV2>> = {
  registerDevice,
  listDevices,
  unregisterDevice,
  readInbox,
  ackInbox,
  claim,
};
const BY_ROUTE_KEY = new Map(Object.entries(ROUTES).map(([route, run]) => [routeKeyOf(route as AgentApiRoute), { route: route as AgentApiRoute, run }]));

/** The `route` dimension of ApiRequests for a route key that is none of the API's. */
export const UNKNOWN_ROUTE = 'unknown';

/** 2xx, 4xx, 5xx: the `statusClass` dimension of ApiRequests. */
export const statusClassOf = (statusCode: number): string => `${Math.floor(statusCode / 100)}xx`;

const respond = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  const route = BY_ROUTE_KEY.get(event.routeKey)?.run;
  try {
    if (route === undefined) throw new AgentApiError(404, 'RouteNotFound', `no route ${event.routeKey}`);
    const caller = await authenticate(event);
    return await route(event, caller);
  } catch (error) {
    if (error instanceof AgentApiError) {
      logger.info('request refused', { routeKey: event.routeKey, status: error.statusCode, code: error.code, reason: error.message });
      const body: ApiError = { error: error.code, message: error.message };
      return json(error.statusCode, body, error.headers);
    }
    logger.error('request failed', { routeKey: event.routeKey, error });
    const body: ApiError = { error: 'InternalError', message: 'the request failed; retry later' };
    return json(500, body);
  }
};

// The event carries the agent's bearer token: it is never logged, whatever the execution-data setting.
export const handler = instrument(async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
  const response = await respond(event);
  metrics.addDimensions({ route: BY_ROUTE_KEY.get(event.routeKey)?.route ?? UNKNOWN_ROUTE, statusClass: statusClassOf(response.statusCode ?? 200) });
  metrics.addMetric(METRIC_NAMES.apiRequests, MetricUnit.Count, 1);
  return response;
});
