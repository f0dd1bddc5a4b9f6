import { Aws, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { LOG_RETENTION } from './retention';
import { PUSH_TOPIC_PREFIX } from '../../contracts/push-topic';
import {
  NOTIFICATION_FANOUT_ASL,
  notificationFanoutSubstitutions,
  type NotificationFanoutSubstitutions,
} from '../../state-machines/workflows';
import { Inboxes } from './inboxes';
import type { Outcomes } from './outcomes';
import { NotificationTopics } from './notification-topics';
import { WorkflowTasks } from './workflow-tasks';

export interface NotificationWorkflowProps {
  /** Resource name prefix; the state machine is `<prefix>-notification-fanout`. */
  readonly prefix: string;
  readonly tasks: WorkflowTasks;
  readonly topics: NotificationTopics;
  readonly inboxes: Inboxes;
  /** Where the last state of every entry sends the entry's outcome (`${OutcomesQueueUrl}`). */
  readonly outcomes: Outcomes;
  /**
   * What each execution logs (context `workflowLogLevel`). The console's execution view of an
   * Express workflow is built from these logs: ALL shows every execution and its path. The default
   * is from infra/config.ts DEFAULT_CONFIG.
   */
  readonly logLevel: sfn.LogLevel;
  /**
   * Whether state inputs and outputs are logged (context `logExecutionData`). They hold message
   * previews and quarantine excerpts, customer text: on while debugging, off otherwise. The
   * default is from infra/config.ts DEFAULT_CONFIG.
   */
  readonly includeExecutionData: boolean;
}

/**
 * The Express state machine that fans a batch out to topics, inboxes and devices: its input is
 * the Pipe enrichment's answer (one notification or quarantine entry per stream record),
 * loaded from the ASL file with `definitionSubstitutions` for every placeholder
 * (state-machines/workflows.ts).
 *
 * Express, because the pipe invokes it synchronously (REQUEST_RESPONSE): a failed execution fails
 * the batch, which the pipe then retries, bisects and finally dead-letters. Executions are logged
 * at the configured level (ALL by default: the console's execution view for Express workflows is
 * built from these logs), with their data only when asked for, and traced with X-Ray.
 *
 * The role gets exactly what the states call: the two task Lambdas, the three topics (and their
 * key, through SNS only), the quarantine, unrouted and outcomes queues, the `<prefix>-inbox-*` queues
 * (create + send) and IoT publish on the push topics (`PUSH_TOPIC_PREFIX*`).
 */
export class NotificationWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  public readonly definitionSubstitutions: NotificationFanoutSubstitutions;

  constructor(scope: Construct, id: string, props: NotificationWorkflowProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { tasks, topics, inboxes, outcomes } = props;

    // Under /aws/vendedlogs/ so that log delivery does not grow the account's CloudWatch Logs
    // resource policy; the stack id suffix keeps a redeployed stack off a retained group's name.
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: `/aws/vendedlogs/states/${props.prefix}-notification-fanout-${Fn.select(2, Fn.split('/', Aws.STACK_ID))}`,
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.definitionSubstitutions = notificationFanoutSubstitutions({
      ResolveRecipientsFunctionArn: tasks.resolveRecipients.function.functionArn,
      CheckPresenceFunctionArn: tasks.checkPresence.function.functionArn,
      DirectTopicArn: topics.topics.direct.topicArn,
      TeamTopicArn: topics.topics.team.topicArn,
      SenderTopicArn: topics.topics.sender.topicArn,
      QuarantineQueueUrl: inboxes.quarantineQueue.queueUrl,
      UnroutedQueueUrl: inboxes.unroutedQueue.queueUrl,
      OutcomesQueueUrl: outcomes.queue.queueUrl,
      InboxQueueUrlPrefix: inboxes.inboxQueueUrlPrefix,
      InboxQueueNamePrefix: inboxes.inboxQueueNamePrefix,
      InboxRetentionSeconds: String(inboxes.inboxRetention.toSeconds()),
    });

    const { logLevel } = props;
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: `${props.prefix}-notification-fanout`,
      stateMachineType: sfn.StateMachineType.EXPRESS,
      definitionBody: sfn.DefinitionBody.fromFile(NOTIFICATION_FANOUT_ASL),
      definitionSubstitutions: { ...this.definitionSubstitutions },
      logs: {
        destination: this.logGroup,
        level: logLevel,
        includeExecutionData: props.includeExecutionData,
      },
      tracingEnabled: true,
    });

    if (logLevel !== sfn.LogLevel.ALL) {
      Validations.of(this.stateMachine).acknowledge({
        id: 'AwsSolutions-SF1',
        reason: `Log level ${logLevel} was chosen at deploy with the context key workflowLogLevel (README, "Logs"), to cut CloudWatch Logs cost; the default is ALL. Failed and timed-out executions still raise the workflow alarm on the ops topic, show on the operations dashboard, and fail the pipe batch, which the pipe logs at ERROR and dead-letters.`,
      });
    }

    // A file definition gives CDK no task objects to derive grants from: they are spelt out.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'InvokeTaskLambdas',
        actions: ['lambda:InvokeFunction'],
        resources: [tasks.resolveRecipients, tasks.checkPresence].map(
          (task) => task.function.functionArn,
        ),
      }),
    );
    topics.grantPublish(this.stateMachine);
    inboxes.grantWorkflowDelivery(this.stateMachine);
    outcomes.grantSend(this.stateMachine);
    const notifyTopics = stack.formatArn({ service: 'iot', resource: 'topic', resourceName: `${PUSH_TOPIC_PREFIX}*` });
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PushToDevices',
        actions: ['iot:Publish'],
        resources: [notifyTopics],
      }),
    );

    Validations.of(this.stateMachine.role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Added by CDK for execution logging and X-Ray: the logs:*LogDelivery / DescribeLogGroups / *ResourcePolicy actions and xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets do not support resource-level permissions, so AWS requires Resource "*".',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${inboxes.inboxQueueNamePrefix}*]`,
        reason:
          'Inboxes are one FIFO queue per device, created on first use by the workflow (CreateInboxQueue), so their names are only known at run time; the pattern covers the <prefix>-inbox- queues of this account and region and nothing else.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/${PUSH_TOPIC_PREFIX}*]`,
        reason:
          `PushToDevice publishes to ${PUSH_TOPIC_PREFIX}<clientId> for any registered device, known only at run time; the pattern is limited to the ${PUSH_TOPIC_PREFIX} topic tree that device policies subscribe to.`,
      },
    );
  }
}
