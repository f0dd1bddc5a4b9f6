import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { z } from 'zod';
import {
  ESCALATE_ENV,
  ESCALATION_MARKER_TTL_DAYS,
  ESCALATION_MARKERS_TABLE,
  ESCALATION_MESSAGE_ATTRIBUTES,
  escalationMessageOf,
  markerKeyOf,
  OutcomeRuleEventSchema,
  UnansweredTimerInputSchema,
  type EscalationFacts,
  type EscalationReason,
} from '../../contracts/escalation';
import { OUTCOME_DETAIL_TYPES, OUTCOME_EVENT_SOURCE, type NotificationOutcome } from '../../contracts/outcomes';
import { CONVO_HISTORY_TABLE } from '../../contracts/tables';
import { InvalidTaskInputError } from '../shared/errors';
import { readEnv } from '../shared/env';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';
import { describeZodError } from '../shared/validation';

/**
 * Escalate (docs/escalation.md): tells the escalation SNS topic that a customer is waiting and
 * nobody will answer: a created message nobody online saw, one nobody could be notified of, or one
 * still unanswered when its answer timer fires. Invoked by the bus's rules (the outcome event) and
 * by the answer timer's schedule (UnansweredTimerInput).
 *
 * At most once per (message, reason): a conditional put of a marker comes before the publish, so a
 * retried or replayed event finds the marker and publishes nothing. A publish that fails removes
 * the marker again and throws, so the retry can still escalate.
 */

const env = readEnv({
  [ESCALATE_ENV.topicArn]: z.string().regex(/^arn:aws[a-z-]*:sns:[^:]+:\d{12}:[A-Za-z0-9_-]+$/, 'must be an SNS topic ARN'),
  [ESCALATE_ENV.markersTableName]: z.string().min(1),
  [ESCALATE_ENV.convoHistoryTableName]: z.string().min(1),
});
const topicArn = env[ESCALATE_ENV.topicArn];
const markersTable = env[ESCALATE_ENV.markersTableName];
const convoHistoryTable = env[ESCALATE_ENV.convoHistoryTableName];

const { logger, metrics, tracer, instrument } = observability('escalate');
const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const sns = tracer.captureAWSv3Client(new SNSClient({}));

/** CONVO_HISTORY or the marker table could not be read or written; the invocation is retried. */
export class EscalationStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EscalationStoreError';
  }
}

/** The escalation topic refused the publish; the marker was removed and the invocation is retried. */
export class EscalationPublishError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EscalationPublishError';
  }
}

export const EscalateInputSchema = z.union([OutcomeRuleEventSchema, UnansweredTimerInputSchema]);
export type EscalateInput = z.infer<typeof EscalateInputSchema>;

export type EscalateResult =
  | { readonly outcome: 'published'; readonly reason: EscalationReason; readonly markerKey: string; readonly messageId: string }
  | { readonly outcome: 'already-escalated' | 'handled' | 'gone'; readonly reason: EscalationReason; readonly markerKey: string };

/** The reason an outcome escalates for; anything else means a rule sends events it should not. */
const reasonOfOutcome = (outcome: NotificationOutcome): EscalationReason => {
  if (outcome.kind === 'created' && outcome.detailType === OUTCOME_DETAIL_TYPES.unrouted) return 'unrouted';
  if (outcome.kind === 'created' && outcome.detailType === OUTCOME_DETAIL_TYPES.fannedOut && outcome.counts.online === 0) return 'nobody-online';
  throw new InvalidTaskInputError(
    `a ${outcome.detailType} outcome of kind ${outcome.kind} with ${outcome.counts.online} online is no escalation: the rule's pattern is wrong`,
  );
};

const factsOf = (input: EscalateInput): EscalationFacts => {
  if ('reason' in input) {
    const { tenantId, conversationId, messageId, topic, createdAt } = input;
    return { reason: 'unanswered', tenantId, conversationId, messageId, topic, createdAt };
  }
  const outcome = input.detail;
  const { tenantId, conversationId, messageId, topic, createdAt, counts } = outcome;
  return { reason: reasonOfOutcome(outcome), tenantId, conversationId, messageId, topic, createdAt, counts };
};

const failure = (error: unknown): string => `${(error as Error).name}: ${(error as Error).message}`;

/**
 * Whether the message is still waiting. Checked for every reason, not only when the timer fires: a
 * late replay of a created outcome must not escalate a message an agent answered long ago.
 */
