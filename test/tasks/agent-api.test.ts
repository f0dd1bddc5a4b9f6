import { TASK_ENV } from '../support/task-env';
import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand, type DeleteItemCommandInput, type PutItemCommandInput } from '@aws-sdk/client-dynamodb';
import { ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { DeleteMessageBatchCommand, DeleteQueueCommand, QueueDoesNotExist, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { convoHistoryTableInput } from '../../local/emulators/dynamodb';
import { SCHEMA_SQL } from '../../sql/schema';
import { AGENT_API_ROUTES, INBOX_WAIT_SECONDS, MAX_ACTIVE_DEVICES_PER_AGENT, isClientIdOf, issueClientId, type AgentApiRoute } from '../../contracts/agent-access';
import { AUDIENCE, dataApiOnPglite, deviceRegistryTableInput, presenceTableInput, startDynaliteTables, startTestIssuer, type LocalTables, type TestIssuer } from '../support/agent-access';
import { captureLogs, captureMetrics, metricPoints } from '../support/logs';
import { startPglite, type PgliteHandle } from '../support/pglite';

/**
 * The agent API handler with real RS256 tokens from a local JWKS, the recipients database on
 * PGlite through the Data API named-parameter translation, CONVO_HISTORY, PRESENCE and the device
 * registry on dynalite (real conditional updates), and SQS mocked.
 */

const TABLE = 'CONVO_HISTORY_TEST';
const REGISTRY = TASK_ENV.DEVICE_REGISTRY_TABLE_NAME;
const INBOX_URL_PREFIX = 'https://sqs.us-east-1.amazonaws.com/123456789012/convo-notify-inbox-';

const rds = mockClient(RDSDataClient);
const sqs = mockClient(SQSClient);

let issuer: TestIssuer;
let db: PgliteHandle;
let tables: LocalTables;
let handler: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;
const savedEndpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;

interface Call {
  token?: string;
  clientId?: string;
  body?: unknown;
  rawBody?: string;
  authorization?: string;
}

const event = (route: AgentApiRoute, call: Call): APIGatewayProxyEventV2 => {
  const { method, path } = AGENT_API_ROUTES[route];
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path.replace('{clientId}', call.clientId ?? ''),
    rawQueryString: '',
    headers: call.authorization !== undefined ? { authorization: call.authorization } : call.token !== undefined ? { authorization: `Bearer ${call.token}` } : {},
    pathParameters: call.clientId !== undefined ? { clientId: call.clientId } : undefined,
    body: call.rawBody ?? (call.body === undefined ? undefined : JSON.stringify(call.body)),
    isBase64Encoded: false,
    requestContext: {} as APIGatewayProxyEventV2['requestContext'],
  };
};

const send = async (route: AgentApiRoute, call: Call = {}) => {
  const out = await handler(event(route, call));
  return { status: out.statusCode, body: out.body === undefined ? undefined : (JSON.parse(out.body) as Record<string, unknown>), headers: out.headers ?? {} };
};

const tokenOf = (sub: string, claims: Record<string, unknown> = {}) => issuer.sign({ sub, ...claims });

const register = async (agent: string, label?: string): Promise<string> => {
  const out = await send('registerDevice', { token: await tokenOf(agent), body: label === undefined ? {} : { label } });
  expect(out.status).toBe(201);
  return out.body!.clientId as string;
};

const putMessage = (conversationId: string, messageId: string, tenantId: string, extra: Record<string, { S: string }> = {}) =>
  tables.client.send(
    new PutItemCommand({
      TableName: TABLE,
      Item: {
        conversationId: { S: conversationId },
        messageId: { S: messageId },
        tenantId: { S: tenantId },
        body: { S: 'the customer text, which no claim answer may carry' },
        senderId: { S: 'cust-1' },
        ...extra,
      },
    }),
  );

const registryItem = async (clientId: string) =>
  (await tables.client.send(new GetItemCommand({ TableName: REGISTRY, Key: { clientId: { S: clientId } }, ConsistentRead: true }))).Item;

type DynamoDbSend = (this: DynamoDBClient, command: unknown) => Promise<unknown>;
const realDynamoDbSend = DynamoDBClient.prototype.send as unknown as DynamoDbSend;
/**
 * Every DynamoDB command the handler sends, in order, still sent to dynalite; `before` runs first,
 * and `fail` may answer one with an error instead.
 */
const watchDynamoDb = (options: { before?: (command: unknown) => Promise<void>; fail?: (command: unknown) => Error | undefined } = {}): unknown[] => {
  const sent: unknown[] = [];
  jest.spyOn(DynamoDBClient.prototype, 'send').mockImplementation(async function (this: DynamoDBClient, command: unknown) {
    sent.push(command);
    await options.before?.(command);
    const failure = options.fail?.(command);
    if (failure !== undefined) throw failure;
    return realDynamoDbSend.call(this, command);
  } as never);
  return sent;
};
const isRegistryPut = (command: unknown): command is PutItemCommand => command instanceof PutItemCommand && command.input.TableName === REGISTRY;
const registryPuts = (sent: unknown[]): PutItemCommandInput[] => sent.filter(isRegistryPut).map((c) => c.input);
const deletes = (sent: unknown[]): DeleteItemCommandInput[] => sent.filter((c): c is DeleteItemCommand => c instanceof DeleteItemCommand).map((c) => c.input);

const RACE_AGENTS = Array.from({ length: 20 }, (_, i) => `racer-${String(i).padStart(2, '0')}`);

beforeAll(async () => {
  issuer = await startTestIssuer();
  db = await startPglite();
  await db.exec(SCHEMA_SQL);
  await db.exec(`
    INSERT INTO agents (agent_id, tenant_id, active) VALUES
      ('agent-a', 't1', true), ('agent-b', 't1', true), ('agent-off', 't1', false), ('agent-full', 't1', true),
      ('agent-t2', 't2', true);
  `);
  for (const racer of RACE_AGENTS) await db.query('INSERT INTO agents (agent_id, tenant_id, active) VALUES ($1, $2, true)', [racer, 't1']);
  tables = await startDynaliteTables([convoHistoryTableInput(TABLE), presenceTableInput(TASK_ENV.PRESENCE_TABLE_NAME), deviceRegistryTableInput(REGISTRY)]);
  Object.assign(process.env, {
    INBOX_QUEUE_URL_PREFIX: INBOX_URL_PREFIX,
    CONVO_HISTORY_TABLE_NAME: TABLE,
    TOKEN_ISSUER: issuer.issuer,
    TOKEN_AUDIENCE: AUDIENCE,
    JWKS_URI: issuer.jwksUri,
    AWS_ENDPOINT_URL_DYNAMODB: tables.endpoint,
  });
  ({ handler } = await import('../../tasks/agent-api/handler'));
});

afterAll(async () => {
  if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
  else process.env.AWS_ENDPOINT_URL_DYNAMODB = savedEndpoint;
  await tables.close();
  await db.close();
  await issuer.close();
});

beforeEach(() => {
  rds.reset();
  sqs.reset();
  rds.on(ExecuteStatementCommand).callsFake(dataApiOnPglite(db));
  captureLogs();
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('agent-api: tokens', () => {
  const cases: [string, () => Promise<Call>, string][] = [
    ['no Authorization header', async () => ({}), 'no token'],
    ['a header that is not Bearer', async () => ({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }), 'no token'],
    ['an expired token', async () => ({ token: await tokenOf('agent-a', { exp: Math.floor(Date.now() / 1000) - 60 }) }), 'token expired'],
    ['a token for another audience', async () => ({ token: await tokenOf('agent-a', { aud: 'some-other-app' }) }), 'audience / client_id does not match'],
    ['a Cognito-style token for another app client', async () => ({ token: await tokenOf('agent-a', { aud: undefined, client_id: 'other-client' }) }), 'audience / client_id does not match'],
    ['a token of another issuer', async () => ({ token: await tokenOf('agent-a', { iss: 'https://evil.example.com' }) }), 'claim "iss" rejected'],
    ['an alg:none token', async () => ({ token: issuer.unsigned({ sub: 'agent-a' }) }), 'not a compact JWS'],
    ['an HS256 token keyed with the public key', async () => ({ token: await issuer.hs256({ sub: 'agent-a' }) }), 'algorithm not allowed'],
    ['a token signed by a key the issuer does not publish', async () => ({ token: await issuer.signWithForeignKey({ sub: 'agent-a' }) }), 'signature verification failed'],
    ['a token without exp', async () => ({ token: await tokenOf('agent-a', { exp: undefined }) }), 'claim "exp"'],
  ];

  it.each(cases)('refuses %s with 401 naming the reason, before any database or SQS call', async (_name, make, reason) => {
    const out = await send('listDevices', await make());
    expect(out.status).toBe(401);
    expect(out.body).toEqual({ error: 'InvalidToken', message: expect.stringContaining(reason) });
    expect(out.headers['www-authenticate']).toBe('Bearer');
    expect(rds).not.toHaveReceivedAnyCommand();
    expect(sqs).not.toHaveReceivedAnyCommand();
  });

  it('accepts a Cognito access token, which carries client_id instead of aud', async () => {
    const out = await send('listDevices', { token: await tokenOf('agent-a', { aud: undefined, client_id: AUDIENCE, token_use: 'access' }) });
    expect(out.status).toBe(200);
  });

  it('refuses an inactive agent with 403 on every route', async () => {
    const token = await tokenOf('agent-off');
    const clientId = issueClientId('agent-off', () => new Uint8Array(8).fill(7));
    for (const [route, call] of [
      ['registerDevice', { body: {} }],
      ['listDevices', {}],
      ['readInbox', { clientId }],
      ['ackInbox', { clientId, body: { receiptHandles: ['h'] } }],
      ['unregisterDevice', { clientId }],
      ['claim', { body: { conversationId: 'conv-1', messageId: 'msg-1' } }],
    ] as const) {
      const out = await send(route, { token, ...call });
      expect({ route, status: out.status, error: out.body?.error }).toEqual({ route, status: 403, error: 'AgentNotActive' });
    }
    expect(sqs).not.toHaveReceivedAnyCommand();
  });

  it('refuses an agent that is not in the recipients database with 403', async () => {
    const out = await send('listDevices', { token: await tokenOf('nobody-knows-me') });
    expect(out).toMatchObject({ status: 403, body: { error: 'AgentNotActive' } });
  });

  it('answers 503 with retry-after while Aurora resumes', async () => {
    rds.on(ExecuteStatementCommand).rejects(Object.assign(new Error('The Aurora DB instance is resuming'), { name: 'DatabaseResumingException', $metadata: {} }));
    const out = await send('listDevices', { token: await tokenOf('agent-a') });
    expect(out).toMatchObject({ status: 503, body: { error: 'RecipientsUnavailable' }, headers: { 'retry-after': '5' } });
  });

  it('answers 404 naming an unknown route', async () => {
    const out = await handler({ ...event('listDevices', { token: await tokenOf('agent-a') }), routeKey: 'PUT /devices' });
    expect(out.statusCode).toBe(404);
    expect(JSON.parse(out.body!)).toEqual({ error: 'RouteNotFound', message: 'no route PUT /devices' });
  });
});

describe('agent-api: devices', () => {
  it('registers a device under a server-generated client id owned by the caller', async () => {
    const out = await send('registerDevice', { token: await tokenOf('agent-a'), body: { label: 'Amy laptop' } });
    expect(out.status).toBe(201);
    const clientId = out.body!.clientId as string;
    expect(isClientIdOf(clientId, 'agent-a')).toBe(true);
    expect(out.body).toEqual({
      clientId,
      label: 'Amy laptop',
      active: true,
      registeredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      lastSeenAt: expect.stringMatching(/Z$/),
      notifyTopic: `notify/${clientId}`,
    });
    expect(await db.query('SELECT agent_id, active, label FROM devices WHERE client_id = $1', [clientId])).toEqual([{ agent_id: 'agent-a', active: true, label: 'Amy laptop' }]);
  });

  it('writes the device registry item once the devices row exists: exactly the client id, the agent and the registration time', async () => {
    const rowsAtPut: unknown[] = [];
    const sent = watchDynamoDb({
      before: async (command) => {
        if (isRegistryPut(command)) rowsAtPut.push(...(await db.query('SELECT agent_id, active FROM devices WHERE client_id = $1', [command.input.Item?.clientId?.S])));
      },
    });
    const out = await send('registerDevice', { token: await tokenOf('agent-a'), body: { label: 'registry' } });
    expect(out.status).toBe(201);
    const clientId = out.body!.clientId as string;
    const item = { clientId: { S: clientId }, agentId: { S: 'agent-a' }, registeredAt: { S: out.body!.registeredAt as string } };
    expect(registryPuts(sent)).toEqual([{ TableName: REGISTRY, Item: item }]);
    expect(rowsAtPut).toEqual([{ agent_id: 'agent-a', active: true }]);
    expect(await registryItem(clientId)).toEqual(item);
  });

  it('answers 500 and removes the new devices row when the registry write fails, so no device is left that could never be online', async () => {
    const throttled = Object.assign(new Error('Throughput exceeds the current capacity of your table'), { name: 'ProvisionedThroughputExceededException' });
    const sent = watchDynamoDb({ fail: (command) => (isRegistryPut(command) ? throttled : undefined) });
    const out = await send('registerDevice', { token: await tokenOf('agent-b'), body: { label: 'never registered' } });
    expect(out).toMatchObject({ status: 500, body: { error: 'InternalError' } });
    const [put] = registryPuts(sent);
    const clientId = put.Item!.clientId.S!;
    expect(isClientIdOf(clientId, 'agent-b')).toBe(true);
    expect(await db.query('SELECT 1 FROM devices WHERE client_id = $1', [clientId])).toEqual([]);
    expect(await registryItem(clientId)).toBeUndefined();
  });

  it('never lets the caller choose the client id or anything but a label', async () => {
    const out = await send('registerDevice', { token: await tokenOf('agent-a'), body: { clientId: 'my-own-id' } });
    expect(out.status).toBe(400);
    expect(out.body).toEqual({ error: 'InvalidRequest', message: expect.stringContaining('clientId') });
  });

  it.each([
    ['an empty label', { label: '' }, 'label'],
    ['a label with a newline', { label: 'a\nb' }, 'label'],
    ['a label of 65 characters', { label: 'x'.repeat(65) }, 'label'],
  ])('refuses %s with 400 naming the field', async (_name, body, field) => {
    const out = await send('registerDevice', { token: await tokenOf('agent-a'), body });
    expect(out).toMatchObject({ status: 400, body: { error: 'InvalidRequest', message: expect.stringContaining(field) } });
  });

  it('refuses a body that is not JSON with 400', async () => {
    const out = await send('registerDevice', { token: await tokenOf('agent-a'), rawBody: '{not json' });
    expect(out.body).toEqual({ error: 'InvalidRequest', message: 'request body is not JSON' });
  });

  it(`refuses one active device over the limit of ${MAX_ACTIVE_DEVICES_PER_AGENT} with 409`, async () => {
    for (let i = 0; i < MAX_ACTIVE_DEVICES_PER_AGENT; i += 1) await register('agent-full');
    const sent = watchDynamoDb();
    const out = await send('registerDevice', { token: await tokenOf('agent-full'), body: {} });
    expect(out).toMatchObject({ status: 409, body: { error: 'TooManyDevices' } });
    expect(registryPuts(sent)).toEqual([]);
  });

  it("lists the caller's devices and no one else's", async () => {
    const mine = await register('agent-b', 'B phone');
    const out = await send('listDevices', { token: await tokenOf('agent-b') });
    expect(out.status).toBe(200);
    const devices = out.body!.devices as { clientId: string }[];
    expect(devices.map((d) => d.clientId)).toContain(mine);
    expect(devices.every((d) => isClientIdOf(d.clientId, 'agent-b'))).toBe(true);
  });
});

describe('agent-api: device ownership (A = agent-a, B = agent-b)', () => {
  let aDevice: string;
  let bDevice: string;
  beforeAll(async () => {
    captureLogs();
    aDevice = await register('agent-a');
    bDevice = await register('agent-b');
    jest.restoreAllMocks();
  });

  it("drains A's own inbox with a short wait and moves last_seen_at", async () => {
    await db.query("UPDATE devices SET last_seen_at = now() - interval '10 days' WHERE client_id = $1", [aDevice]);
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [{ MessageId: 'm-1', ReceiptHandle: 'rh-1', Body: '{"notificationId":"msg-1#created"}' }] });
    const out = await send('readInbox', { token: await tokenOf('agent-a'), clientId: aDevice });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ messages: [{ messageId: 'm-1', receiptHandle: 'rh-1', body: '{"notificationId":"msg-1#created"}' }] });
    expect(sqs).toHaveReceivedCommandTimes(ReceiveMessageCommand, 1);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0].args[0].input).toEqual({
      QueueUrl: `${INBOX_URL_PREFIX}${aDevice}.fifo`,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: INBOX_WAIT_SECONDS,
      VisibilityTimeout: 60,
    });
    expect(INBOX_WAIT_SECONDS).toBeLessThanOrEqual(5);
    const [row] = await db.query<{ recent: boolean }>("SELECT last_seen_at > now() - interval '1 minute' AS recent FROM devices WHERE client_id = $1", [aDevice]);
    expect(row.recent).toBe(true);
  });

  it('answers an empty inbox when the workflow has not created the queue yet', async () => {
    sqs.on(ReceiveMessageCommand).rejects(new QueueDoesNotExist({ message: 'The specified queue does not exist.', $metadata: {} }));
    const out = await send('readInbox', { token: await tokenOf('agent-a'), clientId: aDevice });
    expect(out).toEqual({ status: 200, body: { messages: [] }, headers: expect.anything() });
  });

  it("acks a batch of A's receipt handles on A's own inbox", async () => {
    sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [{ Id: '0' }], Failed: [{ Id: '1', Code: 'ReceiptHandleIsInvalid', SenderFault: true }] });
    const out = await send('ackInbox', { token: await tokenOf('agent-a'), clientId: aDevice, body: { receiptHandles: ['rh-1', 'rh-from-elsewhere'] } });
    expect(out.body).toEqual({ deleted: 1, failed: [{ receiptHandle: 'rh-from-elsewhere', code: 'ReceiptHandleIsInvalid' }] });
    expect(sqs.commandCalls(DeleteMessageBatchCommand)[0].args[0].input).toEqual({
      QueueUrl: `${INBOX_URL_PREFIX}${aDevice}.fifo`,
      Entries: [
        { Id: '0', ReceiptHandle: 'rh-1' },
        { Id: '1', ReceiptHandle: 'rh-from-elsewhere' },
      ],
    });
  });

  it.each([
    ['no handles', { receiptHandles: [] }],
    ['11 handles', { receiptHandles: Array.from({ length: 11 }, (_, i) => `h${i}`) }],
    ['an unknown field', { receiptHandles: ['h'], queueUrl: 'https://elsewhere' }],
  ])('refuses an ack with %s with 400 and no SQS call', async (_name, body) => {
    const out = await send('ackInbox', { token: await tokenOf('agent-a'), clientId: aDevice, body });
    expect(out).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });
    expect(sqs).not.toHaveReceivedAnyCommand();
  });

  it.each(['readInbox', 'ackInbox', 'unregisterDevice'] as const)("refuses A on B's device with 403 on %s, touching nothing", async (route) => {
    const out = await send(route, { token: await tokenOf('agent-a'), clientId: bDevice, body: route === 'ackInbox' ? { receiptHandles: ['rh'] } : undefined });
    expect(out.status).toBe(403);
    expect(out.body).toEqual({ error: 'NotYourDevice', message: `device ${bDevice} is not a device of agent agent-a` });
    expect(sqs).not.toHaveReceivedAnyCommand();
    expect(await db.query('SELECT active FROM devices WHERE client_id = $1', [bDevice])).toEqual([{ active: true }]);
  });

  it.each([
    ['a +', `${'a'.repeat(16)}-+${'b'.repeat(15)}`],
    ['a #', `${'a'.repeat(16)}-#${'b'.repeat(15)}`],
    ['a /', `${'a'.repeat(16)}-/${'b'.repeat(15)}`],
    ['a space', `${'a'.repeat(16)}- ${'b'.repeat(15)}`],
    ['200 characters', 'a'.repeat(200)],
    ['an MQTT wildcard only', '#'],
  ])('refuses a client id with %s with 400 naming clientId', async (_name, clientId) => {
    const out = await send('readInbox', { token: await tokenOf('agent-a'), clientId });
    expect(out).toMatchObject({ status: 400, body: { error: 'InvalidRequest', message: expect.stringContaining('clientId') } });
    expect(sqs).not.toHaveReceivedAnyCommand();
  });

  it("answers 404 for a well-formed id of A's that was never registered", async () => {
    const out = await send('readInbox', { token: await tokenOf('agent-a'), clientId: issueClientId('agent-a', () => new Uint8Array(8).fill(1)) });
    expect(out).toMatchObject({ status: 404, body: { error: 'DeviceNotFound' } });
    expect(sqs).not.toHaveReceivedAnyCommand();
  });

  it("unregisters A's device: deactivates it, deletes its inbox queue, its registry item and then its presence, then its row", async () => {
    const device = await register('agent-a', 'to remove');
    expect(await registryItem(device)).toBeDefined();
    await tables.client.send(new PutItemCommand({ TableName: TASK_ENV.PRESENCE_TABLE_NAME, Item: { clientId: { S: device }, state: { S: 'connected' } } }));
    sqs.on(DeleteQueueCommand).resolves({});
    const sent = watchDynamoDb();
    const out = await send('unregisterDevice', { token: await tokenOf('agent-a'), clientId: device });
    expect(out.status).toBe(204);
    expect(deletes(sent)).toEqual([
      { TableName: REGISTRY, Key: { clientId: { S: device } } },
      { TableName: TASK_ENV.PRESENCE_TABLE_NAME, Key: { clientId: { S: device } } },
    ]);
    expect(await registryItem(device)).toBeUndefined();
    expect(sqs).toHaveReceivedCommandWith(DeleteQueueCommand, { QueueUrl: `${INBOX_URL_PREFIX}${device}.fifo` });
    const presence = await tables.client.send(new GetItemCommand({ TableName: TASK_ENV.PRESENCE_TABLE_NAME, Key: { clientId: { S: device } } }));
    expect(presence.Item).toBeUndefined();
    expect(await db.query('SELECT 1 FROM devices WHERE client_id = $1', [device])).toEqual([]);
  });

  it('finishes an unregister whose inbox was never created, and answers 404 for the next one', async () => {
    const device = await register('agent-a');
    sqs.on(DeleteQueueCommand).rejects(new QueueDoesNotExist({ message: 'gone', $metadata: {} }));
    expect((await send('unregisterDevice', { token: await tokenOf('agent-a'), clientId: device })).status).toBe(204);
    const again = await send('unregisterDevice', { token: await tokenOf('agent-a'), clientId: device });
    expect(again).toMatchObject({ status: 404, body: { error: 'DeviceNotFound' } });
  });
});

