import { Annotations, Aspects, Aws, type IAspect } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct, type IConstruct } from 'constructs';

const CLOUDWATCH = new iam.ServicePrincipal('cloudwatch.amazonaws.com');

export interface OpsNotificationsProps {
  /**
   * Resource name prefix. Only alarms named `<prefix>-…` may publish to the topic (its policy
   * matches the alarms' ARNs), so every alarm wired to it must carry such a name.
   */
  readonly prefix: string;
}

/**
 * The ops topic: where every alarm of the stack sends its ALARM notification (subscribe the
 * team's e-mail, chat or paging endpoint to it; the stack outputs its ARN as `OpsTopicArn`).
 *
 * Encrypted with a customer managed key of its own, like the notification topics: CloudWatch
 * must be allowed `kms:GenerateDataKey*` and `kms:Decrypt` on the key to publish to an encrypted
 * topic, which the AWS managed `alias/aws/sns` key can never allow, and a key of its own keeps that
 * grant off the key of the customer-facing topics. TLS is required of every publisher and
 * subscriber; CloudWatch may publish only for alarms of this account and region named `<prefix>-…`.
 */
export class OpsNotifications extends Construct {
  public readonly topic: sns.Topic;
  public readonly encryptionKey: kms.Key;
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: OpsNotificationsProps) {
    super(scope, id);
    this.prefix = props.prefix;

    this.encryptionKey = new kms.Key(this, 'Key', {
      description: 'convo-notify: encrypts the ops topic that CloudWatch alarms publish to',
      enableKeyRotation: true,
    });
    // As AWS documents for CloudWatch and encrypted topics; the topic policy below limits which
    // alarms may publish, and this key protects nothing but the ops topic's messages.
    this.encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsEncryptOpsMessages',
        principals: [CLOUDWATCH],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );

    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `${props.prefix} operations alarms`,
      masterKey: this.encryptionKey,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [CLOUDWATCH],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${props.prefix}-*` },
        },
      }),
    );
  }

  /**
   * Sends the ALARM notification of every `cloudwatch.Alarm` under `scope` to the topic, including
   * alarms created after this call (an aspect runs at synth). An alarm without a `<prefix>-` name
   * fails the synth: the topic policy would refuse its notifications.
   */
  public notifyOnEveryAlarmIn(scope: IConstruct): void {
    const action = new SnsAction(this.topic);
    const prefix = this.prefix;
    const aspect: IAspect = {
      visit(node: IConstruct): void {
        if (!(node instanceof cloudwatch.Alarm)) return;
        const name = (node.node.defaultChild as cloudwatch.CfnAlarm).alarmName;
        if (name === undefined || !name.startsWith(`${prefix}-`)) {
          Annotations.of(node).addError(
            `alarm ${node.node.path} must be named "${prefix}-…" (alarmName): the ops topic only takes notifications of alarms with that name`,
          );
          return;
        }
        node.addAlarmAction(action);
      },
    };
    Aspects.of(scope).add(aspect);
  }
}
