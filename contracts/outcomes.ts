import { z } from 'zod';
import { QUARANTINE_KEY_CHARS, QUARANTINE_REASON_CHARS } from './enrichment';
import {
  ConversationIdSchema,
  DeduplicationIdSchema,
  FIELD_LIMITS,
  IsoDateTimeSchema,
  MessageIdSchema,
  TenantIdSchema,
  TopicSchema,
} from './envelope';

/**
 * The outcome of every workflow entry (docs/workflow-contract.md "Outcomes"): the last state of each
 * entry path sends one outcome message to the outcomes queue; an EventBridge Pipe takes that queue to
 * the stack's event bus, where each message becomes one event with
 *
 * - `Source` = OUTCOME_EVENT_SOURCE,
 * - `DetailType` = the body's `detailType` (one of OUTCOME_DETAIL_TYPES),
 * - `Detail` = the body itself.
 *
 * Other teams subscribe with their own rules (e.g. `{ "source": ["convo-notify"], "detail-type":
 * ["Notification Fanned Out"], "detail": { "kind": ["created"], "counts": { "online": [{ "numeric":
 * ["=", 0] }] } } }` for "a customer message nobody online saw").
 *
 * An outcome carries identity, routing and counts only: never the preview, the sender or any other
 * customer text, and every field is bounded (MAX_OUTCOME_BYTES).
 *
 * Delivery is at least once: a batch the Pipe retries sends the outcomes of its entries again, and a
 * replayed record sends a new outcome (another execution id). Consumers deduplicate on
 * `(detailType, deduplicationId)` (quarantined: `(detailType, streamSequence)`).
 */

/** The `source` of every outcome event on the bus. */
export const OUTCOME_EVENT_SOURCE = 'convo-notify';

/** The version of the outcome body; a consumer rejects a version it does not know. */
export const OUTCOME_VERSION = 1;

/** The detail types, one per way an entry ends. */
export const OUTCOME_DETAIL_TYPES = {
  /** The notification reached at least one device (pushed and/or inboxed). */
  fannedOut: 'Notification Fanned Out',
  /** NormalizeBatch could not make a notification of the record; it is in the quarantine queue. */
  quarantined: 'Notification Quarantined',
  /** The audience had no active device: nobody will see the message; it is in the unrouted queue. */
  unrouted: 'Notification Unrouted',
} as const;
export type OutcomeDetailType = (typeof OUTCOME_DETAIL_TYPES)[keyof typeof OUTCOME_DETAIL_TYPES];
export const OUTCOME_DETAIL_TYPE_VALUES = Object.values(OUTCOME_DETAIL_TYPES) as [OutcomeDetailType, ...OutcomeDetailType[]];

/**
 * The outcomes queue of a deployment: a standard queue (not FIFO). Outcomes of different entries are
 * independent (no order to keep), the workflow's send needs no group or deduplication id, and a
 * FIFO deduplication window (5 minutes) would not make delivery exactly once anyway (replays,
 * retries later than that): consumers deduplicate as described above.
 */
export const outcomesQueueName = (prefix: string): string => `${prefix}-outcomes`;

/** The event bus of a deployment the outcome events are put on (the stack's own, not `default`). */
export const outcomeEventBusName = (prefix: string): string => `${prefix}-events`;

/** `message.created` → `created`: the outcome's kind names the event without the `message.` prefix. */
export const OUTCOME_KINDS = ['created', 'handled'] as const;
export const OutcomeKindSchema = z.enum(OUTCOME_KINDS);
export type OutcomeKind = z.infer<typeof OutcomeKindSchema>;

/**
 * Largest count the schema accepts: far above any audience (pages of at most 500 devices), it keeps
 * a count's JSON at 7 digits or fewer.
 */
export const MAX_OUTCOME_COUNT = 9_999_999;
const CountSchema = z.number().int().min(0).max(MAX_OUTCOME_COUNT);

/**
 * Summed over every recipient page of the entry.
 * - devices: devices the recipients query returned;
 * - online: devices whose presence said online (0 when the presence lookup failed: nobody known online);
 * - pushed: IoT pushes that succeeded; pushFailures: online devices whose push failed (they still got
 *   the inbox message);
 * - inboxed: inbox sends that succeeded (every device, or the execution fails).
 */
export const OutcomeCountsSchema = z.strictObject({
  devices: CountSchema,
  online: CountSchema,
  pushed: CountSchema,
  pushFailures: CountSchema,
  inboxed: CountSchema,
});
export type OutcomeCounts = z.infer<typeof OutcomeCountsSchema>;

