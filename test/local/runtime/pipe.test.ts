import type { DynamoDbStreamRecord } from '../../../local/emulators/dynamodb';
import { backoffDelayMs, LocalPipe, type PipeDeadLetter, type PipeFailure } from '../../../local/runtime/pipe';
import { AWS_LIMITS } from '../../../contracts/limits';

const record = (seq: number, eventName: DynamoDbStreamRecord['eventName'] = 'INSERT'): DynamoDbStreamRecord => ({
  eventID: `e${seq}`,
  eventName,
  eventVersion: '1.1',
  eventSource: 'aws:dynamodb',
  awsRegion: 'us-east-1',
  dynamodb: {
    ApproximateCreationDateTime: 1_790_000_000 + seq,
    Keys: { conversationId: { S: 'c' }, messageId: { S: `m${seq}` } },
    NewImage: { conversationId: { S: 'c' }, messageId: { S: `m${seq}` } },
    SequenceNumber: String(1000 + seq),
    SizeBytes: 10,
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  },
  eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/CONVO_HISTORY/stream/x',
});

const failWith = (name: string, message = name) => Object.assign(new Error(message), { name });
const ids = (records: readonly DynamoDbStreamRecord[]) => records.map((r) => r.eventID);
/** A sleep that records the pause and returns at once. */
const recordingSleep = () => {
  const pauses: number[] = [];
  return { pauses, sleep: async (ms: number) => void pauses.push(ms) };
};

