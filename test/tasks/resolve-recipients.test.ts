import { TASK_ENV } from '../support/task-env';
import {
  AccessDeniedException,
  BadRequestException,
  DatabaseResumingException,
  DatabaseUnavailableException,
  ExecuteStatementCommand,
  InternalServerErrorException,
  RDSDataClient,
  ServiceUnavailableError,
  StatementTimeoutException,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { RECIPIENTS_DIRECT_SQL, RECIPIENTS_SENDER_SQL, RECIPIENTS_TEAM_SQL } from '../../sql/queries';
import { decodeCursor, encodeCursor } from '../../tasks/resolve-recipients/cursor';
import { UnexpectedRecipientsResultError, handler, isTransientDataApiError } from '../../tasks/resolve-recipients/handler';
import type { Audience } from '../../contracts/envelope';
import { ConfigurationError, InvalidTaskInputError, RecipientsUnavailableError } from '../../tasks/shared/errors';
import { captureLogs, captureMetrics, metricPoints } from '../support/logs';

const rds = mockClient(RDSDataClient);
const PAGE_SIZE = Number(TASK_ENV.PAGE_SIZE);

const direct: Audience = { topic: 'direct', tenantId: 't-1', senderId: 'cust-1', senderType: 'customer', assignedAgentId: 'agent-a' };
const team: Audience = { topic: 'team', tenantId: 't-1', senderId: 'agent-s', senderType: 'agent', teamId: 'team-1' };
const sender: Audience = { topic: 'sender', tenantId: 't-1', senderId: 'cust-2', senderType: 'customer' };

const rows = (...pairs: [string, string][]) => ({ formattedRecords: JSON.stringify(pairs.map(([agent_id, client_id]) => ({ agent_id, client_id }))) });
/** Rows as a database without the schema's constraints could hold them. */
const records = (...pairs: [unknown, unknown][]) => ({ formattedRecords: JSON.stringify(pairs.map(([agent_id, client_id]) => ({ agent_id, client_id }))) });
const sentInputs = () => rds.commandCalls(ExecuteStatementCommand).map((call) => call.args[0].input);
const parameter = (input: { parameters?: { name?: string; value?: unknown }[] }, name: string) =>
  input.parameters?.find((p) => p.name === name)?.value;

const awsError = (name: string, message: string) => Object.assign(new Error(message), { name, $metadata: {} });

beforeEach(() => {
  rds.reset();
  captureLogs();
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('resolve-recipients: the Data API statement', () => {
  it('sends the direct query with named parameters only, JSON records and PAGE_SIZE + 1 rows on the first page', async () => {
    rds.on(ExecuteStatementCommand).resolves(rows(['agent-a', 'dev-1']));
    await handler({ audience: direct, cursor: null });
    expect(rds).toHaveReceivedCommandTimes(ExecuteStatementCommand, 1);
    expect(sentInputs()[0]).toEqual({
      resourceArn: TASK_ENV.DB_CLUSTER_ARN,
      secretArn: TASK_ENV.DB_SECRET_ARN,
      database: TASK_ENV.DB_NAME,
      sql: RECIPIENTS_DIRECT_SQL,
      formatRecordsAs: 'JSON',
      parameters: [
        { name: 'tenant_id', value: { stringValue: 't-1' } },
        { name: 'agent_id', value: { stringValue: 'agent-a' } },
        { name: 'exclude_agent_id', value: { isNull: true } },
        { name: 'after_agent_id', value: { isNull: true } },
        { name: 'after_client_id', value: { isNull: true } },
        { name: 'page_limit', value: { longValue: PAGE_SIZE + 1 } },
      ],
    });
  });

  it('sends the team query with team_id, excluding the sending agent', async () => {
    rds.on(ExecuteStatementCommand).resolves(rows());
    await handler({ audience: team, cursor: null });
    expect(rds).toHaveReceivedCommandWith(ExecuteStatementCommand, { sql: RECIPIENTS_TEAM_SQL });
    const [input] = sentInputs();
    expect(parameter(input, 'team_id')).toEqual({ stringValue: 'team-1' });
    expect(parameter(input, 'exclude_agent_id')).toEqual({ stringValue: 'agent-s' });
    expect(input.parameters?.map((p) => p.name)).toEqual(['tenant_id', 'team_id', 'exclude_agent_id', 'after_agent_id', 'after_client_id', 'page_limit']);
  });

  it('sends the sender query with sender_id and excludes nobody when the sender is a customer', async () => {
    rds.on(ExecuteStatementCommand).resolves(rows());
    await handler({ audience: sender, cursor: null });
    const [input] = sentInputs();
    expect(input.sql).toBe(RECIPIENTS_SENDER_SQL);
    expect(parameter(input, 'sender_id')).toEqual({ stringValue: 'cust-2' });
    expect(parameter(input, 'exclude_agent_id')).toEqual({ isNull: true });
  });

  it('resumes strictly after the cursor position', async () => {
    rds.on(ExecuteStatementCommand).resolves(rows());
    await handler({ audience: direct, cursor: encodeCursor({ agentId: 'agent-a', clientId: 'dev-3' }) });
    const [input] = sentInputs();
    expect(parameter(input, 'after_agent_id')).toEqual({ stringValue: 'agent-a' });
    expect(parameter(input, 'after_client_id')).toEqual({ stringValue: 'dev-3' });
  });
});

describe('resolve-recipients: paging', () => {
  it('returns a full page and a cursor at its last row when one more row exists', async () => {
    rds.on(ExecuteStatementCommand).resolves(rows(['a1', 'd1'], ['a1', 'd2'], ['a2', 'd3'], ['a2', 'd4']));
    const out = await handler({ audience: direct, cursor: null });
    expect(out.devices).toEqual([
      { agentId: 'a1', clientId: 'd1' },
      { agentId: 'a1', clientId: 'd2' },
      { agentId: 'a2', clientId: 'd3' },
    ]);
    expect(out.count).toBe(3);
    expect(out.nextCursor).not.toBeNull();
    expect(decodeCursor(out.nextCursor as string)).toEqual({ agentId: 'a2', clientId: 'd3' });
  });

  it('returns a null cursor on the last page, even when it is exactly full', async () => {
    rds.on(ExecuteStatementCommand).resolves(rows(['a1', 'd1'], ['a1', 'd2'], ['a2', 'd3']));
    const out = await handler({ audience: direct, cursor: null });
    expect(out).toMatchObject({ count: 3, nextCursor: null });
  });

  it('returns an empty page with a null cursor for an audience without devices', async () => {
    rds.on(ExecuteStatementCommand).resolves(rows());
    await expect(handler({ audience: sender, cursor: null })).resolves.toEqual({ devices: [], count: 0, nextCursor: null });
  });

  it('reads an absent formattedRecords as no rows', async () => {
    rds.on(ExecuteStatementCommand).resolves({});
    await expect(handler({ audience: sender, cursor: null })).resolves.toEqual({ devices: [], count: 0, nextCursor: null });
  });

  it('issues cursors that are opaque base64url', async () => {
    const cursor = encodeCursor({ agentId: 'agent/ü', clientId: 'dev+1' });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual({ agentId: 'agent/ü', clientId: 'dev+1' });
  });
});

describe('resolve-recipients: client ids that cannot be a topic segment or queue name', () => {
  it('skips and logs them but still moves the cursor past them', async () => {
    const logs = captureLogs();
    rds.on(ExecuteStatementCommand).resolves(rows(['a1', 'd1'], ['a1', 'bad/#'], ['a2', 'x'.repeat(70)], ['a2', 'd4']));
    const out = await handler({ audience: direct, cursor: null });
    expect(out.devices).toEqual([{ agentId: 'a1', clientId: 'd1' }]);
    expect(out.count).toBe(1);
    expect(decodeCursor(out.nextCursor as string)).toEqual({ agentId: 'a2', clientId: 'x'.repeat(70) });
    const skipped = logs.filter((entry) => entry.level === 'WARN' && String(entry.message).startsWith('device skipped'));
    expect(skipped.map((entry) => entry.clientId)).toEqual(['bad/#', 'x'.repeat(70)]);
    expect(skipped[1].problem).toMatch(/longer than 56 characters/);
  });

  it('reads on when a whole page is unusable, because count 0 would end the paging', async () => {
    rds
      .on(ExecuteStatementCommand)
      .resolvesOnce(rows(['a1', 'bad 1'], ['a1', 'bad 2'], ['a1', 'bad 3'], ['a2', 'd4']))
      .resolvesOnce(rows(['a2', 'd4'], ['a2', 'd5']));
    const out = await handler({ audience: team, cursor: null });
    expect(out).toEqual({ devices: [{ agentId: 'a2', clientId: 'd4' }, { agentId: 'a2', clientId: 'd5' }], count: 2, nextCursor: null });
    const second = sentInputs()[1];
    expect(parameter(second, 'after_agent_id')).toEqual({ stringValue: 'a1' });
    expect(parameter(second, 'after_client_id')).toEqual({ stringValue: 'bad 3' });
  });

  it('ends with count 0 and no cursor when the unusable ids are the last ones', async () => {
    rds.on(ExecuteStatementCommand).resolves(rows(['a1', 'bad 1']));
    await expect(handler({ audience: direct, cursor: null })).resolves.toEqual({ devices: [], count: 0, nextCursor: null });
  });
});

describe('resolve-recipients: malformed recipients rows', () => {
  const skippedRows = (logs: ReturnType<typeof captureLogs>) =>
    logs.filter((entry) => entry.level === 'WARN' && String(entry.message).startsWith('device skipped: the recipients row'));

  it('skips and logs a row with an empty client_id and still returns every valid device of the page', async () => {
    const logs = captureLogs();
    rds.on(ExecuteStatementCommand).resolves(rows(['a1', 'd1'], ['a1', ''], ['a2', 'd3']));
    const out = await handler({ audience: team, cursor: null });
    expect(out).toEqual({ devices: [{ agentId: 'a1', clientId: 'd1' }, { agentId: 'a2', clientId: 'd3' }], count: 2, nextCursor: null });
    expect(skippedRows(logs)).toEqual([expect.objectContaining({ agentId: 'a1', clientId: '', problem: expect.stringMatching(/^client_id: /) })]);
  });

  it.each([
    ['a null agent_id', [null, 'd2']],
    ['a null client_id', ['a1', null]],
    ['a numeric client_id', ['a1', 42]],
    ['an object for an agent_id', [{ id: 'a1' }, 'd2']],
    ['an empty agent_id', ['', 'd2']],
  ] as [string, [unknown, unknown]][])('skips a row with %s and keeps the others', async (_case, bad) => {
    const logs = captureLogs();
    rds.on(ExecuteStatementCommand).resolves(records(['a1', 'd1'], bad, ['a2', 'd3']));
    const out = await handler({ audience: direct, cursor: null });
    expect(out.devices).toEqual([{ agentId: 'a1', clientId: 'd1' }, { agentId: 'a2', clientId: 'd3' }]);
    expect(skippedRows(logs)).toHaveLength(1);
  });

  it('logs a skipped row once, on the page it belongs to, not again when it was the look-ahead row', async () => {
    const logs = captureLogs();
    rds.on(ExecuteStatementCommand).resolves(rows(['a1', 'd1'], ['a1', 'd2'], ['a1', 'd3'], ['a2', '']));
    await handler({ audience: team, cursor: null });
    expect(skippedRows(logs)).toEqual([]);
  });

  it('puts the cursor at a skipped last row, so that the next page starts after it', async () => {
    rds
      .on(ExecuteStatementCommand)
      .resolvesOnce(rows(['a1', 'd1'], ['a1', 'd2'], ['a2', ''], ['a2', 'd4']))
      .resolvesOnce(rows(['a2', 'd4']));
    const first = await handler({ audience: team, cursor: null });
    expect(first.devices).toEqual([{ agentId: 'a1', clientId: 'd1' }, { agentId: 'a1', clientId: 'd2' }]);
    expect(decodeCursor(first.nextCursor as string)).toEqual({ agentId: 'a2', clientId: '' });

    const second = await handler({ audience: team, cursor: first.nextCursor });
    expect(second).toEqual({ devices: [{ agentId: 'a2', clientId: 'd4' }], count: 1, nextCursor: null });
    const resumed = sentInputs()[1];
    expect(parameter(resumed, 'after_agent_id')).toEqual({ stringValue: 'a2' });
    expect(parameter(resumed, 'after_client_id')).toEqual({ stringValue: '' });
  });

  it('resumes after a skipped last row with a NULL client_id by its agent id alone', async () => {
    rds
      .on(ExecuteStatementCommand)
      .resolvesOnce(records(['a1', 'd1'], ['a1', 'd2'], ['a2', null], ['a3', 'd4']))
      .resolvesOnce(rows(['a3', 'd4']));
    const first = await handler({ audience: team, cursor: null });
    expect(decodeCursor(first.nextCursor as string)).toEqual({ agentId: 'a2', clientId: null });
    await handler({ audience: team, cursor: first.nextCursor });
    expect(parameter(sentInputs()[1], 'after_client_id')).toEqual({ isNull: true });
  });

  it('reads on past a page of malformed rows only, because count 0 would end the paging', async () => {
    rds
      .on(ExecuteStatementCommand)
      .resolvesOnce(records(['a1', ''], ['a2', null], ['a3', ''], ['a4', 'd4']))
      .resolvesOnce(rows(['a4', 'd4']));
    const out = await handler({ audience: team, cursor: null });
    expect(out).toEqual({ devices: [{ agentId: 'a4', clientId: 'd4' }], count: 1, nextCursor: null });
    expect(parameter(sentInputs()[1], 'after_agent_id')).toEqual({ stringValue: 'a3' });
    expect(parameter(sentInputs()[1], 'after_client_id')).toEqual({ stringValue: '' });
  });

  it('ends the audience at a last row without an agent_id (NULLs sort last: no device can follow)', async () => {
    const logs = captureLogs();
    rds.on(ExecuteStatementCommand).resolves(records(['a1', 'd1'], ['a1', 'd2'], [null, 'd3'], [null, 'd4']));
    const out = await handler({ audience: team, cursor: null });
    expect(out).toEqual({ devices: [{ agentId: 'a1', clientId: 'd1' }, { agentId: 'a1', clientId: 'd2' }], count: 2, nextCursor: null });
    expect(logs).toContainEqual(expect.objectContaining({ level: 'WARN', message: expect.stringMatching(/^audience ends at a row without an agent_id/) }));
    expect(rds).toHaveReceivedCommandTimes(ExecuteStatementCommand, 1);
  });

  it.each([
    ['records without the query columns', { formattedRecords: JSON.stringify([{ agent: 'a1' }]) }],
    ['records that are not objects', { formattedRecords: JSON.stringify(['a1']) }],
    ['formattedRecords that is not JSON', { formattedRecords: '[{' }],
  ])('throws UnexpectedRecipientsResultError for %s: that is a wrong statement, not a bad row', async (_case, answer) => {
    rds.on(ExecuteStatementCommand).resolves(answer);
    const error = await handler({ audience: direct, cursor: null }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnexpectedRecipientsResultError);
    expect((error as Error).name).toBe('UnexpectedRecipientsResultError');
  });
});

describe('resolve-recipients: Data API errors', () => {
  it.each([
    ['DatabaseResumingException', () => new DatabaseResumingException({ message: 'resuming', $metadata: {} })],
    ['DatabaseUnavailableException', () => new DatabaseUnavailableException({ message: 'writer unavailable', $metadata: {} })],
    ['ServiceUnavailableError', () => new ServiceUnavailableError({ message: 'unavailable', $metadata: {} })],
    ['StatementTimeoutException', () => new StatementTimeoutException({ message: 'timeout', $metadata: {} })],
    ['InternalServerErrorException', () => new InternalServerErrorException({ message: 'internal', $metadata: {} })],
    ['ThrottlingException', () => awsError('ThrottlingException', 'Rate exceeded')],
    ['TimeoutError', () => awsError('TimeoutError', 'socket hang up')],
    ['ECONNRESET', () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    [
      "BadRequestException 'Communications link failure'",
      () => new BadRequestException({ message: 'Communications link failure\n\nThe last packet sent successfully to the server was 0 milliseconds ago.', $metadata: {} }),
    ],
  ])('turns %s into RecipientsUnavailableError, keeping the cause', async (_name, make) => {
    const cause = make();
    rds.on(ExecuteStatementCommand).rejects(cause);
    const error = await handler({ audience: direct, cursor: null }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecipientsUnavailableError);
    expect((error as Error).name).toBe('RecipientsUnavailableError');
    expect((error as Error).cause).toBe(cause);
  });

  it.each([
    ['BadRequestException (SQL error)', () => new BadRequestException({ message: 'ERROR: relation "devices" does not exist', $metadata: {} })],
    ['AccessDeniedException', () => new AccessDeniedException({ message: 'not authorized', $metadata: {} })],
  ])('lets %s propagate unchanged', async (_name, make) => {
    const cause = make();
    rds.on(ExecuteStatementCommand).rejects(cause);
    await expect(handler({ audience: direct, cursor: null })).rejects.toBe(cause);
  });

  it('fails on records that are not (agent_id, client_id) rows instead of guessing', async () => {
    rds.on(ExecuteStatementCommand).resolves({ formattedRecords: JSON.stringify([{ agent: 'a1' }]) });
    await expect(handler({ audience: direct, cursor: null })).rejects.not.toBeInstanceOf(RecipientsUnavailableError);
  });

  it('classifies errors that are not Error objects as permanent', () => {
    expect(isTransientDataApiError('ThrottlingException')).toBe(false);
    expect(isTransientDataApiError(undefined)).toBe(false);
  });

  it('treats an error the SDK marked retryable as transient', () => {
    expect(isTransientDataApiError(Object.assign(new Error('slow down'), { name: 'SomethingNew', $retryable: { throttling: true } }))).toBe(true);
  });
});

describe('resolve-recipients: task input', () => {
  it.each([
    ['no audience', { cursor: null }],
    ['no cursor key', { audience: direct }],
    ['an unknown topic', { audience: { ...direct, topic: 'broadcast' }, cursor: null }],
    ['direct without assignedAgentId', { audience: { ...direct, assignedAgentId: undefined }, cursor: null }],
    ['team without teamId', { audience: { ...team, teamId: undefined }, cursor: null }],
    ['a cursor that is not base64url JSON', { audience: direct, cursor: '%%%' }],
    ['a cursor of another shape', { audience: direct, cursor: Buffer.from('{"page":2}').toString('base64url') }],
    ['a numeric cursor', { audience: direct, cursor: 2 }],
  ])('throws InvalidTaskInputError for %s, without querying', async (_case, event) => {
    await expect(handler(event)).rejects.toBeInstanceOf(InvalidTaskInputError);
    expect(rds).not.toHaveReceivedAnyCommand();
  });
});

describe('resolve-recipients: environment', () => {
  const load = async (overrides: Record<string, string | undefined>) => {
    const saved = { ...process.env };
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    try {
      let loaded!: { handler: typeof handler; sdk: typeof import('@aws-sdk/client-rds-data') };
      await jest.isolateModulesAsync(async () => {
        const sdk = await import('@aws-sdk/client-rds-data');
        const module = await import('../../tasks/resolve-recipients/handler');
        loaded = { handler: module.handler, sdk };
      });
      return loaded;
    } finally {
      process.env = saved;
    }
  };

  it('pages by 100 devices when PAGE_SIZE is not set', async () => {
    const { handler: isolated, sdk } = await load({ PAGE_SIZE: undefined });
    const isolatedRds = mockClient(sdk.RDSDataClient);
    isolatedRds.on(sdk.ExecuteStatementCommand).resolves({ formattedRecords: '[]' });
    await isolated({ audience: direct, cursor: null });
    const input = isolatedRds.commandCalls(sdk.ExecuteStatementCommand)[0].args[0].input;
    expect(parameter(input, 'page_limit')).toEqual({ longValue: 101 });
    isolatedRds.restore();
  });

  it.each([
    ['DB_CLUSTER_ARN is missing', { DB_CLUSTER_ARN: undefined }],
    ['PAGE_SIZE is not a number', { PAGE_SIZE: 'many' }],
    ['PAGE_SIZE is above the state-size limit', { PAGE_SIZE: '5000' }],
    ['the inbox prefix is not a queue-name part', { INBOX_QUEUE_NAME_PREFIX: 'convo notify' }],
  ])('fails at cold start with ConfigurationError when %s', async (_case, overrides) => {
    // The module registry is isolated, so the error class is another copy: match on the name.
    await expect(load(overrides)).rejects.toMatchObject({ name: ConfigurationError.name });
  });
});

describe('resolve-recipients: metrics', () => {
  it('counts the devices resolved and the rows skipped of a page in one EMF object of the ConvoNotify namespace', async () => {
    rds.on(ExecuteStatementCommand).resolves(records(['a1', 'd1'], ['a1', ''], ['a2', 'd3']));
    const emf = captureMetrics();
    await handler({ audience: team, cursor: null });
    expect(emf).toHaveLength(1);
    expect(metricPoints(emf)).toEqual([
      { name: 'DevicesResolved', unit: 'Count', value: 2, namespace: 'ConvoNotify', dimensions: { service: 'resolve-recipients' } },
      { name: 'DevicesSkipped', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'resolve-recipients' } },
    ]);
  });

  it('counts the rows skipped on every page read before a usable device', async () => {
    rds
      .on(ExecuteStatementCommand)
      .resolvesOnce(records(['a1', ''], ['a2', ''], ['a3', ''], ['a4', 'd4']))
      .resolvesOnce(records(['a4', 'd4']));
    const emf = captureMetrics();
    const out = await handler({ audience: team, cursor: null });
    expect(out.count).toBe(1);
    expect(metricPoints(emf).map(({ name, value }) => ({ name, value }))).toEqual([
      { name: 'DevicesResolved', value: 1 },
      { name: 'DevicesSkipped', value: 3 },
    ]);
  });

  it('logs the rows skipped on every page read, not only the last one', async () => {
    rds
      .on(ExecuteStatementCommand)
      .resolvesOnce(records(['a1', ''], ['a2', ''], ['a3', ''], ['a4', 'd4']))
      .resolvesOnce(records(['a4', 'd4']));
    const logs = captureLogs();
    await handler({ audience: team, cursor: null });
    expect(logs.filter((entry) => entry.message === 'recipients page resolved')).toEqual([
      expect.objectContaining({ level: 'INFO', topic: 'team', count: 1, skipped: 3, more: false }),
    ]);
  });
});
