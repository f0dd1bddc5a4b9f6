import { TASK_ENV } from '../support/task-env';
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import type * as CheckPresence from '../../tasks/check-presence/handler';
import type * as RecordPresence from '../../tasks/record-presence/handler';
import type { LifecycleEvent, StoredPresence, SubscriptionEvent } from '../../tasks/record-presence/handler';
import { pushTopicOf } from '../../contracts/push-topic';
import { importWithDynamoDbEndpoint, startPresenceTable, type LocalPresenceTable } from '../support/dynalite';
import { fixture } from '../support/fixtures';
import { deliveryArb, presenceDeliveryArb } from '../support/lifecycle-history';
import { captureLogs } from '../support/logs';

/**
 * record-presence and check-presence against dynalite, a DynamoDB implementation: DynamoDB itself
 * evaluates the condition expression, the reserved words and the BatchGetItem rules here, and the
 * handlers reach it through AWS_ENDPOINT_URL_DYNAMODB as they do in the local runtime.
 */

const TABLE = TASK_ENV.PRESENCE_TABLE_NAME;
const T = 1_741_083_000_000;
const HOUR = 60 * 60_000;

let table: LocalPresenceTable;
let recordPresence: typeof RecordPresence;
let checkPresence: typeof CheckPresence;
const restores: (() => void)[] = [];

const event = (clientId: string, eventType: LifecycleEvent['eventType'], versionNumber: number, timestamp: number): LifecycleEvent => ({
  clientId,
  eventType,
  versionNumber,
  timestamp,
  sessionIdentifier: `session-${versionNumber}`,
});

const subscribed = (clientId: string, versionNumber: number, timestamp: number, eventType: SubscriptionEvent['eventType'] = 'subscribed'): SubscriptionEvent => ({
  clientId,
  eventType,
  timestamp,
  sessionIdentifier: `session-${versionNumber}`,
  topics: [pushTopicOf(clientId)],
});

const storedItem = async (clientId: string) =>
  (await table.client.send(new GetItemCommand({ TableName: TABLE, Key: { clientId: { S: clientId } }, ConsistentRead: true }))).Item;

const presenceOf = async (clientId: string): Promise<StoredPresence | undefined> => {
  const item = await storedItem(clientId);
  if (item === undefined) return undefined;
  return { state: item.state.S as StoredPresence['state'], versionNumber: Number(item.versionNumber.N), eventTimestamp: Number(item.eventTimestamp.N) };
};

const store = async (clientId: string, stored: StoredPresence | undefined) => {
  if (stored === undefined) {
    await table.client.send(new DeleteItemCommand({ TableName: TABLE, Key: { clientId: { S: clientId } } }));
    return;
  }
  await table.client.send(
    new PutItemCommand({
      TableName: TABLE,
      Item: {
        clientId: { S: clientId },
        state: { S: stored.state },
        versionNumber: { N: String(stored.versionNumber) },
        eventTimestamp: { N: String(stored.eventTimestamp) },
        sessionIdentifier: { S: 'seeded' },
      },
    }),
  );
};

const registered = new Set<string>();
/** record-presence for a registered device: its client id is in the registry before the event arrives. */
const record = async (e: unknown) => {
  const { clientId } = e as { clientId: string };
  if (!registered.has(clientId)) {
    await table.registerDevices(clientId);
    registered.add(clientId);
  }
  return recordPresence.handler(e);
};

