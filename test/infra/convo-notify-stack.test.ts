/**
 * The default stack (new table, new Aurora cluster), synthesised once with real esbuild bundling,
 * checked resource by resource: the pipe, the workflow and its substitutions, the task Lambdas,
 * IAM least privilege, encryption, IoT, and cdk-nag.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { pipeFilterCriteria } from '../../contracts/pipe-filter';
import { ENRICHMENT_INPUT_TEMPLATE } from '../../contracts/enrichment';
import { PUSH_TOPIC_PREFIX } from '../../contracts/push-topic';
import {
  NOTIFICATION_FANOUT_ASL,
  NOTIFICATION_FANOUT_SUBSTITUTION_KEYS,
  placeholdersIn,
} from '../../state-machines/workflows';
import { acknowledgments, asArray, identityStatements, logicalId, nagFindings, REPO_ROOT, roleStatements, synthesize, type Synthesized, arnOf, ref } from './support/synth';

let s: Synthesized;
// Bundling the four handlers with esbuild and synthesising take a while on a busy CI machine.
beforeAll(() => {
  s = synthesize();
}, 180_000);

const id = (type: string, prefix: string) => logicalId(s.template, type, prefix);

const LOG_WRITE = (logGroup: string) => ({
  Effect: 'Allow',
  Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  Resource: arnOf(id('AWS::Logs::LogGroup', logGroup)),
});
const XRAY_WRITE = {
  Effect: 'Allow',
  Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
  Resource: '*',
};

describe('StreamPipe', () => {
  // The stack has two pipes: this one and the outcomes pipe (test/infra/outcomes.test.ts).
  const pipeResource = () => Object.values(s.template.findResources('AWS::Pipes::Pipe', { Properties: { Name: 'convo-notify-stream-to-workflow' } }))[0];
  const pipe = () => pipeResource().Properties;

  it('reads the CONVO_HISTORY stream from LATEST, in batches of 10, bisecting and retrying failures', () => {
    s.template.resourceCountIs('AWS::Pipes::Pipe', 2);
    s.template.hasResourceProperties('AWS::Pipes::Pipe', {
      Source: { 'Fn::GetAtt': [id('AWS::DynamoDB::Table', 'ConvoHistoryTable'), 'StreamArn'] },
      SourceParameters: {
        DynamoDBStreamParameters: {
          StartingPosition: 'LATEST',
          BatchSize: 10,
          MaximumBatchingWindowInSeconds: 0,
          ParallelizationFactor: 1,
          MaximumRetryAttempts: 3,
          MaximumRecordAgeInSeconds: 6 * 3600,
          OnPartialBatchItemFailure: 'AUTOMATIC_BISECT',
          DeadLetterConfig: { Arn: arnOf(id('AWS::SQS::Queue', 'InboxesPipeDeadLetterQueue')) },
        },
      },
    });
  });

  it('filters with the patterns of contracts/pipe-filter.ts, one Filters entry per pattern (ORed)', () => {
    const filters = pipe().SourceParameters.FilterCriteria.Filters as { Pattern: string }[];
    expect(filters.map((f) => JSON.parse(f.Pattern))).toEqual(
      pipeFilterCriteria().filters.map((f) => JSON.parse(f.pattern)),
    );
  });

  it('starts the state machine synchronously (REQUEST_RESPONSE) so failed executions fail the batch', () => {
    s.template.hasResourceProperties('AWS::Pipes::Pipe', {
      Target: ref(id('AWS::StepFunctions::StateMachine', 'WorkflowStateMachine')),
      TargetParameters: { StepFunctionStateMachineParameters: { InvocationType: 'REQUEST_RESPONSE' } },
    });
  });

  it('logs errors, without their execution data by default, to its own vended log group', () => {
    s.template.hasResourceProperties('AWS::Pipes::Pipe', {
      LogConfiguration: {
        Level: 'ERROR',
        IncludeExecutionData: Match.absent(),
        CloudwatchLogsLogDestination: { LogGroupArn: arnOf(id('AWS::Logs::LogGroup', 'StreamPipeLogGroup')) },
      },
    });
    s.template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('^/aws/vendedlogs/pipes/convo-notify-')])] },
      RetentionInDays: 30,
    });
  });

  it('runs under a role trusted by pipes.amazonaws.com of this account only', () => {
    s.template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Principal: { Service: 'pipes.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } },
          },
        ],
      },
    });
  });

  it('normalizes every batch with NormalizeBatch as its enrichment, through the input template of contracts/enrichment.ts', () => {
    s.template.hasResourceProperties('AWS::Pipes::Pipe', {
      Enrichment: arnOf(id('AWS::Lambda::Function', 'TasksNormalizeBatchFunction')),
      EnrichmentParameters: { InputTemplate: ENRICHMENT_INPUT_TEMPLATE },
    });
  });

  it('hands the enrichment only the keys, the new image and the old image key and handledBy, never the whole old image', () => {
    const template = pipe().EnrichmentParameters.InputTemplate as string;
    const paths = [...template.matchAll(/<\$\.([^>]+)>/g)].map((m) => m[1]).sort();
    expect(paths).toEqual(
      ['dynamodb.Keys', 'dynamodb.NewImage', 'dynamodb.OldImage.conversationId.S', 'dynamodb.OldImage.handledBy.S', 'dynamodb.SequenceNumber', 'eventID', 'eventName'].sort(),
    );
  });

  it('may read this stream, invoke its enrichment, start this state machine synchronously and send to its DLQ: nothing else', () => {
    expect(roleStatements(s.template, id('AWS::IAM::Role', 'StreamPipeRole'))).toEqual([
      {
        Sid: 'ReadConvoHistoryStream',
        Effect: 'Allow',
        Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'],
        Resource: { 'Fn::GetAtt': [id('AWS::DynamoDB::Table', 'ConvoHistoryTable'), 'StreamArn'] },
      },
      {
        Sid: 'NormalizeBatches',
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: arnOf(id('AWS::Lambda::Function', 'TasksNormalizeBatchFunction')),
      },
      {
        Sid: 'RunWorkflowSynchronously',
        Effect: 'Allow',
        Action: 'states:StartSyncExecution',
        Resource: ref(id('AWS::StepFunctions::StateMachine', 'WorkflowStateMachine')),
      },
      {
        Sid: 'DeadLetterFailedBatches',
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Resource: arnOf(id('AWS::SQS::Queue', 'InboxesPipeDeadLetterQueue')),
      },
    ]);
  });

  it('is created after its role policy, so its first polls are not denied', () => {
    expect(pipeResource().DependsOn).toEqual(
      expect.arrayContaining([id('AWS::IAM::Role', 'StreamPipeRole'), id('AWS::IAM::Policy', 'StreamPipeRoleDefaultPolicy')]),
    );
  });
});

describe('NotificationWorkflow', () => {
  const stateMachine = () =>
    Object.values(s.template.findResources('AWS::StepFunctions::StateMachine'))[0].Properties;
  const aslText = readFileSync(NOTIFICATION_FANOUT_ASL, 'utf8');
  const placeholders = placeholdersIn(aslText).sort();

  it('is an Express state machine logging ALL events, without execution data by default, and traced', () => {
    s.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: 'convo-notify-notification-fanout',
      StateMachineType: 'EXPRESS',
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: arnOf(id('AWS::Logs::LogGroup', 'WorkflowLogGroup')) } }],
      },
      TracingConfiguration: { Enabled: true },
    });
    s.template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: {
        'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('^/aws/vendedlogs/states/convo-notify-notification-fanout-')])],
      },
      RetentionInDays: 30,
    });
  });

  it('is loaded from the ASL file itself (DefinitionBody.fromFile), not a copy', () => {
    const props = stateMachine();
    expect(props.DefinitionString).toBeUndefined();
    const key = props.DefinitionS3Location.Key as string;
    const asset = readFileSync(join(s.assemblyDir, `asset.${key}`), 'utf8');
    expect(asset).toBe(aslText);
  });

  it('substitutes every placeholder of the ASL file, and nothing else', () => {
    expect(placeholders.length).toBeGreaterThan(0);
    expect(Object.keys(stateMachine().DefinitionSubstitutions).sort()).toEqual(placeholders);
    expect([...NOTIFICATION_FANOUT_SUBSTITUTION_KEYS].sort()).toEqual(placeholders);
  });

  it('substitutes exactly the placeholders documented in docs/workflow-contract.md', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'workflow-contract.md'), 'utf8');
    const section = doc.split('## `definitionSubstitutions`')[1].split('\n## ')[0];
    const documented = [...section.matchAll(/^\|([^|]+)\|/gm)]
      .flatMap((row) => [...row[1].matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]))
      .sort();
    expect(documented).toEqual(placeholders);
  });

  it('leaves no unresolved ${…} in the substituted values', () => {
    expect(JSON.stringify(stateMachine().DefinitionSubstitutions)).not.toContain('${');
  });

  it('wires each placeholder to the right resource', () => {
    expect(stateMachine().DefinitionSubstitutions).toEqual({
      ResolveRecipientsFunctionArn: arnOf(id('AWS::Lambda::Function', 'TasksResolveRecipientsFunction')),
      CheckPresenceFunctionArn: arnOf(id('AWS::Lambda::Function', 'TasksCheckPresenceFunction')),
      DirectTopicArn: ref(id('AWS::SNS::Topic', 'TopicsDirectTopic')),
      TeamTopicArn: ref(id('AWS::SNS::Topic', 'TopicsTeamTopic')),
      SenderTopicArn: ref(id('AWS::SNS::Topic', 'TopicsSenderTopic')),
      QuarantineQueueUrl: ref(id('AWS::SQS::Queue', 'InboxesQuarantineQueue')),
      UnroutedQueueUrl: ref(id('AWS::SQS::Queue', 'InboxesUnroutedQueue')),
      InboxQueueUrlPrefix: {
        'Fn::Join': [
          '',
          ['https://sqs.', ref('AWS::Region'), '.', ref('AWS::URLSuffix'), '/', ref('AWS::AccountId'), '/convo-notify-inbox-'],
        ],
      },
      InboxQueueNamePrefix: 'convo-notify-inbox-',
      InboxRetentionSeconds: '345600',
      OutcomesQueueUrl: ref(id('AWS::SQS::Queue', 'OutcomesQueue')),
      PushTopicPrefix: PUSH_TOPIC_PREFIX,
    });
  });

  it('may do exactly what its states call, scoped to this stack’s resources', () => {
    const statements = roleStatements(s.template, id('AWS::IAM::Role', 'WorkflowStateMachineRole'));
    const bySid = Object.fromEntries(statements.filter((st) => st.Sid).map((st) => [st.Sid, st]));
    expect(Object.keys(bySid).sort()).toEqual(
      [
        'CreateAndSendToInboxes',
        'InvokeTaskLambdas',
        'PublishToNotificationTopics',
        'PushToDevices',
        'SendOutcomes',
        'SendToOpsQueues',
        'UseNotificationTopicsKey',
      ].sort(),
    );
    expect(asArray(bySid.InvokeTaskLambdas.Action)).toEqual(['lambda:InvokeFunction']);
    expect(bySid.InvokeTaskLambdas.Resource).toEqual(
      expect.arrayContaining(
        ['TasksResolveRecipientsFunction', 'TasksCheckPresenceFunction'].map((f) =>
          arnOf(id('AWS::Lambda::Function', f)),
        ),
      ),
    );
    // NormalizeBatch is the pipe's enrichment: the workflow never invokes it.
    expect(asArray(bySid.InvokeTaskLambdas.Resource)).toHaveLength(2);
    expect(bySid.PublishToNotificationTopics).toMatchObject({ Action: 'sns:Publish' });
    expect(asArray(bySid.PublishToNotificationTopics.Resource)).toHaveLength(3);
    expect(bySid.UseNotificationTopicsKey).toMatchObject({
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: arnOf(id('AWS::KMS::Key', 'TopicsKey')),
      Condition: { StringEquals: { 'kms:ViaService': expect.anything() } },
    });
    expect(bySid.SendOutcomes).toMatchObject({ Action: 'sqs:SendMessage', Resource: arnOf(id('AWS::SQS::Queue', 'OutcomesQueue')) });
    expect(bySid.SendToOpsQueues).toMatchObject({
      Action: 'sqs:SendMessage',
      Resource: [arnOf(id('AWS::SQS::Queue', 'InboxesQuarantineQueue')), arnOf(id('AWS::SQS::Queue', 'InboxesUnroutedQueue'))],
    });
    expect(bySid.CreateAndSendToInboxes).toMatchObject({
      Action: ['sqs:CreateQueue', 'sqs:SendMessage'],
      Resource: {
        'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':sqs:', ref('AWS::Region'), ':', ref('AWS::AccountId'), ':convo-notify-inbox-*']],
      },
    });
    expect(bySid.PushToDevices).toMatchObject({
      Action: 'iot:Publish',
      Resource: {
        'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':iot:', ref('AWS::Region'), ':', ref('AWS::AccountId'), ':topic/notify/*']],
      },
    });
    // What is left is what CDK adds for logging and tracing, the only Resource "*".
    const unnamed = statements.filter((st) => !st.Sid);
    expect(unnamed).toHaveLength(1);
    expect(unnamed[0].Resource).toBe('*');
    expect(asArray(unnamed[0].Action).every((a) => /^(logs:\w*(LogDelivery|LogDeliveries|ResourcePolicy|ResourcePolicies|LogGroups)|xray:\w+)$/.test(a))).toBe(true);
  });

  it('trusts states.amazonaws.com for this account’s state machines only', () => {
    s.template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'states.amazonaws.com' },
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } }),
          }),
        ],
      },
    });
  });
});

describe('task Lambdas', () => {
  const tasks = {
    NormalizeBatch: { prefix: 'TasksNormalizeBatch', env: {} },
    ResolveRecipients: {
      prefix: 'TasksResolveRecipients',
      env: {
        DB_CLUSTER_ARN: Match.anyValue(),
        DB_SECRET_ARN: Match.anyValue(),
        DB_NAME: 'convo_notify',
        PAGE_SIZE: '100',
        INBOX_QUEUE_NAME_PREFIX: 'convo-notify-inbox-',
      },
    },
    CheckPresence: { prefix: 'TasksCheckPresence', env: { PRESENCE_TABLE_NAME: ref('PRESENCE') } },
    RecordPresence: { prefix: 'PresenceRecordPresence', env: { PRESENCE_TABLE_NAME: ref('PRESENCE') } },
  };
  const presenceTable = () => id('AWS::DynamoDB::Table', 'PresenceTable');
  const resolveEnv = (env: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, JSON.stringify(v) === JSON.stringify(ref('PRESENCE')) ? ref(presenceTable()) : v]),
    );

  it('are the four workflow tasks, the four agent-access tasks, the two escalation tasks and the schema provider framework, and only they', () => {
    s.template.resourceCountIs('AWS::Lambda::Function', 11);
    const descriptions = Object.values(s.template.findResources('AWS::Lambda::Function')).map((fn) => fn.Properties.Description as string | undefined);
    expect(descriptions.filter((d) => d?.startsWith('convo-notify task: ')).sort()).toEqual(
      ['agent-api', 'answer-timer', 'apply-schema', 'check-presence', 'deactivate-devices', 'escalate', 'iot-authorizer', 'normalize-batch', 'record-presence', 'resolve-recipients'].map((t) => `convo-notify task: ${t}`),
    );
  });

  it.each(Object.entries(tasks))('%s: Node.js 22 on arm64, traced, own log group with retention, contract env', (name, task) => {
    const service = name.replace(/[A-Z]/g, (letter, at: number) => `${at === 0 ? '' : '-'}${letter.toLowerCase()}`);
    const fn = id('AWS::Lambda::Function', `${task.prefix}Function`);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      LoggingConfig: { LogGroup: ref(id('AWS::Logs::LogGroup', `${task.prefix}LogGroup`)) },
      Role: arnOf(id('AWS::IAM::Role', `${task.prefix}Role`)),
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: service,
          POWERTOOLS_METRICS_NAMESPACE: 'ConvoNotify',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          POWERTOOLS_LOGGER_LOG_EVENT: 'false',
          NODE_OPTIONS: '--enable-source-maps',
          ...resolveEnv(task.env),
        },
      },
    });
    expect(Object.keys(s.template.findResources('AWS::Lambda::Function'))).toContain(fn);
    const logGroup = s.template.findResources('AWS::Logs::LogGroup')[id('AWS::Logs::LogGroup', `${task.prefix}LogGroup`)];
    expect(logGroup).toMatchObject({ Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Retain' });
  });

  it('resolve-recipients gets the Data API coordinates of the created cluster', () => {
    const cluster = id('AWS::RDS::DBCluster', 'RecipientsDatabaseCluster');
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          DB_CLUSTER_ARN: {
            'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':rds:', ref('AWS::Region'), ':', ref('AWS::AccountId'), ':cluster:', ref(cluster)]],
          },
          DB_SECRET_ARN: ref(id('AWS::SecretsManager::SecretTargetAttachment', 'RecipientsDatabaseClusterSecretAttachment')),
        }),
      },
    });
  });

  it('are bundled by esbuild into one minified file each, with the error names kept', () => {
    const normalize = Object.values(s.template.findResources('AWS::Lambda::Function')).find(
      (fn) => fn.Properties.Description === 'convo-notify task: normalize-batch',
    )!;
    const assetDir = join(s.assemblyDir, `asset.${(normalize.Properties.Code.S3Key as string).replace(/\.zip$/, '')}`);
    expect(readdirSync(assetDir).sort()).toEqual(['index.js', 'index.js.map']);
    expect(readFileSync(join(assetDir, 'index.js'), 'utf8')).toContain('InvalidRecordError');
  });

  it('carry the text of every sql/recipients-*.sql file, comment header included, in the resolve-recipients bundle', () => {
    const resolve = Object.values(s.template.findResources('AWS::Lambda::Function')).find(
      (fn) => fn.Properties.Description === 'convo-notify task: resolve-recipients',
    )!;
    const assetDir = join(s.assemblyDir, `asset.${(resolve.Properties.Code.S3Key as string).replace(/\.zip$/, '')}`);
    const bundle = readFileSync(join(assetDir, 'index.js'), 'utf8');
    const queryFiles = readdirSync(join(REPO_ROOT, 'sql')).filter((file) => /^recipients-.+\.sql$/.test(file));
    expect(queryFiles.sort()).toEqual(['recipients-direct.sql', 'recipients-sender.sql', 'recipients-team.sql']);
    for (const file of queryFiles) {
      const text = readFileSync(join(REPO_ROOT, 'sql', file), 'utf8');
      // The minifier quotes the text the shortest way: a template literal for a multi-line file.
      const bundled = bundle.includes(`\`${text}\``) || bundle.includes(JSON.stringify(text));
      expect({ file, bundled }).toEqual({ file, bundled: true });
    }
  });

  it.each([
    ['agent-api', ['agent-active.sql', 'device-register.sql', 'devices-list.sql', 'device-touch.sql', 'device-deactivate.sql', 'device-delete.sql']],
    ['deactivate-devices', ['devices-deactivate-stale.sql']],
    ['apply-schema', ['schema.sql']],
  ])('carry the text of the .sql files they run in the %s bundle', (task, files) => {
    const fn = Object.values(s.template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Description === `convo-notify task: ${task}`)!;
    const assetDir = join(s.assemblyDir, `asset.${(fn.Properties.Code.S3Key as string).replace(/\.zip$/, '')}`);
    const bundle = readFileSync(join(assetDir, 'index.js'), 'utf8');
    for (const file of files) {
      // esbuild writes ASCII output: a non-ASCII character of the file becomes a \u escape.
      const text = readFileSync(join(REPO_ROOT, 'sql', file), 'utf8').replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
      const bundled = bundle.includes(`\`${text}\``) || bundle.includes(JSON.stringify(text));
      expect({ file, bundled }).toEqual({ file, bundled: true });
    }
  });

  it('have their own roles without managed policies (no AWSLambdaBasicExecutionRole)', () => {
    for (const role of Object.values(s.template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it('normalize-batch may only write its log and traces', () => {
    expect(roleStatements(s.template, id('AWS::IAM::Role', 'TasksNormalizeBatchRole'))).toEqual([
      LOG_WRITE('TasksNormalizeBatchLogGroup'),
      XRAY_WRITE,
    ]);
  });

  it('check-presence may only BatchGetItem on PRESENCE', () => {
    expect(roleStatements(s.template, id('AWS::IAM::Role', 'TasksCheckPresenceRole'))).toEqual([
      LOG_WRITE('TasksCheckPresenceLogGroup'),
      XRAY_WRITE,
      { Sid: 'LookUpPresence', Effect: 'Allow', Action: 'dynamodb:BatchGetItem', Resource: arnOf(presenceTable()) },
    ]);
  });

  it('record-presence may only read and update PRESENCE items, read device registry items and keep failed events on its failure queue', () => {
    expect(roleStatements(s.template, id('AWS::IAM::Role', 'PresenceRecordPresenceRole'))).toEqual([
      LOG_WRITE('PresenceRecordPresenceLogGroup'),
      XRAY_WRITE,
      { Sid: 'RecordPresence', Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: arnOf(presenceTable()) },
      { Sid: 'LookUpRegisteredDevice', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: arnOf(id('AWS::DynamoDB::Table', 'DeviceRegistryTable')) },
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: arnOf(id('AWS::SQS::Queue', 'PresenceFailureQueue')),
      },
    ]);
  });

  it('resolve-recipients may only run Data API statements on the cluster and read its secret', () => {
    const cluster = id('AWS::RDS::DBCluster', 'RecipientsDatabaseCluster');
    expect(roleStatements(s.template, id('AWS::IAM::Role', 'TasksResolveRecipientsRole'))).toEqual([
      LOG_WRITE('TasksResolveRecipientsLogGroup'),
      XRAY_WRITE,
      {
        Sid: 'QueryRecipientsThroughDataApi',
        Effect: 'Allow',
        Action: 'rds-data:ExecuteStatement',
        Resource: {
          'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':rds:', ref('AWS::Region'), ':', ref('AWS::AccountId'), ':cluster:', ref(cluster)]],
        },
      },
      {
        Sid: 'ReadRecipientsDatabaseSecret',
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: ref(id('AWS::SecretsManager::SecretTargetAttachment', 'RecipientsDatabaseClusterSecretAttachment')),
      },
    ]);
  });
});

describe('IAM least privilege across the stack', () => {
  const ALLOWED_STAR_ACTIONS = /^(xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets)|logs:(CreateLogDelivery|GetLogDelivery|UpdateLogDelivery|DeleteLogDelivery|ListLogDeliveries|PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups))$/;

  it('uses Resource "*" only for X-Ray and log-delivery actions, which support no resource scoping', () => {
    const star = identityStatements(s.template).filter(({ statement }) => asArray(statement.Resource).includes('*'));
    expect(star.length).toBeGreaterThan(0);
    for (const { statement } of star) {
      for (const action of asArray(statement.Action)) expect(action).toMatch(ALLOWED_STAR_ACTIONS);
    }
  });

  it('never uses wildcard actions', () => {
    for (const { statement } of identityStatements(s.template)) {
      for (const action of asArray(statement.Action)) expect(action).not.toContain('*');
    }
  });

  it('has exactly four wildcard resource patterns: the inbox queues, the notify/ IoT topics, the answer timers’ schedules, the schema handler’s versions', () => {
    const patterns = identityStatements(s.template)
      .flatMap(({ statement }) => asArray(statement.Resource))
      .filter((r) => r !== '*' && JSON.stringify(r).includes('*'))
      .map((r) => JSON.stringify(r));
    const schemaHandler = id('AWS::Lambda::Function', 'RecipientsSchemaApplySchemaFunction');
    expect([...new Set(patterns.map((p) => (p.includes('Fn::GetAtt') ? p : p.match(/:([^:"]*\*)"/)?.[1])))].sort()).toEqual(
      ['convo-notify-inbox-*', 'topic/notify/*', 'schedule/convo-notify-answer-timers/*', JSON.stringify({ 'Fn::Join': ['', [arnOf(schemaHandler), ':*']] })].sort(),
    );
  });
});

describe('queues and topics', () => {
  it('encrypts every queue (SSE-SQS) and refuses non-TLS access to it', () => {
    const queues = s.template.findResources('AWS::SQS::Queue');
    // + the outcomes queue and its DLQ, the escalation rule DLQ, escalation failures, the answer-timer DLQ.
    expect(Object.keys(queues)).toHaveLength(11);
    for (const queue of Object.values(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      expect(queue.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    }
    for (const queueId of Object.keys(queues)) {
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [ref(queueId)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('encrypts the three topics with the rotated customer managed notification key, the ops and escalation topics with keys of their own, and refuses non-TLS publishing', () => {
    // The three notification topics, the ops topic (test/infra/operations.test.ts) and the escalation topic (test/infra/escalation.test.ts).
    s.template.resourceCountIs('AWS::SNS::Topic', 5);
    const keyOfTopic: [string, string][] = [
      ['TopicsDirectTopic', 'TopicsKey'],
      ['TopicsTeamTopic', 'TopicsKey'],
      ['TopicsSenderTopic', 'TopicsKey'],
      ['OpsNotificationsTopic', 'OpsNotificationsKey'],
      ['EscalationTopic', 'EscalationKey'],
    ];
    const topics = s.template.findResources('AWS::SNS::Topic');
    expect(Object.fromEntries(Object.entries(topics).map(([topicId, topic]) => [topicId, topic.Properties.KmsMasterKeyId]))).toEqual(
      Object.fromEntries(keyOfTopic.map(([topic, key]) => [id('AWS::SNS::Topic', topic), arnOf(id('AWS::KMS::Key', key))])),
    );
    for (const topicId of Object.keys(topics)) {
      s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        Topics: [ref(topicId)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
});

describe('tables', () => {
  it('creates CONVO_HISTORY with the NEW_AND_OLD_IMAGES stream, PITR, encryption, protected and retained', () => {
    s.template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        TableName: 'CONVO_HISTORY',
        KeySchema: [
          { AttributeName: 'conversationId', KeyType: 'HASH' },
          { AttributeName: 'messageId', KeyType: 'RANGE' },
        ],
        StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
        BillingMode: 'PAY_PER_REQUEST',
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('creates PRESENCE keyed by clientId, on demand, with the expiresAt TTL record-presence sets', async () => {
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'clientId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    // The attribute record-presence puts a disconnected client's expiry in, from the very UpdateItem it sends.
    process.env.PRESENCE_TABLE_NAME ??= 'PRESENCE';
    process.env.DEVICE_REGISTRY_TABLE_NAME ??= 'DEVICE_REGISTRY';
    const { presenceUpdate } = await import('../../tasks/record-presence/handler');
    const disconnect = { clientId: 'dev-1', eventType: 'disconnected', timestamp: 1_741_086_600_000, versionNumber: 1, sessionIdentifier: 'session-1' } as const;
    const update = presenceUpdate(disconnect, 'PRESENCE', new Date(disconnect.timestamp));
    expect(update.UpdateExpression).toContain('#expiresAt = :expiresAt');
    expect(update.ExpressionAttributeNames?.['#expiresAt']).toBe('expiresAt');
  });
});

describe('recipients database', () => {
  it('is Aurora Serverless v2 PostgreSQL with the Data API, encrypted, IAM auth, protected, backed up', () => {
    s.template.hasResource('AWS::RDS::DBCluster', {
      Properties: {
        Engine: 'aurora-postgresql',
        EngineVersion: Match.stringLikeRegexp('^16\\.'),
        EnableHttpEndpoint: true,
        StorageEncrypted: true,
        EnableIAMDatabaseAuthentication: true,
        DeletionProtection: true,
        BackupRetentionPeriod: 7,
        DatabaseName: 'convo_notify',
        ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 4 },
        EnableCloudwatchLogsExports: ['postgresql'],
      },
      DeletionPolicy: 'Snapshot',
    });
    s.template.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless', PubliclyAccessible: false });
    s.template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/rds/cluster/convo-notify-recipients/postgresql',
      RetentionInDays: 30,
    });
  });

  it('lives in isolated subnets without NAT or internet gateway, behind a security group with no ingress', () => {
    s.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    s.template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    for (const subnet of Object.values(s.template.findResources('AWS::EC2::Subnet'))) {
      expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
    }
    s.template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    const groups = Object.values(s.template.findResources('AWS::EC2::SecurityGroup'));
    expect(groups).toHaveLength(1);
    expect(groups[0].Properties.SecurityGroupIngress).toBeUndefined();
    s.template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'REJECT' });
  });
});

describe('Presence and IoT', () => {
  it('routes lifecycle events to record-presence, with an SQS error action', () => {
    s.template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: {
        Sql: "SELECT * FROM '$aws/events/presence/+/+'",
        AwsIotSqlVersion: '2016-03-23',
        RuleDisabled: false,
        Actions: [{ Lambda: { FunctionArn: arnOf(id('AWS::Lambda::Function', 'PresenceRecordPresenceFunction')) } }],
        ErrorAction: {
          Sqs: {
            QueueUrl: ref(id('AWS::SQS::Queue', 'PresenceRuleErrorQueue')),
            RoleArn: arnOf(id('AWS::IAM::Role', 'PresenceRuleErrorActionRole')),
            UseBase64: false,
          },
        },
      },
    });
    expect(roleStatements(s.template, id('AWS::IAM::Role', 'PresenceRuleErrorActionRole'))).toEqual([
      { Sid: 'SendRuleErrors', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(id('AWS::SQS::Queue', 'PresenceRuleErrorQueue')) },
    ]);
  });

  it('lets the lifecycle and subscription rules, and nothing else, invoke record-presence', () => {
    const recordPresence = arnOf(id('AWS::Lambda::Function', 'PresenceRecordPresenceFunction'));
    const permissions = Object.values(s.template.findResources('AWS::Lambda::Permission')).filter(
      (p) => JSON.stringify(p.Properties.FunctionName) === JSON.stringify(recordPresence),
    );
    expect(permissions).toHaveLength(2);
    for (const rule of ['PresenceLifecycleRule', 'PresenceSubscriptionRule']) {
      s.template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: recordPresence,
        Principal: 'iot.amazonaws.com',
        SourceArn: arnOf(id('AWS::IoT::TopicRule', rule)),
        SourceAccount: ref('AWS::AccountId'),
      });
    }
  });

  it('gives devices a policy to connect as their own thing and read only their own notify/ topic', () => {
    const iotArn = (tail: string) => ({
      'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':iot:', ref('AWS::Region'), ':', ref('AWS::AccountId'), tail]],
    });
    s.template.hasResourceProperties('AWS::IoT::Policy', {
      PolicyName: 'convo-notify-agent-device',
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ConnectAsOwnThing',
            Effect: 'Allow',
            Action: 'iot:Connect',
            Resource: iotArn(':client/${iot:Connection.Thing.ThingName}'),
            Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
          },
          {
            Sid: 'SubscribeToOwnNotifyTopic',
            Effect: 'Allow',
            Action: 'iot:Subscribe',
            Resource: iotArn(':topicfilter/notify/${iot:ClientId}'),
          },
          {
            Sid: 'ReceiveOwnNotifications',
            Effect: 'Allow',
            Action: 'iot:Receive',
            Resource: iotArn(':topic/notify/${iot:ClientId}'),
          },
        ],
      },
    });
  });

  it('keeps the policy variables literal: no Fn::Sub anywhere that would try to resolve them', () => {
    expect(JSON.stringify(s.template.toJSON())).not.toContain('"Fn::Sub":"${iot');
    const policy = Object.values(s.template.findResources('AWS::IoT::Policy'))[0];
    expect(JSON.stringify(policy)).not.toContain('Fn::Sub');
  });
});

describe('operations alarms', () => {
  it('alarm when a holding queue is not empty', () => {
    for (const [queue, name] of [
      ['InboxesPipeDeadLetterQueue', 'convo-notify-pipe-dlq-not-empty'],
      ['PresenceRuleErrorQueue', 'convo-notify-presence-rule-errors-not-empty'],
      ['InboxesQuarantineQueue', 'convo-notify-quarantine-not-empty'],
      ['InboxesUnroutedQueue', 'convo-notify-unrouted-not-empty'],
      ['DeviceLifecycleDeadLetterQueue', 'convo-notify-device-lifecycle-dlq-not-empty'],
    ]) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: name,
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id('AWS::SQS::Queue', queue), 'QueueName'] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
  });

  it('alarm when workflow executions fail or time out', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'convo-notify-workflow-executions-failed',
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'failed + timedOut' }),
        Match.objectLike({ MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ExecutionsFailed' }) }) }),
        Match.objectLike({ MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'ExecutionsTimedOut' }) }) }),
      ]),
    });
    // Plus one per holding queue (pipe DLQ, presence rule errors, presence failures, quarantine, unrouted, device-lifecycle DLQ,
    // outcomes DLQ, escalation rule DLQ, escalation failures, answer-timer DLQ), one per destination delivery failures
    // (record-presence, escalate, answer-timer) and one per escalation task's errors (test/infra/escalation.test.ts).
    // Plus the IoT authorizer's denial share and recipients rows skipped (test/infra/operations.test.ts),
    // and the age of the oldest outcome in the outcomes queue (test/infra/outcomes.test.ts).
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 19);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no unacknowledged error or warning', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });

  it('leaves nothing in the synth validation report', () => {
    const report = JSON.parse(readFileSync(join(s.assemblyDir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations?: { ruleName: string }[] }[];
    };
    const violations = report.pluginReports.flatMap((r) => r.violations ?? []);
    expect(violations.filter((v) => v.ruleName.startsWith('AwsSolutions-'))).toEqual([]);
  });

  it('raises no AwsSolutions annotation', () => {
    const annotations = Annotations.fromStack(s.stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });

  it('acknowledges each finding with a specific reason, and every acknowledgment is still needed', () => {
    // Only ours: aws-cdk-lib itself acknowledges some CloudFormation-Validate rules.
    const acks = acknowledgments(s.app).filter((ack) => ack.id.startsWith('AwsSolutions-'));
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id).toMatch(/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(ack.reason.length).toBeGreaterThanOrEqual(80);
    }
    const unacknowledged = nagFindings(s.app, false);
    for (const ack of acks) {
      const covered = unacknowledged.filter((f) => f.rule === ack.id && (f.path === ack.path || f.path.startsWith(`${ack.path}/`)));
      expect({ ack: `${ack.id} at ${ack.path}`, covers: covered.length > 0 }).toEqual({ ack: `${ack.id} at ${ack.path}`, covers: true });
    }
  });

  it('writes the acknowledgments into the template metadata for audit', () => {
    const fn = Object.values(s.template.findResources('AWS::Lambda::Function'))[0];
    expect(fn.Metadata.cdk_nag.rules_to_suppress).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: 'AwsSolutions-L1', reason: expect.any(String) })]),
    );
  });
});
