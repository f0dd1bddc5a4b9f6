import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { scheduleNameOf } from '../../contracts/escalation';
import { OUTCOME_DETAIL_TYPES, OUTCOME_EVENT_SOURCE } from '../../contracts/outcomes';
import type { DynamoDbStreamRecord } from '../../local/emulators/dynamodb';
import type { LocalEscalation } from '../../local/runtime/escalation';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../local/runtime/stack';
import { connectSeededDevice, type OnlineDevice } from '../support/devices';
import { customerMessage } from '../support/messages';

/**
 * Escalation on the local runtime (docs/escalation.md): the real workflow sends its outcomes to the
 * outcomes queue, the local pipe puts them on the local bus, whose rules invoke the real escalate
 * and answer-timer handlers; the answer timer creates schedules on the local Scheduler through
 * @aws-sdk/client-scheduler, which fire the escalate handler. The timer is 2 seconds here.
 */

const ANSWER_WITHIN_SECONDS = 2;

const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Message = ReturnType<typeof customerMessage>;

describe('escalation end to end', () => {
  let stack: LocalStack;
  let scheduler: SchedulerClient;
  const records: DynamoDbStreamRecord[] = [];
  const devices: OnlineDevice[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ retryIntervalMs: 0, pipeBatchingWindowMs: 5, answerWithinSeconds: ANSWER_WITHIN_SECONDS });
    scheduler = new SchedulerClient({ endpoint: stack.endpoints.scheduler, region: stack.config.region, credentials: LOCAL_CREDENTIALS });
    stack.dynamodb.onStreamRecord((record) => records.push(record));
  });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.close()));
    await stack.settle();
  });
  afterAll(async () => {
    scheduler.destroy();
    await stack.stop();
  });

  /** A customer message to the support team (alice, bob, carol), sent now. */
  const send = async (overrides: Record<string, unknown> = {}): Promise<Message> => {
    const message = customerMessage({ teamId: 'support', createdAt: new Date().toISOString(), ...overrides });
    await stack.putMessage(message);
    await stack.settle();
    return message;
  };
  const escalationsOf = (m: Message): LocalEscalation[] =>
    stack.escalation.escalations().filter((e) => e.conversationId === m.conversationId && e.messageId === m.messageId);
  const claim = async (m: Message, agentId: string) => {
    await stack.claimMessage(m, agentId);
    await stack.settle();
  };
  const scheduleOf = (m: Message) => stack.escalation.scheduler.get(stack.escalation.scheduleGroupName, scheduleNameOf(m));
  const recordsOf = (m: Message) => records.filter((r) => r.dynamodb.Keys?.messageId?.S === m.messageId && r.dynamodb.Keys?.conversationId?.S === m.conversationId);
  const online = async (agentId: string, label: string) => {
    devices.push(await connectSeededDevice(stack, agentId, label));
    await stack.settle();
  };
  /** Past the message's timer, and past anything it set off. */
  const pastTheTimer = async () => {
    await sleep((ANSWER_WITHIN_SECONDS + 1.5) * 1000);
    await stack.settle();
  };

  it('escalates a message whose devices are all offline once, as nobody-online, with tenant and conversation in the body', async () => {
    const m = await send();
    await until('the nobody-online escalation', () => escalationsOf(m).length > 0);
    const [escalation] = escalationsOf(m);
    expect(escalation).toMatchObject({ reason: 'nobody-online', tenantId: 'acme', subject: expect.stringMatching(/acme$/) });
    expect(escalation.message).toContain('Tenant:       acme');
    expect(escalation.message).toContain('Devices:      4 found, 0 online, 4 inboxed');
    expect(escalation.message).not.toContain(m.body);

    // Answered before its timer: the nobody-online escalation stays the only one.
    await claim(m, 'alice');
    await pastTheTimer();
    expect(escalationsOf(m).map((e) => e.reason)).toEqual(['nobody-online']);
  });

  it('escalates an unrouted message (its audience has no device) once, as unrouted', async () => {
    const m = await send({ teamId: 'nobody-is-in-this-team' });
    await until('the unrouted escalation', () => escalationsOf(m).length > 0);
    await pastTheTimer();
    expect(escalationsOf(m).map((e) => e.reason)).toEqual(['unrouted']);
    expect(scheduleOf(m)).toBeUndefined();
  });

  it('does not escalate a message claimed before its timer, and its schedule is gone', async () => {
    await online('bob', 'laptop');
    const m = await send();
    await until('the answer timer', () => scheduleOf(m) !== undefined);
    const schedule = await scheduler.send(new GetScheduleCommand({ Name: scheduleNameOf(m), GroupName: stack.escalation.scheduleGroupName }));
    expect(schedule.ScheduleExpression).toMatch(/^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$/);

    await claim(m, 'bob');
    await until('the schedule deleted', () => scheduleOf(m) === undefined);
    await expect(scheduler.send(new GetScheduleCommand({ Name: scheduleNameOf(m), GroupName: stack.escalation.scheduleGroupName }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await pastTheTimer();
    expect(escalationsOf(m)).toEqual([]);
  });

  it('escalates a message nobody claims once, as unanswered, although its record is delivered twice and replayed after the timer fired', async () => {
    await online('bob', 'laptop');
    const m = await send();
    const [record] = recordsOf(m);
    expect(record.eventName).toBe('INSERT');

    // The same stream record again, before the timer: the schedule exists already (ConflictException).
    stack.pipe.push(record);
    await stack.settle();
    await until('the unanswered escalation', () => escalationsOf(m).length > 0);
    expect(escalationsOf(m).map((e) => e.reason)).toEqual(['unanswered']);
    expect(scheduleOf(m)).toBeUndefined();

    // A late replay: the fired schedule was deleted, so a new one is made, one timer-length from now;
    // when it fires, the marker is there and nothing is published.
    stack.pipe.push(record);
    await stack.settle();
    await until('the replay schedule', () => scheduleOf(m) !== undefined || stack.escalation.scheduler.activity.filter((a) => a.name === scheduleNameOf(m) && a.type === 'created').length === 2);
    await pastTheTimer();
    const fired = stack.escalation.scheduler.activity.filter((a) => a.name === scheduleNameOf(m) && a.type === 'invoked');
    expect(fired).toHaveLength(2);
    expect(escalationsOf(m).map((e) => e.reason)).toEqual(['unanswered']);
  });

  it('keeps an event whose rule targets fail every attempt in the escalation rule DLQ, once per target', async () => {
    const bus = new EventBridgeClient({ endpoint: stack.endpoints.eventBridge, region: stack.config.region, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
    // Matches nobody-online and answer-timer-start, but is no notification outcome: both tasks refuse it.
    const out = await bus.send(
      new PutEventsCommand({
        Entries: [
          {
            Source: OUTCOME_EVENT_SOURCE,
            DetailType: OUTCOME_DETAIL_TYPES.fannedOut,
            Detail: JSON.stringify({ kind: 'created', counts: { online: 0 } }),
            EventBusName: stack.config.eventBusName,
          },
        ],
      }),
    );
    bus.destroy();
    await stack.settle();

    const eventId = out.Entries?.[0]?.EventId;
    const ruleDlq = stack.escalation.ruleDlqUrl.split('/').pop()!;
    const kept = stack.sqs.peek(ruleDlq).map((m) => JSON.parse(m.body) as { id: string; detail: unknown });
    expect(kept).toEqual([
      expect.objectContaining({ id: eventId, detail: { kind: 'created', counts: { online: 0 } } }),
      expect.objectContaining({ id: eventId, detail: { kind: 'created', counts: { online: 0 } } }),
    ]);
    const deliveries = stack.eventBus.events.find((e) => e.event.id === eventId)?.deliveries ?? [];
    expect(deliveries.map((d) => [d.rule, d.status]).sort()).toEqual([
      ['convo-notify-local-answer-timer-start', 'failed'],
      ['convo-notify-local-escalate-nobody-online', 'failed'],
    ]);
  });

  it('refuses the claim of a message that does not exist and creates no item for it', async () => {
    const missing = customerMessage({ teamId: 'support' });
    await expect(stack.claimMessage(missing, 'alice')).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
    const ddb = new DynamoDBClient({ endpoint: stack.endpoints.dynamodb, region: stack.config.region, credentials: LOCAL_CREDENTIALS });
    const got = await ddb.send(
      new GetItemCommand({ TableName: stack.config.convoHistoryTable, Key: { conversationId: { S: missing.conversationId }, messageId: { S: missing.messageId } } }),
    );
    ddb.destroy();
    expect(got.Item).toBeUndefined();
  });
});
