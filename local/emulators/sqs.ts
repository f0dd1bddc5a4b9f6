import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AWS_LIMITS, payloadBytes } from '../../contracts/limits';
import { QUEUE_NAME_PART_PATTERN } from '../../contracts/naming';
import { handlePreflight, readBody, sendJson } from './http-util';

/**
 * A local SQS endpoint speaking the AWS JSON 1.0 protocol that @aws-sdk/client-sqs uses, with just
 * the actions convo-notify needs. FIFO queues keep per-group order (a group with a message in
 * flight is held back), deduplicate for 5 minutes, and every queue honours its retention period.
 * Messages over the size limit (body plus attributes) are refused with the error SQS gives, and an
 * outage can be switched on to see what the flow does when SQS answers 503.
 */

export class SqsError extends Error {
  constructor(
    /** The `__type` shape name the SDK turns into the error's name. */
    public readonly code: string,
    message: string,
    /** The legacy query error code SQS also sends in `x-amzn-query-error`. */
    public readonly queryCode: string,
    public readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }

  /** Who is at fault, as SQS says in `x-amzn-query-error`. */
  get fault(): 'Sender' | 'Receiver' {
    return this.status >= 500 ? 'Receiver' : 'Sender';
  }
}

type MessageAttributeValue = { DataType?: string; StringValue?: string; BinaryValue?: string };

export interface SendMessageInput {
  QueueUrl?: string;
  MessageBody?: string;
  MessageAttributes?: Record<string, MessageAttributeValue>;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
  DelaySeconds?: number;
}

/**
 * The size SQS counts against the message limit: the body, and for each attribute its name, its
 * data type and its value (binary values decoded from the base64 the JSON protocol carries).
 */
export const sqsMessageBytes = (body: string, attributes: Record<string, MessageAttributeValue> = {}): number =>
  Object.entries(attributes).reduce(
    (total, [name, a]) =>
      total +
      payloadBytes(name) +
      payloadBytes(a.DataType ?? '') +
      (a.StringValue !== undefined ? payloadBytes(a.StringValue) : a.BinaryValue !== undefined ? Buffer.from(a.BinaryValue, 'base64').length : 0),
    payloadBytes(body),
  );

/** How long a FIFO queue remembers a deduplication id. */
export const DEDUP_WINDOW_MS = 5 * 60 * 1000;
const DEFAULT_RETENTION_S = 345_600;
const DEFAULT_VISIBILITY_S = 30;
/** SQS caps a visibility timeout at 12 hours. */
const MAX_VISIBILITY_S = 43_200;
/** How long SQS refuses the name of a deleted queue. */
export const QUEUE_NAME_REUSE_DELAY_MS = 60_000;

interface StoredMessage {
  messageId: string;
  body: string;
  md5: string;
  groupId?: string;
  sequenceNumber: string;
  sentAt: number;
  visibleAt: number;
  receiptHandle?: string;
  receiveCount: number;
  firstReceivedAt?: number;
}

interface Queue {
  name: string;
  url: string;
  fifo: boolean;
  attributes: Record<string, string>;
  createdAt: number;
  messages: StoredMessage[];
  dedup: Map<string, { messageId: string; sequenceNumber: string; at: number }>;
}

export interface LocalSqsOptions {
  /** Base URL the queue URLs are built on, e.g. `http://127.0.0.1:4566`; a function because the port may be known only after listen. */
  baseUrl: () => string;
  accountId?: string;
  now?: () => number;
  /** How often a long poll re-checks a queue, in milliseconds. @default 20 */
  pollIntervalMs?: number;
}

