import type { EventPattern } from '../../contracts/event-pattern';
import { OUTCOME_DETAIL_TYPES, OUTCOME_EVENT_SOURCE, OutcomeSchema, type NotificationOutcome, type QuarantineOutcome } from '../../contracts/outcomes';
import type { EventBridgeEvent } from '../../local/emulators/eventbridge';
import { DEMO_DATA } from '../../local/runtime/seed';
import { startLocalStack, type LocalStack } from '../../local/runtime/stack';
import { connectSeededDevice, type OnlineDevice } from '../support/devices';
import { customerMessage } from '../support/messages';

/**
 * The outcome of every entry on the local runtime: the real ASL sends it to the outcomes queue,
 * the local outcomes pipe puts it on the bus (`<prefix>-events`) through the real EventBridge client,
 * and a rule registered like another team's (numeric online = 0) receives the whole event.
 */

const NOBODY_ONLINE: EventPattern = {
  source: [OUTCOME_EVENT_SOURCE],
  'detail-type': [OUTCOME_DETAIL_TYPES.fannedOut],
  detail: { kind: ['created'], counts: { online: [{ numeric: ['=', 0] }] } },
};

describe('outcome events on the local runtime', () => {
  let stack: LocalStack;
  const nobodyOnline: EventBridgeEvent[] = [];
  const devices: OnlineDevice[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ retryIntervalMs: 0, pipeBatchingWindowMs: 5, seed: DEMO_DATA });
    stack.eventBus.putRule({ name: 'nobody-online', eventPattern: NOBODY_ONLINE, target: async (event) => void nobodyOnline.push(event) });
  });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.close()));
    await stack.settle();
  });
  afterAll(async () => {
    await stack.stop();
  });

  const eventsAbout = (messageId: string) =>
    stack.eventBus.events.filter((e) => {
      const detail = e.event.detail as { messageId?: string; keys?: QuarantineOutcome['keys'] };
      return detail.messageId === messageId || detail.keys?.messageId === messageId;
    });
  const executionOf = (messageId: string) => stack.runner.executions().find((e) => JSON.stringify(e.input).includes(`"messageId":"${messageId}"`));

  it('puts a Notification Fanned Out event with online 0 when every device of the team is offline, and the rule on it fires once', async () => {
    const message = customerMessage({ teamId: 'sales' });
    await stack.putMessage(message);
    await stack.settle();

    const [received, ...more] = eventsAbout(message.messageId);
    expect(more).toEqual([]);
    expect(received.eventBusName).toBe(stack.config.eventBusName);
    expect(received.event).toMatchObject({ source: OUTCOME_EVENT_SOURCE, 'detail-type': OUTCOME_DETAIL_TYPES.fannedOut });
    const detail = OutcomeSchema.parse(received.event.detail) as NotificationOutcome;
    expect(detail).toMatchObject({
      conversationId: message.conversationId,
      tenantId: 'acme',
      kind: 'created',
      topic: 'team',
      createdAt: message.createdAt,
      counts: { devices: 2, online: 0, pushed: 0, pushFailures: 0, inboxed: 2 },
      executionId: executionOf(message.messageId)?.executionArn,
    });
    expect(nobodyOnline.filter((e) => (e.detail as NotificationOutcome).messageId === message.messageId)).toEqual([received.event]);
    expect(received.deliveries.filter((d) => d.rule === 'nobody-online')).toEqual([{ rule: 'nobody-online', status: 'delivered', attempts: 1 }]);
  });

  it('counts the push to an online device, and the nobody-online rule stays quiet', async () => {
    devices.push(await connectSeededDevice(stack, 'dave', 'laptop'));
    await stack.settle();
    const message = customerMessage({ teamId: 'sales' });
    await stack.putMessage(message);
    await stack.settle();

    const [received] = eventsAbout(message.messageId);
    expect((received.event.detail as NotificationOutcome).counts).toEqual({ devices: 2, online: 1, pushed: 1, pushFailures: 0, inboxed: 2 });
    expect(received.deliveries.filter((d) => d.rule === 'nobody-online')).toEqual([]);
    expect(nobodyOnline.filter((e) => (e.detail as NotificationOutcome).messageId === message.messageId)).toEqual([]);
  });

  it('puts a Notification Unrouted event with every count 0 for a team without devices', async () => {
    const message = customerMessage({ teamId: 'nobody-here' });
    await stack.putMessage(message);
    await stack.settle();

    const [received] = eventsAbout(message.messageId);
    expect(received.event['detail-type']).toBe(OUTCOME_DETAIL_TYPES.unrouted);
    expect((received.event.detail as NotificationOutcome).counts).toEqual({ devices: 0, online: 0, pushed: 0, pushFailures: 0, inboxed: 0 });
  });

  it('puts a Notification Quarantined event with the keys, field and reason of an invalid record, and no customer text', async () => {
    const bad = { ...customerMessage({ teamId: 'sales', body: 'my card number is 4111 1111 1111 1111' }), createdAt: 'yesterday' };
    await stack.putMessage(bad);
    await stack.settle();

    const [received] = eventsAbout(bad.messageId);
    expect(received.event['detail-type']).toBe(OUTCOME_DETAIL_TYPES.quarantined);
    expect(OutcomeSchema.parse(received.event.detail)).toMatchObject({
      keys: { conversationId: bad.conversationId, messageId: bad.messageId },
      field: 'NewImage.createdAt',
      eventName: 'INSERT',
    });
    expect(JSON.stringify(received.event)).not.toContain('4111');
  });

  it('puts one event per entry of every execution so far, and leaves nothing on the outcomes queue', async () => {
    const entries = stack.runner.executions().filter((e) => e.status === 'SUCCEEDED').reduce((n, e) => n + (e.input as unknown[]).length, 0);
    expect(entries).toBeGreaterThanOrEqual(4);
    expect(stack.eventBus.events).toHaveLength(entries);
    expect(stack.outcomesPipe.stats).toEqual({ received: entries, put: entries, kept: 0, deleteFailures: 0 });
    expect(stack.sqs.peek(stack.config.outcomesQueueUrl.split('/').pop()!)).toEqual([]);
  });
});
