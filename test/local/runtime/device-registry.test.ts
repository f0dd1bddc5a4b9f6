import { DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import mqtt, { type MqttClient } from 'mqtt';
import { pushTopicOf } from '../../../contracts/push-topic';
import { seededDevices } from '../../../local/runtime/seed';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../../local/runtime/stack';
import { isOnline } from '../../../tasks/shared/presence';
import { captureLogs, type LogEntry } from '../../support/logs';

/**
 * The local runtime's device registry: every seeded device is registered, so its broker lifecycle
 * events reach PRESENCE through the real record-presence; a client id that was never registered
 * connects and subscribes like any other and still never appears in PRESENCE.
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

  const connectAndSubscribe = async (clientId: string) => {
    const device = mqtt.connect(stack.endpoints.mqtt, { clientId, reconnectPeriod: 0 });
    devices.push(device);
    await new Promise((resolve, reject) => device.once('connect', resolve).once('error', reject));
    await device.subscribeAsync(pushTopicOf(clientId), { qos: 1 });
    await stack.settle();
  };

  it('holds one registry item for every seeded device, with its agent', async () => {
    const { Items } = await ddb.send(new ScanCommand({ TableName: stack.config.deviceRegistryTable }));
    const registered = (Items ?? []).map((item) => ({ clientId: item.clientId.S, agentId: item.agentId.S })).sort((a, b) => String(a.clientId).localeCompare(String(b.clientId)));
    expect(registered).toEqual(seededDevices(stack.seed).sort((a, b) => a.clientId.localeCompare(b.clientId)));
    expect(registered.map((d) => d.clientId)).toContain('alice-laptop');
  });

  it('records a seeded device that connects and subscribes as online', async () => {
    await connectAndSubscribe('alice-laptop');
    expect(isOnline(await presenceItem('alice-laptop'))).toBe(true);
  });

  it('never writes PRESENCE for a client id that was never registered, and logs why for each of its events', async () => {
    await connectAndSubscribe('mallory-laptop');
    await devices.splice(0)[0].endAsync(true);
    const eventsOf = () => stack.lifecycle.events.filter((e) => e.clientId === 'mallory-laptop').map((e) => e.eventType);
    for (const deadline = Date.now() + 5_000; eventsOf().length < 3 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    await stack.settle();
    expect(eventsOf()).toEqual(['connected', 'subscribed', 'disconnected']);
    expect(await presenceItem('mallory-laptop')).toBeUndefined();
    expect(logs.filter((l) => l.message === 'lifecycle event ignored: unregistered-client-id' && l.clientId === 'mallory-laptop').map((l) => l.state)).toEqual([
      'connected',
      'subscribed',
      'disconnected',
    ]);
  });
});
