import { TASK_ENV } from '../../support/task-env';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import mqtt from 'mqtt';
import { startBroker, type LocalBroker } from '../../../local/emulators/broker';
import { attachIotLifecycleEvents, createAsyncInvoker, type AsyncInvocationFailureRecord, type IotLifecycleEvent } from '../../../local/runtime/iot-lifecycle';
import { listen, type Listening } from '../../../local/emulators/listen';
import { LocalSqs } from '../../../local/emulators/sqs';
import type * as RecordPresence from '../../../tasks/record-presence/handler';
import { importWithDynamoDbEndpoint, startPresenceTable, type LocalPresenceTable } from '../../support/dynalite';
import { captureLogs } from '../../support/logs';

/**
 * The local stand-in for the IoT rule's asynchronous Lambda action: a failed invocation is retried
 * twice and then handed to the on-failure destination as the invocation record Lambda sends.
 */

const ARN = 'arn:aws:lambda:us-east-1:000000000000:function:convo-notify-local-record-presence';
const FAST = [5, 10] as const;
const event = (clientId: string) => ({ clientId, eventType: 'connected', timestamp: 1_741_083_000_000 });

describe('createAsyncInvoker', () => {
  it('retries a failing invocation twice, then hands the destination the invocation record Lambda would send', async () => {
    const calls: unknown[] = [];
    const records: AsyncInvocationFailureRecord[] = [];
    const invoker = createAsyncInvoker(
      (e: unknown) => {
        calls.push(e);
        throw Object.assign(new Error('the PRESENCE write for dev-1 failed'), { name: 'PresenceWriteError' });
      },
      { functionArn: ARN, retryDelaysMs: FAST, onFailure: (record) => void records.push(record), now: () => Date.UTC(2025, 2, 4, 11) },
    );
    await invoker.invoke(event('dev-1'));
    await invoker.idle();
    expect(calls).toEqual([event('dev-1'), event('dev-1'), event('dev-1')]);
    expect(records).toEqual([
      {
        version: '1.0',
        timestamp: '2025-03-04T11:00:00.000Z',
        requestContext: {
          requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
          functionArn: `${ARN}:$LATEST`,
          condition: 'RetriesExhausted',
          approximateInvokeCount: 3,
        },
        requestPayload: event('dev-1'),
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        responsePayload: {
          errorType: 'PresenceWriteError',
          errorMessage: 'the PRESENCE write for dev-1 failed',
          trace: expect.arrayContaining([expect.stringMatching(/^PresenceWriteError: the PRESENCE write for dev-1 failed/)]),
        },
      },
    ]);
  });

  it('sends nothing to the destination when a retry succeeds', async () => {
    let attempts = 0;
    const records: unknown[] = [];
    const invoker = createAsyncInvoker(
      () => {
        attempts += 1;
        if (attempts === 1) throw new Error('throttled');
      },
      { functionArn: ARN, retryDelaysMs: FAST, onFailure: (record) => void records.push(record) },
    );
    await invoker.invoke(event('dev-1'));
    await invoker.idle();
    expect(attempts).toBe(2);
    expect(records).toEqual([]);
  });

  it('hands an event over without waiting for its retries, so later events go on meanwhile', async () => {
    const calls: string[] = [];
    const invoker = createAsyncInvoker(
      (e: { clientId: string }) => {
        calls.push(e.clientId);
        if (e.clientId === 'dev-failing') throw new Error('no');
      },
      { functionArn: ARN, retryDelaysMs: [50], onFailure: () => undefined },
    );
    await invoker.invoke({ clientId: 'dev-failing' });
    await invoker.invoke({ clientId: 'dev-fine' });
    expect(calls).toEqual(['dev-failing', 'dev-fine']);
    await invoker.idle();
    expect(calls).toEqual(['dev-failing', 'dev-fine', 'dev-failing', 'dev-failing']);
  });

  it('waits the configured delays between attempts', async () => {
    const at: number[] = [];
    const invoker = createAsyncInvoker(
      () => {
        at.push(Date.now());
        throw new Error('no');
      },
      { functionArn: ARN, retryDelaysMs: [40, 80], onFailure: () => undefined },
    );
    await invoker.invoke(event('dev-1'));
    await invoker.idle();
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(39);
    expect(at[2] - at[1]).toBeGreaterThanOrEqual(79);
  });

  it('logs every failed attempt and a destination that fails too, and keeps serving', async () => {
    const lines: string[] = [];
    let fail = true;
    const invoker = createAsyncInvoker(
      () => {
        if (fail) throw new Error('table unavailable');
      },
      {
        functionArn: ARN,
        retryDelaysMs: FAST,
        log: (line) => lines.push(line),
        onFailure: () => {
          throw new Error('destination unavailable');
        },
      },
    );
    await invoker.invoke(event('dev-1'));
    await invoker.idle();
    expect(lines.filter((line) => line.includes('table unavailable'))).toHaveLength(3);
    expect(lines.at(-1)).toMatch(/could not be sent to its on-failure destination: destination unavailable/);
    fail = false;
    await expect(invoker.invoke(event('dev-2'))).resolves.toBeUndefined();
  });

  it('cancels the retries still waiting when stopped, and says so', async () => {
    const lines: string[] = [];
    const records: unknown[] = [];
    let attempts = 0;
    const invoker = createAsyncInvoker(
      () => {
        attempts += 1;
        throw new Error('no');
      },
      { functionArn: ARN, retryDelaysMs: [60_000], log: (line) => lines.push(line), onFailure: (record) => void records.push(record) },
    );
    await invoker.invoke(event('dev-1'));
    invoker.stop();
    await invoker.idle();
    expect(attempts).toBe(1);
    expect(records).toEqual([]);
    expect(lines.at(-1)).toMatch(/not retried, the runtime is stopping/);
  });
});

