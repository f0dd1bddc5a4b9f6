import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { UpdateItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notificationIdOf, type NotificationEnvelope } from '../../contracts/envelope';
import { STREAM_RETENTION_MS } from '../../local/emulators/dynamodb-streams';
import { DEDUP_WINDOW_MS } from '../../local/emulators/sqs';
import { writeLocalOutputs } from '../../local/runtime/outputs-file';
import { seededDevices } from '../../local/runtime/seed';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../local/runtime/stack';
import { main } from '../../ops/replay/main';
import { REPLAY_VISIBILITY_TIMEOUT_S } from '../../ops/replay/replay';
import { customerMessage } from '../support/messages';

/**
 * `npm run replay` against the whole local runtime: the local Step Functions endpoint over the real
 * workflow, the local DynamoDB Streams endpoint over CONVO_HISTORY's stream, pipe DLQ entries as
 * AWS writes them. The stack's clock moves past SQS's 5-minute deduplication window and past the
 * stream's 24-hour retention.
 */

const REPLAY_VISIBILITY_MS = REPLAY_VISIBILITY_TIMEOUT_S * 1000;
const ROOT = join(__dirname, '../..');

const message = (overrides: Record<string, unknown> = {}) => customerMessage({ teamId: 'support', ...overrides });
type Message = ReturnType<typeof message>;

