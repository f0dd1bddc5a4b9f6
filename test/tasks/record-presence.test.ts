import { TASK_ENV } from '../support/task-env';
import { ConditionalCheckFailedException, DynamoDBClient, ProvisionedThroughputExceededException, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import fc from 'fast-check';
import {
  DISCONNECTED_TTL_SECONDS,
  REORDER_WINDOW_MS,
  handler,
  supersedes,
  type LifecycleEvent,
  type StoredPresence,
} from '../../tasks/record-presence/handler';
import { InvalidPresenceEventError } from '../../tasks/shared/errors';
import { fixture } from '../support/fixtures';
import { deliveryArb } from '../support/lifecycle-history';
import { captureLogs } from '../support/logs';

const TABLE = TASK_ENV.PRESENCE_TABLE_NAME;
const NOW = new Date('2025-03-04T11:00:00.000Z');
const dynamodb = mockClient(DynamoDBClient);

const lifecycle = (name: string) => fixture<LifecycleEvent>('iot-lifecycle', name);
const updateInputs = () => dynamodb.commandCalls(UpdateItemCommand).map((call) => call.args[0].input);

const NAMES = {
  '#clientId': 'clientId',
  '#state': 'state',
  '#eventTimestamp': 'eventTimestamp',
  '#versionNumber': 'versionNumber',
  '#sessionIdentifier': 'sessionIdentifier',
  '#updatedAt': 'updatedAt',
  '#expiresAt': 'expiresAt',
};

beforeEach(() => {
  dynamodb.reset();
  captureLogs();
  // Only the clock is faked: the SDK mock still needs real timers and microtasks.
  jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask'] });
});
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('record-presence: the conditional write', () => {
  it('writes a connect event so that it never overwrites a newer event', async () => {
    dynamodb.on(UpdateItemCommand).resolves({});
    await expect(handler(lifecycle('connected'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'connected', applied: true });
    expect(dynamodb).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
    expect(updateInputs()[0]).toEqual({
      TableName: TABLE,
      Key: { clientId: { S: 'dev-berta-laptop' } },
      UpdateExpression:
        'SET #state = :state, #eventTimestamp = :eventTimestamp, #versionNumber = :versionNumber, #sessionIdentifier = :sessionIdentifier, #updatedAt = :updatedAt REMOVE #expiresAt',
      ConditionExpression:
        'attribute_not_exists(#clientId) OR #eventTimestamp < :clearlyNewerThan OR (#eventTimestamp <= :notClearlyOlderThan AND (#versionNumber < :versionNumber))',
      ExpressionAttributeNames: NAMES,
      ExpressionAttributeValues: {
        ':state': { S: 'connected' },
        ':eventTimestamp': { N: '1741083000000' },
        ':versionNumber': { N: '7' },
        ':sessionIdentifier': { S: '6b3ad1d7-1c3e-4b8e-9a47-2f8e0a2f1c11' },
        ':updatedAt': { S: NOW.toISOString() },
        ':clearlyNewerThan': { N: String(1741083000000 - REORDER_WINDOW_MS) },
        ':notClearlyOlderThan': { N: String(1741083000000 + REORDER_WINDOW_MS) },
      },
    });
  });

  it('writes a disconnect event with an expiry, and lets it follow the connect of the same connection', async () => {
    dynamodb.on(UpdateItemCommand).resolves({});
    await expect(handler(lifecycle('disconnected'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'disconnected', applied: true });
    expect(updateInputs()[0]).toEqual({
      TableName: TABLE,
      Key: { clientId: { S: 'dev-berta-laptop' } },
      UpdateExpression:
        'SET #state = :state, #eventTimestamp = :eventTimestamp, #versionNumber = :versionNumber, #sessionIdentifier = :sessionIdentifier, #updatedAt = :updatedAt, #expiresAt = :expiresAt',
      ConditionExpression:
        'attribute_not_exists(#clientId) OR #eventTimestamp < :clearlyNewerThan OR (#eventTimestamp <= :notClearlyOlderThan AND (#versionNumber < :versionNumber OR (#versionNumber = :versionNumber AND #state = :connected)))',
      ExpressionAttributeNames: NAMES,
      ExpressionAttributeValues: {
        ':state': { S: 'disconnected' },
        ':eventTimestamp': { N: '1741086600000' },
        ':versionNumber': { N: '7' },
        ':sessionIdentifier': { S: '6b3ad1d7-1c3e-4b8e-9a47-2f8e0a2f1c11' },
        ':updatedAt': { S: NOW.toISOString() },
        ':clearlyNewerThan': { N: String(1741086600000 - REORDER_WINDOW_MS) },
        ':notClearlyOlderThan': { N: String(1741086600000 + REORDER_WINDOW_MS) },
        ':connected': { S: 'connected' },
        ':expiresAt': { N: String(1741086600 + DISCONNECTED_TTL_SECONDS) },
      },
    });
  });

  it('accepts the event formats of the AWS IoT documentation, thingName included', async () => {
    dynamodb.on(UpdateItemCommand).resolves({});
    await expect(handler(lifecycle('aws-docs-connected'))).resolves.toMatchObject({ clientId: '186b5', applied: true });
    await expect(handler(lifecycle('aws-docs-disconnected'))).resolves.toMatchObject({ clientId: '186b5', state: 'disconnected' });
  });

  it('reports a stale event as not applied and logs it when the condition fails', async () => {
    const logs = captureLogs();
    dynamodb.on(UpdateItemCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    await expect(handler(lifecycle('disconnected'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'disconnected', applied: false });
    expect(logs).toContainEqual(expect.objectContaining({ message: expect.stringMatching(/^stale lifecycle event dropped/), clientId: 'dev-berta-laptop', versionNumber: 7 }));
  });

  it('lets any other DynamoDB error propagate, so the asynchronous invocation is retried', async () => {
    const cause = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
    dynamodb.on(UpdateItemCommand).rejects(cause);
    await expect(handler(lifecycle('connected'))).rejects.toBe(cause);
  });
});

describe('record-presence: events that are not connect or disconnect', () => {
  it('acknowledges a connect_failed event without writing', async () => {
    await expect(handler(lifecycle('connect-failed'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'connect_failed', applied: false });
    expect(dynamodb).not.toHaveReceivedAnyCommand();
  });

  it.each([
    ['clientId', (e: Record<string, unknown>) => delete e.clientId],
    ['clientId', (e: Record<string, unknown>) => (e.clientId = '')],
    ['timestamp', (e: Record<string, unknown>) => (e.timestamp = '1741083000000')],
    ['timestamp', (e: Record<string, unknown>) => (e.timestamp = 1741083000000.5)],
    ['eventType', (e: Record<string, unknown>) => (e.eventType = 'subscribed')],
    ['sessionIdentifier', (e: Record<string, unknown>) => delete e.sessionIdentifier],
    ['versionNumber', (e: Record<string, unknown>) => (e.versionNumber = -1)],
    ['versionNumber', (e: Record<string, unknown>) => delete e.versionNumber],
    ['clientInitiatedDisconnect', (e: Record<string, unknown>) => (e.clientInitiatedDisconnect = 'yes')],
  ])('throws InvalidPresenceEventError naming %s', async (field, mutate) => {
    const event = lifecycle('disconnected') as unknown as Record<string, unknown>;
    mutate(event);
    const error = await handler(event).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidPresenceEventError);
    expect(error).toMatchObject({ name: 'InvalidPresenceEventError', field });
    expect((error as Error).message).toMatch(new RegExp(`^${field}: `));
    expect(dynamodb).not.toHaveReceivedAnyCommand();
  });

  it('throws InvalidPresenceEventError for a payload that is not an object', async () => {
    await expect(handler('connected')).rejects.toBeInstanceOf(InvalidPresenceEventError);
  });
});

describe('supersedes: which lifecycle event is newer', () => {
  const T = 1_741_083_000_000;
  const stored = (state: StoredPresence['state'], versionNumber: number, eventTimestamp = T): StoredPresence => ({ state, versionNumber, eventTimestamp });
  const event = (eventType: LifecycleEvent['eventType'], versionNumber: number, timestamp = T) => ({ eventType, versionNumber, timestamp });

  it.each([
    ['takes anything when the table has no item', undefined, event('disconnected', 0), true],
    ['takes the disconnect of the stored connection', stored('connected', 7), event('disconnected', 7, T + 1000), true],
    ['takes the disconnect of the stored connection, even stamped earlier (timestamps are approximate)', stored('connected', 7), event('disconnected', 7, T - 60_000), true],
    ['takes a connect of a newer connection', stored('disconnected', 7), event('connected', 8, T + 5000), true],
    ['takes a newer connection that took over before the old one was seen to drop', stored('connected', 7), event('connected', 8, T - 30_000), true],
    ['takes a connect after a long absence that restarted versions at 0', stored('disconnected', 12), event('connected', 0, T + 2 * 60 * 60_000), true],
    ['drops the disconnect of an older connection arriving after the next connect', stored('connected', 8), event('disconnected', 7, T + 20_000), false],
    ['drops the connect of a connection already seen disconnected', stored('disconnected', 7), event('connected', 7, T - 1000), false],
    ['drops the same event twice', stored('connected', 7), event('connected', 7), false],
    ['drops the same disconnect twice', stored('disconnected', 7), event('disconnected', 7), false],
    ['drops an old event from before a version restart', stored('connected', 0), event('disconnected', 12, T - 2 * 60 * 60_000), false],
  ])('%s', (_case, current, incoming, expected) => {
    expect(supersedes(current, incoming)).toBe(expected);
  });

  it('settles on the latest event of the history whatever the delivery order and duplicates', () => {
    fc.assert(
      fc.property(deliveryArb('dev-1'), ({ delivered, latest }) => {
        let current: StoredPresence | undefined;
        for (const e of delivered) {
          if (supersedes(current, e)) current = { state: e.eventType, versionNumber: e.versionNumber, eventTimestamp: e.timestamp };
        }
        expect(current).toEqual({ state: latest.eventType, versionNumber: latest.versionNumber, eventTimestamp: latest.timestamp });
      }),
      { numRuns: 500 },
    );
  });
});
