import { TASK_ENV } from '../support/task-env';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import fc from 'fast-check';
import {
  DISCONNECTED_TTL_SECONDS,
  MAX_CLOCK_SKEW_MS,
  MAX_SUBSCRIPTION_WRITE_ATTEMPTS,
  MAX_TRACKED_SESSIONS,
  PresenceWriteError,
  REFUSAL_REASONS,
  REORDER_WINDOW_MS,
  applySubscriptionEvent,
  handler,
  pruneSubscriptions,
  subscriptionSupersedes,
  supersedes,
  type LifecycleEvent,
  type StoredPresence,
  type SubscriptionEvent,
} from '../../tasks/record-presence/handler';
import { InvalidPresenceEventError } from '../../tasks/shared/errors';
import { isOnline, subscriptionsToAttribute, type SessionSubscriptions } from '../../tasks/shared/presence';
import { pushTopicOf } from '../../contracts/push-topic';
import { fixture } from '../support/fixtures';
import { deliveryArb, presenceDeliveryArb } from '../support/lifecycle-history';
import { captureLogs, captureMetrics, metricPoints } from '../support/logs';

const TABLE = TASK_ENV.PRESENCE_TABLE_NAME;
const REGISTRY = TASK_ENV.DEVICE_REGISTRY_TABLE_NAME;
// After every fixture event: the handler refuses events stamped ahead of its clock.
const NOW = new Date('2025-03-04T11:30:00.000Z');
const dynamodb = mockClient(DynamoDBClient);

const lifecycle = (name: string) => fixture<LifecycleEvent>('iot-lifecycle', name);
const subscription = (name: string) => fixture<SubscriptionEvent>('iot-lifecycle', name);
const updateInputs = () => dynamodb.commandCalls(UpdateItemCommand).map((call) => call.args[0].input);
const allGetInputs = () => dynamodb.commandCalls(GetItemCommand).map((call) => call.args[0].input);
const getInputs = () => allGetInputs().filter((input) => input.TableName === TABLE);
const registryItem = (clientId: string) => ({ clientId: { S: clientId }, agentId: { S: 'agent-berta' }, registeredAt: { S: '2025-03-01T09:00:00.000Z' } });
/** Every device of the fixtures is registered unless a test says otherwise. */
const registry = () => dynamodb.on(GetItemCommand, { TableName: REGISTRY });
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

const NAMES = {
  '#state': 'state',
  '#eventTimestamp': 'eventTimestamp',
  '#versionNumber': 'versionNumber',
  '#sessionIdentifier': 'sessionIdentifier',
  '#updatedAt': 'updatedAt',
  '#expiresAt': 'expiresAt',
};

