import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import { listen, type Listening } from '../../local/listen';
import { LocalSqs } from '../../local/sqs';

describe('local SQS endpoint (contract with @aws-sdk/client-sqs)', () => {
  let endpoint: Listening;
  let sqs: LocalSqs;
  let client: SQSClient;
  let clock: number;

  beforeEach(async () => {
    clock = Date.parse('2026-11-24T10:00:00Z');
    let base = '';
    sqs = new LocalSqs({ baseUrl: () => base, now: () => clock, pollIntervalMs: 5 });
    endpoint = await listen(sqs.handle);
    base = endpoint.url;
    client = new SQSClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
  });

  afterEach(async () => {
    sqs.close();
    client.destroy();
    await endpoint.close();
  });

  const fifo = async (name = 'inbox-d1.fifo', attrs: Record<string, string> = {}) =>
    (await client.send(new CreateQueueCommand({ QueueName: name, Attributes: { FifoQueue: 'true', ...attrs } }))).QueueUrl!;

  it('creates a queue idempotently and answers GetQueueUrl with the same URL', async () => {
    const url = await fifo();
    expect(url).toBe(`${endpoint.url}/000000000000/inbox-d1.fifo`);
    expect(await fifo()).toBe(url);
    expect((await client.send(new GetQueueUrlCommand({ QueueName: 'inbox-d1.fifo' }))).QueueUrl).toBe(url);
  });

  it('rejects creating an existing queue with other attributes as QueueNameExists', async () => {
    await fifo('q.fifo', { MessageRetentionPeriod: '60' });
    await expect(fifo('q.fifo', { MessageRetentionPeriod: '120' })).rejects.toMatchObject({ name: 'QueueNameExists' });
  });

  it('answers a send to a missing queue with QueueDoesNotExist', async () => {
    await expect(
      client.send(new SendMessageCommand({ QueueUrl: `${endpoint.url}/000000000000/nope`, MessageBody: 'x' })),
    ).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
    await expect(client.send(new GetQueueUrlCommand({ QueueName: 'nope' }))).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
  });

  it('returns the MD5 of the body and a sequence number for FIFO sends', async () => {
    const url = await fifo();
    const out = await client.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: 'hello', MessageGroupId: 'c1', MessageDeduplicationId: 'm1#created' }),
    );
    expect(out.MD5OfMessageBody).toBe(createHash('md5').update('hello').digest('hex'));
    expect(out.SequenceNumber).toMatch(/^\d{20}$/);
  });

  it('deduplicates FIFO sends with the same deduplication id for five minutes', async () => {
    const url = await fifo();
    const send = () =>
      client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'a', MessageGroupId: 'c1', MessageDeduplicationId: 'm1#created' }));
    const first = await send();
    const second = await send();
    expect(second.MessageId).toBe(first.MessageId);
    expect(sqs.peek('inbox-d1.fifo')).toHaveLength(1);
    clock += 5 * 60 * 1000 + 1;
    await send();
    expect(sqs.peek('inbox-d1.fifo')).toHaveLength(2);
  });

  it('holds back later messages of a group while an earlier one is in flight', async () => {
    const url = await fifo();
    for (const [i, g] of [[1, 'c1'], [2, 'c1'], [3, 'c2']] as const) {
      await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `m${i}`, MessageGroupId: g, MessageDeduplicationId: `d${i}` }));
    }
    const first = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 1 }));
    expect(first.Messages?.map((m) => m.Body)).toEqual(['m1']);
    const second = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    expect(second.Messages?.map((m) => m.Body)).toEqual(['m3']);
    await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first.Messages![0].ReceiptHandle }));
    const third = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    expect(third.Messages?.map((m) => m.Body)).toEqual(['m2']);
  });

  it('makes a received message visible again after its visibility timeout', async () => {
    const url = await fifo();
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'x' }));
    await client.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 30 }));
    expect((await client.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toBeUndefined();
    clock += 30_000;
    const again = await client.send(new ReceiveMessageCommand({ QueueUrl: url }));
    expect(again.Messages?.[0].Attributes?.ApproximateReceiveCount).toBe('2');
  });

  it('long-polls until a message arrives', async () => {
    const url = await fifo();
    const pending = client.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5 }));
    setTimeout(() => {
      void client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'late', MessageGroupId: 'g', MessageDeduplicationId: 'late' }));
    }, 50);
    expect((await pending).Messages?.[0].Body).toBe('late');
  });

  it('drops messages older than the retention period', async () => {
    const url = await fifo('short.fifo', { MessageRetentionPeriod: '60' });
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'old', MessageGroupId: 'g', MessageDeduplicationId: 'o' }));
    clock += 61_000;
    expect((await client.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toBeUndefined();
  });

  it('reports per-entry failures of DeleteMessageBatch', async () => {
    const url = await fifo();
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'x' }));
    const got = await client.send(new ReceiveMessageCommand({ QueueUrl: url }));
    const out = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'ok', ReceiptHandle: got.Messages![0].ReceiptHandle },
          { Id: 'bad', ReceiptHandle: 'not-a-handle' },
        ],
      }),
    );
    expect(out.Successful).toEqual([{ Id: 'ok' }]);
    expect(out.Failed).toEqual([expect.objectContaining({ Id: 'bad', Code: 'ReceiptHandleIsInvalid', SenderFault: true })]);
  });

  it('requires a MessageGroupId on FIFO queues', async () => {
    const url = await fifo();
    await expect(client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x' }))).rejects.toMatchObject({
      name: 'MissingParameter',
    });
  });

  it('answers actions it does not implement with an unknown-operation error', async () => {
    await expect(client.send(new ListQueuesCommand({}))).rejects.toMatchObject({
      message: expect.stringContaining('ListQueues is not implemented'),
    });
  });
});
