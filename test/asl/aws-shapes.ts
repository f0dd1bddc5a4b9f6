import { createHash, randomUUID } from 'node:crypto';

/**
 * What the Step Functions service integrations hand back to a Task, and the errors they raise,
 * in the shapes the real service produces. Task overrides in the ASL tests return these, so that
 * ResultSelector / ResultPath in the definition are exercised against the real shapes.
 */

const httpDate = () => new Date().toUTCString();

const sdkMetadata = (headers: Record<string, string>) => {
  const requestId = randomUUID();
  const all = { ...headers, Date: httpDate(), 'x-amzn-RequestId': requestId };
  return {
    SdkHttpMetadata: {
      AllHttpHeaders: Object.fromEntries(Object.entries(all).map(([k, v]) => [k, [v]])),
      HttpHeaders: all,
      HttpStatusCode: 200,
    },
    SdkResponseMetadata: { RequestId: requestId },
  };
};

/** `arn:aws:states:::lambda:invoke`: the function's return value is under `Payload`. */
export const lambdaInvoked = <P>(payload: P) => ({
  ExecutedVersion: '$LATEST',
  Payload: payload,
  ...sdkMetadata({
    Connection: 'keep-alive',
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(JSON.stringify(payload ?? null))),
    'X-Amz-Executed-Version': '$LATEST',
    'X-Amzn-Trace-Id': 'Root=1-6743f2a1-3c1b5d7e9f0a2b4c6d8e0f12;Parent=1a2b3c4d5e6f7a8b;Sampled=0;Lineage=1:2b3c4d5e:0',
  }),
  StatusCode: 200,
});

/** `arn:aws:states:::sns:publish` (standard topic: no SequenceNumber). */
export const snsPublished = () => ({
  MessageId: randomUUID(),
  ...sdkMetadata({ 'Content-Type': 'text/xml' }),
});

let fifoSequence = 18_889_000_000_000_000_000n;

/** `arn:aws:states:::sqs:sendMessage`; FIFO queues add a SequenceNumber. An object body is sent as its JSON. */
export const sqsSent = (input: { QueueUrl: string; MessageBody: unknown }) => {
  const body = typeof input.MessageBody === 'string' ? input.MessageBody : JSON.stringify(input.MessageBody);
  fifoSequence += 1n;
  return {
    MD5OfMessageBody: createHash('md5').update(body).digest('hex'),
    MessageId: randomUUID(),
    ...(input.QueueUrl.endsWith('.fifo') ? { SequenceNumber: fifoSequence.toString() } : {}),
    ...sdkMetadata({ 'Content-Type': 'application/x-amz-json-1.0' }),
  };
};

/** `arn:aws:states:::aws-sdk:sqs:createQueue` (AWS SDK integrations return the bare API output). */
export const queueCreated = (queueUrl: string) => ({ QueueUrl: queueUrl });

/** `arn:aws:states:::aws-sdk:iotdataplane:publish`: Publish has an empty output. */
export const iotPublished = () => ({});

/**
 * An error as a Task reports it: `name` is the States error name (what `ErrorEquals` matches) and
 * `message` the Cause. aws-local-stepfunctions uses exactly these two (Catch output is
 * `{ Error: error.name, Cause: error.message }`).
 */
export class TaskFailure extends Error {
  constructor(errorName: string, cause: string) {
    super(cause);
    this.name = errorName;
  }
}

/**
 * An error thrown by the function itself, through `lambda:invoke`: Step Functions names it with the
 * function's `errorType` and puts the runtime's error payload, as a JSON string, in the Cause.
 */
export const lambdaFunctionError = (errorType: string, errorMessage: string) =>
  new TaskFailure(
    errorType,
    JSON.stringify({
      errorType,
      errorMessage,
      trace: [`${errorType}: ${errorMessage}`, '    at handler (/var/task/index.js:1:2048)', '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)'],
    }),
  );

const requestIdNote = () => `Request ID: ${randomUUID()}`;

/** A Lambda service-side failure of the invoke call (Lambda.ServiceException, Lambda.TooManyRequestsException, ...). */
export const lambdaServiceError = (errorName = 'Lambda.ServiceException') => {
  const code = errorName.replace(/^Lambda\./, '');
  return new TaskFailure(
    errorName,
    `The service encountered an internal error. (Service: Lambda, Status Code: ${code === 'TooManyRequestsException' ? 429 : 500}, ${requestIdNote()}) (SDK Attempt Count: 1)`,
  );
};

/** `sqs:sendMessage` (optimized integration) to a queue that does not exist. */
export const sqsQueueDoesNotExist = () =>
  new TaskFailure('SQS.QueueDoesNotExistException', `The specified queue does not exist. (Service: Sqs, Status Code: 400, ${requestIdNote()})`);

/** A generic SQS failure of the optimized integration. */
export const sqsServiceError = (message = 'Internal error, please retry.') =>
  new TaskFailure('SQS.AmazonSQSException', `${message} (Service: AmazonSQS; Status Code: 500; Error Code: InternalError; ${requestIdNote()}; Proxy: null)`);

/** An error of the `aws-sdk:sqs:*` integration: `Sqs.<Exception>`. */
export const sqsSdkError = (exception: string, message: string) =>
  new TaskFailure(`Sqs.${exception}`, `${message} (Service: Sqs, Status Code: 400, ${requestIdNote()})`);

/** An error of the `aws-sdk:iotdataplane:*` integration: `IotDataPlane.<Exception>`. */
export const iotError = (exception: string, message: string) =>
  new TaskFailure(`IotDataPlane.${exception}`, `${message} (Service: IotDataPlane, Status Code: ${exception === 'ThrottlingException' ? 429 : 403}, ${requestIdNote()})`);

/** `sns:publish` failures of the optimized integration. */
export const snsError = (exception = 'InternalErrorException', message = 'Internal Error') =>
  new TaskFailure(`SNS.${exception}`, `${message} (Service: AmazonSNS; Status Code: 500; Error Code: InternalError; ${requestIdNote()}; Proxy: null)`);
