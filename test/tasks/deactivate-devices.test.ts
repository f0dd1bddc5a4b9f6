import { TASK_ENV } from '../support/task-env';
import { DeleteItemCommand, DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { DatabaseResumingException, ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AGENT_QUERIES } from '../../sql/agent-queries';
import { SCHEMA_SQL } from '../../sql/schema';
import { RecipientsUnavailableError } from '../../tasks/shared/errors';
import { dataApiOnPglite } from '../support/agent-access';
import { captureLogs, captureMetrics, metricPoints, type LogEntry } from '../support/logs';
import { startPglite, type PgliteHandle } from '../support/pglite';

/** The daily stale-device sweep, on PGlite through the Data API translation; the device registry mocked. */

process.env.STALE_DEVICE_DAYS = '30';
process.env.BATCH_LIMIT = '2';

const rds = mockClient(RDSDataClient);
const dynamodb = mockClient(DynamoDBClient);
let handler: typeof import('../../tasks/deactivate-devices/handler').handler;
let DeviceRegistryCleanupError: typeof import('../../tasks/deactivate-devices/handler').DeviceRegistryCleanupError;
let db: PgliteHandle;
let logs: LogEntry[];

beforeAll(async () => {
  db = await startPglite();
  await db.exec(SCHEMA_SQL);
  ({ handler, DeviceRegistryCleanupError } = await import('../../tasks/deactivate-devices/handler'));
});
afterAll(() => db.close());
beforeEach(async () => {
  rds.reset();
  rds.on(ExecuteStatementCommand).callsFake(dataApiOnPglite(db));
  dynamodb.reset();
  dynamodb.on(DeleteItemCommand).resolves({});
  logs = captureLogs();
  await db.exec('DELETE FROM devices; DELETE FROM agents;');
  await db.exec("INSERT INTO agents (agent_id, tenant_id) VALUES ('a1', 't1'), ('a2', 't1')");
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('deactivate-devices', () => {
  it('deactivates every device not seen for 30 days, in batches, and logs each one', async () => {
    await db.exec(`
      INSERT INTO devices (client_id, agent_id, last_seen_at) VALUES
        ('s1', 'a1', now() - interval '31 days'), ('s2', 'a1', now() - interval '45 days'),
        ('s3', 'a2', now() - interval '60 days'), ('s4', 'a2', now() - interval '400 days'),
        ('fresh', 'a1', now() - interval '29 days'), ('today', 'a2', now());
    `);
    await expect(handler()).resolves.toEqual({ deactivated: 4, batches: 3 });
    expect(await db.query('SELECT client_id FROM devices WHERE active ORDER BY client_id')).toEqual([{ client_id: 'fresh' }, { client_id: 'today' }]);
    expect(logs.filter((l) => l.message === 'device deactivated: not seen recently').map((l) => l.clientId).sort()).toEqual(['s1', 's2', 's3', 's4']);
    expect(rds.commandCalls(ExecuteStatementCommand)[0].args[0].input).toEqual({
      resourceArn: TASK_ENV.DB_CLUSTER_ARN,
      secretArn: TASK_ENV.DB_SECRET_ARN,
      database: TASK_ENV.DB_NAME,
      sql: AGENT_QUERIES.devicesDeactivateStale.sql,
      parameters: [
        { name: 'stale_days', value: { longValue: 30 } },
        { name: 'batch_limit', value: { longValue: 2 } },
      ],
      formatRecordsAs: 'JSON',
    });
  });

  it('does nothing when every device was seen recently', async () => {
    await db.exec("INSERT INTO devices (client_id, agent_id) VALUES ('d1', 'a1')");
    await expect(handler()).resolves.toEqual({ deactivated: 0, batches: 1 });
    expect(dynamodb).not.toHaveReceivedAnyCommand();
  });

  it('deletes the device registry item of every device it deactivates, one DeleteItem each, and of no other device', async () => {
    await db.exec(`
      INSERT INTO devices (client_id, agent_id, last_seen_at) VALUES
        ('s1', 'a1', now() - interval '31 days'), ('s2', 'a1', now() - interval '45 days'), ('s3', 'a2', now() - interval '60 days'),
        ('fresh', 'a1', now() - interval '29 days');
    `);
    await expect(handler()).resolves.toEqual({ deactivated: 3, batches: 2 });
    const inputs = dynamodb.commandCalls(DeleteItemCommand).map((call) => call.args[0].input);
    expect(inputs.sort((a, b) => String(a.Key?.clientId?.S).localeCompare(String(b.Key?.clientId?.S)))).toEqual(
      ['s1', 's2', 's3'].map((clientId) => ({ TableName: TASK_ENV.DEVICE_REGISTRY_TABLE_NAME, Key: { clientId: { S: clientId } } })),
    );
    expect(dynamodb).toHaveReceivedCommandTimes(DeleteItemCommand, 3);
  });

  it('finishes the sweep when a registry delete fails, logs the device, then fails with DeviceRegistryCleanupError naming it', async () => {
    await db.exec(`
      INSERT INTO devices (client_id, agent_id, last_seen_at) VALUES
        ('s1', 'a1', now() - interval '31 days'), ('s2', 'a1', now() - interval '45 days'), ('s3', 'a2', now() - interval '60 days');
    `);
    dynamodb
      .on(DeleteItemCommand, { Key: { clientId: { S: 's1' } } })
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    const error = await handler().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceRegistryCleanupError);
    expect(error).toMatchObject({ name: 'DeviceRegistryCleanupError', clientIds: ['s1'], message: 'the device registry items of 1 deactivated devices could not be deleted: s1' });
    expect(await db.query('SELECT client_id FROM devices WHERE active')).toEqual([]);
    expect(dynamodb).toHaveReceivedCommandTimes(DeleteItemCommand, 3);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'device registry item of a deactivated device not deleted', clientId: 's1' }));
  });

  it('fails with RecipientsUnavailableError while Aurora resumes, for the schedule to retry', async () => {
    rds.on(ExecuteStatementCommand).rejects(new DatabaseResumingException({ message: 'resuming', $metadata: {} }));
    await expect(handler()).rejects.toThrow(RecipientsUnavailableError);
  });
});

describe('deactivate-devices: metrics', () => {
  it('counts the devices deactivated and the registry items left, in the ConvoNotify namespace', async () => {
    await db.exec(`
      INSERT INTO devices (client_id, agent_id, last_seen_at) VALUES
        ('s1', 'a1', now() - interval '31 days'), ('s2', 'a1', now() - interval '45 days'), ('s3', 'a2', now() - interval '60 days');
    `);
    const emf = captureMetrics();
    await handler();
    expect(metricPoints(emf)).toEqual([
      { name: 'DevicesDeactivated', unit: 'Count', value: 3, namespace: 'ConvoNotify', dimensions: { service: 'deactivate-devices' } },
      { name: 'RegistryItemsLeft', unit: 'Count', value: 0, namespace: 'ConvoNotify', dimensions: { service: 'deactivate-devices' } },
    ]);
  });

  it('still flushes the counts when the sweep fails with DeviceRegistryCleanupError', async () => {
    await db.exec("INSERT INTO devices (client_id, agent_id, last_seen_at) VALUES ('s1', 'a1', now() - interval '31 days')");
    dynamodb.on(DeleteItemCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    const emf = captureMetrics();
    await expect(handler()).rejects.toBeInstanceOf(DeviceRegistryCleanupError);
    expect(metricPoints(emf).map(({ name, value }) => ({ name, value }))).toEqual([
      { name: 'DevicesDeactivated', value: 1 },
      { name: 'RegistryItemsLeft', value: 1 },
    ]);
  });
});
