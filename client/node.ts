import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StoreError } from './errors';
import { SnapshotStorage, type StorageSnapshot } from './store';

/**
 * Node-only parts of the client (the `./node` entry of the package): client state in a JSON file.
 * Browsers use `IndexedDbStorage`.
 */

/**
 * A whole storage in one JSON file, rewritten after every change through a temporary file and a
 * rename, so a crash leaves the old file or the new one, never half of one.
 */
export class FileStorage extends SnapshotStorage {
  private constructor(snapshot: StorageSnapshot, path: string) {
    super(snapshot, async (next) => {
      const tmp = `${path}.${process.pid}.tmp`;
      try {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(tmp, JSON.stringify(next), { mode: 0o600 });
        await rename(tmp, path);
      } catch (err) {
        throw new StoreError(`could not write ${path}: ${(err as Error).message}`, { cause: err });
      }
    });
  }

  /** Opens (or starts) the storage file at `path`. */
  static async open(path: string): Promise<FileStorage> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return new FileStorage({ devices: {}, entries: {} }, path);
      throw new StoreError(`could not read ${path}: ${(err as Error).message}`, { cause: err });
    }
    let snapshot: StorageSnapshot;
    try {
      snapshot = JSON.parse(text) as StorageSnapshot;
    } catch (err) {
      throw new StoreError(`${path} is not a client state file: ${(err as Error).message}`, { cause: err });
    }
    if (typeof snapshot?.devices !== 'object' || typeof snapshot?.entries !== 'object') throw new StoreError(`${path} is not a client state file: no devices or entries`);
    return new FileStorage(snapshot, path);
  }
}
