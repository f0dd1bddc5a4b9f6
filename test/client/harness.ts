import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { AgentClient, type AgentClientEvents, type AgentClientOptions } from '../../client/agent-client';
import type { TypedEmitter } from '../../client/emitter';
import { Inbox } from '../../client/inbox';
import { startBroker, type LocalBroker } from '../../local/emulators/broker';
import { attachIotLifecycleEvents, type LifecycleAdapter } from '../../local/runtime/iot-lifecycle';
import { listen, type Listening } from '../../local/emulators/listen';
import { LocalSqs } from '../../local/emulators/sqs';
import type { NotificationEnvelope } from '../../contracts/envelope';
import { inboxQueueName, inboxQueueNamePrefixOf } from '../../contracts/naming';
import { PUSH_TOPIC_PREFIX, pushTopicOf } from '../../contracts/push-topic';

/**
 * A small world for client tests: the local aedes broker (TCP and WebSocket), local SQS with one
 * FIFO inbox per device, presence from the broker's lifecycle events, and a stand-in for the
 * workflow's FanOut: push to online devices, inbox for every device (docs/design.md §2).
 */
export const INBOX_PREFIX = inboxQueueNamePrefixOf('convo-notify');
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

export interface World {
  broker: LocalBroker;
  sqs: LocalSqs;
  sqsClient: SQSClient;
  lifecycle: LifecycleAdapter;
  /** Broker-side presence, from the lifecycle events. */
  presence: Map<string, 'connected' | 'disconnected'>;
  /** Every publish the broker delivered to a `notify/` topic. */
  pushes: { topic: string; payload: string }[];
  queueUrl(clientId: string): string;
  inboxBodies(clientId: string): string[];
  /** FanOut for one notification: QoS 1 push when online, inbox always. */
  deliver(notification: NotificationEnvelope, clientIds: string[], options?: { inbox?: boolean }): Promise<void>;
  sendToInbox(clientId: string, notification: NotificationEnvelope | string, dedupId?: string): Promise<void>;
  client(clientId: string, overrides?: Partial<AgentClientOptions>): AgentClient;
  close(): Promise<void>;
}

export const startWorld = async (devices: string[]): Promise<World> => {
  const broker = await startBroker();
  let base = '';
  const sqs = new LocalSqs({ baseUrl: () => base, pollIntervalMs: 5 });
  const endpoint: Listening = await listen(sqs.handle);
  base = endpoint.url;
  const sqsClient = new SQSClient({ endpoint: endpoint.url, region: 'us-east-1', credentials });
  for (const d of devices) {
    await sqsClient.send(new CreateQueueCommand({ QueueName: inboxQueueName(INBOX_PREFIX, d), Attributes: { FifoQueue: 'true' } }));
  }
  const presence = new Map<string, 'connected' | 'disconnected'>();
  const lifecycle = attachIotLifecycleEvents(broker.aedes, (e) => void presence.set(e.clientId, e.eventType), { versionBase: 0 });
  const pushes: World['pushes'] = [];
  const onPublish = (packet: { topic: string; payload: Buffer | string }) => {
    if (packet.topic.startsWith(PUSH_TOPIC_PREFIX)) pushes.push({ topic: packet.topic, payload: packet.payload.toString() });
  };
  broker.aedes.on('publish', onPublish);
  const clients: AgentClient[] = [];

  const sendToInbox: World['sendToInbox'] = async (clientId, n, dedupId) => {
    const body = typeof n === 'string' ? n : JSON.stringify(n);
    await sqsClient.send(
      new SendMessageCommand({
        QueueUrl: sqs.queueUrl(inboxQueueName(INBOX_PREFIX, clientId)),
        MessageBody: body,
        MessageGroupId: typeof n === 'string' ? 'invalid' : n.conversationId,
        MessageDeduplicationId: dedupId ?? (typeof n === 'string' ? `raw-${body.length}-${Date.now()}` : n.notificationId),
      }),
    );
  };

  return {
    broker,
    sqs,
    sqsClient,
    lifecycle,
    presence,
    pushes,
    queueUrl: (clientId) => sqs.queueUrl(inboxQueueName(INBOX_PREFIX, clientId)),
    inboxBodies: (clientId) => sqs.peek(inboxQueueName(INBOX_PREFIX, clientId)).map((m) => m.body),
    deliver: async (n, clientIds, options = {}) => {
      await lifecycle.idle();
      for (const clientId of clientIds) {
        if (presence.get(clientId) === 'connected') await broker.publish(pushTopicOf(clientId), Buffer.from(JSON.stringify(n)), 1);
        if (options.inbox !== false) await sendToInbox(clientId, n);
      }
    },
    sendToInbox,
    client: (clientId, overrides = {}) => {
      const c = new AgentClient({
        clientId,
        agentId: `agent-of-${clientId}`,
        brokerUrl: broker.tcpUrl,
        keepaliveSeconds: 5,
        connectTimeoutMs: 2000,
        reconnect: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0 },
        inbox: new Inbox({ sqs: sqsClient, queueUrl: sqs.queueUrl(inboxQueueName(INBOX_PREFIX, clientId)), waitTimeSeconds: 0 }),
        ...overrides,
      });
      clients.push(c);
      return c;
    },
    close: async () => {
      await Promise.all(clients.map((c) => c.stop()));
      await lifecycle.idle();
      lifecycle.detach();
      broker.aedes.removeListener('publish', onPublish);
      sqs.close();
      sqsClient.destroy();
      await endpoint.close();
      await broker.close();
    },
  };
};

/** Resolves with the first payload of `event` that satisfies `predicate` (listen before acting). */
export const waitFor = <E extends object, K extends keyof E>(
  emitter: TypedEmitter<E>,
  event: K,
  predicate: (payload: E[K]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<E[K]> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${String(event)}'`));
    }, timeoutMs);
    const off = emitter.on(event, (payload) => {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });

/** Records every event of a client, in order. */
export const record = (client: AgentClient) => {
  const log: { event: keyof AgentClientEvents; payload: unknown }[] = [];
  for (const event of ['new', 'handled', 'presence', 'error', 'drained'] as const) {
    client.on(event, (payload) => log.push({ event, payload }));
  }
  return {
    log,
    of: <K extends keyof AgentClientEvents>(event: K) => log.filter((l) => l.event === event).map((l) => l.payload as AgentClientEvents[K]),
  };
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `condition` every 5 ms until it holds. */
export const waitUntil = async (what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
};
