import { GetItemCommand, ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRecordsCommand, GetShardIteratorCommand, type DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { StartSyncExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { MAX_PIPE_BATCH_SIZE, QuarantineEntrySchema, type BatchEntry } from '../../contracts/enrichment';
import { CONVO_HISTORY_TABLE } from '../../contracts/tables';
import { describeEntry, identityOf, keysOf, kindsOf, prepare, quarantineReasonOf, recordsFromItem, type Item, type RecordKind, type StreamRecordLike } from './records';

/**
 * The replay library: re-runs the notification workflow (StartSyncExecution on the Express state
 * machine) for a message read from CONVO_HISTORY, for each pipe DLQ entry (its sequence range read
 * back from the stream, or the table when the stream no longer has it) and for quarantined records
 * (read again from the table after the item was fixed). A source message (DLQ, quarantine) is
 * deleted only after its replay succeeded; a dry run starts nothing and deletes nothing. Every
 * failure is reported in the item's line and the summary: one failed call never stops the others.
 */

export interface ReplayClients {
  sfn: SFNClient;
  dynamodb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  sqs: SQSClient;
}

export interface ReplayContext {
  clients: ReplayClients;
  stateMachineArn: string;
  convoHistoryTable: string;
  dryRun: boolean;
  /** Told one line per item as it is settled. */
  log?: (line: string) => void;
}

export type Outcome = 'replayed' | 'skipped' | 'failed' | 'would run';

export interface ItemReport {
  source: 'message' | 'dlq' | 'quarantine';
  /** `conversationId/messageId`, or the SQS message id (and sequence range) of a DLQ/quarantine message. */
  id: string;
  /** Where the records came from, in words. */
  readFrom: string;
  /** Stream records read or built. */
  records: number;
  /** Entries run (or that would run): one per record that passed the pipe's filter. */
  entries: string[];
  outcome: Outcome;
  reason?: string;
  executionArns: string[];
  /** Whether the source message (DLQ, quarantine) was deleted. */
  deleted?: boolean;
}

export interface ReplaySummary {
  items: ItemReport[];
  replayed: number;
  skipped: number;
  failed: number;
  wouldRun: number;
}

/** How long a received DLQ/quarantine message stays hidden while it is replayed (a failed one comes back after this). */
export const REPLAY_VISIBILITY_TIMEOUT_S = 300;
/** A dry run hides what it reads for a second only: it must leave the queues as they were. */
export const DRY_RUN_VISIBILITY_TIMEOUT_S = 1;
/** Empty GetRecords answers in a row after which a sequence range counts as unreadable (an open shard can answer empty before its data). */
const MAX_EMPTY_READS = 5;
/**
 * How far around a DLQ entry's arrival times the table fallback looks for createdAt / handledAt:
 * the item's times are the chat product's clock, the arrival times the stream's.
 */
export const FALLBACK_WINDOW_SKEW_MS = 5 * 60 * 1000;

/** The largest UTC offset a timestamp can carry (UTC+14:00). */
const MAX_UTC_OFFSET_MS = 14 * 60 * 60 * 1000;

const errorText = (error: unknown): string => {
  const e = error as Error;
  return `${e.name ?? 'Error'}: ${e.message ?? String(error)}`;
};

const clip = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/**
 * One StartSyncExecution of any input: the one way everything here (the CLI, the local dashboard's
 * Replay button) starts the workflow. Throws only when the call itself failed.
 */
export const startSync = async (sfn: SFNClient, stateMachineArn: string, input: unknown) =>
  sfn.send(new StartSyncExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }));

