/**
 * The device registry in the default stack: the table (on demand, encrypted, PITR, retained), its
 * name in the environment of the three tasks that use it and in the outputs, and exactly who may
 * do what on it (the agent API puts and deletes, record-presence reads, the sweep deletes).
 */
import { nagFindings, asArray, identityStatements, logicalId, roleStatements, synthesize, type Synthesized, arnOf, ref } from './support/synth';

let s: Synthesized;
beforeAll(() => {
  s = synthesize({}, { bundle: false });
}, 120_000);

const id = (type: string, prefix: string) => logicalId(s.template, type, prefix);
const registry = () => id('AWS::DynamoDB::Table', 'DeviceRegistryTable');
const environmentOf = (fn: string) => s.template.findResources('AWS::Lambda::Function')[id('AWS::Lambda::Function', fn)].Properties.Environment.Variables;

describe('DeviceRegistry', () => {
  it('is a clientId-keyed table, on demand, encrypted, with point-in-time recovery, retained on stack deletion', () => {
    s.template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [{ AttributeName: 'clientId', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'clientId', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    const table = s.template.findResources('AWS::DynamoDB::Table')[registry()];
    expect(table.Properties).not.toHaveProperty('TimeToLiveSpecification');
  });

  it('names the table to the agent API, record-presence and the stale-device sweep', () => {
    for (const fn of ['AgentApiFunction', 'PresenceRecordPresenceFunction', 'DeviceLifecycleDeactivateDevicesFunction']) {
      expect(environmentOf(fn).DEVICE_REGISTRY_TABLE_NAME).toEqual(ref(registry()));
    }
  });

  it('outputs the table name', () => {
    expect(s.template.findOutputs('DeviceRegistryTableName')).toEqual({
      DeviceRegistryTableName: expect.objectContaining({ Value: ref(registry()) }),
    });
  });

  it('lets the agent API put and delete registry items, nothing more', () => {
    const statements = roleStatements(s.template, id('AWS::IAM::Role', 'AgentApiFunctionRole')).filter((st) => JSON.stringify(st.Resource).includes(registry()));
    expect(statements).toEqual([{ Sid: 'RegisterDevices', Effect: 'Allow', Action: ['dynamodb:DeleteItem', 'dynamodb:PutItem'], Resource: arnOf(registry()) }]);
  });

  it('lets the stale-device sweep run Data API statements and delete registry items, nothing else', () => {
    const statements = roleStatements(s.template, id('AWS::IAM::Role', 'DeviceLifecycleDeactivateDevicesRole'));
    expect(statements.flatMap((st) => asArray(st.Action)).sort()).toEqual([
      'dynamodb:DeleteItem',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'rds-data:ExecuteStatement',
      'secretsmanager:GetSecretValue',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    expect(statements.find((st) => st.Sid === 'ForgetDeactivatedDevices')).toEqual({
      Sid: 'ForgetDeactivatedDevices',
      Effect: 'Allow',
      Action: 'dynamodb:DeleteItem',
      Resource: arnOf(registry()),
    });
  });

  it('grants each action on the registry to exactly the roles that send it', () => {
    const owners = new Map<string, string[]>();
    for (const { owner, statement } of identityStatements(s.template)) {
      if (statement.Effect !== 'Allow' || !JSON.stringify(statement.Resource).includes(registry())) continue;
      for (const action of asArray(statement.Action)) owners.set(action, [...(owners.get(action) ?? []), owner].sort());
    }
    const policy = (prefix: string) => id('AWS::IAM::Policy', prefix);
    expect(Object.fromEntries(owners)).toEqual({
      'dynamodb:PutItem': [policy('AgentApiFunctionRoleDefaultPolicy')],
      'dynamodb:DeleteItem': [policy('AgentApiFunctionRoleDefaultPolicy'), policy('DeviceLifecycleDeactivateDevicesRoleDefaultPolicy')].sort(),
      'dynamodb:GetItem': [policy('PresenceRecordPresenceRoleDefaultPolicy')],
    });
  });

  it('adds no cdk-nag finding', () => {
    expect(nagFindings(s.app).filter((finding) => finding.path.includes('DeviceRegistry'))).toEqual([]);
  });
});
