import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { applyInputTemplate, ENRICHMENT_INPUT_TEMPLATE, type BatchEntry } from '../../contracts/enrichment';
import { passesPipeFilter } from '../../contracts/pipe-filter';
import { CONVO_HISTORY_TABLE } from '../../contracts/tables';
import { normalizeBatch } from '../../tasks/normalize-batch/handler';

/**
 * What a replay runs: stream records (read from the stream, or built from the table as the stream
 * would have sent them) put through exactly what the deployed pipe does — its filter patterns
 * (contracts/pipe-filter.ts), its enrichment input template (contracts/enrichment.ts) and the
 * enrichment's own normalization (tasks/normalize-batch) — so a replayed entry is the entry the
 * pipe would have handed the state machine.
 */

export type Item = Record<string, AttributeValue>;

/** A DynamoDB stream record as far as the pipe reads it (GetRecords' shape, or the Pipes event's). */
export interface StreamRecordLike {
  eventID?: string;
  eventName?: string;
  dynamodb?: {
    Keys?: Item;
    NewImage?: Item;
    OldImage?: Item;
    SequenceNumber?: string;
    ApproximateCreationDateTime?: unknown;
  };
}

/**
 * The `streamSequence` of an entry built from the table rather than read from the stream: the
 * item's records have no sequence number any more (a notification's identity and deduplication id
 * do not depend on it).
 */
export const TABLE_SEQUENCE = 'replayed-from-table';

export type RecordKind = 'created' | 'handled';

const { handledBy, handledAt } = CONVO_HISTORY_TABLE.claim;

/** Set as the pipe filter sees it: present with any type other than DynamoDB NULL. */
const isSet = (item: Item, attribute: string): boolean => item[attribute] !== undefined && !('NULL' in item[attribute]);

export const keysOf = (item: Item): Item => {
  const { partitionKey, sortKey } = CONVO_HISTORY_TABLE;
  return { [partitionKey]: item[partitionKey], [sortKey]: item[sortKey] };
};

/** Which records the stream wrote for this item: its insert, and its first answer when it has one. */
export const kindsOf = (item: Item): RecordKind[] => (isSet(item, handledBy) ? ['created', 'handled'] : ['created']);

/**
 * The stream records of an item as CONVO_HISTORY's stream would have sent them: `created` is the
 * INSERT of the item before it was answered (without handledBy/handledAt), `handled` the MODIFY
 * that answered it (old image without, new image with the claim).
 */
export const recordsFromItem = (item: Item, kinds: readonly RecordKind[] = kindsOf(item)): StreamRecordLike[] => {
  const unanswered: Item = Object.fromEntries(Object.entries(item).filter(([name]) => name !== handledBy && name !== handledAt));
  const record = (eventName: 'INSERT' | 'MODIFY', images: { NewImage: Item; OldImage?: Item }): StreamRecordLike => ({
    eventID: randomUUID().replace(/-/g, ''),
    eventName,
    dynamodb: { Keys: keysOf(item), ...images, SequenceNumber: TABLE_SEQUENCE },
  });
  return kinds.flatMap((kind) => {
    if (kind === 'created') return [record('INSERT', { NewImage: unanswered })];
    return isSet(item, handledBy) ? [record('MODIFY', { OldImage: unanswered, NewImage: item })] : [];
  });
};

export interface Prepared {
  /** Records that pass the pipe's filter, in order. */
  passed: StreamRecordLike[];
  /** How many the filter dropped (a DLQ range also holds records the pipe never sent). */
  filteredOut: number;
  /** One entry per passed record: what the state machine receives. */
  entries: BatchEntry[];
}

/** The pipe's filter, input template and enrichment over records, as the deployed pipe runs them. */
export const prepare = (records: readonly StreamRecordLike[]): Prepared => {
  const passed = records.filter((record) => passesPipeFilter(record));
  const entries = normalizeBatch(passed.map((record) => applyInputTemplate(ENRICHMENT_INPUT_TEMPLATE, record)));
  return { passed, filteredOut: records.length - passed.length, entries };
};

/** `conversationId/messageId` of a record or item key, for summaries. */
export const identityOf = (keys: Item | undefined): string =>
  `${keys?.[CONVO_HISTORY_TABLE.partitionKey]?.S ?? '?'}/${keys?.[CONVO_HISTORY_TABLE.sortKey]?.S ?? '?'}`;

/** One line per entry: what would be (or was) run. */
export const describeEntry = (entry: BatchEntry): string =>
  'notification' in entry
    ? `${entry.notification.kind} ${entry.notification.conversationId}/${entry.notification.messageId} (${entry.audience.topic}) ${entry.notification.notificationId}`
    : `quarantine ${entry.quarantine.keys.conversationId ?? '?'}/${entry.quarantine.keys.messageId ?? '?'}: ${quarantineReasonOf(entry.quarantine)}`;

/** A quarantine entry's field and reason; the reason usually names the field already. */
export const quarantineReasonOf = ({ field, reason }: { field: string; reason: string }): string =>
  reason.startsWith(`${field}: `) || reason.startsWith(`${field} `) ? reason : `${field}: ${reason}`;
