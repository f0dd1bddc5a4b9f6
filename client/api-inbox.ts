import type { NotificationEnvelope } from '../contracts/envelope';
import type { AgentApi } from './api';
import { emptyDrainResult, type DrainHandlers, type DrainResult, type InboxReader } from './drain';
import { InboxDeleteError, InboxUnavailableError, InvalidClientOptionsError, NotAuthorizedError } from './errors';
import { parseNotification } from './parse';

export interface ApiInboxOptions {
  api: AgentApi;
  /** The device whose inbox this is (the API only opens the caller's own devices' inboxes). */
  clientId: string;
  /** At most this many reads per drain (10 messages each), so a drain always ends. Default 100. */
  maxReceivesPerDrain?: number;
}

/**
 * A device's inbox through the agent API: `GET /devices/{clientId}/inbox` until it comes back
 * empty, each batch stored and folded (`handlers.fold`) before `POST …/inbox/ack` takes it out of
 * the queue. A store that fails ends the drain with nothing of that batch acked: the messages come
 * back after the visibility timeout (60 s). Invalid bodies are reported and acked (they never
 * become valid, and in a FIFO queue they would hold back their conversation).
 */
export class ApiInbox implements InboxReader {
  private readonly maxReceives: number;

  constructor(private readonly options: ApiInboxOptions) {
    const max = options.maxReceivesPerDrain ?? 100;
    if (!Number.isInteger(max) || max < 1) throw new InvalidClientOptionsError(`inbox.maxReceivesPerDrain must be a positive integer, got ${max}`);
    this.maxReceives = max;
  }

  async drain(handlers: DrainHandlers, signal?: AbortSignal): Promise<DrainResult> {
    const result = emptyDrainResult();
    while (result.receives < this.maxReceives && !signal?.aborted) {
      let messages;
      try {
        messages = (await this.options.api.readInbox(this.options.clientId, signal)).messages;
      } catch (err) {
        if (signal?.aborted || (err as Error).name === 'AbortError') break;
        if (err instanceof NotAuthorizedError) throw err;
        throw new InboxUnavailableError(`inbox: reading ${this.options.clientId} failed: ${(err as Error).message}`, { cause: err });
      }
      result.receives += 1;
      if (messages.length === 0) break;
      result.received += messages.length;

      const notifications: NotificationEnvelope[] = [];
      for (const m of messages) {
        const parsed = parseNotification(m.body, 'inbox', m.messageId);
        if (parsed.ok) notifications.push(parsed.notification);
        else {
          result.invalid += 1;
          handlers.error(parsed.error);
        }
      }
      if (notifications.length > 0) await handlers.fold(notifications);
      result.folded += notifications.length;
      const { deleted, failed } = await this.ack(messages, handlers);
      result.deleted += deleted;
      result.deleteFailed += failed;
    }
    return result;
  }

  private async ack(messages: readonly { messageId: string; receiptHandle: string }[], handlers: DrainHandlers): Promise<{ deleted: number; failed: number }> {
    const byHandle = new Map(messages.map((m) => [m.receiptHandle, m.messageId]));
    try {
      const out = await this.options.api.ackInbox(this.options.clientId, [...byHandle.keys()]);
      if (out.failed.length > 0) {
        handlers.error(
          new InboxDeleteError(
            `inbox: ${out.failed.length} of ${byHandle.size} message(s) could not be acked (${out.failed.map((f) => f.code).join(', ')}); they will be received again and ignored by the fold`,
            out.failed.map((f) => ({ sqsMessageId: byHandle.get(f.receiptHandle), code: f.code })),
          ),
        );
      }
      return { deleted: out.deleted, failed: out.failed.length };
    } catch (err) {
      if (err instanceof NotAuthorizedError) throw err;
      handlers.error(
        new InboxDeleteError(`inbox: the ack of ${byHandle.size} message(s) failed (${(err as Error).message}); they will be received again and ignored by the fold`, [...byHandle.values()].map((id) => ({ sqsMessageId: id, code: (err as Error).name })), { cause: err }),
      );
      return { deleted: 0, failed: byHandle.size };
    }
  }
}
