import { TASK_ENV } from '../support/task-env';
import { ExecuteStatementCommand, RDSDataClient, type ExecuteStatementCommandInput } from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toPositional } from '../../local/emulators/data-api/named-params';
import { handler } from '../../tasks/resolve-recipients/handler';
import type { Audience, Device } from '../../contracts/envelope';
import { captureLogs } from '../support/logs';
import { startPglite, type PgliteHandle } from '../support/pglite';

/**
 * A recipients database that lost the schema's CHECK on devices.client_id (restored from an old
 * dump, or written by hand): the real team query on PostgreSQL (PGlite) returns an empty client id,
 * and resolve-recipients, with the Data API mocked onto PGlite, still pages out every valid device.
 */

const PAGE_SIZE = Number(TASK_ENV.PAGE_SIZE);
const team: Audience = { topic: 'team', tenantId: 't1', senderId: 'cust-1', senderType: 'customer', teamId: 'team-1' };

let db: PgliteHandle;
const rds = mockClient(RDSDataClient);

beforeAll(async () => {
  db = await startPglite();
  await db.exec(readFileSync(join(__dirname, '..', '..', 'sql', 'schema.sql'), 'utf8'));
  const [{ conname }] = await db.query<{ conname: string }>(
    "SELECT conname FROM pg_constraint WHERE conrelid = 'devices'::regclass AND contype = 'c'",
  );
  await db.exec(`ALTER TABLE devices DROP CONSTRAINT ${conname}`);
  // In byte order ('' first): a1/d1, a1/d2, a2/'', a2/d3, a2/d4, a3/d5. With pages of 3 the empty
  // id is the last row of the first page, the row the cursor must move past.
  await db.exec(`
    INSERT INTO agents (agent_id, tenant_id, active) VALUES ('a1', 't1', true), ('a2', 't1', true), ('a3', 't1', true);
    INSERT INTO team_members (team_id, agent_id) VALUES ('team-1', 'a1'), ('team-1', 'a2'), ('team-1', 'a3');
    INSERT INTO devices (client_id, agent_id, active) VALUES
      ('d1', 'a1', true), ('d2', 'a1', true), ('', 'a2', true), ('d3', 'a2', true), ('d4', 'a2', true), ('d5', 'a3', true);
  `);
  rds.on(ExecuteStatementCommand).callsFake(async (input: ExecuteStatementCommandInput) => {
    const statement = toPositional(input.sql ?? '', input.parameters);
    return { formattedRecords: JSON.stringify(await db.query(statement.text, statement.values)) };
  });
});
afterAll(async () => {
  rds.restore();
  await db.close();
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('resolve-recipients on PostgreSQL without the client_id CHECK', () => {
  it('returns every valid device of the team, skips and logs the empty client id once', async () => {
    // The data above puts the empty id last on the first page only with pages of 3.
    expect(PAGE_SIZE).toBe(3);
    const logs = captureLogs();
    const devices: Device[] = [];
    const counts: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof handler>> = await handler({ audience: team, cursor });
      devices.push(...page.devices);
      counts.push(page.count);
      cursor = page.nextCursor;
    } while (cursor !== null && counts.length < 10);

    expect(devices).toEqual([
      { agentId: 'a1', clientId: 'd1' },
      { agentId: 'a1', clientId: 'd2' },
      { agentId: 'a2', clientId: 'd3' },
      { agentId: 'a2', clientId: 'd4' },
      { agentId: 'a3', clientId: 'd5' },
    ]);
    expect(counts).toEqual([2, 3]);
    const skipped = logs.filter((entry) => entry.level === 'WARN' && String(entry.message).startsWith('device skipped'));
    expect(skipped).toEqual([expect.objectContaining({ agentId: 'a2', clientId: '' })]);
  });
});