/** The counts of an unrouted entry, and the start of every sum. */
export const ZERO_OUTCOME_COUNTS: OutcomeCounts = { devices: 0, online: 0, pushed: 0, pushFailures: 0, inboxed: 0 };

/**
 * Step Functions execution ARNs: `arn:<partition>:states:<region>:<account>:express:<machine>:<name>:<id>`
 * (machine and execution names up to 80 characters each); the local runtime's ids are shorter.
 */
export const EXECUTION_ID_CHARS = 512;
const ExecutionIdSchema = z.string().min(1).max(EXECUTION_ID_CHARS);

/** `notificationIdOf`: each id URI-encoded (up to 3 characters per character) plus `/` and `#handled`. */
const NOTIFICATION_ID_CHARS = 3 * (FIELD_LIMITS.conversationId + FIELD_LIMITS.messageId) + '/#handled'.length;

/** A notification entry's outcome: fanned out, or unrouted (then every count is 0). */
export const NotificationOutcomeSchema = z.strictObject({
  version: z.literal(OUTCOME_VERSION),
  detailType: z.enum([OUTCOME_DETAIL_TYPES.fannedOut, OUTCOME_DETAIL_TYPES.unrouted]),
  notificationId: z.string().min(1).max(NOTIFICATION_ID_CHARS),
  deduplicationId: DeduplicationIdSchema,
  tenantId: TenantIdSchema,
  conversationId: ConversationIdSchema,
  messageId: MessageIdSchema,
  kind: OutcomeKindSchema,
  topic: TopicSchema,
  /** The message's createdAt: how long the customer has been waiting is measured from it. */
  createdAt: IsoDateTimeSchema,
  /** Present for `handled` only. */
  handledAt: IsoDateTimeSchema.optional(),
  counts: OutcomeCountsSchema,
  /** `$$.Execution.Id` of the execution that ran the entry. */
  executionId: ExecutionIdSchema,
});
export type NotificationOutcome = z.infer<typeof NotificationOutcomeSchema>;

/**
 * A quarantined entry's outcome: what identity is known (the item's keys, each possibly absent), the
 * field and the reason; never the excerpt of the record. No tenant: the record was not readable
 * enough to say.
 */
export const QuarantineOutcomeSchema = z.strictObject({
  version: z.literal(OUTCOME_VERSION),
  detailType: z.literal(OUTCOME_DETAIL_TYPES.quarantined),
  keys: z.strictObject({
    conversationId: z.string().max(QUARANTINE_KEY_CHARS).optional(),
    messageId: z.string().max(QUARANTINE_KEY_CHARS).optional(),
  }),
  field: z.string().max(200),
  reason: z.string().max(QUARANTINE_REASON_CHARS),
  eventName: z.string().max(32),
  eventID: z.string().max(128),
  streamSequence: z.string().max(128),
  executionId: ExecutionIdSchema,
});
export type QuarantineOutcome = z.infer<typeof QuarantineOutcomeSchema>;

/**
 * Any outcome body, as the outcomes queue holds it and as the event's detail carries it. Strict: a
 * field the contract does not name (a preview, a sender) is an error, never passed on.
 */
export const OutcomeSchema = z.discriminatedUnion('detailType', [NotificationOutcomeSchema, QuarantineOutcomeSchema]);
export type Outcome = z.infer<typeof OutcomeSchema>;

/**
 * Upper bound of one outcome's JSON in bytes, whatever the entry held (every string at its longest
 * and made of characters JSON escapes to 6 bytes): test/contracts/outcomes.test.ts builds the worst
 * case of both shapes and checks it. Far inside an SQS message and an EventBridge entry (256 KB).
 */
export const MAX_OUTCOME_BYTES = 16 * 1024;

/** An outcome event as the bus delivers it to a rule's target (the fields a consumer reads). */
export interface OutcomeEvent<T extends Outcome = Outcome> {
  readonly source: typeof OUTCOME_EVENT_SOURCE;
  readonly 'detail-type': T['detailType'];
  readonly detail: T;
  readonly id?: string;
  readonly time?: string;
}

/**
 * How the Pipe (outcomes queue → bus) shapes each SQS message, for the deployed pipe and the local
 * one: the event's DetailType is read from the body (a dynamic path parameter) and the detail is the
 * body (`<$.body>` as the input template keeps the body's JSON as is).
 */
export const OUTCOME_PIPE_DETAIL_TYPE_PATH = '$.body.detailType';
export const OUTCOME_PIPE_INPUT_TEMPLATE = '<$.body>';
