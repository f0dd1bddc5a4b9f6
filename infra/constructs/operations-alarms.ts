import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC_NAMES } from '../../tasks/shared/metrics';
import { AUTHORIZER_DECISIONS, TASK_METRIC_PERIOD, taskMetric } from './task-metrics';

/** Share of refused connections above which the authorizer alarm fires. */
const DENIAL_SHARE = 0.5;
/** Consecutive five-minute periods the share must stay above it: a burst of retries is not an outage. */
const DENIAL_PERIODS = 3;
/**
 * Connection attempts a period needs before its share counts: a single agent retrying a bad token
 * in a quiet hour is a support case, not something to wake anyone for.
 */
const DENIAL_MINIMUM_ATTEMPTS = 20;
/**
 * Age of the oldest message past which a queue that a consumer drains continuously (the outcomes
 * queue, read by its pipe within seconds) is not being drained: its consumer stopped, and what it
 * carries (outcomes drive escalations) would otherwise wait silently for the queue's retention.
 */
const MAXIMUM_MESSAGE_AGE = Duration.minutes(5);

/**
 * Refused / all connection attempts per period, 0 below the minimum. Explicit metrics, one per
 * decision and reason (an alarm cannot watch a SEARCH); SUM([…]) skips reasons that had no data.
 */
const authorizerDenialShare = (): cloudwatch.MathExpression => {
  const decision = (value: 'allowed' | 'denied', reason: string) =>
    taskMetric('iot-authorizer', METRIC_NAMES.authorizerDecisions, { dimensions: { decision: value, reason } });
  const allowed = Object.fromEntries(AUTHORIZER_DECISIONS.allowed.map((reason, i) => [`allowed${i}`, decision('allowed', reason)]));
  const denied = Object.fromEntries(AUTHORIZER_DECISIONS.denied.map((reason, i) => [`denied${i}`, decision('denied', reason)]));
  const deniedSum = `SUM([${Object.keys(denied).join(', ')}])`;
  const allSum = `SUM([${[...Object.keys(allowed), ...Object.keys(denied)].join(', ')}])`;
  return new cloudwatch.MathExpression({
    expression: `IF(${allSum} >= ${DENIAL_MINIMUM_ATTEMPTS}, ${deniedSum} / ${allSum}, 0)`,
    usingMetrics: { ...allowed, ...denied },
    label: 'share of device connections refused',
    period: TASK_METRIC_PERIOD,
  });
};

export interface OperationsAlarmsProps {
  /** Resource name prefix; alarms are `<prefix>-<what>`. */
  readonly prefix: string;
  readonly stateMachine: sfn.IStateMachine;
  /** Queues that should stay empty: anything in them is something people must look at. */
  readonly queues: Readonly<Record<string, sqs.IQueue>>;
  /**
   * Functions invoked asynchronously with an on-failure destination. Lambda counts a record it
   * could not deliver to the destination (`DestinationDeliveryFailures`): that event is gone.
   */
  readonly destinationFunctions: Readonly<Record<string, lambda.IFunction>>;
  /**
   * Functions of which every error matters (a failed escalation means a waiting customer nobody is
   * told about): one alarm each on any error in five minutes, before the retries even run out.
   *
   * @default - none
   */
  readonly errorFunctions?: Readonly<Record<string, lambda.IFunction>>;
  /**
   * Queues that a consumer drains as messages arrive: one alarm each when the oldest message is
   * older than MAXIMUM_MESSAGE_AGE (their DLQs belong in `queues`).
   *
   * @default - none
   */
  readonly drainedQueues?: Readonly<Record<string, sqs.IQueue>>;
}

