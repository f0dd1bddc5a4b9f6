import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DynamoDbStreamRecord } from './dynamodb';
import { handlePreflight, LocalServiceError, readBody, sendJson } from './http-util';

/**
 * Local DynamoDB Streams endpoint (AWS JSON 1.0, `X-Amz-Target: DynamoDBStreams_20120810.<Op>`):
 * ListStreams, DescribeStream, GetShardIterator and GetRecords over the records LocalDynamoDb
 * emits, so `npm run replay -- --dlq` reads a pipe DLQ entry's sequence range locally exactly as on
 * AWS. Each stream has one open shard with an AWS-shaped id
 * (`shardId-<20-digit creation time in ms>-<8 hex>`), records are kept 24 hours by an injectable
 * clock and trimmed after that (TrimmedDataAccessException), and shard iterators expire after 15
 * minutes (ExpiredIteratorException), as DynamoDB Streams documents.
 */

/** DynamoDB Streams keeps stream records for 24 hours. */
export const STREAM_RETENTION_MS = 24 * 60 * 60 * 1000;
/** A shard iterator expires 15 minutes after it was returned. */
export const SHARD_ITERATOR_TTL_MS = 15 * 60 * 1000;
/** GetRecords answers at most 1,000 records (and 1 MB). */
const GET_RECORDS_MAX = 1_000;

const ERROR_PREFIX = 'com.amazonaws.dynamodb.v20120810#';
const JSON_10 = 'application/x-amz-json-1.0';

export class StreamsError extends LocalServiceError {}

interface KeptRecord {
  record: DynamoDbStreamRecord;
  sequence: bigint;
  arrivedAt: number;
}

interface LocalStream {
  streamArn: string;
  tableName: string;
  keySchema: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  createdAt: number;
  shardId: string;
  records: KeptRecord[];
}

interface IteratorState {
  streamArn: string;
  shardId: string;
  /** The first sequence number the next GetRecords may return. */
  from: string;
  issuedAt: number;
}

export interface LocalDynamoDbStreamsOptions {
  /** Milliseconds since the epoch; tests move it past the retention. @default Date.now */
  clock?: () => number;
}

/** `shardId-00000001700000000000-abcdef12`: the creation time in ms, zero-padded to 20 digits, and 8 hex digits. */
export const shardIdOf = (createdAtMs: number, streamArn: string): string => {
  let hash = 0x811c9dc5;
  for (const char of streamArn) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return `shardId-${String(createdAtMs).padStart(20, '0')}-${hash.toString(16).padStart(8, '0')}`;
};

const encodeIterator = (state: IteratorState): string => Buffer.from(JSON.stringify(state)).toString('base64');

const decodeIterator = (iterator: unknown): IteratorState => {
  if (typeof iterator !== 'string' || iterator === '') throw new StreamsError('ValidationException', 'ShardIterator is required');
  try {
    const state = JSON.parse(Buffer.from(iterator, 'base64').toString('utf8')) as IteratorState;
    if (typeof state.streamArn === 'string' && typeof state.shardId === 'string' && typeof state.from === 'string' && typeof state.issuedAt === 'number') {
      return state;
    }
  } catch {
    // Reported below, as DynamoDB Streams reports an iterator it did not issue.
  }
  throw new StreamsError('ValidationException', 'Invalid ShardIterator');
};

const isSequenceNumber = (value: unknown): value is string => typeof value === 'string' && /^\d{21,40}$/.test(value);

/** What GetRecords returns of a record: the Lambda/Pipes event fields minus `eventSourceARN`. */
const wireRecord = ({ record }: KeptRecord) => ({
  eventID: record.eventID,
  eventName: record.eventName,
  eventVersion: record.eventVersion,
  eventSource: record.eventSource,
  awsRegion: record.awsRegion,
  dynamodb: record.dynamodb,
});

export class LocalDynamoDbStreams {
  private readonly streams = new Map<string, LocalStream>();
  private readonly clock: () => number;

