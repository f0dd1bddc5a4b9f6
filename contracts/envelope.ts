import { z } from 'zod';

/**
 * The notification envelope: what a device receives, by IoT push and in its inbox.
 * One schema for the task Lambdas, the AgentCRM client and the local runtime (docs/design.md §3
 * "Notification envelope").
 */

export const TOPICS = ['direct', 'team', 'sender'] as const;
export const TopicSchema = z.enum(TOPICS);
export type Topic = z.infer<typeof TopicSchema>;

export const SENDER_TYPES = ['customer', 'agent', 'bot', 'system'] as const;
export const SenderTypeSchema = z.enum(SENDER_TYPES);
export type SenderType = z.infer<typeof SenderTypeSchema>;

export const NOTIFICATION_KINDS = ['message.created', 'message.handled'] as const;
export const NotificationKindSchema = z.enum(NOTIFICATION_KINDS);
export type NotificationKind = z.infer<typeof NotificationKindSchema>;

export const PREVIEW_LENGTH = 200;

/**
 * The longest value of every envelope field. Every field is bounded so that an envelope is a few KB
 * whatever the item holds: a field over its bound is a quarantine reason naming the field, never a
 * larger message. Ids feed SQS MessageGroupId (128 characters), IoT topics and DynamoDB keys.
 */
export const FIELD_LIMITS = {
  conversationId: 128,
  messageId: 128,
  tenantId: 128,
  senderId: 128,
  channel: 64,
  agentId: 128,
  teamId: 128,
  /** DynamoDB stream sequence numbers are 21 to 40 digits. */
  streamSequence: 64,
  /** ISO-8601 with offset and fractions, e.g. 2025-03-04T10:15:30.120000+05:30. */
  timestamp: 40,
} as const;

/**
 * SQS limits MessageGroupId to 128 characters of printable ASCII, and the conversation id is the
 * group id; message ids share the rule so that an identity is always printable and unambiguous.
 */
const sqsIdPart = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const ConversationIdSchema = sqsIdPart(FIELD_LIMITS.conversationId);
export const MessageIdSchema = sqsIdPart(FIELD_LIMITS.messageId);
export const TenantIdSchema = z.string().min(1).max(FIELD_LIMITS.tenantId);
export const SenderIdSchema = z.string().min(1).max(FIELD_LIMITS.senderId);
export const ChannelSchema = z.string().min(1).max(FIELD_LIMITS.channel);
export const AgentIdSchema = z.string().min(1).max(FIELD_LIMITS.agentId);
export const TeamIdSchema = z.string().min(1).max(FIELD_LIMITS.teamId);
export const IsoDateTimeSchema = z.iso.datetime({ offset: true }).max(FIELD_LIMITS.timestamp);

/** What identifies a message: messageId is unique only within its conversation. */
export interface MessageIdentity {
  readonly conversationId: string;
  readonly messageId: string;
}

const kindSuffix = (kind: NotificationKind): string => (kind === 'message.created' ? 'created' : 'handled');

/**
 * `<conversationId>/<messageId>`, each id URI-encoded so that a `/` or `#` inside an id can never
 * make two identities collide, nor be mistaken for what a caller appends.
 */
export const identityKeyOf = (identity: MessageIdentity): string =>
  `${encodeURIComponent(identity.conversationId)}/${encodeURIComponent(identity.messageId)}`;

/** `<identityKeyOf>#created|handled`. */
export const notificationIdOf = (identity: MessageIdentity, kind: NotificationKind): string =>
  `${identityKeyOf(identity)}#${kindSuffix(kind)}`;

/** The SQS deduplication id of a notification event: a hex SHA-256 (computed in task code). */
export const DeduplicationIdSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex SHA-256');

export const NotificationEnvelopeSchema = z
  .object({
    notificationId: z.string().min(1),
    /**
     * Identifies the notification event: identity, kind and the item's createdAt (created) or
     * handledAt (handled). The same record delivered twice has the same id; a message deleted and
     * written again (new createdAt) has another.
     */
    deduplicationId: DeduplicationIdSchema,
    kind: NotificationKindSchema,
    messageId: MessageIdSchema,
    conversationId: ConversationIdSchema,
    tenantId: TenantIdSchema,
    topic: TopicSchema,
    senderId: SenderIdSchema,
    senderType: SenderTypeSchema,
    channel: ChannelSchema,
    preview: z.string().max(PREVIEW_LENGTH),
    createdAt: IsoDateTimeSchema,
    handledBy: AgentIdSchema.optional(),
    handledAt: IsoDateTimeSchema.optional(),
    streamSequence: z.string().min(1).max(FIELD_LIMITS.streamSequence),
  })
  .superRefine((n, ctx) => {
    const expectedId = notificationIdOf(n, n.kind);
    if (n.notificationId !== expectedId) {
      ctx.addIssue({ code: 'custom', path: ['notificationId'], message: `must be ${expectedId}` });
    }
    if (n.kind === 'message.handled' && n.handledBy === undefined) {
      ctx.addIssue({ code: 'custom', path: ['handledBy'], message: 'is required for message.handled' });
    }
  });

export type NotificationEnvelope = z.infer<typeof NotificationEnvelopeSchema>;

/** Who a message is for, as the workflow's ChooseTopic and ResolveRecipients need it. */
export const AudienceSchema = z.object({
  topic: TopicSchema,
  tenantId: TenantIdSchema,
  senderId: SenderIdSchema,
  senderType: SenderTypeSchema,
  assignedAgentId: AgentIdSchema.optional(),
  teamId: TeamIdSchema.optional(),
});
export type Audience = z.infer<typeof AudienceSchema>;

/** docs/design.md §3 "Topic choice": assigned agent → direct; else team → team; else → sender. */
export const chooseTopic = (item: { assignedAgentId?: string; teamId?: string }): Topic => {
  if (item.assignedAgentId !== undefined) return 'direct';
  if (item.teamId !== undefined) return 'team';
  return 'sender';
};

/** A device as the recipients query returns it. */
export const DeviceSchema = z.object({
  agentId: z.string().min(1),
  clientId: z.string().min(1),
});
export type Device = z.infer<typeof DeviceSchema>;

export const DeviceWithPresenceSchema = DeviceSchema.extend({ online: z.boolean() });
export type DeviceWithPresence = z.infer<typeof DeviceWithPresenceSchema>;
