import type { MqttClient } from 'mqtt';
import { pushTopicOf } from '../../../contracts/push-topic';
import { seededDevice } from '../../../local/runtime/seed';
import { startLocalStack, type LocalStack } from '../../../local/runtime/stack';
import { connectSeededDevice, subscribeGranted, tryConnect, type OnlineDevice, type Transport } from '../../support/devices';
import { captureLogs, type LogEntry } from '../../support/logs';
import { customerMessage } from '../../support/messages';

/**
 * The local broker authorizes every connection with the real IoT authorizer handler
 * (tasks/iot-authorizer/handler.ts) on tokens of the local issuer, as AWS IoT does with the
 * stack's custom authorizer: wildcards as client ids, impersonation, no token and expired tokens
 * are refused at CONNECT; a connected device may subscribe to its own push topic only.
 */

const CONNACK_NOT_AUTHORIZED = 5;
const SUBACK_FAILURE = 128;

describe('the local broker’s authorization through the IoT authorizer', () => {
  let stack: LocalStack;
  let logs: LogEntry[];
  const open: MqttClient[] = [];
  const devices: OnlineDevice[] = [];
  /** What the authorizer logged for each refused case, printed at the end for the closing note. */
  const observed: { case: string; transport: Transport; returnCode: number | undefined; reason: unknown }[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ retryIntervalMs: 0, pipeBatchingWindowMs: 5 });
  });
  beforeEach(() => {
    logs = captureLogs();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.endAsync(true)));
    await Promise.all(devices.splice(0).map((d) => d.close()));
    await stack.settle();
    jest.restoreAllMocks();
  });
  afterAll(async () => {
    await stack.stop();
    if (observed.length > 0) process.stdout.write(`authorizer refusals observed on the local broker:\n${observed.map((o) => `  ${o.case} (${o.transport}): CONNACK ${o.returnCode}, "${String(o.reason)}"`).join('\n')}\n`);
  });

  const alice = () => seededDevice(stack.seed, 'alice', 'laptop');
  const bob = () => seededDevice(stack.seed, 'bob', 'laptop');
  const denials = () => logs.filter((l) => l.message === 'connection denied');

  const refusals: [string, (s: LocalStack) => Promise<{ clientId: string; token?: string }>, RegExp][] = [
    ['client id "+"', async (s) => ({ clientId: '+', token: (await s.tokens.mint('alice')).token }), /client id must be/],
    ['client id "#"', async (s) => ({ clientId: '#', token: (await s.tokens.mint('alice')).token }), /client id must be/],
    ["another agent's device", async (s) => ({ clientId: seededDevice(s.seed, 'bob', 'laptop').clientId, token: (await s.tokens.mint('alice')).token }), /client id was not issued to this agent/],
    ['no token', async (s) => ({ clientId: seededDevice(s.seed, 'alice', 'laptop').clientId }), /no token/],
    [
      'an expired token',
      async (s) => ({ clientId: seededDevice(s.seed, 'alice', 'laptop').clientId, token: (await s.tokens.mint('alice', { expiresAt: new Date(Date.now() - 60_000) })).token }),
      /token expired/,
    ],
    [
      'a token with less than the 5-minute IoT session minimum left',
      async (s) => ({ clientId: seededDevice(s.seed, 'alice', 'laptop').clientId, token: (await s.tokens.mint('alice', { lifetimeSeconds: 120 })).token }),
      /less than 300 s/,
    ],
    [
      'a token whose signature was tampered with',
      async (s) => ({ clientId: seededDevice(s.seed, 'alice', 'laptop').clientId, token: (await s.tokens.mint('alice')).token.replace(/.{8}$/, 'AAAAAAAA') }),
      /signature verification failed/,
    ],
  ];

  describe.each<Transport>(['websocket', 'tcp'])('over %s', (transport) => {
    it.each(refusals)('refuses the CONNECT of %s as not authorized, with no presence event', async (what, attempt, reason) => {
      const { clientId, token } = await attempt(stack);
      const eventsBefore = stack.lifecycle.events.length;
      const outcome = await tryConnect(stack, transport, clientId, token);
      if (outcome.connected) open.push(outcome.client);
      expect(outcome).toEqual({ connected: false, returnCode: CONNACK_NOT_AUTHORIZED, message: expect.stringMatching(/not authorized/i) });
      await stack.settle();
      expect(denials()).toEqual([expect.objectContaining({ reason: expect.stringMatching(reason) })]);
      observed.push({ case: what, transport, returnCode: outcome.connected ? 0 : outcome.returnCode, reason: denials()[0]?.reason });
      expect(stack.lifecycle.events.slice(eventsBefore).filter((e) => e.clientId === clientId)).toEqual([]);
    });

    it('accepts a seeded device with its agent’s token and lets it subscribe to its own push topic only', async () => {
      const device = await connectSeededDevice(stack, 'alice', 'laptop', transport);
      devices.push(device);
      for (const filter of [pushTopicOf(bob().clientId), 'notify/#', 'notify/+', '#', '+', `${pushTopicOf(device.clientId)}/#`]) {
        expect([filter, await subscribeGranted(device.mqtt, filter)]).toEqual([filter, [SUBACK_FAILURE]]);
      }
      expect(device.mqtt.connected).toBe(true);
      expect(stack.lifecycle.events.filter((e) => e.clientId === device.clientId).map((e) => e.eventType)).toEqual(expect.arrayContaining(['connected', 'subscribed']));
    });
  });

  it("keeps an impostor's refused CONNECT from taking over the connection of the device it claims to be", async () => {
    const real = await connectSeededDevice(stack, 'alice', 'laptop');
    devices.push(real);
    const impostor = await tryConnect(stack, 'websocket', real.clientId, (await stack.tokens.mint('bob')).token);
    expect(impostor).toMatchObject({ connected: false, returnCode: CONNACK_NOT_AUTHORIZED });
    await stack.settle();
    expect(real.mqtt.connected).toBe(true);
  });

  it('pushes a message to the allowed device, and a device that publishes is disconnected', async () => {
    const aliceLaptop = await connectSeededDevice(stack, 'alice', 'laptop');
    const bobLaptop = await connectSeededDevice(stack, 'bob', 'laptop');
    devices.push(aliceLaptop, bobLaptop);
    const message = customerMessage({ assignedAgentId: 'alice' });
    await stack.putMessage(message);
    await stack.settle();
    for (const deadline = Date.now() + 5_000; aliceLaptop.received.length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
    expect(aliceLaptop.received).toEqual([expect.objectContaining({ messageId: message.messageId, kind: 'message.created' })]);
    expect(bobLaptop.received).toEqual([]);

    const closed = new Promise<void>((resolve) => bobLaptop.mqtt.once('close', () => resolve()));
    bobLaptop.mqtt.publish(pushTopicOf(alice().clientId), JSON.stringify({ forged: true }), { qos: 1 });
    await closed;
    await new Promise((r) => setTimeout(r, 100));
    expect(aliceLaptop.received).toHaveLength(1);
  });
});
