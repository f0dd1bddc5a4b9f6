import type { DynamoDbStreamRecord } from './dynamodb';

/**
 * The EventBridge Pipe, locally: stream records that pass the filter are batched (batch size and
 * batching window), handed to the target in stream order one batch at a time, retried, bisected
 * on failure (AUTOMATIC_BISECT), and what still fails goes to the dead-letter target, described the
 * way Pipes describes a failed DynamoDB stream batch.
 */

export interface LocalPipeOptions {
  /** True when the record passes the Pipe's filter criteria. */
  filter: (record: DynamoDbStreamRecord) => boolean;
  /** Runs one batch; throws when the batch failed. */
  target: (batch: DynamoDbStreamRecord[]) => Promise<void>;
  deadLetter: (failure: PipeDeadLetter) => Promise<void>;
  /** @default 10 */
  batchSize?: number;
  /** @default 0 */
  maximumBatchingWindowMs?: number;
  /** Retries of a batch before it is bisected or sent to the dead-letter target. @default 3 */
  maximumRetryAttempts?: number;
  /** @default true */
  bisectOnError?: boolean;
  /** Pause before a retry, in milliseconds. @default 0 */
  retryDelayMs?: number;
}

/** The DLQ message of a DynamoDB-stream Pipe: a pointer to the failed records, plus the error. */
export interface PipeDeadLetter {
  requestContext: { condition: 'RetryAttemptsExhausted'; approximateInvokeCount: number };
  responseContext: { statusCode: number; functionError: string; errorMessage: string };
  version: '1.0';
  timestamp: string;
  DDBStreamBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
  /** Not in AWS's message: locally the records themselves are kept too, so nothing is lost. */
  records: DynamoDbStreamRecord[];
}

export interface PipeStats {
  received: number;
  filteredOut: number;
  batches: number;
  failedAttempts: number;
  deadLettered: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LocalPipe {
  private buffer: DynamoDbStreamRecord[] = [];
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  readonly stats: PipeStats = { received: 0, filteredOut: 0, batches: 0, failedAttempts: 0, deadLettered: 0 };

  constructor(private readonly options: LocalPipeOptions) {}

  push(record: DynamoDbStreamRecord): void {
    this.stats.received += 1;
    if (!this.options.filter(record)) {
      this.stats.filteredOut += 1;
      return;
    }
    this.buffer.push(record);
    if (this.buffer.length >= (this.options.batchSize ?? 10)) {
      this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.options.maximumBatchingWindowMs ?? 0);
    }
  }

  /** Sends what is buffered now and resolves when every batch so far has been handled. */
  async drain(): Promise<void> {
    let current: Promise<void>;
    do {
      this.flush();
      current = this.chain;
      await current;
    } while (current !== this.chain || this.buffer.length > 0);
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.options.batchSize ?? 10);
      this.chain = this.chain.then(() => this.deliver(batch));
    }
  }

  private async deliver(batch: DynamoDbStreamRecord[]): Promise<void> {
    const retries = this.options.maximumRetryAttempts ?? 3;
    let lastError: Error = new Error('never attempted');
    for (let attempt = 0; attempt <= retries; attempt++) {
      this.stats.batches += 1;
      try {
        await this.options.target(batch);
        return;
      } catch (err) {
        lastError = err as Error;
        this.stats.failedAttempts += 1;
        if (attempt < retries && this.options.retryDelayMs) await sleep(this.options.retryDelayMs);
      }
    }
    if ((this.options.bisectOnError ?? true) && batch.length > 1) {
      const half = Math.ceil(batch.length / 2);
      await this.deliver(batch.slice(0, half));
      await this.deliver(batch.slice(half));
      return;
    }
    this.stats.deadLettered += batch.length;
    const first = batch[0];
    const last = batch[batch.length - 1];
    const arrival = (r: DynamoDbStreamRecord) => new Date(r.dynamodb.ApproximateCreationDateTime * 1000).toISOString();
    await this.options.deadLetter({
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: retries + 1 },
      responseContext: { statusCode: 200, functionError: lastError.name, errorMessage: lastError.message },
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: 'shardId-local-000000000000',
        startSequenceNumber: first.dynamodb.SequenceNumber,
        endSequenceNumber: last.dynamodb.SequenceNumber,
        approximateArrivalOfFirstRecord: arrival(first),
        approximateArrivalOfLastRecord: arrival(last),
        batchSize: batch.length,
        streamArn: first.eventSourceARN,
      },
      records: batch,
    });
  }
}
