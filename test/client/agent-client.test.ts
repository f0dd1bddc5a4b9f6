import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SQSClient,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type SQSClientResolvedConfig,
} from '@aws-sdk/client-sqs';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import { awsIotUrlProvider } from '../../client/aws-iot-url';
import { backoffDelay, AgentClient } from '../../client/agent-client';
import { ConnectionError, InvalidClientOptionsError, InvalidNotificationError } from '../../client/errors';
import { Inbox } from '../../client/inbox';
import { created, handled } from './notifications';
import { record, sleep, startWorld, waitFor, waitUntil, type World } from './harness';

describe('AgentClient with a real MQTT broker (aedes) and local SQS', () => {
  let world: World;

  beforeEach(async () => {
    world = await startWorld(['dev-1', 'dev-2']);
  });
  afterEach(async () => {
    await world.close();
  });

  const online = (c: AgentClient) => waitFor(c, 'presence', (p) => p.state === 'online');
  const drained = (c: AgentClient) => waitFor(c, 'drained');

  it('goes online, and a push reaches the right device only, at once and as NEW', async () => {
    const d1 = world.client('dev-1');
    const d2 = world.client('dev-2');
    const r1 = record(d1);
    const r2 = record(d2);
    const ready = Promise.all([online(d1), online(d2), drained(d1), drained(d2)]);
    d1.start();
    d2.start();
    await ready;
    expect(d1.isOnline).toBe(true);
    await world.lifecycle.idle();
    expect(world.presence.get('dev-1')).toBe('connected');

    const gotM1 = waitFor(d1, 'new');
    const gotM2 = waitFor(d2, 'new');
    await world.deliver(created('m1'), ['dev-1'], { inbox: false });
    await world.deliver(created('m2'), ['dev-2'], { inbox: false });
    expect((await gotM1).messageId).toBe('m1');
    expect((await gotM2).messageId).toBe('m2');

    expect(d1.newMessages().map((m) => m.messageId)).toEqual(['m1']);
    expect(d2.newMessages().map((m) => m.messageId)).toEqual(['m2']);
    expect(d1.isNew('m1')).toBe(true);
    expect(d2.isNew('m1')).toBe(false);
    expect(r1.of('error')).toEqual([]);
    expect(r2.of('error')).toEqual([]);
    expect(world.pushes.map((p) => p.topic)).toEqual(['notify/dev-1', 'notify/dev-2']);
  });

  it('stops showing a message as NEW on every device as soon as the handled notification arrives', async () => {
    const d1 = world.client('dev-1');
    const d2 = world.client('dev-2');
    const ready = Promise.all([drained(d1), drained(d2)]);
    d1.start();
    d2.start();
    await ready;
    const bothNew = Promise.all([waitFor(d1, 'new'), waitFor(d2, 'new')]);
    await world.deliver(created('m1'), ['dev-1', 'dev-2']);
    await bothNew;
    const bothHandled = Promise.all([waitFor(d1, 'handled'), waitFor(d2, 'handled')]);
    await world.deliver(handled('m1', 'agent-of-dev-2'), ['dev-1', 'dev-2']);
    const [h1, h2] = await bothHandled;
    expect(h1).toMatchObject({ messageId: 'm1', isNew: false, handledBy: 'agent-of-dev-2' });
    expect(h2).toMatchObject({ messageId: 'm1', isNew: false });
    expect(d1.newMessages()).toEqual([]);
    expect(d2.newMessages()).toEqual([]);
  });

  it('raises an error naming what was wrong for an invalid push, and changes no state', async () => {
    const d1 = world.client('dev-1');
    const ready = drained(d1);
    d1.start();
    await ready;
    const gotNew = waitFor(d1, 'new');
    await world.deliver(created('m1'), ['dev-1'], { inbox: false });
    await gotNew;
    const before = d1.state;
    const changes = record(d1);

    const errors = [waitFor(d1, 'error'), waitFor(d1, 'error', (e) => e !== undefined && /JSON/.test(e.message))];
    const bad = { ...created('m2'), preview: 'x'.repeat(201), senderType: 'robot' };
    await world.broker.publish('notify/dev-1', Buffer.from(JSON.stringify(bad)), 1);
    const invalid = (await errors[0]) as InvalidNotificationError;
    await world.broker.publish('notify/dev-1', Buffer.from('{not json'), 1);
    const notJson = (await errors[1]) as InvalidNotificationError;

    expect(invalid).toBeInstanceOf(InvalidNotificationError);
    expect(invalid.name).toBe('InvalidNotificationError');
    expect(invalid.source).toBe('push');
    expect(invalid.issues).toEqual([expect.stringMatching(/^senderType: /), expect.stringMatching(/^preview: /)]);
    expect(notJson.issues[0]).toMatch(/^payload is not JSON/);
    expect(d1.state).toBe(before);
    expect(changes.of('new')).toEqual([]);
  });

  it('reconnects by itself after the server drops its socket, and drains its inbox', async () => {
    const d1 = world.client('dev-1');
    const r = record(d1);
    const first = drained(d1);
    d1.start();
    expect(await first).toMatchObject({ received: 0 });

    // Something lands in the inbox only (e.g. the push failed); it is read on the next connect.
    await world.sendToInbox('dev-1', created('m7'));
    const offline = waitFor(d1, 'presence', (p) => p.state === 'offline');
    const backOnline = waitFor(d1, 'presence', (p) => p.state === 'online');
    const second = waitFor(d1, 'drained', (d) => d.received > 0);
    const gotNew = waitFor(d1, 'new');
    expect(world.broker.dropClient('dev-1')).toBe(true);

    expect((await offline).reason).toBe('connection lost');
    await backOnline;
    expect((await gotNew).messageId).toBe('m7');
    expect(await second).toMatchObject({ received: 1, folded: 1, deleted: 1, invalid: 0 });
    expect(world.inboxBodies('dev-1')).toEqual([]);

    await world.lifecycle.idle();
    expect(world.lifecycle.events.map((e) => [e.eventType, e.versionNumber, e.disconnectReason])).toEqual([
      ['connected', 0, undefined],
      ['disconnected', 0, 'CONNECTION_LOST'],
      ['connected', 1, undefined],
    ]);
    expect(r.of('presence').map((p) => p.state)).toEqual(['online', 'offline', 'online']);
  });

  it('gets nothing by push while offline, retries with backoff, and finds the message in its inbox when back', async () => {
    let reachable = true;
    const attempts: number[] = [];
    const d1 = world.client('dev-1', {
      brokerUrl: async () => {
        attempts.push(performance.now());
        return reachable ? world.broker.tcpUrl : 'mqtt://127.0.0.1:1';
      },
    });
    const r = record(d1);
    const first = drained(d1);
    d1.start();
    await first;

    reachable = false;
    const offline = waitFor(d1, 'presence', (p) => p.state === 'offline');
    world.broker.dropClient('dev-1');
    await offline;
    await waitUntil('the broker has seen the drop', () => world.presence.get('dev-1') === 'disconnected');

    // The workflow sees the device offline: no push, inbox only.
    await world.deliver(created('m9'), ['dev-1']);
    expect(world.pushes).toEqual([]);
    expect(world.inboxBodies('dev-1')).toHaveLength(1);

    // Four refused attempts after the drop (20, 40, 80, 160 ms apart), then the broker is reachable again.
    await waitUntil('four reconnect attempts', () => attempts.length >= 5);
    const gotNew = waitFor(d1, 'new');
    const caughtUp = waitFor(d1, 'drained', (d) => d.received > 0);
    reachable = true;
    expect((await gotNew).messageId).toBe('m9');
    expect(await caughtUp).toMatchObject({ folded: 1, deleted: 1 });
    expect(world.inboxBodies('dev-1')).toEqual([]);
    expect(d1.isNew('m9')).toBe(true);

    // Timers never fire early: each gap is at least its backoff delay (maxDelayMs 200 in these tests).
    const gaps = attempts.slice(2).map((t, i) => t - attempts[i + 1]);
    [40, 80, 160, 200].slice(0, gaps.length).forEach((delay, i) => expect(gaps[i]).toBeGreaterThanOrEqual(delay - 2));
    expect(r.of('error').length).toBeGreaterThanOrEqual(4);
    expect(r.of('error').every((e) => e instanceof ConnectionError && e.name === 'ConnectionError')).toBe(true);
  });

  it('ignores a message received both by push and from the inbox: NEW once', async () => {
    const d1 = world.client('dev-1');
    const r = record(d1);
    const ready = drained(d1);
    d1.start();
    await ready;
    const gotNew = waitFor(d1, 'new');
    await world.deliver(created('m1'), ['dev-1']); // online: push AND inbox, as the workflow does
    await gotNew;
    expect(world.inboxBodies('dev-1')).toHaveLength(1);
    const again = waitFor(d1, 'drained', (d) => d.received > 0);
    world.broker.dropClient('dev-1');
    expect(await again).toMatchObject({ folded: 1, deleted: 1 });
    expect(r.of('new').map((m) => m.messageId)).toEqual(['m1']);
    expect(world.inboxBodies('dev-1')).toEqual([]);
  });

  it('reports an invalid inbox body, deletes it, and still folds the rest', async () => {
    await world.sendToInbox('dev-1', '{"kind":"message.created"}');
    await world.sendToInbox('dev-1', created('m3'));
    const d1 = world.client('dev-1');
    const err = waitFor(d1, 'error');
    const done = drained(d1);
    d1.start();
    const e = (await err) as InvalidNotificationError;
    expect(e).toMatchObject({ name: 'InvalidNotificationError', source: 'inbox' });
    expect(e.issues.join('\n')).toMatch(/messageId/);
    expect(await done).toMatchObject({ received: 2, invalid: 1, folded: 1, deleted: 2 });
    expect(d1.isNew('m3')).toBe(true);
    expect(world.inboxBodies('dev-1')).toEqual([]);
  });

  it('connects over WebSocket with a SigV4-signed URL, the query reaching the broker intact', async () => {
    const urlsSeen: string[] = [];
    world.broker.aedes.on('client', (c) => urlsSeen.push(c.req?.url ?? ''));
    const d1 = world.client('dev-1', {
      brokerUrl: awsIotUrlProvider({
        endpoint: `http://127.0.0.1:${world.broker.wsPort}`,
        scheme: 'ws',
        region: 'us-east-1',
        credentials: async () => ({ accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'tok/en+1=' }),
      }),
    });
    const ready = drained(d1);
    d1.start();
    await ready;
    const gotNew = waitFor(d1, 'new');
    await world.deliver(created('m1'), ['dev-1'], { inbox: false });
    await gotNew;
    expect(urlsSeen).toHaveLength(1);
    const seen = new URL(urlsSeen[0], 'http://x');
    expect(seen.pathname).toBe('/mqtt');
    expect(seen.searchParams.get('X-Amz-Credential')).toMatch(/^ASIAEXAMPLE\/\d{8}\/us-east-1\/iotdevicegateway\/aws4_request$/);
    expect(seen.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(seen.searchParams.get('X-Amz-Security-Token')).toBe('tok/en+1=');
  });

  it('disconnects cleanly on stop: offline for the UI, CLIENT_INITIATED_DISCONNECT for the broker, no reconnect', async () => {
    const d1 = world.client('dev-1');
    const r = record(d1);
    const ready = drained(d1);
    d1.start();
    await ready;
    await d1.stop();
    await sleep(100);
    await world.lifecycle.idle();
    expect(r.of('presence').map((p) => [p.state, p.reason])).toEqual([
      ['online', undefined],
      ['offline', 'stopped'],
    ]);
    expect(world.lifecycle.events.map((e) => e.disconnectReason ?? e.eventType)).toEqual(['connected', 'CLIENT_INITIATED_DISCONNECT']);
    expect(world.presence.get('dev-1')).toBe('disconnected');
    expect(() => d1.start()).toThrow(InvalidClientOptionsError);
  });

  it('reports a refused subscription (an IoT policy denying it) and still catches up from the inbox', async () => {
    // A SUBACK with the failure return code 0x80 (aedes answers so when authorization yields no subscription).
    world.broker.aedes.authorizeSubscribe = (_client, _sub, callback) => callback(null, null);
    await world.sendToInbox('dev-1', created('m4'));
    const d1 = world.client('dev-1');
    const refused = waitFor(d1, 'error');
    const done = drained(d1);
    d1.start();
    expect(await refused).toMatchObject({ name: 'SubscribeError', message: expect.stringMatching(/^subscribe to notify\/dev-1 failed: Subscribe error/) });
    expect(await done).toMatchObject({ folded: 1 });
    expect(d1.isNew('m4')).toBe(true);
  });

  it('reports a broker URL MQTT.js cannot use, without its query, and keeps trying', async () => {
    let calls = 0;
    const d1 = world.client('dev-1', {
      brokerUrl: async () => (calls += 1) === 1 ? 'nonsense/mqtt?X-Amz-Signature=secret' : world.broker.tcpUrl,
    });
    const err = waitFor(d1, 'error');
    const up = online(d1);
    d1.start();
    const e = await err;
    expect(e.name).toBe('ConnectionError');
    expect(e.message).toMatch(/^cannot connect to nonsense\/mqtt: /);
    expect(e.message).not.toMatch(/secret/);
    await up;
  });

  it('drains once more followUpDrainMs after connecting, then never again while subscribed', async () => {
    const d1 = world.client('dev-1', { followUpDrainMs: 1500 });
    const ready = drained(d1);
    d1.start();
    await ready;
    const started = Date.now();
    // Written after the connect-time drain, as when the workflow found the device offline a moment before it subscribed.
    const seen = waitFor(d1, 'new');
    const followUp = waitFor(d1, 'drained');
    await world.sendToInbox('dev-1', created('m-late'));
    expect((await seen).messageId).toBe('m-late');
    expect(await followUp).toMatchObject({ folded: 1 });
    expect(Date.now() - started).toBeGreaterThan(1000);
    const r1 = record(d1);
    await world.sendToInbox('dev-1', created('m-later'));
    await sleep(2000);
    expect(r1.of('drained')).toEqual([]);
    expect(d1.isNew('m-later')).toBe(false);
  });

  it('treats an inbox queue that does not exist yet as empty', async () => {
    const d1 = world.client('dev-1', {
      inbox: new Inbox({ sqs: world.sqsClient, queueName: 'convo-notify-inbox-brand-new.fifo', waitTimeSeconds: 0 }),
    });
    const r = record(d1);
    const done = drained(d1);
    d1.start();
    expect(await done).toMatchObject({ queueMissing: true, received: 0 });
    expect(r.of('error')).toEqual([]);
  });
});

describe('AgentClient options and backoff', () => {
  it('validates its options with named errors', () => {
    expect(() => new AgentClient({ clientId: 'notify/#', agentId: 'a', brokerUrl: 'mqtt://x' })).toThrow(InvalidClientOptionsError);
    expect(() => new AgentClient({ clientId: 'dev-1', agentId: '', brokerUrl: 'mqtt://x' })).toThrow(/agentId/);
    expect(() => new AgentClient({ clientId: 'dev-1', agentId: 'a', brokerUrl: '' })).toThrow(/brokerUrl/);
    expect(() => new AgentClient({ clientId: 'dev-1', agentId: 'a', brokerUrl: 'mqtt://x', reconnect: { jitter: 2 } })).toThrow(/reconnect.jitter/);
  });

  it('backs off exponentially up to the cap, with jitter taken off the delay', () => {
    const opts = { initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, jitter: 0 };
    expect([0, 1, 2, 3, 4, 5, 50, 5000].map((a) => backoffDelay(a, opts))).toEqual([100, 200, 400, 800, 1000, 1000, 1000, 1000]);
    expect(backoffDelay(3, { ...opts, jitter: 0.5 }, () => 1)).toBe(400);
    expect(backoffDelay(3, { ...opts, jitter: 0.5 }, () => 0)).toBe(800);
    expect(backoffDelay(0)).toBeGreaterThanOrEqual(500);
    expect(backoffDelay(0)).toBeLessThanOrEqual(1000);
  });
});

describe('AgentClient inbox drains (SQS mocked)', () => {
  const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/000000000000/convo-notify-inbox-dev-1.fifo';
  let sqs: SQSClient;
  let sqsMock: AwsStub<ServiceInputTypes, ServiceOutputTypes, SQSClientResolvedConfig>;
  let client: AgentClient;

  beforeEach(() => {
    sqs = new SQSClient({ region: 'us-east-1' });
    sqsMock = mockClient(sqs);
    sqsMock.on(DeleteMessageBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => ({ Successful: input.Entries.map((e) => ({ Id: e.Id })) }));
    client = new AgentClient({
      clientId: 'dev-1',
      agentId: 'a',
      brokerUrl: 'mqtt://127.0.0.1:1',
      reconnect: { initialDelayMs: 10, jitter: 0 },
      inbox: new Inbox({ sqs, queueUrl: QUEUE_URL, waitTimeSeconds: 0 }),
    });
  });
  afterEach(async () => {
    await client.stop();
    sqsMock.restore();
  });

  const body = (n: object, i: number) => ({ MessageId: `s${i}`, ReceiptHandle: `r${i}`, Body: JSON.stringify(n) });

  it('retries a drain that could not read the inbox, with backoff', async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolvesOnce({ Messages: [body(created('m1'), 1)] })
      .resolves({});
    const r = record(client);
    const caughtUp = waitFor(client, 'drained', (d) => d.folded === 1);
    await expect(client.drainInbox()).resolves.toBeUndefined();
    expect(r.of('error').map((e) => e.name)).toEqual(['InboxUnavailableError']);
    await caughtUp;
    expect(client.isNew('m1')).toBe(true);
  });

  it('merges drains requested while one runs into one more round', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let receives = 0;
    sqsMock.on(ReceiveMessageCommand).callsFake(async () => {
      receives += 1;
      if (receives === 1) await gate;
      return {};
    });
    const r = record(client);
    const first = client.drainInbox();
    const second = client.drainInbox();
    const third = client.drainInbox();
    expect(second).toBe(first);
    expect(third).toBe(first);
    release();
    await first;
    expect(receives).toBe(2);
    expect(r.of('drained')).toHaveLength(2);
  });
});
