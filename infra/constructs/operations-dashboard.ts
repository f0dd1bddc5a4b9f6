import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC_NAMES, type MetricName } from '../../tasks/shared/metrics';
import { API_STATUS_CLASSES, TASK_METRIC_PERIOD, taskMetric, taskMetricSearch, type TaskService } from './task-metrics';

const WIDTH = 12;
const HEIGHT = 6;

/**
 * The pipe's metrics (AWS/EventBridge/Pipes, dimension PipeName), as the EventBridge user guide
 * names them ("Logging and monitoring Amazon EventBridge Pipes").
 */
const PIPE_METRICS = [
  'Invocations',
  'ExecutionFailed',
  'ExecutionThrottled',
  'ExecutionTimeout',
  'EnrichmentStageFailed',
  'TargetStageFailed',
] as const;

export interface OperationsDashboardProps {
  /** Resource name prefix; the dashboard is `<prefix>-operations`. */
  readonly prefix: string;
  readonly stateMachine: sfn.IStateMachine;
  /** The pipe's name, the `PipeName` dimension of its metrics. */
  readonly pipeName: string;
  /**
   * The outcomes pipe (its name, the `PipeName` dimension of its metrics) and the queue it drains:
   * its health, and how long outcomes wait for it.
   *
   * @default - no outcomes graphs
   */
  readonly outcomes?: {
    readonly pipeName: string;
    readonly queue: sqs.IQueue;
  };
  /** Queues that should stay empty (the ones OperationsAlarms watches), by the name shown. */
  readonly holdingQueues: Readonly<Record<string, sqs.IQueue>>;
  /** The agent API; its 4xx and 5xx are read by its API id. */
  readonly agentApi: apigwv2.IHttpApi;
  /** The IoT custom authorizer's function: an error or a throttle there refuses a connection. */
  readonly authorizerFunction: lambda.IFunction;
  /**
   * Alarms shown in an alarm-status widget at the top.
   *
   * @default - no alarm-status widget
   */
  readonly alarms?: readonly cloudwatch.IAlarm[];
  /**
   * Escalation: the messages published to the escalation topic and the errors of its tasks; the
   * escalate task's published and skipped escalations by reason (METRIC_NAMES).
   *
   * @default - no escalation graph
   */
  readonly escalation?: {
    readonly topic: sns.ITopic;
    /** The escalation tasks by name (escalate, answer-timer). */
    readonly functions: Readonly<Record<string, lambda.IFunction>>;
  };
}

/**
 * The ops view (CloudWatch dashboard `<prefix>-operations`): the workflow's executions and their
 * duration, the holding queues, the pipe's own health, the outcomes pipe's health and the age of
 * the outcomes waiting for it, the agent API's errors and the IoT
 * authorizer's errors and throttles, one graph each; then what the task Lambdas count (records
 * normalized and quarantined, devices resolved, online and offline, API requests by status class,
 * authorizer decisions by reason, presence events recorded, stale and ignored). A pipe that keeps failing can stop itself:
 * its invocations then drop to zero while the pipe DLQ and the failure counts say why; the text
 * widget gives the command that shows the pipe's state.
 */