const messageState = async (facts: EscalationFacts): Promise<'waiting' | 'handled' | 'gone'> => {
  let item;
  try {
    ({ Item: item } = await dynamodb.send(
      new GetItemCommand({
        TableName: convoHistoryTable,
        Key: { [CONVO_HISTORY_TABLE.partitionKey]: { S: facts.conversationId }, [CONVO_HISTORY_TABLE.sortKey]: { S: facts.messageId } },
        ProjectionExpression: '#handledBy',
        ExpressionAttributeNames: { '#handledBy': CONVO_HISTORY_TABLE.claim.handledBy },
        ConsistentRead: true,
      }),
    ));
  } catch (error) {
    throw new EscalationStoreError(`CONVO_HISTORY could not be read: ${failure(error)}`, { cause: error });
  }
  if (item === undefined) return 'gone';
  return item[CONVO_HISTORY_TABLE.claim.handledBy] === undefined ? 'waiting' : 'handled';
};

/** true when this invocation wrote the marker, false when it was there already. */
const putMarker = async (markerKey: string, facts: EscalationFacts, now: Date): Promise<boolean> => {
  const { attributes } = ESCALATION_MARKERS_TABLE;
  try {
    await dynamodb.send(
      new PutItemCommand({
        TableName: markersTable,
        Item: {
          [ESCALATION_MARKERS_TABLE.partitionKey]: { S: markerKey },
          [attributes.reason]: { S: facts.reason },
          [attributes.tenantId]: { S: facts.tenantId },
          [attributes.escalatedAt]: { S: now.toISOString() },
          [ESCALATION_MARKERS_TABLE.timeToLiveAttribute]: { N: String(Math.floor(now.getTime() / 1000) + ESCALATION_MARKER_TTL_DAYS * 86_400) },
        },
        ConditionExpression: 'attribute_not_exists(#markerKey)',
        ExpressionAttributeNames: { '#markerKey': ESCALATION_MARKERS_TABLE.partitionKey },
      }),
    );
    return true;
  } catch (error) {
    if ((error as Error)?.name === 'ConditionalCheckFailedException') return false;
    throw new EscalationStoreError(`the escalation marker could not be written: ${failure(error)}`, { cause: error });
  }
};

const removeMarker = async (markerKey: string, escalatedAt: string): Promise<void> => {
  try {
    // Only the marker this invocation wrote: another invocation's marker stays.
    await dynamodb.send(
      new DeleteItemCommand({
        TableName: markersTable,
        Key: { [ESCALATION_MARKERS_TABLE.partitionKey]: { S: markerKey } },
        ConditionExpression: '#escalatedAt = :escalatedAt',
        ExpressionAttributeNames: { '#escalatedAt': ESCALATION_MARKERS_TABLE.attributes.escalatedAt },
        ExpressionAttributeValues: { ':escalatedAt': { S: escalatedAt } },
      }),
    );
  } catch (error) {
    // The retry will find the marker and skip: this escalation is lost, and the log says which.
    logger.error('escalation marker left behind after a failed publish: this escalation will not be retried', { markerKey, error: error as Error });
  }
};

const skip = (why: 'already-escalated' | 'handled' | 'gone', facts: EscalationFacts, markerKey: string): EscalateResult => {
  logger.info(`escalation skipped: ${why}`, { reason: facts.reason, conversationId: facts.conversationId, messageId: facts.messageId });
  metrics.addDimensions({ reason: facts.reason, skipped: why });
  metrics.addMetric(METRIC_NAMES.escalationsSkipped, MetricUnit.Count, 1);
  return { outcome: why, reason: facts.reason, markerKey };
};

export const handler = instrument(async (event: unknown): Promise<EscalateResult> => {
  const parsed = EscalateInputSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidTaskInputError(
      `expected an outcome event (source ${OUTCOME_EVENT_SOURCE}, detail = notification outcome) or an unanswered timer input: ${describeZodError(parsed.error).message}`,
    );
  }
  const facts = factsOf(parsed.data);
  const markerKey = markerKeyOf(facts, facts.reason);

  const state = await messageState(facts);
  if (state !== 'waiting') return skip(state, facts, markerKey);

  const now = new Date();
  if (!(await putMarker(markerKey, facts, now))) return skip('already-escalated', facts, markerKey);

  const { subject, message } = escalationMessageOf(facts, now);
  let messageId: string | undefined;
  try {
    ({ MessageId: messageId } = await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: subject,
        Message: message,
        MessageAttributes: {
          [ESCALATION_MESSAGE_ATTRIBUTES.tenantId]: { DataType: 'String', StringValue: facts.tenantId },
          [ESCALATION_MESSAGE_ATTRIBUTES.reason]: { DataType: 'String', StringValue: facts.reason },
        },
      }),
    ));
  } catch (error) {
    await removeMarker(markerKey, now.toISOString());
    throw new EscalationPublishError(`the escalation could not be published: ${failure(error)}`, { cause: error });
  }
  logger.info('escalation published', { reason: facts.reason, conversationId: facts.conversationId, messageId: facts.messageId, snsMessageId: messageId });
  metrics.addDimensions({ reason: facts.reason });
  metrics.addMetric(METRIC_NAMES.escalationsPublished, MetricUnit.Count, 1);
  return { outcome: 'published', reason: facts.reason, markerKey, messageId: messageId ?? '' };
});
