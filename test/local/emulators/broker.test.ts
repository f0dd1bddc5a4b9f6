import type { IoTCustomAuthorizerEvent } from 'aws-lambda';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type BrokerAuthorization, type LocalBroker, type RefusedConnection } from '../../../local/emulators/broker';
import { subscribeGranted } from '../../support/devices';

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

describe('local MQTT broker with an authorizer', () => {
  const ARN = 'arn:aws:iot:us-east-1:000000000000';
  let broker: LocalBroker;
  let events: IoTCustomAuthorizerEvent[];
  let refused: RefusedConnection[];
  let answer: (event: IoTCustomAuthorizerEvent) => Promise<BrokerAuthorization>;
  const clients: MqttClient[] = [];

  const policy = (clientId: string, statements: { Action: string; Resource: string }[] = []): BrokerAuthorization => ({
    isAuthenticated: true,
    policyDocuments: [
      {
        Statement: [
          { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${clientId}` },
          { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/notify/${clientId}` },
          { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/notify/${clientId}` },
          ...statements.map((s) => ({ Effect: 'Allow', ...s })),
        ],
      },
    ],
    disconnectAfterInSeconds: 3600,
  });

  const attempt = (url: string, clientId: string, options: { username?: string } = {}): Promise<MqttClient | Error> =>
    new Promise((resolve) => {
      const c = mqtt.connect(url, { clientId, reconnectPeriod: 0, connectTimeout: 5000, ...options });
      c.once('connect', () => {
        clients.push(c);
        resolve(c);
      });
      c.once('error', (error) => {
        c.end(true);
        resolve(error);
      });
    });

  beforeEach(async () => {
    events = [];
    refused = [];
    answer = async (event) => policy(event.protocolData.mqtt!.clientId);
    broker = await startBroker({
      authorize: (event) => {
        events.push(event);
        return answer(event);
      },
      onRefused: (r) => refused.push(r),
    });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await broker.close();
  });

  it('hands the authorizer the WebSocket URL’s query string and headers with the client id, and the TCP username’s query string', async () => {
    await attempt(`${broker.wsUrl}?x-amz-customauthorizer-name=local-agent-jwt&token=abc.def.ghi`, 'dev-ws');
    await attempt(broker.tcpUrl, 'dev-tcp', { username: '?x-amz-customauthorizer-name=local-agent-jwt&token=jkl.mno.pqr' });
    expect(events.map((e) => [e.protocolData.mqtt?.clientId, e.protocolData.http?.queryString])).toEqual([
      ['dev-ws', 'x-amz-customauthorizer-name=local-agent-jwt&token=abc.def.ghi'],
      ['dev-tcp', 'x-amz-customauthorizer-name=local-agent-jwt&token=jkl.mno.pqr'],
    ]);
    expect(events.map((e) => e.protocolData.http?.headers.host)).toEqual([`127.0.0.1:${broker.wsPort}`, undefined]);
    expect(new Set(events.map((e) => e.connectionMetadata.id)).size).toBe(2);
  });

  it.each<[string, (event: IoTCustomAuthorizerEvent) => Promise<BrokerAuthorization>, RegExp]>([
    ['not authenticated', async () => ({ isAuthenticated: false, policyDocuments: [] }), /did not authenticate/],
    ['authenticated for another client id', async () => policy('dev-other'), /no iot:Connect as client\/dev-1/],
    ['failing', async () => Promise.reject(new Error('JWKS unreachable')), /authorizer failed: JWKS unreachable/],
  ])('refuses the CONNECT (not authorized) when the authorizer answers %s', async (_what, authorizer, reason) => {
    answer = authorizer;
    const outcome = await attempt(broker.wsUrl, 'dev-1');
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error & { code?: number }).code).toBe(5);
    expect(refused).toEqual([expect.objectContaining({ clientId: 'dev-1', transport: 'websocket', reason: expect.stringMatching(reason) })]);
  });

  it('grants only the subscriptions of the policy and forwards only the topics it may receive', async () => {
    answer = async (event) => {
      const id = event.protocolData.mqtt!.clientId;
      // May subscribe to the wildcard, but receive only its own topic.
      return policy(id, [{ Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/notify/+` }]);
    };
    const d1 = (await attempt(broker.wsUrl, 'dev-1')) as MqttClient;
    expect(await subscribeGranted(d1, 'notify/+')).toEqual([1]);
    expect(await subscribeGranted(d1, 'notify/#')).toEqual([128]);
    const got: string[] = [];
    d1.on('message', (topic) => got.push(topic));
    await broker.publish('notify/dev-2', Buffer.from('not yours'), 1);
    await broker.publish('notify/dev-1', Buffer.from('yours'), 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual(['notify/dev-1']);
  });

  it('disconnects a client when its publish is not allowed by the policy', async () => {
    const d1 = (await attempt(broker.tcpUrl, 'dev-1')) as MqttClient;
    const closed = new Promise<void>((r) => d1.once('close', () => r()));
    d1.publish('notify/dev-1', 'forged', { qos: 1 });
    await closed;
  });

  it('closes the connection after disconnectAfterInSeconds', async () => {
    answer = async (event) => ({ ...policy(event.protocolData.mqtt!.clientId), disconnectAfterInSeconds: 0.2 });
    const started = Date.now();
    const d1 = (await attempt(broker.wsUrl, 'dev-1')) as MqttClient;
    await new Promise<void>((r) => d1.once('close', () => r()));
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });
});
