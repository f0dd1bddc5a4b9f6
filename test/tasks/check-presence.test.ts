import { TASK_ENV } from '../support/task-env';
import {
  BatchGetItemCommand,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { BATCH_GET_MAX_KEYS, MAX_BATCH_ATTEMPTS, handler } from '../../tasks/check-presence/handler';
import type { Device } from '../../contracts/envelope';
import { InvalidTaskInputError, PresenceUnavailableError } from '../../tasks/shared/errors';
import { subscriptionsToAttribute } from '../../tasks/shared/presence';
import { captureLogs, captureMetrics, metricPoints } from '../support/logs';

const TABLE = TASK_ENV.PRESENCE_TABLE_NAME;
const dynamodb = mockClient(DynamoDBClient);

const device = (clientId: string, agentId = 'agent-1'): Device => ({ agentId, clientId });
const sessionOf = (clientId: string) => `session-of-${clientId}`;
/** A PRESENCE item whose connection's session is (by default) subscribed to its push topic. */
const item = (clientId: string, state: string, subscribed = true): Record<string, AttributeValue> => ({
  clientId: { S: clientId },
  state: { S: state },
  sessionIdentifier: { S: sessionOf(clientId) },
  subscriptions: subscriptionsToAttribute({ [sessionOf(clientId)]: { subscribed, at: 1_741_083_000_000 } }),
});
const PROJECTION = {
  ProjectionExpression: '#clientId, #state, #sessionIdentifier, #subscriptions',
  ExpressionAttributeNames: { '#clientId': 'clientId', '#state': 'state', '#sessionIdentifier': 'sessionIdentifier', '#subscriptions': 'subscriptions' },
};
const key = (clientId: string) => ({ clientId: { S: clientId } });
const batchInputs = () => dynamodb.commandCalls(BatchGetItemCommand).map((call) => call.args[0].input);
const keysOf = (input: ReturnType<typeof batchInputs>[number]) => (input.RequestItems?.[TABLE].Keys ?? []).map((k) => k.clientId.S);

/** Answers every BatchGetItem from `states`, like a table that holds them. */
const tableWith = (states: Record<string, string>) =>
  dynamodb.on(BatchGetItemCommand).callsFake((input: { RequestItems: Record<string, { Keys: { clientId: { S: string } }[] }> }) => ({
    Responses: {
      [TABLE]: input.RequestItems[TABLE].Keys.filter((k) => k.clientId.S in states).map((k) => item(k.clientId.S, states[k.clientId.S])),
    },
    UnprocessedKeys: {},
  }));

beforeEach(() => {
  dynamodb.reset();
  captureLogs();
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('check-presence: the BatchGetItem request', () => {
  it('asks for the connection state, its session and the subscriptions of every device, through name placeholders because state is a reserved word', async () => {
    tableWith({});
    await handler({ devices: [device('dev-1'), device('dev-2')] });
    expect(dynamodb).toHaveReceivedCommandTimes(BatchGetItemCommand, 1);
    expect(batchInputs()[0]).toEqual({
      RequestItems: {
        [TABLE]: {
          Keys: [key('dev-1'), key('dev-2')],
          ...PROJECTION,
        },
      },
    });
  });

  it('sends each client id once even when the page repeats it', async () => {
    tableWith({ 'dev-1': 'connected' });
    const out = await handler({ devices: [device('dev-1'), device('dev-2'), device('dev-1', 'agent-2')] });
    expect(keysOf(batchInputs()[0])).toEqual(['dev-1', 'dev-2']);
    expect(out.devices).toEqual([
      { agentId: 'agent-1', clientId: 'dev-1', online: true },
      { agentId: 'agent-1', clientId: 'dev-2', online: false },
      { agentId: 'agent-2', clientId: 'dev-1', online: true },
    ]);
  });

  it(`splits more than ${BATCH_GET_MAX_KEYS} devices into calls of at most ${BATCH_GET_MAX_KEYS} keys`, async () => {
    tableWith({});
    const devices = Array.from({ length: 250 }, (_, i) => device(`dev-${i}`));
    await handler({ devices });
    const sizes = batchInputs().map((input) => keysOf(input).length);
    expect(sizes).toEqual([100, 100, 50]);
    expect(batchInputs().flatMap(keysOf).sort()).toEqual(devices.map((d) => d.clientId).sort());
  });

  it('makes no call for an empty page', async () => {
    await expect(handler({ devices: [] })).resolves.toEqual({ devices: [], onlineCount: 0 });
    expect(dynamodb).not.toHaveReceivedAnyCommand();
  });
});

describe('check-presence: presence', () => {
  it('marks connected devices online and devices without an item or disconnected offline, in input order', async () => {
    tableWith({ 'dev-a': 'connected', 'dev-b': 'disconnected', 'dev-d': 'connected' });
    const out = await handler({ devices: [device('dev-d'), device('dev-c'), device('dev-b'), device('dev-a')] });
    expect(out).toEqual({
      devices: [
        { agentId: 'agent-1', clientId: 'dev-d', online: true },
        { agentId: 'agent-1', clientId: 'dev-c', online: false },
        { agentId: 'agent-1', clientId: 'dev-b', online: false },
        { agentId: 'agent-1', clientId: 'dev-a', online: true },
      ],
      onlineCount: 2,
    });
  });

  it('treats an item without a state, or with an unknown one, as offline', async () => {
    dynamodb.on(BatchGetItemCommand).resolves({ Responses: { [TABLE]: [{ clientId: { S: 'dev-1' } }, item('dev-2', 'CONNECTED')] } });
    const out = await handler({ devices: [device('dev-1'), device('dev-2')] });
    expect(out.onlineCount).toBe(0);
  });

  it('marks a connected device offline until its connection is subscribed to its push topic', async () => {
    const connectedOnly = { clientId: { S: 'dev-1' }, state: { S: 'connected' }, sessionIdentifier: { S: sessionOf('dev-1') } };
    dynamodb.on(BatchGetItemCommand).resolves({
      Responses: {
        [TABLE]: [
          connectedOnly,
          item('dev-2', 'connected', false),
          // Subscribed, but in an earlier session: the current connection has not subscribed yet.
          { ...item('dev-3', 'connected'), sessionIdentifier: { S: 'a-newer-session' } },
          item('dev-4', 'connected'),
          item('dev-5', 'disconnected'),
        ],
      },
    });
    const out = await handler({ devices: ['dev-1', 'dev-2', 'dev-3', 'dev-4', 'dev-5'].map((id) => device(id)) });
    expect(out.devices.map((d) => [d.clientId, d.online])).toEqual([
      ['dev-1', false],
      ['dev-2', false],
      ['dev-3', false],
      ['dev-4', true],
      ['dev-5', false],
    ]);
    expect(out.onlineCount).toBe(1);
  });
});

describe('check-presence: unprocessed keys', () => {
  it('retries only the unprocessed keys and merges the answers', async () => {
    dynamodb
      .on(BatchGetItemCommand)
      .resolvesOnce({
        Responses: { [TABLE]: [item('dev-1', 'connected')] },
        UnprocessedKeys: { [TABLE]: { Keys: [key('dev-2'), key('dev-3')], ...PROJECTION } },
      })
      .resolvesOnce({ Responses: { [TABLE]: [item('dev-3', 'connected')] }, UnprocessedKeys: {} });
    const out = await handler({ devices: [device('dev-1'), device('dev-2'), device('dev-3')] });
    expect(batchInputs().map(keysOf)).toEqual([['dev-1', 'dev-2', 'dev-3'], ['dev-2', 'dev-3']]);
    expect(batchInputs()[1].RequestItems?.[TABLE]).toMatchObject(PROJECTION);
    expect(out.devices.map((d) => d.online)).toEqual([true, false, true]);
  });

  it(`gives up with PresenceUnavailableError after ${MAX_BATCH_ATTEMPTS} attempts`, async () => {
    dynamodb.on(BatchGetItemCommand).resolves({ Responses: { [TABLE]: [] }, UnprocessedKeys: { [TABLE]: { Keys: [key('dev-1')] } } });
    const error = await handler({ devices: [device('dev-1')] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PresenceUnavailableError);
    expect((error as Error).name).toBe('PresenceUnavailableError');
    expect((error as Error).message).toMatch(/1 PRESENCE keys were still unprocessed after 4 attempts/);
    expect(dynamodb).toHaveReceivedCommandTimes(BatchGetItemCommand, MAX_BATCH_ATTEMPTS);
  });
});

describe('check-presence: DynamoDB errors', () => {
  it.each([
    ['ProvisionedThroughputExceededException', () => new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} })],
    ['ResourceNotFoundException', () => new ResourceNotFoundException({ message: 'no such table', $metadata: {} })],
    ['a network error', () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
  ])('turns %s into PresenceUnavailableError, keeping the cause', async (_name, make) => {
    const cause = make();
    dynamodb.on(BatchGetItemCommand).rejects(cause);
    const error = await handler({ devices: [device('dev-1')] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PresenceUnavailableError);
    expect((error as Error).cause).toBe(cause);
  });
});

describe('check-presence: task input', () => {
  it.each([[undefined], [{}], [{ devices: 'dev-1' }], [{ devices: [{ clientId: 'dev-1' }] }], [{ devices: [{ agentId: 'a', clientId: '' }] }]])(
    'throws InvalidTaskInputError for %j, without reading the table',
    async (event) => {
      await expect(handler(event)).rejects.toBeInstanceOf(InvalidTaskInputError);
      expect(dynamodb).not.toHaveReceivedAnyCommand();
    },
  );
});

describe('check-presence: metrics', () => {
  it('counts the devices of the page found online and offline in one EMF object of the ConvoNotify namespace', async () => {
    tableWith({ 'dev-1': 'connected', 'dev-2': 'disconnected' });
    const emf = captureMetrics();
    await handler({ devices: [device('dev-1'), device('dev-2'), device('dev-3')] });
    expect(emf).toHaveLength(1);
    expect(metricPoints(emf)).toEqual([
      { name: 'DevicesOnline', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'check-presence' } },
      { name: 'DevicesOffline', unit: 'Count', value: 2, namespace: 'ConvoNotify', dimensions: { service: 'check-presence' } },
    ]);
  });

  it('emits no presence counts when the table cannot be read', async () => {
    dynamodb.on(BatchGetItemCommand).rejects(new ResourceNotFoundException({ message: 'no table', $metadata: {} }));
    const emf = captureMetrics();
    await expect(handler({ devices: [device('dev-1')] })).rejects.toBeInstanceOf(PresenceUnavailableError);
    expect(emf).toEqual([]);
  });
});
