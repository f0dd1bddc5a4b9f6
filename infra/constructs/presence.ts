import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PUSH_TOPIC_PREFIX } from '../../contracts/push-topic';
import { PRESENCE_TABLE } from '../../contracts/tables';
import type { DeviceRegistry } from './device-registry';
import { secureQueue } from './queues';
import { TaskFunction } from './task-function';

/** The connection lifecycle events of every client: `$aws/events/presence/{connected|disconnected}/<clientId>`. */
export const PRESENCE_RULE_SQL = "SELECT * FROM '$aws/events/presence/+/+'";
/**
 * The subscription lifecycle events of every client:
 * `$aws/events/subscriptions/{subscribed|unsubscribed}/<clientId>`. A second rule, because one
 * topic filter covering both trees (`$aws/events/+/+/+`) would also take every other event AWS
 * IoT publishes under `$aws/events/`.
 */
export const SUBSCRIPTION_RULE_SQL = "SELECT * FROM '$aws/events/subscriptions/+/+'";

/**
 * IoT policy variables, written literally into the policy document. CloudFormation only
 * substitutes `${…}` inside `Fn::Sub`, so these reach AWS IoT untouched and are resolved per
 * connection by the broker.
 */
export const IOT_THING_NAME = '${iot:Connection.Thing.ThingName}';
export const IOT_CLIENT_ID = '${iot:ClientId}';

/**
 * How long Lambda keeps retrying a lifecycle event before it goes to the presence-failures queue.
 * Presence older than this is history rather than state, but it is still kept.
 */
const PRESENCE_MAX_EVENT_AGE = Duration.hours(1);

export interface PresenceProps {
  /** Resource name prefix; the device policy is `<prefix>-agent-device`. */
  readonly prefix: string;
  /** The registered devices: record-presence ignores lifecycle events of any other client id. */
  readonly registry: DeviceRegistry;
}

/**
 * Presence, with the broker as the authority (docs/design.md §3 "Presence"):
 * - the PRESENCE table (`clientId` → connection `state`, `eventTimestamp`, `versionNumber`,
 *   `sessionIdentifier`, and the push-topic `subscriptions` of recent sessions);
 * - two IoT topic rules, on the connection and on the subscription lifecycle events, that invoke
 *   `record-presence` asynchronously, with an error action to an SQS queue for an event the rule
 *   could not hand to Lambda;
 * - `record-presence`, allowed `dynamodb:GetItem` and `dynamodb:UpdateItem` on PRESENCE and
 *   `dynamodb:GetItem` on the device registry, nothing else; its failed invocations are retried twice and then sent to the
 *   `<prefix>-presence-failures` queue (on-failure destination), so a failed PRESENCE write is
 *   kept, not dropped;
 * - the IoT policy for AgentCRM devices: connect only as the thing its certificate is attached to,
 *   and subscribe / receive only on its own `notify/<clientId>` topic.
 */
export class Presence extends Construct {
  public readonly table: dynamodb.Table;
  public readonly recordPresence: TaskFunction;
  public readonly topicRule: iot.CfnTopicRule;
  public readonly subscriptionRule: iot.CfnTopicRule;
  public readonly ruleErrorQueue: sqs.Queue;
  /** On-failure destination of record-presence: each message is a Lambda invocation record holding the event. */
  public readonly failureQueue: sqs.Queue;
  public readonly devicePolicy: iot.CfnPolicy;

