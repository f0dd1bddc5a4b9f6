import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DEVICE_REGISTRY_TABLE } from '../../contracts/tables';

/**
 * The device registry (docs/access.md "Device registry"): a DynamoDB table with one item per
 * registered client id (`clientId` → `agentId`, `registeredAt`), written by the agent API and
 * read by record-presence, so the presence path knows the registered devices without a round trip
 * to Aurora, which may be paused. Aurora's `devices` table stays the authority.
 *
 * On demand, encrypted under the AWS managed key, with point-in-time recovery like PRESENCE, and
 * retained when the stack is deleted: unlike PRESENCE it is not rebuilt by the next lifecycle
 * event, and without it no device has presence. Each grant names its actions: no principal gets
 * more than it sends.
 */
export class DeviceRegistry extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: DEVICE_REGISTRY_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** The agent API: a register puts the item, an unregister deletes it. */
  public grantRegistration(grantee: iam.IGrantable): void {
    this.grant(grantee, 'RegisterDevices', ['dynamodb:PutItem', 'dynamodb:DeleteItem']);
  }

  /** record-presence: one GetItem per lifecycle event. */
  public grantLookup(grantee: iam.IGrantable): void {
    this.grant(grantee, 'LookUpRegisteredDevice', ['dynamodb:GetItem']);
  }

  /** The stale-device sweep: one DeleteItem per deactivated device. */
  public grantRemoval(grantee: iam.IGrantable): void {
    this.grant(grantee, 'ForgetDeactivatedDevices', ['dynamodb:DeleteItem']);
  }

  private grant(grantee: iam.IGrantable, sid: string, actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions, resources: [this.table.tableArn] }));
  }
}
