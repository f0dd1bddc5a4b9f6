import type { DynamoDbStreamRecord } from '../../local/dynamodb';
import { LocalPipe, type PipeDeadLetter } from '../../local/pipe';

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

describe('local pipe', () => {
  it('drops records the filter rejects and batches the rest in stream order', async () => {
    const batches: string[][] = [];
    const pipe = new LocalPipe({
      filter: (r) => r.eventName === 'INSERT',
      target: async (b) => {
        batches.push(b.map((r) => r.eventID));
      },
      deadLetter: async () => undefined,
      batchSize: 2,
    });
    [record(1), record(2, 'REMOVE'), record(3), record(4), record(5)].forEach((r) => pipe.push(r));
    await pipe.drain();
    expect(batches).toEqual([['e1', 'e3'], ['e4', 'e5']]);
    expect(pipe.stats).toMatchObject({ received: 5, filteredOut: 1 });
  });

  it('retries a failing batch, bisects it and dead-letters only the record that keeps failing', async () => {
    const attempts: string[][] = [];
    const dead: PipeDeadLetter[] = [];
    const pipe = new LocalPipe({
      filter: () => true,
      target: async (b) => {
        attempts.push(b.map((r) => r.eventID));
        if (b.some((r) => r.eventID === 'e2')) throw Object.assign(new Error('States.Runtime'), { name: 'ExecutionFailed' });
      },
      deadLetter: async (d) => {
        dead.push(d);
      },
      batchSize: 4,
      maximumRetryAttempts: 1,
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
    expect(dead[0].records.map((r) => r.eventID)).toEqual(['e2']);
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
});
