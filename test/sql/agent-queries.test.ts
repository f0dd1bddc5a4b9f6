import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toPositional } from '../../local/emulators/data-api/named-params';
import { AGENT_QUERIES } from '../../sql/agent-queries';
import { SCHEMA_SQL, schemaStatements } from '../../sql/schema';
import { startPglite, type PgliteHandle } from '../support/pglite';

/**
 * The agent-access statements and the schema as the Lambdas send them (imported from their .sql
 * files), and the schema's idempotency (also over a database created by the earlier schema)
 * on real PostgreSQL (PGlite).
 */

const SQL_DIR = join(__dirname, '..', '..', 'sql');
/** The `:name` parameters a file's comment header documents (its `-- Parameters:` line). */
const documentedParameters = (file: string): string[] => {
  const header = readFileSync(join(SQL_DIR, file), 'utf8').split('\n').filter((line) => line.startsWith('--')).join('\n');
  const line = header.slice(header.indexOf('Parameters:'));
  return [...new Set([...line.matchAll(/:([a-z_]+)/g)].map((m) => m[1]))].sort();
};
const placeholders = (sql: string): string[] => [...new Set([...sql.matchAll(/(?<!:):([a-z_]+)/g)].map((m) => m[1]))].sort();

let db: PgliteHandle;
const apply = async (statements: string[]) => {
  for (const statement of statements) await db.exec(statement);
};
const columnsOf = async (table: string) =>
  (await db.query<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name', [table])).map((r) => r.column_name);

describe('sql: agent-access statements and the schema module', () => {
  it.each(Object.entries(AGENT_QUERIES))('%s sends its .sql file without the comment header, with exactly the parameters the header documents', (_name, query) => {
    expect(query.sql).not.toMatch(/^\s*--/);
    expect(placeholders(query.sql)).toEqual(documentedParameters(query.file));
  });

  it('splits the schema into single statements, dropping comments and keeping literals whole', () => {
    const statements = schemaStatements();
    expect(statements.length).toBe((SCHEMA_SQL.match(/;\s*$/gm) ?? []).length);
    for (const statement of statements) {
      expect(statement).toMatch(/^(CREATE|ALTER) /);
      expect(statement).not.toContain('--');
      expect(statement).not.toContain(';');
    }
    expect(statements.some((s) => s.includes("'^[A-Za-z0-9_-]{1,128}$'"))).toBe(true);
    expect(schemaStatements("CREATE TABLE t (a text DEFAULT 'x; -- y');\n-- only a comment;\n")).toEqual(["CREATE TABLE t (a text DEFAULT 'x; -- y')"]);
  });
});

describe('sql: the schema and the stale-device statement on PostgreSQL', () => {
  beforeEach(async () => {
    db = await startPglite();
  });
  afterEach(async () => {
    await db.close();
  });

  it('applies statement by statement, twice, without error or change', async () => {
    await apply(schemaStatements());
    const before = await columnsOf('devices');
    await apply(schemaStatements());
    expect(await columnsOf('devices')).toEqual(before);
    expect(before).toEqual(['active', 'agent_id', 'client_id', 'deactivated_at', 'label', 'last_seen_at', 'registered_at']);
  });

  it('upgrades a database created by the schema before agent access, keeping its rows', async () => {
    await db.exec(readFileSync(join(__dirname, '..', 'fixtures', 'sql', 'schema-before-agent-access.sql'), 'utf8'));
    await db.exec("INSERT INTO agents (agent_id, tenant_id) VALUES ('a1', 't1'); INSERT INTO devices (client_id, agent_id) VALUES ('d1', 'a1');");
    await apply(schemaStatements());
    expect(await db.query('SELECT client_id, active, label, last_seen_at IS NOT NULL AS seen FROM devices')).toEqual([{ client_id: 'd1', active: true, label: null, seen: true }]);
  });

  it('deactivates only active devices not seen for the given days, in batches', async () => {
    await apply(schemaStatements());
    await db.exec(`
      INSERT INTO agents (agent_id, tenant_id) VALUES ('a1', 't1');
      INSERT INTO devices (client_id, agent_id, active, last_seen_at) VALUES
        ('old-1', 'a1', true, now() - interval '31 days'),
        ('old-2', 'a1', true, now() - interval '40 days'),
        ('old-3', 'a1', true, now() - interval '90 days'),
        ('recent', 'a1', true, now() - interval '29 days'),
        ('old-but-off', 'a1', false, now() - interval '90 days');
    `);
    const run = async (limit: number) => {
      const st = toPositional(AGENT_QUERIES.devicesDeactivateStale.sql, [
        { name: 'stale_days', value: { longValue: 30 } },
        { name: 'batch_limit', value: { longValue: limit } },
      ]);
      return (await db.query<{ client_id: string }>(st.text, st.values)).map((r) => r.client_id).sort();
    };
    expect(await run(2)).toEqual(['old-2', 'old-3']);
    expect(await run(2)).toEqual(['old-1']);
    expect(await run(2)).toEqual([]);
    expect(await db.query('SELECT client_id FROM devices WHERE active ORDER BY client_id')).toEqual([{ client_id: 'recent' }]);
    expect(await db.query("SELECT deactivated_at IS NULL AS untouched FROM devices WHERE client_id = 'old-but-off'")).toEqual([{ untouched: true }]);
  });
});