describe('the local presence path when the PRESENCE write fails', () => {
  let table: LocalPresenceTable;
  let recordPresence: typeof RecordPresence;
  let restore: () => void;
  let broker: LocalBroker;
  let sqs: LocalSqs;
  let sqsEndpoint: Listening;
  let sqsClient: SQSClient;

  beforeAll(async () => {
    // A DynamoDB without the tables the handler reads and writes: every call fails (ResourceNotFoundException).
    table = await startPresenceTable('some-other-table', null);
    const saved = process.env.PRESENCE_TABLE_NAME;
    process.env.PRESENCE_TABLE_NAME = 'missing-presence-table';
    try {
      ({ module: recordPresence, restore } = await importWithDynamoDbEndpoint(table.endpoint, () => import('../../../tasks/record-presence/handler')));
    } finally {
      process.env.PRESENCE_TABLE_NAME = saved ?? TASK_ENV.PRESENCE_TABLE_NAME;
    }
  });
  afterAll(async () => {
    restore();
    await table.close();
  });
  beforeEach(async () => {
    captureLogs();
    broker = await startBroker();
    let base = '';
    sqs = new LocalSqs({ baseUrl: () => base });
    sqsEndpoint = await listen(sqs.handle);
    base = sqsEndpoint.url;
    sqsClient = new SQSClient({ endpoint: sqsEndpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  });
  afterEach(async () => {
    sqsClient.destroy();
    sqs.close();
    await sqsEndpoint.close();
    await broker.close();
    jest.restoreAllMocks();
  });

  it('keeps the connect and subscribe events on the presence-failures queue, each in a Lambda on-failure record', async () => {
    const queueUrl = sqs.createQueue({ QueueName: 'convo-notify-local-presence-failures' }).QueueUrl;
    const invoker = createAsyncInvoker((e: IotLifecycleEvent) => recordPresence.handler(e), {
      functionArn: ARN,
      retryDelaysMs: FAST,
      onFailure: async (record) => {
        await sqsClient.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(record) }));
      },
    });
    const lifecycle = attachIotLifecycleEvents(broker.aedes, (e) => invoker.invoke(e), { subscriptionEvents: true });
    const device = mqtt.connect(broker.tcpUrl, { clientId: 'dev-kept', reconnectPeriod: 0 });
    await new Promise((r) => device.once('connect', r));
    await device.subscribeAsync('notify/dev-kept', { qos: 1 });
    await lifecycle.idle();
    await invoker.idle();
    lifecycle.detach();
    await device.endAsync(true);

    const kept = sqs.peek('convo-notify-local-presence-failures').map((m) => JSON.parse(m.body) as AsyncInvocationFailureRecord);
    expect(kept.map((r) => r.requestPayload)).toEqual(lifecycle.events);
    for (const record of kept) {
      expect(record).toMatchObject({
        version: '1.0',
        requestContext: { functionArn: `${ARN}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: 3 },
        responseContext: { functionError: 'Unhandled' },
        responsePayload: { errorType: 'PresenceWriteError', errorMessage: expect.stringMatching(/ResourceNotFoundException/) },
      });
    }
  });
});
