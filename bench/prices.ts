import { TASK_FUNCTION_MEMORY_MB } from '../infra/constructs/task-function';
import { NORMALIZE_BATCH_MEMORY_MB } from '../infra/constructs/workflow-tasks';

/**
 * Every price and every other assumption of the cost model (`npm run bench`), in one place, each
 * with where it comes from. Prices are on-demand, us-east-1, without free tiers, in USD.
 *
 * `status` says how far to trust a figure: `pricing page` — the figure was read, through the
 * project's search tool, from the AWS pricing page or from a page quoting it; `assumed` — no source
 * was found, so the figure is our assumption, stated plainly; `project` — this repository's own
 * configuration; `model` — a modelling choice of the benchmark.
 */

export type SourceStatus = 'pricing page' | 'assumed' | 'project' | 'model';

export interface Assumption {
  value: number;
  unit: string;
  what: string;
  source: string;
  status: SourceStatus;
}

const STEP_FUNCTIONS = 'https://aws.amazon.com/step-functions/pricing/';
const LAMBDA = 'https://aws.amazon.com/lambda/pricing/';
const EVENTBRIDGE = 'https://aws.amazon.com/eventbridge/pricing/';
const SQS = 'https://aws.amazon.com/sqs/pricing/';
const SNS = 'https://aws.amazon.com/sns/pricing/';
const IOT = 'https://aws.amazon.com/iot-core/pricing/';
const AURORA = 'https://aws.amazon.com/rds/aurora/pricing/';
const DYNAMODB = 'https://aws.amazon.com/dynamodb/pricing/on-demand/';
const CLOUDWATCH = 'https://aws.amazon.com/cloudwatch/pricing/';

export const PRICES = {
  sfnExpressRequest: { value: 1.0 / 1e6, unit: 'USD per request', what: 'Step Functions Express: execution started', source: STEP_FUNCTIONS, status: 'pricing page' },
  sfnExpressGbSecond: {
    value: 0.06 / 3600,
    unit: 'USD per GB-second',
    what: 'Step Functions Express duration ($0.06 per GB-hour, first 1,000 GB-hours; 100 ms, 64 MB chunks)',
    source: STEP_FUNCTIONS,
    status: 'pricing page',
  },
  lambdaRequest: { value: 0.2 / 1e6, unit: 'USD per request', what: 'Lambda invocation', source: LAMBDA, status: 'pricing page' },
  lambdaGbSecondArm: { value: 0.0000133334, unit: 'USD per GB-second', what: 'Lambda duration, arm64 (1 ms granularity)', source: LAMBDA, status: 'pricing page' },
  pipesRequest: {
    value: 0.4 / 1e6,
    unit: 'USD per request',
    what: 'EventBridge Pipes: each event after filtering, per 64 KB chunk',
    source: EVENTBRIDGE,
    status: 'pricing page',
  },
  sqsFifoRequest: { value: 0.5 / 1e6, unit: 'USD per request', what: 'SQS FIFO API request, per 64 KB chunk', source: SQS, status: 'pricing page' },
  sqsStandardRequest: { value: 0.4 / 1e6, unit: 'USD per request', what: 'SQS standard API request, per 64 KB chunk', source: SQS, status: 'pricing page' },
  snsPublish: {
    value: 0.5 / 1e6,
    unit: 'USD per request',
    what: 'SNS standard topic publish, per 64 KB chunk (deliveries to Lambda and SQS taken as free)',
    source: SNS,
    status: 'pricing page',
  },
  iotMessage: {
    value: 1.0 / 1e6,
    unit: 'USD per message',
    what: 'IoT Core messaging, per 5 KB of payload + topic, inbound publish and outbound delivery each',
    source: IOT,
    status: 'assumed',
  },
  iotConnectivityMinute: {
    value: 0.08 / 1e6,
    unit: 'USD per connection-minute',
    what: 'IoT Core connectivity (per connected device, the same in both designs: not per message)',
    source: IOT,
    status: 'assumed',
  },
  iotRegistryOrShadowOperation: {
    value: 1.25 / 1e6,
    unit: 'USD per operation',
    what: "IoT Core registry / Device Shadow operation (the seed design's presence check per device)",
    source: IOT,
    status: 'assumed',
  },
  dataApiRequest: { value: 0.35 / 1e6, unit: 'USD per request', what: 'Aurora Data API request (first billion), per 32 KB of payload', source: AURORA, status: 'assumed' },
  dynamodbReadRequestUnit: {
    value: 0.125 / 1e6,
    unit: 'USD per RRU',
    what: 'DynamoDB on-demand read request unit (an eventually consistent read of up to 4 KB is half a unit)',
    source: DYNAMODB,
    status: 'assumed',
  },
  dynamodbWriteRequestUnit: { value: 0.625 / 1e6, unit: 'USD per WRU', what: 'DynamoDB on-demand write request unit (1 KB)', source: DYNAMODB, status: 'assumed' },
  dynamodbStreamsReadRequest: {
    value: 0.02 / 1e5,
    unit: 'USD per GetRecords',
    what: 'DynamoDB Streams read request unit (GetRecords) by the pipe; free for Lambda triggers (the seed design)',
    source: DYNAMODB,
    status: 'assumed',
  },
  cloudWatchLogsIngestGb: {
    value: 0.5,
    unit: 'USD per GB',
    what: 'CloudWatch Logs ingestion, standard class (Lambda logs, and vended logs of Step Functions, first 10 TB)',
    source: CLOUDWATCH,
    status: 'pricing page',
  },
  eventBridgeCustomEvent: { value: 1.0 / 1e6, unit: 'USD per event', what: 'EventBridge PutEvents custom event, per 64 KB chunk', source: EVENTBRIDGE, status: 'pricing page' },
  schedulerInvocation: {
    value: 1.0 / 1e6,
    unit: 'USD per invocation',
    what: 'EventBridge Scheduler invocation (each created schedule taken to fire once)',
    source: EVENTBRIDGE,
    status: 'pricing page',
  },
} as const satisfies Record<string, Assumption>;

