import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { LOG_RETENTION } from './retention';

export interface RecipientsDatabaseProps {
  /** Name prefix; the created cluster is `<prefix>-recipients` (lower-cased). */
  readonly prefix: string;
  /** Database that holds the recipients schema (`sql/`). */
  readonly databaseName: string;
  /**
   * An existing Aurora cluster with the Data API enabled, and a Secrets Manager secret with its
   * credentials (full secret ARN, including the random suffix).
   *
   * @default - a new Aurora Serverless v2 PostgreSQL cluster is created
   */
  readonly existing?: {
    readonly clusterArn: string;
    readonly secretArn: string;
  };
}

/**
 * Capacity of the created cluster, in ACUs. A minimum of 0 lets Aurora pause when idle; the first
 * query then gets `DatabaseResumingException`, which `resolve-recipients` turns into
 * `RecipientsUnavailableError` and the state machine retries with backoff.
 */
const CAPACITY = { min: 0, max: 4 } as const;

/**
 * Agents, their IoT client devices, team membership and sender subscriptions, queried by
 * `resolve-recipients` through the RDS Data API only.
 *
 * Created: Aurora Serverless v2 PostgreSQL with the Data API, storage encryption, IAM database
 * authentication, deletion protection, 7-day backups and a snapshot on removal, in a VPC of its own
 * with isolated subnets only (no NAT, no internet route) and a security group without any ingress:
 * the Data API needs no network path from the callers. Or imported from context.
 */
export class RecipientsDatabase extends Construct {
  public readonly clusterArn: string;
  public readonly secretArn: string;
  public readonly databaseName: string;
  /** Set when this stack created the cluster. */
  public readonly cluster?: rds.DatabaseCluster;
  public readonly vpc?: ec2.Vpc;

  constructor(scope: Construct, id: string, props: RecipientsDatabaseProps) {
    super(scope, id);
    this.databaseName = props.databaseName;

    if (props.existing) {
      this.clusterArn = props.existing.clusterArn;
      this.secretArn = props.existing.secretArn;
      return;
    }

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'database', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogGroup', { retention: LOG_RETENTION, removalPolicy: RemovalPolicy.DESTROY }),
      ),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'convo-notify recipients cluster: no ingress (Data API only), no egress',
      allowAllOutbound: false,
    });

    const clusterIdentifier = `${props.prefix}-recipients`.toLowerCase();
    // Created before the cluster so that the exported PostgreSQL log gets a retention instead of
    // the default "never expire" (and without the LogRetention custom resource Lambda).
    const postgresLog = new logs.LogGroup(this, 'PostgresqlLogGroup', {
      logGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      clusterIdentifier,
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_6 }),
      writer: rds.ClusterInstance.serverlessV2('Writer', { publiclyAccessible: false, autoMinorVersionUpgrade: true }),
      serverlessV2MinCapacity: CAPACITY.min,
      serverlessV2MaxCapacity: CAPACITY.max,
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [securityGroup],
      credentials: rds.Credentials.fromGeneratedSecret('convo_notify_admin'),
      defaultDatabaseName: props.databaseName,
      enableDataApi: true,
      storageEncrypted: true,
      iamAuthentication: true,
      // It holds agents, devices and subscriptions.
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      backup: { retention: Duration.days(7) },
      cloudwatchLogsExports: ['postgresql'],
      copyTagsToSnapshot: true,
    });
    this.cluster.node.addDependency(postgresLog);

    this.clusterArn = this.cluster.clusterArn;
    this.secretArn = this.cluster.secret!.secretArn;

    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating the admin secret needs a rotation Lambda with network access to both the cluster and Secrets Manager, i.e. NAT or interface endpoints that this no-egress VPC deliberately lacks. Data API callers read the secret on every call, so rotation can be enabled later (addRotationSingleUser + endpoints) without touching the tasks.',
    });
  }

  /**
   * What `resolve-recipients` needs, and no more: `rds-data:ExecuteStatement` on this cluster
   * (its queries are single read statements: no batch, no transactions) and reading this
   * cluster's secret, which the Data API uses on the caller's behalf.
   */
  public grantQuery(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'QueryRecipientsThroughDataApi',
        actions: ['rds-data:ExecuteStatement'],
        resources: [this.clusterArn],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadRecipientsDatabaseSecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [this.secretArn],
      }),
    );
  }
}
