import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { DeviceRegistry } from './device-registry';
import { secureQueue } from './queues';
import type { RecipientsDatabase } from './recipients-database';
import { TaskFunction } from './task-function';

export interface DeviceLifecycleProps {
  /** Where devices live. */
  readonly database: RecipientsDatabase;
  /** The device registry, whose items of the deactivated devices the sweep deletes. */
  readonly registry: DeviceRegistry;
  /**
   * Devices not seen (registered, or inbox drained) for this many days are deactivated (context
   * `staleDeviceDays`; its default is from infra/config.ts DEFAULT_CONFIG).
   */
  readonly staleDeviceDays: number;
  /**
   * When the sweep runs (UTC).
   *
   * @default events.Schedule.cron({ minute: '17', hour: '3' }): daily at 03:17 UTC
   */
  readonly schedule?: events.Schedule;
}

/**
 * The daily stale-device sweep (`tasks/deactivate-devices`), which also deletes the device registry
 * items of the devices it deactivates: an EventBridge rule invokes it with two
 * retries (Aurora may be paused and resuming) and a dead-letter queue for invocations that still fail.
 */
export class DeviceLifecycle extends Construct {
  public readonly function: TaskFunction;
  public readonly rule: events.Rule;
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: DeviceLifecycleProps) {
    super(scope, id);

    this.function = new TaskFunction(this, 'DeactivateDevices', {
      taskName: 'deactivate-devices',
      timeout: Duration.minutes(5),
      environment: {
        DB_CLUSTER_ARN: props.database.clusterArn,
        DB_SECRET_ARN: props.database.secretArn,
        DB_NAME: props.database.databaseName,
        STALE_DEVICE_DAYS: String(props.staleDeviceDays),
        DEVICE_REGISTRY_TABLE_NAME: props.registry.table.tableName,
      },
    });
    props.database.grantQuery(this.function.role);
    props.registry.grantRemoval(this.function.role);

    this.deadLetterQueue = secureQueue(this, 'DeadLetterQueue', {
      noDeadLetterQueueReason:
        'This queue is the dead-letter queue of the stale-device schedule target, the terminal holding place for sweeps that failed after their retries; a DLQ behind it would only duplicate it.',
    });

    this.rule = new events.Rule(this, 'Schedule', {
      description: 'convo-notify: daily sweep deactivating devices not seen recently',
      schedule: props.schedule ?? events.Schedule.cron({ minute: '17', hour: '3' }),
      targets: [
        new targets.LambdaFunction(this.function.function, {
          retryAttempts: 2,
          maxEventAge: Duration.hours(2),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });
  }
}
