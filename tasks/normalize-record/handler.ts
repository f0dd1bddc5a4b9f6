import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { convertToNative } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import {
  AudienceSchema,
  ConversationIdSchema,
  MessageIdSchema,
  NotificationEnvelopeSchema,
  SenderTypeSchema,
  chooseTopic,
  notificationIdOf,
  type Audience,
  type NotificationEnvelope,
  type NotificationKind,
} from '../shared/envelope';
import { InvalidRecordError, InvalidTaskInputError } from '../shared/errors';
import { createLogger } from '../shared/logger';
import { previewOf } from '../shared/preview';
import { describeZodError } from '../shared/validation';

/**
 * NormalizeRecord: one DynamoDB stream record of CONVO_HISTORY, as the EventBridge Pipe delivers
 * it, becomes the notification envelope and its audience. Anything that can never become a
 * notification is an `InvalidRecordError` naming the field, which the workflow quarantines.
 *
 * Field names in errors are relative to the record's `dynamodb` block (`NewImage.createdAt`,
 * `OldImage`, `SequenceNumber`), except the record's own `eventName`.
 */

const logger = createLogger('normalize-record');

const AttributeMapSchema = z.record(z.string(), z.unknown());

/** The parts of a stream record this task reads; the Pipe sends more, which is ignored. */
export const StreamRecordSchema = z.object({
  eventID: z.string().optional(),
  eventName: z.string(),
  eventSourceARN: z.string().optional(),
  dynamodb: z.object({
    Keys: AttributeMapSchema.optional(),
    NewImage: AttributeMapSchema.optional(),
    OldImage: AttributeMapSchema.optional(),
    SequenceNumber: z.string().min(1),
  }),
});
export type StreamRecord = z.infer<typeof StreamRecordSchema>;

export const NormalizeRecordInputSchema = z.object({ record: z.unknown() });
export type NormalizeRecordInput = z.infer<typeof NormalizeRecordInputSchema>;

/** DynamoDB has an explicit NULL type; an optional attribute set to NULL means "not set". */
const nullAsAbsent = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === null ? undefined : value), schema.optional());

const isoDateTime = z.iso.datetime({ offset: true });

/** A CONVO_HISTORY item (DESIGN §3). Unknown attributes are dropped, never an error. */
export const ConvoHistoryItemSchema = z.object({
  conversationId: ConversationIdSchema,
  messageId: MessageIdSchema,
  tenantId: z.string().min(1),
  senderId: z.string().min(1),
  senderType: SenderTypeSchema,
  channel: z.string().min(1),
  body: z.string(),
  createdAt: isoDateTime,
  assignedAgentId: nullAsAbsent(z.string().min(1)),
  teamId: nullAsAbsent(z.string().min(1)),
  handledBy: nullAsAbsent(z.string().min(1)),
  handledAt: nullAsAbsent(isoDateTime),
});
export type ConvoHistoryItem = z.infer<typeof ConvoHistoryItemSchema>;

const ITEM_ATTRIBUTES = Object.keys(ConvoHistoryItemSchema.shape);

export interface NormalizeRecordOutput {
  notification: NotificationEnvelope;
  audience: Audience;
}

/** An attribute counts as set when it is there with any type other than DynamoDB NULL (as the Pipe filter sees it). */
const isSet = (image: Record<string, unknown> | undefined, attribute: string): boolean => {
  const value = image?.[attribute];
  return typeof value === 'object' && value !== null && !('NULL' in value);
};

const kindOf = (record: StreamRecord): NotificationKind => {
  const { eventName, dynamodb } = record;
  if (eventName !== 'INSERT' && eventName !== 'MODIFY') {
    throw new InvalidRecordError(`${eventName} records never become notifications (only INSERT, or MODIFY that sets handledBy)`, 'eventName');
  }
  if (dynamodb.NewImage === undefined) {
    throw new InvalidRecordError('is missing (the stream view must be NEW_AND_OLD_IMAGES)', 'NewImage');
  }
  if (eventName === 'INSERT') return 'message.created';
  if (dynamodb.OldImage === undefined) {
    throw new InvalidRecordError('is missing, so a newly handled message cannot be told from an edit (the stream view must be NEW_AND_OLD_IMAGES)', 'OldImage');
  }
  if (!isSet(dynamodb.NewImage, 'handledBy')) {
    throw new InvalidRecordError('is not set after this MODIFY: an edit of the message, not its handling', 'NewImage.handledBy');
  }
  if (isSet(dynamodb.OldImage, 'handledBy')) {
    throw new InvalidRecordError('was already set before this MODIFY: the message was handled earlier', 'OldImage.handledBy');
  }
  return 'message.handled';
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

const parseItem = (image: Record<string, unknown>): ConvoHistoryItem => {
  const parsed = ConvoHistoryItemSchema.safeParse(unmarshallKnown(image));
  if (!parsed.success) {
    const { field, message } = describeZodError(parsed.error, 'NewImage');
    throw new InvalidRecordError(message, field);
  }
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

const envelopeOf = (item: ConvoHistoryItem, kind: NotificationKind, audience: Audience, streamSequence: string): NotificationEnvelope => {
  const candidate = {
    notificationId: notificationIdOf(item.messageId, kind),
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
    // An INSERT of an already handled message never gets a handled notification (the Pipe passes
    // only MODIFYs that set handledBy), so its created one says who handled it.
    ...(item.handledBy !== undefined && { handledBy: item.handledBy }),
    ...(item.handledAt !== undefined && { handledAt: item.handledAt }),
    streamSequence,
  };
  // The envelope is a contract with devices and the client library: it is checked on the way out too.
  const parsed = NotificationEnvelopeSchema.safeParse(candidate);
  if (!parsed.success) {
    const { field, message } = describeZodError(parsed.error, 'notification');
    throw new InvalidRecordError(message, field);
  }
  return parsed.data;
};

export const normalizeRecord = (raw: unknown): NormalizeRecordOutput => {
  const parsedRecord = StreamRecordSchema.safeParse(raw);
  if (!parsedRecord.success) {
    const { field, message } = describeZodError(parsedRecord.error);
    // The record's own fields are named relative to `dynamodb`, like the image fields.
    throw new InvalidRecordError(message, field === '(root)' ? 'record' : field.replace(/^dynamodb\./, ''));
  }
  const record = parsedRecord.data;
  const kind = kindOf(record);
  const item = parseItem(record.dynamodb.NewImage ?? {});
  const audience = AudienceSchema.parse(audienceOf(item));
  const notification = envelopeOf(item, kind, audience, record.dynamodb.SequenceNumber);
  return { notification, audience };
};

const eventIdOf = (record: unknown): unknown =>
  typeof record === 'object' && record !== null ? (record as { eventID?: unknown }).eventID : undefined;

export const handler = async (event: unknown): Promise<NormalizeRecordOutput> => {
  const input = NormalizeRecordInputSchema.safeParse(event);
  if (!input.success || input.data.record === undefined) {
    throw new InvalidTaskInputError('expected { record: <DynamoDB stream record> }');
  }
  try {
    const output = normalizeRecord(input.data.record);
    logger.info('record normalized', {
      notificationId: output.notification.notificationId,
      kind: output.notification.kind,
      topic: output.audience.topic,
      streamSequence: output.notification.streamSequence,
    });
    return output;
  } catch (error) {
    if (error instanceof InvalidRecordError) {
      logger.warn('record will be quarantined', { field: error.field, reason: error.message, eventID: eventIdOf(input.data.record) });
    }
    throw error;
  }
};
