import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { CONVO_HISTORY_TABLE } from '../../contracts/tables';

/** Name of the table the stack creates when no existing one is given. */
const TABLE_NAME = 'CONVO_HISTORY';

export interface ConvoHistoryTableProps {
  /**
   * An existing CONVO_HISTORY table to listen to instead of creating one. Its stream must be
   * enabled with `NEW_AND_OLD_IMAGES`: the pipe filter compares the old and new images.
   *
   * @default - a new table is created
   */
  readonly existing?: {
    readonly tableName: string;
    readonly streamArn: string;
  };
}

/**
 * The chat history table the notifications come from: `conversationId` + `messageId`, with the
 * NEW_AND_OLD_IMAGES stream the pipe reads. Created with point-in-time recovery, deletion protection
 * and encryption under the AWS managed key, and retained when the stack is deleted (it holds the
 * product's messages, not this stack's data); or imported when the product already has it.
 */
export class ConvoHistoryTable extends Construct {
  public readonly table: dynamodb.ITable;
  public readonly streamArn: string;
  /** Whether this stack owns the table. */
  public readonly created: boolean;

  constructor(scope: Construct, id: string, props: ConvoHistoryTableProps = {}) {
    super(scope, id);

    if (props.existing) {
      this.table = dynamodb.Table.fromTableAttributes(this, 'Imported', {
        tableName: props.existing.tableName,
        tableStreamArn: props.existing.streamArn,
      });
      this.streamArn = props.existing.streamArn;
      this.created = false;
      return;
    }

    const table = new dynamodb.Table(this, 'Table', {
      tableName: TABLE_NAME,
      partitionKey: { name: CONVO_HISTORY_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: CONVO_HISTORY_TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table = table;
    this.streamArn = table.tableStreamArn!;
    this.created = true;
  }
}