/** Runs entries as the pipe would, at most one pipe batch's worth per execution; stops at the first failure. */
export const runEntries = async (
  sfn: SFNClient,
  stateMachineArn: string,
  entries: readonly BatchEntry[],
): Promise<{ executionArns: string[]; error?: string }> => {
  const executionArns: string[] = [];
  for (let i = 0; i < entries.length; i += MAX_PIPE_BATCH_SIZE) {
    const batch = entries.slice(i, i + MAX_PIPE_BATCH_SIZE);
    try {
      const out = await startSync(sfn, stateMachineArn, batch);
      if (out.executionArn) executionArns.push(out.executionArn);
      if (out.status !== 'SUCCEEDED') return { executionArns, error: clip(`execution ${out.status}: ${out.error ?? ''}: ${out.cause ?? ''}`) };
    } catch (error) {
      return { executionArns, error: clip(`StartSyncExecution failed: ${errorText(error)}`) };
    }
  }
  return { executionArns };
};

/** Runs what was prepared for one item (or says what would run) and fills in its outcome. */
const settle = async (ctx: ReplayContext, report: ItemReport, entries: BatchEntry[], onSuccess?: () => Promise<void>): Promise<ItemReport> => {
  report.entries = entries.map(describeEntry);
  if (entries.length === 0) {
    report.outcome = 'skipped';
    report.reason ??= 'nothing passes the pipe filter: no notification to run';
  } else if (ctx.dryRun) {
    report.outcome = 'would run';
  } else {
    const run = await runEntries(ctx.clients.sfn, ctx.stateMachineArn, entries);
    report.executionArns = run.executionArns;
    if (run.error) {
      report.outcome = 'failed';
      report.reason = run.error;
      return report;
    }
    report.outcome = 'replayed';
  }
  if (!ctx.dryRun && onSuccess) {
    try {
      await onSuccess();
      report.deleted = true;
    } catch (error) {
      report.reason = `${report.reason ? `${report.reason}; ` : ''}replayed, but the source message could not be deleted (it will be replayed again): ${errorText(error)}`;
    }
  }
  return report;
};

const getItem = async (ctx: ReplayContext, keys: Item): Promise<Item | undefined> =>
  (await ctx.clients.dynamodb.send(new GetItemCommand({ TableName: ctx.convoHistoryTable, Key: keys, ConsistentRead: true }))).Item;

const messageKeys = (conversationId: string, messageId: string): Item => ({
  [CONVO_HISTORY_TABLE.partitionKey]: { S: conversationId },
  [CONVO_HISTORY_TABLE.sortKey]: { S: messageId },
});

const stillInvalid = (entries: BatchEntry[]): string | undefined => {
  const bad = entries.find((e) => 'quarantine' in e);
  return bad && 'quarantine' in bad ? `still invalid, fix the item in the table first: ${quarantineReasonOf(bad.quarantine)}` : undefined;
};

/** `--message`: the item's records (created; handled too when it was answered), built from the table. */
export const replayMessage = async (ctx: ReplayContext, conversationId: string, messageId: string): Promise<ItemReport> => {
  const report: ItemReport = {
    source: 'message',
    id: `${conversationId}/${messageId}`,
    readFrom: `table ${ctx.convoHistoryTable} (GetItem)`,
    records: 0,
    entries: [],
    outcome: 'failed',
    executionArns: [],
  };
  let item: Item | undefined;
  try {
    item = await getItem(ctx, messageKeys(conversationId, messageId));
  } catch (error) {
    report.reason = `GetItem failed: ${errorText(error)}`;
    return report;
  }
  if (!item) {
    report.reason = `no item ${report.id} in ${ctx.convoHistoryTable}`;
    return report;
  }
  const records = recordsFromItem(item);
  report.records = records.length;
  const { entries } = prepare(records);
  const invalid = stillInvalid(entries);
  if (invalid) {
    report.entries = entries.map(describeEntry);
    report.reason = invalid;
    return report;
  }
  return settle(ctx, report, entries);
};

/** Every message of a queue once: received in batches of 10 until an empty receive or only repeats. */
async function* receiveAll(sqs: SQSClient, queueUrl: string, visibilityTimeout: number): AsyncGenerator<Message> {
  const seen = new Set<string>();
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: visibilityTimeout }),
    );
    const fresh = (out.Messages ?? []).filter((m) => m.MessageId !== undefined && !seen.has(m.MessageId));
    if (fresh.length === 0) return;
    for (const message of fresh) {
      seen.add(message.MessageId!);
      yield message;
    }
  }
}

