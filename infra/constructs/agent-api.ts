import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOG_RETENTION } from './retention';
import { AGENT_API_ROUTES } from '../../contracts/agent-access';
import { CONVO_HISTORY_TABLE } from '../../contracts/tables';
import type { AgentIdentity } from './agent-identity';
import type { DeviceRegistry } from './device-registry';
import type { Inboxes } from './inboxes';
import type { RecipientsDatabase } from './recipients-database';
import { TaskFunction } from './task-function';

/** The only CONVO_HISTORY attributes a claim may name (keys, the tenant it checks, what it writes). */
export const CLAIM_ATTRIBUTES = [
  CONVO_HISTORY_TABLE.partitionKey,
  CONVO_HISTORY_TABLE.sortKey,
  CONVO_HISTORY_TABLE.tenantId,
  CONVO_HISTORY_TABLE.claim.handledBy,
  CONVO_HISTORY_TABLE.claim.handledAt,
] as const;

/**
 * What the access log keeps: who called which route, when, with what status and latency. No
 * header, token, query string or body is ever logged.
 */
export const accessLogFields = (agentIdClaim: string) => ({
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  routeKey: '$context.routeKey',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  agent: `$context.authorizer.claims.${agentIdClaim}`,
  sourceIp: '$context.identity.sourceIp',
});

export interface AgentApiProps {
  /** Resource name prefix; the API is `<prefix>-agent-api`. */
  readonly prefix: string;
  /** Whose tokens the JWT authorizer accepts. */
  readonly identity: AgentIdentity;
  /** Agents and devices (register, list, unregister, ownership, last seen). */
  readonly database: RecipientsDatabase;
  /** The per-device inboxes: read, ack, delete on unregister. */
  readonly inboxes: Inboxes;
  /** CONVO_HISTORY, where a claim sets handledBy / handledAt. */
  readonly convoHistoryTable: dynamodb.ITable;
  /** PRESENCE, whose item of an unregistered device is removed. */
  readonly presenceTable: dynamodb.ITable;
  /** The device registry: a register puts the device's item, an unregister deletes it. */
  readonly registry: DeviceRegistry;
  /**
   * Reserved concurrency of the API Lambda, so agent traffic never starves the pipeline's Lambdas
   * (context `agentApiConcurrency`; its default is from infra/config.ts DEFAULT_CONFIG).
   */
  readonly reservedConcurrency: number;
  /**
   * Stage throttling: steady requests per second, and burst (context `agentApiRateLimit`,
   * `agentApiBurstLimit`; their defaults are from infra/config.ts DEFAULT_CONFIG).
   */
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * Browser origins allowed to call the API (CORS). Tokens travel in the Authorization header,
   * never in cookies, so credentials are not allowed.
   *
   * @default - no CORS configuration
   */
  readonly corsOrigins?: readonly string[];
}

/**
 * The agent API (docs/access.md): an API Gateway HTTP API whose every route requires a JWT of the
 * agent identity (native JWT authorizer), one Lambda (`tasks/agent-api`) behind all routes, stage
 * throttling, and a JSON access log without tokens or bodies. The Lambda is the only principal of
 * the stack that may receive and delete inbox messages, delete inbox queues, and update
 * CONVO_HISTORY, and only the claim's attributes.
 */
export class AgentApi extends Construct {
  public readonly function: TaskFunction;
  public readonly httpApi: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly accessLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: AgentApiProps) {
    super(scope, id);

    this.function = new TaskFunction(this, 'Function', {
      taskName: 'agent-api',
      // The inbox route waits INBOX_WAIT_SECONDS; a paused Aurora answers quickly with an error.
      timeout: Duration.seconds(15),
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: {
        ...props.identity.tokenEnvironment,
        DB_CLUSTER_ARN: props.database.clusterArn,
        DB_SECRET_ARN: props.database.secretArn,
        DB_NAME: props.database.databaseName,
        INBOX_QUEUE_URL_PREFIX: props.inboxes.inboxQueueUrlPrefix,
        CONVO_HISTORY_TABLE_NAME: props.convoHistoryTable.tableName,
        PRESENCE_TABLE_NAME: props.presenceTable.tableName,
        DEVICE_REGISTRY_TABLE_NAME: props.registry.table.tableName,
      },
    });
    const role = this.function.role;
    props.database.grantQuery(role);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadAndAckDeviceInboxes',
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage'],
        resources: [props.inboxes.inboxQueueArnPattern],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DeleteUnregisteredDeviceInboxes',
        actions: ['sqs:DeleteQueue'],
        resources: [props.inboxes.inboxQueueArnPattern],
      }),
    );
    // Attribute-level access: a claim can only name the key, check the tenant and write
    // handledBy / handledAt, and returns nothing of the item; the loser's read can only project those.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ClaimMessages',
        actions: ['dynamodb:UpdateItem'],
        resources: [props.convoHistoryTable.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...CLAIM_ATTRIBUTES] },
          StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
        },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadClaimOutcome',
        actions: ['dynamodb:GetItem'],
        resources: [props.convoHistoryTable.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...CLAIM_ATTRIBUTES] },
          StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
        },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ForgetUnregisteredDevicePresence',
        actions: ['dynamodb:DeleteItem'],
        resources: [props.presenceTable.tableArn],
      }),
    );
    props.registry.grantRegistration(role);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${inboxPatternForNag(props.inboxes.inboxQueueNamePrefix)}]`,
      reason:
        'Inboxes are one FIFO queue per device, created on first use by the workflow, so their names are only known at run time; the pattern covers this stack’s <prefix>-inbox- queues and nothing else, and the handler derives the queue from a client id it has checked belongs to the caller.',
    });

    const authorizer = new HttpJwtAuthorizer('AgentJwt', props.identity.issuer, {
      authorizerName: `${props.prefix}-agent-jwt`,
      jwtAudience: [props.identity.audience],
      identitySource: ['$request.header.Authorization'],
    });

    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: `${props.prefix}-agent-api`,
      description: 'convo-notify agent API: devices, inboxes, claims (JWT of the agent identity)',
      createDefaultStage: false,
      defaultAuthorizer: authorizer,
      corsPreflight:
        props.corsOrigins && props.corsOrigins.length > 0
          ? {
              allowOrigins: [...props.corsOrigins],
              allowMethods: [apigwv2.CorsHttpMethod.GET, apigwv2.CorsHttpMethod.POST, apigwv2.CorsHttpMethod.DELETE],
              allowHeaders: ['authorization', 'content-type'],
              allowCredentials: false,
              maxAge: Duration.hours(1),
            }
          : undefined,
    });

    const integration = new HttpLambdaIntegration('AgentApiIntegration', this.function.function);
    for (const route of Object.values(AGENT_API_ROUTES)) {
      this.httpApi.addRoutes({ path: route.path, methods: [route.method as apigwv2.HttpMethod], integration });
    }

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogGroup', {
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup),
        format: apigw.AccessLogFormat.custom(JSON.stringify(accessLogFields(props.identity.agentIdClaim))),
      },
    });
  }
}

/** How cdk-nag prints the inbox ARN pattern in an IAM5 finding. */
export const inboxPatternForNag = (inboxQueueNamePrefix: string): string =>
  `arn:<AWS::Partition>:sqs:<AWS::Region>:<AWS::AccountId>:${inboxQueueNamePrefix}*`;
