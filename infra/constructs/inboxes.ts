import { Aws, type Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { inboxQueueNamePrefixOf } from '../../contracts/naming';
import { secureQueue } from './queues';

export interface InboxesProps {
  /** Resource name prefix; inbox queues are named by `inboxQueueName` (contracts/naming.ts). */
  readonly prefix: string;
  /** How long an inbox keeps a notification for a device that stays offline (context `inboxRetentionDays`). */
  readonly inboxRetention: Duration;
}

/**
 * The queues every path of the workflow ends in.
 *
 * - Per-device inboxes are not created here: the workflow creates `<prefix>-inbox-<clientId>.fifo`
 *   on first use (`CreateInboxQueue`), FIFO with SSE-SQS and the configured retention. This construct
 *   owns their naming, URL prefix, retention and the IAM scope `arn:…:sqs:<region>:<account>:<prefix>-inbox-*`.
 * - `quarantine`: records that can never become a notification, with the reason.
 * - `unrouted`: notifications nobody will see (no active recipient device).
 * - `pipeDeadLetter`: batches the pipe gave up on (the DLQ receives the stream position, from which
 *   the records can be re-read while the stream keeps them, 24 hours).
 *
 * SSE-SQS rather than a customer managed key: the inboxes are created by the workflow with
 * `SqsManagedSseEnabled`, and every reader of these queues (AgentCRM clients, operators) would
 * otherwise need `kms:Decrypt` on a key as well.
 */
export class Inboxes extends Construct {
  public readonly quarantineQueue: sqs.Queue;
  public readonly unroutedQueue: sqs.Queue;
  public readonly pipeDeadLetterQueue: sqs.Queue;
  /** `<prefix>-inbox-`: the queue name of a device's inbox is this + clientId + `.fifo`. */
  public readonly inboxQueueNamePrefix: string;
  /** `https://sqs.<region>.<urlSuffix>/<account>/<prefix>-inbox-` */
  public readonly inboxQueueUrlPrefix: string;
  /** `arn:<partition>:sqs:<region>:<account>:<prefix>-inbox-*`: every inbox, and only inboxes. */
  public readonly inboxQueueArnPattern: string;
  public readonly inboxRetention: Duration;

  constructor(scope: Construct, id: string, props: InboxesProps) {
    super(scope, id);

    this.inboxRetention = props.inboxRetention;
    const terminal = (role: string) =>
      `This queue is ${role}; operators inspect and re-drive its messages, so a DLQ behind it would only duplicate it.`;
    this.quarantineQueue = secureQueue(this, 'QuarantineQueue', {
      noDeadLetterQueueReason: terminal('quarantine: the terminal holding place for invalid records'),
    });
    this.unroutedQueue = secureQueue(this, 'UnroutedQueue', {
      noDeadLetterQueueReason: terminal('unrouted: the terminal holding place for notifications without recipients'),
    });
    this.pipeDeadLetterQueue = secureQueue(this, 'PipeDeadLetterQueue', {
      noDeadLetterQueueReason: terminal('the pipe dead-letter queue itself (its DeadLetterConfig is on the pipe, which cdk-nag does not follow)'),
    });

    this.inboxQueueNamePrefix = inboxQueueNamePrefixOf(props.prefix);
    this.inboxQueueUrlPrefix = `https://sqs.${Aws.REGION}.${Aws.URL_SUFFIX}/${Aws.ACCOUNT_ID}/${this.inboxQueueNamePrefix}`;
    this.inboxQueueArnPattern = Stack.of(this).formatArn({
      service: 'sqs',
      resource: `${this.inboxQueueNamePrefix}*`,
    });
  }

  /**
   * What the workflow needs to end every path in SQS: send to the quarantine and unrouted queues,
   * and create + send to inboxes, all scoped to these queues and the `<prefix>-inbox-*` pattern.
   */
  public grantWorkflowDelivery(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SendToOpsQueues',
        actions: ['sqs:SendMessage'],
        resources: [this.quarantineQueue.queueArn, this.unroutedQueue.queueArn],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'CreateAndSendToInboxes',
        actions: ['sqs:CreateQueue', 'sqs:SendMessage'],
        resources: [this.inboxQueueArnPattern],
      }),
    );
  }
}