const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LocalSqs {
  private readonly queues = new Map<string, Queue>();
  /** Queue name → when it was deleted: SQS refuses the name again for 60 seconds. */
  private readonly deletedAt = new Map<string, number>();
  private readonly accountId: string;
  private readonly now: () => number;
  private readonly pollIntervalMs: number;
  private sequence = 0n;
  private closed = false;
  private outage = false;
  /** Every accepted send, for tests and the executions view. */
  readonly sent: { queueName: string; messageId: string; body: string; groupId?: string; duplicate: boolean; at: number }[] = [];

  constructor(private readonly options: LocalSqsOptions) {
    this.accountId = options.accountId ?? '000000000000';
    this.now = options.now ?? Date.now;
    this.pollIntervalMs = options.pollIntervalMs ?? 20;
  }

  /** Ends pending long polls (they answer empty) so a server can close promptly. */
  close(): void {
    this.closed = true;
  }

  /**
   * Fault injection: while on, every request is answered 503 ServiceUnavailable, as SQS answers
   * during a temporary failure of the service. Messages already stored are kept.
   */
  setOutage(down: boolean): void {
    this.outage = down;
  }

  queueUrl(name: string): string {
    return `${this.options.baseUrl()}/${this.accountId}/${name}`;
  }

  queueNames(): string[] {
    return [...this.queues.keys()].sort();
  }

  /** Messages currently stored (visible or in flight), for tests and the dashboard. */
  peek(name: string): { body: string; groupId?: string; inFlight: boolean }[] {
    const q = this.queues.get(name);
    if (!q) return [];
    this.expire(q);
    return q.messages.map((m) => ({ body: m.body, groupId: m.groupId, inFlight: m.visibleAt > this.now() }));
  }

  private queueFromUrl(url: unknown): Queue {
    if (typeof url !== 'string' || url.length === 0) {
      throw new SqsError('MissingParameter', 'The request must contain the parameter QueueUrl.', 'MissingParameter');
    }
    const name = url.split('/').pop() ?? '';
    const q = this.queues.get(name);
    if (!q) {
      throw new SqsError(
        'QueueDoesNotExist',
        'The specified queue does not exist.',
        'AWS.SimpleQueueService.NonExistentQueue',
      );
    }
    return q;
  }

  createQueue(input: { QueueName?: string; Attributes?: Record<string, string> }): { QueueUrl: string } {
    const name = input.QueueName;
    if (typeof name !== 'string') {
      throw new SqsError('MissingParameter', 'The request must contain the parameter QueueName.', 'MissingParameter');
    }
    const attributes = { ...(input.Attributes ?? {}) };
    const fifo = attributes.FifoQueue === 'true';
    const base = fifo ? name.replace(/\.fifo$/, '') : name;
    if (!QUEUE_NAME_PART_PATTERN.test(base) || name.length > AWS_LIMITS.sqsQueueNameChars || fifo !== name.endsWith('.fifo')) {
      throw new SqsError(
        'InvalidParameterValue',
        `Can only include alphanumeric characters, hyphens, or underscores. 1 to ${AWS_LIMITS.sqsQueueNameChars} in length; FIFO queue names end in .fifo: ${name}`,
        'InvalidParameterValue',
      );
    }
    const deletedAt = this.deletedAt.get(name);
    if (deletedAt !== undefined && this.now() - deletedAt < QUEUE_NAME_REUSE_DELAY_MS) {
      throw new SqsError(
        'QueueDeletedRecently',
        'You must wait 60 seconds after deleting a queue before you can create another with the same name.',
        'AWS.SimpleQueueService.QueueDeletedRecently',
      );
    }
    const existing = this.queues.get(name);
    if (existing) {
      const differs = Object.entries(attributes).some(([k, v]) => existing.attributes[k] !== v);
      if (differs) {
        throw new SqsError(
          'QueueNameExists',
          'A queue already exists with the same name and a different value for attribute(s).',
          'QueueAlreadyExists',
        );
      }
      return { QueueUrl: existing.url };
    }
    const queue: Queue = {
      name,
      url: this.queueUrl(name),
      fifo,
      attributes,
      createdAt: this.now(),
      messages: [],
      dedup: new Map(),
    };
    this.queues.set(name, queue);
    return { QueueUrl: queue.url };
  }

  /** Deletes the queue and its messages, as DeleteQueue does (the name is reusable after 60 s). */
  deleteQueue(input: { QueueUrl?: string }): Record<string, never> {
    const q = this.queueFromUrl(input.QueueUrl);
    this.queues.delete(q.name);
    this.deletedAt.set(q.name, this.now());
    return {};
  }

  getQueueUrl(input: { QueueName?: string }): { QueueUrl: string } {
    const q = input.QueueName ? this.queues.get(input.QueueName) : undefined;
    if (!q) {
      throw new SqsError(
        'QueueDoesNotExist',
        'The specified queue does not exist.',
        'AWS.SimpleQueueService.NonExistentQueue',
      );
    }
    return { QueueUrl: q.url };
  }

  /** The queue's MaximumMessageSize when it sets one, else SQS's limit. */
  private maximumMessageBytes(q: Queue): number {
    return Number(q.attributes.MaximumMessageSize ?? AWS_LIMITS.sqsMessageBytes);
  }

  sendMessage(input: SendMessageInput): { MessageId: string; MD5OfMessageBody: string; SequenceNumber?: string } {
    const q = this.queueFromUrl(input.QueueUrl);
    if (typeof input.MessageBody !== 'string' || input.MessageBody.length === 0) {
      throw new SqsError('MissingParameter', 'The request must contain the parameter MessageBody.', 'MissingParameter');
    }
    const limit = this.maximumMessageBytes(q);
    if (sqsMessageBytes(input.MessageBody, input.MessageAttributes) > limit) {
      throw new SqsError(
        'InvalidParameterValue',
        `One or more parameters are invalid. Reason: Message must be shorter than ${limit} bytes.`,
        'InvalidParameterValue',
      );
    }
    const now = this.now();
    const body = input.MessageBody;
    if (q.fifo) {
      if (!input.MessageGroupId) {
        throw new SqsError(
          'MissingParameter',
          'The request must contain the parameter MessageGroupId.',
          'MissingParameter',
        );
      }
      const dedupId =
        input.MessageDeduplicationId ?? (q.attributes.ContentBasedDeduplication === 'true' ? md5(body) : undefined);
      if (!dedupId) {
        throw new SqsError(
          'InvalidParameterValue',
          'The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly',
          'InvalidParameterValue',
        );
      }
      const seen = q.dedup.get(dedupId);
      if (seen && now - seen.at < DEDUP_WINDOW_MS) {
        this.sent.push({ queueName: q.name, messageId: seen.messageId, body, groupId: input.MessageGroupId, duplicate: true, at: Date.now() });
        return { MessageId: seen.messageId, MD5OfMessageBody: md5(body), SequenceNumber: seen.sequenceNumber };
      }
      const message = this.store(q, body, now, 0, input.MessageGroupId);
      q.dedup.set(dedupId, { messageId: message.messageId, sequenceNumber: message.sequenceNumber, at: now });
      return { MessageId: message.messageId, MD5OfMessageBody: message.md5, SequenceNumber: message.sequenceNumber };
    }
    const delay = (input.DelaySeconds ?? Number(q.attributes.DelaySeconds ?? 0)) * 1000;
    const message = this.store(q, body, now, delay);
    return { MessageId: message.messageId, MD5OfMessageBody: message.md5 };
  }

  /**
   * Up to 10 entries; the whole request counts against the same limit as one message
   * (BatchRequestTooLong), and each entry succeeds or fails on its own.
   */
  sendMessageBatch(input: { QueueUrl?: string; Entries?: (Omit<SendMessageInput, 'QueueUrl'> & { Id?: string })[] }) {
    const q = this.queueFromUrl(input.QueueUrl);
    const entries = input.Entries ?? [];
    if (entries.length === 0 || entries.length > 10) {
      throw new SqsError(
        entries.length === 0 ? 'EmptyBatchRequest' : 'TooManyEntriesInBatchRequest',
        entries.length === 0 ? 'There should be at least one SendMessageBatchRequestEntry in the request.' : `Maximum number of entries per request are 10. You have sent ${entries.length}.`,
        entries.length === 0 ? 'AWS.SimpleQueueService.EmptyBatchRequest' : 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
      );
    }
    const entryIds = entries.map((e) => e.Id ?? '');
    if (new Set(entryIds).size !== entryIds.length) {
      throw new SqsError('BatchEntryIdsNotDistinct', 'Two or more batch entries in the request have the same Id.', 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct');
    }
    const total = entries.reduce((sum, e) => sum + sqsMessageBytes(e.MessageBody ?? '', e.MessageAttributes), 0);
    const limit = this.maximumMessageBytes(q);
    if (total > limit) {
      throw new SqsError(
        'BatchRequestTooLong',
        `Batch requests cannot be longer than ${limit} bytes. You have sent ${total} bytes.`,
        'AWS.SimpleQueueService.BatchRequestTooLong',
      );
    }
    const Successful: { Id: string; MessageId: string; MD5OfMessageBody: string; SequenceNumber?: string }[] = [];
    const Failed: { Id: string; SenderFault: boolean; Code: string; Message: string }[] = [];
    for (const entry of entries) {
      const id = entry.Id ?? '';
      try {
        Successful.push({ Id: id, ...this.sendMessage({ ...entry, QueueUrl: q.url }) });
      } catch (err) {
        const e = err instanceof SqsError ? err : new SqsError('InternalError', (err as Error).message, 'InternalError', 500);
        Failed.push({ Id: id, SenderFault: e.fault === 'Sender', Code: e.queryCode, Message: e.message });
      }
    }
    return { Successful, Failed };
  }

  private store(q: Queue, body: string, now: number, delayMs: number, groupId?: string): StoredMessage {
    this.sequence += 1n;
    const message: StoredMessage = {
      messageId: randomUUID(),
      body,
      md5: md5(body),
      groupId,
      sequenceNumber: this.sequence.toString().padStart(20, '0'),
      sentAt: now,
      visibleAt: now + delayMs,
      receiveCount: 0,
    };
    q.messages.push(message);
    this.sent.push({ queueName: q.name, messageId: message.messageId, body, groupId, duplicate: false, at: Date.now() });
    return message;
  }

  private expire(q: Queue): void {
    const retentionMs = Number(q.attributes.MessageRetentionPeriod ?? DEFAULT_RETENTION_S) * 1000;
    const now = this.now();
    q.messages = q.messages.filter((m) => now - m.sentAt < retentionMs);
    for (const [id, d] of q.dedup) if (now - d.at >= DEDUP_WINDOW_MS) q.dedup.delete(id);
  }

  private take(q: Queue, max: number, visibilityMs: number) {
    this.expire(q);
    const now = this.now();
    const blockedGroups = new Set<string>();
    const taken: StoredMessage[] = [];
    for (const m of q.messages) {
      if (taken.length >= max) break;
      const inFlight = m.visibleAt > now;
      if (q.fifo && m.groupId !== undefined) {
        if (blockedGroups.has(m.groupId)) continue;
        if (inFlight) {
          // FIFO: nothing after an in-flight message of the same group may be delivered.
          blockedGroups.add(m.groupId);
          continue;
        }
      } else if (inFlight) {
        continue;
      }
      taken.push(m);
    }
    for (const m of taken) {
      m.visibleAt = now + visibilityMs;
      m.receiptHandle = randomUUID();
      m.receiveCount += 1;
      m.firstReceivedAt ??= now;
    }
    return taken;
  }

  async receiveMessage(input: {
    QueueUrl?: string;
    MaxNumberOfMessages?: number;
    WaitTimeSeconds?: number;
    VisibilityTimeout?: number;
  }) {
    const q = this.queueFromUrl(input.QueueUrl);
    const max = input.MaxNumberOfMessages ?? 1;
    if (!Number.isInteger(max) || max < 1 || max > 10) {
      throw new SqsError(
        'InvalidParameterValue',
        `Value ${max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10.`,
        'InvalidParameterValue',
      );
    }
    const waitMs = (input.WaitTimeSeconds ?? Number(q.attributes.ReceiveMessageWaitTimeSeconds ?? 0)) * 1000;
    const visibilityMs =
      (input.VisibilityTimeout ?? Number(q.attributes.VisibilityTimeout ?? DEFAULT_VISIBILITY_S)) * 1000;
    const deadline = Date.now() + waitMs;
    let taken = this.take(q, max, visibilityMs);
    while (taken.length === 0 && Date.now() < deadline && !this.closed) {
      await sleep(this.pollIntervalMs);
      taken = this.take(q, max, visibilityMs);
    }
    if (taken.length === 0) return {};
    return {
      Messages: taken.map((m) => ({
        MessageId: m.messageId,
        ReceiptHandle: m.receiptHandle,
        MD5OfBody: m.md5,
        Body: m.body,
        Attributes: {
          SentTimestamp: String(m.sentAt),
          ApproximateReceiveCount: String(m.receiveCount),
          ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
          ...(m.groupId !== undefined ? { MessageGroupId: m.groupId, SequenceNumber: m.sequenceNumber } : {}),
        },
      })),
    };
  }

  deleteMessage(input: { QueueUrl?: string; ReceiptHandle?: string }): Record<string, never> {
    const q = this.queueFromUrl(input.QueueUrl);
    const index = q.messages.findIndex((m) => m.receiptHandle !== undefined && m.receiptHandle === input.ReceiptHandle);
    if (index < 0) {
      throw new SqsError(
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${input.ReceiptHandle}" is not a valid receipt handle.`,
        'ReceiptHandleIsInvalid',
      );
    }
    q.messages.splice(index, 1);
    return {};
  }

  /** What `npm run replay` uses to hand a message it did not delete back at once (VisibilityTimeout 0). */
  changeMessageVisibility(input: { QueueUrl?: string; ReceiptHandle?: string; VisibilityTimeout?: number }): Record<string, never> {
    const q = this.queueFromUrl(input.QueueUrl);
    const timeout = input.VisibilityTimeout;
    if (timeout === undefined || !Number.isInteger(timeout) || timeout < 0 || timeout > MAX_VISIBILITY_S) {
      throw new SqsError(
        'InvalidParameterValue',
        `Value ${String(timeout)} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and ${MAX_VISIBILITY_S}.`,
        'InvalidParameterValue',
      );
    }
    const m = q.messages.find((x) => x.receiptHandle !== undefined && x.receiptHandle === input.ReceiptHandle);
    if (!m) {
      throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${input.ReceiptHandle}" is not a valid receipt handle.`, 'ReceiptHandleIsInvalid');
    }
    const now = this.now();
    if (m.visibleAt <= now) {
      throw new SqsError('MessageNotInflight', 'The message referred to is not in flight.', 'AWS.SimpleQueueService.MessageNotInflight');
    }
    m.visibleAt = now + timeout * 1000;
    return {};
  }

  deleteMessageBatch(input: { QueueUrl?: string; Entries?: { Id: string; ReceiptHandle: string }[] }) {
    const q = this.queueFromUrl(input.QueueUrl);
    const entries = input.Entries ?? [];
    if (entries.length === 0 || entries.length > 10) {
      throw new SqsError(
        entries.length === 0 ? 'EmptyBatchRequest' : 'TooManyEntriesInBatchRequest',
        'A batch request must contain between 1 and 10 entries.',
        entries.length === 0 ? 'AWS.SimpleQueueService.EmptyBatchRequest' : 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
      );
    }
    const Successful: { Id: string }[] = [];
    const Failed: { Id: string; SenderFault: boolean; Code: string; Message: string }[] = [];
    for (const e of entries) {
      try {
        this.deleteMessage({ QueueUrl: q.url, ReceiptHandle: e.ReceiptHandle });
        Successful.push({ Id: e.Id });
      } catch (err) {
        const code = err instanceof SqsError ? err.queryCode : 'InternalError';
        Failed.push({ Id: e.Id, SenderFault: true, Code: code, Message: (err as Error).message });
      }
    }
    return { Successful, Failed };
  }

  getQueueAttributes(input: { QueueUrl?: string; AttributeNames?: string[] }) {
    const q = this.queueFromUrl(input.QueueUrl);
    this.expire(q);
    const now = this.now();
    const all: Record<string, string> = {
      ...q.attributes,
      QueueArn: `arn:aws:sqs:us-east-1:${this.accountId}:${q.name}`,
      ApproximateNumberOfMessages: String(q.messages.filter((m) => m.visibleAt <= now).length),
      ApproximateNumberOfMessagesNotVisible: String(q.messages.filter((m) => m.visibleAt > now).length),
      CreatedTimestamp: String(Math.floor(q.createdAt / 1000)),
    };
    const names = input.AttributeNames ?? ['All'];
    const Attributes = names.includes('All')
      ? all
      : Object.fromEntries(names.filter((n) => n in all).map((n) => [n, all[n]]));
    return { Attributes };
  }

  private async dispatch(action: string, input: Record<string, unknown>): Promise<unknown> {
    switch (action) {
      case 'CreateQueue':
        return this.createQueue(input);
      case 'GetQueueUrl':
        return this.getQueueUrl(input);
      case 'DeleteQueue':
        return this.deleteQueue(input);
      case 'SendMessage':
        return this.sendMessage(input);
      case 'SendMessageBatch':
        return this.sendMessageBatch(input);
      case 'ReceiveMessage':
        return this.receiveMessage(input);
      case 'DeleteMessage':
        return this.deleteMessage(input);
      case 'ChangeMessageVisibility':
        return this.changeMessageVisibility(input);
      case 'DeleteMessageBatch':
        return this.deleteMessageBatch(input as { QueueUrl?: string; Entries?: { Id: string; ReceiptHandle: string }[] });
      case 'GetQueueAttributes':
        return this.getQueueAttributes(input);
      default:
        throw new SqsError(
          'UnknownOperationException',
          `${action} is not implemented by the local SQS endpoint`,
          'AWS.SimpleQueueService.UnsupportedOperation',
        );
    }
  }

  /** Node http request listener for the JSON 1.0 protocol (`X-Amz-Target: AmazonSQS.<Action>`). */
  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (handlePreflight(req, res)) return;
    const target = String(req.headers['x-amz-target'] ?? '');
    const action = target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : '';
    const contentType = 'application/x-amz-json-1.0';
    try {
      const raw = (await readBody(req)).toString('utf8');
      if (this.outage) {
        throw new SqsError('ServiceUnavailable', 'The request has failed due to a temporary failure of the server.', 'ServiceUnavailable', 503);
      }
      const input = raw.length > 0 ? (JSON.parse(raw) as Record<string, unknown>) : {};
      if (!action) {
        throw new SqsError('UnknownOperationException', 'Missing X-Amz-Target header', 'InvalidAction');
      }
      const output = await this.dispatch(action, input);
      sendJson(res, 200, output, contentType);
    } catch (err) {
      const e =
        err instanceof SqsError
          ? err
          : new SqsError('InternalError', (err as Error).message, 'InternalError', err instanceof SyntaxError ? 400 : 500);
      sendJson(res, e.status, { __type: `com.amazonaws.sqs#${e.code}`, message: e.message }, contentType, {
        'x-amzn-query-error': `${e.queryCode};${e.fault}`,
      });
    }
  };
}
