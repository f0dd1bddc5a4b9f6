import { PGlite } from '@electric-sql/pglite';

/**
 * PGlite (PostgreSQL in WASM) for jest tests. PGlite loads its WASM build with a dynamic
 * `import()`, which jest allows only with `--experimental-vm-modules`: `npm test` passes that flag.
 */

export interface PgliteHandle {
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<Row[]>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

export const startPglite = async (): Promise<PgliteHandle> => {
  const db = await PGlite.create();
  return {
    query: async <Row>(text: string, values: unknown[] = []) => (await db.query<Row>(text, values)).rows,
    exec: async (sql: string) => {
      await db.exec(sql);
    },
    close: () => db.close(),
  };
};
