import { DEFAULT_CONFIG } from '../../infra/config';
import {
  DEFAULT_LOG_SETTING,
  executionLogBytes,
  historyEvents,
  loggedAt,
  logEventText,
  LOG_SETTINGS,
  logSettingIndexOf,
  LogSettingError,
  type ExecutionLog,
  type LogModelOptions,
} from '../../bench/log-model';

const ARN = 'arn:aws:states:us-east-1:000000000000:express:fanout:exec-1:0b7c';
const PREVIEW = 'where is my order, it has not arrived';

const options: LogModelOptions = {
  states: new Map([
    ['Valid?', { type: 'Choice' }],
    ['SendToInbox', { type: 'Task', resource: 'arn:aws:states:::sqs:sendMessage' }],
    ['ResolveRecipients', { type: 'Task', resource: 'arn:aws:states:::lambda:invoke' }],
  ]),
  region: 'us-east-1',
  roleArn: 'arn:aws:iam::000000000000:role/fanout',
  sdkTaskResultBytes: 200,
  lambdaTaskResultOverheadBytes: 900,
};

const notification = { notification: { preview: PREVIEW } };

/** Valid? → SendToInbox, which is retried once, then succeeds. */
const execution: ExecutionLog = {
  executionArn: ARN,
  input: [notification],
  events: [
    { type: 'ExecutionStarted', at: 1 },
    { type: 'StateEntered', state: 'Valid?', at: 2, input: notification },
    { type: 'StateExited', state: 'Valid?', at: 3, output: notification },
    { type: 'StateEntered', state: 'SendToInbox', at: 4, input: notification },
    { type: 'StateRetried', state: 'SendToInbox', at: 5, error: 'Sqs.ThrottlingException', cause: 'slow down' },
    { type: 'StateExited', state: 'SendToInbox', at: 6, output: null },
    { type: 'ExecutionSucceeded', at: 7, output: [{ outcome: 'notified' }] },
  ],
};

describe('workflow log model (bench/log-model.ts)', () => {
  it('derives the history events AWS logs around each state the engine reports', () => {
    expect(historyEvents(execution, options).map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'ChoiceStateEntered',
      'ChoiceStateExited',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskFailed',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
  });

  it('logs every event at ALL, the failures at ERROR, the end of a failed execution at FATAL, nothing at OFF', () => {
    expect(['TaskFailed', 'MapIterationFailed', 'ExecutionFailed', 'ExecutionTimedOut'].every((t) => loggedAt(t, 'ERROR'))).toBe(true);
    expect(['TaskSucceeded', 'TaskStateEntered', 'ExecutionSucceeded'].some((t) => loggedAt(t, 'ERROR'))).toBe(false);
    expect(loggedAt('ExecutionFailed', 'FATAL')).toBe(true);
    expect(loggedAt('TaskFailed', 'FATAL')).toBe(false);
    expect(loggedAt('TaskStarted', 'ALL')).toBe(true);
    expect(loggedAt('ExecutionFailed', 'OFF')).toBe(false);

    expect(executionLogBytes(execution, { level: 'ALL', includeExecutionData: false }, options, 0).events).toBe(12);
    expect(executionLogBytes(execution, { level: 'ERROR', includeExecutionData: false }, options, 0).events).toBe(1);
    expect(executionLogBytes(execution, { level: 'FATAL', includeExecutionData: false }, options, 0).events).toBe(0);
    expect(executionLogBytes(execution, { level: 'OFF', includeExecutionData: false }, options, 26)).toEqual({ events: 0, bytes: 0 });
  });

  it('writes each event in the CloudWatch shape, with the data only when execution data is included', () => {
    const entered = historyEvents(execution, options)[3];
    const without = JSON.parse(logEventText(entered, 4, ARN, false)) as Record<string, unknown>;
    const withData = JSON.parse(logEventText(entered, 4, ARN, true)) as { details: { input: string } };

    expect(without).toEqual({
      id: '4',
      type: 'TaskStateEntered',
      details: { name: 'SendToInbox', inputDetails: { truncated: false } },
      previous_event_id: '3',
      event_timestamp: '4',
      execution_arn: ARN,
      redrive_count: '0',
    });
    expect(JSON.parse(withData.details.input)).toEqual(notification);
  });

  it('counts the bytes of every logged event plus the per-event overhead, customer text only with data', () => {
    const history = historyEvents(execution, options);
    const without = executionLogBytes(execution, { level: 'ALL', includeExecutionData: false }, options, 26);
    const withData = executionLogBytes(execution, { level: 'ALL', includeExecutionData: true }, options, 26);

    const expected = history.reduce((sum, e, i) => sum + Buffer.byteLength(logEventText(e, i + 1, ARN, false)) + 26, 0);
    expect(without.bytes).toBe(expected);
    expect(history.map((e, i) => logEventText(e, i + 1, ARN, false)).join('\n')).not.toContain(PREVIEW);
    // With data: the SDK task's result is modelled at 200 bytes, and the preview is logged.
    expect(withData.bytes - without.bytes).toBeGreaterThan(200 + 5 * PREVIEW.length);
    expect(history.map((e, i) => logEventText(e, i + 1, ARN, true)).join('\n')).toContain(PREVIEW);
  });

  it('sizes a Lambda task result as its state output plus the invoke envelope', () => {
    const lambda: ExecutionLog = {
      executionArn: ARN,
      input: {},
      events: [
        { type: 'StateEntered', state: 'ResolveRecipients', at: 1, input: {} },
        { type: 'StateExited', state: 'ResolveRecipients', at: 2, output: { devices: ['d1'] } },
      ],
    };
    const succeeded = historyEvents(lambda, options).find((e) => e.type === 'TaskSucceeded');
    expect(succeeded?.data.output).toHaveLength(JSON.stringify({ devices: ['d1'] }).length + 900);
  });

  it('marks as default the priced setting that infra/config.ts DEFAULT_CONFIG deploys', () => {
    expect(LOG_SETTINGS[DEFAULT_LOG_SETTING]).toEqual({ level: DEFAULT_CONFIG.workflowLogLevel, includeExecutionData: DEFAULT_CONFIG.logExecutionData });
  });

  it('refuses to index a log setting the bench does not price', () => {
    expect(() => logSettingIndexOf({ level: 'FATAL', includeExecutionData: false })).toThrow(
      new LogSettingError('the bench does not price workflow logs FATAL without data: add it to LOG_SETTINGS'),
    );
  });
});
