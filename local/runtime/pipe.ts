import { AWS_LIMITS, payloadBytes } from '../../contracts/limits';
import type { DynamoDbStreamRecord } from '../emulators/dynamodb';

/**
 * The EventBridge Pipe, locally: stream records that pass the filter are batched (batch size and
 * batching window), optionally shaped by an input template and enriched (one synchronous call per
 * batch), handed to the target in stream order one batch at a time, retried with backoff, bisected
 * on failure (AUTOMATIC_BISECT), and what still fails goes to the dead-letter target, described the
 * way Pipes describes a failed DynamoDB stream batch.
 *
 * What AWS documents, and is modelled here:
 *  - A stream source retries the entire batch, and repeated errors block the shard until the error
 *    is resolved or the records expire (Lambda developer guide, "Understanding retry behavior":
 *    event source mappings that read from streams). Batches are therefore delivered one at a time,
 *    in order, and nothing after a failing batch is delivered before it is settled.
 *  - Bisecting splits a failed batch in two and retries each half; splitting does not count
 *    towards the retry quota (Lambda, "Retain discarded records for a DynamoDB event source"), so
 *    each half gets `maximumRetryAttempts` retries of its own, down to one record.
 *  - Pipes retries enrichment and target failures, and "the pipe polling throughput will gradually
 *    back off"; internal failures such as an HTTP connection failure are retried indefinitely and
 *    not counted against MaximumRetryAttempts (EventBridge user guide, "Pipes error handling and
 *    troubleshooting"). A failed dead-letter send is such a failure: it is retried until it
 *    succeeds, and the shard waits for it, so no record is ever dropped and order is kept.
 * What AWS does not document (base delay, growth, cap, jitter) is ours: exponential backoff from
 * `retryBaseDelayMs`, doubling per attempt, capped at `retryMaxDelayMs`, with "equal jitter" (half
 * of the delay fixed, half random), as EventBridge documents "exponential back off and jitter" for
 * rule targets. Equal rather than full jitter so that successive delays never shrink below the
 * previous one's floor: the pipe visibly slows down while a target stays down.
 *
 * Nothing is ever thrown out of the delivery chain: every failure is counted in `stats` and
 * reported through `onError` and `log`, so one failed call can never stop later records.
 */

/** What the pipe reads of a stream record itself: enough to describe a failed batch in the DLQ. */
export interface StreamSourceRecord {
  eventSourceARN: string;
  dynamodb: { SequenceNumber: string; ApproximateCreationDateTime: number };
}

interface PipeSettings<TRecord extends StreamSourceRecord> {
  /**
   * True when the record passes the Pipe's filter criteria. Not an inference site: a filter over
   * `unknown` records (the shared pattern matcher) must not widen the pipe's record type.
   */
  filter: (record: NoInfer<TRecord>) => boolean;
  /** Keeps one failed batch; throws when it could not (the send is then retried until it works). */
  deadLetter: (failure: PipeDeadLetter<TRecord>) => Promise<void>;
  /** The shard a stream's records come from, for the dead-letter message. @default a placeholder shard id */
  shardIdOf?: (streamArn: string) => string | undefined;
  /** @default 10 */
  batchSize?: number;
  /** @default 0 */
  maximumBatchingWindowMs?: number;
  /** Retries of a batch before it is bisected or sent to the dead-letter target. @default 3 */
  maximumRetryAttempts?: number;
  /** @default true */
  bisectOnError?: boolean;
  /** Delay before the first retry (before jitter); every further retry doubles it. @default 1000 */
  retryBaseDelayMs?: number;
  /** Longest delay between two attempts. @default 60000 */
  retryMaxDelayMs?: number;
  /** Told of every failed attempt, structured. Never allowed to break the pipe. */
  onError?: (failure: PipeFailure<TRecord>) => void;
  /** Told of every failed attempt, as one line of text. */
  log?: (message: string) => void;
  /** Source of the jitter, in [0, 1). @default Math.random */
  random?: () => number;
  /** How the pipe waits between attempts; tests pass a recorder. @default a timer that does not keep the process alive */
  sleep?: (ms: number) => Promise<void>;
}

