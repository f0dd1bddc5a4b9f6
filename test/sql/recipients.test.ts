import { TASK_ENV } from '../support/task-env';
import { ExecuteStatementCommand, RDSDataClient, type ExecuteStatementCommandInput } from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toPositional } from '../../local/emulators/data-api/named-params';
import { COMMON_RECIPIENT_PARAMETERS, RECIPIENT_QUERIES } from '../../sql/queries';
import { handler, recipientsStatement } from '../../tasks/resolve-recipients/handler';
import type { Audience, Device, Topic } from '../../contracts/envelope';
import { captureLogs } from '../support/logs';
import { startPglite, type PgliteHandle } from '../support/pglite';

/**
 * The recipients schema and the three per-topic queries on real PostgreSQL (PGlite), with exactly
 * the SQL and the named parameters resolve-recipients sends to the Data API.
 */

const SQL_DIR = join(__dirname, '..', '..', 'sql');
const PAGE_SIZE = Number(TASK_ENV.PAGE_SIZE);

let db: PgliteHandle;

const run = async (audience: Audience, after: Device | null = null, limit = 1000): Promise<Device[]> => {
  const { sql, parameters } = recipientsStatement(audience, after, limit);
  const statement = toPositional(sql, parameters);
  const rows = await db.query<{ agent_id: string; client_id: string }>(statement.text, statement.values);
  return rows.map((row) => ({ agentId: row.agent_id, clientId: row.client_id }));
};

const ids = (devices: Device[]) => devices.map((d) => `${d.agentId}/${d.clientId}`);
/** The order the keyset pages in: agent id then client id, byte-wise (the "C" collation). */
const byteOrder = (a: Device, b: Device) =>
  a.agentId === b.agentId ? (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0) : a.agentId < b.agentId ? -1 : 1;

const directTo = (assignedAgentId: string, extra: Partial<Audience> = {}): Audience => ({
  topic: 'direct',
  tenantId: 't1',
  senderId: 'cust-1',
  senderType: 'customer',
  assignedAgentId,
  ...extra,
});
const teamOf = (teamId: string, extra: Partial<Audience> = {}): Audience => ({ topic: 'team', tenantId: 't1', senderId: 'cust-1', senderType: 'customer', teamId, ...extra });
const subscribersOf = (senderId: string, extra: Partial<Audience> = {}): Audience => ({ topic: 'sender', tenantId: 't1', senderId, senderType: 'customer', ...extra });

const BIG_AGENTS = 9;
/** Tenant t3's team "team-big": agents with 0 to 5 devices, some agents and devices inactive. */
const bigTeam = () => {
  const agents: { agentId: string; active: boolean }[] = [];
  const devices: { clientId: string; agentId: string; active: boolean }[] = [];
  for (let a = 0; a < BIG_AGENTS; a += 1) {
    const agentId = `big-agent-${a}`;
    agents.push({ agentId, active: a !== 4 });
    for (let d = 0; d < a % 6; d += 1) {
      // Mixed case and _ - make byte order differ from a case-insensitive order.
      const clientId = [`dev-${a}-${d}`, `Dev_${a}_${d}`, `DEV-${a}-z${d}`][d % 3];
      devices.push({ clientId, agentId, active: d !== 2 });
    }
  }
  return { agents, devices };
};

beforeAll(async () => {
  db = await startPglite();
  const schema = readFileSync(join(SQL_DIR, 'schema.sql'), 'utf8');
  await db.exec(schema);
  // The schema is meant to be re-run safely.
  await db.exec(schema);
  await db.exec(`
    INSERT INTO agents (agent_id, tenant_id, active) VALUES
      ('a-amy', 't1', true), ('a-bob', 't1', true), ('a-cat', 't1', false), ('a-dan', 't1', true), ('a-eve', 't1', true),
      ('z-zed', 't2', true);
    INSERT INTO devices (client_id, agent_id, active) VALUES
      ('amy-phone', 'a-amy', true), ('amy-laptop', 'a-amy', true), ('Amy-Tablet', 'a-amy', true), ('amy-old', 'a-amy', false),
      ('bob-phone', 'a-bob', true),
      ('cat-phone', 'a-cat', true),
      ('eve-phone', 'a-eve', true),
      ('zed-phone', 'z-zed', true);
    INSERT INTO team_members (team_id, agent_id) VALUES
      ('team-support', 'a-amy'), ('team-support', 'a-bob'), ('team-support', 'a-cat'), ('team-support', 'a-dan'), ('team-support', 'a-eve'),
      ('team-support', 'z-zed'),
      ('team-empty-ish', 'a-dan');
    INSERT INTO sender_subscriptions (tenant_id, sender_id, agent_id) VALUES
      ('t1', 'cust-1', 'a-amy'), ('t1', 'cust-1', 'a-cat'), ('t1', 'cust-1', 'a-eve'),
      ('t1', 'a-eve', 'a-eve'), ('t1', 'a-eve', 'a-bob'),
      ('t2', 'cust-1', 'z-zed'),
      ('t2', 'cust-9', 'a-amy');
  `);
  const big = bigTeam();
  for (const agent of big.agents) {
    await db.query('INSERT INTO agents (agent_id, tenant_id, active) VALUES ($1, $2, $3)', [agent.agentId, 't3', agent.active]);
    await db.query('INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2)', ['team-big', agent.agentId]);
  }
  for (const device of big.devices) {
    await db.query('INSERT INTO devices (client_id, agent_id, active) VALUES ($1, $2, $3)', [device.clientId, device.agentId, device.active]);
  }
});
afterAll(async () => {
  await db.close();
});