  constructor(options: LocalDynamoDbStreamsOptions = {}) {
    this.clock = options.clock ?? Date.now;
  }

  /** Makes a table's stream readable; its records are the ones passed to `keep`. */
  addStream(streamArn: string, tableName: string, keySchema: LocalStream['keySchema']): void {
    const createdAt = this.clock();
    this.streams.set(streamArn, { streamArn, tableName, keySchema, createdAt, shardId: shardIdOf(createdAt, streamArn), records: [] });
  }

  /** Keeps one record of a registered stream (LocalDynamoDb's `onStreamRecord` listener). */
  keep(record: DynamoDbStreamRecord): void {
    const stream = this.streams.get(record.eventSourceARN);
    if (!stream) return;
    stream.records.push({ record, sequence: BigInt(record.dynamodb.SequenceNumber), arrivedAt: this.clock() });
    // A long-running stack keeps only what the stream would: trimmed as it grows, not only when read.
    this.horizonOf(stream);
  }

  /** The one shard of a stream, as a pipe DLQ entry names it. */
  shardIdOf(streamArn: string): string | undefined {
    return this.streams.get(streamArn)?.shardId;
  }

  private stream(arn: unknown): LocalStream {
    const stream = typeof arn === 'string' ? this.streams.get(arn) : undefined;
    if (!stream) throw new StreamsError('ResourceNotFoundException', `Requested resource not found: Stream: ${String(arn)} not found`);
    return stream;
  }

  private shard(stream: LocalStream, shardId: unknown): void {
    if (shardId !== stream.shardId) {
      throw new StreamsError('ResourceNotFoundException', `Requested resource not found: Shard: ${String(shardId)} in Stream: ${stream.streamArn} not found`);
    }
  }

  /** Sequence numbers below this one were written and are gone (trimmed), per stream. */
  private readonly trimmedBelow = new Map<string, bigint>();

  /** Drops what is past the retention; returns the lowest sequence number still readable, if any was trimmed. */
  private horizonOf(stream: LocalStream): bigint | undefined {
    const horizon = this.clock() - STREAM_RETENTION_MS;
    const firstKept = stream.records.findIndex((r) => r.arrivedAt > horizon);
    const removed = stream.records.splice(0, firstKept < 0 ? stream.records.length : firstKept);
    if (removed.length > 0) this.trimmedBelow.set(stream.streamArn, removed[removed.length - 1].sequence + 1n);
    return this.trimmedBelow.get(stream.streamArn);
  }

  private listStreams(input: Record<string, unknown>) {
    const streams = [...this.streams.values()].filter((s) => input.TableName === undefined || s.tableName === input.TableName);
    return { Streams: streams.map((s) => ({ StreamArn: s.streamArn, TableName: s.tableName, StreamLabel: s.streamArn.split('/stream/')[1] })) };
  }

  private describeStream(input: Record<string, unknown>) {
    const stream = this.stream(input.StreamArn);
    this.horizonOf(stream);
    const first = stream.records[0];
    return {
      StreamDescription: {
        StreamArn: stream.streamArn,
        StreamLabel: stream.streamArn.split('/stream/')[1],
        StreamStatus: 'ENABLED',
        StreamViewType: 'NEW_AND_OLD_IMAGES',
        CreationRequestDateTime: stream.createdAt / 1000,
        TableName: stream.tableName,
        KeySchema: stream.keySchema,
        Shards: [
          {
            ShardId: stream.shardId,
            SequenceNumberRange: { StartingSequenceNumber: (first?.sequence ?? this.trimmedBelow.get(stream.streamArn) ?? 0n).toString().padStart(21, '0') },
          },
        ],
      },
    };
  }

