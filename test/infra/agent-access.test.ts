/**
 * Agent access in the template: the identity (created Cognito pool, or the CRM's OIDC provider
 * from context), the agent API and its JWT authorizer, the IoT custom authorizer, concurrency caps,
 * the schema custom resource, the stale-device sweep, and who may touch inboxes and claims.
 */
import { createHash } from 'node:crypto';
import { Match } from 'aws-cdk-lib/assertions';
import { readConfigFrom } from '../../infra/config';
import { CLAIM_ATTRIBUTES } from '../../infra/constructs/agent-api';
import { SCHEMA_SQL } from '../../sql/schema';
import { AGENT_API_ROUTES } from '../../contracts/agent-access';
import { asArray, identityStatements, logicalId, nagFindings, roleStatements, synthesize, type Synthesized, arnOf, ref } from './support/synth';

const ISSUER = 'https://login.crm.example.com/';
const OIDC = { oidcIssuer: ISSUER, oidcAudience: 'agentcrm-web', agentIdClaim: 'agent_id', agentApiConcurrency: '25', iotAuthorizerConcurrency: 7 };

let created: Synthesized;
let external: Synthesized;
beforeAll(() => {
  created = synthesize({}, { bundle: false });
  external = synthesize(OIDC, { bundle: false });
}, 120_000);

const idIn = (s: Synthesized, type: string, prefix: string) => logicalId(s.template, type, prefix);
const functionProps = (s: Synthesized, prefix: string) => s.template.findResources('AWS::Lambda::Function')[idIn(s, 'AWS::Lambda::Function', prefix)].Properties;

describe('AgentIdentity', () => {
  it('creates a Cognito user pool without self sign-up, with MFA and a strong password policy, and an SRP app client', () => {
    created.template.hasResourceProperties('AWS::Cognito::UserPool', {
      UserPoolName: 'convo-notify-agents',
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      Policies: { PasswordPolicy: Match.objectLike({ MinimumLength: 12, RequireSymbols: true, RequireNumbers: true }) },
      DeletionProtection: 'ACTIVE',
    });
    created.template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      GenerateSecret: false,
      ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
    });
  });

  it('creates no user pool when the CRM’s identity provider is given', () => {
    external.template.resourceCountIs('AWS::Cognito::UserPool', 0);
    external.template.resourceCountIs('AWS::Cognito::UserPoolClient', 0);
  });
});

