import { TASK_ENV } from '../support/task-env';
import mqtt from 'mqtt';
import { connect as netConnect, type Socket } from 'node:net';
import { AgentClient } from '../../client/agent-client';
import { startBroker, type LocalBroker } from '../../local/emulators/broker';
import {
  attachIotLifecycleEvents,
  lifecycleTopic,
  type IotLifecycleEvent,
  type IotPresenceEvent,
  type IotSubscriptionEvent,
  type LifecycleAdapter,
} from '../../local/runtime/iot-lifecycle';
import type * as CheckPresence from '../../tasks/check-presence/handler';
import type * as RecordPresence from '../../tasks/record-presence/handler';
import { importWithDynamoDbEndpoint, startPresenceTable, type LocalPresenceTable } from '../support/dynalite';
import { captureLogs } from '../support/logs';
import { waitFor, waitUntil } from './harness';

/**
 * Presence as the broker sees it: aedes connect/disconnect and subscribe/unsubscribe events → AWS
 * IoT lifecycle events (local/runtime/iot-lifecycle.ts) → the real record-presence handler → a PRESENCE
 * table in dynalite (a DynamoDB implementation, which evaluates the handler's condition
 * expressions) → the real check-presence handler. The client does nothing for presence but
 * connect and subscribe to its push topic.
 */

const isConnectionEvent = (e: IotLifecycleEvent): e is IotPresenceEvent => e.eventType === 'connected' || e.eventType === 'disconnected';
/** A connection event as `<type>@<version - base>`, a subscription event as `<type>`. */
const outline = (events: readonly IotLifecycleEvent[]) => {
  const base = events.find(isConnectionEvent)?.versionNumber ?? 0;
  return events.map((e) => (isConnectionEvent(e) ? `${e.eventType}@${e.versionNumber - base}` : e.eventType));
};