  private getShardIterator(input: Record<string, unknown>) {
    const stream = this.stream(input.StreamArn);
    this.shard(stream, input.ShardId);
    const horizon = this.horizonOf(stream);
    const type = input.ShardIteratorType;
    const latest = stream.records.length > 0 ? stream.records[stream.records.length - 1].sequence + 1n : (horizon ?? 0n);
    let from: bigint;
    if (type === 'TRIM_HORIZON') from = stream.records[0]?.sequence ?? latest;
    else if (type === 'LATEST') from = latest;
    else if (type === 'AT_SEQUENCE_NUMBER' || type === 'AFTER_SEQUENCE_NUMBER') {
      if (!isSequenceNumber(input.SequenceNumber)) {
        throw new StreamsError('ValidationException', `SequenceNumber is required for ${type} and must be a sequence number of the shard`);
      }
      const sequence = BigInt(input.SequenceNumber);
      if (horizon !== undefined && sequence < horizon) {
        throw new StreamsError(
          'TrimmedDataAccessException',
          `The operation attempted to read past the oldest stream record in a shard: sequence number ${input.SequenceNumber} is beyond the 24-hour retention of ${stream.shardId}`,
        );
      }
      from = type === 'AT_SEQUENCE_NUMBER' ? sequence : sequence + 1n;
    } else {
      throw new StreamsError('ValidationException', `ShardIteratorType must be TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER, got ${String(type)}`);
    }
    return { ShardIterator: encodeIterator({ streamArn: stream.streamArn, shardId: stream.shardId, from: from.toString(), issuedAt: this.clock() }) };
  }

  private getRecords(input: Record<string, unknown>) {
    const state = decodeIterator(input.ShardIterator);
    const limit = input.Limit === undefined ? GET_RECORDS_MAX : Number(input.Limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > GET_RECORDS_MAX) throw new StreamsError('ValidationException', `Limit must be from 1 to ${GET_RECORDS_MAX}`);
    if (this.clock() - state.issuedAt > SHARD_ITERATOR_TTL_MS) {
      throw new StreamsError('ExpiredIteratorException', 'Iterator expired. The iterator was created more than 15 minutes ago');
    }
    const stream = this.stream(state.streamArn);
    this.shard(stream, state.shardId);
    const from = BigInt(state.from);
    const horizon = this.horizonOf(stream);
    if (horizon !== undefined && from < horizon) {
      throw new StreamsError('TrimmedDataAccessException', `The operation attempted to read past the oldest stream record in a shard (${stream.shardId})`);
    }
    const records = stream.records.filter((r) => r.sequence >= from).slice(0, limit);
    const next = records.length > 0 ? records[records.length - 1].sequence + 1n : from;
    return {
      Records: records.map(wireRecord),
      // The shard stays open, so there is always a next iterator.
      NextShardIterator: encodeIterator({ ...state, from: next.toString(), issuedAt: this.clock() }),
    };
  }

  /** The endpoint's request listener. */
  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (handlePreflight(req, res)) return;
    const body = await readBody(req);
    const [service, op] = String(req.headers['x-amz-target'] ?? '').split('.');
    try {
      if (service !== 'DynamoDBStreams_20120810') throw new StreamsError('UnknownOperationException', `expected X-Amz-Target DynamoDBStreams_20120810.<Operation>`);
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        throw new StreamsError('SerializationException', 'the request body is not JSON');
      }
      const operations: Record<string, (i: Record<string, unknown>) => unknown> = {
        ListStreams: (i) => this.listStreams(i),
        DescribeStream: (i) => this.describeStream(i),
        GetShardIterator: (i) => this.getShardIterator(i),
        GetRecords: (i) => this.getRecords(i),
      };
      const run = operations[op ?? ''];
      if (!run) throw new StreamsError('UnknownOperationException', `${op || '(none)'} is not implemented by the local DynamoDB Streams endpoint`);
      sendJson(res, 200, run(input), JSON_10);
    } catch (error) {
      const e = error instanceof StreamsError ? error : new StreamsError('InternalServerError', (error as Error).message, 500);
      sendJson(res, e.status, { __type: `${ERROR_PREFIX}${e.code}`, message: e.message }, JSON_10);
    }
  };
}
