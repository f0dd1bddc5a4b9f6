import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { convertToNative } from '@aws-sdk/util-dynamodb';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  AgentIdSchema,
  AudienceSchema,
  ChannelSchema,
  ConversationIdSchema,
  IsoDateTimeSchema,
  MessageIdSchema,
  NotificationEnvelopeSchema,
  SenderIdSchema,
  SenderTypeSchema,
  TeamIdSchema,
  TenantIdSchema,
  chooseTopic,
  notificationIdOf,
  type Audience,
  type NotificationEnvelope,
  type NotificationKind,
} from '../../contracts/envelope';
import {
  EnrichmentEventSchema,
  QUARANTINE_EXCERPT_CHARS,
  QUARANTINE_KEY_CHARS,
  QUARANTINE_REASON_CHARS,
  type BatchEntry,
  type EnrichmentEvent,
  type NotifyEntry,
  type QuarantineEntry,
} from '../../contracts/enrichment';
import { InvalidRecordError, InvalidTaskInputError } from '../shared/errors';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';
import { previewOf } from '../../contracts/preview';
import { CONVO_HISTORY_TABLE } from '../../contracts/tables';
import { describeZodError } from '../shared/validation';

/**
 * NormalizeBatch, the Pipe's enrichment step: the whole batch of CONVO_HISTORY stream records (each
 * shaped by ENRICHMENT_INPUT_TEMPLATE) becomes one bounded entry per record, in order — the
 * notification envelope and its audience, or a quarantine entry naming the field that was wrong.
 *
 * It never throws for a record: a Pipe enrichment has no partial-batch failure, so one exception
 * would retry and finally dead-letter every record of the batch. Field names in reasons are
 * relative to the stream record's `dynamodb` block (`NewImage.createdAt`), except `eventName`.
 */

const { logger, metrics, instrument } = observability('normalize-batch');

/** DynamoDB has an explicit NULL type; an optional attribute set to NULL means "not set". */
const nullAsAbsent = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === null ? undefined : value), schema.optional());

/** A CONVO_HISTORY item. Unknown attributes are dropped, never an error; every field is bounded. */
export const ConvoHistoryItemSchema = z.object({
  conversationId: ConversationIdSchema,
  messageId: MessageIdSchema,
  tenantId: TenantIdSchema,
  senderId: SenderIdSchema,
  senderType: SenderTypeSchema,
  channel: ChannelSchema,
  body: z.string(),
  createdAt: IsoDateTimeSchema,
  assignedAgentId: nullAsAbsent(AgentIdSchema),
  teamId: nullAsAbsent(TeamIdSchema),
  handledBy: nullAsAbsent(AgentIdSchema),
  handledAt: nullAsAbsent(IsoDateTimeSchema),
});
export type ConvoHistoryItem = z.infer<typeof ConvoHistoryItemSchema>;

const ITEM_ATTRIBUTES = Object.keys(ConvoHistoryItemSchema.shape);

export const NormalizeBatchInputSchema = z.array(z.unknown());
export type NormalizeBatchInput = z.infer<typeof NormalizeBatchInputSchema>;

/** An attribute counts as set when it is there with any type other than DynamoDB NULL (as the Pipe filter sees it). */
const isSet = (image: Record<string, unknown> | null, attribute: string): boolean => {
  const value = image?.[attribute];
  return typeof value === 'object' && value !== null && !('NULL' in value);
};

const { handledBy } = CONVO_HISTORY_TABLE.claim;

/** Only the first answer of a message is a notification; anything else a MODIFY can be is named. */
const checkModify = (event: EnrichmentEvent): void => {
  if (event.oldConversationId === '') {
    throw new InvalidRecordError(
      'is missing or has no conversationId, so a newly handled message cannot be told from an edit (the stream view must be NEW_AND_OLD_IMAGES of CONVO_HISTORY)',
      'OldImage',
    );
  }
  if (!isSet(event.newImage, handledBy)) {
    throw new InvalidRecordError('is not set after this MODIFY: an edit of the message, not its handling', `NewImage.${handledBy}`);
  }
  if (event.oldHandledBy !== '') {
    throw new InvalidRecordError('was already set before this MODIFY: the message was handled earlier', `OldImage.${handledBy}`);
  }
};

