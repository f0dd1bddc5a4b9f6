import type { NotificationEnvelope } from '../contracts/envelope';

/**
 * The client fold (docs/design.md §3 "Client fold"): notifications, from push and from the inbox,
 * in any order and any number of times, folded into one state per message.
 *
 * The state is a join-semilattice: per message it keeps the greatest `created` and the greatest
 * `handled` notification under one total order (stream sequence number, then canonical JSON).
 * Taking a maximum is commutative, associative and idempotent, so any permutation and any
 * duplication of the same notifications gives the same state, and a duplicate returns the very
 * same state object. A message is NEW when it has a `created` notification and no `handled` one,
 * so `handled` wins over `created` whatever order they arrive in.
 *
 * States are frozen and never mutated: `fold` returns a new state (sharing unchanged entries) or,
 * when nothing changed, its input.
 */

export interface MessageEntry {
  /** `<conversationId> <messageId>`: ids are printable ASCII without spaces, so this is unambiguous. */
  readonly key: string;
  readonly conversationId: string;
  readonly messageId: string;
  readonly created?: Readonly<NotificationEnvelope>;
  readonly handled?: Readonly<NotificationEnvelope>;
}

export interface InboxState {
  readonly messages: Readonly<Record<string, MessageEntry>>;
}

/** What a UI shows for one message. */
export interface MessageView {
  readonly key: string;
  readonly messageId: string;
  readonly conversationId: string;
  readonly tenantId: string;
  readonly topic: NotificationEnvelope['topic'];
  readonly senderId: string;
  readonly senderType: NotificationEnvelope['senderType'];
  readonly channel: string;
  readonly preview: string;
  readonly createdAt: string;
  readonly isNew: boolean;
  readonly handledBy?: string;
  readonly handledAt?: string;
}

export const emptyState: InboxState = Object.freeze({ messages: Object.freeze({}) });

export const messageKey = (conversationId: string, messageId: string): string => `${conversationId} ${messageId}`;

/** JSON with object keys sorted at every level: equal values give equal strings. */
export const canonicalJson = (value: unknown): string => JSON.stringify(sortKeys(value));

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
};

/** A canonical text of a state, for comparing states (tests, debugging, persistence). */
export const canonicalState = (state: InboxState): string => canonicalJson(state.messages);

const NUMERIC = /^[0-9]+$/;

/**
 * A total order on stream sequence numbers: DynamoDB's are decimal strings of arbitrary length, so
 * numeric ones compare by value (length of the unpadded digits first); anything else sorts after
 * every numeric one, as plain strings. (Mixing the two rules without ranking them would not be
 * transitive.)
 */
export const compareStreamSequence = (a: string, b: string): number => {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  if (an && bn) {
    const as = a.replace(/^0+(?=.)/, '');
    const bs = b.replace(/^0+(?=.)/, '');
    if (as.length !== bs.length) return as.length < bs.length ? -1 : 1;
    if (as !== bs) return as < bs ? -1 : 1;
    return a === b ? 0 : a < b ? -1 : 1;
  }
  if (an !== bn) return an ? -1 : 1;
  return a === b ? 0 : a < b ? -1 : 1;
};

/** The total order used to pick one notification among several of the same message and kind. */
export const compareNotifications = (a: NotificationEnvelope, b: NotificationEnvelope): number => {
  const bySequence = compareStreamSequence(a.streamSequence, b.streamSequence);
  if (bySequence !== 0) return bySequence;
  const ca = canonicalJson(a);
  const cb = canonicalJson(b);
  return ca === cb ? 0 : ca < cb ? -1 : 1;
};

const freezeCopy = (n: NotificationEnvelope): Readonly<NotificationEnvelope> =>
  Object.freeze(JSON.parse(canonicalJson(n)) as NotificationEnvelope);

/** The entry after folding `n` into `entry`, or `entry` itself when `n` changes nothing. */
const foldEntry = (entry: MessageEntry | undefined, n: NotificationEnvelope): MessageEntry | undefined => {
  const slot = n.kind === 'message.created' ? 'created' : 'handled';
  const current = entry?.[slot];
  if (current !== undefined && compareNotifications(current, n) >= 0) return entry;
  const key = messageKey(n.conversationId, n.messageId);
  return Object.freeze({
    key,
    conversationId: n.conversationId,
    messageId: n.messageId,
    ...(entry?.created ? { created: entry.created } : {}),
    ...(entry?.handled ? { handled: entry.handled } : {}),
    [slot]: freezeCopy(n),
  });
};

