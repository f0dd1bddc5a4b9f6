/**
 * The context keys of infra/app.ts: existing table, existing cluster, custom prefix and sizes.
 * Templates only, so bundling is skipped (`aws:cdk:bundling-stacks: []`).
 */
import { Match } from 'aws-cdk-lib/assertions';
import { ANSWER_WITHIN_MINUTES, ESCALATION_MARKERS_TABLE } from '../../contracts/escalation';
import { ConfigError, readConfigFrom } from '../../infra/config';
import { asArray, identityStatements, nagFindings, synthesize, type Synthesized } from './support/synth';

const STREAM_ARN = 'arn:aws:dynamodb:eu-west-1:123456789012:table/CONVO_HISTORY/stream/2024-11-02T10:00:00.000';
const CLUSTER_ARN = 'arn:aws:rds:eu-west-1:123456789012:cluster:crm-recipients';
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-recipients-admin-AbCdEf';

describe('with an existing table and an existing Aurora cluster', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize(
      {
        convoHistoryTableName: 'CONVO_HISTORY',
        convoHistoryStreamArn: STREAM_ARN,
        dbClusterArn: CLUSTER_ARN,
        dbSecretArn: SECRET_ARN,
        dbName: 'crm',
      },
      { bundle: false },
    );
  }, 120_000);

  it('creates neither the table nor the database nor its network', () => {
    // Only PRESENCE and the device registry, both keyed by client id, and the escalation markers.
    const keys = Object.values(s.template.findResources('AWS::DynamoDB::Table')).map((table) => table.Properties.KeySchema);
    expect(keys).toEqual([
      [{ AttributeName: 'clientId', KeyType: 'HASH' }],
      [{ AttributeName: 'clientId', KeyType: 'HASH' }],
      [{ AttributeName: ESCALATION_MARKERS_TABLE.partitionKey, KeyType: 'HASH' }],
    ]);
    for (const type of ['AWS::RDS::DBCluster', 'AWS::RDS::DBInstance', 'AWS::EC2::VPC', 'AWS::SecretsManager::Secret']) {
      s.template.resourceCountIs(type, 0);
    }
  });

  it('points the pipe and its role at the given stream', () => {
    s.template.hasResourceProperties('AWS::Pipes::Pipe', { Source: STREAM_ARN });
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Sid: 'ReadConvoHistoryStream', Resource: STREAM_ARN }),
        ]),
      },
    });
  });

  it('points resolve-recipients and its grants at the given cluster, secret and database', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ DB_CLUSTER_ARN: CLUSTER_ARN, DB_SECRET_ARN: SECRET_ARN, DB_NAME: 'crm' }),
      },
    });
    const grants = identityStatements(s.template).map(({ statement }) => statement);
    expect(grants).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Sid: 'QueryRecipientsThroughDataApi', Action: 'rds-data:ExecuteStatement', Resource: CLUSTER_ARN }),
        expect.objectContaining({ Sid: 'ReadRecipientsDatabaseSecret', Action: 'secretsmanager:GetSecretValue', Resource: SECRET_ARN }),
      ]),
    );
  });

  it('passes cdk-nag without further acknowledgments', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });
});

describe('with a custom prefix and sizes', () => {
  let s: Synthesized;
  beforeAll(() => {
    // Strings, as `cdk -c key=value` passes them.
    s = synthesize(
      {
        prefix: 'acme-chat',
        inboxRetentionDays: '7',
        recipientsPageSize: '50',
        pipeBatchSize: '20',
        pipeParallelization: '2',
      },
      { bundle: false },
    );
  }, 120_000);

  it('names inboxes, their IAM scope and the named resources after the prefix', () => {
    s.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'acme-chat-notification-fanout',
      DefinitionSubstitutions: Match.objectLike({
        InboxQueueNamePrefix: 'acme-chat-inbox-',
        InboxQueueUrlPrefix: { 'Fn::Join': ['', Match.arrayWith(['/acme-chat-inbox-'])] },
        InboxRetentionSeconds: String(7 * 24 * 3600),
      }),
    });
    // One pattern, used by the workflow (create, send) and the agent API (receive, delete).
    const patterns = [
      ...new Set(
        identityStatements(s.template)
          .flatMap(({ statement }) => asArray(statement.Resource))
          .map((r) => JSON.stringify(r))
          .filter((r) => r.includes('inbox-*')),
      ),
    ];
    expect(patterns).toHaveLength(1);
    expect(patterns[0]).toContain(':acme-chat-inbox-*');
    s.template.hasResourceProperties('AWS::Pipes::Pipe', { Name: 'acme-chat-stream-to-workflow' });
    s.template.hasResourceProperties('AWS::IoT::Policy', { PolicyName: 'acme-chat-agent-device' });
    s.template.hasResourceProperties('AWS::RDS::DBCluster', { DBClusterIdentifier: 'acme-chat-recipients' });
  });

  it('applies the page size and the pipe batching', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PAGE_SIZE: '50', INBOX_QUEUE_NAME_PREFIX: 'acme-chat-inbox-' }) },
    });
    s.template.hasResourceProperties('AWS::Pipes::Pipe', {
      SourceParameters: { DynamoDBStreamParameters: Match.objectLike({ BatchSize: 20, ParallelizationFactor: 2 }) },
    });
  });

  it('keeps cdk-nag clean: the inbox acknowledgment follows the prefix', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });
});

