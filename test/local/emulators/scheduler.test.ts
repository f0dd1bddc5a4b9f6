import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  SchedulerClient,
  type CreateScheduleCommandInput,
} from '@aws-sdk/client-scheduler';
import { listen, type Listening } from '../../../local/emulators/listen';
import { LocalScheduler, type SchedulerDeadLetter } from '../../../local/emulators/scheduler';

const GROUP = 'convo-notify-answer-timers';
const TARGET = 'arn:aws:lambda:us-east-1:000000000000:function:escalate';
const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };

/** at(...) of a time `ms` from now, rounded up to the second. */
const atIn = (ms: number) => `at(${new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toISOString().slice(0, 19)})`;

const scheduleInput = (name: string, overrides: Partial<CreateScheduleCommandInput> = {}): CreateScheduleCommandInput => ({
  Name: name,
  GroupName: GROUP,
  ScheduleExpression: atIn(1000),
  ScheduleExpressionTimezone: 'UTC',
  FlexibleTimeWindow: { Mode: 'OFF' },
  ActionAfterCompletion: 'DELETE',
  Target: {
    Arn: TARGET,
    RoleArn: 'arn:aws:iam::000000000000:role/scheduler',
    Input: JSON.stringify({ hello: name }),
    DeadLetterConfig: { Arn: 'arn:aws:sqs:us-east-1:000000000000:schedule-dlq' },
    RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60 },
  },
  ...overrides,
});

