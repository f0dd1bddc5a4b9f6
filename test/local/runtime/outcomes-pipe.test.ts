import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { OUTCOME_DETAIL_TYPES, OUTCOME_EVENT_SOURCE } from '../../../contracts/outcomes';
import { LocalEventBridge, type EventBridgeEvent } from '../../../local/emulators/eventbridge';
import { listen, type Listening } from '../../../local/emulators/listen';
import { LocalSqs } from '../../../local/emulators/sqs';
import { OutcomesPipe, type OutcomesPipeOptions } from '../../../local/runtime/outcomes-pipe';

const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };
const BUS = 'cn-events';
const QUEUE = 'cn-outcomes';

const outcome = (messageId: string, detailType: string = OUTCOME_DETAIL_TYPES.fannedOut) => ({
  version: 1,
  detailType,
  messageId,
  kind: 'created',
  counts: { devices: 1, online: 0, pushed: 0, pushFailures: 0, inboxed: 1 },
});

describe('local outcomes pipe (outcomes queue → event bus, through the real SQS and EventBridge clients)', () => {
  let sqs: LocalSqs;
  let bus: LocalEventBridge;
  let sqsEndpoint: Listening;
  let busEndpoint: Listening;
  let sqsClient: SQSClient;
  let ebClient: EventBridgeClient;
  let queueUrl: string;
  let delivered: EventBridgeEvent[];
  let pipes: OutcomesPipe[];
  const logs: string[] = [];

  const pipeOf = (options: Partial<OutcomesPipeOptions> = {}) => {
    const pipe = new OutcomesPipe({ sqs: sqsClient, eventBridge: ebClient, queueUrl, eventBusName: BUS, waitTimeSeconds: 0, log: (m) => logs.push(m), ...options });
    pipes.push(pipe);
    return pipe;
  };
  const send = (body: unknown) => sqsClient.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }));
  const conserved = (pipe: OutcomesPipe) => expect(pipe.stats.received).toBe(pipe.stats.put + pipe.stats.kept);

  beforeEach(async () => {
    let base = '';
    sqs = new LocalSqs({ baseUrl: () => base });
    sqsEndpoint = await listen(sqs.handle);
    base = sqsEndpoint.url;
    queueUrl = sqs.createQueue({ QueueName: QUEUE }).QueueUrl;
    delivered = [];
    bus = new LocalEventBridge({ region: 'us-east-1', accountId: '000000000000', buses: [BUS], retryDelayMs: 0 });
    bus.putRule({ name: 'all-outcomes', eventPattern: { source: [OUTCOME_EVENT_SOURCE] }, target: async (e) => delivered.push(e) });
    busEndpoint = await listen(bus.handle);
    sqsClient = new SQSClient({ endpoint: sqsEndpoint.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    ebClient = new EventBridgeClient({ endpoint: busEndpoint.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    pipes = [];
  });

  afterEach(async () => {
    for (const pipe of pipes) await pipe.close();
    sqs.close();
    bus.close();
    sqsClient.destroy();
    ebClient.destroy();
    await Promise.all([sqsEndpoint.close(), busEndpoint.close()]);
  });

  it('puts each outcome on the bus (source convo-notify, detail-type from the body, detail the body) and deletes it', async () => {
    const bodies = [outcome('m1'), outcome('m2', OUTCOME_DETAIL_TYPES.unrouted), outcome('m3', OUTCOME_DETAIL_TYPES.quarantined)];
    for (const body of bodies) await send(body);
    const pipe = pipeOf();

    expect(await pipe.pollOnce()).toBe(3);
    await bus.idle();

    expect(delivered.map((e) => ({ source: e.source, detailType: e['detail-type'], detail: e.detail }))).toEqual(
      bodies.map((body) => ({ source: OUTCOME_EVENT_SOURCE, detailType: body.detailType, detail: body })),
    );
    expect(bus.events.map((e) => e.eventBusName)).toEqual([BUS, BUS, BUS]);
    expect(sqs.peek(QUEUE)).toEqual([]);
    expect(pipe.stats).toEqual({ received: 3, put: 3, kept: 0, deleteFailures: 0 });
  });

  it('keeps a message it cannot make an event of on the queue, and puts the others: received = put + kept', async () => {
    await send(outcome('m1'));
    await send('not json');
    await send({ version: 1, messageId: 'no-detail-type' });
    await send([outcome('in-an-array')]);
    await send(outcome('m2'));
    const pipe = pipeOf();

    expect(await pipe.pollOnce()).toBe(5);
    await bus.idle();

    expect(pipe.stats).toEqual({ received: 5, put: 2, kept: 3, deleteFailures: 0 });
    conserved(pipe);
    expect(delivered.map((e) => (e.detail as { messageId: string }).messageId)).toEqual(['m1', 'm2']);
    expect(sqs.peek(QUEUE).map((m) => m.body)).toEqual(['not json', JSON.stringify({ version: 1, messageId: 'no-detail-type' }), JSON.stringify([outcome('in-an-array')])]);
    expect(logs.filter((l) => l.includes('kept'))).toEqual([
      expect.stringContaining('the body is not JSON'),
      expect.stringContaining('the body has no string detailType'),
      expect.stringContaining('the body is not a JSON object'),
    ]);
  });

  it('keeps every message the bus refuses (an unknown bus) and puts them once they come back to a pipe that can', async () => {
    for (const id of ['m1', 'm2']) await send(outcome(id));
    const refused = pipeOf({ eventBusName: 'no-such-bus', visibilityTimeoutSeconds: 0 });

    await refused.pollOnce();
    expect(refused.stats).toEqual({ received: 2, put: 0, kept: 2, deleteFailures: 0 });
    expect(sqs.peek(QUEUE)).toHaveLength(2);

    const working = pipeOf();
    await working.pollOnce();
    await bus.idle();
    expect(working.stats).toEqual({ received: 2, put: 2, kept: 0, deleteFailures: 0 });
    expect(delivered).toHaveLength(2);
    expect(sqs.peek(QUEUE)).toEqual([]);
  });

  it('keeps the batch when PutEvents itself fails (bus endpoint down) and keeps polling', async () => {
    await busEndpoint.close();
    await send(outcome('m1'));
    const pipe = pipeOf({ visibilityTimeoutSeconds: 0 });
    pipe.start();
    while (pipe.stats.kept < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    await pipe.close();

    conserved(pipe);
    expect(pipe.stats.put).toBe(0);
    expect(sqs.peek(QUEUE).map((m) => JSON.parse(m.body).messageId)).toEqual(['m1']);
    expect(logs.some((l) => l.includes('PutEvents failed'))).toBe(true);
  });

  it('survives an SQS outage while running, then drains the queue once SQS answers again', async () => {
    const pipe = pipeOf({ errorBackoffMs: 5 });
    sqs.setOutage(true);
    pipe.start();
    while (!logs.some((l) => l.includes('receive failed'))) await new Promise((resolve) => setTimeout(resolve, 10));
    sqs.setOutage(false);
    for (const id of ['m1', 'm2', 'm3']) await send(outcome(id));
    await pipe.drain();
    await bus.idle();

    expect(delivered.map((e) => (e.detail as { messageId: string }).messageId).sort()).toEqual(['m1', 'm2', 'm3']);
    expect(pipe.stats).toMatchObject({ received: 3, put: 3, kept: 0 });
    expect(sqs.peek(QUEUE)).toEqual([]);
  });

  it('drains only once every message was handled, kept ones excepted', async () => {
    const pipe = pipeOf({ waitTimeSeconds: 5 });
    pipe.start();
    await send('not json');
    for (const id of ['m1', 'm2']) await send(outcome(id));
    await pipe.drain();
    await bus.idle();

    expect(delivered.map((e) => (e.detail as { messageId: string }).messageId).sort()).toEqual(['m1', 'm2']);
    expect(sqs.peek(QUEUE).map((m) => m.body)).toEqual(['not json']);
    conserved(pipe);
  });

  it('refuses a batch size PutEvents could not take', () => {
    expect(() => pipeOf({ batchSize: 11 })).toThrow(RangeError);
  });
});