describe('readConfigFrom', () => {
  const read = (context: Record<string, unknown>) => readConfigFrom((key) => context[key]);

  it('defaults every key', () => {
    expect(read({})).toEqual({
      prefix: 'convo-notify',
      existingTable: undefined,
      existingDatabase: undefined,
      dbName: 'convo_notify',
      inboxRetentionDays: 4,
      recipientsPageSize: 100,
      pipeBatchSize: 10,
      pipeParallelization: 1,
      identityProvider: undefined,
      agentIdClaim: 'sub',
      agentApiConcurrency: 10,
      iotAuthorizerConcurrency: 10,
      agentApiRateLimit: 50,
      agentApiBurstLimit: 100,
      agentApiCorsOrigins: [],
      staleDeviceDays: 30,
      workflowLogLevel: 'ALL',
      logExecutionData: false,
      answerWithinMinutes: ANSWER_WITHIN_MINUTES.default,
    });
  });

  it('accepts numbers from cdk.json and numeric strings from -c', () => {
    expect(read({ inboxRetentionDays: 14, pipeBatchSize: ' 20 ' })).toMatchObject({ inboxRetentionDays: 14, pipeBatchSize: 20 });
  });

  it.each([
    [{ inboxRetentionDays: '0' }, /inboxRetentionDays.*1 to 14/],
    [{ inboxRetentionDays: '15' }, /inboxRetentionDays/],
    [{ recipientsPageSize: '2.5' }, /recipientsPageSize/],
    [{ recipientsPageSize: '501' }, /recipientsPageSize.*1 to 500/],
    [{ pipeBatchSize: 'ten' }, /pipeBatchSize/],
    [{ pipeBatchSize: '22' }, /pipeBatchSize.*1 to 21/],
    [{ pipeParallelization: 11 }, /pipeParallelization/],
    [{ prefix: 'has space' }, /prefix/],
    [{ prefix: 'x'.repeat(33) }, /prefix/],
    [{ convoHistoryTableName: 'CONVO_HISTORY' }, /give both or neither/],
    [{ dbSecretArn: SECRET_ARN }, /give both or neither/],
    [{ convoHistoryTableName: 'OTHER', convoHistoryStreamArn: STREAM_ARN }, /stream ARN of table/],
    [{ dbClusterArn: 'crm-recipients', dbSecretArn: SECRET_ARN }, /dbClusterArn/],
    [{ dbClusterArn: CLUSTER_ARN, dbSecretArn: 'admin' }, /dbSecretArn/],
    [{ dbName: 'convo-notify' }, /dbName/],
  ])('rejects %j', (context, message) => {
    expect(() => read(context)).toThrow(ConfigError);
    expect(() => read(context)).toThrow(message);
  });

  it('reads an existing table and cluster', () => {
    expect(
      read({
        convoHistoryTableName: 'CONVO_HISTORY',
        convoHistoryStreamArn: STREAM_ARN,
        dbClusterArn: CLUSTER_ARN,
        dbSecretArn: SECRET_ARN,
      }),
    ).toMatchObject({
      existingTable: { tableName: 'CONVO_HISTORY', streamArn: STREAM_ARN },
      existingDatabase: { clusterArn: CLUSTER_ARN, secretArn: SECRET_ARN },
    });
  });
});
