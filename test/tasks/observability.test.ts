import '../support/task-env';
import type { Context } from 'aws-lambda';
import { observability } from '../../tasks/shared/observability';
import { captureOutput, metricPoints } from '../support/logs';

/** A Lambda context as the runtime passes it; only the fields the Logger reads matter. */
const contextOf = (awsRequestId: string): Context =>
  ({
    awsRequestId,
    functionName: 'convo-notify-check-presence',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:convo-notify-check-presence',
    memoryLimitInMB: '256',
    logGroupName: '/aws/lambda/convo-notify-check-presence',
    logStreamName: '2026/12/01/[$LATEST]abc',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }) as Context;

class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

beforeEach(() => {
  // Set by Lambda; without it Powertools reports no cold start at all.
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
});
afterEach(() => {
  jest.restoreAllMocks();
  delete process.env.POWERTOOLS_LOGGER_LOG_EVENT;
  delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
});

describe('observability (Powertools Logger, Metrics and Tracer of a task)', () => {
  it('puts the request id of the Lambda context and the cold start on every line of the invocation', async () => {
    const { logger, instrument } = observability('svc');
    const handler = instrument(async (event: { n: number }) => {
      logger.info('working', { n: event.n });
      return event.n;
    });
    const out = captureOutput();
    await handler({ n: 1 }, contextOf('req-1'));
    await handler({ n: 2 }, contextOf('req-2'));
    expect(out.logs.map(({ message, function_request_id, cold_start, service, n }) => ({ message, function_request_id, cold_start, service, n }))).toEqual([
      { message: 'working', function_request_id: 'req-1', cold_start: true, service: 'svc', n: 1 },
      { message: 'working', function_request_id: 'req-2', cold_start: false, service: 'svc', n: 2 },
    ]);
    // The log group names the function; these two only cost bytes.
    expect(out.logs[0]).not.toHaveProperty('function_arn');
    expect(out.logs[0]).not.toHaveProperty('function_memory_size');
    expect(out.logs[0]).toHaveProperty('function_name', 'convo-notify-check-presence');
  });

  it('logs a failed invocation at ERROR with the error name, message, stack and cause, and rethrows it', async () => {
    const { instrument } = observability('svc');
    const cause = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const handler = instrument(async () => {
      throw new StoreError('the PRESENCE table could not be read', { cause });
    });
    const out = captureOutput();
    await expect(handler({}, contextOf('req-err'))).rejects.toThrow(StoreError);
    expect(out.logs).toHaveLength(1);
    const [line] = out.logs;
    expect(line).toMatchObject({
      level: 'ERROR',
      message: 'invocation failed',
      function_request_id: 'req-err',
      error: {
        name: 'StoreError',
        message: 'the PRESENCE table could not be read',
        stack: expect.stringContaining('StoreError: the PRESENCE table could not be read'),
        cause: { name: 'ThrottlingException', message: 'Rate exceeded', stack: expect.stringContaining('Rate exceeded') },
      },
    });
  });

  it('logs an error passed as a field with its stack and cause too', () => {
    const { logger } = observability('svc');
    const out = captureOutput();
    logger.warn('database unavailable', { error: new StoreError('resuming', { cause: new TypeError('socket hang up') }) });
    expect(out.logs[0]).toMatchObject({
      level: 'WARN',
      error: { name: 'StoreError', message: 'resuming', stack: expect.any(String), cause: { name: 'TypeError', message: 'socket hang up' } },
    });
  });

  it('keeps empty and null fields: an empty client id is what a "device skipped" line is about', () => {
    const { logger } = observability('svc');
    const out = captureOutput();
    logger.warn('device skipped', { clientId: '', agentId: null, problem: undefined });
    expect(out.logs).toEqual([expect.objectContaining({ level: 'WARN', message: 'device skipped', clientId: '', agentId: null })]);
    expect(out.logs[0]).not.toHaveProperty('problem');
  });

  it('never lets a field replace a standard key: the request id field is kept as field_<name>, a reserved one is refused with a warning', async () => {
    const { logger, instrument } = observability('svc');
    const out = captureOutput();
    await instrument(async () => logger.info('claimed', { function_request_id: 'spoofed', cold_start: 'x' }))({}, contextOf('req-real'));
    expect(out.logs).toEqual([
      expect.objectContaining({ message: 'claimed', function_request_id: 'req-real', field_function_request_id: 'spoofed', cold_start: true, field_cold_start: 'x' }),
    ]);
    const refused = captureOutput();
    logger.info('stale', { timestamp: 1 });
    expect(refused.logs.map(({ level, message }) => ({ level, message }))).toEqual([
      { level: 'WARN', message: 'The key "timestamp" is a reserved key and will be dropped.' },
      { level: 'INFO', message: 'stale' },
    ]);
    expect(typeof refused.logs[1].timestamp).toBe('string');
  });

  it('flushes the metrics of the invocation as one EMF object in the ConvoNotify namespace, also when the handler throws', async () => {
    const { metrics, instrument } = observability('svc');
    const handler = instrument(async (event: { fail: boolean }) => {
      metrics.addMetric('Things', 'Count', 3);
      if (event.fail) throw new StoreError('boom');
    });
    const out = captureOutput();
    await handler({ fail: false }, contextOf('req-a'));
    await expect(handler({ fail: true }, contextOf('req-b'))).rejects.toThrow('boom');
    const things = out.metrics.filter((emf) => 'Things' in emf);
    expect(things).toHaveLength(2);
    for (const emf of things) {
      expect(emf).toEqual({
        _aws: { Timestamp: expect.any(Number), CloudWatchMetrics: [{ Namespace: 'ConvoNotify', Dimensions: [['service']], Metrics: [{ Name: 'Things', Unit: 'Count' }] }] },
        service: 'svc',
        Things: 3,
      });
    }
  });

  it('emits the ColdStart metric once, on the first invocation, with the function name', async () => {
    const { instrument } = observability('svc');
    const handler = instrument(async () => undefined);
    const out = captureOutput();
    await handler({}, contextOf('req-1'));
    await handler({}, contextOf('req-2'));
    expect(metricPoints(out.metrics)).toEqual([
      { name: 'ColdStart', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'svc', function_name: 'convo-notify-check-presence' } },
    ]);
  });

  it('prints nothing when an invocation measured nothing (no "No application metrics" warning)', async () => {
    const { instrument } = observability('svc');
    const handler = instrument(async () => 'done');
    captureOutput(); // the cold start's own line
    await handler({}, contextOf('req-1'));
    const out = captureOutput();
    await handler({}, contextOf('req-2'));
    expect(out).toEqual({ logs: [], metrics: [] });
  });

  it('does not carry a dimension of one invocation into the next', async () => {
    const { metrics, instrument } = observability('svc');
    const handler = instrument(async (event: { route?: string }) => {
      if (event.route) {
        metrics.addDimension('route', event.route);
        metrics.addMetric('Requests', 'Count', 1);
      } else {
        metrics.addDimension('route', 'never-flushed');
      }
    });
    captureOutput(); // the cold start's own line
    await handler({}, contextOf('req-1'));
    const out = captureOutput();
    await handler({}, contextOf('req-2'));
    await handler({ route: 'claim' }, contextOf('req-3'));
    expect(metricPoints(out.metrics)).toEqual([{ name: 'Requests', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'svc', route: 'claim' } }]);
  });

  it('logs the event only when the deployment logs execution data and the handler allows it', async () => {
    const run = async (logEvent: string | undefined, allowed: boolean) => {
      if (logEvent === undefined) delete process.env.POWERTOOLS_LOGGER_LOG_EVENT;
      else process.env.POWERTOOLS_LOGGER_LOG_EVENT = logEvent;
      const { instrument } = observability('svc');
      const out = captureOutput();
      await instrument(async () => undefined, { logEventWithExecutionData: allowed })({ preview: 'customer text' }, contextOf('req'));
      jest.restoreAllMocks();
      return out.logs.filter((line) => line.message === 'Lambda invocation event').map((line) => line.event);
    };
    expect(await run(undefined, true)).toEqual([]);
    expect(await run('false', true)).toEqual([]);
    expect(await run('true', false)).toEqual([]);
    expect(await run('true', true)).toEqual([{ preview: 'customer text' }]);
  });

  it('runs a handler called without a context (local runtime, tests), without request id', async () => {
    const { logger, instrument } = observability('svc');
    const out = captureOutput();
    await instrument(async () => logger.info('hello'))({});
    expect(out.logs).toEqual([expect.objectContaining({ message: 'hello', service: 'svc' })]);
    expect(out.logs[0]).not.toHaveProperty('function_request_id');
  });

  it('leaves the tracer off outside Lambda, so SDK clients are returned as they are', () => {
    const { tracer } = observability('svc');
    expect(tracer.isTracingEnabled()).toBe(false);
    const client = { send: jest.fn(), middlewareStack: {} };
    expect(tracer.captureAWSv3Client(client)).toBe(client);
  });
});
