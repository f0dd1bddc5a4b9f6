import { QUARANTINE_KEY_CHARS, QUARANTINE_REASON_CHARS } from '../../contracts/enrichment';
import { FIELD_LIMITS } from '../../contracts/envelope';
import { AWS_LIMITS, payloadBytes } from '../../contracts/limits';
import {
  EXECUTION_ID_CHARS,
  MAX_OUTCOME_BYTES,
  MAX_OUTCOME_COUNT,
  OUTCOME_DETAIL_TYPES,
  OUTCOME_DETAIL_TYPE_VALUES,
  OutcomeSchema,
  outcomesQueueName,
  type NotificationOutcome,
  type QuarantineOutcome,
} from '../../contracts/outcomes';

/** A character JSON escapes to six bytes (`\u0001`): the worst a bounded string can grow to. */
const WORST = '\u0001';
/** Printable ASCII that encodeURIComponent makes three characters and JSON keeps at one byte each. */
const WORST_ID = '%';

/** An ISO-8601 time with an offset and as many fraction digits as the bound leaves. */
const LONGEST_TIMESTAMP = `2026-11-24T10:00:00.${'1'.repeat(FIELD_LIMITS.timestamp - '2026-11-24T10:00:00.+05:30'.length)}+05:30`;

const worstNotificationOutcome = (): NotificationOutcome => ({
  version: 1,
  detailType: OUTCOME_DETAIL_TYPES.unrouted,
  notificationId: encodeURIComponent(WORST_ID.repeat(FIELD_LIMITS.conversationId)) + '/' + encodeURIComponent(WORST_ID.repeat(FIELD_LIMITS.messageId)) + '#handled',
  deduplicationId: 'f'.repeat(64),
  tenantId: WORST.repeat(FIELD_LIMITS.tenantId),
  conversationId: '"'.repeat(FIELD_LIMITS.conversationId),
  messageId: '\\'.repeat(FIELD_LIMITS.messageId),
  kind: 'handled',
  topic: 'sender',
  createdAt: LONGEST_TIMESTAMP,
  handledAt: LONGEST_TIMESTAMP,
  counts: { devices: MAX_OUTCOME_COUNT, online: MAX_OUTCOME_COUNT, pushed: MAX_OUTCOME_COUNT, pushFailures: MAX_OUTCOME_COUNT, inboxed: MAX_OUTCOME_COUNT },
  executionId: WORST.repeat(EXECUTION_ID_CHARS),
});

const worstQuarantineOutcome = (): QuarantineOutcome => ({
  version: 1,
  detailType: OUTCOME_DETAIL_TYPES.quarantined,
  keys: { conversationId: WORST.repeat(QUARANTINE_KEY_CHARS), messageId: WORST.repeat(QUARANTINE_KEY_CHARS) },
  field: WORST.repeat(200),
  reason: WORST.repeat(QUARANTINE_REASON_CHARS),
  eventName: WORST.repeat(32),
  eventID: WORST.repeat(128),
  streamSequence: WORST.repeat(128),
  executionId: WORST.repeat(EXECUTION_ID_CHARS),
});

describe('outcome contract', () => {
  it('keeps the largest valid outcome of either shape within MAX_OUTCOME_BYTES, far inside an SQS message and an EventBridge entry', () => {
    const notification = worstNotificationOutcome();
    const quarantine = worstQuarantineOutcome();
    expect(OutcomeSchema.parse(notification)).toEqual(notification);
    expect(OutcomeSchema.parse(quarantine)).toEqual(quarantine);
    expect(payloadBytes(notification)).toBeLessThanOrEqual(MAX_OUTCOME_BYTES);
    expect(payloadBytes(quarantine)).toBeLessThanOrEqual(MAX_OUTCOME_BYTES);
    expect(MAX_OUTCOME_BYTES).toBeLessThan(AWS_LIMITS.sqsMessageBytes / 8);
  });

  it('rejects a string one character over its bound, so the bound above holds for whatever is accepted', () => {
    expect(OutcomeSchema.safeParse({ ...worstNotificationOutcome(), tenantId: 'x'.repeat(FIELD_LIMITS.tenantId + 1) }).success).toBe(false);
    expect(OutcomeSchema.safeParse({ ...worstQuarantineOutcome(), reason: 'x'.repeat(QUARANTINE_REASON_CHARS + 1) }).success).toBe(false);
    expect(OutcomeSchema.safeParse({ ...worstQuarantineOutcome(), executionId: 'x'.repeat(EXECUTION_ID_CHARS + 1) }).success).toBe(false);
    expect(OutcomeSchema.safeParse({ ...worstNotificationOutcome(), counts: { ...worstNotificationOutcome().counts, devices: MAX_OUTCOME_COUNT + 1 } }).success).toBe(false);
  });

  it('refuses customer text or any field the contract does not name (preview, sender, excerpt)', () => {
    expect(OutcomeSchema.safeParse({ ...worstNotificationOutcome(), preview: 'my card was charged twice' }).success).toBe(false);
    expect(OutcomeSchema.safeParse({ ...worstNotificationOutcome(), senderId: 'customer-1' }).success).toBe(false);
    expect(OutcomeSchema.safeParse({ ...worstQuarantineOutcome(), excerpt: '{"body":"..."}' }).success).toBe(false);
  });

  it('tells the shapes apart by detailType and refuses an unknown version or detail type', () => {
    expect(OutcomeSchema.safeParse({ ...worstQuarantineOutcome(), detailType: OUTCOME_DETAIL_TYPES.fannedOut }).success).toBe(false);
    expect(OutcomeSchema.safeParse({ ...worstNotificationOutcome(), version: 2 }).success).toBe(false);
    expect(OutcomeSchema.safeParse({ ...worstNotificationOutcome(), detailType: 'Notification Lost' }).success).toBe(false);
    expect(OUTCOME_DETAIL_TYPE_VALUES).toEqual(['Notification Fanned Out', 'Notification Quarantined', 'Notification Unrouted']);
  });

  it('names the outcomes queue <prefix>-outcomes, a standard queue within the SQS name limit', () => {
    expect(outcomesQueueName('convo-notify')).toBe('convo-notify-outcomes');
    expect(outcomesQueueName('convo-notify')).not.toMatch(/\.fifo$/);
  });
});
