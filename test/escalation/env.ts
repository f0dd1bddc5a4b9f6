/**
 * The environment of the escalate and answer-timer tasks, set before a test file loads them (they
 * read it once at cold start). Metrics on, so tests can assert what was counted.
 */
export const ESCALATION_TEST_ENV = {
  ESCALATION_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:convo-notify-escalations',
  ESCALATION_MARKERS_TABLE_NAME: 'convo-notify-escalation-markers',
  CONVO_HISTORY_TABLE_NAME: 'CONVO_HISTORY',
  SCHEDULE_GROUP_NAME: 'convo-notify-answer-timers',
  SCHEDULE_TARGET_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:convo-notify-escalate',
  SCHEDULE_ROLE_ARN: 'arn:aws:iam::123456789012:role/convo-notify-scheduler',
  SCHEDULE_DLQ_ARN: 'arn:aws:sqs:us-east-1:123456789012:convo-notify-schedule-dlq',
  ANSWER_WITHIN_MINUTES: '5',
  LOG_LEVEL: 'DEBUG',
  POWERTOOLS_METRICS_DISABLED: 'false',
} as const;

Object.assign(process.env, ESCALATION_TEST_ENV);
