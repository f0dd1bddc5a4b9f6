import 'fake-indexeddb/auto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreError } from '../../client/errors';
import { emptyState, foldAll, type MessageEntry } from '../../client/fold';
import { IndexedDbStorage } from '../../client/indexeddb-store';
import { FileStorage } from '../../client/node';
import { MemoryStorage, type ClientStorage } from '../../client/store';
import type { NotificationEnvelope } from '../../contracts/envelope';
import { created, handled } from './notifications';

/**
 * The three storages behave alike: entries saved for an (agent, device) come back for it alone,
 * expire with the retention, survive a reopen (file, IndexedDB), and a wipe removes one agent's
 * device and entries and nothing of another agent's.
 */

const entriesOf = (...ns: NotificationEnvelope[][]): MessageEntry[] => Object.values(foldAll(emptyState, ns.flat()).messages);
const A1 = { agentId: 'alice', clientId: 'dev-a' };
const A2 = { agentId: 'alice', clientId: 'dev-b' };
const B1 = { agentId: 'bob', clientId: 'dev-c' };
const T = 1_000_000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'client-store-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const storages: [string, () => Promise<ClientStorage>, (() => Promise<ClientStorage>) | undefined][] = [
  ['MemoryStorage', async () => new MemoryStorage(), undefined],
  [
    'FileStorage',
    async () => {
      n += 1;
      return FileStorage.open(join(dir, `state-${n}.json`));
    },
    async () => FileStorage.open(join(dir, `state-${n}.json`)),
  ],
  [
    'IndexedDbStorage',
    async () => {
      n += 1;
      return new IndexedDbStorage({ databaseName: `db-${n}` });
    },
    async () => new IndexedDbStorage({ databaseName: `db-${n}` }),
  ],
];

describe.each(storages)('%s', (_name, open, reopen) => {
  it('gives each (agent, device) its own entries and keeps the latest entry per message', async () => {
    const s = await open();
    await s.open(A1).save(entriesOf([created('m1')]), T + 100);
    await s.open(A2).save(entriesOf([created('m2')]), T + 100);
    await s.open(B1).save(entriesOf([created('m3')]), T + 100);
    await s.open(A1).save(entriesOf([created('m1'), handled('m1', 'bob')]), T + 100);
    const a1 = await s.open(A1).load(T);
    expect(a1.map((e) => [e.messageId, e.handled?.handledBy])).toEqual([['m1', 'bob']]);
    expect((await s.open(A2).load(T)).map((e) => e.messageId)).toEqual(['m2']);
    expect((await s.open(B1).load(T)).map((e) => e.messageId)).toEqual(['m3']);
  });

  it('drops entries once they expire, and keeps later ones', async () => {
    const s = await open();
    await s.open(A1).save(entriesOf([created('old')]), T + 10);
    await s.open(A1).save(entriesOf([created('new')]), T + 1000);
    expect((await s.open(A1).load(T + 10)).map((e) => e.messageId)).toEqual(['new']);
    expect((await s.open(A1).load(T)).map((e) => e.messageId)).toEqual(['new']);
  });

  it('wipes one agent (sign-out): its device and entries go, another agent keeps everything', async () => {
    const s = await open();
    await s.setDevice('alice', 'dev-a');
    await s.setDevice('bob', 'dev-c');
    await s.open(A1).save(entriesOf([created('m1')]), T + 100);
    await s.open(A2).save(entriesOf([created('m2')]), T + 100);
    await s.open(B1).save(entriesOf([created('m3')]), T + 100);
    await s.wipe('alice');
    expect(await s.getDevice('alice')).toBeUndefined();
    expect(await s.open(A1).load(T)).toEqual([]);
    expect(await s.open(A2).load(T)).toEqual([]);
    expect(await s.getDevice('bob')).toBe('dev-c');
    expect((await s.open(B1).load(T)).map((e) => e.messageId)).toEqual(['m3']);
  });

  if (reopen) {
    it('keeps the device and the entries across a reopen (a reload)', async () => {
      const s = await open();
      const entries = entriesOf([created('m1'), created('m2'), handled('m2', 'carol')]);
      await s.setDevice('alice', 'dev-a');
      await s.open(A1).save(entries, T + 100);
      if (s instanceof IndexedDbStorage) await s.close();
      const again = await reopen();
      expect(await again.getDevice('alice')).toBe('dev-a');
      expect((await again.open(A1).load(T)).sort((a, b) => a.key.localeCompare(b.key))).toEqual(JSON.parse(JSON.stringify(entries)));
    });
  }
});

describe('FileStorage failures', () => {
  it('names a file that is not a state file, and a write that fails changes nothing', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, 'not json');
    await expect(FileStorage.open(bad)).rejects.toThrow(StoreError);
    const file = join(dir, 'ok.json');
    const s = await FileStorage.open(file);
    await s.open(A1).save(entriesOf([created('m1')]), T + 100);
    const before = readFileSync(file, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, 'a file where the directory was');
    await expect(s.open(A1).save(entriesOf([created('m2')]), T + 100)).rejects.toThrow(StoreError);
    expect((await s.open(A1).load(T)).map((e) => e.messageId)).toEqual(['m1']);
    rmSync(dir, { force: true });
    expect(before).toContain('m1');
  });
});
