import { DEFAULT_INBOX_RETENTION_DAYS } from '../contracts/agent-access';
import type { InboxState, MessageEntry } from './fold';

/**
 * Durable client state. A device's state is its message entries (the winning `created` and
 * `handled` notification of each message, see fold.ts); they are written before the inbox
 * messages they came from are acked, and read back on start, so a reload shows NEW and handled
 * exactly as before.
 *
 * Everything is keyed by (agent, device): two agents signed in on one computer never see each
 * other's messages, and `wipe(agentId)` on sign-out removes that agent's device and entries.
 * Entries expire with the inbox retention: after that the inbox cannot deliver their notifications
 * again, so forgetting them cannot make a handled message NEW again.
 */

export interface StoreScope {
  readonly agentId: string;
  readonly clientId: string;
}

/** One (agent, device)'s entries. */
export interface NotificationStore {
  /** The entries not expired at `now` (ms since the epoch); expired ones are removed. */
  load(now: number): Promise<MessageEntry[]>;
  /** Writes the entries (replacing those with the same key), each expiring at `expiresAt`; resolves once durable. */
  save(entries: readonly MessageEntry[], expiresAt: number): Promise<void>;
}

/** Where a client keeps its state: its device per agent, and each (agent, device)'s entries. */
export interface ClientStorage {
  open(scope: StoreScope): NotificationStore;
  /** The device this browser (or process) registered for the agent, if any. */
  getDevice(agentId: string): Promise<string | undefined>;
  setDevice(agentId: string, clientId: string): Promise<void>;
  /** Sign-out: forgets the agent's device and every entry of the agent. */
  wipe(agentId: string): Promise<void>;
}

export const DEFAULT_RETENTION_MS = DEFAULT_INBOX_RETENTION_DAYS * 24 * 3600 * 1000;

/** The entries of `after` that differ from `before` (what a fold changed, to be saved). */
export const changedEntries = (before: InboxState, after: InboxState): MessageEntry[] =>
  Object.values(after.messages).filter((entry) => before.messages[entry.key] !== entry);

interface Stored {
  entry: MessageEntry;
  expiresAt: number;
}

const scopeKey = (scope: StoreScope): string => JSON.stringify([scope.agentId, scope.clientId]);

/**
 * A plain-data snapshot of a whole storage: what the memory and file implementations keep.
 * `entries[scopeKey][messageKey]`.
 */
export interface StorageSnapshot {
  devices: Record<string, string>;
  entries: Record<string, Record<string, Stored>>;
}

/**
 * Storage over a snapshot that `persist` writes out after every change (the file storage), or
 * nowhere (the memory storage). Changes are applied one at a time, in call order.
 */
export class SnapshotStorage implements ClientStorage {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private snapshot: StorageSnapshot,
    private readonly persist: (snapshot: StorageSnapshot) => Promise<void> = async () => undefined,
  ) {}

  open(scope: StoreScope): NotificationStore {
    const key = scopeKey(scope);
    return {
      load: (now) =>
        this.change((s) => {
          const table = s.entries[key] ?? {};
          const live = Object.entries(table).filter(([, v]) => v.expiresAt > now);
          const expired = Object.keys(table).length - live.length;
          if (expired > 0) s.entries[key] = Object.fromEntries(live);
          return { value: live.map(([, v]) => v.entry), changed: expired > 0 };
        }),
      save: (entries, expiresAt) =>
        this.change((s) => {
          if (entries.length === 0) return { value: undefined, changed: false };
          const table = (s.entries[key] = { ...(s.entries[key] ?? {}) });
          for (const entry of entries) table[entry.key] = { entry: JSON.parse(JSON.stringify(entry)) as MessageEntry, expiresAt };
          return { value: undefined, changed: true };
        }),
    };
  }

  getDevice(agentId: string): Promise<string | undefined> {
    return this.change((s) => ({ value: s.devices[agentId], changed: false }));
  }

  setDevice(agentId: string, clientId: string): Promise<void> {
    return this.change((s) => {
      s.devices[agentId] = clientId;
      return { value: undefined, changed: true };
    });
  }

  wipe(agentId: string): Promise<void> {
    return this.change((s) => {
      delete s.devices[agentId];
      for (const key of Object.keys(s.entries)) if ((JSON.parse(key) as string[])[0] === agentId) delete s.entries[key];
      return { value: undefined, changed: true };
    });
  }

  /** Applies `f` to a copy and persists it before the change counts: a failed write changes nothing. */
  private change<T>(f: (s: StorageSnapshot) => { value: T; changed: boolean }): Promise<T> {
    const run = this.queue.then(async () => {
      const next: StorageSnapshot = { devices: { ...this.snapshot.devices }, entries: { ...this.snapshot.entries } };
      const { value, changed } = f(next);
      if (changed) {
        await this.persist(next);
        this.snapshot = next;
      }
      return value;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** In memory only: for tests and for Node processes that need no state across restarts. */
export class MemoryStorage extends SnapshotStorage {
  constructor() {
    super({ devices: {}, entries: {} });
  }
}