/**
 * "Nothing is lost" only holds if someone notices where things went: one alarm per holding queue
 * (a message is visible), one per drained queue whose oldest message is older than
 * MAXIMUM_MESSAGE_AGE, one per function whose on-failure destination could not take a record, one
 * per error function on any error, one on failed or timed-out executions, one on recipients rows
 * skipped as no device, and one when the IoT authorizer refuses most device connections (devices
 * then get no push at all). Every alarm is named `<prefix>-…`, so that the stack's
 * OpsNotifications (`notifyOnEveryAlarmIn`) can send it to the ops topic; this construct adds no
 * actions itself.
 */
export class OperationsAlarms extends Construct {
  public readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: OperationsAlarmsProps) {
    super(scope, id);

    for (const [name, queue] of Object.entries(props.queues)) {
      const visible = queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      });
      this.alarms.push(
        visible.createAlarm(this, `${name}Alarm`, {
          alarmName: `${props.prefix}-${name}-not-empty`,
          alarmDescription: `convo-notify: messages are waiting in the ${name} queue`,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    for (const [name, queue] of Object.entries(props.drainedQueues ?? {})) {
      const oldest = queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: 'Maximum' });
      this.alarms.push(
        oldest.createAlarm(this, `${name}AgeAlarm`, {
          alarmName: `${props.prefix}-${name}-oldest-message-age`,
          alarmDescription: `convo-notify: a message has waited more than ${MAXIMUM_MESSAGE_AGE.toMinutes()} minutes in the ${name} queue (its consumer is not draining it)`,
          threshold: MAXIMUM_MESSAGE_AGE.toSeconds(),
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    for (const [name, fn] of Object.entries(props.destinationFunctions)) {
      const undelivered = fn.metric('DestinationDeliveryFailures', { period: Duration.minutes(5), statistic: 'Sum' });
      this.alarms.push(
        undelivered.createAlarm(this, `${name}DestinationDeliveryAlarm`, {
          alarmName: `${props.prefix}-${name}-destination-delivery-failures`,
          alarmDescription: `convo-notify: ${name} could not send failed invocations to its on-failure destination (those events are lost)`,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    for (const [name, fn] of Object.entries(props.errorFunctions ?? {})) {
      this.alarms.push(
        fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }).createAlarm(this, `${name}ErrorsAlarm`, {
          alarmName: `${props.prefix}-${name}-errors`,
          alarmDescription: `convo-notify: ${name} failed (Lambda retries it, then keeps the event on its failure queue)`,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    // What only the task Lambdas count (Powertools EMF). Quarantined records need no alarm of their
    // own: they land in the quarantine queue, which the holding-queue alarms watch.
    this.alarms.push(
      authorizerDenialShare().createAlarm(this, 'AuthorizerDenialsAlarm', {
        alarmName: `${props.prefix}-iot-authorizer-denials`,
        alarmDescription: `convo-notify: the IoT authorizer refused more than ${DENIAL_SHARE * 100} % of device connections for ${DENIAL_PERIODS * 5} minutes (invalid tokens: issuer keys, audience or clock; see the "IoT authorizer decisions by reason" graph)`,
        threshold: DENIAL_SHARE,
        evaluationPeriods: DENIAL_PERIODS,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      taskMetric('resolve-recipients', METRIC_NAMES.devicesSkipped).createAlarm(this, 'RecipientsRowsSkippedAlarm', {
        alarmName: `${props.prefix}-recipients-rows-skipped`,
        alarmDescription: 'convo-notify: recipients rows that cannot be a device were skipped (their devices get no notifications until the rows are fixed; resolve-recipients logs each)',
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    const failedOrTimedOut = new cloudwatch.MathExpression({
      expression: 'failed + timedOut',
      usingMetrics: {
        failed: props.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
        timedOut: props.stateMachine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
      },
      label: 'failed or timed-out executions',
      period: Duration.minutes(5),
    });
    this.alarms.push(
      failedOrTimedOut.createAlarm(this, 'ExecutionsFailedAlarm', {
        alarmName: `${props.prefix}-workflow-executions-failed`,
        alarmDescription: 'convo-notify: workflow executions failed or timed out (the pipe retries, then dead-letters)',
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  }
}