beforeEach(() => {
  dynamodb.reset();
  registry().callsFake((input: { Key: { clientId: { S: string } } }) => ({ Item: registryItem(input.Key.clientId.S) }));
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
        'attribute_not_exists(#eventTimestamp) OR #eventTimestamp > :latestPlausible OR #eventTimestamp < :clearlyNewerThan OR (#eventTimestamp <= :notClearlyOlderThan AND (#versionNumber < :versionNumber))',
      ExpressionAttributeNames: NAMES,
      ExpressionAttributeValues: {
        ':state': { S: 'connected' },
        ':eventTimestamp': { N: '1741083000000' },
        ':versionNumber': { N: '7' },
        ':sessionIdentifier': { S: '6b3ad1d7-1c3e-4b8e-9a47-2f8e0a2f1c11' },
        ':updatedAt': { S: NOW.toISOString() },
        ':latestPlausible': { N: String(NOW.getTime() + MAX_CLOCK_SKEW_MS) },
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
        'attribute_not_exists(#eventTimestamp) OR #eventTimestamp > :latestPlausible OR #eventTimestamp < :clearlyNewerThan OR (#eventTimestamp <= :notClearlyOlderThan AND (#versionNumber < :versionNumber OR (#versionNumber = :versionNumber AND #state = :connected)))',
      ExpressionAttributeNames: NAMES,
      ExpressionAttributeValues: {
        ':state': { S: 'disconnected' },
        ':eventTimestamp': { N: '1741086600000' },
        ':versionNumber': { N: '7' },
        ':sessionIdentifier': { S: '6b3ad1d7-1c3e-4b8e-9a47-2f8e0a2f1c11' },
        ':updatedAt': { S: NOW.toISOString() },
        ':latestPlausible': { N: String(NOW.getTime() + MAX_CLOCK_SKEW_MS) },
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
    dynamodb.on(UpdateItemCommand).rejects(conditionFailed());
    await expect(handler(lifecycle('disconnected'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'disconnected', applied: false });
    expect(logs).toContainEqual(expect.objectContaining({ message: expect.stringMatching(/^stale lifecycle event dropped/), clientId: 'dev-berta-laptop', versionNumber: 7 }));
  });

  it.each([
    ['ProvisionedThroughputExceededException', () => new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} })],
    ['ResourceNotFoundException', () => new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: {} })],
    ['a network error', () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
  ])('fails with PresenceWriteError on %s, keeping the cause, so the asynchronous invocation is retried and then kept', async (_name, make) => {
    const cause = make();
    dynamodb.on(UpdateItemCommand).rejects(cause);
    const error = await handler(lifecycle('connected')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PresenceWriteError);
    expect(error).toMatchObject({ name: 'PresenceWriteError', cause });
    expect((error as Error).message).toMatch(/dev-berta-laptop/);
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
    ['eventType', (e: Record<string, unknown>) => (e.eventType = 'published')],
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

  it.each([
    ['topics', (e: Record<string, unknown>) => delete e.topics],
    ['topics', (e: Record<string, unknown>) => (e.topics = 'notify/dev-berta-laptop')],
    ['topics.0', (e: Record<string, unknown>) => (e.topics = [7])],
    ['sessionIdentifier', (e: Record<string, unknown>) => (e.sessionIdentifier = '')],
    ['timestamp', (e: Record<string, unknown>) => (e.timestamp = -1)],
  ])('throws InvalidPresenceEventError naming %s of a subscription event', async (field, mutate) => {
    const event = subscription('subscribed') as unknown as Record<string, unknown>;
    mutate(event);
    await expect(handler(event)).rejects.toMatchObject({ name: 'InvalidPresenceEventError', field });
    expect(dynamodb).not.toHaveReceivedAnyCommand();
  });

  it('throws InvalidPresenceEventError for a payload that is not an object', async () => {
    await expect(handler('connected')).rejects.toBeInstanceOf(InvalidPresenceEventError);
  });
});

describe('record-presence: timestamps ahead of the clock', () => {
  it('refuses an event stamped in the year 2100 without writing, and logs the reason', async () => {
    const logs = captureLogs();
    await expect(handler(lifecycle('connected-year-2100'))).resolves.toEqual({
      clientId: 'dev-berta-laptop',
      state: 'connected',
      applied: false,
      reason: REFUSAL_REASONS.timestampAheadOfClock,
    });
    expect(dynamodb).not.toHaveReceivedAnyCommand();
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'WARN', message: 'lifecycle event refused: timestamp-ahead-of-clock', reason: 'timestamp-ahead-of-clock', eventTimestamp: 4102444800000 }),
    );
  });

  it(`takes an event up to ${MAX_CLOCK_SKEW_MS / 60_000} minutes ahead, refuses one a millisecond later`, async () => {
    dynamodb.on(UpdateItemCommand).resolves({});
    const at = (timestamp: number) => ({ ...lifecycle('connected'), timestamp });
    await expect(handler(at(NOW.getTime() + MAX_CLOCK_SKEW_MS))).resolves.toMatchObject({ applied: true });
    await expect(handler(at(NOW.getTime() + MAX_CLOCK_SKEW_MS + 1))).resolves.toMatchObject({ applied: false, reason: REFUSAL_REASONS.timestampAheadOfClock });
    expect(dynamodb).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
  });

  it('refuses a subscription event ahead of the clock before reading the item', async () => {
    await expect(handler({ ...subscription('subscribed'), timestamp: NOW.getTime() + 60 * 60_000 })).resolves.toMatchObject({
      state: 'subscribed',
      applied: false,
      reason: REFUSAL_REASONS.timestampAheadOfClock,
    });
    expect(dynamodb).not.toHaveReceivedAnyCommand();
  });
});

