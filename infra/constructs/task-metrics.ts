import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { METRICS_NAMESPACE, type MetricName } from '../../tasks/shared/metrics';

/**
 * The metrics the task Lambdas emit through Powertools (EMF, tasks/shared/observability.ts), as
 * the ops dashboard and alarms read them. CloudWatch matches a metric by its exact dimension set,
 * and Powertools emits one set per flush: `service` (the task's folder name under tasks/, its
 * TaskFunction `taskName`) plus the dimensions the handler added (test/tasks/*.test.ts capture them).
 */

/** The `service` dimension of a task's metrics. */
export type TaskService =
  | 'normalize-batch'
  | 'resolve-recipients'
  | 'check-presence'
  | 'record-presence'
  | 'agent-api'
  | 'iot-authorizer'
  | 'escalate'
  | 'answer-timer';

export { API_STATUS_CLASSES, AUTHORIZER_DECISIONS } from '../../tasks/shared/metrics';

/** One point per five minutes, for the whole ops view: fine enough to see an incident, few enough points for two weeks. */
export const TASK_METRIC_PERIOD = Duration.minutes(5);

export interface TaskMetricOptions {
  /** Dimensions the handler adds besides `service`, with their values. @default - none */
  readonly dimensions?: Readonly<Record<string, string>>;
  /** @default - the metric name */
  readonly label?: string;
}

/** The sum per period of one task metric with exactly `service` plus `options.dimensions`. */
export const taskMetric = (service: TaskService, metricName: MetricName, options: TaskMetricOptions = {}): cloudwatch.Metric =>
  new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service, ...options.dimensions },
    statistic: cloudwatch.Stats.SUM,
    period: TASK_METRIC_PERIOD,
    label: options.label,
  });

export interface TaskMetricSearchOptions {
  /** The dimensions the handler sets at run time, besides `service`: the search's schema. */
  readonly dimensionNames: readonly string[];
  /** Values some of those dimensions must have. @default - every value */
  readonly where?: Readonly<Record<string, string>>;
  /** Wraps the search in `SUM(…)`: one line for all its matches instead of one each. @default false */
  readonly sum?: boolean;
  /** A label; `${PROP('Dim.<name>')}` shows a dimension's value per line. @default - CloudWatch's */
  readonly label?: string;
}

/**
 * A SEARCH over one task metric whose dimension values are set at run time (a route, a reason):
 * every combination is graphed without this code knowing them. The schema `{namespace,dims…}`
 * matches only metrics with exactly that dimension set, the one Powertools emits. Dashboards only:
 * CloudWatch alarms cannot watch a SEARCH.
 */
export const taskMetricSearch = (service: TaskService, metricName: MetricName, options: TaskMetricSearchOptions): cloudwatch.MathExpression => {
  const schema = [METRICS_NAMESPACE, ...['service', ...options.dimensionNames].sort()].join(',');
  const terms = [`MetricName="${metricName}"`, `service="${service}"`, ...Object.entries(options.where ?? {}).map(([name, value]) => `${name}="${value}"`)];
  const search = `SEARCH('{${schema}} ${terms.join(' ')}', 'Sum', ${TASK_METRIC_PERIOD.toSeconds()})`;
  return new cloudwatch.MathExpression({
    expression: options.sum === true ? `SUM(${search})` : search,
    label: options.label,
    period: TASK_METRIC_PERIOD,
  });
};
