import fc from 'fast-check';
import {
  allMessages,
  canonicalState,
  compareNotifications,
  compareStreamSequence,
  emptyState,
  fold,
  foldAll,
  getMessage,
  isNew,
  newMessages,
  notificationsOf,
  transitions,
  messageKey,
  type InboxState,
} from '../../client/fold';
import { NotificationEnvelopeSchema, type NotificationEnvelope } from '../../contracts/envelope';
import { created, handled, notificationArb, reorderedWithDuplicatesArb } from './notifications';

const foldSeq = (ns: readonly NotificationEnvelope[], from: InboxState = emptyState) => ns.reduce(fold, from);
const NUM_RUNS = 300;

const deepFrozen = (value: unknown): boolean =>
  value === null || typeof value !== 'object' || (Object.isFrozen(value) && Object.values(value).every(deepFrozen));

describe('fold: properties (fast-check)', () => {
  it('the arbitraries produce valid envelopes', () => {
    fc.assert(fc.property(notificationArb, (n) => NotificationEnvelopeSchema.safeParse(n).success), { numRuns: 100 });
  });

  it('is order-independent and ignores duplicates: any permutation with any repeats gives the same state', () => {
    fc.assert(
      fc.property(reorderedWithDuplicatesArb, ({ original, other }) => {
        expect(canonicalState(foldSeq(other))).toBe(canonicalState(foldSeq(original)));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('gives the same NEW list and views for any permutation with repeats', () => {
    fc.assert(
      fc.property(reorderedWithDuplicatesArb, ({ original, other }) => {
        const a = foldSeq(original);
        const b = foldSeq(other);
        expect(newMessages(b)).toEqual(newMessages(a));
        expect(allMessages(b)).toEqual(allMessages(a));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('is idempotent: folding something already folded returns the very same state object', () => {
    fc.assert(
      fc.property(fc.array(notificationArb, { maxLength: 20 }), (ns) => {
        const s = foldSeq(ns);
        for (const n of ns) expect(fold(s, n)).toBe(s);
        expect(foldAll(s, ns)).toBe(s);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('foldAll equals folding one at a time, and folding in two halves (associativity)', () => {
    fc.assert(
      fc.property(fc.array(notificationArb, { maxLength: 25 }), fc.nat(), (ns, cut) => {
        const i = ns.length === 0 ? 0 : cut % (ns.length + 1);
        const whole = canonicalState(foldSeq(ns));
        expect(canonicalState(foldAll(emptyState, ns))).toBe(whole);
        expect(canonicalState(foldAll(foldAll(emptyState, ns.slice(0, i)), ns.slice(i)))).toBe(whole);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('handled wins over created in either order; NEW means created and never handled', () => {
    fc.assert(
      fc.property(fc.array(notificationArb, { maxLength: 25 }), (ns) => {
        const s = foldSeq(ns);
        const keys = new Set(ns.map((n) => messageKey(n.conversationId, n.messageId)));
        for (const key of keys) {
          const [conversationId, messageId] = key.split(' ');
          const mine = ns.filter((n) => n.conversationId === conversationId && n.messageId === messageId);
          const wasHandled = mine.some((n) => n.kind === 'message.handled');
          const wasCreated = mine.some((n) => n.kind === 'message.created');
          expect(isNew(s, messageId, conversationId)).toBe(wasCreated && !wasHandled);
          expect(getMessage(s, messageId, conversationId)?.isNew).toBe(wasCreated && !wasHandled);
        }
        expect(newMessages(s).every((v) => v.isNew && v.handledBy === undefined)).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('never mutates a state: states are deeply frozen and earlier states keep their content', () => {
    fc.assert(
      fc.property(fc.array(notificationArb, { minLength: 1, maxLength: 15 }), (ns) => {
        let s = emptyState;
        for (const n of ns) {
          const before = canonicalState(s);
          const next = fold(s, n);
          expect(canonicalState(s)).toBe(before);
          expect(deepFrozen(next)).toBe(true);
          s = next;
        }
      }),
      { numRuns: 100 },
    );
  });

  it('does not depend on the key order of the envelopes it is given', () => {
    fc.assert(
      fc.property(fc.array(notificationArb, { maxLength: 15 }), (ns) => {
        const reversedKeys = ns.map((n) => Object.fromEntries(Object.entries(n).reverse()) as NotificationEnvelope);
        expect(canonicalState(foldSeq(reversedKeys))).toBe(canonicalState(foldSeq(ns)));
      }),
      { numRuns: 100 },
    );
  });

  it('orders stream sequence numbers totally (antisymmetric, transitive), numeric ones by value', () => {
    const seq = fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String), fc.constantFrom('007', '7', 'x-1', 'abc', '0'));
    fc.assert(
      fc.property(seq, seq, seq, (a, b, c) => {
        expect(Math.sign(compareStreamSequence(a, b)) + Math.sign(compareStreamSequence(b, a))).toBe(0);
        expect(compareStreamSequence(a, b) === 0).toBe(a === b);
        if (compareStreamSequence(a, b) <= 0 && compareStreamSequence(b, c) <= 0) expect(compareStreamSequence(a, c)).toBeLessThanOrEqual(0);
        if (/^\d+$/.test(a) && /^\d+$/.test(b) && BigInt(a) !== BigInt(b)) {
          expect(compareStreamSequence(a, b) < 0).toBe(BigInt(a) < BigInt(b));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('fold: examples', () => {
  it("an entry's notifications fold back to the same state", () => {
    const s = foldAll(emptyState, [created('m1'), handled('m1', 'agent-2'), created('m2'), handled('m3', 'agent-3')]);
    const again = notificationsOf(Object.values(s.messages));
    expect(again).toHaveLength(4);
    expect(canonicalState(foldAll(emptyState, again))).toBe(canonicalState(s));
  });

  it('a created notification makes a message NEW', () => {
    const s = fold(emptyState, created('m1'));
    expect(isNew(s, 'm1')).toBe(true);
    expect(isNew(s, 'm1', 'c1')).toBe(true);
    expect(isNew(s, 'm1', 'other')).toBe(false);
    expect(newMessages(s).map((m) => m.messageId)).toEqual(['m1']);
  });

  it('handled before created: not NEW, and the details of the created notification are kept', () => {
    const s1 = fold(emptyState, handled('m1', 'agent-7', { preview: 'from the update' }));
    expect(isNew(s1, 'm1')).toBe(false);
    const s2 = fold(s1, created('m1', { preview: 'the original text' }));
    expect(isNew(s2, 'm1')).toBe(false);
    expect(getMessage(s2, 'm1')).toMatchObject({ preview: 'the original text', handledBy: 'agent-7', isNew: false });
    expect(s2.messages[messageKey('c1', 'm1')].created?.preview).toBe('the original text');
    expect(newMessages(s2)).toEqual([]);
  });

  it('created then handled: NEW, then not', () => {
    const s1 = fold(emptyState, created('m1'));
    const s2 = fold(s1, handled('m1', 'agent-2'));
    expect(isNew(s1, 'm1')).toBe(true);
    expect(isNew(s2, 'm1')).toBe(false);
    expect(getMessage(s2, 'm1')?.handledBy).toBe('agent-2');
  });

  it('among competing handled notifications the latest stream record wins, whatever the order', () => {
    const older = handled('m1', 'agent-1', { streamSequence: '900' });
    const newer = handled('m1', 'agent-2', { streamSequence: '1000' });
    expect(getMessage(foldSeq([older, newer]), 'm1')?.handledBy).toBe('agent-2');
    expect(getMessage(foldSeq([newer, older]), 'm1')?.handledBy).toBe('agent-2');
    expect(compareNotifications(older, newer)).toBeLessThan(0);
  });

  it('keeps messages of different conversations with the same message id apart', () => {
    const s = foldSeq([created('m1', { conversationId: 'c1' }), created('m1', { conversationId: 'c2' }), handled('m1', 'a', { conversationId: 'c1' })]);
    expect(isNew(s, 'm1', 'c1')).toBe(false);
    expect(isNew(s, 'm1', 'c2')).toBe(true);
    expect(isNew(s, 'm1')).toBe(true);
  });

  it('lists NEW messages oldest first by the instant of createdAt, whatever the offset', () => {
    const s = foldSeq([
      created('late', { createdAt: '2026-11-24T10:30:00Z' }),
      created('early', { createdAt: '2026-11-24T11:00:00+02:00' }), // 09:00Z
      created('mid', { createdAt: '2026-11-24T10:00:00Z' }),
    ]);
    expect(newMessages(s).map((m) => m.messageId)).toEqual(['early', 'mid', 'late']);
  });

  it('reports transitions: became NEW once, became handled once', () => {
    const s1 = fold(emptyState, created('m1'));
    expect(transitions(emptyState, s1, [messageKey('c1', 'm1')]).map((t) => t.became)).toEqual(['new']);
    const s2 = fold(s1, handled('m1'));
    expect(transitions(s1, s2, [messageKey('c1', 'm1')]).map((t) => t.became)).toEqual(['handled']);
    expect(transitions(s2, fold(s2, created('m1')), [messageKey('c1', 'm1')])).toEqual([]);
    // handled first, then created: nothing becomes NEW
    const h = fold(emptyState, handled('m2'));
    expect(transitions(h, fold(h, created('m2')), [messageKey('c1', 'm2')])).toEqual([]);
  });
});