/** A pipe without enrichment: the target receives the records of the batch. */
export interface DirectPipeOptions<TRecord extends StreamSourceRecord> extends PipeSettings<TRecord> {
  inputTemplate?: undefined;
  enrichment?: undefined;
  /** Runs one batch; throws when the batch failed. */
  target: (batch: TRecord[]) => Promise<void>;
}

/** A pipe with an enrichment step: the target receives what the enrichment answered. */
export interface EnrichedPipeOptions<TRecord extends StreamSourceRecord, TEnriched> extends PipeSettings<TRecord> {
  /** Applied to each record before the enrichment, as a Pipes enrichment input template is per event. */
  inputTemplate?: (record: TRecord) => unknown;
  /** Called once per batch with the templated events, like a synchronous Lambda enrichment. */
  enrichment: (events: unknown[]) => Promise<TEnriched>;
  /** Runs one enriched batch; throws when the batch failed. */
  target: (enriched: TEnriched) => Promise<void>;
}

export type LocalPipeOptions<TRecord extends StreamSourceRecord, TTargetInput> =
  | DirectPipeOptions<TRecord>
  | EnrichedPipeOptions<TRecord, TTargetInput>;

/** The DLQ message of a DynamoDB-stream Pipe: a pointer to the failed records, plus the error. */
export interface PipeDeadLetter<TRecord extends StreamSourceRecord = DynamoDbStreamRecord> {
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
  records: TRecord[];
}

/** Where in the pipe an attempt failed. */
export type PipeStage = 'inputTemplate' | 'enrichment' | 'target' | 'deadLetter' | 'closed';

/** What the pipe does after a failure. */
export type PipeNextStep = 'retry' | 'bisect' | 'deadLetter' | 'abandon';

export interface PipeFailure<TRecord extends StreamSourceRecord = DynamoDbStreamRecord> {
  stage: PipeStage;
  error: Error;
  /** 1 for the first attempt of this batch (or of this dead-letter send). */
  attempt: number;
  records: readonly TRecord[];
  next: PipeNextStep;
  /** Pause before the next attempt, when `next` is `retry`. */
  retryInMs?: number;
}

export interface PipeStats {
  received: number;
  filteredOut: number;
  /** Records the target accepted. */
  delivered: number;
  /** Records kept by the dead-letter target. */
  deadLettered: number;
  /** Records given up because the pipe was closed before they were settled. */
  abandoned: number;
  /** Attempts to run a batch (first tries and retries). */
  batches: number;
  failedAttempts: number;
  deadLetterSendFailures: number;
}

/** Lambda's answer to an Invoke request over the synchronous payload limit. */
export class LambdaRequestTooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(`Request must be smaller than ${AWS_LIMITS.lambdaSyncPayloadBytes} bytes for the InvokeFunction operation`);
    this.name = 'RequestEntityTooLargeException';
  }
}

/** Lambda's function error when a synchronous invocation answers more than the payload limit. */
export class LambdaResponseTooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(`Response payload size (${bytes} bytes) exceeded maximum allowed payload size (${AWS_LIMITS.lambdaSyncPayloadBytes} bytes).`);
    this.name = 'Function.ResponseSizeTooLarge';
  }
}

export class PipeClosedError extends Error {
  constructor() {
    super('the pipe was closed before this batch was settled');
    this.name = 'PipeClosedError';
  }
}

/** A failure tagged with the step of the pipe it happened in. */
class StageFailure extends Error {
  constructor(
    readonly stage: PipeStage,
    readonly error: Error,
  ) {
    super(error.message);
    this.name = 'StageFailure';
  }
}

const asError = (value: unknown): Error => (value instanceof Error ? value : new Error(String(value)));

/**
 * The pause before attempt `retry + 1` of a batch: exponential, capped, with equal jitter (the
 * delay lies in [d/2, d] for the capped exponential d).
 */
