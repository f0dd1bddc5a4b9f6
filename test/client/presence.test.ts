import { TASK_ENV } from '../support/task-env';
import mqtt from 'mqtt';
import { connect as netConnect, type Socket } from 'node:net';
import { AgentClient } from '../../client/agent-client';
import { startBroker, type LocalBroker } from '../../local/broker';
import { attachIotLifecycleEvents, lifecycleTopic, type IotLifecycleEvent, type LifecycleAdapter } from '../../local/iot-lifecycle';
import type * as CheckPresence from '../../tasks/check-presence/handler';
import type * as RecordPresence from '../../tasks/record-presence/handler';
import { importWithDynamoDbEndpoint, startPresenceTable, type LocalPresenceTable } from '../support/dynalite';
import { captureLogs } from '../support/logs';
import { waitFor, waitUntil } from './harness';

/**
 * Presence as the broker sees it: aedes connect/disconnect events → AWS IoT lifecycle events
 * (local/iot-lifecycle.ts) → the real record-presence handler → a PRESENCE table in dynalite (a
 * DynamoDB implementation, which evaluates the handler's condition expression) → the real
 * check-presence handler. The client does nothing for presence but connect.
 */

describe('presence from broker lifecycle events through record-presence', () => {
  let table: LocalPresenceTable;
  let recordPresence: typeof RecordPresence;
  let checkPresence: typeof CheckPresence;
  let restoreRecord: () => void;
  let restoreCheck: () => void;
  let broker: LocalBroker;
  let lifecycle: LifecycleAdapter;
  let sinkErrors: unknown[];
  const clients: AgentClient[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    table = await startPresenceTable(TASK_ENV.PRESENCE_TABLE_NAME);
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
    lifecycle = attachIotLifecycleEvents(broker.aedes, (e) => recordPresence.handler(e), { onError: (err) => sinkErrors.push(err) });
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
    await waitUntil('the disconnect is seen', () => lifecycle.events.length === 2);
    await lifecycle.idle();

    const [connected, disconnected] = lifecycle.events;
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
    expect(disconnected.sessionIdentifier).toBe(connected.sessionIdentifier);
    expect(disconnected.versionNumber).toBe(connected.versionNumber);
    expect(disconnected.timestamp).toBeGreaterThanOrEqual(connected.timestamp);
    for (const e of lifecycle.events) expect(recordPresence.LifecycleEventSchema.safeParse(e).success).toBe(true);
    expect(lifecycleTopic(connected)).toBe('$aws/events/presence/connected/dev-shape');
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
    const versions = lifecycle.events.map((e) => e.versionNumber);
    expect(versions[2]).toBe(versions[0] + 1);
    expect(sinkErrors).toEqual([]);
  });

  it('keeps a device online when its old connection’s disconnect arrives after the new connect (takeover, out of order)', async () => {
    const first = mqtt.connect(broker.tcpUrl, { clientId: 'dev-2', reconnectPeriod: 0 });
    first.on('error', () => undefined);
    await new Promise((r) => first.once('connect', r));
    const second = mqtt.connect(broker.tcpUrl, { clientId: 'dev-2', reconnectPeriod: 0 });
    await new Promise((r) => second.once('connect', r));
    await waitUntil('the takeover is seen', () => lifecycle.events.length === 3);
    await lifecycle.idle();
    expect(lifecycle.events.map((e) => `${e.eventType}@${e.versionNumber - lifecycle.events[0].versionNumber}`)).toEqual([
      'connected@0',
      'disconnected@0',
      'connected@1',
    ]);
    expect(await isOnline('dev-2')).toBe(true);

    // The same events delivered out of order, as lifecycle events may be: the stale disconnect loses.
    const [c0, d0, c1] = lifecycle.events;
    const replay = async (events: IotLifecycleEvent[]) => {
      for (const e of events) await recordPresence.handler({ ...e, clientId: 'dev-2-replay' });
    };
    await replay([c0, c1, d0]);
    expect(await isOnline('dev-2-replay')).toBe(true);

    await second.endAsync();
    await first.endAsync(true);
    await waitUntil('the clean disconnect is seen', () => lifecycle.events.length === 4);
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
    expect(lifecycle.events.map((e) => e.disconnectReason ?? e.eventType)).toEqual(['connected', 'MQTT_KEEP_ALIVE_TIMEOUT']);
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
    await waitUntil('the broker close is seen', () => lifecycle.events.length === 4);
    await again.endAsync(true);
    expect(lifecycle.events.map((e) => e.disconnectReason ?? e.eventType)).toEqual([
      'connected',
      'CLIENT_INITIATED_DISCONNECT',
      'connected',
      'SERVER_INITIATED_DISCONNECT',
    ]);
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