describe('sql: canonical files and the strings the Lambda sends', () => {
  it.each(Object.entries(RECIPIENT_QUERIES))('sql/%s query string is the body of its .sql file', (_topic, query) => {
    const lines = readFileSync(join(SQL_DIR, query.file), 'utf8').split('\n');
    // The file's leading comment block documents the query; everything after it is the query.
    const start = lines.findIndex((line) => !line.startsWith('--') && line.trim() !== '');
    const body = lines.slice(start).join('\n');
    expect(query.sql.trim()).toBe(body.trim());
  });

  it.each(Object.entries(RECIPIENT_QUERIES))('the %s query takes exactly the parameters the handler sends', (topic, query) => {
    const placeholders = new Set([...query.sql.matchAll(/(?<!:):([a-z_]+)/g)].map((m) => m[1]));
    expect([...placeholders].sort()).toEqual([...COMMON_RECIPIENT_PARAMETERS, query.audienceParameter].sort());
    const audience = { direct: directTo('a-amy'), team: teamOf('team-support'), sender: subscribersOf('cust-1') }[topic as Topic];
    expect(recipientsStatement(audience, null, 10).parameters.map((p) => p.name).sort()).toEqual([...placeholders].sort());
  });
});

describe('sql: the direct query', () => {
  it("returns the assigned agent's active devices, in byte order", async () => {
    expect(ids(await run(directTo('a-amy')))).toEqual(['a-amy/Amy-Tablet', 'a-amy/amy-laptop', 'a-amy/amy-phone']);
  });

  it('returns nothing for an inactive agent, an agent without devices or an unknown agent', async () => {
    expect(await run(directTo('a-cat'))).toEqual([]);
    expect(await run(directTo('a-dan'))).toEqual([]);
    expect(await run(directTo('a-nobody'))).toEqual([]);
  });

  it("never returns another tenant's agent", async () => {
    expect(await run(directTo('z-zed'))).toEqual([]);
    expect(ids(await run(directTo('z-zed', { tenantId: 't2' })))).toEqual(['z-zed/zed-phone']);
  });

  it('leaves out the assigned agent when that agent sent the message', async () => {
    expect(await run(directTo('a-amy', { senderId: 'a-amy', senderType: 'agent' }))).toEqual([]);
  });

  it('excludes by sender id only when the sender is an agent', async () => {
    expect(await run(directTo('a-amy', { senderId: 'a-amy', senderType: 'customer' }))).toHaveLength(3);
  });
});

describe('sql: the team query', () => {
  it("returns the active devices of the team's active agents of the tenant", async () => {
    expect(ids(await run(teamOf('team-support')))).toEqual(['a-amy/Amy-Tablet', 'a-amy/amy-laptop', 'a-amy/amy-phone', 'a-bob/bob-phone', 'a-eve/eve-phone']);
  });

  it('leaves out the sending agent', async () => {
    expect(ids(await run(teamOf('team-support', { senderId: 'a-amy', senderType: 'agent' })))).toEqual(['a-bob/bob-phone', 'a-eve/eve-phone']);
  });

  it('keeps tenants apart even when they use the same team id', async () => {
    expect(ids(await run(teamOf('team-support', { tenantId: 't2' })))).toEqual(['z-zed/zed-phone']);
  });

  it('returns nothing for a team whose members have no device, or an unknown team', async () => {
    expect(await run(teamOf('team-empty-ish'))).toEqual([]);
    expect(await run(teamOf('team-nobody'))).toEqual([]);
  });
});

describe('sql: the sender query', () => {
  it('returns the active devices of the active agents subscribed to the sender', async () => {
    expect(ids(await run(subscribersOf('cust-1')))).toEqual(['a-amy/Amy-Tablet', 'a-amy/amy-laptop', 'a-amy/amy-phone', 'a-eve/eve-phone']);
  });

  it('keeps tenants apart for the same sender id, and ignores a subscription to another tenant', async () => {
    expect(ids(await run(subscribersOf('cust-1', { tenantId: 't2' })))).toEqual(['z-zed/zed-phone']);
    expect(await run(subscribersOf('cust-9', { tenantId: 't2' }))).toEqual([]);
  });

  it('leaves out an agent subscribed to its own messages', async () => {
    expect(ids(await run(subscribersOf('a-eve', { senderType: 'agent' })))).toEqual(['a-bob/bob-phone']);
  });

  it('returns nothing for a sender nobody follows', async () => {
    expect(await run(subscribersOf('cust-unknown'))).toEqual([]);
  });
});

