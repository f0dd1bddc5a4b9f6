/**
 * AWS service limits the flow is designed around, in one place: the task Lambdas bound what they
 * produce by them, the CDK stack sizes batches by them, and the local runtime rejects what AWS
 * would reject by them.
 *
 * Sizes are in bytes of the UTF-8 encoded payload unless the name says characters.
 */
export const AWS_LIMITS = {
  /** Synchronous Lambda invocation request and response payload (RequestResponse), including a Pipe enrichment. */
  lambdaSyncPayloadBytes: 6 * 1024 * 1024,
  /** Step Functions execution input, state input/output and task result. */
  stepFunctionsPayloadBytes: 256 * 1024,
  /** The input a Pipe may hand a Step Functions target for the whole batch (characters). */
  pipeStepFunctionsTargetChars: 262_144,
  /** SQS message body plus attributes (default maximum). */
  sqsMessageBytes: 256 * 1024,
  /** SNS message plus attributes. */
  snsMessageBytes: 256 * 1024,
  /** AWS IoT Core publish payload. */
  iotPublishPayloadBytes: 128 * 1024,
  /** One DynamoDB item, attribute names included. */
  dynamodbItemBytes: 400 * 1024,
  /** SQS MessageGroupId and MessageDeduplicationId (characters). */
  sqsFifoIdChars: 128,
  /** SQS queue names (characters). */
  sqsQueueNameChars: 80,
  /** EventBridge Scheduler schedule names (characters of [0-9A-Za-z-_.]). */
  schedulerNameChars: 64,
  /** One EventBridge PutEvents request: the entries' sizes summed (Time 14 bytes, Source, DetailType, Detail, Resources). */
  eventBridgePutEventsBytes: 256 * 1024,
  /** Entries of one EventBridge PutEvents request. */
  eventBridgePutEventsEntries: 10,
} as const;

/** UTF-8 size of a payload as AWS counts it: the JSON text for objects, the string itself for strings. */
export const payloadBytes = (payload: unknown): number =>
  utf8.encode(typeof payload === 'string' ? payload : (JSON.stringify(payload) ?? '')).length;

// TextEncoder rather than Buffer: browsers import this module too.
const utf8 = new TextEncoder();