export const backoffDelayMs = (retry: number, baseMs: number, maxMs: number, random: () => number): number => {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
};

const DEFAULT_BATCH_SIZE = 10;
const DEFAULT_RETRY_ATTEMPTS = 3;
const DEFAULT_RETRY_BASE_DELAY_MS = 1_000;
const DEFAULT_RETRY_MAX_DELAY_MS = 60_000;

export class LocalPipe<TRecord extends StreamSourceRecord = DynamoDbStreamRecord, TTargetInput = TRecord[]> {
  private buffer: TRecord[] = [];
  private timer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly wakers = new Set<() => void>();
  readonly stats: PipeStats = {
    received: 0,
    filteredOut: 0,
    delivered: 0,
    deadLettered: 0,
    abandoned: 0,
    batches: 0,
    failedAttempts: 0,
    deadLetterSendFailures: 0,
  };

  // Overloads rather than one union parameter: TypeScript cannot tell the two shapes of an object
  // literal apart by a function-valued `enrichment`, and the target's parameter would go untyped.
  constructor(options: EnrichedPipeOptions<TRecord, TTargetInput>);
  constructor(options: DirectPipeOptions<TRecord>);
  constructor(private readonly options: LocalPipeOptions<TRecord, TTargetInput>) {}

  push(record: TRecord): void {
    this.stats.received += 1;
    if (!this.options.filter(record)) {
      this.stats.filteredOut += 1;
      return;
    }
    this.buffer.push(record);
    if (this.closed || this.buffer.length >= this.batchSize) {
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

  /**
   * Stops retrying: pending pauses end at once and every batch not yet settled is abandoned
   * (counted and reported), so a stopped stack leaves no retry loop behind.
   */
  close(): void {
    this.closed = true;
    for (const wake of [...this.wakers]) wake();
    this.flush();
  }

  private get batchSize(): number {
    return this.options.batchSize ?? DEFAULT_BATCH_SIZE;
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.batchSize);
      // deliver() reports its own failures; the catch keeps the chain usable even if a reporter misbehaves.
      this.chain = this.chain.then(() => this.deliver(batch)).catch(() => undefined);
    }
  }

