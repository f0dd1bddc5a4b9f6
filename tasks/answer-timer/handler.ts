import { CreateScheduleCommand, DeleteScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { z } from 'zod';
import {
  ANSWER_TIMER_ENV,
  OutcomeRuleEventSchema,
  SCHEDULE_NAME_PATTERN,
  scheduleNameOf,
  type UnansweredTimerInput,
} from '../../contracts/escalation';
import { OUTCOME_DETAIL_TYPES, OUTCOME_EVENT_SOURCE, type NotificationOutcome } from '../../contracts/outcomes';
import { InvalidTaskInputError } from '../shared/errors';
import { readEnv } from '../shared/env';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';
import { describeZodError } from '../shared/validation';

/**
 * Answer timer (docs/escalation.md): for each created message that reached devices, a one-time
 * EventBridge Scheduler schedule at createdAt + answerWithinMinutes whose target (the escalate task)
 * escalates the message if it is still not handled; a handled message deletes its schedule.
 *
 * The schedule name is a hash of the identity, so a duplicate or replayed record finds the schedule
 * there (ConflictException) and creates no second one. The time is computed here because the
 * workflow's JSONPath has no date arithmetic, and it is never in the past: a late replay schedules
 * shortly from now instead, and the escalate task's marker keeps that to one escalation.
 */

/** Retries of the escalate invocation by the Scheduler, then the schedule DLQ. */
export const SCHEDULE_RETRY_POLICY = { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 3600 } as const;

/**
 * The earliest a schedule is set for, from now: Scheduler invokes with 60-second precision, and
 * what its documentation does not say is what a one-time schedule for a past time does, so none is
 * ever created. Shorter timers (the local demo) use their own length.
 */
export const MIN_SCHEDULE_LEAD_MS = 60_000;

// 0 (off) still loads: the local runtime loads this handler whatever the timer, and then routes
// nothing to it (escalationRules(0)); the stack creates no answer-timer function at all for 0.
const minutesSchema = z.coerce.number().min(0, 'must be 0 (off) or more').finite();
const ARN = /^arn:aws[a-z-]*:/;
const timerEnv = readEnv({
  [ANSWER_TIMER_ENV.answerWithinMinutes]: minutesSchema,
  [ANSWER_TIMER_ENV.groupName]: z.string().regex(SCHEDULE_NAME_PATTERN, 'must be a schedule group name'),
  [ANSWER_TIMER_ENV.targetArn]: z.string().regex(ARN, 'must be an ARN'),
  [ANSWER_TIMER_ENV.roleArn]: z.string().regex(ARN, 'must be an ARN'),
  [ANSWER_TIMER_ENV.dlqArn]: z.string().regex(/^arn:aws[a-z-]*:sqs:/, 'must be an SQS queue ARN'),
});
const answerWithinMs = timerEnv[ANSWER_TIMER_ENV.answerWithinMinutes] * 60_000;

const { logger, metrics, tracer, instrument } = observability('answer-timer');
const scheduler = tracer.captureAWSv3Client(new SchedulerClient({}));

/** The Scheduler refused a call for another reason than "exists" / "not found"; the invocation is retried. */
export class SchedulerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SchedulerUnavailableError';
  }
}


export type AnswerTimerResult = { readonly outcome: 'created' | 'exists' | 'deleted' | 'gone'; readonly scheduleName: string; readonly at?: string };

/** `at(yyyy-mm-ddThh:mm:ss)` in UTC, rounded up to the second so it is never before `ms`. */
export const atExpressionOf = (ms: number): string => `at(${new Date(Math.ceil(ms / 1000) * 1000).toISOString().slice(0, 19)})`;

/** When the schedule fires: the due time, or a lead from now when that is already (nearly) past. */
export const scheduleTimeOf = (createdAt: string, nowMs: number, withinMs: number): { dueMs: number; atMs: number } => {
  const dueMs = Date.parse(createdAt) + withinMs;
  return { dueMs, atMs: Math.max(dueMs, nowMs + Math.min(MIN_SCHEDULE_LEAD_MS, withinMs)) };
};

const failure = (error: unknown): string => `${(error as Error).name}: ${(error as Error).message}`;

