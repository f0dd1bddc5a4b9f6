import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type LocalBroker } from '../../../local/emulators/broker';

const connect = (url: string, clientId: string): Promise<MqttClient> =>
  new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });

describe('local MQTT broker', () => {
  let broker: LocalBroker;
  const clients: MqttClient[] = [];

  beforeEach(async () => {
    broker = await startBroker();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await broker.close();
  });

  it('delivers a data-plane publish to the device subscribed over WebSocket and to nobody else', async () => {
    const d1 = await connect(broker.wsUrl, 'dev-1');
    const d2 = await connect(broker.tcpUrl, 'dev-2');
    clients.push(d1, d2);
    await d1.subscribeAsync('notify/dev-1', { qos: 1 });
    await d2.subscribeAsync('notify/dev-2', { qos: 1 });
    const got1: string[] = [];
    const got2: string[] = [];
    d1.on('message', (_t, p) => got1.push(p.toString()));
    d2.on('message', (_t, p) => got2.push(p.toString()));
    await broker.publish('notify/dev-1', Buffer.from('hello'), 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(got1).toEqual(['hello']);
    expect(got2).toEqual([]);
  });

  it("refuses a subscription to another device's topic", async () => {
    const d1 = await connect(broker.tcpUrl, 'dev-1');
    clients.push(d1);
    const granted = await d1.subscribeAsync('notify/dev-2', { qos: 1 }).catch((e: Error) => e);
    const refused = granted instanceof Error || (Array.isArray(granted) && granted[0].qos === 128);
    expect(refused).toBe(true);
  });

  it('lets the server drop a client connection', async () => {
    const d1 = await connect(broker.tcpUrl, 'dev-1');
    clients.push(d1);
    const closed = new Promise<void>((r) => d1.once('close', () => r()));
    expect(broker.dropClient('dev-1')).toBe(true);
    await closed;
    expect(broker.dropClient('nobody')).toBe(false);
  });
});
