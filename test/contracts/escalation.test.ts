import {
  ANSWER_TIMER_START_PATTERN,
  ANSWER_TIMER_STOP_PATTERN,
  ESCALATION_SUBJECT_MAX_CHARS,
  escalationMessageOf,
  escalationRules,
  formatWaiting,
  markerKeyOf,
  NOBODY_ONLINE_PATTERN,
  OutcomeRuleEventSchema,
  SCHEDULE_NAME_PATTERN,
  scheduleNameOf,
  UNROUTED_PATTERN,
} from '../../contracts/escalation';
import { FIELD_LIMITS } from '../../contracts/envelope';
import { matchesEventPattern } from '../../contracts/event-pattern';
import { OUTCOME_DETAIL_TYPES, OUTCOME_EVENT_SOURCE, ZERO_OUTCOME_COUNTS, type NotificationOutcome } from '../../contracts/outcomes';

const outcome = (overrides: Partial<NotificationOutcome> = {}): NotificationOutcome => ({
  version: 1,
  detailType: OUTCOME_DETAIL_TYPES.fannedOut,
  notificationId: 'c-1/m-1#created',
  deduplicationId: 'a'.repeat(64),
  tenantId: 'acme',
  conversationId: 'c-1',
  messageId: 'm-1',
  kind: 'created',
  topic: 'team',
  createdAt: '2026-12-01T10:00:00.000Z',
  counts: { devices: 2, online: 0, pushed: 0, pushFailures: 0, inboxed: 2 },
  executionId: 'arn:aws:states:us-east-1:000000000000:express:fanout:x:y',
  ...overrides,
});
const eventOf = (detail: NotificationOutcome) => ({ source: OUTCOME_EVENT_SOURCE, 'detail-type': detail.detailType, detail });

