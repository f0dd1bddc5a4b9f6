import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { NotificationEnvelopeSchema, notificationIdOf, type NotificationEnvelope, type NotificationKind } from '../../contracts/envelope';

/** Test helpers: valid notification envelopes, by hand and as fast-check arbitraries. */

export interface NotificationSpec {
  messageId?: string;
  conversationId?: string;
  kind?: NotificationKind;
  handledBy?: string;
  handledAt?: string;
  streamSequence?: string;
  preview?: string;
  createdAt?: string;
  senderId?: string;
}

export const notification = (spec: NotificationSpec = {}): NotificationEnvelope => {
  const messageId = spec.messageId ?? 'm1';
  const kind = spec.kind ?? 'message.created';
  const handled = kind === 'message.handled';
  const conversationId = spec.conversationId ?? 'c1';
  return NotificationEnvelopeSchema.parse({
    notificationId: notificationIdOf({ conversationId, messageId }, kind),
    deduplicationId: createHash('sha256').update(JSON.stringify([conversationId, messageId, kind, spec.handledAt ?? spec.createdAt ?? ''])).digest('hex'),
    kind,
    messageId,
    conversationId,
    tenantId: 't1',
    topic: 'team',
    senderId: spec.senderId ?? 'customer-1',
    senderType: 'customer',
    channel: 'web',
    preview: spec.preview ?? `hello from ${messageId}`,
    createdAt: spec.createdAt ?? '2026-11-24T10:00:00.000Z',
    ...(handled ? { handledBy: spec.handledBy ?? 'agent-1', handledAt: spec.handledAt ?? '2026-11-24T10:05:00.000Z' } : {}),
    streamSequence: spec.streamSequence ?? (handled ? '200' : '100'),
  });
};

export const created = (messageId: string, spec: Omit<NotificationSpec, 'kind' | 'messageId'> = {}) =>
  notification({ ...spec, messageId, kind: 'message.created' });
export const handled = (messageId: string, handledBy = 'agent-1', spec: Omit<NotificationSpec, 'kind' | 'messageId' | 'handledBy'> = {}) =>
  notification({ ...spec, messageId, handledBy, kind: 'message.handled' });

/**
 * Notifications over a small id space, so that arrays of them hit the same messages often: both
 * kinds, several handlers, and competing versions of one notification (other stream sequences,
 * other previews) to exercise the fold's choice among them.
 */
export const notificationArb: fc.Arbitrary<NotificationEnvelope> = fc
  .record({
    messageId: fc.constantFrom('m1', 'm2', 'm3', 'm4'),
    conversationId: fc.constantFrom('c1', 'c2'),
    kind: fc.constantFrom<NotificationKind>('message.created', 'message.handled'),
    handledBy: fc.constantFrom('agent-1', 'agent-2'),
    streamSequence: fc.constantFrom('100', '0100', '200', '99999999999999999999', '100000000000000000000', 'x-1'),
    preview: fc.constantFrom('hi', 'hello', ''),
    createdAt: fc.constantFrom('2026-11-24T10:00:00.000Z', '2026-11-24T11:00:00+01:00', '2026-11-24T09:00:00Z'),
  })
  .map((r) => notification(r));

/** The same notifications in another order and with repeats: what at-least-once delivery can do. */
export const reorderedWithDuplicatesArb = fc
  .array(notificationArb, { maxLength: 25 })
  .chain((ns) =>
    fc.record({
      original: fc.constant(ns),
      // Every original element at least once, some more than once, in a random order.
      other: fc
        .tuple(
          fc.shuffledSubarray(ns, { minLength: ns.length, maxLength: ns.length }),
          ns.length === 0 ? fc.constant<NotificationEnvelope[]>([]) : fc.array(fc.constantFrom(...ns), { maxLength: 10 }),
        )
        .chain(([all, extra]) => fc.shuffledSubarray([...all, ...extra], { minLength: all.length + extra.length, maxLength: all.length + extra.length })),
    }),
  );
