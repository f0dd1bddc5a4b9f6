import { DescribeTableCommand, DynamoDBClient, GetItemCommand, type AttributeValue, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ESCALATION_MARKERS_TABLE } from '../../contracts/escalation';
import { CONVO_HISTORY_TABLE, DEVICE_REGISTRY_TABLE, PRESENCE_TABLE } from '../../contracts/tables';
import { handlePreflight, readBody, sendJson } from './http-util';

// dynalite ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

/**
 * Local DynamoDB: dynalite (a DynamoDB implementation on an in-memory LevelDB) behind a thin
 * proxy that adds what dynalite lacks and convo-notify relies on:
 *  - a DynamoDB stream (NEW_AND_OLD_IMAGES) for chosen tables, in the record format Lambda and
 *    EventBridge Pipes deliver, built from the item before and after each write;
 *  - `ReturnValuesOnConditionCheckFailure: ALL_OLD`, which the client's claim uses to name the winner.
 * Writes are serialised so each record's old image is exactly the previous new image.
 */

export type Item = Record<string, AttributeValue>;

export interface DynamoDbStreamRecord {
  eventID: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  eventVersion: '1.1';
  eventSource: 'aws:dynamodb';
  awsRegion: string;
  dynamodb: {
    ApproximateCreationDateTime: number;
    Keys: Item;
    NewImage?: Item;
    OldImage?: Item;
    SequenceNumber: string;
    SizeBytes: number;
    StreamViewType: 'NEW_AND_OLD_IMAGES';
  };
  eventSourceARN: string;
}

/** CONVO_HISTORY's key schema (contracts/tables.ts, as the CDK stack declares it): the table's and its stream's. */
export const CONVO_HISTORY_KEY_SCHEMA: { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[] = [
  { AttributeName: CONVO_HISTORY_TABLE.partitionKey, KeyType: 'HASH' },
  { AttributeName: CONVO_HISTORY_TABLE.sortKey, KeyType: 'RANGE' },
];

/** A local table of CONVO_HISTORY's shape. */
export const convoHistoryTableInput = (tableName: string): CreateTableCommandInput => ({
  TableName: tableName,
  BillingMode: 'PAY_PER_REQUEST',
  AttributeDefinitions: [
    { AttributeName: CONVO_HISTORY_TABLE.partitionKey, AttributeType: 'S' },
    { AttributeName: CONVO_HISTORY_TABLE.sortKey, AttributeType: 'S' },
  ],
  KeySchema: CONVO_HISTORY_KEY_SCHEMA,
});

const stringHashKeyTableInput = (tableName: string, partitionKey: string): CreateTableCommandInput => ({
  TableName: tableName,
  BillingMode: 'PAY_PER_REQUEST',
  AttributeDefinitions: [{ AttributeName: partitionKey, AttributeType: 'S' }],
  KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }],
});

/** A local table of PRESENCE's shape (contracts/tables.ts). */
export const presenceTableInput = (tableName: string): CreateTableCommandInput => stringHashKeyTableInput(tableName, PRESENCE_TABLE.partitionKey);

/** A local table of DEVICE_REGISTRY's shape (contracts/tables.ts). */
export const deviceRegistryTableInput = (tableName: string): CreateTableCommandInput =>
  stringHashKeyTableInput(tableName, DEVICE_REGISTRY_TABLE.partitionKey);

/** A local table of the escalation markers' shape (contracts/escalation.ts). */
export const escalationMarkersTableInput = (tableName: string): CreateTableCommandInput =>
  stringHashKeyTableInput(tableName, ESCALATION_MARKERS_TABLE.partitionKey);

const SUPPORTED = new Set([
  'CreateTable',
  'DescribeTable',
  'ListTables',
  'PutItem',
  'GetItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
]);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);

interface Forwarded {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface LocalDynamoDbOptions {
  region?: string;
  accountId?: string;
}

export class LocalDynamoDb {
  private backend?: Server;
  private backendUrl = '';
  private client?: DynamoDBClient;
  private readonly keySchemas = new Map<string, string[]>();
  private readonly streams = new Map<string, string>();
  private readonly listeners: ((r: DynamoDbStreamRecord) => void)[] = [];
  private writeQueue: Promise<unknown> = Promise.resolve();
  private sequence = 100_000_000_000_000_000_000n;
  private readonly region: string;
  private readonly accountId: string;

  constructor(options: LocalDynamoDbOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
  }