const start = async (outcome: NotificationOutcome, env: typeof timerEnv): Promise<AnswerTimerResult> => {
  const scheduleName = scheduleNameOf(outcome);
  const { dueMs, atMs } = scheduleTimeOf(outcome.createdAt, Date.now(), answerWithinMs);
  const input: UnansweredTimerInput = {
    version: 1,
    reason: 'unanswered',
    tenantId: outcome.tenantId,
    conversationId: outcome.conversationId,
    messageId: outcome.messageId,
    topic: outcome.topic,
    createdAt: outcome.createdAt,
    dueAt: new Date(dueMs).toISOString(),
  };
  const at = atExpressionOf(atMs);
  try {
    await scheduler.send(
      new CreateScheduleCommand({
        Name: scheduleName,
        GroupName: env[ANSWER_TIMER_ENV.groupName],
        ScheduleExpression: at,
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        State: 'ENABLED',
        Target: {
          Arn: env[ANSWER_TIMER_ENV.targetArn],
          RoleArn: env[ANSWER_TIMER_ENV.roleArn],
          Input: JSON.stringify(input),
          DeadLetterConfig: { Arn: env[ANSWER_TIMER_ENV.dlqArn] },
          RetryPolicy: SCHEDULE_RETRY_POLICY,
        },
      }),
    );
  } catch (error) {
    if ((error as Error)?.name === 'ConflictException') {
      logger.info('answer timer exists already (duplicate or replayed record)', { scheduleName, conversationId: outcome.conversationId, messageId: outcome.messageId });
      metrics.addDimensions({ result: 'exists' });
      metrics.addMetric(METRIC_NAMES.answerTimersStarted, MetricUnit.Count, 1);
      return { outcome: 'exists', scheduleName, at };
    }
    throw new SchedulerUnavailableError(`the answer timer could not be created: ${failure(error)}`, { cause: error });
  }
  const late = atMs > dueMs;
  logger.info(late ? 'answer timer created for a message already past its time (late record)' : 'answer timer created', {
    scheduleName,
    at,
    conversationId: outcome.conversationId,
    messageId: outcome.messageId,
  });
  metrics.addDimensions({ result: 'created' });
  metrics.addMetric(METRIC_NAMES.answerTimersStarted, MetricUnit.Count, 1);
  return { outcome: 'created', scheduleName, at };
};

const stop = async (outcome: NotificationOutcome, env: typeof timerEnv): Promise<AnswerTimerResult> => {
  const scheduleName = scheduleNameOf(outcome);
  try {
    await scheduler.send(new DeleteScheduleCommand({ Name: scheduleName, GroupName: env[ANSWER_TIMER_ENV.groupName] }));
  } catch (error) {
    if ((error as Error)?.name === 'ResourceNotFoundException') {
      // Fired and deleted after completion, deleted by an earlier copy of this event, or never created.
      logger.info('answer timer already gone', { scheduleName, conversationId: outcome.conversationId, messageId: outcome.messageId });
      metrics.addDimensions({ result: 'gone' });
      metrics.addMetric(METRIC_NAMES.answerTimersStopped, MetricUnit.Count, 1);
      return { outcome: 'gone', scheduleName };
    }
    throw new SchedulerUnavailableError(`the answer timer could not be deleted: ${failure(error)}`, { cause: error });
  }
  logger.info('answer timer deleted', { scheduleName, conversationId: outcome.conversationId, messageId: outcome.messageId });
  metrics.addDimensions({ result: 'deleted' });
  metrics.addMetric(METRIC_NAMES.answerTimersStopped, MetricUnit.Count, 1);
  return { outcome: 'deleted', scheduleName };
};

export const handler = instrument(async (event: unknown): Promise<AnswerTimerResult> => {
  const parsed = OutcomeRuleEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new InvalidTaskInputError(`expected an outcome event (source ${OUTCOME_EVENT_SOURCE}, detail = notification outcome): ${describeZodError(parsed.error).message}`);
  }
  const outcome = parsed.data.detail;
  if (outcome.kind === 'handled') return stop(outcome, timerEnv);
  if (outcome.detailType === OUTCOME_DETAIL_TYPES.fannedOut) return start(outcome, timerEnv);
  throw new InvalidTaskInputError(`a created ${outcome.detailType} outcome starts no answer timer: the rule's pattern is wrong`);
});
