import { IoTDataPlaneClient, PublishCommand as IotPublishCommand, GetRetainedMessageCommand } from '@aws-sdk/client-iot-data-plane';
import { ListTopicsCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { LocalIotData, type BrokerPublish } from '../../../local/emulators/iot-data';
import { listen, type Listening } from '../../../local/emulators/listen';
import { LocalSns } from '../../../local/emulators/sns';
import { AWS_LIMITS } from '../../../contracts/limits';

const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };
const TOPIC = 'arn:aws:sns:us-east-1:000000000000:convo-notify-team';

describe('local SNS endpoint (contract with @aws-sdk/client-sns)', () => {
  let endpoint: Listening;
  let sns: LocalSns;
  let client: SNSClient;

  beforeEach(async () => {
    sns = new LocalSns();
    endpoint = await listen(sns.handle);
    client = new SNSClient({ endpoint: endpoint.url, region: 'us-east-1', credentials });
  });
  afterEach(async () => {
    client.destroy();
    await endpoint.close();
  });

  it('records a publish with its message attributes and returns a MessageId', async () => {
    const out = await client.send(
      new PublishCommand({
        TopicArn: TOPIC,
        Message: '{"kind":"message.created"}',
        MessageAttributes: {
          kind: { DataType: 'String', StringValue: 'message.created' },
          tenantId: { DataType: 'String', StringValue: 't1' },
        },
      }),
    );
    expect(out.MessageId).toBe(sns.published[0].messageId);
    expect(sns.byTopic(TOPIC)).toEqual([
      expect.objectContaining({ message: '{"kind":"message.created"}', attributes: { kind: 'message.created', tenantId: 't1' } }),
    ]);
  });

  it('records the subject, and refuses one of 100 characters or with a line break as SNS does', async () => {
    await client.send(new PublishCommand({ TopicArn: TOPIC, Subject: 'Customer waiting: nobody online', Message: 'body' }));
    expect(sns.byTopic(TOPIC)[0]).toMatchObject({ subject: 'Customer waiting: nobody online', message: 'body' });
    await expect(client.send(new PublishCommand({ TopicArn: TOPIC, Subject: 'x'.repeat(100), Message: 'body' }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
    await expect(client.send(new PublishCommand({ TopicArn: TOPIC, Subject: 'two\nlines', Message: 'body' }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
    expect(sns.published).toHaveLength(1);
  });

  it('rejects an invalid topic ARN as InvalidParameter', async () => {
    await expect(client.send(new PublishCommand({ TopicArn: 'not-an-arn', Message: 'x' }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
  });

  it('accepts a message of exactly the limit, attributes included, and refuses one byte more as InvalidParameter "Message too long"', async () => {
    // name 'kind' (4) + 'String' (6) + value 'message.created' (15) count with the message.
    const message = 'x'.repeat(AWS_LIMITS.snsMessageBytes - 4 - 6 - 15);
    const publish = (text: string) =>
      client.send(new PublishCommand({ TopicArn: TOPIC, Message: text, MessageAttributes: { kind: { DataType: 'String', StringValue: 'message.created' } } }));
    await publish(message);
    await expect(publish(`${message}x`)).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: 'Invalid parameter: Message too long',
      $metadata: expect.objectContaining({ httpStatusCode: 400 }),
    });
    expect(sns.byTopic(TOPIC)).toHaveLength(1);
  });

  it('answers other actions with InvalidAction', async () => {
    await expect(client.send(new ListTopicsCommand({}))).rejects.toMatchObject({
      message: expect.stringContaining('ListTopics is not implemented'),
    });
  });
});

describe('local IoT data-plane endpoint (contract with @aws-sdk/client-iot-data-plane)', () => {
  let endpoint: Listening;
  let calls: { topic: string; payload: string; qos: number }[];
  let failNext: boolean;
  let client: IoTDataPlaneClient;

  beforeEach(async () => {
    calls = [];
    failNext = false;
    const publish: BrokerPublish = async (topic, payload, qos) => {
      if (failNext) throw new Error('broker down');
      calls.push({ topic, payload: payload.toString(), qos });
    };
    endpoint = await listen(new LocalIotData(publish).handle);
    client = new IoTDataPlaneClient({ endpoint: endpoint.url, region: 'us-east-1', credentials });
  });
  afterEach(async () => {
    client.destroy();
    await endpoint.close();
  });

  it('hands a QoS 1 publish to the broker with the exact topic and payload', async () => {
    await client.send(new IotPublishCommand({ topic: 'notify/device-1', qos: 1, payload: Buffer.from('{"a":1}') }));
    expect(calls).toEqual([{ topic: 'notify/device-1', payload: '{"a":1}', qos: 1 }]);
  });

  it('refuses to publish to a wildcard topic', async () => {
    await expect(client.send(new IotPublishCommand({ topic: 'notify/#', qos: 1, payload: Buffer.from('x') }))).rejects.toMatchObject({
      name: 'InvalidRequestException',
    });
    expect(calls).toEqual([]);
  });

  it('reports a broker failure as ServiceUnavailableException', async () => {
    failNext = true;
    await expect(client.send(new IotPublishCommand({ topic: 'notify/d', qos: 1, payload: Buffer.from('x') }))).rejects.toMatchObject({
      name: 'ServiceUnavailableException',
    });
  });

  it('publishes a payload of exactly the limit and refuses one byte more with 413 RequestEntityTooLargeException', async () => {
    const limit = AWS_LIMITS.iotPublishPayloadBytes;
    await client.send(new IotPublishCommand({ topic: 'notify/d', qos: 1, payload: Buffer.alloc(limit, 'x') }));
    await expect(client.send(new IotPublishCommand({ topic: 'notify/d', qos: 1, payload: Buffer.alloc(limit + 1, 'x') }))).rejects.toMatchObject({
      name: 'RequestEntityTooLargeException',
      $metadata: expect.objectContaining({ httpStatusCode: 413 }),
    });
    expect(calls.map((c) => c.payload.length)).toEqual([limit]);
  });

  it('answers operations it does not implement with MethodNotAllowedException', async () => {
    await expect(client.send(new GetRetainedMessageCommand({ topic: 'notify/d' }))).rejects.toMatchObject({
      name: 'MethodNotAllowedException',
    });
  });
});
