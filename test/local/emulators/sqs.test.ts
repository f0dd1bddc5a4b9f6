import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import { listen, type Listening } from '../../../local/emulators/listen';
import { LocalSqs } from '../../../local/emulators/sqs';
import { AWS_LIMITS } from '../../../contracts/limits';

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
  const standard = async () => (await client.send(new CreateQueueCommand({ QueueName: 'plain' }))).QueueUrl!;
  const LIMIT = AWS_LIMITS.sqsMessageBytes;

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

  it('deletes a queue with its messages and refuses its name for 60 seconds, as DeleteQueue does', async () => {
    const url = await fifo();
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'kept?', MessageGroupId: 'g', MessageDeduplicationId: 'd' }));
    await client.send(new DeleteQueueCommand({ QueueUrl: url }));
    await expect(client.send(new GetQueueUrlCommand({ QueueName: 'inbox-d1.fifo' }))).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
    await expect(client.send(new DeleteQueueCommand({ QueueUrl: url }))).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
    clock += 59_000;
    await expect(fifo()).rejects.toMatchObject({ name: 'QueueDeletedRecently' });
    clock += 1_000;
    const again = await fifo();
    expect(again).toBe(url);
    expect(sqs.peek('inbox-d1.fifo')).toEqual([]);
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

  it('hands a received message back at once with ChangeMessageVisibility 0, and refuses one not in flight or a bad timeout', async () => {
    const url = await fifo();
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'x' }));
    const [first] = (await client.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 300 }))).Messages!;
    await expect(client.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 43_201 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
    await client.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0 }));
    await expect(client.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 0 }))).rejects.toMatchObject({
      name: 'MessageNotInflight',
    });
    const again = await client.send(new ReceiveMessageCommand({ QueueUrl: url }));
    expect(again.Messages?.[0].Attributes?.ApproximateReceiveCount).toBe('2');
    await expect(client.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: 'nope', VisibilityTimeout: 0 }))).rejects.toMatchObject({
      name: 'ReceiptHandleIsInvalid',
    });
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

  it('accepts a body of exactly the limit and refuses one byte more as InvalidParameterValue', async () => {
    const url = await standard();
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x'.repeat(LIMIT) }));
    await expect(client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x'.repeat(LIMIT + 1) }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: `One or more parameters are invalid. Reason: Message must be shorter than ${LIMIT} bytes.`,
      $metadata: expect.objectContaining({ httpStatusCode: 400 }),
    });
    expect(sqs.peek('plain')).toHaveLength(1);
  });

  it('counts UTF-8 bytes, not characters', async () => {
    const url = await standard();
    // 'é' is two bytes: half the limit in characters is the whole limit in bytes.
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'é'.repeat(LIMIT / 2) }));
    await expect(client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `${'é'.repeat(LIMIT / 2)}x` }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
  });

  it('counts message attributes (name, data type and value) against the limit', async () => {
    const url = await standard();
    // name 'k' (1) + 'String' (6) + value: the body leaves room for a 3-byte value exactly.
    const body = 'x'.repeat(LIMIT - 1 - 6 - 3);
    const send = (value: string) =>
      client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageAttributes: { k: { DataType: 'String', StringValue: value } } }));
    await send('abc');
    await expect(send('abcd')).rejects.toMatchObject({ name: 'InvalidParameterValue' });
  });

  it('refuses a SendMessageBatch whose entries add up to more than the limit as BatchRequestTooLong', async () => {
    const url = await standard();
    const half = 'x'.repeat(LIMIT / 2);
    const ok = await client.send(
      new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: half }, { Id: 'b', MessageBody: half }] }),
    );
    expect(ok.Successful?.map((e) => e.Id)).toEqual(['a', 'b']);
    expect(ok.Successful?.[0].MD5OfMessageBody).toBe(createHash('md5').update(half).digest('hex'));
    await expect(
      client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: 'a', MessageBody: half }, { Id: 'b', MessageBody: `${half}x` }] })),
    ).rejects.toMatchObject({
      name: 'BatchRequestTooLong',
      message: `Batch requests cannot be longer than ${LIMIT} bytes. You have sent ${LIMIT + 1} bytes.`,
    });
    expect(sqs.peek('plain')).toHaveLength(2);
  });

  it('reports a failing entry of a SendMessageBatch without failing the others', async () => {
    const url = await fifo();
    const out = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'ok', MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'x' },
          { Id: 'no-group', MessageBody: 'y', MessageDeduplicationId: 'y' },
        ],
      }),
    );
    expect(out.Successful?.map((e) => e.Id)).toEqual(['ok']);
    expect(out.Failed).toEqual([expect.objectContaining({ Id: 'no-group', Code: 'MissingParameter', SenderFault: true })]);
  });
  it('answers every request with 503 ServiceUnavailable during an outage and serves again after it', async () => {
    const url = await fifo();
    const once = new SQSClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const send = (id: string) =>
      once.send(new SendMessageCommand({ QueueUrl: url, MessageBody: id, MessageGroupId: 'g', MessageDeduplicationId: id }));
    sqs.setOutage(true);
    await expect(send('during')).rejects.toMatchObject({
      name: 'ServiceUnavailable',
      $fault: 'server',
      $metadata: expect.objectContaining({ httpStatusCode: 503 }),
    });
    sqs.setOutage(false);
    await send('after');
    expect(sqs.peek('inbox-d1.fifo').map((m) => m.body)).toEqual(['after']);
    once.destroy();
  });
});
