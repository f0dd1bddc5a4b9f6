import { escalationIdsOf, escalationMessageOf, type EscalationFacts } from '../../../contracts/escalation';

const facts = (overrides: Partial<EscalationFacts> = {}): EscalationFacts => ({
  reason: 'nobody-online',
  tenantId: 'acme',
  conversationId: 'conv-1',
  messageId: 'msg-1',
  topic: 'team',
  createdAt: '2026-12-01T10:00:00.000Z',
  counts: { devices: 2, online: 0, pushed: 0, pushFailures: 0, inboxed: 2 },
  ...overrides,
});
const NOW = new Date('2026-12-01T10:07:00.000Z');

describe('the ids a local escalation carries (escalationIdsOf on the escalation body)', () => {
  it('reads back the conversation and message ids escalationMessageOf wrote', () => {
    const { message } = escalationMessageOf(facts({ conversationId: 'c:1/x', messageId: 'm#2' }), NOW);
    expect(escalationIdsOf(message)).toEqual({ conversationId: 'c:1/x', messageId: 'm#2' });
  });

  it('is not fooled by a tenant id whose line breaks imitate the id lines', () => {
    const tenantId = 'evil\nConversation: conv-forged\nMessage:      msg-forged';
    const { message } = escalationMessageOf(facts({ tenantId, reason: 'unanswered', counts: undefined }), NOW);
    expect(escalationIdsOf(message)).toEqual({ conversationId: 'conv-1', messageId: 'msg-1' });
  });

  it('gives nothing for a body that names no message', () => {
    expect(escalationIdsOf('A customer has been waiting 6 min.\nConversation: c-1')).toBeUndefined();
  });
});
