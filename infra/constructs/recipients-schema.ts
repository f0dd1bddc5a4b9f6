import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomResource, Duration, RemovalPolicy, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { LOG_RETENTION } from './retention';
import type { RecipientsDatabase } from './recipients-database';
import { TaskFunction } from './task-function';

/**
 * The file the apply-schema bundle carries as text (sql/schema.ts imports it). Synthesis reads it
 * from disk rather than importing it, so that `cdk synth` needs no `.sql` loader.
 */
const SCHEMA_FILE = join(__dirname, '..', '..', 'sql', 'schema.sql');

export interface RecipientsSchemaProps {
  /** The database the schema goes into. */
  readonly database: RecipientsDatabase;
}

/**
 * Applies `sql/schema.sql` through the Data API at deploy time (`Custom::RecipientsSchema`, CDK
 * Provider framework, onEvent handler `tasks/apply-schema`), so no manual step follows a deploy.
 * The resource's `schemaSha256` property is the hash of the schema text: CloudFormation updates the
 * resource, and the handler re-applies the (idempotent) schema, on the first deploy and on every
 * deploy that changes the schema. It is created after the cluster and its writer.
 */
export class RecipientsSchema extends Construct {
  public readonly function: TaskFunction;
  public readonly provider: cr.Provider;
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: RecipientsSchemaProps) {
    super(scope, id);

    this.function = new TaskFunction(this, 'ApplySchema', {
      taskName: 'apply-schema',
      // Retries DatabaseResumingException for up to 10 minutes (MAX_WAIT_SECONDS) inside one call.
      timeout: Duration.minutes(14),
      environment: {
        DB_CLUSTER_ARN: props.database.clusterArn,
        DB_SECRET_ARN: props.database.secretArn,
        DB_NAME: props.database.databaseName,
      },
    });
    props.database.grantQuery(this.function.role);

    const frameworkLogGroup = new logs.LogGroup(this, 'ProviderLogGroup', { retention: LOG_RETENTION, removalPolicy: RemovalPolicy.DESTROY });
    const frameworkRole = new iam.Role(this, 'ProviderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'convo-notify recipients schema provider framework: invokes apply-schema, writes its own log group',
    });
    frameworkLogGroup.grantWrite(frameworkRole);

    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.function.function,
      frameworkOnEventRole: frameworkRole,
      logGroup: frameworkLogGroup,
    });

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.provider.serviceToken,
      resourceType: 'Custom::RecipientsSchema',
      properties: {
        schemaSha256: createHash('sha256').update(readFileSync(SCHEMA_FILE, 'utf8')).digest('hex'),
        database: props.database.databaseName,
      },
    });
    if (props.database.cluster) this.resource.node.addDependency(props.database.cluster);

    Validations.of(frameworkRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.function.function.node.defaultChild as CfnElement)}.Arn>:*]`,
      reason:
        'Added by the CDK Provider framework: its onEvent function may invoke the apply-schema function and its versions (<function ARN>:*); nothing else in the account.',
    });
  }
}
