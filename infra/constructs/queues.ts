import { type Duration, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { HOLDING_QUEUE_RETENTION } from './retention';

export interface SecureQueueProps {
  /** @default - a name CloudFormation generates */
  readonly queueName?: string;
  /** @default HOLDING_QUEUE_RETENTION */
  readonly retentionPeriod?: Duration;
  /** @default - the SQS default, 30 seconds */
  readonly visibilityTimeout?: Duration;
  /** @default - none */
  readonly deadLetterQueue?: sqs.DeadLetterQueue;
  /**
   * Why the queue needs no DLQ of its own (it is the terminal holding place of something): the
   * AwsSolutions-SQS3 acknowledgment. cdk-nag recognises a queue that is another queue's DLQ
   * without it, but not one that only a pipe, rule or Lambda destination writes to.
   *
   * @default - no acknowledgment
   */
  readonly noDeadLetterQueueReason?: string;
}

/**
 * A standard queue with the project's secure defaults: SSE-SQS encryption and TLS-only access, kept
 * as long as a holding queue unless told otherwise.
 */
export const secureQueue = (scope: Construct, id: string, props: SecureQueueProps = {}): sqs.Queue => {
  const { noDeadLetterQueueReason, retentionPeriod, ...rest } = props;
  const queue = new sqs.Queue(scope, id, {
    ...rest,
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: retentionPeriod ?? HOLDING_QUEUE_RETENTION,
  });
  if (noDeadLetterQueueReason !== undefined) {
    Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason: noDeadLetterQueueReason });
  }
  return queue;
};