describe('record-presence: subscription events', () => {
  const SESSION = '6b3ad1d7-1c3e-4b8e-9a47-2f8e0a2f1c11';
  const stored = (item: Record<string, AttributeValue> | undefined) => dynamodb.on(GetItemCommand, { TableName: TABLE }).resolves(item === undefined ? {} : { Item: item });
  const connectedItem = (subscriptions: SessionSubscriptions, revision?: number): Record<string, AttributeValue> => ({
    sessionIdentifier: { S: SESSION },
    eventTimestamp: { N: '1741083000000' },
    subscriptions: subscriptionsToAttribute(subscriptions),
    ...(revision !== undefined && { subscriptionsRevision: { N: String(revision) } }),
  });

  it('reads the item consistently, then records the subscription of its session under a revision check', async () => {
    stored(connectedItem({}, 3));
    dynamodb.on(UpdateItemCommand).resolves({});
    await expect(handler(subscription('subscribed'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'subscribed', applied: true });
    expect(getInputs()).toEqual([
      {
        TableName: TABLE,
        Key: { clientId: { S: 'dev-berta-laptop' } },
        ConsistentRead: true,
        ProjectionExpression: '#sessionIdentifier, #eventTimestamp, #subscriptions, #subscriptionsRevision',
        ExpressionAttributeNames: {
          '#sessionIdentifier': 'sessionIdentifier',
          '#eventTimestamp': 'eventTimestamp',
          '#subscriptions': 'subscriptions',
          '#subscriptionsRevision': 'subscriptionsRevision',
        },
      },
    ]);
    expect(updateInputs()).toEqual([
      {
        TableName: TABLE,
        Key: { clientId: { S: 'dev-berta-laptop' } },
        UpdateExpression: 'SET #subscriptions = :subscriptions, #subscriptionsRevision = :revision, #updatedAt = :updatedAt',
        ConditionExpression: '#subscriptionsRevision = :readRevision',
        ExpressionAttributeNames: { '#subscriptions': 'subscriptions', '#subscriptionsRevision': 'subscriptionsRevision', '#updatedAt': 'updatedAt' },
        ExpressionAttributeValues: {
          ':subscriptions': { M: { [SESSION]: { M: { subscribed: { BOOL: true }, at: { N: '1741083000150' } } } } },
          ':revision': { N: '4' },
          ':readRevision': { N: '3' },
          ':updatedAt': { S: NOW.toISOString() },
        },
      },
    ]);
  });

  it('creates an expiring item when the subscription arrives before any connect event', async () => {
    stored(undefined);
    dynamodb.on(UpdateItemCommand).resolves({});
    await expect(handler(subscription('subscribed'))).resolves.toMatchObject({ applied: true });
    expect(updateInputs()[0]).toMatchObject({
      UpdateExpression: 'SET #subscriptions = :subscriptions, #subscriptionsRevision = :revision, #updatedAt = :updatedAt, #expiresAt = :expiresAt',
      ConditionExpression: 'attribute_not_exists(#subscriptionsRevision) AND attribute_not_exists(#eventTimestamp)',
      ExpressionAttributeNames: { '#eventTimestamp': 'eventTimestamp', '#expiresAt': 'expiresAt' },
      ExpressionAttributeValues: { ':revision': { N: '1' }, ':expiresAt': { N: String(1741083000 + DISCONNECTED_TTL_SECONDS) } },
    });
  });

  it('records an unsubscribe from the push topic as not subscribed', async () => {
    stored(connectedItem({ [SESSION]: { subscribed: true, at: 1741083000150 } }, 1));
    dynamodb.on(UpdateItemCommand).resolves({});
    await expect(handler(subscription('unsubscribed'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'unsubscribed', applied: true });
    expect(updateInputs()[0].ExpressionAttributeValues?.[':subscriptions']).toEqual({
      M: { [SESSION]: { M: { subscribed: { BOOL: false }, at: { N: '1741086599000' } } } },
    });
  });

  it('ignores subscriptions to other topics, another device’s push topic included, without reading or writing', async () => {
    const logs = captureLogs();
    await expect(handler(subscription('subscribed-other-device-topic'))).resolves.toEqual({
      clientId: 'dev-berta-laptop',
      state: 'subscribed',
      applied: false,
      reason: REFUSAL_REASONS.notThePushTopic,
    });
    await expect(handler(subscription('aws-docs-subscribed'))).resolves.toMatchObject({ clientId: '186b5', applied: false, reason: 'not-the-push-topic' });
    expect(dynamodb).not.toHaveReceivedAnyCommand();
    expect(logs).toContainEqual(expect.objectContaining({ message: 'subscription event ignored: not-the-push-topic', topics: ['notify/dev-carl-phone', 'status/dev-berta-laptop'] }));
  });

  it('drops an unsubscribe older than the subscription its session holds, without writing', async () => {
    stored(connectedItem({ [SESSION]: { subscribed: true, at: 1741086600000 } }, 2));
    await expect(handler(subscription('unsubscribed'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'unsubscribed', applied: false });
    expect(dynamodb).not.toHaveReceivedCommand(UpdateItemCommand);
  });

  it('reads again and retries when another write changed the item in between', async () => {
    dynamodb.on(GetItemCommand, { TableName: TABLE }).resolvesOnce({ Item: connectedItem({}, 1) }).resolves({ Item: connectedItem({}, 2) });
    dynamodb.on(UpdateItemCommand).rejectsOnce(conditionFailed()).resolves({});
    await expect(handler(subscription('subscribed'))).resolves.toMatchObject({ applied: true });
    expect(getInputs()).toHaveLength(2);
    expect(updateInputs().map((input) => input.ExpressionAttributeValues?.[':readRevision'])).toEqual([{ N: '1' }, { N: '2' }]);
  });

  it(`fails with PresenceWriteError after ${MAX_SUBSCRIPTION_WRITE_ATTEMPTS} conflicting writes`, async () => {
    stored(connectedItem({}, 1));
    dynamodb.on(UpdateItemCommand).rejects(conditionFailed());
    const error = await handler(subscription('subscribed')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PresenceWriteError);
    expect((error as Error).message).toMatch(/changed under each of 4 subscription writes/);
    expect(dynamodb).toHaveReceivedCommandTimes(UpdateItemCommand, MAX_SUBSCRIPTION_WRITE_ATTEMPTS);
  });

  it.each([
    ['the read', () => dynamodb.on(GetItemCommand, { TableName: TABLE }).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }))],
    [
      'the write',
      () => {
        stored(connectedItem({}, 1));
        dynamodb.on(UpdateItemCommand).rejects(new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: {} }));
      },
    ],
  ])('fails with PresenceWriteError when %s fails', async (_case, arrange) => {
    arrange();
    const error = await handler(subscription('subscribed')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PresenceWriteError);
    expect((error as Error).cause).toBeInstanceOf(Error);
  });
});