beforeAll(async () => {
  table = await startPresenceTable(TABLE);
  const recording = await importWithDynamoDbEndpoint(table.endpoint, () => import('../../tasks/record-presence/handler'));
  const checking = await importWithDynamoDbEndpoint(table.endpoint, () => import('../../tasks/check-presence/handler'));
  recordPresence = recording.module;
  checkPresence = checking.module;
  restores.push(checking.restore, recording.restore);
});
afterAll(async () => {
  for (const restore of restores) restore();
  await table.close();
});
beforeEach(() => {
  captureLogs();
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('record-presence on DynamoDB: the write', () => {
  it('stores state, event time, version, session and timestamps, with an expiry only while disconnected', async () => {
    await record(fixture('iot-lifecycle', 'connected'));
    expect(await storedItem('dev-berta-laptop')).toEqual({
      clientId: { S: 'dev-berta-laptop' },
      state: { S: 'connected' },
      eventTimestamp: { N: '1741083000000' },
      versionNumber: { N: '7' },
      sessionIdentifier: { S: '6b3ad1d7-1c3e-4b8e-9a47-2f8e0a2f1c11' },
      updatedAt: { S: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
    });
    await record(fixture('iot-lifecycle', 'disconnected'));
    expect(await storedItem('dev-berta-laptop')).toMatchObject({
      state: { S: 'disconnected' },
      expiresAt: { N: String(1741086600 + recordPresence.DISCONNECTED_TTL_SECONDS) },
    });
    await record({ ...fixture<LifecycleEvent>('iot-lifecycle', 'connected'), versionNumber: 8, timestamp: 1741090000000 });
    const reconnected = await storedItem('dev-berta-laptop');
    expect(reconnected).toMatchObject({ state: { S: 'connected' }, versionNumber: { N: '8' } });
    expect(reconnected).not.toHaveProperty('expiresAt');
  });

  it('keeps a device online when its old connection’s disconnect arrives after the new connection’s connect', async () => {
    await expect(record(event('dev-takeover', 'connected', 7, T))).resolves.toMatchObject({ applied: true });
    await expect(record(event('dev-takeover', 'connected', 8, T + 60_000))).resolves.toMatchObject({ applied: true });
    await expect(record(event('dev-takeover', 'disconnected', 7, T + 61_000))).resolves.toEqual({
      clientId: 'dev-takeover',
      state: 'disconnected',
      applied: false,
    });
    expect(await presenceOf('dev-takeover')).toEqual({ state: 'connected', versionNumber: 8, eventTimestamp: T + 60_000 });
  });
});

describe('record-presence on DynamoDB: registered devices only', () => {
  it('writes no PRESENCE item for a connect or subscription of a client id the registry does not hold, and one once it does', async () => {
    const clientId = 'dev-not-registered';
    for (const e of [event(clientId, 'connected', 1, T), subscribed(clientId, 1, T + 10)]) {
      await expect(recordPresence.handler(e)).resolves.toEqual({ clientId, state: e.eventType, applied: false, reason: recordPresence.REFUSAL_REASONS.unregisteredClientId });
    }
    expect(await storedItem(clientId)).toBeUndefined();
    await table.registerDevices(clientId);
    await expect(recordPresence.handler(event(clientId, 'connected', 2, T + 30))).resolves.toMatchObject({ applied: true });
    expect(await presenceOf(clientId)).toEqual({ state: 'connected', versionNumber: 2, eventTimestamp: T + 30 });
  });

  it('records the disconnect of a client id that left the registry while connected, with its expiry, so it does not stay online for good', async () => {
    const clientId = 'dev-left-registry-connected';
    await store(clientId, { state: 'connected', versionNumber: 4, eventTimestamp: T });
    await expect(recordPresence.handler(event(clientId, 'disconnected', 4, T + 1_000))).resolves.toEqual({ clientId, state: 'disconnected', applied: true });
    expect(await storedItem(clientId)).toMatchObject({
      state: { S: 'disconnected' },
      expiresAt: { N: String(Math.floor((T + 1_000) / 1000) + recordPresence.DISCONNECTED_TTL_SECONDS) },
    });
    await expect(recordPresence.handler(event(clientId, 'connected', 5, T + 2_000))).resolves.toMatchObject({ applied: false, reason: recordPresence.REFUSAL_REASONS.unregisteredClientId });
  });
});

describe('record-presence on DynamoDB: the condition expression agrees with supersedes()', () => {
  const cases: [string, StoredPresence | undefined, LifecycleEvent['eventType'], number, number][] = [
    ['no item yet', undefined, 'connected', 3, T],
    ['disconnect of the stored connection', { state: 'connected', versionNumber: 3, eventTimestamp: T }, 'disconnected', 3, T + 5_000],
    ['disconnect of the stored connection stamped earlier', { state: 'connected', versionNumber: 3, eventTimestamp: T }, 'disconnected', 3, T - 90_000],
    ['connect of the stored, already disconnected connection', { state: 'disconnected', versionNumber: 3, eventTimestamp: T }, 'connected', 3, T - 5_000],
    ['duplicate connect', { state: 'connected', versionNumber: 3, eventTimestamp: T }, 'connected', 3, T],
    ['duplicate disconnect', { state: 'disconnected', versionNumber: 3, eventTimestamp: T }, 'disconnected', 3, T],
    ['newer connection', { state: 'disconnected', versionNumber: 3, eventTimestamp: T }, 'connected', 4, T + 1_000],
    ['newer connection stamped earlier (takeover)', { state: 'connected', versionNumber: 3, eventTimestamp: T }, 'connected', 4, T - 60_000],
    ['older connection stamped later', { state: 'connected', versionNumber: 4, eventTimestamp: T }, 'disconnected', 3, T + 60_000],
    ['restarted versions after two hours away', { state: 'disconnected', versionNumber: 9, eventTimestamp: T }, 'connected', 0, T + 2 * HOUR],
    ['an event from before a version restart', { state: 'connected', versionNumber: 0, eventTimestamp: T }, 'disconnected', 9, T - 2 * HOUR],
    ['exactly one window newer', { state: 'connected', versionNumber: 5, eventTimestamp: T }, 'connected', 1, T + 10 * 60_000],
    ['just over one window newer', { state: 'connected', versionNumber: 5, eventTimestamp: T }, 'connected', 1, T + 10 * 60_000 + 1],
    ['exactly one window older', { state: 'connected', versionNumber: 1, eventTimestamp: T }, 'connected', 5, T - 10 * 60_000],
    ['just over one window older', { state: 'connected', versionNumber: 1, eventTimestamp: T }, 'connected', 5, T - 10 * 60_000 - 1],
  ];

  it.each(cases)('%s', async (_case, stored, eventType, versionNumber, timestamp) => {
    const clientId = 'dev-agreement';
    await store(clientId, stored);
    const incoming = event(clientId, eventType, versionNumber, timestamp);
    const expected = recordPresence.supersedes(stored, incoming);
    const out = await record(incoming);
    expect(out.applied).toBe(expected);
    expect(await presenceOf(clientId)).toEqual(expected ? { state: eventType, versionNumber, eventTimestamp: timestamp } : stored);
  });
});

describe('record-presence on DynamoDB: any delivery order', () => {
  it('ends with the state of the latest event of any realistic history, delivered in any order with duplicates', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constant(null).chain(() => deliveryArb(`dev-history-${(run += 1)}`)),
        async ({ delivered, latest }) => {
          for (const e of delivered) await record(e);
          expect(await presenceOf(latest.clientId)).toEqual({ state: latest.eventType, versionNumber: latest.versionNumber, eventTimestamp: latest.timestamp });
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('record-presence on DynamoDB: timestamps ahead of the clock', () => {
  it('refuses an event stamped in 2100, and the device’s presence still follows later events', async () => {
    const clientId = 'dev-2100';
    await record(event(clientId, 'connected', 1, T));
    await expect(record(event(clientId, 'connected', 2, Date.UTC(2100, 0, 1)))).resolves.toMatchObject({
      applied: false,
      reason: recordPresence.REFUSAL_REASONS.timestampAheadOfClock,
    });
    expect(await presenceOf(clientId)).toEqual({ state: 'connected', versionNumber: 1, eventTimestamp: T });
    await expect(record(event(clientId, 'disconnected', 1, T + 60_000))).resolves.toMatchObject({ applied: true });
    expect(await presenceOf(clientId)).toEqual({ state: 'disconnected', versionNumber: 1, eventTimestamp: T + 60_000 });
  });

  it('lets the next real event replace an item already frozen in 2100', async () => {
    const clientId = 'dev-frozen';
    await store(clientId, { state: 'connected', versionNumber: 9, eventTimestamp: Date.UTC(2100, 0, 1) });
    await expect(record(event(clientId, 'disconnected', 3, T))).resolves.toMatchObject({ applied: true });
    expect(await presenceOf(clientId)).toEqual({ state: 'disconnected', versionNumber: 3, eventTimestamp: T });
  });
});

describe('record-presence on DynamoDB: presence means subscribed', () => {
  const online = async (clientId: string) => (await checkPresence.handler({ devices: [{ agentId: 'a', clientId }] })).devices[0].online;

  it('is offline when connected, online once subscribed to the push topic, offline again after unsubscribe or disconnect', async () => {
    await record(event('dev-sub', 'connected', 1, T));
    expect(await online('dev-sub')).toBe(false);
    await record({ ...subscribed('dev-sub', 1, T + 10), topics: ['status/dev-sub'] });
    expect(await online('dev-sub')).toBe(false);
    await record(subscribed('dev-sub', 1, T + 20));
    expect(await online('dev-sub')).toBe(true);
    await record(subscribed('dev-sub', 1, T + 30, 'unsubscribed'));
    expect(await online('dev-sub')).toBe(false);
    await record(subscribed('dev-sub', 1, T + 40));
    expect(await online('dev-sub')).toBe(true);
    await record(event('dev-sub', 'disconnected', 1, T + 50));
    expect(await online('dev-sub')).toBe(false);
  });

  it('is online when the subscribe landed before its connect, and stays offline for a new connection that has not subscribed', async () => {
    await record(subscribed('dev-early', 4, T + 10));
    expect(await online('dev-early')).toBe(false);
    expect(await storedItem('dev-early')).toMatchObject({ expiresAt: { N: String(Math.floor((T + 10) / 1000) + recordPresence.DISCONNECTED_TTL_SECONDS) } });
    await record(event('dev-early', 'connected', 4, T));
    expect(await online('dev-early')).toBe(true);
    expect(await storedItem('dev-early')).not.toHaveProperty('expiresAt');
    await record(event('dev-early', 'connected', 5, T + 60_000));
    expect(await online('dev-early')).toBe(false);
  });

  it('records both a connect and a subscribe of one session that land at the same time', async () => {
    for (let i = 0; i < 10; i += 1) {
      const clientId = `dev-race-${i}`;
      await Promise.all([record(event(clientId, 'connected', 1, T)), record(subscribed(clientId, 1, T + 5))]);
      expect(await online(clientId)).toBe(true);
    }
  });

  it('ends online exactly when the last connection is open and subscribed, for any realistic history in any order with duplicates', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constant(null).chain(() => presenceDeliveryArb(`dev-subscriptions-${(run += 1)}`)),
        async ({ delivered, online: expected }) => {
          for (const e of delivered) await record(e);
          expect(await online(delivered[0].clientId)).toBe(expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('check-presence on DynamoDB', () => {
  it('reads what record-presence wrote, with duplicates and devices never seen', async () => {
    await record(event('dev-on', 'connected', 1, T));
    await record(subscribed('dev-on', 1, T + 10));
    await record(event('dev-off', 'connected', 1, T));
    await record(subscribed('dev-off', 1, T + 10));
    await record(event('dev-off', 'disconnected', 1, T + 1_000));
    const out = await checkPresence.handler({
      devices: [
        { agentId: 'a1', clientId: 'dev-on' },
        { agentId: 'a1', clientId: 'dev-off' },
        { agentId: 'a2', clientId: 'dev-never' },
        { agentId: 'a3', clientId: 'dev-on' },
      ],
    });
    expect(out).toEqual({
      devices: [
        { agentId: 'a1', clientId: 'dev-on', online: true },
        { agentId: 'a1', clientId: 'dev-off', online: false },
        { agentId: 'a2', clientId: 'dev-never', online: false },
        { agentId: 'a3', clientId: 'dev-on', online: true },
      ],
      onlineCount: 2,
    });
  });

  it('reads a page larger than one BatchGetItem', async () => {
    const devices = Array.from({ length: 230 }, (_, i) => ({ agentId: 'a1', clientId: i === 117 ? 'dev-on' : `dev-page-${i}` }));
    const out = await checkPresence.handler({ devices });
    expect(out.onlineCount).toBe(1);
    expect(out.devices[117]).toEqual({ agentId: 'a1', clientId: 'dev-on', online: true });
  });
});
