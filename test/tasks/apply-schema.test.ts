import { TASK_ENV } from '../support/task-env';
import { BadRequestException, DatabaseResumingException, ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { schemaStatements } from '../../sql/schema';
import { RecipientsUnavailableError } from '../../tasks/shared/errors';
import { dataApiOnPglite } from '../support/agent-access';
import { captureLogs, captureMetrics, metricPoints } from '../support/logs';
import { startPglite } from '../support/pglite';

/** The schema custom resource handler, with the Data API mocked and on PGlite. */

process.env.RETRY_BASE_MS = '1';
process.env.MAX_WAIT_SECONDS = '1';

const rds = mockClient(RDSDataClient);
let handler: typeof import('../../tasks/apply-schema/handler').handler;

const cfnEvent = (RequestType: 'Create' | 'Update' | 'Delete'): CloudFormationCustomResourceEvent =>
  ({
    RequestType,
    ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/',
    StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/ConvoNotify/1',
    RequestId: 'req-1',
    LogicalResourceId: 'RecipientsSchemaResource',
    ResourceType: 'Custom::RecipientsSchema',
    ResourceProperties: { ServiceToken: 'x', schemaSha256: 'abc', database: 'recipients' },
    ...(RequestType === 'Create' ? {} : { PhysicalResourceId: 'recipients-schema', OldResourceProperties: {} }),
  }) as CloudFormationCustomResourceEvent;

const resuming = () => new DatabaseResumingException({ message: 'The Aurora DB instance is resuming after being auto-paused.', $metadata: {} });

beforeAll(async () => {
  ({ handler } = await import('../../tasks/apply-schema/handler'));
});
beforeEach(() => {
  rds.reset();
  captureLogs();
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('apply-schema', () => {
  it('runs every statement of the schema, one per call, in order, on the configured database', async () => {
    rds.on(ExecuteStatementCommand).resolves({});
    const out = await handler(cfnEvent('Create'));
    const statements = schemaStatements();
    expect(out).toEqual({ PhysicalResourceId: 'recipients-schema', Data: { statements: statements.length } });
    expect(rds.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input)).toEqual(
      statements.map((sql) => ({ resourceArn: TASK_ENV.DB_CLUSTER_ARN, secretArn: TASK_ENV.DB_SECRET_ARN, database: TASK_ENV.DB_NAME, sql })),
    );
  });

  it('retries a statement while Aurora resumes, then goes on', async () => {
    rds.on(ExecuteStatementCommand).rejectsOnce(resuming()).rejectsOnce(resuming()).resolves({});
    await handler(cfnEvent('Update'));
    const sent = rds.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input.sql);
    const [first] = schemaStatements();
    expect(sent.slice(0, 3)).toEqual([first, first, first]);
    expect(sent).toHaveLength(schemaStatements().length + 2);
  });

  it('gives up with RecipientsUnavailableError when Aurora does not resume within MAX_WAIT_SECONDS', async () => {
    rds.on(ExecuteStatementCommand).rejects(resuming());
    await expect(handler(cfnEvent('Create'))).rejects.toThrow(RecipientsUnavailableError);
  });

  it('fails at once on an error that a retry would not fix', async () => {
    rds.on(ExecuteStatementCommand).rejects(new BadRequestException({ message: 'ERROR: syntax error', $metadata: {} }));
    await expect(handler(cfnEvent('Create'))).rejects.toThrow('syntax error');
    expect(rds).toHaveReceivedCommandTimes(ExecuteStatementCommand, 1);
  });

  it('leaves the database alone on delete', async () => {
    await expect(handler(cfnEvent('Delete'))).resolves.toEqual({ PhysicalResourceId: 'recipients-schema' });
    expect(rds).not.toHaveReceivedAnyCommand();
  });

  it('is idempotent on PostgreSQL: a second deploy applies the same schema without error', async () => {
    const db = await startPglite();
    try {
      rds.on(ExecuteStatementCommand).callsFake(dataApiOnPglite(db));
      await handler(cfnEvent('Create'));
      await db.exec("INSERT INTO agents (agent_id, tenant_id) VALUES ('a1', 't1')");
      await expect(handler(cfnEvent('Update'))).resolves.toMatchObject({ PhysicalResourceId: 'recipients-schema' });
      expect(await db.query('SELECT agent_id FROM agents')).toEqual([{ agent_id: 'a1' }]);
      const tables = await db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
      expect(tables.map((t) => t.table_name)).toEqual(['agents', 'devices', 'sender_subscriptions', 'team_members']);
    } finally {
      await db.close();
    }
  });
});

describe('apply-schema: metrics', () => {
  it('counts the statements it ran, in the ConvoNotify namespace', async () => {
    rds.on(ExecuteStatementCommand).resolves({});
    const emf = captureMetrics();
    await handler(cfnEvent('Create'));
    expect(metricPoints(emf)).toEqual([
      { name: 'SchemaStatementsApplied', unit: 'Count', value: schemaStatements().length, namespace: 'ConvoNotify', dimensions: { service: 'apply-schema' } },
    ]);
  });
});
