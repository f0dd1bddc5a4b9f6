import {
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  type DeleteMessageBatchRequestEntry,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { NotificationEnvelope } from '../contracts/envelope';
import { emptyDrainResult, type DrainHandlers, type DrainResult, type InboxReader } from './drain';
import { InboxDeleteError, InboxUnavailableError, InvalidClientOptionsError } from './errors';
import { parseNotification } from './parse';

export type { DrainHandlers, DrainResult } from './drain';

/**
 * Direct SQS access for trusted server-side consumers with IAM credentials that allow
 * `sqs:ReceiveMessage` and `sqs:DeleteMessage` on the inbox queue (and `sqs:GetQueueUrl` with
 * `queueName`). Browsers use the agent API instead (`ApiInbox`) and never hold AWS credentials.
 *
 * Inbox catch-up (docs/design.md §3 "Inbox"): the device's own SQS FIFO queue holds every
 * notification meant for it. A drain long-polls ReceiveMessage (10 at a time) until a receive comes back empty;
 * each batch is folded first and deleted after, so a crash in between loses nothing (SQS delivers
 * the messages again after the visibility timeout and the fold ignores duplicates).
 */
export interface InboxOptions {
  /** The SQS client, with IAM credentials of a trusted server-side consumer. */
  sqs: SQSClient;
  /** The inbox queue URL. Give this or `queueName`. */
  queueUrl?: string;
  /** The inbox queue name (`<prefix>-inbox-<clientId>.fifo`), resolved once with GetQueueUrl. */
  queueName?: string;
  /**
   * Long-poll wait of each ReceiveMessage, in seconds (0–20). Default 2: any wait above 0 asks every
   * SQS server, so an empty answer really means empty, while the final empty receive that ends a
   * drain only costs this long.
   */
  waitTimeSeconds?: number;
  /** Visibility timeout of received messages, in seconds; default: the queue's own (30 s unless configured). */
  visibilityTimeoutSeconds?: number;
  /** At most this many receives per drain (10 messages each), so a drain always ends. Default 100. */
  maxReceivesPerDrain?: number;
  /**
   * What to do with a body that is not a valid envelope. Default `'delete'`: it is reported as an
   * `error` event and then deleted. Inbox queues are FIFO without a redrive policy, so a message left
   * in the queue would block every later notification of its conversation (its message group) until
   * retention (4 days) expires, and be reported again on every drain; an invalid body never becomes
   * valid. `'keep'` leaves it in the queue (for a queue that has a redrive policy to a DLQ).
   */
  invalidMessages?: 'delete' | 'keep';
}

export const MAX_MESSAGES_PER_RECEIVE = 10;

const isQueueMissing = (err: unknown): boolean => {
  const e = err as { name?: string; Code?: string; code?: string };
  return [e?.name, e?.Code, e?.code].some((n) => n === 'QueueDoesNotExist' || n === 'AWS.SimpleQueueService.NonExistentQueue');
};

const isAbort = (err: unknown, signal?: AbortSignal): boolean =>
  signal?.aborted === true || (err as { name?: string })?.name === 'AbortError';

export class Inbox implements InboxReader {
  private queueUrl: string | undefined;
  private readonly waitTimeSeconds: number;
  private readonly maxReceives: number;

  constructor(private readonly options: InboxOptions) {
    if ((options.queueUrl === undefined) === (options.queueName === undefined)) {
      throw new InvalidClientOptionsError('inbox: give exactly one of queueUrl and queueName');
    }
    const wait = options.waitTimeSeconds ?? 2;
    if (!Number.isInteger(wait) || wait < 0 || wait > 20) {
      throw new InvalidClientOptionsError(`inbox.waitTimeSeconds must be an integer from 0 to 20, got ${wait}`);
    }
    const max = options.maxReceivesPerDrain ?? 100;
    if (!Number.isInteger(max) || max < 1) {
      throw new InvalidClientOptionsError(`inbox.maxReceivesPerDrain must be a positive integer, got ${max}`);
    }
    this.waitTimeSeconds = wait;
    this.maxReceives = max;
    this.queueUrl = options.queueUrl;
  }

  /** The queue URL, or `undefined` when the queue does not exist (yet). */
  async resolveQueueUrl(signal?: AbortSignal): Promise<string | undefined> {
    if (this.queueUrl !== undefined) return this.queueUrl;
    try {
      const out = await this.options.sqs.send(new GetQueueUrlCommand({ QueueName: this.options.queueName }), { abortSignal: signal });
      if (!out.QueueUrl) throw new Error('GetQueueUrl returned no QueueUrl');
      this.queueUrl = out.QueueUrl;
      return this.queueUrl;
    } catch (err) {
      if (isQueueMissing(err)) return undefined;
      throw err;
    }
  }

  /**
   * Drains the queue: receive → validate → fold → delete, until a receive is empty, the abort
   * signal fires, or `maxReceivesPerDrain` receives were made. Throws `InboxUnavailableError` when
   * the queue cannot be read (what was folded and deleted before stays so).
   */
  async drain(handlers: DrainHandlers, signal?: AbortSignal): Promise<DrainResult> {
    const result = emptyDrainResult();
    let queueUrl: string | undefined;
    try {
      queueUrl = await this.resolveQueueUrl(signal);
    } catch (err) {
      if (isAbort(err, signal)) return result;
      throw new InboxUnavailableError(`inbox: GetQueueUrl ${this.options.queueName} failed: ${(err as Error).message}`, { cause: err });
    }
    if (queueUrl === undefined) return { ...result, queueMissing: true };

    while (result.receives < this.maxReceives && !signal?.aborted) {
      let messages: Message[];
      try {
        const out = await this.options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: MAX_MESSAGES_PER_RECEIVE,
            WaitTimeSeconds: this.waitTimeSeconds,
            ...(this.options.visibilityTimeoutSeconds !== undefined ? { VisibilityTimeout: this.options.visibilityTimeoutSeconds } : {}),
          }),
          { abortSignal: signal },
        );
        messages = out.Messages ?? [];
      } catch (err) {
        if (isAbort(err, signal)) break;
        if (isQueueMissing(err)) {
          // Deleted under us, or a URL given for a queue not created yet: nothing to read.
          if (this.options.queueName !== undefined) this.queueUrl = undefined;
          return { ...result, queueMissing: true };
        }
        throw new InboxUnavailableError(`inbox: ReceiveMessage failed: ${(err as Error).message}`, { cause: err });
      }
      result.receives += 1;
      if (messages.length === 0) break;
      result.received += messages.length;

      const notifications: NotificationEnvelope[] = [];
      const toDelete: Message[] = [];
      for (const m of messages) {
        const parsed = parseNotification(m.Body ?? '', 'inbox', m.MessageId);
        if (parsed.ok) {
          notifications.push(parsed.notification);
          toDelete.push(m);
        } else {
          result.invalid += 1;
          handlers.error(parsed.error);
          if ((this.options.invalidMessages ?? 'delete') === 'delete') toDelete.push(m);
        }
      }
      // A fold that rejects (the store could not commit) ends the drain before the delete.
      if (notifications.length > 0) await handlers.fold(notifications);
      result.folded += notifications.length;
      // Not aborted by `signal`: what was folded is deleted even while the client stops.
      const { deleted, failed } = await this.deleteBatch(queueUrl, toDelete, handlers);
      result.deleted += deleted;
      result.deleteFailed += failed;
    }
    return result;
  }

  /**
   * DeleteMessageBatch of what was folded. Entries that failed on the service side are tried once
   * more; whatever still fails is reported (it comes back after the visibility timeout, harmlessly).
   */
  private async deleteBatch(queueUrl: string, messages: Message[], handlers: DrainHandlers): Promise<{ deleted: number; failed: number }> {
    const byId = new Map<string, Message>();
    const entries: DeleteMessageBatchRequestEntry[] = [];
    messages.forEach((m, i) => {
      if (m.ReceiptHandle === undefined) return;
      const id = `m${i}`;
      byId.set(id, m);
      entries.push({ Id: id, ReceiptHandle: m.ReceiptHandle });
    });
    if (entries.length === 0) return { deleted: 0, failed: 0 };

    type Failure = { Id?: string; Code?: string; Message?: string; SenderFault?: boolean };
    const attempt = async (batch: DeleteMessageBatchRequestEntry[]): Promise<{ deleted: number; failures: Failure[] }> => {
      try {
        const out = await this.options.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: batch }));
        return { deleted: out.Successful?.length ?? 0, failures: out.Failed ?? [] };
      } catch (err) {
        const e = err as Error;
        return { deleted: 0, failures: batch.map((b) => ({ Id: b.Id, Code: e.name, Message: e.message, SenderFault: false })) };
      }
    };
    const first = await attempt(entries);
    let deleted = first.deleted;
    let failures = first.failures;
    const retryIds = new Set(failures.filter((f) => !f.SenderFault).map((f) => f.Id));
    if (retryIds.size > 0) {
      const second = await attempt(entries.filter((e) => retryIds.has(e.Id)));
      deleted += second.deleted;
      failures = [...failures.filter((f) => f.SenderFault), ...second.failures];
    }
    if (failures.length > 0) {
      const details = failures.map((f) => ({ sqsMessageId: f.Id ? byId.get(f.Id)?.MessageId : undefined, code: f.Code, message: f.Message }));
      handlers.error(
        new InboxDeleteError(
          `inbox: ${failures.length} of ${entries.length} message(s) could not be deleted (${details.map((d) => d.code).join(', ')}); they will be received again and ignored by the fold`,
          details,
        ),
      );
    }
    return { deleted, failed: failures.length };
  }
}