const waitFor = async (condition: () => boolean, what: string, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('npm run replay on the local runtime', () => {
  let stack: LocalStack;
  let sqs: SQSClient;
  let ddb: DynamoDBClient;
  let offset = 0;
  /** The client ids of the support team's devices, every message's audience here. */
  let TEAM: string[];
  const outputsPath = join(tmpdir(), `convo-notify-replay-outputs-${process.pid}.json`);

  beforeAll(async () => {
    stack = await startLocalStack({ retryIntervalMs: 0, pipeBatchingWindowMs: 5, pipeRetryBaseDelayMs: 20, clock: () => Date.now() + offset });
    writeLocalOutputs(stack, outputsPath);
    const support = new Set(stack.seed.agents.filter((a) => a.teams?.includes('support')).map((a) => a.agentId));
    TEAM = seededDevices(stack.seed).filter((d) => support.has(d.agentId)).map((d) => d.clientId);
    sqs = new SQSClient({ endpoint: stack.endpoints.sqs, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    ddb = new DynamoDBClient({ endpoint: stack.endpoints.dynamodb, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  });
  afterAll(async () => {
    stack.sqs.setOutage(false);
    sqs.destroy();
    ddb.destroy();
    await stack.stop();
    rmSync(outputsPath, { force: true });
  });

  const replay = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['--outputs', outputsPath, ...args], { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const queueName = (url: string) => url.split('/').pop()!;
  const inboxName = (clientId: string) => `${stack.config.inboxQueueNamePrefix}${clientId}.fifo`;
  const inboxOf = (clientId: string, m: Message): NotificationEnvelope[] =>
    stack.sqs
      .peek(inboxName(clientId))
      .map((x) => JSON.parse(x.body) as NotificationEnvelope)
      .filter((n) => n.conversationId === m.conversationId && n.messageId === m.messageId);
  const dlq = () => stack.sqs.peek(queueName(stack.config.pipeDlqUrl));
  const emptyInboxes = async () => {
    for (const clientId of TEAM) {
      const QueueUrl = stack.sqs.queueUrl(inboxName(clientId));
      for (;;) {
        const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }));
        if (!out.Messages?.length) break;
        for (const m of out.Messages) await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
      expect(stack.sqs.peek(inboxName(clientId))).toEqual([]);
    }
  };
  /**
   * Writes each message while SQS is down, so its batch fails every retry and ends in the pipe DLQ:
   * one DLQ entry per message. The DLQ is an SQS queue too: its first failed send says the retries
   * are spent, and SQS comes back before the next message.
   */
  const deadLetter = async (messages: Message[]) => {
    const before = dlq().length;
    for (const m of messages) {
      const failedSends = stack.pipe.stats.deadLetterSendFailures;
      stack.sqs.setOutage(true);
      await stack.putMessage(m);
      await waitFor(() => stack.pipe.stats.deadLetterSendFailures > failedSends, 'the pipe to give up and try the DLQ');
      stack.sqs.setOutage(false);
      await stack.settle();
    }
    expect(dlq()).toHaveLength(before + messages.length);
    for (const m of messages) for (const clientId of TEAM) expect(inboxOf(clientId, m)).toEqual([]);
  };

  it('has a support team with devices to deliver to', () => {
    expect(TEAM.length).toBeGreaterThan(0);
  });

  it('--message re-delivers an answered message (created and handled) to emptied inboxes once the deduplication window has passed, not within it', async () => {
    const m = message();
    await stack.putMessage(m);
    await stack.settle();
    await stack.claimMessage(m, 'bob', '2026-11-24T12:00:00.000Z');
    await stack.settle();
    for (const clientId of TEAM) expect(inboxOf(clientId, m).map((n) => n.kind)).toEqual(['message.created', 'message.handled']);
    await emptyInboxes();
    // Within the 5-minute window SQS FIFO drops the replay's sends as duplicates: nothing comes back.
    const early = await replay('--message', `${m.conversationId}/${m.messageId}`);
    expect(early.code).toBe(0);
    for (const clientId of TEAM) expect(inboxOf(clientId, m)).toEqual([]);
    offset += DEDUP_WINDOW_MS + 1_000;

    const run = await replay('--message', `${m.conversationId}/${m.messageId}`);
    expect(run.code).toBe(0);
    expect(run.out).toContain(`REPLAYED message ${m.conversationId}/${m.messageId}`);
    expect(run.out).toContain('summary: replayed 1, skipped 0, failed 0');
    for (const clientId of TEAM) {
      expect(inboxOf(clientId, m).map((n) => [n.kind, n.notificationId])).toEqual([
        ['message.created', notificationIdOf(m, 'message.created')],
        ['message.handled', notificationIdOf(m, 'message.handled')],
      ]);
    }
  });

  it('--message of an item that is not in the table fails with the reason and exit code 1', async () => {
    const run = await replay('--message', 'conv-missing/msg-missing');
    expect(run.code).toBe(1);
    expect(run.out).toContain(`no item conv-missing/msg-missing in ${stack.config.convoHistoryTable}`);
  });

  it('--dry-run says what would run and changes nothing: no execution, no delivery', async () => {
    const m = message();
    await stack.putMessage(m);
    await stack.settle();
    await emptyInboxes();
    offset += DEDUP_WINDOW_MS + 1_000;
    const executions = stack.runner.executions().length;

    const run = await replay('--message', `${m.conversationId}/${m.messageId}`, '--dry-run');
    expect(run.code).toBe(0);
    expect(run.out).toContain(`WOULD RUN message ${m.conversationId}/${m.messageId}`);
    expect(run.out).toContain(`entry: message.created ${m.conversationId}/${m.messageId} (team) ${notificationIdOf(m, 'message.created')}`);
    expect(run.out).toContain('dry run: nothing was started or deleted');
    await stack.settle();
    expect(stack.runner.executions()).toHaveLength(executions);
    for (const clientId of TEAM) expect(inboxOf(clientId, m)).toEqual([]);
  });

  it('--dlq replays every DLQ entry of an SQS outage from the stream, delivers every record and empties the DLQ', async () => {
    const messages = [message(), message(), message()];
    await deadLetter(messages);
    const entries = dlq().map((d) => JSON.parse(d.body) as Record<string, unknown> & { DDBStreamBatchInfo: Record<string, unknown> });
    for (const entry of entries) {
      // As AWS writes it: a pointer into the stream, never the records.
      expect(entry).not.toHaveProperty('records');
      expect(entry.DDBStreamBatchInfo).toMatchObject({ shardId: expect.stringMatching(/^shardId-\d{20}-[0-9a-f]{8}$/), streamArn: stack.config.convoHistoryStreamArn });
      expect(entry.DDBStreamBatchInfo.approximateArrivalOfFirstRecord).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }

    const dry = await replay('--dlq', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`would run ${entries.length}, skipped 0, failed 0`);
    expect(dlq()).toHaveLength(entries.length);
    // The dry run hid the messages for its one-second visibility timeout.
    offset += 2_000;

    const run = await replay('--dlq');
    expect(run.code).toBe(0);
    expect(run.out).toContain('(GetShardIterator AT_SEQUENCE_NUMBER + GetRecords)');
    expect(run.out).toContain(`summary: replayed ${entries.length}, skipped 0, failed 0`);
    for (const m of messages) for (const clientId of TEAM) expect(inboxOf(clientId, m)).toHaveLength(1);
    expect(dlq()).toEqual([]);
  }, 60_000);

  it('--dlq past the stream retention reads the items from the table and says so', async () => {
    // createdAt is the chat product's clock, which the fallback matches against the entry's arrival times.
    const messages = [message({ createdAt: new Date().toISOString() }), message({ createdAt: new Date().toISOString() })];
    await deadLetter(messages);
    offset += STREAM_RETENTION_MS + 60_000;

    const run = await replay('--dlq');
    expect(run.code).toBe(0);
    expect(run.out).toContain(`read from: table ${stack.config.convoHistoryTable} (Scan for createdAt/handledAt within`);
    expect(run.out).toContain('because the stream answered TrimmedDataAccessException');
    expect(run.out).toMatch(/summary: replayed \d+, skipped \d+, failed 0/);
    for (const m of messages) for (const clientId of TEAM) expect(inboxOf(clientId, m)).toHaveLength(1);
    expect(dlq()).toEqual([]);
  }, 60_000);

  /** Now (the clock the stream's arrival times follow), as the chat product would write it `hours` east of UTC. */
  const nowAtOffset = (hours: number) => `${new Date(Date.now() + hours * 3_600_000).toISOString().slice(0, -1)}+0${hours}:00`;

  it('--dlq past the stream retention finds an item whose createdAt carries a UTC offset: instants are compared, not strings', async () => {
    const m = message({ createdAt: nowAtOffset(2) });
    await deadLetter([m]);
    offset += STREAM_RETENTION_MS + 60_000;

    const run = await replay('--dlq');
    expect(run.code).toBe(0);
    expect(run.out).toContain('because the stream answered TrimmedDataAccessException');
    expect(run.out).toContain('summary: replayed 1, skipped 0, failed 0');
    expect(run.out).toContain(`${m.conversationId}/${m.messageId}`);
    for (const clientId of TEAM) expect(inboxOf(clientId, m)).toHaveLength(1);
    expect(dlq()).toEqual([]);
  }, 60_000);

  it('--quarantine re-runs a quarantined record once its item is fixed, and deletes the quarantine message', async () => {
    const quarantine = () => stack.sqs.peek(queueName(stack.config.quarantineQueueUrl));
    const m = message({ senderType: 'robot' });
    await stack.putMessage(m);
    await stack.settle();
    expect(quarantine().filter((q) => q.body.includes(`"${m.messageId}"`))).toHaveLength(1);
    // Still broken: the replay says why and keeps the message.
    const early = await replay('--quarantine');
    expect(early.code).toBe(1);
    expect(early.out).toContain('still invalid, fix the item in the table first: NewImage.senderType');
    offset += 2 * REPLAY_VISIBILITY_MS;

    // The fix is an edit of the item, which the pipe filter never passes on: only the replay notifies.
    await ddb.send(
      new UpdateItemCommand({
        TableName: stack.config.convoHistoryTable,
        Key: { conversationId: { S: m.conversationId }, messageId: { S: m.messageId } },
        UpdateExpression: 'SET senderType = :t',
        ExpressionAttributeValues: { ':t': { S: 'customer' } },
      }),
    );
    await stack.settle();
    for (const clientId of TEAM) expect(inboxOf(clientId, m)).toEqual([]);
    const run = await replay('--quarantine');
    expect(run.code).toBe(0);
    expect(run.out).toContain(`REPLAYED quarantine`);
    expect(run.out).toContain('source message deleted');
    for (const clientId of TEAM) expect(inboxOf(clientId, m).map((n) => n.kind)).toEqual(['message.created']);
    expect(quarantine().filter((q) => q.body.includes(`"${m.messageId}"`))).toEqual([]);
  }, 60_000);

  it('answers bad arguments with a usage error and exit code 2, naming what was wrong', async () => {
    const cases: [string[], string][] = [
      [[], 'say what to replay'],
      [['--message', 'no-slash'], '--message must be <conversationId>/<messageId>, got "no-slash"'],
      [['--dlq', '--bogus'], "Unknown option '--bogus'"],
      [['--dlq', '--state-machine-arn', 'not-an-arn'], '--state-machine-arn must be a state machine ARN'],
    ];
    for (const [args, error] of cases) {
      const run = await replay(...args);
      expect([run.code, run.err]).toEqual([2, expect.stringContaining(error)]);
      expect(run.err).toContain('Usage: npm run replay');
    }
    const noOutputs = await main(['--dlq', '--outputs', join(tmpdir(), 'no-such-outputs.json')], { out: () => undefined, err: () => undefined });
    expect(noOutputs).toBe(2);
  });

  it('exits the real CLI process with code 2 and the usage on stderr for a bad argument', () => {
    const cli = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'ops/replay/cli.ts', '--message', 'no-slash'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toContain('error: --message must be <conversationId>/<messageId>, got "no-slash"');
    expect(cli.stderr).toContain('Usage: npm run replay');
  }, 40_000);
});