// An item written already answered (by a bot, or an agent's own message) must never show as NEW:
// its one notification says who handled it.
const kindOf = (event: EnrichmentEvent, item: ConvoHistoryItem): NotificationKind =>
  event.eventName === 'INSERT' && item.handledBy === undefined ? 'message.created' : 'message.handled';

const checkEventName = (event: EnrichmentEvent): void => {
  if (event.eventName !== 'INSERT' && event.eventName !== 'MODIFY') {
    throw new InvalidRecordError(`${event.eventName} records never become notifications (only INSERT, or MODIFY that sets handledBy)`, 'eventName');
  }
  if (event.newImage === null) {
    throw new InvalidRecordError('is missing (the stream view must be NEW_AND_OLD_IMAGES)', 'NewImage');
  }
};

/**
 * Converts only the attributes the item schema knows, one by one, so a malformed or exotic
 * attribute the schema does not read can never fail the record, and one that it does read is named.
 * Numbers stay wrapped: the schema has no number field, and unwrapping could lose precision or throw.
 */
const unmarshallKnown = (image: Record<string, unknown>): Record<string, unknown> => {
  const item: Record<string, unknown> = {};
  for (const attribute of ITEM_ATTRIBUTES) {
    if (!(attribute in image)) continue;
    try {
      item[attribute] = convertToNative(image[attribute] as AttributeValue, { wrapNumbers: true });
    } catch (error) {
      throw new InvalidRecordError(`is not a DynamoDB attribute value (${(error as Error).message})`, `NewImage.${attribute}`);
    }
  }
  return item;
};

/** InvalidRecordError puts the field in front itself; zod's summary already starts with it. */
const invalidFrom = (error: z.ZodError, prefix: string): InvalidRecordError => {
  const { field, message } = describeZodError(error, prefix);
  return new InvalidRecordError(message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message, field);
};

const parseItem = (image: Record<string, unknown>): ConvoHistoryItem => {
  const parsed = ConvoHistoryItemSchema.safeParse(unmarshallKnown(image));
  if (!parsed.success) throw invalidFrom(parsed.error, 'NewImage');
  return parsed.data;
};

const audienceOf = (item: ConvoHistoryItem): Audience => ({
  topic: chooseTopic(item),
  tenantId: item.tenantId,
  senderId: item.senderId,
  senderType: item.senderType,
  ...(item.assignedAgentId !== undefined && { assignedAgentId: item.assignedAgentId }),
  ...(item.teamId !== undefined && { teamId: item.teamId }),
});

/**
 * The SQS deduplication id of a notification event: identity, kind and the time of the event
 * (createdAt for created, handledAt for handled). A redelivered or replayed record has the same id;
 * a message deleted and written again with a new createdAt has another. Hashed: the parts may add
 * up to more than SQS's 128 characters.
 */
export const deduplicationIdOf = (item: ConvoHistoryItem, kind: NotificationKind): string =>
  createHash('sha256')
    .update(JSON.stringify([item.conversationId, item.messageId, kind, kind === 'message.created' ? item.createdAt : (item.handledAt ?? item.createdAt)]))
    .digest('hex');

const envelopeOf = (item: ConvoHistoryItem, kind: NotificationKind, audience: Audience, streamSequence: string): NotificationEnvelope => {
  const candidate = {
    notificationId: notificationIdOf(item, kind),
    deduplicationId: deduplicationIdOf(item, kind),
    kind,
    messageId: item.messageId,
    conversationId: item.conversationId,
    tenantId: item.tenantId,
    topic: audience.topic,
    senderId: item.senderId,
    senderType: item.senderType,
    channel: item.channel,
    preview: previewOf(item.body),
    createdAt: item.createdAt,
    ...(item.handledBy !== undefined && { handledBy: item.handledBy }),
    ...(item.handledAt !== undefined && { handledAt: item.handledAt }),
    streamSequence,
  };
  // The envelope is a contract with devices and the client library: it is checked on the way out too.
  const parsed = NotificationEnvelopeSchema.safeParse(candidate);
  if (!parsed.success) throw invalidFrom(parsed.error, 'notification');
  return parsed.data;
};

