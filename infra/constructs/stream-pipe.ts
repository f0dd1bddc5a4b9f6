import { Aws, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as pipes from 'aws-cdk-lib/aws-pipes';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENRICHMENT_INPUT_TEMPLATE, MAX_PIPE_BATCH_SIZE, PIPE_MAXIMUM_RETRY_ATTEMPTS } from '../../contracts/enrichment';
import { AWS_LIMITS } from '../../contracts/limits';
import { pipeFilterCriteria } from '../../contracts/pipe-filter';
import { LOG_RETENTION } from './retention';

/**
 * Records older than this are dead-lettered instead of processed. Well below the stream's 24-hour
 * retention, so that a dead-lettered batch can still be re-read from the stream.
 */
const MAXIMUM_RECORD_AGE = Duration.hours(6);
/** Notifications are about latency: a batch goes as soon as records are there. */
const MAXIMUM_BATCHING_WINDOW = Duration.seconds(0);
/**
 * ERROR logs each failed step (and, with execution data, its payload), which is what a
 * dead-lettered batch is investigated with, without logging every batch that flows.
 */
const LOG_LEVEL = 'ERROR';

export interface StreamPipeProps {
  /** Resource name prefix; the pipe is `<prefix>-stream-to-workflow`. */
  readonly prefix: string;
  /** The CONVO_HISTORY stream (NEW_AND_OLD_IMAGES). */
  readonly streamArn: string;
  /** The Express state machine, started synchronously with each enriched batch. */
  readonly stateMachine: sfn.IStateMachine;
  /**
   * NormalizeBatch, the enrichment: invoked once per batch with every record shaped by
   * `ENRICHMENT_INPUT_TEMPLATE`; its answer (one bounded entry per record) is the target input.
   */
  readonly enrichment: lambda.IFunction;
  /** Where batches go that still fail after the retries. */
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * Stream records per batch (context `pipeBatchSize`): one enrichment invocation and one
   * execution. The enrichment request holds each record's new image (up to 400 KB), within
   * Lambda's 6 MB; a batch of large items over it fails and is bisected like any failing batch. At
   * most MAX_PIPE_BATCH_SIZE, so that the enriched batch always fits the execution input.
   */
  readonly batchSize: number;
  /**
   * Concurrent batches per shard (context `pipeParallelization`). Above 1, records of one
   * conversation still stay in order (same partition key, same batch sequence), but the FIFO
   * inboxes and the client fold do not depend on order anyway.
   */
  readonly parallelizationFactor: number;
  /**
   * Whether the ERROR log lines carry the failing payloads (context `logExecutionData`): stream
   * records and enrichment answers, customer text. The default is from infra/config.ts DEFAULT_CONFIG.
   */
  readonly includeExecutionData: boolean;
}

export class PipeBatchSizeError extends Error {
  constructor(batchSize: number) {
    super(`pipe batch size must be an integer from 1 to ${MAX_PIPE_BATCH_SIZE} (the enriched batch must fit the ${AWS_LIMITS.pipeStepFunctionsTargetChars.toLocaleString('en-US')}-character Step Functions input), got ${batchSize}`);
    this.name = 'PipeBatchSizeError';
  }
}

/**
 * The EventBridge Pipe from the CONVO_HISTORY stream to the state machine: only the records that
 * pass `contracts/pipe-filter.ts`, in batches, normalized by the NormalizeBatch enrichment (so that a
 * 400 KB item reaches the state machine as a bounded envelope), started with `REQUEST_RESPONSE` so that a failed
 * execution fails the batch. Failed batches are bisected (`AUTOMATIC_BISECT`) so one bad record
 * cannot hold back its neighbours, retried, and finally sent to the dead-letter queue.
 *
 * The pipe's role may read this one stream, invoke this one enrichment function, start synchronous
 * executions of this one state machine, and send to this one queue.
 */
export class StreamPipe extends Construct {
  public readonly pipe: pipes.CfnPipe;
  /** `<prefix>-stream-to-workflow`: the `PipeName` dimension of the pipe's metrics. */
  public readonly pipeName: string;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: StreamPipeProps) {
    super(scope, id);
    const { batchSize } = props;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_PIPE_BATCH_SIZE) throw new PipeBatchSizeError(batchSize);

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('pipes.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'convo-notify pipe: reads the CONVO_HISTORY stream, runs the workflow, dead-letters failures',
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadConvoHistoryStream',
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'],
        resources: [props.streamArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NormalizeBatches',
        actions: ['lambda:InvokeFunction'],
        resources: [props.enrichment.functionArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RunWorkflowSynchronously',
        actions: ['states:StartSyncExecution'],
        resources: [props.stateMachine.stateMachineArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DeadLetterFailedBatches',
        actions: ['sqs:SendMessage'],
        resources: [props.deadLetterQueue.queueArn],
      }),
    );

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: `/aws/vendedlogs/pipes/${props.prefix}-stream-to-workflow-${Fn.select(2, Fn.split('/', Aws.STACK_ID))}`,
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.pipeName = `${props.prefix}-stream-to-workflow`;
    this.pipe = new pipes.CfnPipe(this, 'Pipe', {
      name: this.pipeName,
      description: 'CONVO_HISTORY inserts and first answers to the notification fan-out workflow',
      roleArn: this.role.roleArn,
      source: props.streamArn,
      sourceParameters: {
        dynamoDbStreamParameters: {
          startingPosition: 'LATEST',
          batchSize,
          maximumBatchingWindowInSeconds: MAXIMUM_BATCHING_WINDOW.toSeconds(),
          parallelizationFactor: props.parallelizationFactor,
          maximumRetryAttempts: PIPE_MAXIMUM_RETRY_ATTEMPTS,
          maximumRecordAgeInSeconds: MAXIMUM_RECORD_AGE.toSeconds(),
          onPartialBatchItemFailure: 'AUTOMATIC_BISECT',
          deadLetterConfig: { arn: props.deadLetterQueue.queueArn },
        },
        filterCriteria: pipeFilterCriteria(),
      },
      enrichment: props.enrichment.functionArn,
      enrichmentParameters: { inputTemplate: ENRICHMENT_INPUT_TEMPLATE },
      target: props.stateMachine.stateMachineArn,
      targetParameters: {
        stepFunctionStateMachineParameters: { invocationType: 'REQUEST_RESPONSE' },
      },
      logConfiguration: {
        level: LOG_LEVEL,
        includeExecutionData: props.includeExecutionData ? ['ALL'] : undefined,
        cloudwatchLogsLogDestination: { logGroupArn: this.logGroup.logGroupArn },
      },
    });
    // The role's policy must exist before the pipe starts polling, or the first polls are denied.
    this.pipe.node.addDependency(this.role);
  }
}
