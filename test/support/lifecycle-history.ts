import fc from 'fast-check';
import type { LifecycleEvent, SubscriptionEvent } from '../../tasks/record-presence/handler';
import { pushTopicOf } from '../../contracts/push-topic';

/**
 * Realistic histories of AWS IoT lifecycle events for one client id, as the broker produces them
 * (life-cycle-events in the AWS IoT developer guide):
 *  - each connection has a versionNumber, shared by its connect and its disconnect event, and
 *    larger than the previous connection's, except that after about an hour offline it may
 *    start again from 0;
 *  - a client that reconnects while the broker still holds its old connection takes it over: the
 *    old connection's disconnect (DUPLICATE_CLIENTID) is stamped just after the new connect;
 *  - timestamps are approximate (about ±2 minutes);
 *  - the last connection may still be open.
 * The generated gaps stay clear of the ambiguous hour (60–65 minutes) on purpose. Every timestamp
 * lies in the past, so that no event is refused as ahead of the clock.
 */

export interface History {
  /** Every event the broker published, in the order they happened. */
  events: LifecycleEvent[];
  /** The event whose state is the truth once everything has been delivered. */
  latest: LifecycleEvent;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const connectionArb = fc.record({
  takeover: fc.boolean(),
  gapMs: fc.oneof(fc.integer({ min: 0, max: 5 * MINUTE }), fc.integer({ min: 65 * MINUTE, max: 6 * HOUR })),
  restartsVersions: fc.boolean(),
  versionStep: fc.integer({ min: 1, max: 4 }),
  durationMs: fc.oneof(fc.integer({ min: 0, max: 30_000 }), fc.integer({ min: 0, max: 5 * HOUR })),
  overlapMs: fc.integer({ min: 0, max: 30_000 }),
  connectJitterMs: fc.integer({ min: -2 * MINUTE, max: 2 * MINUTE }),
  disconnectJitterMs: fc.integer({ min: -2 * MINUTE, max: 2 * MINUTE }),
});

export const historyArb = (clientId: string): fc.Arbitrary<History> =>
  fc
    .record({
      firstVersion: fc.integer({ min: 0, max: 50 }),
      start: fc.integer({ min: 1_600_000_000_000, max: 1_700_000_000_000 }),
      connections: fc.array(connectionArb, { minLength: 1, maxLength: 6 }),
      lastStillOpen: fc.boolean(),
    })
    .map(({ firstVersion, start, connections, lastStillOpen }) => {
      const events: LifecycleEvent[] = [];
      let version = firstVersion;
      let previousEnd = start;
      let previousConnectAt = start;
      let previousDisconnect: LifecycleEvent | undefined;
      connections.forEach((c, i) => {
        const takesOver = i > 0 && c.takeover;
        // A takeover cannot come before the connection it takes over was established.
        const connectAt = takesOver ? Math.max(previousConnectAt, previousEnd - c.overlapMs) : previousEnd + c.gapMs;
        if (i > 0) version = !takesOver && c.gapMs >= 65 * MINUTE && c.restartsVersions ? 0 : version + c.versionStep;
        if (previousDisconnect !== undefined) {
          if (takesOver) {
            previousDisconnect.timestamp = Math.max(0, connectAt + c.overlapMs + c.disconnectJitterMs);
            previousDisconnect.disconnectReason = 'DUPLICATE_CLIENTID';
            previousDisconnect.clientInitiatedDisconnect = false;
          }
          events.push(previousDisconnect);
        }
        const session = `session-${i}`;
        events.push({
          clientId,
          timestamp: Math.max(0, connectAt + c.connectJitterMs),
          eventType: 'connected',
          sessionIdentifier: session,
          versionNumber: version,
        });
        const disconnectAt = connectAt + c.durationMs;
        previousEnd = disconnectAt;
        previousConnectAt = connectAt;
        previousDisconnect = {
          clientId,
          timestamp: Math.max(0, disconnectAt + c.disconnectJitterMs),
          eventType: 'disconnected',
          sessionIdentifier: session,
          versionNumber: version,
          clientInitiatedDisconnect: true,
          disconnectReason: 'CLIENT_INITIATED_DISCONNECT',
        };
      });
      if (!lastStillOpen && previousDisconnect !== undefined) events.push(previousDisconnect);
      return { events, latest: events[events.length - 1] };
    });

/** A history plus the order its events reach the Lambda: any order, some more than once. */
export const deliveryArb = (clientId: string): fc.Arbitrary<History & { delivered: LifecycleEvent[] }> =>
  historyArb(clientId).chain((history) =>
    fc
      .subarray(history.events)
      .chain((duplicates) => {
        const all = [...history.events, ...duplicates];
        return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
      })
      .map((delivered) => ({ ...history, delivered })),
  );

/**
 * What a device does with its subscriptions during one connection: subscribe to or unsubscribe
 * from its own push topic, the same with other topics (which must not count), or both at once.
 */
const SUBSCRIPTION_OPS = ['subscribe', 'unsubscribe', 'subscribe-other', 'unsubscribe-other', 'subscribe-with-other'] as const;
type SubscriptionOp = (typeof SUBSCRIPTION_OPS)[number];

const topicsOf = (op: SubscriptionOp, clientId: string): string[] => {
  switch (op) {
    case 'subscribe':
    case 'unsubscribe':
      return [pushTopicOf(clientId)];
    case 'subscribe-other':
    case 'unsubscribe-other':
      return [`status/${clientId}`];
    case 'subscribe-with-other':
      return [`status/${clientId}`, pushTopicOf(clientId)];
  }
};

export interface PresenceHistory {
  /** Connect, disconnect, subscribe and unsubscribe events, in the order they happened. */
  events: (LifecycleEvent | SubscriptionEvent)[];
  /** The truth once everything has been delivered: the last connection is open and subscribed to its push topic. */
  online: boolean;
}

/**
 * A realistic connection history (historyArb) with each connection's subscription events: stamped
 * after its connect by the broker that holds the session, so in order within the session, and
 * carrying its sessionIdentifier but no versionNumber, as AWS IoT publishes them.
 */
export const presenceHistoryArb = (clientId: string): fc.Arbitrary<PresenceHistory> =>
  historyArb(clientId).chain(({ events, latest }) => {
    const connects = events.filter((e) => e.eventType === 'connected');
    const perConnection = fc.record({
      ops: fc.array(fc.constantFrom(...SUBSCRIPTION_OPS), { maxLength: 4 }),
      gapsMs: fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 4, maxLength: 4 }),
    });
    return fc.array(perConnection, { minLength: connects.length, maxLength: connects.length }).map((plans) => {
      const all: (LifecycleEvent | SubscriptionEvent)[] = [];
      const subscribedAtEnd = new Map<string, boolean>();
      for (const event of events) {
        all.push(event);
        const index = connects.indexOf(event);
        if (index < 0) continue;
        let at = event.timestamp;
        let subscribed = false;
        plans[index].ops.forEach((op, i) => {
          at += plans[index].gapsMs[i];
          all.push({
            clientId,
            timestamp: at,
            eventType: op.startsWith('unsubscribe') ? 'unsubscribed' : 'subscribed',
            sessionIdentifier: event.sessionIdentifier,
            topics: topicsOf(op, clientId),
          });
          if (op === 'subscribe' || op === 'subscribe-with-other') subscribed = true;
          if (op === 'unsubscribe') subscribed = false;
        });
        subscribedAtEnd.set(event.sessionIdentifier, subscribed);
      }
      return { events: all, online: latest.eventType === 'connected' && subscribedAtEnd.get(latest.sessionIdentifier) === true };
    });
  });

/** A presence history plus the order its events reach the Lambda: any order, some more than once. */
export const presenceDeliveryArb = (clientId: string): fc.Arbitrary<PresenceHistory & { delivered: (LifecycleEvent | SubscriptionEvent)[] }> =>
  presenceHistoryArb(clientId).chain((history) =>
    fc
      .subarray(history.events)
      .chain((duplicates) => {
        const all = [...history.events, ...duplicates];
        return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
      })
      .map((delivered) => ({ ...history, delivered })),
  );