describe('local scheduler endpoint (contract with @aws-sdk/client-scheduler)', () => {
  let endpoint: Listening;
  let scheduler: LocalScheduler;
  let client: SchedulerClient;
  let invoked: unknown[];
  let letters: SchedulerDeadLetter[];

  beforeEach(async () => {
    invoked = [];
    letters = [];
    scheduler = new LocalScheduler({
      region: 'us-east-1',
      accountId: '000000000000',
      groups: [GROUP],
      targets: { [TARGET]: async (input) => void invoked.push(input) },
      deadLetter: async (letter) => void letters.push(letter),
      retryDelayMs: 1,
    });
    endpoint = await listen(scheduler.handle);
    client = new SchedulerClient({ endpoint: endpoint.url, region: 'us-east-1', credentials });
  });
  afterEach(async () => {
    client.destroy();
    await scheduler.close();
    await endpoint.close();
  });

  it('creates a schedule, returns its ARN, and describes it with GetSchedule and ListSchedules', async () => {
    const input = scheduleInput('s-1', { ScheduleExpression: 'at(2099-01-02T03:04:05)' });
    const { ScheduleArn } = await client.send(new CreateScheduleCommand(input));
    expect(ScheduleArn).toBe(`arn:aws:scheduler:us-east-1:000000000000:schedule/${GROUP}/s-1`);

    const got = await client.send(new GetScheduleCommand({ Name: 's-1', GroupName: GROUP }));
    expect(got).toMatchObject({
      Arn: ScheduleArn,
      Name: 's-1',
      GroupName: GROUP,
      ScheduleExpression: 'at(2099-01-02T03:04:05)',
      ScheduleExpressionTimezone: 'UTC',
      State: 'ENABLED',
      ActionAfterCompletion: 'DELETE',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: input.Target,
    });
    expect(got.CreationDate).toBeInstanceOf(Date);

    const listed = await client.send(new ListSchedulesCommand({ GroupName: GROUP }));
    expect(listed.Schedules).toEqual([expect.objectContaining({ Name: 's-1', GroupName: GROUP, State: 'ENABLED', Target: { Arn: TARGET } })]);
  });

  it('refuses a second schedule of the same name in the group as ConflictException', async () => {
    await client.send(new CreateScheduleCommand(scheduleInput('s-1', { ScheduleExpression: 'at(2099-01-02T03:04:05)' })));
    await expect(client.send(new CreateScheduleCommand(scheduleInput('s-1')))).rejects.toMatchObject({
      name: 'ConflictException',
      message: 'Schedule s-1 already exists.',
      $metadata: expect.objectContaining({ httpStatusCode: 409 }),
    });
  });

  it('deletes a schedule, and answers ResourceNotFoundException for one that is not there', async () => {
    await client.send(new CreateScheduleCommand(scheduleInput('s-1', { ScheduleExpression: 'at(2099-01-02T03:04:05)' })));
    await client.send(new DeleteScheduleCommand({ Name: 's-1', GroupName: GROUP }));
    expect(scheduler.list()).toEqual([]);
    await expect(client.send(new DeleteScheduleCommand({ Name: 's-1', GroupName: GROUP }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(client.send(new GetScheduleCommand({ Name: 's-1', GroupName: GROUP }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('refuses an unknown group, an invalid name and what it does not emulate, as AWS error names', async () => {
    await expect(client.send(new CreateScheduleCommand(scheduleInput('s-1', { GroupName: 'nope' })))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(client.send(new CreateScheduleCommand(scheduleInput('has space')))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(client.send(new CreateScheduleCommand(scheduleInput('s-2', { ScheduleExpression: 'rate(5 minutes)' })))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('one-time at(yyyy-mm-ddThh:mm:ss) schedules only'),
    });
    await expect(client.send(new CreateScheduleCommand(scheduleInput('s-3', { ScheduleExpressionTimezone: 'Europe/Paris' })))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('UTC only'),
    });
    expect(scheduler.list()).toEqual([]);
  });

  it('invokes the target with the parsed Input when the schedule is due, then deletes it (ActionAfterCompletion DELETE)', async () => {
    await client.send(new CreateScheduleCommand(scheduleInput('s-1', { ScheduleExpression: atIn(300) })));
    expect(invoked).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await scheduler.idle();
    expect(invoked).toEqual([{ hello: 's-1' }]);
    expect(scheduler.list()).toEqual([]);
    expect(scheduler.activity.map((a) => a.type)).toEqual(['created', 'invoked', 'deleted']);
  });

  it('keeps a completed schedule whose ActionAfterCompletion is NONE, and fires a deleted one never', async () => {
    await client.send(new CreateScheduleCommand(scheduleInput('kept', { ScheduleExpression: atIn(0), ActionAfterCompletion: 'NONE' })));
    await client.send(new CreateScheduleCommand(scheduleInput('gone', { ScheduleExpression: atIn(800) })));
    await client.send(new DeleteScheduleCommand({ Name: 'gone', GroupName: GROUP }));
    await new Promise((resolve) => setTimeout(resolve, 1900));
    await scheduler.idle();
    expect(invoked).toEqual([{ hello: 'kept' }]);
    expect(scheduler.list().map((s) => s.name)).toEqual(['kept']);
  });

  it('shortens every wait by the time scale', async () => {
    scheduler.timeScale = 0.001;
    await client.send(new CreateScheduleCommand(scheduleInput('s-1', { ScheduleExpression: atIn(60_000) })));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await scheduler.idle();
    expect(invoked).toEqual([{ hello: 's-1' }]);
  });

  it('retries a failing target MaximumRetryAttempts times, then sends a dead letter and deletes the schedule', async () => {
    let calls = 0;
    scheduler.setTarget(TARGET, async () => {
      calls += 1;
      throw Object.assign(new Error('boom'), { name: 'EscalationPublishError' });
    });
    await client.send(new CreateScheduleCommand(scheduleInput('s-1', { ScheduleExpression: atIn(0) })));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await scheduler.idle();
    expect(calls).toBe(3);
    expect(letters).toEqual([
      { scheduleArn: `arn:aws:scheduler:us-east-1:000000000000:schedule/${GROUP}/s-1`, targetArn: TARGET, input: '{"hello":"s-1"}', attempts: 3, error: 'EscalationPublishError: boom' },
    ]);
    expect(scheduler.list()).toEqual([]);
  });
});
