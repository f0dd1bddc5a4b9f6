import { LogFormatter, LogItem, Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { METRICS_NAMESPACE } from './metrics';

export { MetricUnit };

export { METRICS_NAMESPACE, METRIC_NAMES, type MetricName } from './metrics';

/**
 * Powertools drops fields whose value is '' or null; an empty client id or a NULL column is
 * exactly what an operator needs to see in a "row skipped" line, so only undefined is dropped.
 */
class KeepEmptyValuesLogItem extends LogItem {
  public override removeEmptyKeys(attributes: LogAttributes): LogAttributes {
    return Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined));
  }
}

/**
 * Powertools' standard JSON keys (level, message, timestamp, service, cold_start, function_name,
 * function_request_id, sampling_rate, xray_trace_id) plus the call's fields, without function_arn
 * and function_memory_size: the log group already names the function, and the two were about 30 %
 * of every line's bytes (CloudWatch Logs bills by the byte). A field never replaces a standard key,
 * which log queries rely on: it is kept as `field_<name>` instead.
 */
export class TaskLogFormatter extends LogFormatter {
  public override formatAttributes(attributes: UnformattedAttributes, additionalLogAttributes: LogAttributes): LogItem {
    const base: LogAttributes = {
      level: attributes.logLevel,
      message: attributes.message,
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      cold_start: attributes.lambdaContext?.coldStart,
      function_name: attributes.lambdaContext?.functionName,
      function_request_id: attributes.lambdaContext?.awsRequestId,
      sampling_rate: attributes.sampleRateValue,
      xray_trace_id: attributes.xRayTraceId,
    };
    const fields: LogAttributes = {};
    for (const [key, value] of Object.entries(additionalLogAttributes)) fields[key in base ? `field_${key}` : key] = value;
    return new KeepEmptyValuesLogItem({ attributes: { ...base, ...fields } });
  }
}

/** Options of {@link Observability.instrument}. */
export interface InstrumentOptions {
  /**
   * Whether the event may be logged when the deployment logs execution data
   * (`POWERTOOLS_LOGGER_LOG_EVENT`, set from the `logExecutionData` context key). Leave it off for
   * events that carry credentials (API Gateway headers, IoT authorizer tokens, presigned URLs).
   *
   * @default false
   */
  readonly logEventWithExecutionData?: boolean;
}

/** An async task handler, of any event type. */
export type TaskHandler = (event: never, context?: Context) => Promise<unknown>;

/** The handler's own signature, with the Lambda context as an optional second argument. */
export type Instrumented<H extends TaskHandler> = H extends () => infer R
  ? (event?: unknown, context?: Context) => R
  : H extends (event: infer E, context?: Context) => infer R
    ? (event: E, context?: Context) => R
    : never;

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
  /**
   * Wraps an async handler: adds the Lambda context to every log line (request id, cold start),
   * emits the cold-start metric, opens a `## handler` X-Ray subsegment, logs a failure with its stack
   * and cause, and flushes the invocation's metrics whether it returned or threw. The context is
   * optional because the local runtime and the tests call handlers with the event alone.
   */
  instrument<H extends TaskHandler>(handler: H, options?: InstrumentOptions): Instrumented<H>;
}

/**
 * The Powertools Logger, Metrics and Tracer of one task Lambda (`service` is its folder name under
 * tasks/). Configuration comes from the environment (infra/constructs/task-function.ts on AWS;
 * local/runtime/stack.ts and test/setup/polyfills.ts locally): POWERTOOLS_LOG_LEVEL (or LOG_LEVEL),
 * POWERTOOLS_METRICS_DISABLED, POWERTOOLS_TRACE_ENABLED; outside Lambda the Tracer is off by itself.
 */
export const observability = (service: string): Observability => {
  const logger = new Logger({ serviceName: service, logFormatter: new TaskLogFormatter() });
  // Metrics' own warnings (e.g. an invalid dimension) become structured lines of the same logger.
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: service, logger });
  const tracer = new Tracer({ serviceName: service });

  const instrument: Observability['instrument'] = <H extends TaskHandler>(handler: H, options: InstrumentOptions = {}): Instrumented<H> => {
    const wrapped = async (event: unknown, context?: Context) => {
      if (context) logger.addContext(context);
      if (options.logEventWithExecutionData) logger.logEventIfEnabled(event);
      metrics.captureColdStartMetric(context?.functionName);
      const segment = tracer.isTracingEnabled() ? tracer.getSegment() : undefined;
      const subsegment = segment?.addNewSubsegment(`## ${process.env._HANDLER ?? 'handler'}`);
      if (subsegment) {
        tracer.setSegment(subsegment);
        tracer.annotateColdStart();
        tracer.addServiceNameAnnotation();
      }
      try {
        // The response is not added as trace metadata: it holds message previews (customer text).
        return await handler(event as never, context);
      } catch (error) {
        logger.error('invocation failed', error as Error);
        if (subsegment) tracer.addErrorAsMetadata(error as Error);
        throw error;
      } finally {
        if (subsegment && segment) {
          subsegment.close();
          tracer.setSegment(segment);
        }
        // Without the guard Powertools warns "No application metrics to publish" on every quiet call.
        if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
        else metrics.clearDimensions();
        logger.resetKeys();
      }
    };
    // Same parameters and result as the handler: only the type checker cannot see it through the generic.
    return wrapped as unknown as Instrumented<H>;
  };

  return { logger, metrics, tracer, instrument };
};