  constructor(scope: Construct, id: string, props: PresenceProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: PRESENCE_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // The attribute record-presence writes the expiry to: both take it from the one contract.
      timeToLiveAttribute: PRESENCE_TABLE.timeToLiveAttribute,
      // Derived data: the next lifecycle event of each client rebuilds its item.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.recordPresence = new TaskFunction(this, 'RecordPresence', {
      taskName: 'record-presence',
      environment: { PRESENCE_TABLE_NAME: this.table.tableName, DEVICE_REGISTRY_TABLE_NAME: props.registry.table.tableName },
    });
    // Conditional UpdateItems are its only writes; a subscription event reads the item first.
    this.recordPresence.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RecordPresence',
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
      }),
    );
    props.registry.grantLookup(this.recordPresence.role);

    this.failureQueue = secureQueue(this, 'FailureQueue', {
      queueName: `${props.prefix}-presence-failures`,
      noDeadLetterQueueReason:
        'This queue is the on-failure destination of record-presence, the terminal holding place for lifecycle events whose PRESENCE write failed after Lambda retried; a DLQ behind it would only duplicate it.',
    });
    this.recordPresence.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: PRESENCE_MAX_EVENT_AGE,
      onFailure: new destinations.SqsDestination(this.failureQueue),
    });

    this.ruleErrorQueue = secureQueue(this, 'RuleErrorQueue', {
      noDeadLetterQueueReason:
        'This queue is the error action of the presence topic rules, the terminal holding place for lifecycle events a rule could not hand to record-presence; a DLQ behind it would only duplicate it.',
    });

    const ruleRole = new iam.Role(this, 'RuleErrorActionRole', {
      assumedBy: new iam.ServicePrincipal('iot.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'convo-notify presence rule: error action sends to its error queue',
    });
    ruleRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SendRuleErrors',
        actions: ['sqs:SendMessage'],
        resources: [this.ruleErrorQueue.queueArn],
      }),
    );

    const lifecycleRule = (id: string, events: string, sql: string): iot.CfnTopicRule => {
      const rule = new iot.CfnTopicRule(this, id, {
        topicRulePayload: {
          description: `convo-notify: AWS IoT lifecycle events (${events}) to record-presence`,
          sql,
          awsIotSqlVersion: '2016-03-23',
          ruleDisabled: false,
          actions: [{ lambda: { functionArn: this.recordPresence.function.functionArn } }],
          errorAction: {
            sqs: { queueUrl: this.ruleErrorQueue.queueUrl, roleArn: ruleRole.roleArn, useBase64: false },
          },
        },
      });
      this.recordPresence.function.addPermission(`InvokedBy${id}`, {
        principal: new iam.ServicePrincipal('iot.amazonaws.com'),
        action: 'lambda:InvokeFunction',
        sourceArn: rule.attrArn,
        sourceAccount: Aws.ACCOUNT_ID,
      });
      return rule;
    };
    this.topicRule = lifecycleRule('LifecycleRule', 'connected / disconnected', PRESENCE_RULE_SQL);
    this.subscriptionRule = lifecycleRule('SubscriptionRule', 'subscribed / unsubscribed', SUBSCRIPTION_RULE_SQL);

    const iotArn = (resource: string, resourceName: string) =>
      stack.formatArn({ service: 'iot', resource, resourceName });
    this.devicePolicy = new iot.CfnPolicy(this, 'AgentDevicePolicy', {
      policyName: `${props.prefix}-agent-device`,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            // The client id must be the name of the thing the presented certificate (or Cognito
            // identity) is attached to: a device cannot connect as another device, and a client
            // id such as "+" or "#" cannot be used to widen the topic grants below.
            Sid: 'ConnectAsOwnThing',
            Effect: 'Allow',
            Action: 'iot:Connect',
            Resource: iotArn('client', IOT_THING_NAME),
            Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
          },
          {
            // After the connect check above, the client id is the thing name.
            Sid: 'SubscribeToOwnNotifyTopic',
            Effect: 'Allow',
            Action: 'iot:Subscribe',
            Resource: iotArn('topicfilter', `${PUSH_TOPIC_PREFIX}${IOT_CLIENT_ID}`),
          },
          {
            Sid: 'ReceiveOwnNotifications',
            Effect: 'Allow',
            Action: 'iot:Receive',
            Resource: iotArn('topic', `${PUSH_TOPIC_PREFIX}${IOT_CLIENT_ID}`),
          },
        ],
      },
    });
  }

  /** `check-presence`: one BatchGetItem per 100 devices on PRESENCE, nothing else. */
  public grantPresenceLookup(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LookUpPresence',
        actions: ['dynamodb:BatchGetItem'],
        resources: [this.table.tableArn],
      }),
    );
  }
}
