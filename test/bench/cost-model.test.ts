import {
  chunks,
  designCost,
  expressGbSeconds,
  perMillion,
  priceCalls,
  ratio,
  recordWallTimeMs,
  seedCostPerMessage,
  type CallCount,
  type DesignRun,
} from '../../bench/cost-model';
import { LATENCY_VALUES, MODEL_VALUES, PRICE_VALUES, type Latencies, type Prices } from '../../bench/prices';

/** Round prices, so that every expected figure below can be checked by hand. */
const PRICES: Prices = Object.fromEntries(Object.keys(PRICE_VALUES).map((k) => [k, 0])) as unknown as Prices;
const prices = (overrides: Partial<Prices>): Prices => ({ ...PRICES, ...overrides });

const call = (service: string, action: string, requestKiB: Record<number, number>): CallCount => ({
  service,
  action,
  requests: Object.values(requestKiB).reduce((a, b) => a + b, 0),
  requestKiB,
});

describe('cost model (bench/cost-model.ts)', () => {
  it('rounds every request up to its pricing unit', () => {
    // 3 requests of 1 KiB, 1 of 64 KiB, 1 of 65 KiB, 1 empty: 3 + 1 + 2 + 1 chunks of 64 KB.
    expect(chunks({ 0: 1, 1: 3, 64: 1, 65: 1 }, 64)).toBe(7);
    expect(chunks({ 6: 2 }, 5)).toBe(4);
  });

  it('prices each counted service by its own unit and lists what it cannot price', () => {
    const cost = priceCalls(
      [
        call('sqs', 'SendMessage', { 1: 20 }),
        call('sns', 'Publish', { 1: 1 }),
        call('iot-data', 'POST /topics', { 1: 10 }),
        call('data-api', 'POST /Execute', { 1: 1 }),
        call('dynamodb', 'PutItem', { 1: 3 }),
        call('dynamodb', 'BatchGetItem', { 1: 1 }),
        call('events', 'PutEvents', { 1: 2 }),
        call('scheduler', 'POST /schedules', { 1: 1 }),
        call('sfn', 'StartSyncExecution', { 1: 1 }),
      ],
      prices({
        sqsFifoRequest: 1,
        snsPublish: 10,
        iotMessage: 100,
        dataApiRequest: 1000,
        dynamodbWriteRequestUnit: 10_000,
        dynamodbReadRequestUnit: 100_000,
        eventBridgeCustomEvent: 1_000_000,
        schedulerInvocation: 10_000_000,
      }),
      { excludedPutItems: 2, dynamodbReadUnits: 10 },
    );
    expect(Object.fromEntries(cost.lines.map((l) => [l.item, l.usd]))).toEqual({
      'sqs SendMessage': 20,
      'sns Publish': 10,
      // Each publish is one inbound and one outbound message.
      'iot-data POST /topics (publish + delivery)': 2000,
      'data-api POST /Execute': 1000,
      // Two of the three puts are the chat product's own message writes.
      'dynamodb PutItem': 10_000,
      'events PutEvents': 2_000_000,
      'scheduler POST /schedules (each fires once, at most)': 10_000_000,
      'dynamodb reads (PRESENCE)': 1_000_000,
    });
    expect(cost.usd).toBe(20 + 10 + 2000 + 1000 + 10_000 + 2_000_000 + 10_000_000 + 1_000_000);
    expect(cost.unpriced).toEqual([call('sfn', 'StartSyncExecution', { 1: 1 })]);
  });

  it('adds the pipe, the workflow, the Lambdas and the logs to the priced calls of a run', () => {
    const run: DesignRun = {
      records: 10,
      calls: [call('sqs', 'SendMessage', { 1: 200 })],
      chatProductWrites: 10,
      dynamodbReadUnits: 100,
      pipeEvents: 10,
      pipeBatches: 1,
      executions: 1,
      executionGbSeconds: 0.0125,
      lambdas: [{ name: 'check-presence', invocations: 10, memoryMb: 512, billedMs: 2000 }],
      workflowLogBytes: 2 * 1024 ** 3,
      lambdaLogBytes: 1024 ** 3,
    };
    const p = prices({
      pipesRequest: 1,
      dynamodbStreamsReadRequest: 3,
      sfnExpressRequest: 5,
      sfnExpressGbSecond: 80,
      lambdaRequest: 0.5,
      lambdaGbSecondArm: 4,
      sqsFifoRequest: 0.01,
      dynamodbReadRequestUnit: 0.02,
      cloudWatchLogsIngestGb: 7,
    });

    const cost = designCost(run, p, { getRecordsPerBatch: 1 });

    expect(Object.fromEntries(cost.lines.map((l) => [l.item, l.usd]))).toEqual({
      'pipe requests': 10,
      'dynamodb streams GetRecords': 3,
      'step functions express requests': 5,
      'step functions express duration': 1,
      // 10 requests × 0.5 + 0.5 GB × 2 s × 4
      'lambda check-presence': 9,
      'sqs SendMessage': 2,
      'dynamodb reads (PRESENCE)': 2,
      'cloudwatch logs: workflow': 14,
      'cloudwatch logs: lambdas': 7,
    });
    expect(cost.usd).toBeCloseTo(53, 10);
    expect(perMillion(cost.usd, run.records)).toBeCloseTo(5_300_000, 4);
  });

  it('models the seed design from its calls per message: an IoT call per device, a push per online device', () => {
    const p = prices({ iotRegistryOrShadowOperation: 1, iotMessage: 10, sqsStandardRequest: 1000, snsPublish: 10_000, dataApiRequest: 100_000 });
    const cost = seedCostPerMessage({ devices: 20, onlineShare: 0.5, pushBytes: 600 }, p, LATENCY_VALUES, MODEL_VALUES);
    const lines = Object.fromEntries(cost.lines.map((l) => [l.item, l.usd]));
    expect(lines['iot presence calls']).toBe(20);
    expect(lines['iot publish + delivery']).toBe(10 * 2 * 10);
    expect(lines['sqs shared queue SendMessage']).toBe(1000);
    expect(cost.usd).toBe(20 + 200 + 1000 + 10_000 + 100_000);
  });

  it('gives the ratio of this design to the seed design, and infinity over a free seed', () => {
    expect(ratio(30, 120)).toBe(0.25);
    expect(ratio(1, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('bills Express duration in 100 ms steps and memory in 64 MB chunks', () => {
    const model = { expressBaseMemoryMb: 50, expressMemoryChunkMb: 64, expressDurationRoundingMs: 100 };
    expect(expressGbSeconds(101, 20_000, 1000, 400, model)).toBeCloseTo((64 / 1024) * 0.2, 12);
    // 50 MB + 400 iterations × 40 KB = 65.6 MB: two chunks.
    expect(expressGbSeconds(50, 0, 40 * 1024, 400, model)).toBeCloseTo((128 / 1024) * 0.1, 12);
  });

  it('models wall time from pages and waves of the device Map', () => {
    const l: Latencies = { ...LATENCY_VALUES, stateTransition: 0, lambdaInvokeOverhead: 0, lambdaCompute: 0, dataApiExecute: 100, dynamodbBatchGet: 10, snsPublish: 1, sqsSend: 5, iotPublish: 7 };
    const fanout = { onlineShare: 0.5, pageSize: 100, deviceConcurrency: 40, batchGetMaxKeys: 100 };
    // 1 page, 1 wave: publish + (recipients + presence + push + inbox).
    expect(recordWallTimeMs({ ...fanout, devices: 20 }, l)).toBe(1 + 100 + 10 + 7 + 5);
    // 250 devices: pages of 100, 100, 50 → waves 3, 3, 2.
    expect(recordWallTimeMs({ ...fanout, devices: 250 }, l)).toBe(1 + 3 * (100 + 10) + 8 * (7 + 5));
  });
});