describe('presence from broker lifecycle events through record-presence', () => {
  let table: LocalPresenceTable;
  let recordPresence: typeof RecordPresence;
  let checkPresence: typeof CheckPresence;
  let restoreRecord: () => void;
  let restoreCheck: () => void;
  let broker: LocalBroker;
  let lifecycle: LifecycleAdapter<IotLifecycleEvent>;
  let sinkErrors: unknown[];
  const clients: AgentClient[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    table = await startPresenceTable(TASK_ENV.PRESENCE_TABLE_NAME);
    // record-presence only records registered devices: every client id these tests connect as.
    await table.registerDevices('dev-shape', 'dev-1', 'dev-2', 'dev-2-replay', 'dev-2-replay-b', 'silent-1', 'dev-3', 'dev-5');
    ({ module: recordPresence, restore: restoreRecord } = await importWithDynamoDbEndpoint(table.endpoint, () => import('../../tasks/record-presence/handler')));
    ({ module: checkPresence, restore: restoreCheck } = await importWithDynamoDbEndpoint(table.endpoint, () => import('../../tasks/check-presence/handler')));
  });
  afterAll(async () => {
    restoreRecord();
    restoreCheck();
    await table.close();
  });

  beforeEach(async () => {
    captureLogs();
    broker = await startBroker();
    sinkErrors = [];
    lifecycle = attachIotLifecycleEvents(broker.aedes, (e) => recordPresence.handler(e), { subscriptionEvents: true, onError: (err) => sinkErrors.push(err) });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    sockets.splice(0).forEach((s) => s.destroy());
    await lifecycle.idle();
    lifecycle.detach();
    await broker.close();
    jest.restoreAllMocks();
  });

  const isOnline = async (clientId: string) => (await checkPresence.handler({ devices: [{ agentId: 'a', clientId }] })).devices[0].online;

  const agentClient = (clientId: string, brokerUrl: string | (() => Promise<string>) = broker.tcpUrl) => {
    const c = new AgentClient({ clientId, agentId: 'a', brokerUrl, keepaliveSeconds: 5, reconnect: { initialDelayMs: 20, jitter: 0 } });
    clients.push(c);
    return c;
  };

  it('emits AWS IoT-shaped lifecycle events that record-presence accepts', async () => {
    const c = agentClient('dev-shape');
    const online = waitFor(c, 'presence', (p) => p.state === 'online');
    c.start();
    await online;
    await c.stop();
    await waitUntil('the disconnect is seen', () => lifecycle.events.length === 3);
    await lifecycle.idle();

    const [connected, subscribed, disconnected] = lifecycle.events;
    const common = {
      clientId: 'dev-shape',
      timestamp: expect.any(Number),
      sessionIdentifier: expect.stringMatching(/^[0-9a-f-]{36}$/),
      principalIdentifier: 'local',
      ipAddress: '127.0.0.1',
      versionNumber: expect.any(Number),
    };
    expect(connected).toEqual({ ...common, eventType: 'connected' });
    expect(disconnected).toEqual({ ...common, eventType: 'disconnected', clientInitiatedDisconnect: true, disconnectReason: 'CLIENT_INITIATED_DISCONNECT' });
    // As AWS publishes it: the connection's session, the topics, no versionNumber.
    expect(subscribed).toEqual({
      clientId: 'dev-shape',
      timestamp: expect.any(Number),
      eventType: 'subscribed',
      sessionIdentifier: connected.sessionIdentifier,
      principalIdentifier: 'local',
      topics: ['notify/dev-shape'],
    });
    expect(disconnected.sessionIdentifier).toBe(connected.sessionIdentifier);
    expect((disconnected as IotPresenceEvent).versionNumber).toBe((connected as IotPresenceEvent).versionNumber);
    expect(disconnected.timestamp).toBeGreaterThanOrEqual(subscribed.timestamp);
    expect(subscribed.timestamp).toBeGreaterThanOrEqual(connected.timestamp);
    for (const e of lifecycle.events) expect(recordPresence.PresenceEventSchema.safeParse(e).success).toBe(true);
    expect(lifecycleTopic(connected)).toBe('$aws/events/presence/connected/dev-shape');
    expect(lifecycleTopic(subscribed)).toBe('$aws/events/subscriptions/subscribed/dev-shape');
    expect(sinkErrors).toEqual([]);
  });

  it('makes a connected device online and a dropped one offline, without the client’s help, then online again', async () => {
    // Reconnects wait for this gate, so the offline state can be looked at before the client is back.
    let open: () => void = () => undefined;
    let gate: Promise<void> = Promise.resolve();
    const c = agentClient('dev-1', async () => {
      await gate;
      return broker.tcpUrl;
    });
    expect(await isOnline('dev-1')).toBe(false);
    const online = waitFor(c, 'presence', (p) => p.state === 'online');
    c.start();
    await online;
    await lifecycle.idle();
    expect(await isOnline('dev-1')).toBe(true);

    gate = new Promise((r) => (open = r));
    const offline = waitFor(c, 'presence', (p) => p.state === 'offline');
    broker.dropClient('dev-1');
    await offline;
    await waitUntil('the drop is seen', () => lifecycle.events.some((e) => e.eventType === 'disconnected'));
    await lifecycle.idle();
    expect(lifecycle.events.at(-1)).toMatchObject({ eventType: 'disconnected', disconnectReason: 'CONNECTION_LOST', clientInitiatedDisconnect: false });
    expect(await isOnline('dev-1')).toBe(false);

    const back = waitFor(c, 'presence', (p) => p.state === 'online');
    open();
    await back;
    await lifecycle.idle();
    expect(await isOnline('dev-1')).toBe(true);
    const versions = lifecycle.events.filter(isConnectionEvent).map((e) => e.versionNumber);
    expect(versions[2]).toBe(versions[0] + 1);
    expect(sinkErrors).toEqual([]);
  });

  it('keeps a device online when its old connection’s disconnect arrives after the new connect (takeover, out of order)', async () => {
    const first = mqtt.connect(broker.tcpUrl, { clientId: 'dev-2', reconnectPeriod: 0 });
    first.on('error', () => undefined);
    await new Promise((r) => first.once('connect', r));
    await first.subscribeAsync('notify/dev-2', { qos: 1 });
    const second = mqtt.connect(broker.tcpUrl, { clientId: 'dev-2', reconnectPeriod: 0 });
    await new Promise((r) => second.once('connect', r));
    await waitUntil('the takeover is seen', () => lifecycle.events.length === 4);
    await lifecycle.idle();
    expect(outline(lifecycle.events)).toEqual(['connected@0', 'subscribed', 'disconnected@0', 'connected@1']);
    // Connected, but not yet subscribed: a push now would reach nobody.
    expect(await isOnline('dev-2')).toBe(false);
    await second.subscribeAsync('notify/dev-2', { qos: 1 });
    await waitUntil('the new subscription is seen', () => lifecycle.events.length === 5);
    await lifecycle.idle();
    expect(await isOnline('dev-2')).toBe(true);

    // The same events delivered out of order, as lifecycle events may be: the stale disconnect and
    // the old session's subscription lose, the new session's subscription counts even before its connect.
    const [c0, s0, d0, c1, s1] = lifecycle.events;
    const replay = async (clientId: string, events: IotLifecycleEvent[]) => {
      const topics = (e: IotLifecycleEvent) => (isConnectionEvent(e) ? {} : { topics: [`notify/${clientId}`] });
      for (const e of events) await recordPresence.handler({ ...e, clientId, ...topics(e) });
    };
    await replay('dev-2-replay', [c0, c1, d0, s1, s0]);
    expect(await isOnline('dev-2-replay')).toBe(true);
    await replay('dev-2-replay-b', [s1, d0, s0, c1, c0]);
    expect(await isOnline('dev-2-replay-b')).toBe(true);

    await second.endAsync();
    await first.endAsync(true);
    await waitUntil('the clean disconnect is seen', () => lifecycle.events.length === 6);
    await lifecycle.idle();
    expect(await isOnline('dev-2')).toBe(false);
  });

  it('reports a keep-alive timeout as MQTT_KEEP_ALIVE_TIMEOUT', async () => {
    // A raw MQTT 3.1.1 CONNECT with keep-alive 1 s from a client that then falls silent.
    const clientId = Buffer.from('silent-1');
    const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x01]);
    const payload = Buffer.concat([Buffer.from([0x00, clientId.length]), clientId]);
    const socket = netConnect(broker.tcpPort, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.write(Buffer.concat([Buffer.from([0x10, variable.length + payload.length]), variable, payload]));
    await waitUntil('the keep-alive timeout', () => lifecycle.events.some((e) => e.eventType === 'disconnected'), 5000);
    await lifecycle.idle();
    expect(lifecycle.events.map((e) => (isConnectionEvent(e) ? (e.disconnectReason ?? e.eventType) : e.eventType))).toEqual(['connected', 'MQTT_KEEP_ALIVE_TIMEOUT']);
    expect(await isOnline('silent-1')).toBe(false);
  });

  it('marks the disconnects of a closing broker SERVER_INITIATED_DISCONNECT', async () => {
    const c = agentClient('dev-3');
    const online = waitFor(c, 'presence', (p) => p.state === 'online');
    c.start();
    await online;
    await c.stop(); // first a clean one, for contrast
    const again = mqtt.connect(broker.tcpUrl, { clientId: 'dev-3', reconnectPeriod: 0 });
    again.on('error', () => undefined);
    await new Promise((r) => again.once('connect', r));
    await new Promise<void>((r) => broker.aedes.close(() => r()));
    await waitUntil('the broker close is seen', () => lifecycle.events.length === 5);
    await again.endAsync(true);
    expect(lifecycle.events.map((e) => (isConnectionEvent(e) ? (e.disconnectReason ?? e.eventType) : e.eventType))).toEqual([
      'connected',
      'subscribed',
      'CLIENT_INITIATED_DISCONNECT',
      'connected',
      'SERVER_INITIATED_DISCONNECT',
    ]);
  });

  it('reports an unsubscribe of the push topic, and a refused subscription not at all', async () => {
    const device = mqtt.connect(broker.tcpUrl, { clientId: 'dev-5', reconnectPeriod: 0 });
    device.on('error', () => undefined);
    await new Promise((r) => device.once('connect', r));
    await device.subscribeAsync('notify/dev-5', { qos: 1 });
    await waitUntil('the subscription is seen', () => lifecycle.events.length === 2);
    await lifecycle.idle();
    expect(await isOnline('dev-5')).toBe(true);

    await device.unsubscribeAsync('notify/dev-5');
    await waitUntil('the unsubscribe is seen', () => lifecycle.events.length === 3);
    await lifecycle.idle();
    expect(lifecycle.events[2]).toMatchObject({ eventType: 'unsubscribed', topics: ['notify/dev-5'], sessionIdentifier: lifecycle.events[0].sessionIdentifier });
    expect(lifecycleTopic(lifecycle.events[2])).toBe('$aws/events/subscriptions/unsubscribed/dev-5');
    expect(await isOnline('dev-5')).toBe(false);

    // The broker refuses another device's topic (as the IoT policy does): no subscription, no event.
    await device.subscribeAsync('notify/dev-6', { qos: 1 }).catch(() => undefined);
    await waitUntil('the refused subscription is answered', () => device.disconnected || lifecycle.events.length > 3);
    await lifecycle.idle();
    expect(lifecycle.events.filter((e): e is IotSubscriptionEvent => e.eventType === 'subscribed').map((e) => e.topics)).toEqual([['notify/dev-5']]);
    expect(await isOnline('dev-5')).toBe(false);
    await device.endAsync(true);
    expect(sinkErrors).toEqual([]);
  });

  it('reports a sink failure and goes on with later events', async () => {
    lifecycle.detach();
    const seen: string[] = [];
    const failing = attachIotLifecycleEvents(
      broker.aedes,
      async (e) => {
        if (e.eventType === 'connected') throw new Error('PRESENCE table unavailable');
        seen.push(e.eventType);
      },
      { onError: (err, e) => sinkErrors.push([(err as Error).message, e.eventType]), versionBase: 7, now: () => 1_000 },
    );
    const c = mqtt.connect(broker.tcpUrl, { clientId: 'dev-4', reconnectPeriod: 0 });
    await new Promise((r) => c.once('connect', r));
    await c.endAsync();
    await waitUntil('both events', () => failing.events.length === 2);
    await failing.idle();
    failing.detach();
    expect(sinkErrors).toEqual([['PRESENCE table unavailable', 'connected']]);
    expect(seen).toEqual(['disconnected']);
    expect(failing.events.map((e) => [e.versionNumber, e.timestamp])).toEqual([
      [7, 1_000],
      [7, 1_000],
    ]);
  });
});
