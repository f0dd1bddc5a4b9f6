import { Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';

/**
 * Retention of every log group the stack creates (task functions, pipe, state machine, Aurora
 * PostgreSQL log, VPC flow log). Message previews appear in the execution and pipe logs, which is
 * why they expire.
 */
export const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * How long the holding queues (quarantine, unrouted, pipe DLQ, presence rule errors, presence
 * failures) keep a message: the SQS maximum, because people investigate what lands there.
 */
export const HOLDING_QUEUE_RETENTION = Duration.days(14);