describe('sql: keyset paging', () => {
  const big: Audience = { topic: 'team', tenantId: 't3', senderId: 'cust-1', senderType: 'customer', teamId: 'team-big' };
  const expectedBig = () => {
    const { agents, devices } = bigTeam();
    const active = new Set(agents.filter((a) => a.active).map((a) => a.agentId));
    return devices
      .filter((d) => d.active && active.has(d.agentId))
      .map(({ agentId, clientId }) => ({ agentId, clientId }))
      .sort(byteOrder);
  };

  it('has a test audience spread over several agents and pages', () => {
    expect(expectedBig().length).toBeGreaterThan(3 * PAGE_SIZE);
  });

  it.each([1, 2, 3, 5, 100])('returns every device exactly once, in order, with pages of %i', async (limit) => {
    const seen: Device[] = [];
    let after: Device | null = null;
    for (let pages = 0; pages < 100; pages += 1) {
      const page: Device[] = await run(big, after, limit);
      expect(page.length).toBeLessThanOrEqual(limit);
      seen.push(...page);
      if (page.length < limit) break;
      after = page[page.length - 1];
    }
    expect(seen).toEqual(expectedBig());
  });

  describe('through the resolve-recipients handler (Data API mocked onto PGlite)', () => {
    const rds = mockClient(RDSDataClient);
    beforeEach(() => {
      captureLogs();
      rds.reset();
      rds.on(ExecuteStatementCommand).callsFake(async (input: ExecuteStatementCommandInput) => {
        const statement = toPositional(input.sql ?? '', input.parameters);
        return { formattedRecords: JSON.stringify(await db.query(statement.text, statement.values)) };
      });
    });
    afterEach(() => {
      jest.restoreAllMocks();
    });
    afterAll(() => {
      rds.restore();
    });

    const allPages = async (audience: Audience) => {
      const pages: { count: number; nextCursor: string | null }[] = [];
      const devices: Device[] = [];
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<typeof handler>> = await handler({ audience, cursor });
        pages.push({ count: page.count, nextCursor: page.nextCursor });
        devices.push(...page.devices);
        cursor = page.nextCursor;
      } while (cursor !== null && pages.length < 100);
      return { pages, devices };
    };

    it(`pages a team of ${BIG_AGENTS} agents by PAGE_SIZE devices until the cursor is null`, async () => {
      const { pages, devices } = await allPages(big);
      const expected = expectedBig();
      expect(devices).toEqual(expected);
      expect(pages.map((p) => p.count)).toEqual([...pages.map(() => PAGE_SIZE).slice(0, -1), expected.length - PAGE_SIZE * (pages.length - 1)]);
      expect(pages.at(-1)?.nextCursor).toBeNull();
    });

    it('returns one empty page with a null cursor for an empty audience', async () => {
      await expect(handler({ audience: teamOf('team-nobody'), cursor: null })).resolves.toEqual({ devices: [], count: 0, nextCursor: null });
    });
  });
});

describe('sql: Data API parameters on PostgreSQL', () => {
  it('binds every scalar field and typeHint the way the Data API would', async () => {
    const statement = toPositional(
      'SELECT :s AS s, :l AS l, :d AS d, :b AS b, CAST(:n AS text) AS n, :id AS id, :doc AS doc, :at AS at, :amount AS amount',
      [
        { name: 's', value: { stringValue: "it's" } },
        { name: 'l', value: { longValue: 101 } },
        { name: 'd', value: { doubleValue: 0.5 } },
        { name: 'b', value: { booleanValue: true } },
        { name: 'n', value: { isNull: true } },
        { name: 'id', value: { stringValue: '3f2504e0-4f89-11d3-9a0c-0305e82c3301' }, typeHint: 'UUID' },
        { name: 'doc', value: { stringValue: '{"a":[1,2]}' }, typeHint: 'JSON' },
        { name: 'at', value: { stringValue: '2025-03-04 10:15:30.120' }, typeHint: 'TIMESTAMP' },
        { name: 'amount', value: { stringValue: '12.50' }, typeHint: 'DECIMAL' },
      ],
    );
    const [row] = await db.query<Record<string, unknown>>(statement.text, statement.values);
    expect(row).toMatchObject({ s: "it's", l: '101', d: '0.5', b: 'true', n: null, id: '3f2504e0-4f89-11d3-9a0c-0305e82c3301', doc: { a: [1, 2] }, amount: '12.50' });
    // Rows cross a worker thread, so the Date is another realm's: check its tag, not instanceof.
    expect(Object.prototype.toString.call(row.at)).toBe('[object Date]');
  });
});
