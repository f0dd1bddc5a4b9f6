import type { DynamoDbStreamRecord } from '../../local/emulators/dynamodb';
import type { PipeDeadLetter } from '../../local/runtime/pipe';
import { seededDevices } from '../../local/runtime/seed';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/runtime/stack';
import type { NotificationEnvelope } from '../../contracts/envelope';

/**
 * The whole local flow while the SQS endpoint is down for a few seconds: every workflow path ends
 * in an SQS send, and so does the pipe's dead-letter target, so this is the fault that once left
 * the pipe's chain rejected and every later record dropped. Nothing may be lost: each message is
 * in every inbox of its audience, or in the quarantine queue, or in the pipe's DLQ.
 */

const MESSAGES = 60;
const OUTAGE_MS = 3_000;
const WRITE_EVERY_MS = 60;
const TEAM = 'support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const customerMessage = (n: number) => ({
  conversationId: `conv-outage-${n}`,
  messageId: `msg-outage-${n}`,
  tenantId: 'acme',
  senderId: 'customer-7',
  senderType: 'customer',
  channel: 'web',
  body: `Where is my order ${n}?`,
  createdAt: new Date(Date.UTC(2026, 10, 24, 11, 0, 0, n)).toISOString(),
  teamId: TEAM,
});
type Message = ReturnType<typeof customerMessage>;

describe('local stack through an SQS outage', () => {
  let stack: LocalStack;
  const streamRecords: DynamoDbStreamRecord[] = [];

  beforeAll(async () => {
    // Short pauses everywhere so the outage, not the backoff, sets the pace. `pipeRetryBaseDelayMs`
    // is the pipe's retry base delay (LocalPipe `retryBaseDelayMs`) as the stack passes it on.
    const options: LocalStackOptions & { pipeRetryBaseDelayMs?: number } = {
      retryIntervalMs: 20,
      pipeBatchingWindowMs: 5,
      pipeRetryBaseDelayMs: 50,
    };
    stack = await startLocalStack(options);
    stack.dynamodb.onStreamRecord((record) => streamRecords.push(record));
  });
  afterAll(async () => {
    stack.sqs.setOutage(false);
    await stack.stop();
  });

  const queueName = (url: string) => url.split('/').pop()!;
  const teamDevices = () => {
    const members = new Set(stack.seed.agents.filter((a) => a.teams?.includes(TEAM)).map((a) => a.agentId));
    return seededDevices(stack.seed).filter((d) => members.has(d.agentId)).map((d) => d.clientId);
  };
  const inbox = (clientId: string): NotificationEnvelope[] =>
    stack.sqs.peek(`${stack.config.inboxQueueNamePrefix}${clientId}.fifo`).map((m) => JSON.parse(m.body));
  const isIn = (envelopes: NotificationEnvelope[], m: Message) =>
    envelopes.some((e) => e.messageId === m.messageId && e.conversationId === m.conversationId);
  const deliveredEverywhere = (m: Message) => teamDevices().every((clientId) => isIn(inbox(clientId), m));

  /** Each message in the first place it is found: every team inbox, the pipe's DLQ, the quarantine queue. */
  const account = (messages: Message[]) => {
    const deadLettered = new Set(
      stack.sqs
        .peek(queueName(stack.config.pipeDlqUrl))
        // A DLQ entry is a pointer, as on AWS: the records are the stream's within its sequence range.
        .map((m) => (JSON.parse(m.body) as Omit<PipeDeadLetter, 'records'>).DDBStreamBatchInfo)
        .flatMap(({ startSequenceNumber, endSequenceNumber }) =>
          streamRecords.filter((r) => BigInt(r.dynamodb.SequenceNumber) >= BigInt(startSequenceNumber) && BigInt(r.dynamodb.SequenceNumber) <= BigInt(endSequenceNumber)),
        )
        .map((r) => `${r.dynamodb.Keys.conversationId?.S}/${r.dynamodb.Keys.messageId?.S}`),
    );
    // The quarantine body's shape belongs to the workflow; the message's ids appear in it whatever it is.
    const quarantined = stack.sqs.peek(queueName(stack.config.quarantineQueueUrl)).map((m) => m.body);
    const outcome = { delivered: [] as string[], deadLettered: [] as string[], quarantined: [] as string[], lost: [] as string[] };
    for (const m of messages) {
      const id = `${m.conversationId}/${m.messageId}`;
      if (deliveredEverywhere(m)) outcome.delivered.push(id);
      else if (deadLettered.has(id)) outcome.deadLettered.push(id);
      else if (quarantined.some((body) => body.includes(`"${m.messageId}"`) && body.includes(`"${m.conversationId}"`))) outcome.quarantined.push(id);
      else outcome.lost.push(id);
    }
    return outcome;
  };

  it('delivers, quarantines or dead-letters every one of 60 messages written during a 3 s SQS outage, and serves a message written after it', async () => {
    expect(teamDevices().length).toBeGreaterThan(0);
    const messages = Array.from({ length: MESSAGES }, (_, n) => customerMessage(n));
    let outageOver: Promise<void> | undefined;
    for (const [n, m] of messages.entries()) {
      if (n === 10) {
        stack.sqs.setOutage(true);
        outageOver = sleep(OUTAGE_MS).then(() => stack.sqs.setOutage(false));
      }
      await stack.putMessage(m);
      await sleep(WRITE_EVERY_MS);
    }
    await outageOver;
    await stack.settle();

    const outcome = account(messages);
    expect(outcome.lost).toEqual([]);
    expect(outcome.delivered.length + outcome.quarantined.length + outcome.deadLettered.length).toBe(MESSAGES);
    // The outage did reach the pipe: attempts failed, retries ran out, and the DLQ itself (an SQS
    // queue too) refused sends until SQS came back. The pipe's own books balance.
    const stats = stack.pipe.stats;
    expect(stats.failedAttempts).toBeGreaterThan(0);
    expect(stats.deadLetterSendFailures).toBeGreaterThan(0);
    expect(stats.received).toBe(stats.filteredOut + stats.delivered + stats.deadLettered);

    const after = customerMessage(MESSAGES);
    await stack.putMessage(after);
    await stack.settle();
    expect(deliveredEverywhere(after)).toBe(true);
  }, 120_000);
});
