import { OUTCOME_DETAIL_TYPES, OUTCOME_EVENT_SOURCE, type NotificationOutcome } from '../../contracts/outcomes';

/** A notification outcome (contracts/outcomes.ts): created, fanned out to two devices, none online. */
export const outcomeOf = (overrides: Partial<NotificationOutcome> = {}): NotificationOutcome => ({
  version: 1,
  detailType: OUTCOME_DETAIL_TYPES.fannedOut,
  notificationId: 'conv-1/msg-1#created',
  deduplicationId: 'd'.repeat(64),
  tenantId: 'acme',
  conversationId: 'conv-1',
  messageId: 'msg-1',
  kind: 'created',
  topic: 'team',
  createdAt: '2026-12-01T10:00:00.000Z',
  counts: { devices: 2, online: 0, pushed: 0, pushFailures: 0, inboxed: 2 },
  executionId: 'arn:aws:states:us-east-1:123456789012:express:convo-notify-fanout:exec-1:run-1',
  ...overrides,
});

/** The EventBridge event a rule of the bus hands its target. */
export const eventOf = (detail: NotificationOutcome) => ({
  version: '0',
  id: 'event-1',
  'detail-type': detail.detailType,
  source: OUTCOME_EVENT_SOURCE,
  account: '123456789012',
  time: '2026-12-01T10:00:01Z',
  region: 'us-east-1',
  resources: [],
  detail,
});
