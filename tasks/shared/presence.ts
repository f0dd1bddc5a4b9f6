import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/**
 * The PRESENCE item as record-presence writes it and check-presence reads it (docs/design.md §3
 * "Presence"): one item per client id (`PRESENCE_TABLE` in contracts/tables.ts) holding
 *  - the latest connection: `state` (`connected` | `disconnected`), `eventTimestamp`,
 *    `versionNumber`, `sessionIdentifier`;
 *  - `subscriptions`: per session identifier, whether that session is subscribed to the device's
 *    push topic and the time of the subscription event that said so (`{ subscribed, at }`).
 * A device is online when its latest connection is open and that connection's session is
 * subscribed: connected alone is not enough, because a push sent between connect and subscribe
 * reaches nobody.
 */

export interface SubscriptionEntry {
  subscribed: boolean;
  /** `timestamp` of the subscribe / unsubscribe event, ms since the epoch. */
  at: number;
}

/** By session identifier. */
export type SessionSubscriptions = Readonly<Record<string, SubscriptionEntry>>;

/** Entries that are not `{ subscribed: BOOL, at: N }` are left out: nothing else ever writes them. */
export const subscriptionsFromAttribute = (value: AttributeValue | undefined): SessionSubscriptions => {
  const entries: Record<string, SubscriptionEntry> = {};
  for (const [session, entry] of Object.entries(value?.M ?? {})) {
    const subscribed = entry.M?.subscribed?.BOOL;
    const at = Number(entry.M?.at?.N);
    if (typeof subscribed === 'boolean' && Number.isFinite(at)) entries[session] = { subscribed, at };
  }
  return entries;
};

export const subscriptionsToAttribute = (subscriptions: SessionSubscriptions): AttributeValue => ({
  M: Object.fromEntries(
    Object.entries(subscriptions).map(([session, entry]) => [session, { M: { subscribed: { BOOL: entry.subscribed }, at: { N: String(entry.at) } } }]),
  ),
});

export const isOnline = (item: Record<string, AttributeValue> | undefined): boolean => {
  const session = item?.sessionIdentifier?.S;
  if (item?.state?.S !== 'connected' || session === undefined) return false;
  return subscriptionsFromAttribute(item.subscriptions)[session]?.subscribed === true;
};
