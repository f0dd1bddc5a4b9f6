import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { grantPublishToEncryptedTopics } from './encrypted-topic';

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

  /** Publish to the three topics, and only them (with their key, through SNS only). */
  public grantPublish(grantee: iam.IGrantable): void {
    grantPublishToEncryptedTopics(
      grantee,
      TOPIC_NAMES.map((name) => this.topics[name]),
      this.encryptionKey,
      { publish: 'PublishToNotificationTopics', key: 'UseNotificationTopicsKey' },
    );
  }
}
