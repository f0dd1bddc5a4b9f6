import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt, { type MqttClient } from 'mqtt';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../local/stack';

const connectDevice = (url: string, clientId: string): Promise<{ client: MqttClient; received: Record<string, unknown>[] }> =>
  new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId, reconnectPeriod: 0 });
    const received: Record<string, unknown>[] = [];
    client.on('message', (_t, payload) => received.push(JSON.parse(payload.toString())));
    client.once('connect', async () => {
      await client.subscribeAsync(`notify/${clientId}`, { qos: 1 });
      resolve({ client, received });
    });
    client.once('error', reject);
  });

describe('local flow end to end', () => {
  let stack: LocalStack;
  let sqs: SQSClient;
  const devices: MqttClient[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ retryIntervalMs: 0 });
    sqs = new SQSClient({ endpoint: stack.endpoints.sqs, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.endAsync(true)));
    sqs.destroy();
    await stack.stop();
  });

  const inbox = async (clientId: string) => {
    const url = stack.sqs.queueUrl(`${stack.config.inboxQueueNamePrefix}${clientId}.fifo`);
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
    return (out.Messages ?? []).map((m) => JSON.parse(m.Body!));
  };

  it('pushes an INSERT to online team devices and puts it in every team inbox', async () => {
    const alice = await connectDevice(stack.endpoints.mqtt, 'alice-laptop');
    devices.push(alice.client);
    await stack.settle();

    await stack.putMessage({
      conversationId: 'conv-1',
      messageId: 'msg-1',
      tenantId: 'acme',
      senderId: 'customer-7',
      senderType: 'customer',
      channel: 'web',
      body: 'My order has not arrived',
      createdAt: '2026-11-24T10:00:00.000Z',
      teamId: 'support',
    });
    await stack.settle();

    const [execution] = stack.runner.executions();
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.path).toEqual(expect.arrayContaining(['UseTeamTopic', 'PushToDevice', 'SendToInbox']));
    expect(alice.received).toEqual([expect.objectContaining({ notificationId: 'msg-1#created', kind: 'message.created', topic: 'team' })]);
    for (const clientId of ['alice-laptop', 'alice-phone', 'bob-laptop', 'carol-laptop']) {
      expect(await inbox(clientId)).toEqual([expect.objectContaining({ notificationId: 'msg-1#created' })]);
    }
    expect(stack.sqs.queueNames()).not.toContain(`${stack.config.inboxQueueNamePrefix}dave-laptop.fifo`);
  });
});
