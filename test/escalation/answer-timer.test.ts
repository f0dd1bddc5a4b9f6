import { ESCALATION_TEST_ENV as ENV } from './env';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  ThrottlingException,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { scheduleNameOf, UnansweredTimerInputSchema } from '../../contracts/escalation';
import { OUTCOME_DETAIL_TYPES, ZERO_OUTCOME_COUNTS } from '../../contracts/outcomes';
import { atExpressionOf, handler, SchedulerUnavailableError, SCHEDULE_RETRY_POLICY } from '../../tasks/answer-timer/handler';
import { InvalidTaskInputError } from '../../tasks/shared/errors';
import { captureOutput, metricPoints, type CapturedOutput } from '../support/logs';
import { eventOf, outcomeOf } from './outcomes';

const scheduler = mockClient(SchedulerClient);
const NAME = scheduleNameOf({ conversationId: 'conv-1', messageId: 'msg-1' });
const created = (createdAt: string) => eventOf(outcomeOf({ createdAt, counts: { devices: 2, online: 1, pushed: 1, pushFailures: 0, inboxed: 2 } }));
const handled = eventOf(outcomeOf({ kind: 'handled', handledAt: '2026-12-01T10:02:00.000Z', notificationId: 'conv-1/msg-1#handled' }));

let output: CapturedOutput;
beforeEach(() => {
  scheduler.reset();
  jest.useFakeTimers({ now: new Date('2026-12-01T10:00:02.500Z') });
  output = captureOutput();
  scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: `arn:aws:scheduler:us-east-1:123456789012:schedule/${ENV.SCHEDULE_GROUP_NAME}/${NAME}` });
  scheduler.on(DeleteScheduleCommand).resolves({});
});
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('answer-timer', () => {
  it('creates a one-time schedule at createdAt + 5 minutes in UTC that invokes escalate with the unanswered input, with exact inputs', async () => {
    const result = await handler(created('2026-12-01T10:00:00.250Z'));

    expect(result).toEqual({ outcome: 'created', scheduleName: NAME, at: 'at(2026-12-01T10:05:01)' });
    const inputs = scheduler.commandCalls(CreateScheduleCommand).map((c) => c.args[0].input);
    expect(inputs).toEqual([
      {
        Name: NAME,
        GroupName: ENV.SCHEDULE_GROUP_NAME,
        ScheduleExpression: 'at(2026-12-01T10:05:01)',
        ScheduleExpressionTimezone: 'UTC',
        FlexibleTimeWindow: { Mode: 'OFF' },
        ActionAfterCompletion: 'DELETE',
        State: 'ENABLED',
        Target: {
          Arn: ENV.SCHEDULE_TARGET_ARN,
          RoleArn: ENV.SCHEDULE_ROLE_ARN,
          Input: expect.any(String),
          DeadLetterConfig: { Arn: ENV.SCHEDULE_DLQ_ARN },
          RetryPolicy: SCHEDULE_RETRY_POLICY,
        },
      },
    ]);
    expect(UnansweredTimerInputSchema.parse(JSON.parse(inputs[0].Target!.Input!))).toEqual({
      version: 1,
      reason: 'unanswered',
      tenantId: 'acme',
      conversationId: 'conv-1',
      messageId: 'msg-1',
      topic: 'team',
      createdAt: '2026-12-01T10:00:00.250Z',
      dueAt: '2026-12-01T10:05:00.250Z',
    });
    expect(metricPoints(output.metrics)).toContainEqual(expect.objectContaining({ name: 'AnswerTimersStarted', value: 1, dimensions: expect.objectContaining({ result: 'created' }) }));
  });

  it('rounds the time up to the second, never before it is due', () => {
    expect(atExpressionOf(Date.parse('2026-12-01T10:05:00.000Z'))).toBe('at(2026-12-01T10:05:00)');
    expect(atExpressionOf(Date.parse('2026-12-01T10:05:00.001Z'))).toBe('at(2026-12-01T10:05:01)');
    expect(atExpressionOf(Date.parse('2026-12-31T23:59:59.500Z'))).toBe('at(2027-01-01T00:00:00)');
  });

  it('schedules a late record (already past its time) one minute from now instead of in the past, with the due time it had', async () => {
    const result = await handler(created('2026-12-01T08:00:00.000Z'));
    expect(result).toMatchObject({ outcome: 'created', at: 'at(2026-12-01T10:01:03)' });
    const input = JSON.parse(scheduler.commandCalls(CreateScheduleCommand)[0].args[0].input.Target!.Input!);
    expect(input.dueAt).toBe('2026-12-01T08:05:00.000Z');
    expect(output.logs).toContainEqual(expect.objectContaining({ message: 'answer timer created for a message already past its time (late record)' }));
  });

  it('treats a schedule that exists already (duplicate or replayed record) as done', async () => {
    scheduler.on(CreateScheduleCommand).rejects(new ConflictException({ message: `Schedule ${NAME} already exists.`, Message: `Schedule ${NAME} already exists.`, $metadata: {} }));
    expect(await handler(created('2026-12-01T10:00:00.000Z'))).toEqual({ outcome: 'exists', scheduleName: NAME, at: 'at(2026-12-01T10:05:00)' });
    expect(metricPoints(output.metrics)).toContainEqual(expect.objectContaining({ name: 'AnswerTimersStarted', dimensions: expect.objectContaining({ result: 'exists' }) }));
  });

  it('deletes the schedule of a handled message, by name in its group', async () => {
    expect(await handler(handled)).toEqual({ outcome: 'deleted', scheduleName: NAME });
    expect(scheduler.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input)).toEqual([{ Name: NAME, GroupName: ENV.SCHEDULE_GROUP_NAME }]);
    expect(scheduler).not.toHaveReceivedCommand(CreateScheduleCommand);
  });

  it('treats a schedule already gone (fired, deleted before, never created) as done', async () => {
    scheduler.on(DeleteScheduleCommand).rejects(new ResourceNotFoundException({ message: `Schedule ${NAME} does not exist.`, Message: `Schedule ${NAME} does not exist.`, $metadata: {} }));
    expect(await handler(handled)).toEqual({ outcome: 'gone', scheduleName: NAME });
  });

  it('deletes the schedule for a handled message that is unrouted by now', async () => {
    await handler(eventOf(outcomeOf({ kind: 'handled', detailType: OUTCOME_DETAIL_TYPES.unrouted, counts: ZERO_OUTCOME_COUNTS })));
    expect(scheduler).toHaveReceivedCommandTimes(DeleteScheduleCommand, 1);
  });

  it('throws a named error for any other Scheduler failure, so the rule retries', async () => {
    scheduler.on(CreateScheduleCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', $metadata: {} }));
    await expect(handler(created('2026-12-01T10:00:00.000Z'))).rejects.toThrow(SchedulerUnavailableError);
    scheduler.on(DeleteScheduleCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', $metadata: {} }));
    await expect(handler(handled)).rejects.toThrow(/answer timer could not be deleted: ThrottlingException/);
  });

  it("refuses an event whose detail-type differs from its outcome's detailType, and creates or deletes no schedule", async () => {
    const mislabelled = { ...created('2026-12-01T10:00:00.000Z'), 'detail-type': OUTCOME_DETAIL_TYPES.unrouted };
    await expect(handler(mislabelled)).rejects.toThrow(InvalidTaskInputError);
    await expect(handler(mislabelled)).rejects.toThrow(/detail-type "Notification Unrouted" differs from the outcome's detailType "Notification Fanned Out"/);
    expect(scheduler).not.toHaveReceivedAnyCommand();
  });

  it('refuses a created unrouted outcome (its rule never sends one) and input that is no outcome event', async () => {
    await expect(handler(eventOf(outcomeOf({ detailType: OUTCOME_DETAIL_TYPES.unrouted, counts: ZERO_OUTCOME_COUNTS })))).rejects.toThrow(InvalidTaskInputError);
    await expect(handler({ detail: {} })).rejects.toThrow(/expected an outcome event/);
    expect(scheduler).not.toHaveReceivedAnyCommand();
  });
});

describe('answer-timer at cold start', () => {
  const load = (env: Record<string, string>) => {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require('../../tasks/answer-timer/handler');
      });
    } finally {
      process.env = saved;
    }
  };

  it('loads with ANSWER_WITHIN_MINUTES=0, as the local runtime loads it with the timer off', () => {
    expect(() => load({ ANSWER_WITHIN_MINUTES: '0' })).not.toThrow();
  });

  it('refuses to load without a schedule group, role, target and DLQ, whatever ANSWER_WITHIN_MINUTES holds', () => {
    for (const minutes of ['0', '5']) {
      expect(() => load({ ANSWER_WITHIN_MINUTES: minutes, SCHEDULE_GROUP_NAME: '', SCHEDULE_TARGET_ARN: '', SCHEDULE_ROLE_ARN: '', SCHEDULE_DLQ_ARN: '' })).toThrow(
        expect.objectContaining({ name: 'ConfigurationError' }),
      );
    }
  });
});
