import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand, TrimmedDataAccessException } from '@aws-sdk/client-dynamodb-streams';
import { SFNClient, StartSyncExecutionCommand } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { MAX_PIPE_BATCH_SIZE, type BatchEntry } from '../../contracts/enrichment';
import { UsageError } from '../../ops/cli';
import { parseReplayArgs } from '../../ops/replay/args';
import { prepare, recordsFromItem, TABLE_SEQUENCE, type Item } from '../../ops/replay/records';
import { readRange, replayDlq, runEntries, type ReplayContext } from '../../ops/replay/replay';

const item = (extra: Item = {}): Item => ({
  conversationId: { S: 'conv-1' },
  messageId: { S: 'msg-1' },
  tenantId: { S: 'acme' },
  senderId: { S: 'customer-7' },
  senderType: { S: 'customer' },
  channel: { S: 'web' },
  body: { S: 'Where is my order?' },
  createdAt: { S: '2026-11-24T10:00:00.000Z' },
  teamId: { S: 'support' },
  ...extra,
});

const record = (sequence: string) => ({ eventID: sequence, eventName: 'INSERT' as const, dynamodb: { SequenceNumber: sequence, Keys: {} } });

describe('replay library', () => {
  const streams = mockClient(DynamoDBStreamsClient);
  const sfn = mockClient(SFNClient);
  const dynamodb = mockClient(DynamoDBClient);
  const sqs = mockClient(SQSClient);
  beforeEach(() => {
    streams.reset();
    sfn.reset();
    dynamodb.reset();
    sqs.reset();
  });

  const DLQ_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/convo-notify-pipe-dlq';
  /** One pipe DLQ entry (pointers only) whose batch reached the stream at 10:00:00Z and is past the stream's retention. */
  const trimmedDlqEntry = () => {
    sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          {
            MessageId: 'dlq-1',
            ReceiptHandle: 'rh-1',
            Body: JSON.stringify({
              DDBStreamBatchInfo: {
                shardId: 'shardId-00000001700000000000-abcdef12',
                startSequenceNumber: '100000000000000000001',
                endSequenceNumber: '100000000000000000001',
                approximateArrivalOfFirstRecord: '2026-12-01T10:00:00Z',
                approximateArrivalOfLastRecord: '2026-12-01T10:00:00Z',
                batchSize: 1,
                streamArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/CONVO_HISTORY/stream/2026-12-01T00:00:00.000',
              },
            }),
          },
        ],
      })
      .resolves({});
    streams.on(GetShardIteratorCommand).rejects(new TrimmedDataAccessException({ message: 'trimmed', $metadata: {} }));
  };
  const ctx = (): ReplayContext => ({
    clients: {
      sfn: new SFNClient({ region: 'us-east-1' }),
      dynamodb: new DynamoDBClient({ region: 'us-east-1' }),
      streams: new DynamoDBStreamsClient({ region: 'us-east-1' }),
      sqs: new SQSClient({ region: 'us-east-1' }),
    },
    stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:m',
    convoHistoryTable: 'CONVO_HISTORY',
    dryRun: false,
  });

  it('keeps a DLQ entry, failed, when neither the stream nor the table has its records: never deleted as nothing to do', async () => {
    trimmedDlqEntry();
    dynamodb.on(ScanCommand).resolves({ Items: [] });
    const [report] = await replayDlq(ctx(), DLQ_URL);
    expect(report).toMatchObject({ outcome: 'failed', records: 0, reason: 'no record found for the entry (kept)' });
    expect(sqs.commandCalls(DeleteMessageCommand)).toEqual([]);
    expect(sfn.commandCalls(StartSyncExecutionCommand)).toEqual([]);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).map((c) => c.args[0].input)).toEqual([{ QueueUrl: DLQ_URL, ReceiptHandle: 'rh-1', VisibilityTimeout: 0 }]);
  });

  it('finds in the table the item written with a UTC offset within the window, and not the one whose string only looks within it', async () => {
    trimmedDlqEntry();
    const within = item({ messageId: { S: 'msg-east' }, createdAt: { S: '2026-12-01T12:03:00.000+02:00' } });
    const outside = item({ messageId: { S: 'msg-west' }, createdAt: { S: '2026-12-01T10:03:00.000-05:00' } });
    dynamodb.on(ScanCommand).resolves({ Items: [within, outside] });
    sfn.on(StartSyncExecutionCommand).resolves({ executionArn: 'arn:1', status: 'SUCCEEDED' });
    const [report] = await replayDlq(ctx(), DLQ_URL);
    // The Scan compares strings: its bounds are widened by the largest UTC offset, the instants are compared after.
    expect(dynamodb.commandCalls(ScanCommand)[0].args[0].input.ExpressionAttributeValues).toEqual({
      ':from': { S: '2026-11-30T19:55:00.000Z' },
      ':to': { S: '2026-12-02T00:05:00.000Z' },
    });
    expect(report).toMatchObject({ outcome: 'replayed', deleted: true });
    expect(report.entries).toHaveLength(1);
    expect(report.entries[0]).toContain('conv-1/msg-east');
    expect(sqs.commandCalls(DeleteMessageCommand).map((c) => c.args[0].input)).toEqual([{ QueueUrl: DLQ_URL, ReceiptHandle: 'rh-1' }]);
  });

  it('builds the created record of an unanswered item, normalized as the pipe does', () => {
    const { entries, passed } = prepare(recordsFromItem(item()));
    expect(passed.map((r) => r.eventName)).toEqual(['INSERT']);
    expect(entries).toEqual([
      expect.objectContaining({ notification: expect.objectContaining({ kind: 'message.created', notificationId: 'conv-1/msg-1#created', streamSequence: TABLE_SEQUENCE }) }),
    ]);
  });

  it('builds created and handled records of an answered item: the insert without the claim, then the claim', () => {
    const answered = item({ handledBy: { S: 'bob' }, handledAt: { S: '2026-11-24T10:05:00.000Z' } });
    const records = recordsFromItem(answered);
    expect(records[0].dynamodb?.NewImage).not.toHaveProperty('handledBy');
    expect(records[1]).toMatchObject({ eventName: 'MODIFY', dynamodb: { OldImage: { conversationId: { S: 'conv-1' } }, NewImage: { handledBy: { S: 'bob' } } } });
    expect(prepare(records).entries.map((e) => 'notification' in e && [e.notification.kind, e.notification.handledBy])).toEqual([
      ['message.created', undefined],
      ['message.handled', 'bob'],
    ]);
  });

  it('drops what the pipe filter drops: a MODIFY that is an edit, not the first answer', () => {
    const edit = { eventID: 'e', eventName: 'MODIFY', dynamodb: { Keys: {}, OldImage: item(), NewImage: item({ body: { S: 'edited' } }), SequenceNumber: '1' } };
    expect(prepare([edit])).toMatchObject({ filteredOut: 1, entries: [] });
  });

  it('reads a DLQ range with GetShardIterator AT_SEQUENCE_NUMBER and GetRecords pages up to the end sequence number', async () => {
    streams.on(GetShardIteratorCommand).resolves({ ShardIterator: 'it-1' });
    streams
      .on(GetRecordsCommand, { ShardIterator: 'it-1' })
      .resolves({ Records: [record('100000000000000000001'), record('100000000000000000002')], NextShardIterator: 'it-2' })
      .on(GetRecordsCommand, { ShardIterator: 'it-2' })
      .resolves({ Records: [record('100000000000000000003'), record('100000000000000000004')], NextShardIterator: 'it-3' });
    const info = {
      shardId: 'shardId-00000001700000000000-abcdef12',
      startSequenceNumber: '100000000000000000001',
      endSequenceNumber: '100000000000000000003',
      approximateArrivalOfFirstRecord: '2026-12-01T10:00:00Z',
      approximateArrivalOfLastRecord: '2026-12-01T10:00:01Z',
      batchSize: 3,
      streamArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/CONVO_HISTORY/stream/2026-12-01T00:00:00.000',
    };
    const range = await readRange(new DynamoDBStreamsClient({ region: 'us-east-1' }), info);
    expect(streams.commandCalls(GetShardIteratorCommand)[0].args[0].input).toEqual({
      StreamArn: info.streamArn,
      ShardId: info.shardId,
      ShardIteratorType: 'AT_SEQUENCE_NUMBER',
      SequenceNumber: info.startSequenceNumber,
    });
    expect(range).toEqual({ complete: true, records: [record('100000000000000000001'), record('100000000000000000002'), record('100000000000000000003')] });
    expect(streams.commandCalls(GetRecordsCommand)).toHaveLength(2);
  });

  it('runs entries in executions of at most one pipe batch and stops at the first execution that did not succeed', async () => {
    const entries = prepare(recordsFromItem(item())).entries;
    const many: BatchEntry[] = Array.from({ length: MAX_PIPE_BATCH_SIZE + 1 }, () => entries[0]);
    sfn.on(StartSyncExecutionCommand).resolvesOnce({ executionArn: 'arn:1', status: 'SUCCEEDED' }).resolvesOnce({ executionArn: 'arn:2', status: 'FAILED', error: 'Boom', cause: 'why' });
    const run = await runEntries(new SFNClient({ region: 'us-east-1' }), 'arn:aws:states:us-east-1:123456789012:stateMachine:m', many);
    const inputs = sfn.commandCalls(StartSyncExecutionCommand).map((c) => JSON.parse(c.args[0].input.input!) as unknown[]);
    expect(inputs.map((i) => i.length)).toEqual([MAX_PIPE_BATCH_SIZE, 1]);
    expect(run).toEqual({ executionArns: ['arn:1', 'arn:2'], error: 'execution FAILED: Boom: why' });
  });

  it('parses --message at the first slash and refuses what it cannot use', () => {
    expect(parseReplayArgs(['--message', 'a/b/c', '--message', 'x/y']).messages).toEqual([
      { conversationId: 'a', messageId: 'b/c' },
      { conversationId: 'x', messageId: 'y' },
    ]);
    expect(() => parseReplayArgs(['--dlq', 'extra'])).toThrow(new UsageError('unexpected argument "extra"'));
    expect(() => parseReplayArgs(['--dlq', '--endpoint-sfn', 'ftp://x'])).toThrow('--endpoint-sfn must be an http(s) URL, got "ftp://x"');
    expect(() => parseReplayArgs(['--message', '/b'])).toThrow('--message must be <conversationId>/<messageId>, got "/b"');
  });
});
