import type { NotificationEnvelope } from '../contracts/envelope';

/**
 * What the AgentClient needs of an inbox: drain it. Two implementations: `ApiInbox` (the agent API,
 * what browsers use) and `Inbox` from the `aws` entry (SQS directly, for trusted server-side
 * consumers holding IAM credentials).
 */
export interface InboxReader {
  drain(handlers: DrainHandlers, signal?: AbortSignal): Promise<DrainResult>;
}

export interface DrainHandlers {
  /**
   * Stores and folds one batch of valid notifications. The batch is acked (deleted from the inbox)
   * only after this resolves: if it rejects, the drain stops with that error and nothing of the
   * batch is acked, so the inbox delivers it again.
   */
  fold(notifications: NotificationEnvelope[]): void | Promise<void>;
  /** Invalid bodies and failed acks, reported as they happen (the drain goes on). */
  error(err: Error): void;
}

export interface DrainResult {
  /** The queue does not exist yet: the workflow creates it with the first notification for this device. */
  queueMissing: boolean;
  receives: number;
  received: number;
  folded: number;
  invalid: number;
  deleted: number;
  deleteFailed: number;
}

export const emptyDrainResult = (): DrainResult => ({ queueMissing: false, receives: 0, received: 0, folded: 0, invalid: 0, deleted: 0, deleteFailed: 0 });