describe('AgentApi', () => {
  const poolIssuer = () => ({
    'Fn::Join': ['', ['https://cognito-idp.', ref('AWS::Region'), '.', ref('AWS::URLSuffix'), '/', ref(idIn(created, 'AWS::Cognito::UserPool', 'AgentIdentityUserPool'))]],
  });

  it('has a JWT authorizer for the created pool: its issuer, and its app client as audience', () => {
    created.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: poolIssuer(), Audience: [ref(idIn(created, 'AWS::Cognito::UserPoolClient', 'AgentIdentityUserPoolAgentCrmClient'))] },
    });
  });

  it('has a JWT authorizer for the issuer and audience from context', () => {
    external.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: ISSUER, Audience: ['agentcrm-web'] },
    });
  });

  it('routes every path of contracts/agent-access.ts to the API Lambda, each behind the JWT authorizer', () => {
    const routes = Object.values(created.template.findResources('AWS::ApiGatewayV2::Route')).map((r) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(Object.values(AGENT_API_ROUTES).map((r) => `${r.method} ${r.path}`).sort());
    const authorizer = idIn(created, 'AWS::ApiGatewayV2::Authorizer', 'AgentApiHttpApiAgentJwt');
    for (const route of routes) expect(route).toMatchObject({ AuthorizationType: 'JWT', AuthorizerId: ref(authorizer) });
    created.template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: arnOf(idIn(created, 'AWS::Lambda::Function', 'AgentApiFunction')),
      PayloadFormatVersion: '2.0',
    });
  });

  it('throttles its stage and writes a JSON access log without headers, tokens or bodies', () => {
    const stage = Object.values(created.template.findResources('AWS::ApiGatewayV2::Stage'))[0].Properties;
    expect(stage).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: { DestinationArn: arnOf(idIn(created, 'AWS::Logs::LogGroup', 'AgentApiAccessLogGroup')) },
    });
    const format = JSON.parse(stage.AccessLogSettings.Format) as Record<string, string>;
    expect(format.requestId).toBe('$context.requestId');
    for (const value of Object.values(format)) expect(value).not.toMatch(/header|body|request\.|querystring|authorization|identity\.caller/i);
  });

  it('logs the configured agent-id claim', () => {
    const stage = Object.values(external.template.findResources('AWS::ApiGatewayV2::Stage'))[0].Properties;
    expect(JSON.parse(stage.AccessLogSettings.Format).agent).toBe('$context.authorizer.claims.agent_id');
  });

  it('gives the API Lambda the token settings, the inbox URL prefix and the tables, with a concurrency cap', () => {
    expect(functionProps(created, 'AgentApiFunction')).toMatchObject({
      ReservedConcurrentExecutions: 10,
      Environment: {
        Variables: {
          TOKEN_ISSUER: poolIssuer(),
          JWKS_URI: { 'Fn::Join': ['', [...poolIssuer()['Fn::Join'][1], '/.well-known/jwks.json']] },
          AGENT_ID_CLAIM: 'sub',
          CONVO_HISTORY_TABLE_NAME: ref(idIn(created, 'AWS::DynamoDB::Table', 'ConvoHistoryTable')),
          PRESENCE_TABLE_NAME: ref(idIn(created, 'AWS::DynamoDB::Table', 'PresenceTable')),
        },
      },
    });
    expect(functionProps(external, 'AgentApiFunction')).toMatchObject({
      ReservedConcurrentExecutions: 25,
      Environment: {
        Variables: { TOKEN_ISSUER: ISSUER, TOKEN_AUDIENCE: 'agentcrm-web', JWKS_URI: 'https://login.crm.example.com/.well-known/jwks.json', AGENT_ID_CLAIM: 'agent_id' },
      },
    });
  });

  it('limits a claim to the key, the tenant and handledBy / handledAt of CONVO_HISTORY', () => {
    expect(CLAIM_ATTRIBUTES).toEqual(['conversationId', 'messageId', 'tenantId', 'handledBy', 'handledAt']);
  });

  it('may claim only through the claim attributes, receive/ack/delete only inboxes, and remove presence', () => {
    const statements = roleStatements(created.template, idIn(created, 'AWS::IAM::Role', 'AgentApiFunctionRole'));
    const bySid = Object.fromEntries(statements.filter((s) => s.Sid).map((s) => [s.Sid, s]));
    const table = arnOf(idIn(created, 'AWS::DynamoDB::Table', 'ConvoHistoryTable'));
    expect(bySid.ClaimMessages).toEqual({
      Sid: 'ClaimMessages',
      Effect: 'Allow',
      Action: 'dynamodb:UpdateItem',
      Resource: table,
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...CLAIM_ATTRIBUTES] }, StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' } },
    });
    expect(bySid.ReadClaimOutcome).toMatchObject({ Action: 'dynamodb:GetItem', Resource: table, Condition: { 'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...CLAIM_ATTRIBUTES] } } });
    expect(bySid.ReadAndAckDeviceInboxes).toMatchObject({ Action: ['sqs:DeleteMessage', 'sqs:ReceiveMessage'] });
    expect(JSON.stringify(bySid.ReadAndAckDeviceInboxes.Resource)).toContain(':convo-notify-inbox-*');
    expect(bySid.DeleteUnregisteredDeviceInboxes).toMatchObject({ Action: 'sqs:DeleteQueue' });
    expect(bySid.ForgetUnregisteredDevicePresence).toEqual({
      Sid: 'ForgetUnregisteredDevicePresence',
      Effect: 'Allow',
      Action: 'dynamodb:DeleteItem',
      Resource: arnOf(idIn(created, 'AWS::DynamoDB::Table', 'PresenceTable')),
    });
  });
});

