import { DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { PutEventsCommand, type EventBridgeClient, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { AWS_LIMITS } from '../../contracts/limits';
import { OUTCOME_EVENT_SOURCE } from '../../contracts/outcomes';

/**
 * The local half of the outcomes Pipe (outcomes queue → event bus, `infra/constructs/outcomes.ts`):
 * polls the queue with SQS ReceiveMessage, as a Pipe with an SQS source does, makes each message one
 * PutEvents entry the way the deployed pipe's target parameters say (`contracts/outcomes.ts`:
 * Source `convo-notify`, DetailType from the body's `detailType`, Detail the body), and deletes a
 * message only once its entry was accepted. Everything else is kept on the queue, where it becomes
 * visible again after the visibility timeout and is tried again (on AWS the queue's redrive policy
 * ends that in its DLQ): a body that is not a JSON object with a string `detailType`, an entry the
 * bus refused, a PutEvents or DeleteMessage call that failed. The loop never dies of one failed call.
 *
 * Every message received is counted once per receive: `received = put + kept`.
 *
 * It long-polls as a Pipe does (a receive answers as soon as a message arrives), so an idle pipe
 * costs one ReceiveMessage per `waitTimeSeconds`, not a busy loop.
 */

export interface OutcomesPipeOptions {
  readonly sqs: SQSClient;
  readonly eventBridge: EventBridgeClient;
  readonly queueUrl: string;
  readonly eventBusName: string;
  /** Messages per ReceiveMessage (and PutEvents) call, at most 10. @default 10 */
  readonly batchSize?: number;
  /** Long-poll wait of each receive (AWS Pipes wait 20 s). @default 5 */
  readonly waitTimeSeconds?: number;
  /** How long a kept message stays invisible before it is tried again. @default 30 */
  readonly visibilityTimeoutSeconds?: number;
  /** Pause after a failed receive, so that an unavailable queue is not hammered. @default 500 */
  readonly errorBackoffMs?: number;
  /**
   * Messages on the queue (visible or in flight), for `drain()`. The local stack answers it in
   * process, so that waiting for the pipe adds no request to what the endpoints count (the bench
   * prices those). @default GetQueueAttributes through `sqs`
   */
  readonly queueDepth?: () => number | Promise<number>;
  readonly log?: (message: string) => void;
}

export interface OutcomesPipeStats {
  /** Messages received (a message received again after being kept counts again). */
  received: number;
  /** Messages whose event the bus accepted (and that were deleted, or are being). */
  put: number;
  /** Messages left on the queue: unmappable, refused by the bus, or a call failed. */
  kept: number;
  /** Accepted messages whose delete failed: they will come back and be put again (at least once). */
  deleteFailures: number;
}

/** Why a message cannot become an event, or its entry. */
const entryOf = (message: Message, eventBusName: string): PutEventsRequestEntry | string => {
  let body: unknown;
  try {
    body = JSON.parse(message.Body ?? '');
  } catch {
    return 'the body is not JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body is not a JSON object';
  const detailType = (body as { detailType?: unknown }).detailType;
  if (typeof detailType !== 'string' || detailType === '') return 'the body has no string detailType';
  return { Source: OUTCOME_EVENT_SOURCE, DetailType: detailType, Detail: message.Body, EventBusName: eventBusName };
};

export class OutcomesPipe {
  readonly stats: OutcomesPipeStats = { received: 0, put: 0, kept: 0, deleteFailures: 0 };
  private running = false;
  private loop: Promise<void> | undefined;
  private abort = new AbortController();
  /** Receives whose messages are being handled. */
  private processing = 0;
  /** Messages left on the queue on purpose (kept, or put but not deleted), by message id. */
  private readonly held = new Set<string>();

  constructor(private readonly options: OutcomesPipeOptions) {
    const batchSize = options.batchSize ?? 10;
    if (batchSize < 1 || batchSize > AWS_LIMITS.eventBridgePutEventsEntries) {
      throw new RangeError(`batchSize must be 1 to ${AWS_LIMITS.eventBridgePutEventsEntries}, got ${batchSize}`);
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  async close(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
  }

  /**
   * Resolves once every message on the queue has been handled: nothing is being handled and the
   * queue holds only what this pipe left there on purpose. A message taken by a receive whose answer
   * has not arrived yet is on the queue (in flight) and not held, so it is waited for.
   */
  async drain(pollMs = 20): Promise<void> {
    while (this.running) {
      if (this.processing === 0 && (await this.onQueue()) <= this.held.size && this.processing === 0) return;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Messages on the queue, visible or in flight; unknown (infinite) while SQS cannot say. */
  private async onQueue(): Promise<number> {
    try {
      if (this.options.queueDepth) return await this.options.queueDepth();
      const { Attributes: a = {} } = await this.options.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: this.options.queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
    } catch {
      return Infinity;
    }
  }

  /** One receive and what follows it; answers how many messages it received. */
  async pollOnce(signal?: AbortSignal): Promise<number> {
    const { sqs, queueUrl } = this.options;
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: this.options.batchSize ?? 10,
        WaitTimeSeconds: this.options.waitTimeSeconds ?? 5,
        VisibilityTimeout: this.options.visibilityTimeoutSeconds ?? 30,
      }),
      { abortSignal: signal },
    );
    const messages = received.Messages ?? [];
    this.stats.received += messages.length;
    if (messages.length === 0) return 0;
    this.processing += 1;
    try {
      await this.handle(messages);
    } finally {
      this.processing -= 1;
    }
    return messages.length;
  }

  private async handle(messages: Message[]): Promise<void> {
    const mapped: { message: Message; entry: PutEventsRequestEntry }[] = [];
    for (const message of messages) {
      const entry = entryOf(message, this.options.eventBusName);
      if (typeof entry === 'string') this.keep([message], `message ${message.MessageId} kept: ${entry}`);
      else mapped.push({ message, entry });
    }
    if (mapped.length === 0) return;

    let accepted: Message[];
    try {
      const answer = await this.options.eventBridge.send(new PutEventsCommand({ Entries: mapped.map((m) => m.entry) }));
      const results = answer.Entries ?? [];
      accepted = mapped.filter((_m, i) => results[i]?.EventId !== undefined).map((m) => m.message);
      mapped.forEach((m, i) => {
        const result = results[i];
        if (result?.EventId === undefined) {
          this.keep([m.message], `message ${m.message.MessageId} kept: the bus refused it (${result?.ErrorCode ?? 'no result'}: ${result?.ErrorMessage ?? ''})`);
        }
      });
    } catch (err) {
      this.keep(
        mapped.map((m) => m.message),
        `${mapped.length} message(s) kept: PutEvents failed: ${(err as Error).name}: ${(err as Error).message}`,
      );
      return;
    }
    this.stats.put += accepted.length;
    for (const message of accepted) this.held.delete(message.MessageId ?? '');
    if (accepted.length > 0) await this.delete(accepted);
  }

  private keep(messages: Message[], why: string): void {
    this.stats.kept += messages.length;
    for (const message of messages) this.held.add(message.MessageId ?? '');
    this.log(`outcomes pipe: ${why}`);
  }

  private async delete(messages: Message[]): Promise<void> {
    try {
      const answer = await this.options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      const failed = answer.Failed ?? [];
      for (const f of failed) this.held.add(messages[Number(f.Id)]?.MessageId ?? '');
      if (failed.length > 0) {
        this.stats.deleteFailures += failed.length;
        this.log(`outcomes pipe: ${failed.length} delivered message(s) could not be deleted and will be put again`);
      }
    } catch (err) {
      this.stats.deleteFailures += messages.length;
      for (const message of messages) this.held.add(message.MessageId ?? '');
      this.log(`outcomes pipe: delete failed (${(err as Error).message}); ${messages.length} delivered message(s) will be put again`);
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.pollOnce(this.abort.signal);
      } catch (err) {
        if (!this.running) break;
        this.log(`outcomes pipe: receive failed: ${(err as Error).name}: ${(err as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, this.options.errorBackoffMs ?? 500));
      }
    }
  }

  private log(message: string): void {
    (this.options.log ?? (() => undefined))(message);
  }
}