describe('escalation contract', () => {
  it('names a schedule with at most 64 characters of [0-9A-Za-z-_.], whatever the ids hold', () => {
    const longest = { conversationId: '~'.repeat(FIELD_LIMITS.conversationId), messageId: '/#'.repeat(FIELD_LIMITS.messageId / 2) };
    for (const identity of [{ conversationId: 'c', messageId: 'm' }, longest, { conversationId: 'a b/c', messageId: 'ü' }]) {
      const name = scheduleNameOf(identity);
      expect(name).toMatch(SCHEDULE_NAME_PATTERN);
      expect(name.length).toBe(64);
    }
  });

  it('gives one identity always the same schedule name and two identities different ones, even when a "/" inside an id could make them collide', () => {
    expect(scheduleNameOf({ conversationId: 'c-1', messageId: 'm-1' })).toBe(scheduleNameOf({ conversationId: 'c-1', messageId: 'm-1' }));
    expect(scheduleNameOf({ conversationId: 'a/b', messageId: 'c' })).not.toBe(scheduleNameOf({ conversationId: 'a', messageId: 'b/c' }));
    expect(scheduleNameOf({ conversationId: 'c-1', messageId: 'm-1' })).not.toBe(scheduleNameOf({ conversationId: 'c-1', messageId: 'm-2' }));
  });

  it('keeps the schedule name of an identity across releases: a changed name would leave running timers unmatched', () => {
    expect(scheduleNameOf({ conversationId: 'a/b', messageId: 'c' })).toBe('unanswered-529d15351c88e5f398f72b55eee0ebce3b44e1b588ce1e9e1a4e1');
  });

  it('keys a marker by reason and identity, ids encoded', () => {
    expect(markerKeyOf({ conversationId: 'a/b', messageId: 'c' }, 'unanswered')).toBe('unanswered#a%2Fb/c');
    expect(markerKeyOf({ conversationId: 'a', messageId: 'b/c' }, 'unanswered')).toBe('unanswered#a/b%2Fc');
    expect(markerKeyOf({ conversationId: 'a', messageId: 'b' }, 'nobody-online')).not.toBe(markerKeyOf({ conversationId: 'a', messageId: 'b' }, 'unrouted'));
  });

  it('matches nobody-online only for created fanned-out outcomes with 0 online', () => {
    expect(matchesEventPattern(NOBODY_ONLINE_PATTERN, eventOf(outcome()))).toBe(true);
    expect(matchesEventPattern(NOBODY_ONLINE_PATTERN, eventOf(outcome({ counts: { ...ZERO_OUTCOME_COUNTS, devices: 2, online: 1 } })))).toBe(false);
    expect(matchesEventPattern(NOBODY_ONLINE_PATTERN, eventOf(outcome({ kind: 'handled', handledAt: '2026-12-01T10:01:00.000Z' })))).toBe(false);
    expect(matchesEventPattern(NOBODY_ONLINE_PATTERN, eventOf(outcome({ detailType: OUTCOME_DETAIL_TYPES.unrouted, counts: ZERO_OUTCOME_COUNTS })))).toBe(false);
  });

  it('matches unrouted for created unrouted outcomes only', () => {
    const unrouted = outcome({ detailType: OUTCOME_DETAIL_TYPES.unrouted, counts: ZERO_OUTCOME_COUNTS });
    expect(matchesEventPattern(UNROUTED_PATTERN, eventOf(unrouted))).toBe(true);
    expect(matchesEventPattern(UNROUTED_PATTERN, eventOf({ ...unrouted, kind: 'handled' }))).toBe(false);
    expect(matchesEventPattern(UNROUTED_PATTERN, eventOf(outcome()))).toBe(false);
  });

  it('starts the answer timer for every created fanned-out outcome and stops it for every handled one, fanned out or unrouted', () => {
    expect(matchesEventPattern(ANSWER_TIMER_START_PATTERN, eventOf(outcome({ counts: { ...ZERO_OUTCOME_COUNTS, devices: 1, online: 1 } })))).toBe(true);
    expect(matchesEventPattern(ANSWER_TIMER_START_PATTERN, eventOf(outcome({ kind: 'handled' })))).toBe(false);
    expect(matchesEventPattern(ANSWER_TIMER_STOP_PATTERN, eventOf(outcome({ kind: 'handled' })))).toBe(true);
    expect(matchesEventPattern(ANSWER_TIMER_STOP_PATTERN, eventOf(outcome({ kind: 'handled', detailType: OUTCOME_DETAIL_TYPES.unrouted })))).toBe(true);
    expect(matchesEventPattern(ANSWER_TIMER_STOP_PATTERN, eventOf(outcome()))).toBe(false);
  });

  it("accepts an outcome rule event whose detail-type is its detail's detailType and refuses one where they differ", () => {
    expect(OutcomeRuleEventSchema.safeParse(eventOf(outcome())).success).toBe(true);
    const parsed = OutcomeRuleEventSchema.safeParse({ ...eventOf(outcome()), 'detail-type': OUTCOME_DETAIL_TYPES.unrouted });
    expect(parsed.error?.issues).toEqual([expect.objectContaining({ path: ['detail-type'], message: expect.stringMatching(/differs from the outcome's detailType/) })]);
  });

  it('leaves the answer-timer rules out when the timer is off', () => {
    expect(escalationRules(5).map((r) => `${r.id}:${r.target}`)).toEqual([
      'escalate-nobody-online:escalate',
      'escalate-unrouted:escalate',
      'answer-timer-start:answer-timer',
      'answer-timer-stop:answer-timer',
    ]);
    expect(escalationRules(0).map((r) => r.id)).toEqual(['escalate-nobody-online', 'escalate-unrouted']);
  });

  it('says how long the customer has waited in words', () => {
    expect(formatWaiting(30_999)).toBe('30 s');
    expect(formatWaiting(-5)).toBe('0 s');
    expect(formatWaiting(7 * 60_000 + 59_000)).toBe('7 min');
    expect(formatWaiting(125 * 60_000)).toBe('2 h 5 min');
    expect(formatWaiting(120 * 60_000)).toBe('2 h');
    expect(formatWaiting((3 * 24 + 4) * 3_600_000)).toBe('3 d 4 h');
  });

  it('writes a subject and a body with the tenant, the conversation and the waiting time, and no customer text', () => {
    const { subject, message } = escalationMessageOf(
      { reason: 'nobody-online', tenantId: 'acme', conversationId: 'c-1', messageId: 'm-1', topic: 'team', createdAt: '2026-12-01T10:00:00.000Z', counts: outcome().counts },
      new Date('2026-12-01T10:06:30.000Z'),
    );
    expect(subject).toBe('Customer waiting 6 min, no agent online: tenant acme');
    expect(message).toBe(
      [
        'A customer has been waiting 6 min (no agent online).',
        'The message reached agent devices, but none of them was online: nobody has seen it yet.',
        '',
        'Tenant:       acme',
        'Conversation: c-1',
        'Message:      m-1',
        'Sent at:      2026-12-01T10:00:00.000Z',
        'For:          the team (team)',
        'Devices:      2 found, 0 online, 2 inboxed',
        'Reason:       nobody-online',
      ].join('\n'),
    );
  });

  it('keeps the subject under 100 printable ASCII characters for the longest and most exotic tenant ids', () => {
    const { subject } = escalationMessageOf(
      { reason: 'unanswered', tenantId: 'Ünïcödé\n'.repeat(16), conversationId: 'c', messageId: 'm', topic: 'direct', createdAt: '2026-12-01T10:00:00.000Z' },
      new Date('2026-12-04T14:00:00.000Z'),
    );
    expect(subject.length).toBeLessThanOrEqual(ESCALATION_SUBJECT_MAX_CHARS);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
    expect(subject.startsWith('Customer waiting 3 d 4 h, not answered: tenant ?n?c?d??')).toBe(true);
    expect(subject.endsWith('...')).toBe(true);
  });
});