describe('local pipe', () => {
  it('drops records the filter rejects and batches the rest in stream order', async () => {
    const batches: string[][] = [];
    const pipe = new LocalPipe({
      filter: (r) => r.eventName === 'INSERT',
      target: async (b) => {
        batches.push(ids(b));
      },
      deadLetter: async () => undefined,
      batchSize: 2,
    });
    [record(1), record(2, 'REMOVE'), record(3), record(4), record(5)].forEach((r) => pipe.push(r));
    await pipe.drain();
    expect(batches).toEqual([['e1', 'e3'], ['e4', 'e5']]);
    expect(pipe.stats).toMatchObject({ received: 5, filteredOut: 1, delivered: 4, deadLettered: 0 });
  });

  it('retries a failing batch, bisects it and dead-letters only the record that keeps failing', async () => {
    const attempts: string[][] = [];
    const dead: PipeDeadLetter[] = [];
    const pipe = new LocalPipe({
      filter: () => true,
      target: async (b) => {
        attempts.push(ids(b));
        if (b.some((r) => r.eventID === 'e2')) throw failWith('ExecutionFailed', 'States.Runtime');
      },
      deadLetter: async (d) => {
        dead.push(d);
      },
      batchSize: 4,
      maximumRetryAttempts: 1,
      retryBaseDelayMs: 0,
    });
    [1, 2, 3, 4].forEach((n) => pipe.push(record(n)));
    await pipe.drain();
    expect(attempts).toEqual([
      ['e1', 'e2', 'e3', 'e4'],
      ['e1', 'e2', 'e3', 'e4'],
      ['e1', 'e2'],
      ['e1', 'e2'],
      ['e1'],
      ['e2'],
      ['e2'],
      ['e3', 'e4'],
    ]);
    expect(dead).toHaveLength(1);
    expect(dead[0].DDBStreamBatchInfo).toMatchObject({ startSequenceNumber: '1002', endSequenceNumber: '1002', batchSize: 1 });
    expect(dead[0].responseContext).toMatchObject({ functionError: 'ExecutionFailed' });
    expect(ids(dead[0].records)).toEqual(['e2']);
    expect(pipe.stats).toMatchObject({ received: 4, filteredOut: 0, delivered: 3, deadLettered: 1 });
  });

  it("names the records' shard in the dead-letter message when told the stream's shard id", async () => {
    const dead: PipeDeadLetter[] = [];
    const pipe = new LocalPipe({
      filter: () => true,
      target: async () => {
        throw failWith('ExecutionFailed');
      },
      deadLetter: async (d) => {
        dead.push(d);
      },
      shardIdOf: (streamArn) => (streamArn === record(1).eventSourceARN ? 'shardId-00000001790000000000-0123abcd' : undefined),
      maximumRetryAttempts: 0,
      bisectOnError: false,
    });
    pipe.push(record(1));
    await pipe.drain();
    expect(dead.map((d) => d.DDBStreamBatchInfo.shardId)).toEqual(['shardId-00000001790000000000-0123abcd']);
  });

  it('waits for the batching window before sending a partial batch', async () => {
    const batches: number[] = [];
    const pipe = new LocalPipe({
      filter: () => true,
      target: async (b) => {
        batches.push(b.length);
      },
      deadLetter: async () => undefined,
      batchSize: 10,
      maximumBatchingWindowMs: 50,
    });
    pipe.push(record(1));
    pipe.push(record(2));
    expect(batches).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    await pipe.drain();
    expect(batches).toEqual([2]);
  });

  it('keeps delivering later records when the dead-letter send fails twice, and dead-letters the batch exactly once', async () => {
    const timeline: string[] = [];
    const dead: PipeDeadLetter[] = [];
    const failures: PipeFailure[] = [];
    let dlqFailuresLeft = 2;
    const { pauses, sleep } = recordingSleep();
    const pipe = new LocalPipe({
      filter: () => true,
      target: async (b) => {
        if (b[0].eventID === 'e2') {
          timeline.push('target e2 failed');
          throw failWith('ExecutionFailed');
        }
        timeline.push(`delivered ${b[0].eventID}`);
      },
      deadLetter: async (d) => {
        if (dlqFailuresLeft-- > 0) {
          timeline.push('dlq send failed');
          throw failWith('ServiceUnavailable', 'The request has failed due to a temporary failure of the server.');
        }
        timeline.push(`dead-lettered ${ids(d.records).join(',')}`);
        dead.push(d);
      },
      onError: (f) => failures.push(f),
      batchSize: 1,
      maximumRetryAttempts: 0,
      sleep,
      random: () => 0,
    });
    [1, 2, 3, 4].forEach((n) => pipe.push(record(n)));
    await pipe.drain();

    // The shard waits for the DLQ: nothing after e2 is delivered before e2 is kept.
    expect(timeline).toEqual([
      'delivered e1',
      'target e2 failed',
      'dlq send failed',
      'dlq send failed',
      'dead-lettered e2',
      'delivered e3',
      'delivered e4',
    ]);
    expect(dead).toHaveLength(1);
    expect(failures.map((f) => [f.stage, f.error.name, f.next])).toEqual([
      ['target', 'ExecutionFailed', 'deadLetter'],
      ['deadLetter', 'ServiceUnavailable', 'retry'],
      ['deadLetter', 'ServiceUnavailable', 'retry'],
    ]);
    expect(pauses.length).toBe(2);
    expect(pauses[1]).toBeGreaterThan(pauses[0]);
    expect(pipe.stats).toMatchObject({ received: 4, delivered: 3, deadLettered: 1, deadLetterSendFailures: 2 });
    expect(pipe.stats.received).toBe(pipe.stats.filteredOut + pipe.stats.delivered + pipe.stats.deadLettered);
  });

  it('never rejects drain() and keeps serving after failures that escape every step', async () => {
    const delivered: string[] = [];
    const pipe = new LocalPipe({
      filter: () => true,
      target: async (b) => {
        if (b[0].eventID === 'e1') throw 'a string, not an Error';
        delivered.push(b[0].eventID);
      },
      deadLetter: async () => {
        throw new Error('DLQ down once');
      },
      onError: () => {
        throw new Error('a reporter that throws');
      },
      batchSize: 1,
      maximumRetryAttempts: 0,
      retryBaseDelayMs: 1,
    });
    pipe.push(record(1));
    pipe.push(record(2));
    const drained = pipe.drain();
    // The DLQ keeps failing: the shard blocks (e2 waits) but nothing rejects or is dropped.
    await new Promise((r) => setTimeout(r, 50));
    expect(delivered).toEqual([]);
    pipe.close();
    await expect(drained).resolves.toBeUndefined();
    expect(pipe.stats).toMatchObject({ received: 2, delivered: 0, deadLettered: 0, abandoned: 2 });
    expect(pipe.stats.deadLetterSendFailures).toBeGreaterThan(1);
  });

  it('spaces the retries of a failing target with growing, capped delays', async () => {
    const { pauses, sleep } = recordingSleep();
    let failuresLeft = 5;
    const pipe = new LocalPipe({
      filter: () => true,
      target: async () => {
        if (failuresLeft-- > 0) throw failWith('ExecutionFailed');
      },
      deadLetter: async () => undefined,
      maximumRetryAttempts: 5,
      retryBaseDelayMs: 100,
      retryMaxDelayMs: 1_000,
      sleep,
      random: () => 0.5,
    });
    pipe.push(record(1));
    await pipe.drain();
    // Equal jitter at 0.5: three quarters of 100, 200, 400, 800, then the cap of 1000.
    expect(pauses).toEqual([75, 150, 300, 600, 750]);
    expect(pipe.stats).toMatchObject({ delivered: 1, failedAttempts: 5, batches: 6 });
  });

  it('waits for real between retries, at least the jitter floor of each doubling delay', async () => {
    const at: number[] = [];
    const pipe = new LocalPipe({
      filter: () => true,
      target: async () => {
        at.push(Date.now());
        if (at.length <= 3) throw failWith('ExecutionFailed');
      },
      deadLetter: async () => undefined,
      maximumRetryAttempts: 3,
      retryBaseDelayMs: 40,
    });
    pipe.push(record(1));
    await pipe.drain();
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    expect(gaps).toHaveLength(3);
    // Floors 20, 40, 80 ms (a timer may fire a millisecond early).
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(20 * 2 ** i - 1));
    expect(gaps[2]).toBeGreaterThan(gaps[0]);
  });

  it('computes equal-jitter backoff within [d/2, d] of the capped exponential d', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, 100, 500, () => 0))).toEqual([50, 100, 200, 250]);
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, 100, 500, () => 0.999999))).toEqual([100, 200, 400, 500]);
  });

  it('applies the input template to each record and hands the enrichment result to the target', async () => {
    const enrichments: unknown[][] = [];
    const targets: string[][] = [];
    const pipe = new LocalPipe({
      filter: () => true,
      inputTemplate: (r) => ({ id: r.eventID, seq: r.dynamodb.SequenceNumber }),
      enrichment: async (events) => {
        enrichments.push(events);
        return events.map((e) => `enriched-${(e as { id: string }).id}`);
      },
      target: async (enriched) => {
        targets.push(enriched);
      },
      deadLetter: async () => undefined,
      batchSize: 2,
    });
    [1, 2, 3].forEach((n) => pipe.push(record(n)));
    await pipe.drain();
    expect(enrichments).toEqual([
      [
        { id: 'e1', seq: '1001' },
        { id: 'e2', seq: '1002' },
      ],
      [{ id: 'e3', seq: '1003' }],
    ]);
    expect(targets).toEqual([['enriched-e1', 'enriched-e2'], ['enriched-e3']]);
    expect(pipe.stats).toMatchObject({ received: 3, delivered: 3 });
  });

  // Each templated event carries this much: two fit one enrichment request, four do not.
  const padFor = (share: number) => 'x'.repeat(Math.floor(AWS_LIMITS.lambdaSyncPayloadBytes * share));

  it('bisects a batch too large for the enrichment request until every record goes through', async () => {
    const enrichedSizes: number[] = [];
    const delivered: string[] = [];
    const failures: PipeFailure[] = [];
    const pad = padFor(0.4);
    const pipe = new LocalPipe({
      filter: () => true,
      inputTemplate: (r) => ({ id: r.eventID, pad }),
      enrichment: async (events) => {
        enrichedSizes.push(events.length);
        return events.map((e) => (e as { id: string }).id);
      },
      target: async (enriched) => {
        delivered.push(...enriched);
      },
      deadLetter: async () => undefined,
      onError: (f) => failures.push(f),
      batchSize: 4,
      maximumRetryAttempts: 1,
      retryBaseDelayMs: 0,
    });
    [1, 2, 3, 4].forEach((n) => pipe.push(record(n)));
    await pipe.drain();
    // Lambda refuses the oversized request before the function runs: it never sees the batch of 4.
    expect(enrichedSizes).toEqual([2, 2]);
    expect(delivered).toEqual(['e1', 'e2', 'e3', 'e4']);
    expect(failures.map((f) => [f.stage, f.error.name, f.records.length, f.next])).toEqual([
      ['enrichment', 'RequestEntityTooLargeException', 4, 'retry'],
      ['enrichment', 'RequestEntityTooLargeException', 4, 'bisect'],
    ]);
    expect(failures[0].error.message).toBe(
      `Request must be smaller than ${AWS_LIMITS.lambdaSyncPayloadBytes} bytes for the InvokeFunction operation`,
    );
    expect(pipe.stats).toMatchObject({ received: 4, delivered: 4, deadLettered: 0 });
  });

  it('dead-letters a single record whose enrichment request is still too large', async () => {
    const dead: PipeDeadLetter[] = [];
    const delivered: string[] = [];
    const big = padFor(1.01);
    const pipe = new LocalPipe({
      filter: () => true,
      inputTemplate: (r) => ({ id: r.eventID, pad: r.eventID === 'e2' ? big : '' }),
      enrichment: async (events) => events.map((e) => (e as { id: string }).id),
      target: async (enriched) => {
        delivered.push(...enriched);
      },
      deadLetter: async (d) => {
        dead.push(d);
      },
      batchSize: 3,
      maximumRetryAttempts: 0,
    });
    [1, 2, 3].forEach((n) => pipe.push(record(n)));
    await pipe.drain();
    expect(delivered).toEqual(['e1', 'e3']);
    expect(dead).toHaveLength(1);
    expect(ids(dead[0].records)).toEqual(['e2']);
    expect(dead[0].responseContext).toMatchObject({ functionError: 'RequestEntityTooLargeException' });
    expect(pipe.stats.received).toBe(pipe.stats.filteredOut + pipe.stats.delivered + pipe.stats.deadLettered);
  });

  it('treats an enrichment response over the Lambda limit as a failure and bisects it', async () => {
    const failures: PipeFailure[] = [];
    const delivered: number[] = [];
    const pad = padFor(0.6);
    const pipe = new LocalPipe({
      filter: () => true,
      enrichment: async (events) => events.map(() => pad),
      target: async (enriched) => {
        delivered.push(enriched.length);
      },
      deadLetter: async () => undefined,
      onError: (f) => failures.push(f),
      batchSize: 2,
      maximumRetryAttempts: 0,
    });
    [1, 2].forEach((n) => pipe.push(record(n)));
    await pipe.drain();
    expect(failures.map((f) => [f.stage, f.error.name, f.next])).toEqual([['enrichment', 'Function.ResponseSizeTooLarge', 'bisect']]);
    expect(failures[0].error.message).toMatch(
      new RegExp(`^Response payload size \\(\\d+ bytes\\) exceeded maximum allowed payload size \\(${AWS_LIMITS.lambdaSyncPayloadBytes} bytes\\)\\.$`),
    );
    expect(delivered).toEqual([1, 1]);
  });

  it('dead-letters only the record whose input template throws', async () => {
    const dead: PipeDeadLetter[] = [];
    const delivered: string[] = [];
    const pipe = new LocalPipe({
      filter: () => true,
      inputTemplate: (r) => {
        if (r.eventID === 'e2') throw failWith('TemplateError', 'no such path');
        return r.eventID;
      },
      enrichment: async (events) => events as string[],
      target: async (enriched) => {
        delivered.push(...enriched);
      },
      deadLetter: async (d) => {
        dead.push(d);
      },
      batchSize: 3,
      maximumRetryAttempts: 0,
    });
    [1, 2, 3].forEach((n) => pipe.push(record(n)));
    await pipe.drain();
    expect(delivered).toEqual(['e1', 'e3']);
    expect(dead.map((d) => [ids(d.records), d.responseContext.functionError])).toEqual([[['e2'], 'TemplateError']]);
  });

  it('reports each failure as one log line naming the step, the records, the error and what happens next', async () => {
    const lines: string[] = [];
    let fail = true;
    const pipe = new LocalPipe({
      filter: () => true,
      target: async () => {
        if (fail) {
          fail = false;
          throw failWith('ExecutionFailed', 'SQS.ServiceUnavailableException: down');
        }
      },
      deadLetter: async () => undefined,
      log: (line) => lines.push(line),
      sleep: async () => undefined,
      random: () => 0,
      retryBaseDelayMs: 200,
    });
    pipe.push(record(7));
    await pipe.drain();
    expect(lines).toEqual([
      'pipe: target failed for records 1007..1007 (1, attempt 1): ExecutionFailed: SQS.ServiceUnavailableException: down; retrying in 100 ms',
    ]);
  });
});
