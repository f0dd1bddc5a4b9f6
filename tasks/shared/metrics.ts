/**
 * The names of what the task Lambdas measure, without Powertools itself, so that the CDK app
 * (the function environment, the ops dashboard and alarms) can import them.
 */

/** The CloudWatch namespace of every metric the task Lambdas emit (EMF); the ops dashboard reads it. */
export const METRICS_NAMESPACE = 'ConvoNotify';

/**
 * Every metric name the task Lambdas emit, in one place so the dashboard and alarms
 * (infra/constructs/operations-*.ts) can import them instead of repeating a string.
 */
export const METRIC_NAMES = {
  /** normalize-batch: stream records turned into workflow records. */
  recordsNormalized: 'RecordsNormalized',
  /** normalize-batch: stream records set aside with a reason (docs/design.md §4). */
  recordsQuarantined: 'RecordsQuarantined',
  /** resolve-recipients: devices returned for an audience page. */
  devicesResolved: 'DevicesResolved',
  /** resolve-recipients: recipients rows that cannot be a device (bad ids); each is logged. */
  devicesSkipped: 'DevicesSkipped',
  /** check-presence: devices found online (pushed to) and offline (inbox only). */
  devicesOnline: 'DevicesOnline',
  devicesOffline: 'DevicesOffline',
  /** record-presence: lifecycle events written to the PRESENCE table. */
  presenceRecorded: 'PresenceRecorded',
  /** record-presence: lifecycle events older than what the PRESENCE item holds (dropped). */
  stalePresenceEvents: 'StalePresenceEvents',
  /** record-presence: lifecycle events refused or ignored (clock skew, not a device, subscriptions). */
  presenceEventsIgnored: 'PresenceEventsIgnored',
  /** agent-api: one per request, dimensions `route` and `statusClass` (2xx, 4xx, 5xx). */
  apiRequests: 'ApiRequests',
  /** iot-authorizer: one per connection attempt, dimensions `decision` (allowed, denied) and `reason`. */
  authorizerDecisions: 'AuthorizerDecisions',
  /** deactivate-devices: devices marked inactive by the stale-device sweep. */
  devicesDeactivated: 'DevicesDeactivated',
  /** deactivate-devices: registry items the sweep could not delete (each is logged). */
  registryItemsLeft: 'RegistryItemsLeft',
  /** apply-schema: SQL statements run at deploy. */
  schemaStatementsApplied: 'SchemaStatementsApplied',
  /** escalate: escalations published to the topic, dimension `reason`. */
  escalationsPublished: 'EscalationsPublished',
  /**
   * escalate: escalations not published, dimensions `reason` and `skipped` (already-escalated: the
   * marker existed; handled; gone).
   */
  escalationsSkipped: 'EscalationsSkipped',
  /** answer-timer: schedules created, dimension `result` (created, exists). */
  answerTimersStarted: 'AnswerTimersStarted',
  /** answer-timer: schedules deleted, dimension `result` (deleted, gone). */
  answerTimersStopped: 'AnswerTimersStopped',
} as const;

export type MetricName = (typeof METRIC_NAMES)[keyof typeof METRIC_NAMES];

/**
 * The `reason` dimension of iot-authorizer's AuthorizerDecisions: a few fixed classes, since the
 * logged reasons carry numbers and token details that would make a dimension value per connection.
 */
export const AUTHORIZER_DECISION_REASONS = {
  allowed: 'allowed',
  malformedToken: 'malformed-token',
  malformedClientId: 'malformed-client-id',
  invalidToken: 'invalid-token',
  tokenExpiring: 'token-expiring',
  clientIdOfOtherAgent: 'client-id-of-other-agent',
  verificationFailed: 'verification-failed',
} as const;
export type AuthorizerDecisionReason = (typeof AUTHORIZER_DECISION_REASONS)[keyof typeof AUTHORIZER_DECISION_REASONS];

/** The reasons by `decision` dimension: one allows, every other one denies. */
export const AUTHORIZER_DECISIONS = (() => {
  const { allowed, ...denied } = AUTHORIZER_DECISION_REASONS;
  return { allowed: [allowed], denied: Object.values(denied) } as const;
})();

/** The agent API's `statusClass` dimension: its routes answer 2xx, 4xx or 5xx, never 1xx or 3xx. */
export const API_STATUS_CLASSES = ['2xx', '4xx', '5xx'] as const;
