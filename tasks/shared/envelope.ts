import { z } from 'zod';

/**
 * The notification envelope: what a device receives, by IoT push and in its inbox.
 * One schema for the task Lambdas, the AgentCRM client and the local runtime (DESIGN §3).
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
 * SQS limits MessageGroupId and MessageDeduplicationId to 128 characters of printable ASCII;
 * the ids below feed both, so they are held to that at the boundary.
 */
const sqsIdPart = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const ConversationIdSchema = sqsIdPart(128);
/** `<messageId>#handled` must still fit in 128 characters. */
export const MessageIdSchema = sqsIdPart(128 - '#handled'.length);

const isoDateTime = z.iso.datetime({ offset: true });

export const NotificationEnvelopeSchema = z
  .object({
    notificationId: z.string().regex(/^.+#(created|handled)$/, 'must be <messageId>#created or <messageId>#handled'),
    kind: NotificationKindSchema,
    messageId: MessageIdSchema,
    conversationId: ConversationIdSchema,
    tenantId: z.string().min(1),
    topic: TopicSchema,
    senderId: z.string().min(1),
    senderType: SenderTypeSchema,
    channel: z.string().min(1),
    preview: z.string().max(PREVIEW_LENGTH),
    createdAt: isoDateTime,
    handledBy: z.string().min(1).optional(),
    handledAt: isoDateTime.optional(),
    streamSequence: z.string().min(1),
  })
  .superRefine((n, ctx) => {
    const expectedId = `${n.messageId}#${n.kind === 'message.created' ? 'created' : 'handled'}`;
    if (n.notificationId !== expectedId) {
      ctx.addIssue({ code: 'custom', path: ['notificationId'], message: `must be ${expectedId}` });
    }
    if (n.kind === 'message.handled' && n.handledBy === undefined) {
      ctx.addIssue({ code: 'custom', path: ['handledBy'], message: 'is required for message.handled' });
    }
  });

export type NotificationEnvelope = z.infer<typeof NotificationEnvelopeSchema>;

export const notificationIdOf = (messageId: string, kind: NotificationKind): string =>
  `${messageId}#${kind === 'message.created' ? 'created' : 'handled'}`;

/** Who a message is for, as the workflow's ChooseTopic and ResolveRecipients need it. */
export const AudienceSchema = z.object({
  topic: TopicSchema,
  tenantId: z.string().min(1),
  senderId: z.string().min(1),
  senderType: SenderTypeSchema,
  assignedAgentId: z.string().min(1).optional(),
  teamId: z.string().min(1).optional(),
});
export type Audience = z.infer<typeof AudienceSchema>;

/** DESIGN §3 topic choice: assigned agent → direct; else team → team; else → sender. */
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

/**
 * A client id ends up as an MQTT topic segment (`notify/<clientId>`) and inside an SQS queue name
 * (`<prefix>-inbox-<clientId>.fifo`, at most 80 characters of [A-Za-z0-9_-]); anything else could
 * publish to a wildcard or fail queue creation, so such ids are never sent.
 */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]+$/;
export const SQS_QUEUE_NAME_MAX = 80;

export const inboxQueueName = (inboxQueueNamePrefix: string, clientId: string): string =>
  `${inboxQueueNamePrefix}${clientId}.fifo`;

export const maxClientIdLength = (inboxQueueNamePrefix: string): number =>
  SQS_QUEUE_NAME_MAX - inboxQueueNamePrefix.length - '.fifo'.length;

export const clientIdProblem = (clientId: string, inboxQueueNamePrefix: string): string | undefined => {
  if (!CLIENT_ID_PATTERN.test(clientId)) return 'has characters other than A-Z a-z 0-9 _ -';
  const max = maxClientIdLength(inboxQueueNamePrefix);
  if (clientId.length > max) return `is longer than ${max} characters`;
  return undefined;
};
