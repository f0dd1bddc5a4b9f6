import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { PGlite } from '@electric-sql/pglite';
import type { DynamoDbStreamRecord } from '../../local/emulators/dynamodb';
import { seededDevices } from '../../local/runtime/seed';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../local/runtime/stack';
import type { QuarantineEntry } from '../../contracts/enrichment';
import { PREVIEW_LENGTH, notificationIdOf, type NotificationEnvelope } from '../../contracts/envelope';
import { customerMessage } from '../support/messages';
import { AWS_LIMITS } from '../../contracts/limits';

/**
 * The ways a notification used to be lost, each on the whole local runtime (real pipe filter and
 * enrichment, the real ASL and handlers, local SQS with AWS's size limits): identity, redelivery,
 * rewritten messages, items inserted already handled, 400 KB items and their claims, and a hostile
 * recipients row.
 */


/** A customer message to the support team unless `overrides` says otherwise. */
const message = (overrides: Record<string, unknown> = {}) => customerMessage({ teamId: 'support', ...overrides });

describe('nothing lost on the local flow', () => {
  let stack: LocalStack;
  let ddb: DynamoDBClient;
  /** The client ids of the support team's devices: alice's laptop and phone, bob's and carol's laptops. */
  let supportDevices: string[];
  const streamRecords: DynamoDbStreamRecord[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ retryIntervalMs: 0, pipeBatchingWindowMs: 5 });
    const support = new Set(stack.seed.agents.filter((a) => a.teams?.includes('support')).map((a) => a.agentId));
    supportDevices = seededDevices(stack.seed).filter((d) => support.has(d.agentId)).map((d) => d.clientId);
    ddb = new DynamoDBClient({ endpoint: stack.endpoints.dynamodb, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    stack.dynamodb.onStreamRecord((record) => streamRecords.push(record));
  });
  afterAll(async () => {
    ddb.destroy();
    await stack.stop();
  });

  const queueName = (clientId: string) => `${stack.config.inboxQueueNamePrefix}${clientId}.fifo`;
  const inbox = (clientId: string): NotificationEnvelope[] => stack.sqs.peek(queueName(clientId)).map((m) => JSON.parse(m.body));
  const inboxOf = (clientId: string, m: { conversationId: string; messageId: string }) =>
    inbox(clientId).filter((n) => n.conversationId === m.conversationId && n.messageId === m.messageId);
  const dlq = () => stack.sqs.peek(stack.config.pipeDlqUrl.split('/').pop()!);
  const quarantined = (): QuarantineEntry['quarantine'][] =>
    stack.sqs.peek(stack.config.quarantineQueueUrl.split('/').pop()!).map((m) => JSON.parse(m.body).quarantine);

  const claim = (m: { conversationId: string; messageId: string }, agentId: string, handledAt: string) => stack.claimMessage(m, agentId, handledAt);

  it('delivers the same messageId in two conversations as two messages to every inbox of their audience', async () => {
    const first = message({ messageId: 'msg-1' });
    const second = message({ messageId: 'msg-1' });
    await stack.putMessage(first);
    await stack.putMessage(second);
    await stack.settle();
    for (const clientId of supportDevices) {
      expect(inboxOf(clientId, first)).toEqual([expect.objectContaining({ notificationId: notificationIdOf(first, 'message.created') })]);
      expect(inboxOf(clientId, second)).toEqual([expect.objectContaining({ notificationId: notificationIdOf(second, 'message.created') })]);
    }
  });

  it('keeps one copy per inbox of a record the pipe delivers twice', async () => {
    const m = message();
    await stack.putMessage(m);
    await stack.settle();
    const record = streamRecords.find((r) => r.eventName === 'INSERT' && r.dynamodb.Keys.messageId.S === m.messageId)!;
    stack.pipe.push(record);
    await stack.settle();
    for (const clientId of supportDevices) expect(inboxOf(clientId, m)).toHaveLength(1);
  });

  it('delivers a message deleted and written again with a new createdAt a second time', async () => {
    const m = message();
    await stack.putMessage(m);
    await stack.settle();
    await ddb.send(
      new DeleteItemCommand({ TableName: stack.config.convoHistoryTable, Key: { conversationId: { S: m.conversationId }, messageId: { S: m.messageId } } }),
    );
    await stack.putMessage({ ...m, createdAt: new Date(Date.parse(m.createdAt) + 60_000).toISOString(), body: 'Where is my order? (resent)' });
    await stack.settle();
    for (const clientId of supportDevices) {
      expect(inboxOf(clientId, m).map((n) => n.preview)).toEqual(['Where is my order?', 'Where is my order? (resent)']);
    }
  });

  it('never shows a message inserted already handled as NEW: every device gets message.handled', async () => {
    const m = message({ senderType: 'bot', senderId: 'bot-faq', handledBy: 'bot-faq', handledAt: '2026-11-24T10:30:00.000Z' });
    await stack.putMessage(m);
    await stack.settle();
    for (const clientId of supportDevices) {
      expect(inboxOf(clientId, m)).toEqual([expect.objectContaining({ kind: 'message.handled', handledBy: 'bot-faq' })]);
    }
  });

  it('delivers a 400 KB item and its claim as their previews, in a batch with small records, with nothing dead-lettered', async () => {
    const dlqBefore = dlq().length;
    // The largest body that still fits a 400 KB item with the other attributes and their names.
    const big = message({ body: 'b'.repeat(AWS_LIMITS.dynamodbItemBytes - 1_024) });
    const small = [message(), message(), message()];
    await Promise.all([stack.putMessage(small[0]), stack.putMessage(big), stack.putMessage(small[1]), stack.putMessage(small[2])]);
    await stack.settle();
    await claim(big, 'bob', '2026-11-24T11:00:00.000Z');
    await stack.settle();
    for (const clientId of supportDevices) {
      expect(inboxOf(clientId, big)).toEqual([
        expect.objectContaining({ kind: 'message.created', preview: 'b'.repeat(PREVIEW_LENGTH) }),
        expect.objectContaining({ kind: 'message.handled', handledBy: 'bob', preview: 'b'.repeat(PREVIEW_LENGTH) }),
      ]);
      for (const m of small) expect(inboxOf(clientId, m)).toHaveLength(1);
    }
    expect(dlq()).toHaveLength(dlqBefore);
  });

  it('quarantines an item with a 300 KB tenantId, naming the field, and delivers its batch neighbours', async () => {
    const hostile = message({ tenantId: 't'.repeat(300 * 1024) });
    const neighbour = message();
    await Promise.all([stack.putMessage(hostile), stack.putMessage(neighbour)]);
    await stack.settle();
    const kept = quarantined().find((q) => q.keys.messageId === hostile.messageId);
    expect(kept).toMatchObject({ field: 'NewImage.tenantId', keys: { conversationId: hostile.conversationId } });
    for (const clientId of supportDevices) expect(inboxOf(clientId, neighbour)).toHaveLength(1);
  });

  it('still notifies every valid device of an audience that has a row with an empty client_id', async () => {
    // DLQ entries are pointers (no message ids in them): nothing dead-lettered means no new entry.
    const dlqBefore = dlq().length;
    // A recipients database without the schema's CHECK, as an attacker or a careless migration leaves it.
    const db = (stack.dataApi as unknown as { db: PGlite }).db;
    await db.exec(`ALTER TABLE devices DROP CONSTRAINT IF EXISTS devices_client_id_check`);
    await db.exec(`INSERT INTO devices (client_id, agent_id, active) VALUES ('', 'bob', true) ON CONFLICT DO NOTHING`);
    const m = message();
    await stack.putMessage(m);
    await stack.settle();
    for (const clientId of supportDevices) expect(inboxOf(clientId, m)).toHaveLength(1);
    expect(dlq()).toHaveLength(dlqBefore);
    await db.exec(`DELETE FROM devices WHERE client_id = ''`);
  });
});