/** Call latencies on AWS (warm, same region), for the modelled wall time and the billed durations. */
export const LATENCIES_MS = {
  stateTransition: { value: 2, unit: 'ms', what: 'one Express state transition', source: 'assumed', status: 'assumed' },
  lambdaInvokeOverhead: { value: 10, unit: 'ms', what: 'a warm Lambda invoke from a workflow or the pipe, beyond the handler', source: 'assumed', status: 'assumed' },
  lambdaCompute: { value: 5, unit: 'ms', what: "a handler's own compute per invocation (billed, besides its calls)", source: 'assumed', status: 'assumed' },
  dataApiExecute: { value: 25, unit: 'ms', what: 'Aurora Data API ExecuteStatement (resumed cluster)', source: 'assumed', status: 'assumed' },
  dynamodbBatchGet: { value: 8, unit: 'ms', what: 'DynamoDB BatchGetItem of up to 100 keys', source: 'assumed', status: 'assumed' },
  snsPublish: { value: 20, unit: 'ms', what: 'SNS Publish', source: 'assumed', status: 'assumed' },
  sqsSend: { value: 15, unit: 'ms', what: 'SQS SendMessage', source: 'assumed', status: 'assumed' },
  iotPublish: { value: 20, unit: 'ms', what: 'IoT data-plane Publish', source: 'assumed', status: 'assumed' },
  ruleTargetCall: { value: 20, unit: 'ms', what: 'the one AWS call of a Lambda a bus rule invokes (answer timer)', source: 'assumed', status: 'assumed' },
  iotApiCall: { value: 25, unit: 'ms', what: "IoT API call per device (the seed design's presence check)", source: 'assumed', status: 'assumed' },
} as const satisfies Record<string, Assumption>;

