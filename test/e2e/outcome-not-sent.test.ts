import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scheduleNameOf } from '../../contracts/escalation';
import { OUTCOME_DETAIL_TYPES, type NotificationOutcome } from '../../contracts/outcomes';
import type { NotificationEnvelope } from '../../contracts/envelope';
import { QUEUE_NAME_REUSE_DELAY_MS } from '../../local/emulators/sqs';
import { writeLocalOutputs } from '../../local/runtime/outputs-file';
import { seededDevices } from '../../local/runtime/seed';
import { startLocalStack, type LocalStack } from '../../local/runtime/stack';
import { main } from '../../ops/replay/main';
import { customerMessage } from '../support/messages';

/**
 * An outcome the workflow cannot send (the outcomes queue is gone) on the whole local runtime: the
 * execution fails with OutcomeNotSent instead of ending quietly, the Pipe dead-letters the batch,
 * and `npm run replay -- --dlq` brings the outcome to the bus once the queue is back, which is what
 * escalation needs. Nothing is lost: the message is in every inbox and its batch in the DLQ.
 */

describe('an outcome that cannot be sent, on the local runtime', () => {
  let stack: LocalStack;
  let offset = 0;
  const outputsPath = join(tmpdir(), `convo-notify-outcome-not-sent-outputs-${process.pid}.json`);

  beforeAll(async () => {
    stack = await startLocalStack({ retryIntervalMs: 0, pipeBatchingWindowMs: 5, pipeRetryBaseDelayMs: 20, clock: () => Date.now() + offset });
    writeLocalOutputs(stack, outputsPath);
  });
  afterAll(async () => {
    await stack.stop();
    rmSync(outputsPath, { force: true });
  });

  const queueName = (url: string) => url.split('/').pop()!;
  const dlq = () => stack.sqs.peek(queueName(stack.config.pipeDlqUrl));
  const supportDevices = () => {
    const support = new Set(stack.seed.agents.filter((a) => a.teams?.includes('support')).map((a) => a.agentId));
    return seededDevices(stack.seed).filter((d) => support.has(d.agentId)).map((d) => d.clientId);
  };
  type Message = ReturnType<typeof customerMessage>;
  const inboxOf = (clientId: string, m: Message): NotificationEnvelope[] =>
    stack.sqs
      .peek(`${stack.config.inboxQueueNamePrefix}${clientId}.fifo`)
      .map((x) => JSON.parse(x.body) as NotificationEnvelope)
      .filter((n) => n.conversationId === m.conversationId && n.messageId === m.messageId);
  const executionsOf = (m: Message) => stack.runner.executions().filter((e) => JSON.stringify(e.input).includes(`"messageId":"${m.messageId}"`));
  const outcomeEventsOf = (m: Message) => stack.eventBus.events.filter((e) => (e.event.detail as Partial<NotificationOutcome>).messageId === m.messageId);
  const escalationsOf = (m: Message) => stack.escalation.escalations().filter((e) => e.conversationId === m.conversationId && e.messageId === m.messageId);

  it('fails every execution with OutcomeNotSent and dead-letters the batch after delivering to every inbox; a --dlq replay then puts the outcome on the bus and escalates once', async () => {
    const team = supportDevices();
    expect(team.length).toBeGreaterThan(0);
    // createdAt now: the answer timer (createdAt + 5 minutes) stays in the future throughout.
    const m = customerMessage({ teamId: 'support', createdAt: new Date().toISOString() });
    stack.sqs.deleteQueue({ QueueUrl: stack.config.outcomesQueueUrl });

    await stack.putMessage(m);
    await stack.settle();

    const failed = executionsOf(m);
    expect(failed.length).toBeGreaterThan(1);
    for (const e of failed) {
      expect(e.status).toBe('FAILED');
      expect(e.error?.Error).toBe('OutcomeNotSent');
      expect(e.error?.Cause).toContain(`SendOutcome failed after its retries (SQS.QueueDoesNotExist`);
      expect(e.error?.Cause).toContain(`notification ${m.conversationId}/${m.messageId}#created`);
      expect(e.path.slice(-3)).toEqual(['SendOutcome', 'DescribeOutcomeNotSent', 'OutcomeNotSent']);
    }
    // Delivered and dead-lettered, never silently done: the DLQ keeps the batch for a replay.
    for (const clientId of team) expect(inboxOf(clientId, m)).toHaveLength(1);
    expect(dlq()).toHaveLength(1);
    expect(outcomeEventsOf(m)).toEqual([]);
    expect(escalationsOf(m)).toEqual([]);

    // SQS refuses a deleted queue's name for a while; the stack's clock moves past that.
    offset += QUEUE_NAME_REUSE_DELAY_MS + 1_000;
    stack.sqs.createQueue({ QueueName: queueName(stack.config.outcomesQueueUrl) });
    const out: string[] = [];
    const code = await main(['--outputs', outputsPath, '--dlq'], { out: (t) => out.push(t), err: (t) => out.push(t) });
    await stack.settle();

    expect({ code, out: out.join('\n') }).toEqual({ code: 0, out: expect.stringContaining('summary: replayed 1, skipped 0, failed 0') });
    expect(dlq()).toEqual([]);
    const [event, ...more] = outcomeEventsOf(m);
    expect(more).toEqual([]);
    expect(event.event['detail-type']).toBe(OUTCOME_DETAIL_TYPES.fannedOut);
    expect((event.event.detail as NotificationOutcome).counts).toEqual({ devices: team.length, online: 0, pushed: 0, pushFailures: 0, inboxed: team.length });
    expect(escalationsOf(m).map((e) => e.reason)).toEqual(['nobody-online']);
    expect(stack.escalation.scheduler.get(stack.escalation.scheduleGroupName, scheduleNameOf(m))).toBeDefined();
    // Within SQS's 5-minute deduplication window the replay's inbox sends were dropped: still one copy each.
    for (const clientId of team) expect(inboxOf(clientId, m)).toHaveLength(1);
  }, 60_000);
});
