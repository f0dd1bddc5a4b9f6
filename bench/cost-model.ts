import type { Latencies, Model, Prices } from './prices';

/**
 * The cost model of `npm run bench`: counted calls and modelled durations → USD. Pure functions of
 * their inputs, so a test can give counts and prices and check the cost and the ratio.
 */

/** Requests of one action of one service (a RequestTally of local/emulators/listen.ts). */
export interface CallCount {
  service: string;
  action: string;
  requests: number;
  /** Request bodies by their size in KiB, rounded up. */
  requestKiB: Readonly<Record<number, number>>;
}

export interface CostLine {
  item: string;
  usd: number;
}

export interface Cost {
  lines: CostLine[];
  usd: number;
  /** Calls of services or actions the model has no price for: listed, never dropped silently. */
  unpriced: CallCount[];
}

/** Requests billed per `unitKiB` chunk of their body (64 KB for SQS, SNS, Pipes, EventBridge; 5 KB for IoT). */
export const chunks = (requestKiB: Readonly<Record<number, number>>, unitKiB: number): number =>
  Object.entries(requestKiB).reduce((sum, [kib, count]) => sum + count * Math.max(1, Math.ceil(Number(kib) / unitKiB)), 0);

const total = (lines: CostLine[]): number => lines.reduce((s, l) => s + l.usd, 0);

const DYNAMODB_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);

/**
 * Prices counted calls by service and action. Services the local runtime serves are named as
 * local/emulators/listen.ts names them (`sqs`, `sns`, `iot-data`, `data-api`, `dynamodb`, and
 * `events` / `eventbridge`, `scheduler` for the endpoints added by later work).
 *
 * `excludedPutItems` are the chat product's own writes of the messages, which happen whatever
 * delivers them; DynamoDB reads are priced from `dynamodbReadUnits`, which the caller knows from
 * the keys read (a request count cannot tell how many items a BatchGetItem read).
 */
export const priceCalls = (
  calls: readonly CallCount[],
  prices: Prices,
  options: { excludedPutItems: number; dynamodbReadUnits: number },
): Cost => {
  const lines: CostLine[] = [];
  const unpriced: CallCount[] = [];
  let excluded = options.excludedPutItems;
  for (const call of calls) {
    const name = `${call.service} ${call.action}`;
    switch (call.service) {
      case 'sqs':
        // Every action is a request; FIFO's price for all of them (the inboxes are FIFO; the few
        // standard-queue sends of quarantine and unrouted are priced a little high).
        lines.push({ item: name, usd: chunks(call.requestKiB, 64) * prices.sqsFifoRequest });
        break;
      case 'sns':
        lines.push({ item: name, usd: chunks(call.requestKiB, 64) * prices.snsPublish });
        break;
      case 'iot-data':
        // A publish is an inbound message, and its delivery to the online device an outbound one.
        lines.push({ item: `${name} (publish + delivery)`, usd: 2 * chunks(call.requestKiB, 5) * prices.iotMessage });
        break;
      case 'data-api':
        lines.push({ item: name, usd: chunks(call.requestKiB, 32) * prices.dataApiRequest });
        break;
      case 'dynamodb':
        if (call.action === 'BatchGetItem' || call.action === 'GetItem' || call.action === 'Query') break;
        if (DYNAMODB_WRITES.has(call.action)) {
          const own = call.action === 'PutItem' ? Math.min(excluded, call.requests) : 0;
          excluded -= own;
          const units = chunks(call.requestKiB, 1) * ((call.requests - own) / Math.max(1, call.requests));
          if (call.requests > own) lines.push({ item: name, usd: units * prices.dynamodbWriteRequestUnit });
          break;
        }
        unpriced.push(call);
        break;
      case 'events':
      case 'eventbridge':
        if (call.action === 'PutEvents') lines.push({ item: name, usd: chunks(call.requestKiB, 64) * prices.eventBridgeCustomEvent });
        else unpriced.push(call);
        break;
      case 'scheduler':
        // Scheduler bills invocations, not API calls: each created timer is taken to fire once, an
        // upper bound, since a message claimed in time has its timer deleted before it fires.
        if (call.action === 'POST /schedules') lines.push({ item: `${name} (each fires once, at most)`, usd: call.requests * prices.schedulerInvocation });
        break;
      default:
        unpriced.push(call);
    }
  }
  if (options.dynamodbReadUnits > 0) lines.push({ item: 'dynamodb reads (PRESENCE)', usd: options.dynamodbReadUnits * prices.dynamodbReadRequestUnit });
  return { lines, usd: total(lines), unpriced };
};

