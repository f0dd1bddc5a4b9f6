let sequence = 0;

/**
 * A valid CONVO_HISTORY item from a customer, with ids and createdAt unique within the test file
 * (jest loads this module once per file); `overrides` sets the audience or breaks a field.
 */
export const customerMessage = (overrides: Record<string, unknown> = {}) => {
  sequence += 1;
  return {
    conversationId: `conv-${sequence}`,
    messageId: `msg-${sequence}`,
    tenantId: 'acme',
    senderId: 'customer-7',
    senderType: 'customer',
    channel: 'web',
    body: 'Where is my order?',
    createdAt: new Date(Date.UTC(2026, 10, 24, 10, 0, sequence)).toISOString(),
    ...overrides,
  };
};
