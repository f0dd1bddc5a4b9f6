import { Worker } from 'node:worker_threads';

/**
 * PGlite (PostgreSQL in WASM) for jest tests.
 *
 * PGlite's Node build loads itself with dynamic `import()`, which jest's module sandbox refuses
 * without `--experimental-vm-modules`. A worker thread is plain Node, so the database runs there
 * and the test talks to it by messages; rows come back by structured clone.
 */

export interface PgliteHandle {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<Row[]>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { PGlite } = require('@electric-sql/pglite');
const db = new PGlite();
parentPort.on('message', async ({ id, op, text, values }) => {
  try {
    if (op === 'query') {
      const result = await db.query(text, values);
      parentPort.postMessage({ id, rows: result.rows });
    } else if (op === 'exec') {
      await db.exec(text);
      parentPort.postMessage({ id, rows: [] });
    } else if (op === 'close') {
      await db.close();
      parentPort.postMessage({ id, rows: [] });
    }
  } catch (error) {
    parentPort.postMessage({ id, error: { message: String(error && error.message), code: error && error.code } });
  }
});
`;

interface Reply {
  id: number;
  rows?: unknown[];
  error?: { message: string; code?: string };
}

export const startPglite = async (): Promise<PgliteHandle> => {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  const pending = new Map<number, { resolve: (rows: unknown[]) => void; reject: (error: Error) => void }>();
  let nextId = 0;

  worker.on('message', (reply: Reply) => {
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (waiter === undefined) return;
    if (reply.error !== undefined) waiter.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    else waiter.resolve(reply.rows ?? []);
  });
  worker.on('error', (error) => {
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  });

  const send = (op: 'query' | 'exec' | 'close', text = '', values: unknown[] = []) =>
    new Promise<unknown[]>((resolve, reject) => {
      nextId += 1;
      pending.set(nextId, { resolve, reject });
      worker.postMessage({ id: nextId, op, text, values });
    });

  // The first statement waits for PostgreSQL to be initialised.
  await send('query', 'SELECT 1');
  return {
    query: async <Row>(text: string, values: unknown[] = []) => (await send('query', text, values)) as Row[],
    exec: async (sql: string) => {
      await send('exec', sql);
    },
    close: async () => {
      await send('close');
      await worker.terminate();
    },
  };
};