export interface LambdaUsage {
  name: string;
  invocations: number;
  memoryMb: number;
  /** Billed milliseconds of all invocations together. */
  billedMs: number;
}

export const lambdaCost = (usage: readonly LambdaUsage[], prices: Prices): CostLine[] =>
  usage.map((u) => ({
    item: `lambda ${u.name}`,
    usd: u.invocations * prices.lambdaRequest + (u.memoryMb / 1024) * (u.billedMs / 1000) * prices.lambdaGbSecondArm,
  }));

/** Everything one measured run of this design used, for `records` messages. */
export interface DesignRun {
  records: number;
  calls: readonly CallCount[];
  /** The messages' own PutItem on CONVO_HISTORY: not a cost of delivering them. */
  chatProductWrites: number;
  dynamodbReadUnits: number;
  /** Events that passed the pipe's filter, each under 64 KB. */
  pipeEvents: number;
  pipeBatches: number;
  executions: number;
  executionGbSeconds: number;
  lambdas: readonly LambdaUsage[];
  /** Bytes the workflow logs at the setting being priced. */
  workflowLogBytes: number;
  /** Bytes the Lambdas log (their own lines and Lambda's per-invocation lines). */
  lambdaLogBytes: number;
}

const GB = 1024 ** 3;

/** The cost of a run of this design (all its `records`). */
export const designCost = (run: DesignRun, prices: Prices, model: Pick<Model, 'getRecordsPerBatch'>): Cost => {
  const calls = priceCalls(run.calls, prices, { excludedPutItems: run.chatProductWrites, dynamodbReadUnits: run.dynamodbReadUnits });
  const lines: CostLine[] = [
    { item: 'pipe requests', usd: run.pipeEvents * prices.pipesRequest },
    { item: 'dynamodb streams GetRecords', usd: run.pipeBatches * model.getRecordsPerBatch * prices.dynamodbStreamsReadRequest },
    { item: 'step functions express requests', usd: run.executions * prices.sfnExpressRequest },
    { item: 'step functions express duration', usd: run.executionGbSeconds * prices.sfnExpressGbSecond },
    ...lambdaCost(run.lambdas, prices),
    ...calls.lines,
    { item: 'cloudwatch logs: workflow', usd: (run.workflowLogBytes / GB) * prices.cloudWatchLogsIngestGb },
    { item: 'cloudwatch logs: lambdas', usd: (run.lambdaLogBytes / GB) * prices.cloudWatchLogsIngestGb },
  ];
  return { lines, usd: total(lines), unpriced: calls.unpriced };
};

export const perMillion = (usd: number, records: number): number => (records > 0 ? (usd / records) * 1e6 : 0);

/** The seed design per message: what it calls for a message whose audience is `devices`. */
export interface SeedInput {
  devices: number;
  onlineShare: number;
  /** The pushed notification: payload plus topic, bytes. */
  pushBytes: number;
}

/**
 * The design this one replaces, modelled from its call counts per message: a Lambda per stream
 * event publishes to SNS (the stream read by a Lambda trigger is free); per topic a Lambda
 * subscribed to it runs one SQL query over the Data API, checks presence with one IoT API call per
 * device, pushes to each online device and sends one message to an SQS queue all devices share.
 */