export class OperationsDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const sum = { period: TASK_METRIC_PERIOD, statistic: 'Sum' } as const;
    const graph = (title: string, left: cloudwatch.IMetric[], leftYAxis?: cloudwatch.YAxisProps) =>
      new cloudwatch.GraphWidget({ title, left, leftYAxis, width: WIDTH, height: HEIGHT, period: TASK_METRIC_PERIOD });
    const { stateMachine: workflow } = props;
    const pipeMetric = (pipeName: string, metricName: (typeof PIPE_METRICS)[number]) =>
      new cloudwatch.Metric({ namespace: 'AWS/EventBridge/Pipes', metricName, dimensionsMap: { PipeName: pipeName }, ...sum, label: metricName });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${props.prefix}-operations`,
      defaultInterval: Duration.hours(6),
    });

    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: [
          `## ${props.prefix} operations`,
          'Holding queues should stay at 0: anything in them is something to look at (docs/infra.md, "Operating notes").',
          `The pipe stops itself after continuous errors: if its invocations drop to 0 while messages are written, check \`aws pipes describe-pipe --name ${props.pipeName} --query CurrentState\`.`,
          ...(props.outcomes === undefined
            ? []
            : [`Outcomes that wait more than a few minutes in the outcomes queue mean its pipe is not running: \`aws pipes describe-pipe --name ${props.outcomes.pipeName} --query CurrentState\`.`]),
        ].join('\n\n'),
        width: 24,
        height: 3,
      }),
    );
    if (props.alarms !== undefined && props.alarms.length > 0) {
      this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 3 }));
    }

    this.dashboard.addWidgets(
      graph('Workflow executions', [
        workflow.metricStarted({ ...sum, label: 'started' }),
        workflow.metricSucceeded({ ...sum, label: 'succeeded' }),
        workflow.metricFailed({ ...sum, label: 'failed' }),
        workflow.metricTimedOut({ ...sum, label: 'timed out' }),
      ]),
      graph(
        'Workflow duration (ms)',
        [
          workflow.metricTime({ period: TASK_METRIC_PERIOD, statistic: 'p50', label: 'p50' }),
          workflow.metricTime({ period: TASK_METRIC_PERIOD, statistic: 'p99', label: 'p99' }),
          workflow.metricTime({ period: TASK_METRIC_PERIOD, statistic: 'Maximum', label: 'max' }),
        ],
        { min: 0 },
      ),
    );

    this.dashboard.addWidgets(
      graph(
        'Holding queues (messages visible)',
        Object.entries(props.holdingQueues).map(([name, queue]) =>
          queue.metricApproximateNumberOfMessagesVisible({ period: TASK_METRIC_PERIOD, statistic: 'Maximum', label: name }),
        ),
        { min: 0 },
      ),
      graph('Pipe', PIPE_METRICS.map((metricName) => pipeMetric(props.pipeName, metricName))),
    );
    if (props.outcomes !== undefined) {
      const { pipeName, queue } = props.outcomes;
      this.dashboard.addWidgets(
        // It has no enrichment step: the rest of its metrics are the stream pipe's.
        graph('Outcomes pipe', PIPE_METRICS.filter((metricName) => metricName !== 'EnrichmentStageFailed').map((metricName) => pipeMetric(pipeName, metricName))),
        graph(
          'Outcomes queue (age of oldest message, s)',
          [queue.metricApproximateAgeOfOldestMessage({ period: TASK_METRIC_PERIOD, statistic: 'Maximum', label: 'oldest outcome' })],
          { min: 0 },
        ),
      );
    }

    this.dashboard.addWidgets(
      graph('Agent API', [
        props.agentApi.metricCount({ ...sum, label: 'requests' }),
        props.agentApi.metricClientError({ ...sum, label: '4xx' }),
        props.agentApi.metricServerError({ ...sum, label: '5xx' }),
      ]),
      graph('IoT authorizer', [
        props.authorizerFunction.metricInvocations({ ...sum, label: 'invocations' }),
        props.authorizerFunction.metricErrors({ ...sum, label: 'errors' }),
        props.authorizerFunction.metricThrottles({ ...sum, label: 'throttles' }),
      ]),
    );

    // What the task Lambdas count (Powertools EMF, tasks/shared/metrics.ts): the records and devices
    // behind the executions above, and why API requests and device connections fail.
    const count = (service: TaskService, metricName: MetricName, label: string) => taskMetric(service, metricName, { label });
    this.dashboard.addWidgets(
      graph('Records normalized and quarantined', [
        count('normalize-batch', METRIC_NAMES.recordsNormalized, 'normalized'),
        count('normalize-batch', METRIC_NAMES.recordsQuarantined, 'quarantined'),
      ]),
      graph('Devices resolved, online and offline', [
        count('resolve-recipients', METRIC_NAMES.devicesResolved, 'resolved'),
        count('resolve-recipients', METRIC_NAMES.devicesSkipped, 'skipped (bad recipients rows)'),
        count('check-presence', METRIC_NAMES.devicesOnline, 'online (pushed)'),
        count('check-presence', METRIC_NAMES.devicesOffline, 'offline (inbox only)'),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        'Agent API requests by status class',
        API_STATUS_CLASSES.map((statusClass) =>
          taskMetricSearch('agent-api', METRIC_NAMES.apiRequests, {
            dimensionNames: ['route', 'statusClass'],
            where: { statusClass },
            sum: true,
            label: statusClass,
          }),
        ),
      ),
      graph('IoT authorizer decisions by reason', [
        taskMetricSearch('iot-authorizer', METRIC_NAMES.authorizerDecisions, {
          dimensionNames: ['decision', 'reason'],
          label: "${PROP('Dim.decision')}: ${PROP('Dim.reason')}",
        }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Presence events', [
        count('record-presence', METRIC_NAMES.presenceRecorded, 'recorded'),
        count('record-presence', METRIC_NAMES.stalePresenceEvents, 'stale (older than the stored state)'),
        taskMetricSearch('record-presence', METRIC_NAMES.presenceEventsIgnored, {
          dimensionNames: ['reason'],
          label: "ignored: ${PROP('Dim.reason')}",
        }),
      ]),
    );

    if (props.escalation !== undefined) {
      const { topic, functions } = props.escalation;
      this.dashboard.addWidgets(
        graph('Escalations', [
          topic.metricNumberOfMessagesPublished({ ...sum, label: 'published' }),
          ...Object.entries(functions).map(([name, fn]) => fn.metricErrors({ ...sum, label: `${name} errors` })),
        ]),
        graph('Escalations by reason', [
          taskMetricSearch('escalate', METRIC_NAMES.escalationsPublished, { dimensionNames: ['reason'], label: 'published' }),
          taskMetricSearch('escalate', METRIC_NAMES.escalationsSkipped, { dimensionNames: ['reason', 'skipped'], label: 'skipped' }),
        ]),
      );
    }
  }
}
