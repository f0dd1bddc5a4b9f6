import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { MemoryStorage, openAgentDevice, type AgentClient } from '../../client/browser';
import { DEMO_DATA, generatedData, seededClientId, seededDevices } from '../../local/runtime/seed';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../local/runtime/stack';
import { connectSeededDevice, type OnlineDevice } from '../support/devices';
import { customerMessage } from '../support/messages';
import { notificationIdOf, type NotificationEnvelope } from '../../contracts/envelope';

/**
 * The whole flow on the local runtime: writes to CONVO_HISTORY, the real Pipe filter, the real
 * ASL and handlers, and devices that sign in with tokens of the local issuer: the AgentCRM client
 * (`openAgentDevice`, memory storage) on the local agent API (inbox drain and ack, claims) and on
 * the broker through the real IoT authorizer, and raw MQTT devices connected the same way.
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
  const clients: AgentClient[] = [];
  const raw: OnlineDevice[] = [];

  beforeAll(async () => {
    // The demo agents, plus a 'load' team of 10 agents with 2 devices each (20 devices).
    const load = generatedData(10, 2, 'acme').agents.map((a) => ({ ...a, teams: ['load'], follows: [] }));
    stack = await startLocalStack({ retryIntervalMs: 0, pipeBatchingWindowMs: 5, seed: { tenantId: 'acme', agents: [...DEMO_DATA.agents, ...load] } });
    sqs = new SQSClient({ endpoint: stack.endpoints.sqs, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.stop()));
    await Promise.all(raw.splice(0).map((d) => d.close()));
    await stack.settle();
  });
  afterAll(async () => {
    sqs.destroy();
    await stack.stop();
  });

  /**
   * The agent's seeded device `label` as a browser would open it, signed in through the local
   * issuer: the storage already knows the device (an earlier sign-in), so the client adopts it
   * after `GET /devices` says it is active, instead of registering a new one.
   */
  const agentDevice = async (agentId: string, label: string): Promise<AgentClient> => {
    const storage = new MemoryStorage();
    await storage.setDevice(agentId, seededClientId(agentId, label));
    const device = await openAgentDevice({
      apiUrl: stack.endpoints.agentApi,
      iotEndpoint: stack.endpoints.mqttWs,
      authorizerName: stack.config.authorizerName,
      agentId,
      getToken: async () => (await stack.tokens.mint(agentId)).token,
      storage,
      client: { reconnect: { initialDelayMs: 50, maxDelayMs: 200 }, followUpDrainMs: 0 },
    });
    expect(device.clientId).toBe(seededClientId(agentId, label));
    clients.push(device.client);
    return device.client;
  };

  const online = async (client: AgentClient) => {
    client.start();
    await until(`${client.clientId} online`, () => client.isOnline);
    await stack.settle();
  };

  const rawDevice = async (agentId: string, label: string) => {
    const device = await connectSeededDevice(stack, agentId, label);
    raw.push(device);
    return device.received;
  };

  const idOf = (agentId: string, label: string) => seededClientId(agentId, label);

  const inbox = async (clientId: string): Promise<NotificationEnvelope[]> => {
    const url = stack.sqs.queueUrl(`${stack.config.inboxQueueNamePrefix}${clientId}.fifo`);
    return stack.sqs.peek(url.split('/').pop()!).map((m) => JSON.parse(m.body));
  };

  it('pushes an INSERT to the online devices of the team and puts it in every team inbox', async () => {
    const alice = await rawDevice('alice', 'laptop');
    const message = customerMessage({ teamId: 'support' });
    await stack.putMessage(message);
    await stack.settle();

    const [execution] = stack.runner.executions();
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.path).toEqual(expect.arrayContaining(['UseTeamTopic', 'PushToDevice', 'SendToInbox']));
    expect(alice).toEqual([expect.objectContaining({ notificationId: notificationIdOf(message, 'message.created'), kind: 'message.created', topic: 'team' })]);
    for (const clientId of [idOf('alice', 'laptop'), idOf('alice', 'phone'), idOf('bob', 'laptop'), idOf('carol', 'laptop')]) {
      expect(await inbox(clientId)).toEqual([expect.objectContaining({ notificationId: notificationIdOf(message, 'message.created') })]);
    }
    expect(await inbox(idOf('dave', 'laptop'))).toEqual([]);
    expect(stack.sns.byTopic(stack.config.topicArns.team).map((p) => JSON.parse(p.message).messageId)).toContain(message.messageId);
  });

  it('lets a device that was offline catch up from its inbox through the agent API when it comes online, and acks it there', async () => {
    const message = customerMessage({ assignedAgentId: 'dave' });
    await stack.putMessage(message);
    await stack.settle();
    const dave = await agentDevice('dave', 'laptop');
    const newOnes: string[] = [];
    dave.on('new', (m) => newOnes.push(m.messageId));
    await online(dave);
    await until('dave sees the message', () => dave.isNew(message.messageId, message.conversationId));
    expect(newOnes).toEqual([message.messageId]);
    await until('inbox emptied after the fold', async () => (await inbox(dave.clientId)).length === 0);
  });

  it('reconnects a dropped device by itself through the authorizer and catches up on what it missed', async () => {
    const bob = await agentDevice('bob', 'laptop');
    await online(bob);
    await bob.drainInbox();
    stack.broker.dropClient(bob.clientId);
    await until('bob offline', () => !bob.isOnline);
    const message = customerMessage({ teamId: 'support' });
    await stack.putMessage(message);
    await until('bob back online', () => bob.isOnline);
    await stack.settle();
    await until('bob sees the message', () => bob.isNew(message.messageId, message.conversationId));
  });

  it('turns the first claim through the agent API into message.handled on every device, and the second claim loses', async () => {
    const alice = await agentDevice('alice', 'laptop');
    const carol = await agentDevice('carol', 'laptop');
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
    const agents = new Set(stack.seed.agents.filter((a) => a.teams?.includes(team)).map((a) => a.agentId));
    const devices = seededDevices(stack.seed).filter((d) => agents.has(d.agentId));
    const members = devices.map((d) => d.clientId);
    const pushes = new Map<string, NotificationEnvelope[]>();
    expect(members).toHaveLength(20);
    for (const d of devices) pushes.set(d.clientId, await rawDevice(d.agentId, d.label));
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