/**
 * A message that was not deleted (failed, or a dry run) is made visible again at the end of the run,
 * so that a rerun after the fix sees it; where that call is refused (the local SQS endpoint has no
 * ChangeMessageVisibility), it comes back when its visibility timeout ends.
 */
const release = async (ctx: ReplayContext, queueUrl: string, message: Message, report: ItemReport): Promise<void> => {
  if (report.deleted) return;
  try {
    await ctx.clients.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));
  } catch {
    // Only a delay: the message becomes visible again when its visibility timeout ends.
  }
};

const deleteMessage = (ctx: ReplayContext, queueUrl: string, message: Message) => async () => {
  await ctx.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
};

/** The part of a pipe DLQ message for a DynamoDB stream source that a replay reads: the pointer to the failed batch. */
export const PipeDlqMessageSchema = z.object({
  DDBStreamBatchInfo: z.object({
    shardId: z.string().min(1),
    startSequenceNumber: z.string().regex(/^\d+$/),
    endSequenceNumber: z.string().regex(/^\d+$/),
    approximateArrivalOfFirstRecord: z.string(),
    approximateArrivalOfLastRecord: z.string(),
    batchSize: z.number().int().positive(),
    streamArn: z.string().min(1),
  }),
});
export type PipeDlqBatchInfo = z.infer<typeof PipeDlqMessageSchema>['DDBStreamBatchInfo'];

/** Errors after which a range is read from the table instead: past the stream's retention, or a stream that is gone. */
const STREAM_GONE = new Set(['TrimmedDataAccessException', 'ResourceNotFoundException']);

class RangeReadError extends Error {
  constructor(
    readonly failure: Error,
    readonly partial: StreamRecordLike[],
  ) {
    super(failure.message);
    this.name = 'RangeReadError';
  }
}

/** GetShardIterator AT_SEQUENCE_NUMBER, then GetRecords until the end sequence number. */
export const readRange = async (streams: DynamoDBStreamsClient, info: PipeDlqBatchInfo): Promise<{ records: StreamRecordLike[]; complete: boolean }> => {
  const records: StreamRecordLike[] = [];
  const end = BigInt(info.endSequenceNumber);
  try {
    const start = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: info.streamArn,
        ShardId: info.shardId,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        SequenceNumber: info.startSequenceNumber,
      }),
    );
    let iterator = start.ShardIterator;
    let empty = 0;
    while (iterator !== undefined && empty < MAX_EMPTY_READS) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const record of page.Records ?? []) {
        const sequence = BigInt(record.dynamodb?.SequenceNumber ?? '0');
        if (sequence > end) return { records, complete: true };
        records.push(record as StreamRecordLike);
        if (sequence === end) return { records, complete: true };
      }
      empty = (page.Records ?? []).length === 0 ? empty + 1 : 0;
      iterator = page.NextShardIterator;
    }
    // A closed shard (no next iterator) has nothing after what was read; an open one that keeps answering empty is not read through.
    return { records, complete: iterator === undefined };
  } catch (error) {
    throw new RangeReadError(error as Error, records);
  }
};

const kindsInWindow = (item: Item, from: number, to: number): RecordKind[] => {
  // Instants, not strings: the chat product may write createdAt with an offset (`…+02:00`).
  const within = (attribute: string) => {
    const at = Date.parse(item[attribute]?.S ?? '');
    return at >= from && at <= to;
  };
  return kindsOf(item).filter((kind) => within(kind === 'created' ? 'createdAt' : CONVO_HISTORY_TABLE.claim.handledAt));
};

/**
 * The table's stand-in for a range the stream no longer has: the items whose createdAt or
 * handledAt lies within the DLQ entry's arrival times (± FALLBACK_WINDOW_SKEW_MS), plus the items of
 * any record read before the stream gave up, each as the records of the events in the window.
 */
