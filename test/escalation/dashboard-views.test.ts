import { escalationViewOf, outcomeViewOf } from '../../local/dashboard/escalations';
import type { ReceivedEvent } from '../../local/emulators/eventbridge';
import { eventOf, outcomeOf } from './outcomes';

describe('dashboard escalation views', () => {
  it('shows an outcome event under its execution name, with its counts and what each matched rule did', () => {
    const detail = outcomeOf({ executionId: 'arn:aws:states:us-east-1:000000000000:execution:convo-notify-local-fanout:exec-42' });
    const received: ReceivedEvent = {
      eventBusName: 'convo-notify-local-events',
      receivedAt: 1_764_583_200_000,
      event: { ...eventOf(detail), version: '0' },
      deliveries: [
        { rule: 'convo-notify-local-escalate-nobody-online', status: 'delivered', attempts: 1 },
        { rule: 'convo-notify-local-answer-timer-start', status: 'failed', attempts: 3, error: 'SchedulerUnavailableError: throttled' },
      ],
    };
    expect(outcomeViewOf(received)).toEqual({
      id: 'event-1',
      receivedAt: 1_764_583_200_000,
      detailType: 'Notification Fanned Out',
      kind: 'created',
      conversationId: 'conv-1',
      messageId: 'msg-1',
      execution: 'exec-42',
      counts: detail.counts,
      deliveries: received.deliveries,
    });
  });

  it('shows a quarantined outcome by the keys it knows, without counts', () => {
    const received: ReceivedEvent = {
      eventBusName: 'b',
      receivedAt: 1,
      event: {
        version: '0',
        id: 'q-1',
        'detail-type': 'Notification Quarantined',
        source: 'convo-notify',
        account: '000000000000',
        time: '2026-12-01T10:00:00Z',
        region: 'us-east-1',
        resources: [],
        detail: { keys: { conversationId: 'c-9' }, executionId: 'x:y:run-1' },
      },
      deliveries: [],
    };
    expect(outcomeViewOf(received)).toMatchObject({ detailType: 'Notification Quarantined', conversationId: 'c-9', messageId: undefined, execution: 'run-1', deliveries: [] });
    expect(outcomeViewOf(received)).not.toHaveProperty('counts');
  });

  it('shows the conversation and message an escalation names, and the first line of its body as the summary', () => {
    const message = 'A customer has been waiting 6 min (not answered).\nNobody has answered.\n\nTenant:       acme\nConversation: c-1\nMessage:      m-1\n';
    expect(escalationViewOf({ snsMessageId: 's-1', reason: 'unanswered', tenantId: 'acme', conversationId: 'c-1', messageId: 'm-1', message })).toEqual({
      snsMessageId: 's-1',
      reason: 'unanswered',
      tenantId: 'acme',
      conversationId: 'c-1',
      messageId: 'm-1',
      summary: 'A customer has been waiting 6 min (not answered).',
      message,
    });
  });
});
