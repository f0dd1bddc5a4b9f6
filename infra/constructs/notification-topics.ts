import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** The audiences of a message, one SNS topic each (docs/design.md §3 "Topic choice"). */
export const TOPIC_NAMES = ['direct', 'team', 'sender'] as const;
export type TopicName = (typeof TOPIC_NAMES)[number];

/**
 * The three notification topics (`direct`, `team`, `sender`) that other subscribers (mobile push,
 * email, analytics) listen on. Encrypted with a customer managed key rather than `alias/aws/sns`,
 * whose key policy cannot be changed: with our own key, AWS services such as EventBridge or
 * CloudWatch can later be allowed to publish, and every use of the key is attributable. TLS is
 * required of every publisher and subscriber (`enforceSSL`).
 */
export class NotificationTopics extends Construct {
  public readonly topics: Readonly<Record<TopicName, sns.Topic>>;
  public readonly encryptionKey: kms.IKey;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.encryptionKey = new kms.Key(this, 'Key', {
      description: 'convo-notify: encrypts the notification topics',
      enableKeyRotation: true,
    });

    const topic = (name: TopicName, label: string) =>
      new sns.Topic(this, `${label}Topic`, {
        displayName: `convo-notify ${name} notifications`,
        masterKey: this.encryptionKey,
        enforceSSL: true,
      });
    this.topics = {
      direct: topic('direct', 'Direct'),
      team: topic('team', 'Team'),
      sender: topic('sender', 'Sender'),
    };
  }

  /**
   * Publish to the three topics, and only them. SNS encrypts each message under the topic's key
   * on behalf of the publisher, so the publisher also needs `kms:GenerateDataKey` and `kms:Decrypt`
   * on that key.
   */
  public grantPublish(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishToNotificationTopics',
        actions: ['sns:Publish'],
        resources: TOPIC_NAMES.map((name) => this.topics[name].topicArn),
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'UseNotificationTopicsKey',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [this.encryptionKey.keyArn],
        // Only through SNS: the grantee cannot use the key directly.
        conditions: { StringEquals: { 'kms:ViaService': `sns.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
      }),
    );
  }
}
