import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt, { type MqttClient } from 'mqtt';
import { AgentClient } from '../../client';
import { DEMO_DATA, generatedData } from '../../local/runtime/seed';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../local/runtime/stack';
import { customerMessage } from '../support/messages';
import { notificationIdOf, type NotificationEnvelope } from '../../contracts/envelope';

/**
 * The whole flow on the local runtime: writes to CONVO_HISTORY, the real Pipe filter, the real
 * ASL and handlers, and devices that are real MQTT clients with real SQS inboxes.
 */

const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};


describe('local flow end to end', () => {
  let stack: LocalStack;
  let sqs: SQSClient;
  let ddb: DynamoDBClient;
  const clients: AgentClient[] = [];
  const raw: MqttClient[] = [];

  beforeAll(async () => {
    // The demo agents, plus a 'load' team of 10 agents with 2 devices each (20 devices).
    const load = generatedData(10, 2, 'acme').agents.map((a) => ({ ...a, teams: ['load'], follows: [] }));
    stack = await startLocalStack({ retryIntervalMs: 0, pipeBatchingWindowMs: 5, seed: { tenantId: 'acme', agents: [...DEMO_DATA.agents, ...load] } });
    sqs = new SQSClient({ endpoint: stack.endpoints.sqs, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    ddb = new DynamoDBClient({ endpoint: stack.endpoints.dynamodb, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await Promise.all(raw.splice(0).map((c) => c.endAsync(true)));
    await stack.settle();
  });
  afterAll(async () => {
    sqs.destroy();
    ddb.destroy();
    await stack.stop();
  });

  const agentClient = (agentId: string, clientId: string) => {
    const client = new AgentClient({
      clientId,
      agentId,
      brokerUrl: stack.endpoints.mqtt,
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      inbox: { sqs, queueName: `${stack.config.inboxQueueNamePrefix}${clientId}.fifo`, waitTimeSeconds: 0 },
      claim: { dynamodb: ddb, tableName: stack.config.convoHistoryTable },
    });
    clients.push(client);
    return client;
  };

  const online = async (client: AgentClient) => {
    client.start();
    await until(`${client.clientId} online`, () => client.isOnline);
    await stack.settle();
  };

  const rawDevice = async (clientId: string) => {
    const client = mqtt.connect(stack.endpoints.mqtt, { clientId, reconnectPeriod: 0 });
    const received: NotificationEnvelope[] = [];
    client.on('message', (_t, payload) => received.push(JSON.parse(payload.toString())));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(`notify/${clientId}`, { qos: 1 });
    raw.push(client);
    await stack.settle();
    return received;
  };

  const inbox = async (clientId: string): Promise<NotificationEnvelope[]> => {
    const url = stack.sqs.queueUrl(`${stack.config.inboxQueueNamePrefix}${clientId}.fifo`);
    return stack.sqs.peek(url.split('/').pop()!).map((m) => JSON.parse(m.body));
  };

  it('pushes an INSERT to the online devices of the team and puts it in every team inbox', async () => {
    const alice = await rawDevice('alice-laptop');
    const message = customerMessage({ teamId: 'support' });
    await stack.putMessage(message);
    await stack.settle();

    const [execution] = stack.runner.executions();
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.path).toEqual(expect.arrayContaining(['UseTeamTopic', 'PushToDevice', 'SendToInbox']));
    expect(alice).toEqual([expect.objectContaining({ notificationId: notificationIdOf(message, 'message.created'), kind: 'message.created', topic: 'team' })]);
    for (const clientId of ['alice-laptop', 'alice-phone', 'bob-laptop', 'carol-laptop']) {
      expect(await inbox(clientId)).toEqual([expect.objectContaining({ notificationId: notificationIdOf(message, 'message.created') })]);
    }
    expect(await inbox('dave-laptop')).toEqual([]);
    expect(stack.sns.byTopic(stack.config.topicArns.team).map((p) => JSON.parse(p.message).messageId)).toContain(message.messageId);
  });

  it('lets a device that was offline catch up from its inbox when it comes online', async () => {
    const message = customerMessage({ assignedAgentId: 'dave' });
    await stack.putMessage(message);
    await stack.settle();
    const dave = agentClient('dave', 'dave-laptop');
    const newOnes: string[] = [];
    dave.on('new', (m) => newOnes.push(m.messageId));
    await online(dave);
    await until('dave sees the message', () => dave.isNew(message.messageId, message.conversationId));
    expect(newOnes).toEqual([message.messageId]);
    await until('inbox emptied after the fold', async () => (await inbox('dave-laptop')).length === 0);
  });

  it('reconnects a dropped device by itself and catches up on what it missed', async () => {
    const bob = agentClient('bob', 'bob-laptop');
    await online(bob);
    await bob.drainInbox();
    stack.broker.dropClient('bob-laptop');
    await until('bob offline', () => !bob.isOnline);
    const message = customerMessage({ teamId: 'support' });
    await stack.putMessage(message);
    await until('bob back online', () => bob.isOnline);
    await stack.settle();
    await until('bob sees the message', () => bob.isNew(message.messageId, message.conversationId));
  });

  it('turns the first claim into message.handled on every device, and the second claim loses', async () => {
    const alice = agentClient('alice', 'alice-laptop');
    const carol = agentClient('carol', 'carol-laptop');
    await online(alice);
    await online(carol);
    const message = customerMessage({ senderId: 'customer-vip' });
    await stack.putMessage(message);
    await stack.settle();
    await until('both see it NEW', () => alice.isNew(message.messageId, message.conversationId) && carol.isNew(message.messageId, message.conversationId));

    const ids = { conversationId: message.conversationId, messageId: message.messageId };
    expect(await alice.claim(ids)).toMatchObject({ won: true, handledBy: 'alice' });
    expect(await carol.claim(ids)).toEqual(expect.objectContaining({ won: false, handledBy: 'alice' }));
    await stack.settle();

    await until('no longer NEW anywhere', () => !alice.isNew(message.messageId, message.conversationId) && !carol.isNew(message.messageId, message.conversationId));
    expect(carol.getMessage(message.messageId, message.conversationId)).toMatchObject({ handledBy: 'alice' });
    const handled = stack.runner.executions().find((e) => JSON.stringify(e.output).includes(`${message.messageId}#handled`));
    expect(handled?.path).toEqual(expect.arrayContaining(['UseSenderTopic', 'PushToDevice']));
  });

  it('keeps an invalid record in the quarantine queue with the reason', async () => {
    const bad = { ...customerMessage({ teamId: 'support' }), createdAt: 'yesterday' };
    await stack.putMessage(bad);
    await stack.settle();
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.config.quarantineQueueUrl, MaxNumberOfMessages: 10 }));
    const bodies = (out.Messages ?? []).map((m) => JSON.parse(m.Body!));
    const kept = bodies.find((b) => b.quarantine.keys.messageId === bad.messageId);
    expect(kept.quarantine).toMatchObject({ field: 'NewImage.createdAt', keys: { conversationId: bad.conversationId }, eventName: 'INSERT' });
    expect(kept.quarantine.reason).toContain('createdAt');
  });

  it('sends a message nobody can see to the unrouted queue', async () => {
    const message = customerMessage({ teamId: 'nobody-here' });
    await stack.putMessage(message);
    await stack.settle();
    const unrouted = stack.sqs.peek(stack.config.unroutedQueueUrl.split('/').pop()!).map((m) => JSON.parse(m.body));
    expect(unrouted).toEqual(expect.arrayContaining([expect.objectContaining({ notification: expect.objectContaining({ messageId: message.messageId }) })]));
  });

  it('loses nothing in a batch of 100 messages to 20 devices', async () => {
    // Every device of the load team is online: 20 raw MQTT clients.
    const team = 'load';
    const members = stack.seed.agents.filter((a) => a.teams?.includes(team)).flatMap((a) => a.devices);
    const pushes = new Map<string, NotificationEnvelope[]>();
    expect(members).toHaveLength(20);
    for (const clientId of members) pushes.set(clientId, await rawDevice(clientId));
    const before = new Map<string, number>();
    for (const clientId of members) before.set(clientId, (await inbox(clientId)).length);

    const messages = Array.from({ length: 100 }, () => customerMessage({ teamId: team }));
    await Promise.all(messages.map((m) => stack.putMessage(m)));
    await stack.settle();

    for (const clientId of members) {
      const pushed = new Set(pushes.get(clientId)!.map((n) => n.messageId));
      const inboxed = new Set((await inbox(clientId)).slice(before.get(clientId)).map((n) => n.messageId));
      for (const m of messages) {
        expect(pushed.has(m.messageId)).toBe(true);
        expect(inboxed.has(m.messageId)).toBe(true);
      }
    }
  });
});
