import { StoreError } from './errors';
import type { MessageEntry } from './fold';
import type { ClientStorage, NotificationStore, StoreScope } from './store';

/**
 * Client state in IndexedDB, the browser default. One database (`convo-notify-client` unless
 * named otherwise) with two object stores: `devices` (agent id → its device on this browser) and
 * `entries` (key [agentId, clientId, message key], with the entry and its expiry). A save resolves
 * when its transaction completes, i.e. once IndexedDB has committed it; only then does the client
 * ack the inbox messages it came from. Every tab of an origin sees the same database.
 */
export interface IndexedDbStorageOptions {
  /** Default `globalThis.indexedDB`. */
  indexedDB?: IDBFactory;
  /** Default `convo-notify-client`. */
  databaseName?: string;
}

const DB_VERSION = 1;
const ENTRIES = 'entries';
const DEVICES = 'devices';
const BY_SCOPE = 'byScope';
const BY_AGENT = 'byAgent';

interface EntryRecord {
  agentId: string;
  clientId: string;
  key: string;
  entry: MessageEntry;
  expiresAt: number;
}

const request = <T>(r: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

const done = (tx: IDBTransaction): Promise<void> =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });

export class IndexedDbStorage implements ClientStorage {
  private db?: Promise<IDBDatabase>;
  private readonly factory: IDBFactory;
  private readonly name: string;

  constructor(options: IndexedDbStorageOptions = {}) {
    const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!factory) throw new StoreError('IndexedDB is not available here; use MemoryStorage or FileStorage');
    this.factory = factory;
    this.name = options.databaseName ?? 'convo-notify-client';
  }

  open(scope: StoreScope): NotificationStore {
    return {
      load: (now) =>
        this.run('load', [ENTRIES], 'readwrite', async (tx) => {
          const store = tx.objectStore(ENTRIES);
          const records = (await request(store.index(BY_SCOPE).getAll(IDBKeyRange.only([scope.agentId, scope.clientId])))) as EntryRecord[];
          const live: MessageEntry[] = [];
          for (const r of records) {
            if (r.expiresAt > now) live.push(r.entry);
            else store.delete([r.agentId, r.clientId, r.key]);
          }
          return live;
        }),
      save: (entries, expiresAt) =>
        this.run('save', [ENTRIES], 'readwrite', async (tx) => {
          const store = tx.objectStore(ENTRIES);
          for (const entry of entries) {
            const record: EntryRecord = { agentId: scope.agentId, clientId: scope.clientId, key: entry.key, entry: JSON.parse(JSON.stringify(entry)) as MessageEntry, expiresAt };
            store.put(record);
          }
        }),
    };
  }

  getDevice(agentId: string): Promise<string | undefined> {
    return this.run('getDevice', [DEVICES], 'readonly', async (tx) => {
      const record = (await request(tx.objectStore(DEVICES).get(agentId))) as { agentId: string; clientId: string } | undefined;
      return record?.clientId;
    });
  }

  setDevice(agentId: string, clientId: string): Promise<void> {
    return this.run('setDevice', [DEVICES], 'readwrite', async (tx) => {
      tx.objectStore(DEVICES).put({ agentId, clientId });
    });
  }

  wipe(agentId: string): Promise<void> {
    return this.run('wipe', [ENTRIES, DEVICES], 'readwrite', async (tx) => {
      tx.objectStore(DEVICES).delete(agentId);
      const keys = await request(tx.objectStore(ENTRIES).index(BY_AGENT).getAllKeys(IDBKeyRange.only(agentId)));
      for (const key of keys) tx.objectStore(ENTRIES).delete(key);
    });
  }

  /** Closes the database (the storage opens it again on the next call). */
  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    if (db) (await db.catch(() => undefined))?.close();
  }

  private database(): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const open = this.factory.open(this.name, DB_VERSION);
      open.onupgradeneeded = () => {
        const db = open.result;
        const entries = db.createObjectStore(ENTRIES, { keyPath: ['agentId', 'clientId', 'key'] });
        entries.createIndex(BY_SCOPE, ['agentId', 'clientId']);
        entries.createIndex(BY_AGENT, 'agentId');
        db.createObjectStore(DEVICES, { keyPath: 'agentId' });
      };
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
      open.onblocked = () => reject(new Error('the database is blocked by another tab holding an older version'));
    }).catch((err: unknown) => {
      this.db = undefined;
      throw err;
    });
    return this.db;
  }

  /** Runs `work` in one transaction and resolves with its value once the transaction has committed. */
  private async run<T>(what: string, stores: string[], mode: IDBTransactionMode, work: (tx: IDBTransaction) => Promise<T>): Promise<T> {
    try {
      const tx = (await this.database()).transaction(stores, mode, { durability: 'strict' });
      const committed = done(tx);
      const value = await work(tx);
      await committed;
      return value;
    } catch (err) {
      throw new StoreError(`IndexedDB ${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
}