export const seedCostPerMessage = (input: SeedInput, prices: Prices, latencies: Latencies, model: Model): Cost => {
  const online = Math.round(input.devices * input.onlineShare);
  const publisherMs = latencies.lambdaCompute + latencies.snsPublish;
  const topicMs =
    latencies.lambdaCompute +
    latencies.dataApiExecute +
    Math.ceil(input.devices / model.seedCallConcurrency) * latencies.iotApiCall +
    Math.ceil(online / model.seedCallConcurrency) * latencies.iotPublish +
    latencies.sqsSend;
  const lambdas: LambdaUsage[] = [
    { name: 'seed stream publisher', invocations: 1, memoryMb: model.seedLambdaMemoryMb, billedMs: Math.ceil(publisherMs) },
    { name: 'seed topic fan-out', invocations: 1, memoryMb: model.seedLambdaMemoryMb, billedMs: Math.ceil(topicMs) },
  ];
  const pushMessages = Math.max(1, Math.ceil(input.pushBytes / 5120));
  const logBytes = lambdas.length * (model.lambdaPlatformLogBytes + model.seedAppLogBytes + 2 * model.cloudWatchEventOverheadBytes);
  const lines: CostLine[] = [
    ...lambdaCost(lambdas, prices),
    { item: 'sns Publish', usd: prices.snsPublish },
    { item: 'data-api ExecuteStatement', usd: prices.dataApiRequest },
    { item: 'iot presence calls', usd: input.devices * prices.iotRegistryOrShadowOperation },
    { item: 'iot publish + delivery', usd: online * 2 * pushMessages * prices.iotMessage },
    { item: 'sqs shared queue SendMessage', usd: prices.sqsStandardRequest },
    { item: 'cloudwatch logs: lambdas', usd: (logBytes / GB) * prices.cloudWatchLogsIngestGb },
  ];
  return { lines, usd: total(lines), unpriced: [] };
};

/** This design's cost over the seed design's, for the same messages. */
export const ratio = (thisDesignUsd: number, seedUsd: number): number => (seedUsd > 0 ? thisDesignUsd / seedUsd : Number.POSITIVE_INFINITY);

/** What the wall-time model reads of the definition and configuration. */
export interface Fanout {
  devices: number;
  onlineShare: number;
  /** Devices per ResolveRecipients page. */
  pageSize: number;
  /** MaxConcurrency of the per-device Map. */
  deviceConcurrency: number;
  /** Keys per BatchGetItem (CheckPresence reads a page in chunks of this many, in parallel). */
  batchGetMaxKeys: number;
}

/**
 * Modelled AWS time of one record through the workflow, from the Pipe's start of the execution to
 * its last inbox send: the topic publish, then page after page (recipients, presence, the devices
 * of the page in waves of the Map's concurrency: push when online, then the inbox send).
 */
export const recordWallTimeMs = (f: Fanout, l: Latencies): number => {
  const pages = Math.max(1, Math.ceil(f.devices / f.pageSize));
  let ms = 5 * l.stateTransition + l.snsPublish;
  for (let p = 0; p < pages; p++) {
    const pageDevices = Math.min(f.pageSize, f.devices - p * f.pageSize);
    ms += l.lambdaInvokeOverhead + l.lambdaCompute + l.dataApiExecute + l.stateTransition;
    if (pageDevices <= 0) break;
    ms += l.lambdaInvokeOverhead + l.lambdaCompute + l.dynamodbBatchGet;
    const waves = Math.ceil(pageDevices / f.deviceConcurrency);
    const push = f.onlineShare > 0 ? l.iotPublish + l.stateTransition : 0;
    ms += waves * (2 * l.stateTransition + push + l.sqsSend) + 2 * l.stateTransition;
  }
  return ms + l.stateTransition;
};

/**
 * Express billed GB-seconds of one execution: duration rounded up to 100 ms; memory as the pricing
 * page estimates it (50 MB + definition + payload × parallel Map iterations), in 64 MB chunks.
 */
export const expressGbSeconds = (
  durationMs: number,
  definitionBytes: number,
  largestPayloadBytes: number,
  parallelIterations: number,
  model: Pick<Model, 'expressBaseMemoryMb' | 'expressMemoryChunkMb' | 'expressDurationRoundingMs'>,
): number => {
  const mb = model.expressBaseMemoryMb + (definitionBytes + largestPayloadBytes * parallelIterations) / (1024 * 1024);
  const billedMb = Math.ceil(mb / model.expressMemoryChunkMb) * model.expressMemoryChunkMb;
  const billedMs = Math.max(1, Math.ceil(durationMs / model.expressDurationRoundingMs)) * model.expressDurationRoundingMs;
  return (billedMb / 1024) * (billedMs / 1000);
};
