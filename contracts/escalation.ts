import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  ConversationIdSchema,
  IsoDateTimeSchema,
  MessageIdSchema,
  TenantIdSchema,
  TopicSchema,
  identityKeyOf,
  type MessageIdentity,
  type Topic,
} from './envelope';
import type { EventPattern } from './event-pattern';
import { AWS_LIMITS } from './limits';
import { NotificationOutcomeSchema, OUTCOME_DETAIL_TYPES, OUTCOME_EVENT_SOURCE, type OutcomeCounts } from './outcomes';

/**
 * Escalation (docs/escalation.md): somebody is told when a customer message reaches nobody, or when
 * nobody answers it in time. One definition for the escalate and answer-timer tasks, the CDK rules,
 * scheduler group and tables (G2), and the local runtime.
 *
 * - `nobody-online`: a created message fanned out to devices of which none was online;
 * - `unrouted`: a created message whose audience had no active device at all;
 * - `unanswered`: a created message still not handled `answerWithinMinutes` after its createdAt
 *   (a one-time EventBridge Scheduler schedule per message).
 *
 * A message escalates at most once per reason: the escalate task writes a marker per (identity,
 * reason) with a conditional put, so a retried rule target, a record delivered twice, a replay or a
 * schedule created again by a late replay publish nothing the second time. The reasons are
 * independent: a message nobody saw and nobody then answers escalates as `nobody-online` at once and
 * as `unanswered` when its timer fires.
 */

export const ESCALATION_REASONS = ['nobody-online', 'unrouted', 'unanswered'] as const;
export const EscalationReasonSchema = z.enum(ESCALATION_REASONS);
export type EscalationReason = z.infer<typeof EscalationReasonSchema>;

// ---------------------------------------------------------------------------------------------
// Rules on the stack's event bus (outcome events, contracts/outcomes.ts)
// ---------------------------------------------------------------------------------------------

/**
 * A created message that reached devices of which none was online. The exact value 0 (EventBridge
 * matches JSON numbers exactly): a count is a whole number, so no `numeric` range is needed.
 */
export const NOBODY_ONLINE_PATTERN = {
  source: [OUTCOME_EVENT_SOURCE],
  'detail-type': [OUTCOME_DETAIL_TYPES.fannedOut],
  detail: { kind: ['created'], counts: { online: [0] } },
} as const satisfies EventPattern;

/** A created message whose audience had no active device. */
export const UNROUTED_PATTERN = {
  source: [OUTCOME_EVENT_SOURCE],
  'detail-type': [OUTCOME_DETAIL_TYPES.unrouted],
  detail: { kind: ['created'] },
} as const satisfies EventPattern;

/** Every created message that reached at least one device starts its answer timer. */
export const ANSWER_TIMER_START_PATTERN = {
  source: [OUTCOME_EVENT_SOURCE],
  'detail-type': [OUTCOME_DETAIL_TYPES.fannedOut],
  detail: { kind: ['created'] },
} as const satisfies EventPattern;

/**
 * A handled message stops its timer. Unrouted handled events too: the audience may have lost its
 * devices between the message and its answer, and the timer of the created message must still go.
 */
export const ANSWER_TIMER_STOP_PATTERN = {
  source: [OUTCOME_EVENT_SOURCE],
  'detail-type': [OUTCOME_DETAIL_TYPES.fannedOut, OUTCOME_DETAIL_TYPES.unrouted],
  detail: { kind: ['handled'] },
} as const satisfies EventPattern;

/**
 * What every rule of the list hands its target: the whole EventBridge event (no input transformer),
 * whose detail is a notification outcome. Both tasks validate their input with it. The rules match
 * on `detail-type` and the tasks act on the detail's `detailType`: an event where the two differ was
 * not put by the outcomes pipe, and either answer would be a guess.
 */
export const OutcomeRuleEventSchema = z
  .object({
    source: z.literal(OUTCOME_EVENT_SOURCE),
    'detail-type': z.string(),
    detail: NotificationOutcomeSchema,
  })
  .superRefine((event, ctx) => {
    if (event['detail-type'] !== event.detail.detailType) {
      ctx.addIssue({
        code: 'custom',
        path: ['detail-type'],
        message: `detail-type "${event['detail-type']}" differs from the outcome's detailType "${event.detail.detailType}"`,
      });
    }
  });
export type OutcomeRuleEvent = z.infer<typeof OutcomeRuleEventSchema>;

/** Which task a rule invokes. */
export type EscalationRuleTarget = 'escalate' | 'answer-timer';

export interface EscalationRule {
  /** Construct id / local rule name suffix: `<prefix>-<id>`. */
  readonly id: string;
  readonly description: string;
  readonly target: EscalationRuleTarget;
  readonly eventPattern: EventPattern;
}

/**
 * Every rule of the bus, in one list for the CDK and the local runtime. The answer-timer rules are
 * left out when `answerWithinMinutes` is 0 (`escalationRules(0)`).
 */
