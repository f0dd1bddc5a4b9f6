import { z } from 'zod';
import { AudienceSchema, NotificationEnvelopeSchema } from './envelope';
import { AWS_LIMITS } from './limits';

/**
 * The contract between the Pipe and its enrichment step (NormalizeBatch), and between NormalizeBatch
 * and the state machine.
 *
 * The Pipe applies ENRICHMENT_INPUT_TEMPLATE to every stream record of a batch and invokes
 * NormalizeBatch once with the array. The template keeps only what normalization reads: the keys,
 * the new image, and of the old image only its key and `handledBy` string — never the whole old image, which can be
 * as large as the new one (400 KB). NormalizeBatch answers one bounded entry per record, in order;
 * that array is the state machine's input.
 */

/**
 * An EventBridge Pipes input template. Quoted placeholders hold strings (a path that matches
 * nothing still yields a valid JSON string); unquoted ones hold the attribute maps.
 */
export const ENRICHMENT_INPUT_TEMPLATE =
  '{"eventID": "<$.eventID>", "eventName": "<$.eventName>", "sequenceNumber": "<$.dynamodb.SequenceNumber>", ' +
  '"keys": <$.dynamodb.Keys>, "newImage": <$.dynamodb.NewImage>, ' +
  '"oldConversationId": "<$.dynamodb.OldImage.conversationId.S>", "oldHandledBy": "<$.dynamodb.OldImage.handledBy.S>"}';

const PLACEHOLDER = /"<\$\.([A-Za-z0-9_.-]+)>"|<\$\.([A-Za-z0-9_.-]+)>/g;

const valueAt = (event: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined), event);

/**
 * Evaluates a Pipes input template against one event, as the Pipe does before the enrichment: the
 * local pipe and the replay CLI run the very template the stack deploys. A quoted placeholder
 * whose path matches nothing becomes "", an unquoted one `null`.
 */
export const applyInputTemplate = (template: string, event: unknown): unknown => {
  const text = template.replace(PLACEHOLDER, (_whole, quoted: string | undefined, bare: string | undefined) => {
    if (quoted !== undefined) {
      const value = valueAt(event, quoted);
      if (value === undefined || value === null) return '""';
      return JSON.stringify(typeof value === 'string' ? value : JSON.stringify(value));
    }
    const value = valueAt(event, bare as string);
    return value === undefined ? 'null' : JSON.stringify(value);
  });
  return JSON.parse(text) as unknown;
};

/** One stream record as the template shapes it. */
export const EnrichmentEventSchema = z.object({
  eventID: z.string(),
  eventName: z.string(),
  sequenceNumber: z.string().min(1),
  keys: z.record(z.string(), z.unknown()).nullable(),
  newImage: z.record(z.string(), z.unknown()).nullable(),
  /** The old image's partition key: "" tells that the record has no old image (a stream without OLD_IMAGE). */
  oldConversationId: z.string(),
  /** The old image's `handledBy.S`, "" when the old image has none (or there is no old image). */
  oldHandledBy: z.string(),
});
export type EnrichmentEvent = z.infer<typeof EnrichmentEventSchema>;

/** Longest raw excerpt a quarantine entry keeps of its record. */
export const QUARANTINE_EXCERPT_CHARS = 2_000;
/** Longest reason a quarantine entry gives. */
export const QUARANTINE_REASON_CHARS = 1_000;
/** Longest key value a quarantine entry repeats (DynamoDB keys may be 2,048 bytes). */
export const QUARANTINE_KEY_CHARS = 256;

export const NotifyEntrySchema = z.object({
  notification: NotificationEnvelopeSchema,
  audience: AudienceSchema,
});
export type NotifyEntry = z.infer<typeof NotifyEntrySchema>;

export const QuarantineEntrySchema = z.object({
  quarantine: z.object({
    /** Dotted path of the offending field, relative to the stream record's `dynamodb` block, or `eventName`. */
    field: z.string().max(200),
    reason: z.string().max(QUARANTINE_REASON_CHARS),
    keys: z.object({
      conversationId: z.string().max(QUARANTINE_KEY_CHARS).optional(),
      messageId: z.string().max(QUARANTINE_KEY_CHARS).optional(),
    }),
    eventName: z.string().max(32),
    eventID: z.string().max(128),
    streamSequence: z.string().max(128),
    /** The start of the record as the Pipe handed it over (JSON), for whoever fixes it. */
    excerpt: z.string().max(QUARANTINE_EXCERPT_CHARS),
  }),
});
export type QuarantineEntry = z.infer<typeof QuarantineEntrySchema>;

export const BatchEntrySchema = z.union([NotifyEntrySchema, QuarantineEntrySchema]);
export type BatchEntry = z.infer<typeof BatchEntrySchema>;

/**
 * Upper bound of one entry's JSON, in bytes, whatever the item held: every field is bounded
 * (test/tasks/normalize-batch.test.ts builds the worst case and checks it). The pipe's batch size
 * is held to what fits the state machine's input limit at this size.
 */
export const MAX_ENTRY_BYTES = 12 * 1024;

/** The largest Pipe batch whose enriched form always fits a Step Functions target input. */
export const MAX_PIPE_BATCH_SIZE = Math.floor(AWS_LIMITS.pipeStepFunctionsTargetChars / MAX_ENTRY_BYTES);

/**
 * How the pipe treats a failing batch (the deployed pipe and the local one): retried, bisected on
 * each failure, this many times before it is dead-lettered.
 */
export const PIPE_MAXIMUM_RETRY_ATTEMPTS = 3;
