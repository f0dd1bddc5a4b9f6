import { DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { MqttClient } from 'mqtt';
import { issueClientId } from '../../../contracts/agent-access';
import { pushTopicOf } from '../../../contracts/push-topic';
import { seededDevice, seededDevices } from '../../../local/runtime/seed';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../../local/runtime/stack';
import { isOnline } from '../../../tasks/shared/presence';
import { subscribeGranted, tryConnect } from '../../support/devices';
import { captureLogs, type LogEntry } from '../../support/logs';

/**
 * The local runtime's device registry: every seeded device is registered, so its broker lifecycle
 * events reach PRESENCE through the real record-presence; a client id of the agent's that was never
 * registered gets through the IoT authorizer (it checks the owner hash, not the database),
 * connects and subscribes like any other, and is never online in PRESENCE (only its disconnect,
 * which can only lower presence, is written).
 */

describe('the local runtime’s device registry', () => {
  let stack: LocalStack;
  let ddb: DynamoDBClient;
  let logs: LogEntry[];
  const devices: MqttClient[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ retryIntervalMs: 0 });
    ddb = new DynamoDBClient({ endpoint: stack.endpoints.dynamodb, region: stack.config.region, credentials: LOCAL_CREDENTIALS });
  });
  beforeEach(() => {
    logs = captureLogs();
  });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.endAsync(true)));
    await stack.settle();
    jest.restoreAllMocks();
  });
  afterAll(async () => {
    ddb.destroy();
    await stack.stop();
  });

  const presenceItem = async (clientId: string) =>
    (await ddb.send(new GetItemCommand({ TableName: stack.config.presenceTable, Key: { clientId: { S: clientId } }, ConsistentRead: true }))).Item;

  const connectAndSubscribe = async (agentId: string, clientId: string) => {
    const outcome = await tryConnect(stack, 'tcp', clientId, (await stack.tokens.mint(agentId)).token);
    if (!outcome.connected) throw new Error(`${clientId} was refused: ${outcome.message}`);
    devices.push(outcome.client);
    expect(await subscribeGranted(outcome.client, pushTopicOf(clientId))).toEqual([1]);
    await stack.settle();
  };

  it('holds one registry item for every seeded device, with its agent', async () => {
    const { Items } = await ddb.send(new ScanCommand({ TableName: stack.config.deviceRegistryTable }));
    const registered = (Items ?? []).map((item) => ({ clientId: item.clientId.S, agentId: item.agentId.S })).sort((a, b) => String(a.clientId).localeCompare(String(b.clientId)));
    expect(registered).toEqual(
      seededDevices(stack.seed)
        .map(({ clientId, agentId }) => ({ clientId, agentId }))
        .sort((a, b) => a.clientId.localeCompare(b.clientId)),
    );
    expect(registered.map((d) => d.clientId)).toContain(seededDevice(stack.seed, 'alice', 'laptop').clientId);
  });

  it('records a seeded device that connects and subscribes as online', async () => {
    const { clientId } = seededDevice(stack.seed, 'alice', 'laptop');
    await connectAndSubscribe('alice', clientId);
    expect(isOnline(await presenceItem(clientId))).toBe(true);
  });

  it('never records a client id that was never registered as online, logging why for its connect and subscribe, and writes only its disconnect', async () => {
    const unregistered = issueClientId('alice', () => new Uint8Array(8).fill(0xee));
    await connectAndSubscribe('alice', unregistered);
    await devices.splice(0)[0].endAsync(true);
    const eventsOf = () => stack.lifecycle.events.filter((e) => e.clientId === unregistered).map((e) => e.eventType);
    for (const deadline = Date.now() + 5_000; eventsOf().length < 3 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    await stack.settle();
    expect(eventsOf()).toEqual(['connected', 'subscribed', 'disconnected']);
    expect(await presenceItem(unregistered)).toMatchObject({ state: { S: 'disconnected' }, expiresAt: { N: expect.any(String) } });
    expect(isOnline(await presenceItem(unregistered))).toBe(false);
    expect(logs.filter((l) => l.message === 'lifecycle event ignored: unregistered-client-id' && l.clientId === unregistered).map((l) => l.state)).toEqual([
      'connected',
      'subscribed',
    ]);
  });
});