export const escalationRules = (answerWithinMinutes: number): readonly EscalationRule[] => [
  { id: 'escalate-nobody-online', description: 'created message, no device online: escalate', target: 'escalate', eventPattern: NOBODY_ONLINE_PATTERN },
  { id: 'escalate-unrouted', description: 'created message, no device at all: escalate', target: 'escalate', eventPattern: UNROUTED_PATTERN },
  ...(answerWithinMinutes > 0
    ? ([
        { id: 'answer-timer-start', description: 'created message: start its answer timer', target: 'answer-timer', eventPattern: ANSWER_TIMER_START_PATTERN },
        { id: 'answer-timer-stop', description: 'handled message: delete its answer timer', target: 'answer-timer', eventPattern: ANSWER_TIMER_STOP_PATTERN },
      ] as const)
    : []),
];

// ---------------------------------------------------------------------------------------------
// Answer timer: schedule names, input, configuration
// ---------------------------------------------------------------------------------------------

/** Context key `answerWithinMinutes` (infra/config.ts): 0 turns the timer off. */
export const ANSWER_WITHIN_MINUTES = { default: 5, max: 1440 } as const;

const SCHEDULE_NAME_PREFIX = 'unanswered-';

/** What a schedule name may hold (CreateSchedule `Name`: 1–64 of `[0-9a-zA-Z-_.]`). */
export const SCHEDULE_NAME_PATTERN = /^[0-9A-Za-z\-_.]{1,64}$/;

/**
 * The answer timer's schedule name: `unanswered-` + hex SHA-256 of the identity, cut to the
 * Scheduler's 64 characters (212 bits of the hash remain). Ids are up to 128 characters each and may
 * hold any printable ASCII, so they cannot be used as they are; the same identity always names the
 * same schedule, so a replay or a duplicate record creates no second one (ConflictException).
 */
export const scheduleNameOf = (identity: MessageIdentity): string => {
  const digest = createHash('sha256').update(identityKeyOf(identity), 'utf8').digest('hex');
  return `${SCHEDULE_NAME_PREFIX}${digest}`.slice(0, AWS_LIMITS.schedulerNameChars);
};

/** The schedule group of a deployment (`AWS::Scheduler::ScheduleGroup`, 1–64 of `[0-9a-zA-Z-_.]`). */
export const scheduleGroupNameOf = (prefix: string): string => `${prefix}-answer-timers`;

/**
 * The input a schedule hands the escalate task (`Target.Input`): what the message needs to be
 * looked up and described, no customer text.
 */
export const UnansweredTimerInputSchema = z.object({
  version: z.literal(1),
  reason: z.literal('unanswered'),
  tenantId: TenantIdSchema,
  conversationId: ConversationIdSchema,
  messageId: MessageIdSchema,
  topic: TopicSchema,
  createdAt: IsoDateTimeSchema,
  /** When the timer was due: createdAt + answerWithinMinutes. */
  dueAt: IsoDateTimeSchema,
});
export type UnansweredTimerInput = z.infer<typeof UnansweredTimerInputSchema>;

// ---------------------------------------------------------------------------------------------
// Markers
// ---------------------------------------------------------------------------------------------

/** The escalate task's own table: one item per (identity, reason) that escalated. */
export const ESCALATION_MARKERS_TABLE = {
  partitionKey: 'markerKey',
  /** Epoch seconds; the table's TTL attribute. */
  timeToLiveAttribute: 'expiresAt',
  attributes: { reason: 'reason', tenantId: 'tenantId', escalatedAt: 'escalatedAt' },
} as const;

/**
 * How long a marker is kept: longer than anything can bring a message back (stream retention 24 h,
 * SQS DLQs at most 14 days, then replayed by ops/replay), so a replay never escalates again.
 */
export const ESCALATION_MARKER_TTL_DAYS = 30;

/** `<reason>#<conversationId>/<messageId>`, ids URI-encoded. */
export const markerKeyOf = (identity: MessageIdentity, reason: EscalationReason): string => `${reason}#${identityKeyOf(identity)}`;

// ---------------------------------------------------------------------------------------------
// Environment of the tasks (names only: the CDK and the local runtime set them, the tasks read them)
// ---------------------------------------------------------------------------------------------

export const ESCALATE_ENV = {
  topicArn: 'ESCALATION_TOPIC_ARN',
  markersTableName: 'ESCALATION_MARKERS_TABLE_NAME',
  convoHistoryTableName: 'CONVO_HISTORY_TABLE_NAME',
} as const;

export const ANSWER_TIMER_ENV = {
  groupName: 'SCHEDULE_GROUP_NAME',
  /** The escalate function's ARN: the schedules' target. */
  targetArn: 'SCHEDULE_TARGET_ARN',
  /** The role the Scheduler assumes to invoke the target (the task needs iam:PassRole on it). */
  roleArn: 'SCHEDULE_ROLE_ARN',
  /** SQS queue for invocations the Scheduler gave up on. */
  dlqArn: 'SCHEDULE_DLQ_ARN',
  /** Minutes, a non-negative number (the local runtime uses fractions for short demo timers); 0 = off. */
  answerWithinMinutes: 'ANSWER_WITHIN_MINUTES',
} as const;