describe('who may read inboxes and claim messages', () => {
  const INBOX_READ = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:DeleteQueue'];
  const grantsOn = (s: Synthesized, matches: (action: string, resource: string) => boolean): string[] =>
    [
      ...new Set(
        identityStatements(s.template)
          .filter(({ statement }) => statement.Effect === 'Allow')
          .filter(({ statement }) => asArray(statement.Action).some((a) => asArray(statement.Resource).some((r) => matches(a, JSON.stringify(r)))))
          .map(({ owner }) => owner),
      ),
    ].sort();

  it.each([
    ['the created stack', () => created],
    ['the stack with the CRM’s identity provider', () => external],
  ])('in %s, only the API Lambda’s role may receive or delete inbox messages or inbox queues', (_name, s) => {
    const owners = grantsOn(s(), (action, resource) => INBOX_READ.includes(action) && resource.includes('inbox-*'));
    expect(owners).toEqual([idIn(s(), 'AWS::IAM::Policy', 'AgentApiFunctionRoleDefaultPolicy')]);
  });

  it('only the API Lambda’s role may UpdateItem on CONVO_HISTORY', () => {
    const table = JSON.stringify(arnOf(idIn(created, 'AWS::DynamoDB::Table', 'ConvoHistoryTable')));
    const owners = grantsOn(created, (action, resource) => ['dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:BatchWriteItem'].includes(action) && resource.startsWith(table.slice(0, -1)));
    expect(owners).toEqual([idIn(created, 'AWS::IAM::Policy', 'AgentApiFunctionRoleDefaultPolicy')]);
  });

  it('no role has an sqs or dynamodb action on every resource', () => {
    for (const { statement } of identityStatements(created.template)) {
      if (asArray(statement.Resource).includes('*')) expect(asArray(statement.Action).filter((a) => /^(sqs|dynamodb):/.test(a))).toEqual([]);
    }
  });
});

describe('IotAuthorizer', () => {
  it('is active, with token signing disabled, and backed by the authorizer Lambda', () => {
    created.template.hasResourceProperties('AWS::IoT::Authorizer', {
      AuthorizerName: 'convo-notify-agent-jwt',
      AuthorizerFunctionArn: arnOf(idIn(created, 'AWS::Lambda::Function', 'IotAuthorizerFunction')),
      SigningDisabled: true,
      Status: 'ACTIVE',
      EnableCachingForHttp: false,
    });
  });

  it('can be invoked by AWS IoT for this authorizer only', () => {
    created.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arnOf(idIn(created, 'AWS::Lambda::Function', 'IotAuthorizerFunction')),
      Principal: 'iot.amazonaws.com',
      SourceArn: arnOf(idIn(created, 'AWS::IoT::Authorizer', 'IotAuthorizer')),
      SourceAccount: ref('AWS::AccountId'),
    });
  });

  it('is capped, answers within the 5 s AWS IoT allows, and verifies the same tokens as the API', () => {
    expect(functionProps(created, 'IotAuthorizerFunction')).toMatchObject({
      ReservedConcurrentExecutions: 10,
      Timeout: 5,
      Environment: { Variables: { TOKEN_AUDIENCE: ref(idIn(created, 'AWS::Cognito::UserPoolClient', 'AgentIdentityUserPoolAgentCrmClient')) } },
    });
    const api = functionProps(external, 'AgentApiFunction').Environment.Variables;
    const authorizer = functionProps(external, 'IotAuthorizerFunction').Environment.Variables;
    for (const key of ['TOKEN_ISSUER', 'TOKEN_AUDIENCE', 'JWKS_URI', 'AGENT_ID_CLAIM']) expect(authorizer[key]).toEqual(api[key]);
    expect(functionProps(external, 'IotAuthorizerFunction').ReservedConcurrentExecutions).toBe(7);
  });

  it('may do nothing but write its log and traces', () => {
    const statements = roleStatements(created.template, idIn(created, 'AWS::IAM::Role', 'IotAuthorizerFunctionRole'));
    expect(statements.flatMap((s) => asArray(s.Action)).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });
});