/** Everything else the model takes as given. */
export const MODEL = {
  normalizeBatchMemoryMb: { value: NORMALIZE_BATCH_MEMORY_MB, unit: 'MB', what: 'normalize-batch memory', source: 'infra/constructs/workflow-tasks.ts', status: 'project' },
  taskMemoryMb: { value: TASK_FUNCTION_MEMORY_MB, unit: 'MB', what: 'resolve-recipients, check-presence memory (TaskFunction default)', source: 'infra/constructs/task-function.ts', status: 'project' },
  seedLambdaMemoryMb: { value: 256, unit: 'MB', what: "the seed design's Lambdas' memory", source: 'assumed', status: 'assumed' },
  seedCallConcurrency: { value: 10, unit: 'calls', what: "IoT calls in flight at once in the seed design's topic Lambda", source: 'assumed', status: 'assumed' },
  expressBaseMemoryMb: {
    value: 50,
    unit: 'MB',
    what: 'Express memory = 50 MB + definition + payload x parallel Map iterations, billed in 64 MB chunks',
    source: STEP_FUNCTIONS,
    status: 'pricing page',
  },
  expressMemoryChunkMb: { value: 64, unit: 'MB', what: 'Express billed memory chunk', source: STEP_FUNCTIONS, status: 'pricing page' },
  expressDurationRoundingMs: { value: 100, unit: 'ms', what: 'Express duration rounding', source: STEP_FUNCTIONS, status: 'pricing page' },
  cloudWatchEventOverheadBytes: {
    value: 26,
    unit: 'bytes per log event',
    what: 'CloudWatch Logs event overhead counted on top of the message',
    source: 'assumed (the PutLogEvents size rule)',
    status: 'assumed',
  },
  lambdaPlatformLogBytes: {
    value: 350,
    unit: 'bytes per invocation',
    what: "Lambda's own START, END, REPORT and X-Ray lines",
    source: 'assumed',
    status: 'assumed',
  },
  seedAppLogBytes: { value: 200, unit: 'bytes per invocation', what: "the seed design's own log line per invocation", source: 'assumed', status: 'assumed' },
  sdkTaskResultBytes: {
    value: 200,
    unit: 'bytes',
    what: 'TaskSucceeded output of an SQS / SNS / IoT integration (MessageId and the like)',
    source: 'assumed',
    status: 'assumed',
  },
  lambdaTaskResultOverheadBytes: {
    value: 900,
    unit: 'bytes',
    what: 'TaskSucceeded output of lambda:invoke around the Payload (StatusCode, SdkHttpMetadata, ...)',
    source: 'assumed',
    status: 'assumed',
  },
  getRecordsPerBatch: { value: 1, unit: 'calls', what: 'GetRecords per pipe batch (idle polling left out)', source: 'model', status: 'model' },
  onlineShare: { value: 0.5, unit: 'share', what: 'devices online when a message arrives (every other device)', source: 'model', status: 'model' },
} as const satisfies Record<string, Assumption>;

export type Prices = { readonly [K in keyof typeof PRICES]: number };
export type Latencies = { readonly [K in keyof typeof LATENCIES_MS]: number };
export type Model = { readonly [K in keyof typeof MODEL]: number };

const values = <T extends Record<string, Assumption>>(table: T): { [K in keyof T]: number } =>
  Object.fromEntries(Object.entries(table).map(([k, v]) => [k, v.value])) as { [K in keyof T]: number };

export const PRICE_VALUES: Prices = values(PRICES);
export const LATENCY_VALUES: Latencies = values(LATENCIES_MS);
export const MODEL_VALUES: Model = values(MODEL);

/** The one table of assumptions, as printed by the bench and copied into docs/cost.md. */
export const assumptionRows = (): Assumption[] => [...Object.values(PRICES), ...Object.values(LATENCIES_MS), ...Object.values(MODEL)];
