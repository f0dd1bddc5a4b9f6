import { Aws, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as pipes from 'aws-cdk-lib/aws-pipes';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  OUTCOME_EVENT_SOURCE,
  OUTCOME_PIPE_DETAIL_TYPE_PATH,
  OUTCOME_PIPE_INPUT_TEMPLATE,
  outcomeEventBusName,
  outcomesQueueName,
} from '../../contracts/outcomes';
import { secureQueue } from './queues';
import { LOG_RETENTION } from './retention';

/**
 * PutEvents takes at most 10 entries: one batch of the outcomes queue is one PutEvents call. The
 * pipe sends as soon as a message is there (outcomes drive escalations, so latency matters).
 */
const OUTCOMES_BATCH_SIZE = 10;
const MAXIMUM_BATCHING_WINDOW = Duration.seconds(0);
/**
 * Receives before an outcome moves to the outcomes DLQ: for an SQS source the pipe has no retry
 * policy of its own, a failed batch becomes visible again after the visibility timeout and the
 * queue's redrive policy decides when to give up.
 */
const MAX_RECEIVE_COUNT = 5;
/** Well above one PutEvents call, so that a message in flight is not received twice meanwhile. */
const VISIBILITY_TIMEOUT = Duration.seconds(60);
/** As the stream pipe: each failed step is logged, the outcomes that flow are not. */
const LOG_LEVEL = 'ERROR';

export interface OutcomesProps {
  /**
   * Resource name prefix: queue `<prefix>-outcomes` (`outcomesQueueName`), its DLQ
   * `<prefix>-outcomes-dlq`, bus `<prefix>-events` (`outcomeEventBusName`), pipe `<prefix>-outcomes-to-bus`.
   */
  readonly prefix: string;
  /**
   * Whether the pipe's ERROR log lines carry the failing payloads (context `logExecutionData`).
   * Outcomes hold ids and counts, no customer text, but the switch is the stack's one logging switch.
   * The default is from infra/config.ts DEFAULT_CONFIG.
   */
  readonly includeExecutionData: boolean;
}

/**
 * The outcome of every workflow entry, as events on a bus of the stack (contracts/outcomes.ts):
 *
 * - the outcomes queue (standard, SSE-SQS, TLS only), which each entry's last state sends its outcome
 *   to (`grantSend` for the state machine), with a DLQ after MAX_RECEIVE_COUNT receives;
 * - the event bus `<prefix>-events`, which other teams' rules (and the escalation rules) read;
 * - the EventBridge Pipe outcomes queue → bus: each message becomes one event whose `Source` is
 *   OUTCOME_EVENT_SOURCE, whose `DetailType` is the body's `detailType` (a dynamic path parameter,
 *   `$.body.detailType`: Pipes parses an SQS body that is JSON) and whose detail is the body
 *   (input template `<$.body>`).
 *
 * The pipe's role may receive, delete and read the attributes of this one queue and put events on
 * this one bus, nothing else; it trusts `pipes.amazonaws.com` of this account only.
 */
export class Outcomes extends Construct {
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly bus: events.EventBus;
  public readonly pipe: pipes.CfnPipe;
  /** `<prefix>-outcomes-to-bus`: the `PipeName` dimension of the pipe's metrics. */
  public readonly pipeName: string;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: OutcomesProps) {
    super(scope, id);
    const queueName = outcomesQueueName(props.prefix);

    this.deadLetterQueue = secureQueue(this, 'DeadLetterQueue', { queueName: `${queueName}-dlq` });

    // Outcomes wait here only while the bus or the pipe is unavailable: as long as any holding queue (the default).
    this.queue = secureQueue(this, 'Queue', {
      queueName,
      visibilityTimeout: VISIBILITY_TIMEOUT,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: outcomeEventBusName(props.prefix),
      description: 'convo-notify: outcome events of the notification fan-out (contracts/outcomes.ts)',
    });

    this.role = new iam.Role(this, 'PipeRole', {
      assumedBy: new iam.ServicePrincipal('pipes.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'convo-notify outcomes pipe: reads the outcomes queue, puts the outcome events on the bus',
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadOutcomesQueue',
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        resources: [this.queue.queueArn],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PutOutcomeEvents',
        actions: ['events:PutEvents'],
        resources: [this.bus.eventBusArn],
      }),
    );

    this.pipeName = `${props.prefix}-outcomes-to-bus`;
    this.logGroup = new logs.LogGroup(this, 'PipeLogGroup', {
      logGroupName: `/aws/vendedlogs/pipes/${this.pipeName}-${Fn.select(2, Fn.split('/', Aws.STACK_ID))}`,
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.pipe = new pipes.CfnPipe(this, 'Pipe', {
      name: this.pipeName,
      description: 'convo-notify: workflow outcomes queue to the event bus',
      roleArn: this.role.roleArn,
      source: this.queue.queueArn,
      sourceParameters: {
        sqsQueueParameters: {
          batchSize: OUTCOMES_BATCH_SIZE,
          maximumBatchingWindowInSeconds: MAXIMUM_BATCHING_WINDOW.toSeconds(),
        },
      },
      target: this.bus.eventBusArn,
      targetParameters: {
        inputTemplate: OUTCOME_PIPE_INPUT_TEMPLATE,
        eventBridgeEventBusParameters: {
          source: OUTCOME_EVENT_SOURCE,
          detailType: OUTCOME_PIPE_DETAIL_TYPE_PATH,
        },
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

  /** What the workflow's last state of every entry needs: send to the outcomes queue, nothing else. */
  public grantSend(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SendOutcomes',
        actions: ['sqs:SendMessage'],
        resources: [this.queue.queueArn],
      }),
    );
  }
}