describe('record-presence: registered devices only', () => {
  const connectedItem = { sessionIdentifier: { S: '6b3ad1d7-1c3e-4b8e-9a47-2f8e0a2f1c11' }, eventTimestamp: { N: '1741083000000' } };
  // Disconnects are not gated: see the tests after these.
  const events: [string, () => LifecycleEvent | SubscriptionEvent][] = [
    ['connected', () => lifecycle('connected')],
    ['subscribed', () => subscription('subscribed')],
    ['unsubscribed', () => subscription('unsubscribed')],
  ];

  it.each(events)('reads the device registry once, by client id and eventually consistent, before recording a %s event', async (_type, make) => {
    dynamodb.on(GetItemCommand, { TableName: TABLE }).resolves({ Item: connectedItem });
    dynamodb.on(UpdateItemCommand).resolves({});
    await expect(handler(make())).resolves.toMatchObject({ clientId: 'dev-berta-laptop', applied: true });
    expect(allGetInputs()[0]).toEqual({ TableName: REGISTRY, Key: { clientId: { S: 'dev-berta-laptop' } } });
    expect(allGetInputs().filter((input) => input.TableName === REGISTRY)).toHaveLength(1);
    expect(dynamodb).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
  });

  it.each(events)('ignores a %s event of a client id the registry does not hold: logged with the reason, no PRESENCE read or write', async (type, make) => {
    const logs = captureLogs();
    registry().resolves({});
    await expect(handler(make())).resolves.toEqual({ clientId: 'dev-berta-laptop', state: type, applied: false, reason: REFUSAL_REASONS.unregisteredClientId });
    expect(dynamodb).toHaveReceivedCommandTimes(GetItemCommand, 1);
    expect(dynamodb).not.toHaveReceivedCommand(UpdateItemCommand);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'WARN', message: 'lifecycle event ignored: unregistered-client-id', clientId: 'dev-berta-laptop', state: type, reason: 'unregistered-client-id' }),
    );
  });

  it.each(events)('fails with PresenceWriteError when the registry cannot be read for a %s event, keeping the cause, and writes nothing', async (_type, make) => {
    const cause = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
    registry().rejects(cause);
    const error = await handler(make()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PresenceWriteError);
    expect(error).toMatchObject({ name: 'PresenceWriteError', cause, message: 'reading the device registry for dev-berta-laptop failed: ProvisionedThroughputExceededException: slow down' });
    expect(dynamodb).not.toHaveReceivedCommand(UpdateItemCommand);
  });

  it('records the disconnect of a client id the registry does not hold, with its expiry, while still refusing its connect', async () => {
    registry().resolves({});
    dynamodb.on(UpdateItemCommand).resolves({});
    await expect(handler(lifecycle('disconnected'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'disconnected', applied: true });
    expect(updateInputs()).toEqual([
      expect.objectContaining({
        Key: { clientId: { S: 'dev-berta-laptop' } },
        ExpressionAttributeValues: expect.objectContaining({ ':state': { S: 'disconnected' }, ':expiresAt': { N: String(1741086600 + DISCONNECTED_TTL_SECONDS) } }),
      }),
    ]);
    await expect(handler(lifecycle('connected'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'connected', applied: false, reason: REFUSAL_REASONS.unregisteredClientId });
    expect(dynamodb).toHaveReceivedCommandTimes(UpdateItemCommand, 1);
  });

  it('records a disconnect without reading the device registry, so an unreadable registry does not hold it back', async () => {
    registry().rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    dynamodb.on(UpdateItemCommand).resolves({});
    await expect(handler(lifecycle('disconnected'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'disconnected', applied: true });
    expect(allGetInputs().filter((input) => input.TableName === REGISTRY)).toEqual([]);
  });

  it('still drops the disconnect of an unregistered client id when the item holds a newer event', async () => {
    registry().resolves({});
    dynamodb.on(UpdateItemCommand).rejects(conditionFailed());
    await expect(handler(lifecycle('disconnected'))).resolves.toEqual({ clientId: 'dev-berta-laptop', state: 'disconnected', applied: false });
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

  it('lets any event replace a stored timestamp beyond the latest plausible one, and only then', () => {
    const frozen = stored('connected', 7, Date.UTC(2100, 0, 1));
    const latestPlausible = NOW.getTime() + MAX_CLOCK_SKEW_MS;
    expect(supersedes(frozen, event('disconnected', 3, NOW.getTime()))).toBe(false);
    expect(supersedes(frozen, event('disconnected', 3, NOW.getTime()), REORDER_WINDOW_MS, latestPlausible)).toBe(true);
    expect(supersedes(stored('connected', 7, latestPlausible), event('disconnected', 3, NOW.getTime()), REORDER_WINDOW_MS, latestPlausible)).toBe(false);
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

describe('subscription ordering: subscriptionSupersedes, pruneSubscriptions, applySubscriptionEvent', () => {
  const T = 1_741_083_000_000;
  const entry = (subscribed: boolean, at: number) => ({ subscribed, at });
  const sub = (eventType: SubscriptionEvent['eventType'], timestamp: number, sessionIdentifier = 's1') => ({ eventType, timestamp, sessionIdentifier });

  it.each([
    ['takes the first event of a session', undefined, sub('subscribed', T), true],
    ['takes a later unsubscribe', entry(true, T), sub('unsubscribed', T + 1), true],
    ['takes a later subscribe', entry(false, T), sub('subscribed', T + 1), true],
    ['drops an earlier unsubscribe', entry(true, T), sub('unsubscribed', T - 1), false],
    ['drops the same subscribe twice', entry(true, T), sub('subscribed', T), false],
    ['drops the same unsubscribe twice', entry(false, T), sub('unsubscribed', T), false],
    ['lets a subscribe win a tie with an unsubscribe', entry(false, T), sub('subscribed', T), true],
    ['lets an unsubscribe lose a tie with a subscribe', entry(true, T), sub('unsubscribed', T), false],
  ])('%s', (_case, current, incoming, expected) => {
    expect(subscriptionSupersedes(current, incoming)).toBe(expected);
  });

  it('lets any event replace an entry stamped beyond the latest plausible time', () => {
    expect(subscriptionSupersedes(entry(true, Date.UTC(2100, 0, 1)), sub('unsubscribed', T), T + MAX_CLOCK_SKEW_MS)).toBe(true);
  });

  it('keeps the current connection’s session whatever its age, and of the others only the recent ones, newest first', () => {
    const subscriptions = {
      current: entry(true, T - 5 * REORDER_WINDOW_MS),
      old: entry(true, T - REORDER_WINDOW_MS - 1),
      edge: entry(false, T - REORDER_WINDOW_MS),
      newest: entry(true, T),
      future: entry(true, Date.UTC(2100, 0, 1)),
    };
    expect(pruneSubscriptions(subscriptions, 'current', T + MAX_CLOCK_SKEW_MS)).toEqual({ current: subscriptions.current, newest: subscriptions.newest, edge: subscriptions.edge });
  });

  it(`remembers at most ${MAX_TRACKED_SESSIONS} sessions besides the current one`, () => {
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`s${i}`, entry(true, T + i)]));
    const kept = pruneSubscriptions(many, 's0');
    expect(Object.keys(kept).sort()).toEqual(['s0', ...Array.from({ length: MAX_TRACKED_SESSIONS }, (_, i) => `s${19 - i}`)].sort());
  });

  it('reports an event of a session too old to track as not applied', () => {
    const subscriptions = { recent: entry(true, T) };
    expect(applySubscriptionEvent(subscriptions, sub('unsubscribed', T - 2 * REORDER_WINDOW_MS, 'ancient'))).toEqual({ subscriptions, applied: false });
  });

  /** The item after `delivered`, folded the way the handler writes it, read the way check-presence reads it. */
  const onlineAfter = (delivered: (LifecycleEvent | SubscriptionEvent)[]): boolean => {
    let connection: (StoredPresence & { session: string }) | undefined;
    let subscriptions: SessionSubscriptions = {};
    for (const e of delivered) {
      if (!('topics' in e)) {
        if (supersedes(connection, e)) connection = { state: e.eventType, versionNumber: e.versionNumber, eventTimestamp: e.timestamp, session: e.sessionIdentifier };
      } else if (e.topics.includes(pushTopicOf(e.clientId))) {
        subscriptions = applySubscriptionEvent(subscriptions, e, { currentSession: connection?.session }).subscriptions;
      }
    }
    return isOnline({
      ...(connection && { state: { S: connection.state }, sessionIdentifier: { S: connection.session } }),
      subscriptions: subscriptionsToAttribute(subscriptions),
    });
  };

  it('says online exactly when the last connection is open and subscribed to its push topic, whatever the delivery order and duplicates', () => {
    fc.assert(
      fc.property(presenceDeliveryArb('dev-1'), ({ delivered, online }) => {
        expect(onlineAfter(delivered)).toBe(online);
      }),
      { numRuns: 1000 },
    );
  });

  it.each([
    ['connect without subscribe', ['c1'], false],
    ['connect, then subscribe to the push topic', ['c1', 's1'], true],
    ['the subscribe delivered before the connect', ['s1', 'c1'], true],
    ['connect, subscribe, unsubscribe', ['c1', 's1', 'u1'], false],
    ['the unsubscribe delivered first', ['u1', 'c1', 's1'], false],
    ['connect, subscribe, disconnect', ['c1', 's1', 'd1'], false],
    ['connect, subscribe to another topic only', ['c1', 'o1'], false],
    ['a new connection that has not subscribed yet', ['c1', 's1', 'c2'], false],
    ['a new connection that subscribed, its old connection’s disconnect last', ['c1', 's1', 'c2', 's2', 'd1'], true],
    ['everything twice', ['c1', 's1', 'c1', 's1'], true],
  ] as [string, string[], boolean][])('%s: online %s', (_case, names, expected) => {
    const c = (v: number, session: string, timestamp: number): LifecycleEvent => ({ clientId: 'dev-1', eventType: 'connected', versionNumber: v, sessionIdentifier: session, timestamp });
    const s = (eventType: SubscriptionEvent['eventType'], session: string, timestamp: number, topic = pushTopicOf('dev-1')): SubscriptionEvent => ({
      clientId: 'dev-1',
      eventType,
      sessionIdentifier: session,
      timestamp,
      topics: [topic],
    });
    const events: Record<string, LifecycleEvent | SubscriptionEvent> = {
      c1: c(1, 'A', T),
      s1: s('subscribed', 'A', T + 10),
      u1: s('unsubscribed', 'A', T + 20),
      o1: s('subscribed', 'A', T + 10, 'status/dev-1'),
      d1: { clientId: 'dev-1', eventType: 'disconnected', versionNumber: 1, sessionIdentifier: 'A', timestamp: T + 60_000 },
      c2: c(2, 'B', T + 30_000),
      s2: s('subscribed', 'B', T + 30_010),
    };
    expect(onlineAfter(names.map((name) => events[name]))).toBe(expected);
  });
});

describe('record-presence: metrics', () => {
  const points = async (event: unknown) => {
    const emf = captureMetrics();
    await handler(event);
    return metricPoints(emf);
  };

  it('counts a recorded event as PresenceRecorded', async () => {
    dynamodb.on(UpdateItemCommand).resolves({});
    expect(await points(lifecycle('connected'))).toEqual([
      { name: 'PresenceRecorded', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'record-presence' } },
    ]);
  });

  it('counts an event older than the item holds as StalePresenceEvents', async () => {
    dynamodb.on(UpdateItemCommand).rejects(conditionFailed());
    expect(await points(lifecycle('connected'))).toEqual([
      { name: 'StalePresenceEvents', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'record-presence' } },
    ]);
  });

  it('counts an event of an unregistered client id as PresenceEventsIgnored with its reason', async () => {
    registry().resolves({});
    expect(await points(lifecycle('connected'))).toEqual([
      { name: 'PresenceEventsIgnored', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'record-presence', reason: REFUSAL_REASONS.unregisteredClientId } },
    ]);
  });

  it('counts nothing and logs the failed write at ERROR with its stack and cause, so that Lambda retries the event', async () => {
    dynamodb.on(UpdateItemCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    const emf = captureMetrics();
    const logs = captureLogs();
    await expect(handler(lifecycle('connected'))).rejects.toBeInstanceOf(PresenceWriteError);
    expect(emf).toEqual([]);
    expect(logs.filter((line) => line.level === 'ERROR')).toEqual([
      expect.objectContaining({
        message: 'invocation failed',
        error: expect.objectContaining({ name: 'PresenceWriteError', stack: expect.any(String), cause: expect.objectContaining({ name: 'ProvisionedThroughputExceededException' }) }),
      }),
    ]);
  });
});
