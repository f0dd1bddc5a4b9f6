import * as path from 'node:path';
import { Aws, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { Inboxes } from './inboxes';
import { NotificationTopics } from './notification-topics';
import { WorkflowTasks } from './workflow-tasks';

/** The workflow, the single source of truth, shared with the tests and the local runtime. */
export const NOTIFICATION_FANOUT_ASL = path.join(__dirname, '..', '..', 'state-machines', 'notification-fanout.asl.json');

/** Every `${Placeholder}` of the ASL file, as listed in `docs/workflow-contract.md`. */
export const DEFINITION_SUBSTITUTION_KEYS = [
  'ResolveRecipientsFunctionArn',
  'CheckPresenceFunctionArn',
  'DirectTopicArn',
  'TeamTopicArn',
  'SenderTopicArn',
  'QuarantineQueueUrl',
  'UnroutedQueueUrl',
  'InboxQueueUrlPrefix',
  'InboxQueueNamePrefix',
  'InboxRetentionSeconds',
] as const;
export type DefinitionSubstitutionKey = (typeof DEFINITION_SUBSTITUTION_KEYS)[number];

export interface NotificationWorkflowProps {
  /** Resource name prefix; the state machine is `<prefix>-notification-fanout`. */
  readonly prefix: string;
  readonly tasks: WorkflowTasks;
  readonly topics: NotificationTopics;
  readonly inboxes: Inboxes;
  /**
   * The ASL file.
   *
   * @default NOTIFICATION_FANOUT_ASL
   */
  readonly definitionFile?: string;
  /**
   * Retention of the execution log group.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The Express state machine that fans a batch out to topics, inboxes and devices: its input is
 * the Pipe enrichment's answer (one notification or quarantine entry per stream record), loaded from the ASL file with `definitionSubstitutions` for every placeholder.
 *
 * Express, because the pipe invokes it synchronously (REQUEST_RESPONSE): a failed execution fails
 * the batch, which the pipe then retries, bisects and finally dead-letters. Every execution is
 * logged at level ALL with its data (the console's execution view for Express workflows is built
 * from these logs) and traced with X-Ray.
 *
 * The role gets exactly what the states call: the two task Lambdas, the three topics (and their
 * key, through SNS only), the quarantine and unrouted queues, the `<prefix>-inbox-*` queues
 * (create + send) and IoT publish on `notify/*`.
 */
export class NotificationWorkflow extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  public readonly definitionSubstitutions: Readonly<Record<DefinitionSubstitutionKey, string>>;

  constructor(scope: Construct, id: string, props: NotificationWorkflowProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { tasks, topics, inboxes } = props;

    // Under /aws/vendedlogs/ so that log delivery does not grow the account's CloudWatch Logs
    // resource policy; the stack id suffix keeps a redeployed stack off a retained group's name.
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: `/aws/vendedlogs/states/${props.prefix}-notification-fanout-${Fn.select(2, Fn.split('/', Aws.STACK_ID))}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.definitionSubstitutions = {
      ResolveRecipientsFunctionArn: tasks.resolveRecipients.function.functionArn,
      CheckPresenceFunctionArn: tasks.checkPresence.function.functionArn,
      DirectTopicArn: topics.topics.direct.topicArn,
      TeamTopicArn: topics.topics.team.topicArn,
      SenderTopicArn: topics.topics.sender.topicArn,
      QuarantineQueueUrl: inboxes.quarantineQueue.queueUrl,
      UnroutedQueueUrl: inboxes.unroutedQueue.queueUrl,
      InboxQueueUrlPrefix: inboxes.inboxQueueUrlPrefix,
      InboxQueueNamePrefix: inboxes.inboxQueueNamePrefix,
      InboxRetentionSeconds: String(inboxes.inboxRetention.toSeconds()),
    };

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: `${props.prefix}-notification-fanout`,
      stateMachineType: sfn.StateMachineType.EXPRESS,
      definitionBody: sfn.DefinitionBody.fromFile(props.definitionFile ?? NOTIFICATION_FANOUT_ASL),
      definitionSubstitutions: { ...this.definitionSubstitutions },
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });

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
    const notifyTopics = stack.formatArn({ service: 'iot', resource: 'topic', resourceName: 'notify/*' });
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
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/notify/*]',
        reason:
          'PushToDevice publishes to notify/<clientId> for any registered device, known only at run time; the pattern is limited to the notify/ topic tree that device policies subscribe to.',
      },
    );
  }
}
