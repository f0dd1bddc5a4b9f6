import { BeginTransactionCommand, ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { PGlite } from '@electric-sql/pglite';
import { LocalDataApi } from '../../../local/emulators/data-api/server';
import { listen, type Listening } from '../../../local/emulators/listen';

const ARN = { resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:local', secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:local', database: 'convo' };

describe('local Data API endpoint (contract with @aws-sdk/client-rds-data)', () => {
  let db: PGlite;
  let api: LocalDataApi;
  let endpoint: Listening;
  let client: RDSDataClient;

  beforeAll(async () => {
    db = await PGlite.create();
    await db.exec(`CREATE TABLE t (id text PRIMARY KEY, n integer, ok boolean); INSERT INTO t VALUES ('a', 1, true), ('b', NULL, false);`);
  });
  afterAll(async () => {
    await db.close();
  });
  beforeEach(async () => {
    api = new LocalDataApi(db);
    endpoint = await listen(api.handle);
    client = new RDSDataClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
  });
  afterEach(async () => {
    client.destroy();
    await endpoint.close();
  });

  it('runs a statement with named parameters and returns formattedRecords for formatRecordsAs JSON', async () => {
    const out = await client.send(
      new ExecuteStatementCommand({
        ...ARN,
        sql: 'SELECT id, n FROM t WHERE id = :id',
        parameters: [{ name: 'id', value: { stringValue: 'a' } }],
        formatRecordsAs: 'JSON',
      }),
    );
    expect(JSON.parse(out.formattedRecords!)).toEqual([{ id: 'a', n: 1 }]);
  });

  it('returns typed records with isNull fields without formatRecordsAs', async () => {
    const out = await client.send(new ExecuteStatementCommand({ ...ARN, sql: 'SELECT id, n, ok FROM t ORDER BY id' }));
    expect(out.records).toEqual([
      [{ stringValue: 'a' }, { longValue: 1 }, { booleanValue: true }],
      [{ stringValue: 'b' }, { isNull: true }, { booleanValue: false }],
    ]);
  });

  it('reports SQL errors as BadRequestException', async () => {
    await expect(client.send(new ExecuteStatementCommand({ ...ARN, sql: 'SELECT nope FROM t' }))).rejects.toMatchObject({
      name: 'BadRequestException',
      message: expect.stringContaining('nope'),
    });
  });

  it('answers as a resuming Aurora cluster while paused', async () => {
    api.pause();
    await expect(client.send(new ExecuteStatementCommand({ ...ARN, sql: 'SELECT 1' }))).rejects.toMatchObject({
      name: 'DatabaseResumingException',
    });
    api.resume();
    await expect(client.send(new ExecuteStatementCommand({ ...ARN, sql: 'SELECT 1' }))).resolves.toBeDefined();
  });

  it('answers operations it does not implement with UnknownOperationException', async () => {
    await expect(client.send(new BeginTransactionCommand({ ...ARN }))).rejects.toMatchObject({
      message: expect.stringContaining('not implemented'),
    });
  });
});
