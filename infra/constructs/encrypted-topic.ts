import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as sns from 'aws-cdk-lib/aws-sns';

/** The statement ids of a publish grant, so that a policy says what each grant is for. */
export interface PublishGrantSids {
  readonly publish: string;
  readonly key: string;
}

/**
 * Publish to `topics`, and only them. SNS encrypts each message under the topic's key on behalf of
 * the publisher, so the publisher also needs `kms:GenerateDataKey` and `kms:Decrypt` on that key,
 * and only through SNS: the grantee cannot use the key directly.
 */
export const grantPublishToEncryptedTopics = (
  grantee: iam.IGrantable,
  topics: readonly sns.ITopic[],
  key: kms.IKey,
  sids: PublishGrantSids,
): void => {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: sids.publish,
      actions: ['sns:Publish'],
      resources: topics.map((topic) => topic.topicArn),
    }),
  );
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: sids.key,
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `sns.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
    }),
  );
};