const parseEvent = (raw: unknown): EnrichmentEvent => {
  const parsed = EnrichmentEventSchema.safeParse(raw);
  if (!parsed.success) {
    const { field } = describeZodError(parsed.error);
    const named: Record<string, string> = { keys: 'Keys', newImage: 'NewImage', sequenceNumber: 'SequenceNumber', oldHandledBy: 'OldImage.handledBy', oldConversationId: 'OldImage' };
    const top = field.split('.')[0];
    throw new InvalidRecordError(
      `is not what the Pipe's enrichment input template produces (${describeZodError(parsed.error).message})`,
      field === '(root)' ? 'record' : (named[top] ?? top),
    );
  }
  return parsed.data;
};

/** One templated stream record → its notification entry; throws InvalidRecordError naming the field. */
export const normalizeEvent = (raw: unknown): NotifyEntry => {
  const event = parseEvent(raw);
  checkEventName(event);
  if (event.eventName === 'MODIFY') checkModify(event);
  const item = parseItem(event.newImage ?? {});
  const kind = kindOf(event, item);
  const audience = AudienceSchema.parse(audienceOf(item));
  return { notification: envelopeOf(item, kind, audience, event.sequenceNumber), audience };
};

const text = (value: unknown, max: number): string => (typeof value === 'string' ? previewOf(value, max) : '');

const keyOf = (raw: unknown, key: string): string | undefined => {
  const attribute = (raw as { keys?: Record<string, { S?: unknown }> } | null)?.keys?.[key];
  return typeof attribute?.S === 'string' ? previewOf(attribute.S, QUARANTINE_KEY_CHARS) : undefined;
};

const quarantineOf = (raw: unknown, field: string, reason: string): QuarantineEntry => {
  const record = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const conversationId = keyOf(raw, CONVO_HISTORY_TABLE.partitionKey);
  const messageId = keyOf(raw, CONVO_HISTORY_TABLE.sortKey);
  return {
    quarantine: {
      field: previewOf(field, 200),
      reason: previewOf(reason, QUARANTINE_REASON_CHARS),
      keys: { ...(conversationId !== undefined && { conversationId }), ...(messageId !== undefined && { messageId }) },
      eventName: text(record.eventName, 32),
      eventID: text(record.eventID, 128),
      streamSequence: text(record.sequenceNumber, 128),
      excerpt: previewOf(JSON.stringify(raw) ?? String(raw), QUARANTINE_EXCERPT_CHARS),
    },
  };
};

/** Every record of a batch → its entry, in order; invalid records become quarantine entries. */
export const normalizeBatch = (records: readonly unknown[]): BatchEntry[] =>
  records.map((raw) => {
    try {
      return normalizeEvent(raw);
    } catch (error) {
      if (error instanceof InvalidRecordError) return quarantineOf(raw, error.field, error.message);
      // A bug here must not cost the batch: the record is kept with the error, and the log says it was unexpected.
      logger.error('unexpected error normalizing a record', { error });
      return quarantineOf(raw, '(internal)', `${(error as Error).name}: ${(error as Error).message}`);
    }
  });

// The event is the batch of stream records (customer text): logged only with execution data on.
export const handler = instrument(async (event: unknown): Promise<BatchEntry[]> => {
  const input = NormalizeBatchInputSchema.safeParse(event);
  if (!input.success) {
    throw new InvalidTaskInputError('expected the Pipe batch: a JSON array of stream records shaped by the enrichment input template');
  }
  const entries = normalizeBatch(input.data);
  for (const entry of entries) {
    if ('notification' in entry) {
      logger.info('record normalized', {
        notificationId: entry.notification.notificationId,
        kind: entry.notification.kind,
        topic: entry.audience.topic,
        streamSequence: entry.notification.streamSequence,
      });
    } else {
      logger.warn('record will be quarantined', { field: entry.quarantine.field, reason: entry.quarantine.reason, eventID: entry.quarantine.eventID });
    }
  }
  const quarantined = entries.filter((entry) => 'quarantine' in entry).length;
  metrics.addMetric(METRIC_NAMES.recordsNormalized, MetricUnit.Count, entries.length - quarantined);
  metrics.addMetric(METRIC_NAMES.recordsQuarantined, MetricUnit.Count, quarantined);
  return entries;
}, { logEventWithExecutionData: true });
