import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Presence } from './presence';
import { RecipientsDatabase } from './recipients-database';
import { TaskFunction } from './task-function';

/** A whole batch of up to 400 KB items in one invocation: memory is what makes that fast. */
export const NORMALIZE_BATCH_MEMORY_MB = 512;

export interface WorkflowTasksProps {
  /** Where `resolve-recipients` queries devices. */
  readonly database: RecipientsDatabase;
  /** Where `check-presence` reads presence. */
  readonly presence: Presence;
  /** `<prefix>-inbox-`, so that `resolve-recipients` skips client ids that cannot name an inbox. */
  readonly inboxQueueNamePrefix: string;
  /** Devices per `ResolveRecipients` page (context `recipientsPageSize`, bounded by contracts/recipients-page.ts). */
  readonly recipientsPageSize: number;
}

/**
 * The task Lambdas of the flow, each with exactly the access its contract
 * (`docs/workflow-contract.md`) needs:
 * - `normalize-batch`: the Pipe's enrichment, a pure function of its input, no AWS access at all;
 * - `resolve-recipients`: `rds-data:ExecuteStatement` on the recipients cluster and its secret;
 * - `check-presence`: `dynamodb:BatchGetItem` on PRESENCE.
 */
export class WorkflowTasks extends Construct {
  public readonly normalizeBatch: TaskFunction;
  public readonly resolveRecipients: TaskFunction;
  public readonly checkPresence: TaskFunction;

  constructor(scope: Construct, id: string, props: WorkflowTasksProps) {
    super(scope, id);

    this.normalizeBatch = new TaskFunction(this, 'NormalizeBatch', {
      taskName: 'normalize-batch',
      memorySize: NORMALIZE_BATCH_MEMORY_MB,
    });

    this.resolveRecipients = new TaskFunction(this, 'ResolveRecipients', {
      taskName: 'resolve-recipients',
      // One Data API call per page; a paused Aurora answers DatabaseResumingException quickly,
      // so the time goes to slow queries, not to waiting for the resume.
      timeout: Duration.seconds(30),
      environment: {
        DB_CLUSTER_ARN: props.database.clusterArn,
        DB_SECRET_ARN: props.database.secretArn,
        DB_NAME: props.database.databaseName,
        PAGE_SIZE: String(props.recipientsPageSize),
        INBOX_QUEUE_NAME_PREFIX: props.inboxQueueNamePrefix,
      },
    });
    props.database.grantQuery(this.resolveRecipients.role);

    this.checkPresence = new TaskFunction(this, 'CheckPresence', {
      taskName: 'check-presence',
      environment: { PRESENCE_TABLE_NAME: props.presence.table.tableName },
    });
    props.presence.grantPresenceLookup(this.checkPresence.role);
  }
}