describe('RecipientsSchema', () => {
  it('is a custom resource of the Provider framework carrying the schema hash, created after the cluster', () => {
    const resources = created.template.findResources('Custom::RecipientsSchema');
    const [resource] = Object.values(resources);
    expect(resource.Properties).toEqual({
      ServiceToken: arnOf(idIn(created, 'AWS::Lambda::Function', 'RecipientsSchemaProviderframeworkonEvent')),
      schemaSha256: createHash('sha256').update(SCHEMA_SQL).digest('hex'),
      database: 'convo_notify',
    });
    expect(resource.DependsOn).toEqual(expect.arrayContaining([idIn(created, 'AWS::RDS::DBCluster', 'RecipientsDatabaseCluster'), idIn(created, 'AWS::RDS::DBInstance', 'RecipientsDatabaseClusterWriter')]));
  });

  it('runs apply-schema with enough time to wait for a resuming Aurora, allowed only to run Data API statements', () => {
    expect(functionProps(created, 'RecipientsSchemaApplySchemaFunction')).toMatchObject({ Timeout: 14 * 60 });
    const actions = roleStatements(created.template, idIn(created, 'AWS::IAM::Role', 'RecipientsSchemaApplySchemaRole')).flatMap((s) => asArray(s.Action));
    expect(actions.sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'rds-data:ExecuteStatement', 'secretsmanager:GetSecretValue', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });
});

describe('DeviceLifecycle', () => {
  it('runs the stale-device sweep daily with retries and a dead-letter queue', () => {
    created.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(17 3 * * ? *)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: arnOf(idIn(created, 'AWS::Lambda::Function', 'DeviceLifecycleDeactivateDevicesFunction')),
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 7200 },
          DeadLetterConfig: { Arn: arnOf(idIn(created, 'AWS::SQS::Queue', 'DeviceLifecycleDeadLetterQueue')) },
        }),
      ],
    });
  });

  it('deactivates after 30 days by default, and after staleDeviceDays from context', () => {
    expect(functionProps(created, 'DeviceLifecycleDeactivateDevicesFunction').Environment.Variables.STALE_DEVICE_DAYS).toBe('30');
    const custom = synthesize({ staleDeviceDays: '7' }, { bundle: false });
    expect(functionProps(custom, 'DeviceLifecycleDeactivateDevicesFunction').Environment.Variables.STALE_DEVICE_DAYS).toBe('7');
  });
});

describe('cdk-nag with the CRM’s identity provider', () => {
  it('reports no unacknowledged finding', () => {
    expect(nagFindings(external.app)).toEqual([]);
  });
});

describe('readConfigFrom: agent access keys', () => {
  const read = (context: Record<string, unknown>) => readConfigFrom((key) => context[key]);

  it('reads the identity provider, defaulting the JWKS URL under the issuer', () => {
    expect(read({ oidcIssuer: 'https://id.example.com/realms/crm', oidcAudience: 'crm' }).identityProvider).toEqual({
      issuer: 'https://id.example.com/realms/crm',
      audience: 'crm',
      jwksUri: 'https://id.example.com/realms/crm/.well-known/jwks.json',
    });
    expect(read({ oidcIssuer: ISSUER, oidcAudience: 'crm', oidcJwksUri: 'https://id.example.com/keys' }).identityProvider?.jwksUri).toBe('https://id.example.com/keys');
  });

  it('splits CORS origins', () => {
    expect(read({ agentApiCorsOrigins: 'https://crm.example.com, http://localhost:5173' }).agentApiCorsOrigins).toEqual(['https://crm.example.com', 'http://localhost:5173']);
  });

  it.each([
    [{ oidcIssuer: ISSUER }, /give both or neither/],
    [{ oidcIssuer: 'http://id.example.com', oidcAudience: 'crm' }, /oidcIssuer.*https/],
    [{ oidcIssuer: 'not a url', oidcAudience: 'crm' }, /oidcIssuer/],
    [{ oidcIssuer: ISSUER, oidcAudience: 'has space' }, /oidcAudience/],
    [{ oidcJwksUri: 'https://id.example.com/keys' }, /oidcJwksUri.*needs/],
    [{ agentIdClaim: 'a b' }, /agentIdClaim/],
    [{ agentApiConcurrency: '0' }, /agentApiConcurrency/],
    [{ iotAuthorizerConcurrency: '1001' }, /iotAuthorizerConcurrency/],
    [{ staleDeviceDays: '0' }, /staleDeviceDays/],
    [{ agentApiCorsOrigins: '*' }, /agentApiCorsOrigins/],
    [{ agentApiCorsOrigins: 'https://crm.example.com/app' }, /agentApiCorsOrigins/],
  ])('refuses %j naming the key', (context, message) => {
    expect(() => read(context)).toThrow(message);
  });
});