const recordsFromTable = async (ctx: ReplayContext, info: PipeDlqBatchInfo, partial: StreamRecordLike[]): Promise<{ records: StreamRecordLike[]; how: string }> => {
  const fromMs = Date.parse(info.approximateArrivalOfFirstRecord) - FALLBACK_WINDOW_SKEW_MS;
  const toMs = Date.parse(info.approximateArrivalOfLastRecord) + FALLBACK_WINDOW_SKEW_MS;
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  // The Scan compares strings: widened by the largest UTC offset, so an offset timestamp within the
  // window is read; kindsInWindow then keeps exactly the instants within it.
  const scanFrom = new Date(fromMs - MAX_UTC_OFFSET_MS).toISOString();
  const scanTo = new Date(toMs + MAX_UTC_OFFSET_MS).toISOString();
  const items = new Map<string, { item: Item; kinds: Set<RecordKind> }>();
  const add = (item: Item, kinds: RecordKind[]) => {
    const id = identityOf(keysOf(item));
    const known = items.get(id) ?? { item, kinds: new Set<RecordKind>() };
    for (const kind of kinds) known.kinds.add(kind);
    items.set(id, known);
  };
  for (const record of partial) {
    const item = record.dynamodb?.Keys ? await getItem(ctx, keysOf(record.dynamodb.Keys)) : undefined;
    if (item) add(item, record.eventName === 'INSERT' ? ['created'] : ['handled']);
  }
  let startKey: Item | undefined;
  do {
    const page = await ctx.clients.dynamodb.send(
      new ScanCommand({
        TableName: ctx.convoHistoryTable,
        FilterExpression: '(#created BETWEEN :from AND :to) OR (#handled BETWEEN :from AND :to)',
        ExpressionAttributeNames: { '#created': 'createdAt', '#handled': CONVO_HISTORY_TABLE.claim.handledAt },
        ExpressionAttributeValues: { ':from': { S: scanFrom }, ':to': { S: scanTo } },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const kinds = kindsInWindow(item, fromMs, toMs);
      if (kinds.length > 0) add(item, kinds);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  const records = [...items.values()].flatMap(({ item, kinds }) => recordsFromItem(item, [...kinds]));
  const keyed = partial.length > 0 ? `, plus the keys of ${partial.length} record(s) read before that` : '';
  return { records, how: `table ${ctx.convoHistoryTable} (Scan for createdAt/handledAt within ${from}..${to}${keyed})` };
};

/**
 * One pipe DLQ message: its range from the stream, else from the table; deleted after its replay
 * succeeded. `done` holds the deduplication ids this run has already replayed: table fallbacks of
 * neighbouring entries find the same items, and each notification runs once per run.
 */
const replayDlqMessage = async (ctx: ReplayContext, queueUrl: string, message: Message, done: Set<string>): Promise<ItemReport> => {
  const report: ItemReport = { source: 'dlq', id: message.MessageId ?? '?', readFrom: '-', records: 0, entries: [], outcome: 'failed', executionArns: [] };
  let info: PipeDlqBatchInfo;
  try {
    const parsed = PipeDlqMessageSchema.safeParse(JSON.parse(message.Body ?? ''));
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    info = parsed.data.DDBStreamBatchInfo;
  } catch (error) {
    report.reason = `not a pipe DLQ message for a DynamoDB stream (kept): ${(error as Error).message}`;
    return report;
  }
  report.id = `${report.id} ${info.startSequenceNumber}..${info.endSequenceNumber}`;
  let records: StreamRecordLike[];
  try {
    const range = await readRange(ctx.clients.streams, info);
    report.readFrom = `stream ${info.shardId} (GetShardIterator AT_SEQUENCE_NUMBER + GetRecords)`;
    if (!range.complete) {
      report.records = range.records.length;
      report.reason = `the stream did not return the range through ${info.endSequenceNumber} (kept; run again)`;
      return report;
    }
    records = range.records;
  } catch (error) {
    const cause = error instanceof RangeReadError ? error.failure : (error as Error);
    if (!STREAM_GONE.has(cause.name)) {
      report.readFrom = `stream ${info.shardId}`;
      report.reason = `reading the stream failed (kept): ${errorText(cause)}`;
      return report;
    }
    try {
      const fallback = await recordsFromTable(ctx, info, error instanceof RangeReadError ? error.partial : []);
      report.readFrom = `${fallback.how}, because the stream answered ${cause.name}`;
      records = fallback.records;
      const found = prepare(records).entries.length;
      if (found > info.batchSize) {
        report.reason = `the batch held ${info.batchSize} record(s); the window holds ${found} notification(s), all replayed (devices fold the duplicates)`;
      }
    } catch (tableError) {
      report.readFrom = `table ${ctx.convoHistoryTable}, because the stream answered ${cause.name}`;
      report.reason = `reading the table failed (kept): ${errorText(tableError)}`;
      return report;
    }
  }
  report.records = records.length;
  if (records.length === 0) {
    // Nothing read is not nothing to do: the entry points at records this run could not find, so it stays.
    report.reason = `${report.reason ? `${report.reason}; ` : ''}no record found for the entry (kept)`;
    return report;
  }
  const prepared = prepare(records);
  const reasons: string[] = [];
  if (prepared.filteredOut > 0) reasons.push(`${prepared.filteredOut} record(s) do not pass the pipe filter (never notifications)`);
  const entries = prepared.entries.filter((e) => !('notification' in e) || !done.has(e.notification.deduplicationId));
  const already = prepared.entries.length - entries.length;
  if (already > 0) reasons.push(`${already} notification(s) already replayed by an earlier entry of this run`);
  if (report.reason !== undefined) reasons.unshift(report.reason);
  if (reasons.length > 0) report.reason = reasons.join('; ');
  const settled = await settle(ctx, report, entries, deleteMessage(ctx, queueUrl, message));
  if (settled.outcome === 'replayed') for (const e of entries) if ('notification' in e) done.add(e.notification.deduplicationId);
  return settled;
};

/** `--dlq`: every message of the pipe's dead-letter queue. */
export const replayDlq = async (ctx: ReplayContext, queueUrl: string): Promise<ItemReport[]> => {
  const reports: ItemReport[] = [];
  const held: [Message, ItemReport][] = [];
  const done = new Set<string>();
  for await (const message of receiveAll(ctx.clients.sqs, queueUrl, ctx.dryRun ? DRY_RUN_VISIBILITY_TIMEOUT_S : REPLAY_VISIBILITY_TIMEOUT_S)) {
    const report = await replayDlqMessage(ctx, queueUrl, message, done);
    ctx.log?.(formatItem(report));
    reports.push(report);
    held.push([message, report]);
  }
  // Released only now: released earlier, they would come back in this run's own receives.
  for (const [message, report] of held) await release(ctx, queueUrl, message, report);
  return reports;
};

const QuarantineMessageSchema = z.object({ quarantine: QuarantineEntrySchema.shape.quarantine });

/** One quarantine message: the item read again by its keys; deleted after its replay succeeded. */
const replayQuarantineMessage = async (ctx: ReplayContext, queueUrl: string, message: Message): Promise<ItemReport> => {
  const report: ItemReport = {
    source: 'quarantine',
    id: message.MessageId ?? '?',
    readFrom: `table ${ctx.convoHistoryTable} (GetItem)`,
    records: 0,
    entries: [],
    outcome: 'failed',
    executionArns: [],
  };
  let quarantine: z.infer<typeof QuarantineMessageSchema>['quarantine'];
  try {
    const parsed = QuarantineMessageSchema.safeParse(JSON.parse(message.Body ?? ''));
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    quarantine = parsed.data.quarantine;
  } catch (error) {
    report.reason = `not a quarantine message (kept): ${(error as Error).message}`;
    return report;
  }
  const { conversationId, messageId } = quarantine.keys;
  if (conversationId === undefined || messageId === undefined) {
    report.reason = `the record had no usable keys (${quarantine.field}: ${quarantine.reason}); it cannot be read again (kept)`;
    return report;
  }
  report.id = `${report.id} ${conversationId}/${messageId}`;
  let item: Item | undefined;
  try {
    item = await getItem(ctx, messageKeys(conversationId, messageId));
  } catch (error) {
    report.reason = `GetItem failed (kept): ${errorText(error)}`;
    return report;
  }
  if (!item) {
    report.reason = `no item ${conversationId}/${messageId} in ${ctx.convoHistoryTable} (kept)`;
    return report;
  }
  // A quarantined MODIFY was the item's answer; a quarantined INSERT was everything the item had then.
  const records = recordsFromItem(item, quarantine.eventName === 'MODIFY' ? ['handled'] : kindsOf(item));
  report.records = records.length;
  if (records.length === 0) {
    report.reason = 'the quarantined record was an answer, and the item has no handledBy now (kept)';
    return report;
  }
  const { entries } = prepare(records);
  const invalid = stillInvalid(entries);
  if (invalid) {
    report.entries = entries.map(describeEntry);
    report.reason = `${invalid} (kept)`;
    return report;
  }
  return settle(ctx, report, entries, deleteMessage(ctx, queueUrl, message));
};

/** `--quarantine`: every message of the quarantine queue, after the items were fixed. */
export const replayQuarantine = async (ctx: ReplayContext, queueUrl: string): Promise<ItemReport[]> => {
  const reports: ItemReport[] = [];
  const held: [Message, ItemReport][] = [];
  for await (const message of receiveAll(ctx.clients.sqs, queueUrl, ctx.dryRun ? DRY_RUN_VISIBILITY_TIMEOUT_S : REPLAY_VISIBILITY_TIMEOUT_S)) {
    const report = await replayQuarantineMessage(ctx, queueUrl, message);
    ctx.log?.(formatItem(report));
    reports.push(report);
    held.push([message, report]);
  }
  // Released only now: released earlier, they would come back in this run's own receives.
  for (const [message, report] of held) await release(ctx, queueUrl, message, report);
  return reports;
};

export const summarize = (items: ItemReport[]): ReplaySummary => ({
  items,
  replayed: items.filter((i) => i.outcome === 'replayed').length,
  skipped: items.filter((i) => i.outcome === 'skipped').length,
  failed: items.filter((i) => i.outcome === 'failed').length,
  wouldRun: items.filter((i) => i.outcome === 'would run').length,
});

/** One item's lines: what, from where, what ran, how it ended. */
export const formatItem = (item: ItemReport): string =>
  [
    `${item.outcome.toUpperCase()} ${item.source} ${item.id}`,
    `  read from: ${item.readFrom}; ${item.records} record(s)`,
    ...item.entries.map((entry) => `  entry: ${entry}`),
    ...item.executionArns.map((arn) => `  execution: ${arn}`),
    ...(item.deleted ? ['  source message deleted'] : []),
    ...(item.reason ? [`  why: ${item.reason}`] : []),
  ].join('\n');

export const formatSummary = (summary: ReplaySummary, dryRun: boolean): string => {
  const counts = dryRun
    ? `would run ${summary.wouldRun}, skipped ${summary.skipped}, failed ${summary.failed} (dry run: nothing was started or deleted)`
    : `replayed ${summary.replayed}, skipped ${summary.skipped}, failed ${summary.failed}`;
  const reasons = summary.items.filter((i) => i.outcome === 'failed' || i.outcome === 'skipped').map((i) => `  ${i.outcome} ${i.source} ${i.id}: ${i.reason ?? ''}`);
  return [`summary: ${counts}`, ...reasons].join('\n');
};
