import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

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
}

/**
 * "Nothing is lost" only holds if someone notices where things went: one alarm per holding queue
 * (a message is visible), one per function whose on-failure destination could not take a record,
 * and one on failed or timed-out executions. The alarms have no actions; connect them to the
 * team's paging or chat topic with `alarm.addAlarmAction(...)`.
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