  private async deliver(batch: TRecord[]): Promise<void> {
    const retries = this.options.maximumRetryAttempts ?? DEFAULT_RETRY_ATTEMPTS;
    const bisect = (this.options.bisectOnError ?? true) && batch.length > 1;
    let lastError: Error = new Error('never attempted');
    let pauseMs = 0;
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      await this.pause(pauseMs);
      if (this.closed) return this.abandon(batch);
      this.stats.batches += 1;
      try {
        await this.invoke(batch);
        this.stats.delivered += batch.length;
        return;
      } catch (err) {
        const failure = err instanceof StageFailure ? err : new StageFailure('target', asError(err));
        lastError = failure.error;
        this.stats.failedAttempts += 1;
        const next: PipeNextStep = attempt <= retries ? 'retry' : bisect ? 'bisect' : 'deadLetter';
        pauseMs = next === 'retry' ? this.backoff(attempt) : 0;
        this.report({ stage: failure.stage, error: failure.error, attempt, records: batch, next, ...(next === 'retry' ? { retryInMs: pauseMs } : {}) });
      }
    }
    if (bisect) {
      const half = Math.ceil(batch.length / 2);
      await this.deliver(batch.slice(0, half));
      await this.deliver(batch.slice(half));
      return;
    }
    await this.sendToDeadLetter(batch, lastError, retries + 1);
  }

  /** One attempt: template, enrichment (within Lambda's payload limits), target. */
  private async invoke(batch: TRecord[]): Promise<void> {
    const options = this.options;
    if (options.enrichment === undefined) {
      await this.step('target', () => options.target(batch));
      return;
    }
    const template = options.inputTemplate;
    const events = await this.step('inputTemplate', async () => (template ? batch.map((r) => template(r)) : [...batch]));
    const enriched = await this.step('enrichment', async () => {
      const requestBytes = payloadBytes(events);
      if (requestBytes > AWS_LIMITS.lambdaSyncPayloadBytes) throw new LambdaRequestTooLargeError(requestBytes);
      const response = await options.enrichment(events);
      const responseBytes = payloadBytes(response);
      if (responseBytes > AWS_LIMITS.lambdaSyncPayloadBytes) throw new LambdaResponseTooLargeError(responseBytes);
      return response;
    });
    await this.step('target', () => options.target(enriched));
  }

  private async step<T>(stage: PipeStage, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw new StageFailure(stage, asError(err));
    }
  }

  private async sendToDeadLetter(batch: TRecord[], error: Error, invokeCount: number): Promise<void> {
    const message = this.deadLetterMessage(batch, error, invokeCount);
    for (let attempt = 1; ; attempt++) {
      if (this.closed) return this.abandon(batch);
      try {
        await this.options.deadLetter(message);
        this.stats.deadLettered += batch.length;
        return;
      } catch (err) {
        this.stats.deadLetterSendFailures += 1;
        const pauseMs = this.backoff(attempt);
        this.report({ stage: 'deadLetter', error: asError(err), attempt, records: batch, next: 'retry', retryInMs: pauseMs });
        await this.pause(pauseMs);
      }
    }
  }

  private deadLetterMessage(batch: TRecord[], error: Error, invokeCount: number): PipeDeadLetter<TRecord> {
    const first = batch[0];
    const last = batch[batch.length - 1];
    const arrival = (r: TRecord) => new Date(r.dynamodb.ApproximateCreationDateTime * 1000).toISOString();
    return {
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: invokeCount },
      responseContext: { statusCode: 200, functionError: error.name, errorMessage: error.message },
      version: '1.0',
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: {
        shardId: this.options.shardIdOf?.(first.eventSourceARN) ?? 'shardId-local-000000000000',
        startSequenceNumber: first.dynamodb.SequenceNumber,
        endSequenceNumber: last.dynamodb.SequenceNumber,
        approximateArrivalOfFirstRecord: arrival(first),
        approximateArrivalOfLastRecord: arrival(last),
        batchSize: batch.length,
        streamArn: first.eventSourceARN,
      },
      records: batch,
    };
  }

  private abandon(batch: TRecord[]): void {
    this.stats.abandoned += batch.length;
    this.report({ stage: 'closed', error: new PipeClosedError(), attempt: 1, records: batch, next: 'abandon' });
  }

  private backoff(retry: number): number {
    return backoffDelayMs(
      retry,
      this.options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS,
      this.options.retryMaxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS,
      this.options.random ?? Math.random,
    );
  }

  private pause(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    if (this.options.sleep) return this.options.sleep(ms);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      // A retry pause must not keep a finished process alive; close() ends it for a live one.
      timer.unref();
      this.wakers.add(wake);
    });
  }

  private report(failure: PipeFailure<TRecord>): void {
    try {
      this.options.onError?.(failure);
    } catch {
      // A reporter that throws must not turn into a lost batch.
    }
    try {
      this.options.log?.(describeFailure(failure));
    } catch {
      // Same as above.
    }
  }
}

const describeFailure = <TRecord extends StreamSourceRecord>(f: PipeFailure<TRecord>): string => {
  const first = f.records[0]?.dynamodb.SequenceNumber;
  const last = f.records[f.records.length - 1]?.dynamodb.SequenceNumber;
  const what = `pipe: ${f.stage} failed for records ${first}..${last} (${f.records.length}, attempt ${f.attempt}): ${f.error.name}: ${f.error.message}`;
  const then = {
    retry: `retrying in ${f.retryInMs} ms`,
    bisect: 'bisecting the batch',
    deadLetter: 'sending it to the dead-letter queue',
    abandon: 'abandoned',
  }[f.next];
  return `${what}; ${then}`;
};