/** Folds many notifications at once (one copy of the message table instead of one per notification). */
export const foldAll = (state: InboxState, notifications: Iterable<NotificationEnvelope>): InboxState => {
  let messages: Record<string, MessageEntry> | undefined;
  for (const n of notifications) {
    const key = messageKey(n.conversationId, n.messageId);
    const before = (messages ?? state.messages)[key];
    const after = foldEntry(before, n);
    if (after === before || after === undefined) continue;
    messages ??= { ...state.messages };
    messages[key] = after;
  }
  return messages ? Object.freeze({ messages: Object.freeze(messages) }) : state;
};

/** The notifications the entries keep (each message's winning `created` and `handled`): folding them rebuilds the entries. */
export const notificationsOf = (entries: Iterable<MessageEntry>): NotificationEnvelope[] =>
  [...entries].flatMap((e) => [e.created, e.handled].filter((n): n is NotificationEnvelope => n !== undefined));

/** `fold(state, notification) -> state`: pure, idempotent, order-independent. */
export const fold = (state: InboxState, notification: NotificationEnvelope): InboxState => foldAll(state, [notification]);

export const isNewEntry = (entry: MessageEntry | undefined): boolean => entry?.created !== undefined && entry.handled === undefined;

const findEntries = (state: InboxState, messageId: string, conversationId?: string): MessageEntry[] => {
  if (conversationId !== undefined) {
    const entry = state.messages[messageKey(conversationId, messageId)];
    return entry ? [entry] : [];
  }
  return Object.values(state.messages).filter((e) => e.messageId === messageId);
};

/**
 * Whether a message is NEW: it has a `created` notification and no `handled` one. Without a
 * conversation id, any conversation's message of that id counts.
 */
export const isNew = (state: InboxState, messageId: string, conversationId?: string): boolean =>
  findEntries(state, messageId, conversationId).some(isNewEntry);

export const viewOf = (entry: MessageEntry): MessageView => {
  const details = (entry.created ?? entry.handled) as NotificationEnvelope;
  const handled = entry.handled;
  return Object.freeze({
    key: entry.key,
    messageId: entry.messageId,
    conversationId: entry.conversationId,
    tenantId: details.tenantId,
    topic: details.topic,
    senderId: details.senderId,
    senderType: details.senderType,
    channel: details.channel,
    preview: details.preview,
    createdAt: details.createdAt,
    isNew: isNewEntry(entry),
    ...(handled?.handledBy !== undefined ? { handledBy: handled.handledBy } : {}),
    ...(handled?.handledAt !== undefined ? { handledAt: handled.handledAt } : {}),
  });
};

export const getMessage = (state: InboxState, messageId: string, conversationId?: string): MessageView | undefined => {
  const [entry] = findEntries(state, messageId, conversationId);
  return entry ? viewOf(entry) : undefined;
};

/** Oldest first (by the instant of `createdAt`, then by key), so the order is deterministic. */
const byCreatedAt = (a: MessageView, b: MessageView): number => {
  const ta = Date.parse(a.createdAt);
  const tb = Date.parse(b.createdAt);
  if (ta !== tb) return ta - tb;
  return a.key === b.key ? 0 : a.key < b.key ? -1 : 1;
};

/** Every message the device knows of, NEW or handled, oldest first. */
export const allMessages = (state: InboxState): MessageView[] => Object.values(state.messages).map(viewOf).sort(byCreatedAt);

/** The NEW messages, oldest first. */
export const newMessages = (state: InboxState): MessageView[] =>
  Object.values(state.messages).filter(isNewEntry).map(viewOf).sort(byCreatedAt);

/** What folding changed for one message: it became NEW, or it became (or changed who) handled. */
export interface Transition {
  readonly became: 'new' | 'handled';
  readonly message: MessageView;
}

/** The transitions between two states, for the messages of `keys` (the ones just folded). */
export const transitions = (before: InboxState, after: InboxState, keys: Iterable<string>): Transition[] => {
  const out: Transition[] = [];
  for (const key of new Set(keys)) {
    const b = before.messages[key];
    const a = after.messages[key];
    if (a === undefined || a === b) continue;
    if (isNewEntry(a) && !isNewEntry(b)) out.push({ became: 'new', message: viewOf(a) });
    if (a.handled !== undefined && a.handled !== b?.handled) out.push({ became: 'handled', message: viewOf(a) });
  }
  return out;
};