  async start(): Promise<void> {
    const backend = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', () => resolve()));
    this.backend = backend;
    this.backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    this.client = new DynamoDBClient({
      endpoint: this.backendUrl,
      region: this.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  }

  async stop(): Promise<void> {
    this.client?.destroy();
    const backend = this.backend;
    if (backend) await new Promise<void>((resolve) => backend.close(() => resolve()));
  }

  /** Turns on a NEW_AND_OLD_IMAGES stream for a table; returns its stream ARN. */
  enableStream(tableName: string): string {
    const arn = `arn:aws:dynamodb:${this.region}:${this.accountId}:table/${tableName}/stream/${new Date().toISOString().replace(/Z$/, '')}`;
    this.streams.set(tableName, arn);
    return arn;
  }

  onStreamRecord(listener: (r: DynamoDbStreamRecord) => void): void {
    this.listeners.push(listener);
  }

  private async keyNames(table: string): Promise<string[]> {
    const cached = this.keySchemas.get(table);
    if (cached) return cached;
    const out = await this.client!.send(new DescribeTableCommand({ TableName: table }));
    const names = (out.Table?.KeySchema ?? []).map((k) => k.AttributeName!);
    this.keySchemas.set(table, names);
    return names;
  }

  private async getItem(table: string, key: Item): Promise<Item | undefined> {
    const out = await this.client!.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }));
    return out.Item;
  }

  private forward(req: IncomingMessage, body: Buffer): Promise<Forwarded> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: new URL(this.backendUrl).host, 'content-length': String(body.length) };
      const out = request(`${this.backendUrl}${req.url ?? '/'}`, { method: req.method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 500,
            headers: Object.fromEntries(
              Object.entries(res.headers).filter(([, v]) => typeof v === 'string') as [string, string][],
            ),
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      });
      out.on('error', reject);
      out.end(body);
    });
  }

  private emit(table: string, keys: Item, oldImage: Item | undefined, newImage: Item | undefined): void {
    const streamArn = this.streams.get(table);
    if (!streamArn) return;
    if (JSON.stringify(oldImage) === JSON.stringify(newImage)) return;
    this.sequence += 1n;
    const eventName = oldImage === undefined ? 'INSERT' : newImage === undefined ? 'REMOVE' : 'MODIFY';
    const record: DynamoDbStreamRecord = {
      eventID: randomUUID().replace(/-/g, ''),
      eventName,
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: this.region,
      dynamodb: {
        ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
        Keys: keys,
        ...(newImage ? { NewImage: newImage } : {}),
        ...(oldImage ? { OldImage: oldImage } : {}),
        SequenceNumber: this.sequence.toString(),
        SizeBytes: Buffer.byteLength(JSON.stringify({ keys, newImage, oldImage })),
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
      eventSourceARN: streamArn,
    };
    for (const l of this.listeners) l(record);
  }

  private async write(req: IncomingMessage, body: Buffer, op: string, input: Record<string, unknown>): Promise<Forwarded> {
    const table = String(input.TableName ?? '');
    const names = await this.keyNames(table).catch(() => undefined);
    if (!names) return this.forward(req, body);
    const source = (op === 'PutItem' ? input.Item : input.Key) as Item | undefined;
    const keys: Item = Object.fromEntries(names.filter((n) => source?.[n] !== undefined).map((n) => [n, source![n]]));
    if (Object.keys(keys).length !== names.length) return this.forward(req, body);
    const oldImage = await this.getItem(table, keys);
    const result = await this.forward(req, body);
    if (result.status === 200) {
      const newImage = await this.getItem(table, keys);
      this.emit(table, keys, oldImage, newImage);
      return result;
    }
    const error = JSON.parse(result.body.toString('utf8') || '{}') as { __type?: string };
    if (
      error.__type?.endsWith('#ConditionalCheckFailedException') &&
      input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' &&
      oldImage
    ) {
      // The body changes, so dynalite's checksum of it no longer holds.
      const headers = Object.fromEntries(Object.entries(result.headers).filter(([k]) => k !== 'x-amz-crc32'));
      return { status: result.status, headers, body: Buffer.from(JSON.stringify({ ...error, Item: oldImage })) };
    }
    return result;
  }

  /** The proxy's request listener (DynamoDB JSON 1.0 protocol). */
  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (handlePreflight(req, res)) return;
    const body = await readBody(req);
    const op = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    if (!SUPPORTED.has(op)) {
      sendJson(
        res,
        400,
        { __type: 'com.amazon.coral.service#UnknownOperationException', message: `${op || '(none)'} is not implemented by the local DynamoDB endpoint` },
        'application/x-amz-json-1.0',
      );
      return;
    }
    try {
      let result: Forwarded;
      if (WRITES.has(op)) {
        const input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        const run = this.writeQueue.then(() => this.write(req, body, op, input));
        this.writeQueue = run.catch(() => undefined);
        result = await run;
      } else {
        result = await this.forward(req, body);
      }
      res.writeHead(result.status, {
        ...result.headers,
        'access-control-allow-origin': '*',
        'access-control-expose-headers': '*',
        'content-length': String(result.body.length),
      });
      res.end(result.body);
    } catch (err) {
      sendJson(res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: (err as Error).message }, 'application/x-amz-json-1.0');
    }
  };
}