describe('agent-api: claims', () => {
  it('writes the caller’s own agent id as handledBy, whatever the request says', async () => {
    await putMessage('conv-win', 'msg-1', 't1');
    const out = await send('claim', { token: await tokenOf('agent-a'), body: { conversationId: 'conv-win', messageId: 'msg-1', handledBy: 'agent-b' } });
    expect(out).toMatchObject({ status: 400, body: { error: 'InvalidRequest', message: expect.stringContaining('handledBy') } });
    const won = await send('claim', { token: await tokenOf('agent-a'), body: { conversationId: 'conv-win', messageId: 'msg-1' } });
    expect(won.body).toEqual({ won: true, handledBy: 'agent-a', handledAt: expect.stringMatching(/Z$/) });
    const { Item } = await tables.client.send(new GetItemCommand({ TableName: TABLE, Key: { conversationId: { S: 'conv-win' }, messageId: { S: 'msg-1' } } }));
    expect(Item?.handledBy).toEqual({ S: 'agent-a' });
    expect(Item?.handledAt).toEqual({ S: won.body!.handledAt });
  });

  it('answers a lost claim with only won, handledBy and handledAt', async () => {
    await putMessage('conv-lost', 'msg-1', 't1', { handledBy: { S: 'agent-b' }, handledAt: { S: '2026-01-01T10:00:00.000Z' } });
    const out = await send('claim', { token: await tokenOf('agent-a'), body: { conversationId: 'conv-lost', messageId: 'msg-1' } });
    expect(out.body).toStrictEqual({ won: false, handledBy: 'agent-b', handledAt: '2026-01-01T10:00:00.000Z' });
  });

  it('answers a repeated claim of the same agent as won, already yours, with the first handledAt', async () => {
    await putMessage('conv-mine', 'msg-1', 't1', { handledBy: { S: 'agent-a' }, handledAt: { S: '2026-01-01T09:00:00.000Z' } });
    const out = await send('claim', { token: await tokenOf('agent-a'), body: { conversationId: 'conv-mine', messageId: 'msg-1' } });
    expect(out.body).toEqual({ won: true, handledBy: 'agent-a', handledAt: '2026-01-01T09:00:00.000Z', alreadyYours: true });
  });

  it("answers a message of tenant 2 exactly like a missing message, and leaves it unhandled", async () => {
    await putMessage('conv-t2', 'msg-1', 't2');
    const otherTenant = await send('claim', { token: await tokenOf('agent-a'), body: { conversationId: 'conv-t2', messageId: 'msg-1' } });
    const missing = await send('claim', { token: await tokenOf('agent-a'), body: { conversationId: 'conv-none', messageId: 'msg-1' } });
    expect(otherTenant.status).toBe(404);
    expect({ status: otherTenant.status, body: otherTenant.body, headers: otherTenant.headers }).toStrictEqual({ status: missing.status, body: missing.body, headers: missing.headers });
    const { Item } = await tables.client.send(new GetItemCommand({ TableName: TABLE, Key: { conversationId: { S: 'conv-t2' }, messageId: { S: 'msg-1' } } }));
    expect(Item?.handledBy).toBeUndefined();
    // The agent of tenant 2 can claim it.
    expect((await send('claim', { token: await tokenOf('agent-t2'), body: { conversationId: 'conv-t2', messageId: 'msg-1' } })).body).toMatchObject({ won: true, handledBy: 'agent-t2' });
  });

  it('has exactly one winner among 20 concurrent claims by different agents; the 19 others are told only who and when', async () => {
    await putMessage('conv-race', 'msg-1', 't1');
    const tokens = await Promise.all(RACE_AGENTS.map((agent) => tokenOf(agent)));
    const answers = await Promise.all(tokens.map((token) => send('claim', { token, body: { conversationId: 'conv-race', messageId: 'msg-1' } })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const winners = answers.filter((a) => a.body!.won === true);
    expect(winners).toHaveLength(1);
    const winner = winners[0].body!;
    const losers = answers.filter((a) => a.body!.won === false);
    expect(losers).toHaveLength(19);
    for (const loser of losers) expect(loser.body).toStrictEqual({ won: false, handledBy: winner.handledBy, handledAt: winner.handledAt });
    for (const answer of answers) expect(JSON.stringify(answer.body)).not.toMatch(/customer text|tenantId|body|senderId/);
    const { Item } = await tables.client.send(new GetItemCommand({ TableName: TABLE, Key: { conversationId: { S: 'conv-race' }, messageId: { S: 'msg-1' } } }));
    expect(Item?.handledBy).toEqual({ S: winner.handledBy });
  });

  it.each([
    ['no messageId', { conversationId: 'conv-1' }, 'messageId'],
    ['a conversationId with a space', { conversationId: 'conv 1', messageId: 'm' }, 'conversationId'],
  ])('refuses a claim with %s with 400 naming the field', async (_name, body, field) => {
    const out = await send('claim', { token: await tokenOf('agent-a'), body });
    expect(out).toMatchObject({ status: 400, body: { error: 'InvalidRequest', message: expect.stringContaining(field) } });
  });
});

describe('agent-api: metrics', () => {
  const requestsOf = async (run: () => Promise<unknown>) => {
    const emf = captureMetrics();
    await run();
    return metricPoints(emf);
  };
  const request = (route: string, statusClass: string) => [
    { name: 'ApiRequests', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'agent-api', route, statusClass } },
  ];

  it('counts an answered request by route and status class 2xx', async () => {
    const token = await tokenOf('agent-a');
    expect(await requestsOf(() => send('listDevices', { token }))).toEqual(request('listDevices', '2xx'));
  });

  it('counts a refused request as 4xx of its route', async () => {
    expect(await requestsOf(() => send('claim', {}))).toEqual(request('claim', '4xx'));
  });

  it('counts a route key the API does not have under route "unknown", so that no dimension value comes from the request', async () => {
    const points = await requestsOf(() => handler({ ...event('listDevices', {}), routeKey: 'GET /no-such-route' }));
    expect(points).toEqual(request('unknown', '4xx'));
  });

  it('counts a request that failed inside as 5xx and logs the failure with its stack', async () => {
    rds.reset();
    rds.on(ExecuteStatementCommand).rejects(Object.assign(new Error('permission denied for table agents'), { name: 'BadRequestException' }));
    const logs = captureLogs();
    const token = await tokenOf('agent-a');
    expect(await requestsOf(() => send('listDevices', { token }))).toEqual(request('listDevices', '5xx'));
    expect(logs.filter((line) => line.level === 'ERROR')).toEqual([
      expect.objectContaining({ message: 'request failed', error: expect.objectContaining({ name: 'BadRequestException', stack: expect.stringContaining('permission denied') }) }),
    ]);
  });
});