// ---------------------------------------------------------------------------------------------
// The escalation message (SNS)
// ---------------------------------------------------------------------------------------------

/** SNS `Subject`: printable ASCII without line breaks, fewer than 100 characters. */
export const ESCALATION_SUBJECT_MAX_CHARS = 99;

/** SNS message attributes every escalation carries, so subscribers can filter on them. */
export const ESCALATION_MESSAGE_ATTRIBUTES = { tenantId: 'tenantId', reason: 'reason' } as const;

/** What an escalation message says about a message. */
export interface EscalationFacts {
  readonly reason: EscalationReason;
  readonly tenantId: string;
  readonly conversationId: string;
  readonly messageId: string;
  readonly topic: Topic;
  readonly createdAt: string;
  /** Known for nobody-online (from the outcome); absent for unanswered. */
  readonly counts?: OutcomeCounts;
}

const REASON_TITLES: Record<EscalationReason, string> = {
  'nobody-online': 'no agent online',
  unrouted: 'no agent to notify',
  unanswered: 'not answered',
};

const REASON_EXPLANATIONS: Record<EscalationReason, string> = {
  'nobody-online': 'The message reached agent devices, but none of them was online: nobody has seen it yet.',
  unrouted: 'Nobody could be notified: the audience of the message has no active agent device.',
  unanswered: 'Nobody has answered the message in the time allowed.',
};

const AUDIENCES: Record<Topic, string> = { direct: 'the assigned agent', team: 'the team', sender: "the customer's agents" };

/** `40 s`, `7 min`, `2 h 5 min`, `3 d 4 h` (seconds for the local demo's short timers). */
export const formatWaiting = (milliseconds: number): string => {
  const minutes = Math.floor(Math.max(0, milliseconds) / 60_000);
  if (minutes < 1) return `${Math.floor(Math.max(0, milliseconds) / 1000)} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
};

/** SNS refuses control and non-ASCII characters in a subject: they become `?`. */
const subjectSafe = (text: string): string => text.replace(/[^\x20-\x7e]/g, '?');

/** How the body's id lines begin: escalationMessageOf writes them, escalationIdsOf reads them back. */
const ID_LINE_PREFIXES = { conversationId: 'Conversation: ', messageId: 'Message:      ' } as const;

/**
 * The SNS subject and body of an escalation, readable by a person on email or chat: tenant,
 * conversation, how long the customer has been waiting. Ids only, never the message's text.
 */
export const escalationMessageOf = (facts: EscalationFacts, now: Date): { subject: string; message: string } => {
  const waited = formatWaiting(now.getTime() - Date.parse(facts.createdAt));
  const head = `Customer waiting ${waited}, ${REASON_TITLES[facts.reason]}: tenant `;
  const room = ESCALATION_SUBJECT_MAX_CHARS - head.length;
  const tenant = subjectSafe(facts.tenantId);
  const subject = head + (tenant.length <= room ? tenant : `${tenant.slice(0, Math.max(0, room - 3))}...`);
  const lines = [
    `A customer has been waiting ${waited} (${REASON_TITLES[facts.reason]}).`,
    REASON_EXPLANATIONS[facts.reason],
    '',
    `Tenant:       ${facts.tenantId}`,
    `${ID_LINE_PREFIXES.conversationId}${facts.conversationId}`,
    `${ID_LINE_PREFIXES.messageId}${facts.messageId}`,
    `Sent at:      ${facts.createdAt}`,
    `For:          ${AUDIENCES[facts.topic]} (${facts.topic})`,
  ];
  if (facts.counts !== undefined) {
    lines.push(`Devices:      ${facts.counts.devices} found, ${facts.counts.online} online, ${facts.counts.inboxed} inboxed`);
  }
  lines.push(`Reason:       ${facts.reason}`);
  return { subject: subject.slice(0, ESCALATION_SUBJECT_MAX_CHARS), message: lines.join('\n') };
};

/**
 * The conversation and message an escalation body (escalationMessageOf) names, or undefined when it
 * names no valid pair. The last such lines count: the tenant id, shown above them, may hold line
 * breaks and so lines that look like them.
 */
export const escalationIdsOf = (message: string): { conversationId: string; messageId: string } | undefined => {
  const lines = message.split('\n').reverse();
  const after = (prefix: string) => lines.find((l) => l.startsWith(prefix))?.slice(prefix.length);
  const conversationId = ConversationIdSchema.safeParse(after(ID_LINE_PREFIXES.conversationId));
  const messageId = MessageIdSchema.safeParse(after(ID_LINE_PREFIXES.messageId));
  return conversationId.success && messageId.success ? { conversationId: conversationId.data, messageId: messageId.data } : undefined;
};
