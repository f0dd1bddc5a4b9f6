import { TASK_ENV } from '../support/task-env';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ANSWER_TIMER_ENV, ESCALATE_ENV } from '../../contracts/escalation';
import { captureLogs } from '../support/logs';

/**
 * What every task Lambda does at load and per invocation through tasks/shared/observability.ts:
 * each SDK client it creates at module scope is captured by the Tracer, and the event is logged
 * with execution data on only by the handlers whose events carry no credentials. Each handler is
 * loaded in a fresh module registry, so the spies and the environment apply at its cold start.
 */

/** Enough environment for every handler to load; nothing here is called. */
const LOAD_ENV = {
  STALE_DEVICE_DAYS: '30',
  INBOX_QUEUE_URL_PREFIX: 'https://sqs.us-east-1.amazonaws.com/123456789012/convo-notify-inbox-',
  CONVO_HISTORY_TABLE_NAME: 'CONVO_HISTORY',
  TOKEN_ISSUER: 'https://issuer.example.com',
  TOKEN_AUDIENCE: 'convo-notify',
  JWKS_URI: 'https://issuer.example.com/.well-known/jwks.json',
  IOT_ARN_PREFIX: 'arn:aws:iot:us-east-1:123456789012',
  [ESCALATE_ENV.topicArn]: 'arn:aws:sns:us-east-1:123456789012:convo-notify-escalation',
  [ESCALATE_ENV.markersTableName]: 'convo-notify-escalation-markers',
  [ANSWER_TIMER_ENV.answerWithinMinutes]: '0',
  [ANSWER_TIMER_ENV.groupName]: 'convo-notify-answer-timers',
  [ANSWER_TIMER_ENV.targetArn]: 'arn:aws:lambda:us-east-1:123456789012:function:convo-notify-escalate',
  [ANSWER_TIMER_ENV.roleArn]: 'arn:aws:iam::123456789012:role/convo-notify-scheduler',
  [ANSWER_TIMER_ENV.dlqArn]: 'arn:aws:sqs:us-east-1:123456789012:convo-notify-schedule-dlq',
};

type Loaded = { handler: (event: unknown, context?: unknown) => Promise<unknown> };

/** Loads a handler in its own registry with `env`, and returns the names of the clients the Tracer captured. */
const load = async (task: string, env: Record<string, string> = {}): Promise<{ captured: string[]; handler: Loaded['handler'] }> => {
  const saved = { ...process.env };
  Object.assign(process.env, TASK_ENV, LOAD_ENV, env);
  try {
    let captured: string[] = [];
    let handler: Loaded['handler'] = async () => undefined;
    await jest.isolateModulesAsync(async () => {
      const { Tracer } = await import('@aws-lambda-powertools/tracer');
      const spy = jest.spyOn(Tracer.prototype, 'captureAWSv3Client');
      ({ handler } = (await import(`../../tasks/${task}/handler`)) as Loaded);
      captured = spy.mock.calls.map(([client]) => (client as object).constructor.name).sort();
    });
    return { captured, handler };
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
};

afterEach(() => {
  jest.restoreAllMocks();
});

describe('task Lambdas: Powertools instrumentation', () => {
  it.each([
    ['agent-api', ['DynamoDBClient', 'RDSDataClient', 'SQSClient']],
    ['apply-schema', ['RDSDataClient']],
    ['check-presence', ['DynamoDBClient']],
    ['deactivate-devices', ['DynamoDBClient', 'RDSDataClient']],
    ['record-presence', ['DynamoDBClient']],
    ['resolve-recipients', ['RDSDataClient']],
    ['escalate', ['DynamoDBClient', 'SNSClient']],
    ['answer-timer', ['SchedulerClient']],
    ['iot-authorizer', []],
    ['normalize-batch', []],
  ])('%s: the Tracer captures each SDK client it creates (%j)', async (task, clients) => {
    expect((await load(task)).captured).toEqual(clients);
  });

  it('creates no SDK client anywhere under tasks/ without capturing it, in any handler added later too', () => {
    const root = join(__dirname, '..', '..', 'tasks');
    const files = (readdirSync(root, { recursive: true }) as string[]).filter((file) => file.endsWith('.ts')).map((file) => join(root, file));
    const uncaptured = files.flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/new ([A-Z]\w*Client)\(/g)]
        .filter((match) => !match.input.slice(0, match.index).endsWith('captureAWSv3Client('))
        .map((match) => `${relative(root, file)}: ${match[1]}`),
    );
    expect(files.length).toBeGreaterThan(10);
    expect(uncaptured).toEqual([]);
  });

  const EVENT_LOGGED = 'Lambda invocation event';
  it.each<[string, boolean, unknown]>([
    ['normalize-batch', true, []],
    ['record-presence', true, { eventType: 'connect_failed', clientId: 'dev-1', timestamp: 1 }],
    ['agent-api', false, { routeKey: 'GET /nowhere', headers: { authorization: 'Bearer secret-token' } }],
    ['iot-authorizer', false, { protocolData: { http: { queryString: 'token=secret-token' } } }],
    ['apply-schema', false, { RequestType: 'Delete', PhysicalResourceId: 'recipients-schema', ResponseURL: 'https://presigned.example/secret-token' }],
  ])('%s: with execution data on, the event is logged: %s', async (task, logged, event) => {
    const { handler } = await load(task, { POWERTOOLS_LOGGER_LOG_EVENT: 'true', LOG_LEVEL: 'INFO' });
    const logs = captureLogs();
    await handler(event).catch(() => undefined);
    expect(logs.some((line) => line.message === EVENT_LOGGED)).toBe(logged);
    if (!logged) expect(JSON.stringify(logs)).not.toContain('secret-token');
  });

  it('normalize-batch: without execution data the event is not logged', async () => {
    const { handler } = await load('normalize-batch', { POWERTOOLS_LOGGER_LOG_EVENT: 'false', LOG_LEVEL: 'INFO' });
    const logs = captureLogs();
    await handler([]);
    expect(logs.filter((line) => line.message === EVENT_LOGGED)).toEqual([]);
  });
});
