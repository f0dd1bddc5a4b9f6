import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
  ResourceNotFoundException,
  TrimmedDataAccessException,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDbStreamRecord } from '../../../local/emulators/dynamodb';
import { LocalDynamoDbStreams, SHARD_ITERATOR_TTL_MS, STREAM_RETENTION_MS } from '../../../local/emulators/dynamodb-streams';
import { listen, type Listening } from '../../../local/emulators/listen';

const STREAM_ARN = 'arn:aws:dynamodb:us-east-1:000000000000:table/CONVO_HISTORY/stream/2026-12-01T10:00:00.000';
const KEY_SCHEMA = [
  { AttributeName: 'conversationId', KeyType: 'HASH' as const },
  { AttributeName: 'messageId', KeyType: 'RANGE' as const },
];

const record = (n: number): DynamoDbStreamRecord => ({
  eventID: `event-${n}`,
  eventName: 'INSERT',
  eventVersion: '1.1',
  eventSource: 'aws:dynamodb',
  awsRegion: 'us-east-1',
  dynamodb: {
    ApproximateCreationDateTime: 1_764_583_200 + n,
    Keys: { conversationId: { S: 'conv-1' }, messageId: { S: `msg-${n}` } },
    NewImage: { conversationId: { S: 'conv-1' }, messageId: { S: `msg-${n}` }, body: { S: `hello ${n}` } },
    SequenceNumber: String(100_000_000_000_000_000_000n + BigInt(n)),
    SizeBytes: 64,
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  },
  eventSourceARN: STREAM_ARN,
});

describe('local DynamoDB Streams endpoint (real @aws-sdk/client-dynamodb-streams)', () => {
  let now = Date.UTC(2026, 11, 1, 10, 0, 0);
  let streams: LocalDynamoDbStreams;
  let endpoint: Listening;
  let client: DynamoDBStreamsClient;

  beforeEach(async () => {
    now = Date.UTC(2026, 11, 1, 10, 0, 0);
    streams = new LocalDynamoDbStreams({ clock: () => now });
    streams.addStream(STREAM_ARN, 'CONVO_HISTORY', KEY_SCHEMA);
    endpoint = await listen(streams.handle);
    client = new DynamoDBStreamsClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  });
  afterEach(async () => {
    client.destroy();
    await endpoint.close();
  });

  const iterator = async (type: 'TRIM_HORIZON' | 'LATEST' | 'AT_SEQUENCE_NUMBER' | 'AFTER_SEQUENCE_NUMBER', sequence?: string) => {
    const shardId = streams.shardIdOf(STREAM_ARN)!;
    const out = await client.send(new GetShardIteratorCommand({ StreamArn: STREAM_ARN, ShardId: shardId, ShardIteratorType: type, SequenceNumber: sequence }));
    return out.ShardIterator!;
  };

  it('lists the stream and describes its one shard with an AWS-shaped shard id of at least 28 characters', async () => {
    streams.keep(record(1));
    const listed = await client.send(new ListStreamsCommand({ TableName: 'CONVO_HISTORY' }));
    expect(listed.Streams).toEqual([{ StreamArn: STREAM_ARN, TableName: 'CONVO_HISTORY', StreamLabel: '2026-12-01T10:00:00.000' }]);
    const described = await client.send(new DescribeStreamCommand({ StreamArn: STREAM_ARN }));
    const shard = described.StreamDescription!.Shards![0];
    expect(shard.ShardId).toMatch(/^shardId-\d{20}-[0-9a-f]{8}$/);
    expect(shard.ShardId!.length).toBeGreaterThanOrEqual(28);
    expect(shard.SequenceNumberRange!.StartingSequenceNumber).toBe(record(1).dynamodb.SequenceNumber);
    expect(described.StreamDescription).toMatchObject({ StreamStatus: 'ENABLED', StreamViewType: 'NEW_AND_OLD_IMAGES', TableName: 'CONVO_HISTORY', KeySchema: KEY_SCHEMA });
    expect(described.StreamDescription!.CreationRequestDateTime).toEqual(new Date(now));
  });

  it('reads from AT_SEQUENCE_NUMBER onwards, in order, with images and sequence numbers, and pages by Limit', async () => {
    for (const n of [1, 2, 3, 4]) streams.keep(record(n));
    const first = await client.send(new GetRecordsCommand({ ShardIterator: await iterator('AT_SEQUENCE_NUMBER', record(2).dynamodb.SequenceNumber), Limit: 2 }));
    expect(first.Records!.map((r) => r.dynamodb!.SequenceNumber)).toEqual([record(2).dynamodb.SequenceNumber, record(3).dynamodb.SequenceNumber]);
    expect(first.Records![0]).toMatchObject({ eventID: 'event-2', eventName: 'INSERT', dynamodb: { NewImage: { body: { S: 'hello 2' } } } });
    expect(first.Records![0].dynamodb!.ApproximateCreationDateTime).toEqual(new Date((1_764_583_200 + 2) * 1000));
    const rest = await client.send(new GetRecordsCommand({ ShardIterator: first.NextShardIterator }));
    expect(rest.Records!.map((r) => r.eventID)).toEqual(['event-4']);
    // An open shard always has a next iterator, which answers empty until something new is written.
    const after = await client.send(new GetRecordsCommand({ ShardIterator: rest.NextShardIterator }));
    expect(after.Records).toEqual([]);
    expect(after.NextShardIterator).toBeDefined();
    const after2 = await client.send(new GetRecordsCommand({ ShardIterator: await iterator('AFTER_SEQUENCE_NUMBER', record(3).dynamodb.SequenceNumber) }));
    expect(after2.Records!.map((r) => r.eventID)).toEqual(['event-4']);
  });

  it('trims records older than 24 hours: reading them is a TrimmedDataAccessException, newer ones still read from TRIM_HORIZON', async () => {
    streams.keep(record(1));
    now += 60_000;
    streams.keep(record(2));
    const kept = await iterator('AT_SEQUENCE_NUMBER', record(1).dynamodb.SequenceNumber);
    now += STREAM_RETENTION_MS - 30_000;
    await expect(iterator('AT_SEQUENCE_NUMBER', record(1).dynamodb.SequenceNumber)).rejects.toBeInstanceOf(TrimmedDataAccessException);
    const horizon = await client.send(new GetRecordsCommand({ ShardIterator: await iterator('TRIM_HORIZON') }));
    expect(horizon.Records!.map((r) => r.eventID)).toEqual(['event-2']);
    // An iterator taken before the trim and used after it.
    now = Date.UTC(2026, 11, 1, 10, 0, 0) + 60_000;
    await expect(client.send(new GetRecordsCommand({ ShardIterator: kept }))).rejects.toBeInstanceOf(TrimmedDataAccessException);
  });

  it('expires shard iterators after 15 minutes', async () => {
    streams.keep(record(1));
    const old = await iterator('TRIM_HORIZON');
    now += SHARD_ITERATOR_TTL_MS + 1;
    await expect(client.send(new GetRecordsCommand({ ShardIterator: old }))).rejects.toBeInstanceOf(ExpiredIteratorException);
  });

  it('answers an unknown stream or shard with ResourceNotFoundException', async () => {
    await expect(client.send(new DescribeStreamCommand({ StreamArn: `${STREAM_ARN}x` }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(
      client.send(new GetShardIteratorCommand({ StreamArn: STREAM_ARN, ShardId: 'shardId-00000000000000000000-00000000', ShardIteratorType: 'TRIM_HORIZON' })),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});
