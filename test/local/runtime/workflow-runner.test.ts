import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { LocalIotData } from '../../../local/emulators/iot-data';
import { listen, type Listening } from '../../../local/emulators/listen';
import { LocalSns } from '../../../local/emulators/sns';
import { LocalSqs } from '../../../local/emulators/sqs';
import { WorkflowRunner, type LambdaHandler } from '../../../local/runtime/workflow-runner';
import { notificationFanoutSubstitutions, UnsubstitutedPlaceholderError } from '../../../state-machines/workflows';
import { NotificationEnvelopeSchema, type NotificationEnvelope } from '../../../contracts/envelope';
import { AWS_LIMITS } from '../../../contracts/limits';
import { pushTopicOf } from '../../../contracts/push-topic';

const ACCOUNT = '000000000000';
const fn = (name: string) => `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${name}`;
const topic = (name: string) => `arn:aws:sns:us-east-1:${ACCOUNT}:${name}`;

const envelope = (messageId: string): NotificationEnvelope =>
  NotificationEnvelopeSchema.parse({
    notificationId: `conv-1/${messageId}#created`,
    deduplicationId: createHash('sha256').update(messageId).digest('hex'),
    kind: 'message.created',
    messageId,
    conversationId: 'conv-1',
    tenantId: 'tenant-1',
    topic: 'team',
    senderId: 'customer-1',
    senderType: 'customer',
    channel: 'web',
    preview: 'hello',
    createdAt: '2026-11-24T10:00:00.000Z',
    streamSequence: '100',
  });

const AUDIENCE = { topic: 'team', tenantId: 'tenant-1', senderId: 'customer-1', senderType: 'customer', teamId: 'team-1' } as const;
/** One entry of the execution input, as the Pipe's enrichment (normalize-batch) answers it. */
const entry = (notification: NotificationEnvelope) => ({ notification, audience: AUDIENCE });

describe('local workflow runner (real ASL, SDK integrations against local endpoints)', () => {
  let sqsEndpoint: Listening;
  let snsEndpoint: Listening;
  let iotEndpoint: Listening;
  let sqs: LocalSqs;
  let sns: LocalSns;
  let pushes: { topic: string; payload: string }[];
  let runner: WorkflowRunner;
  let lambdas: Record<string, LambdaHandler>;

  const substitutions = () =>
    notificationFanoutSubstitutions({
      ResolveRecipientsFunctionArn: fn('resolve'),
      CheckPresenceFunctionArn: fn('presence'),
      DirectTopicArn: topic('direct'),
      TeamTopicArn: topic('team'),
      SenderTopicArn: topic('sender'),
      QuarantineQueueUrl: sqs.queueUrl('quarantine'),
      UnroutedQueueUrl: sqs.queueUrl('unrouted'),
      OutcomesQueueUrl: sqs.queueUrl('outcomes'),
      InboxQueueUrlPrefix: sqs.queueUrl('cn-inbox-'),
      InboxQueueNamePrefix: 'cn-inbox-',
      InboxRetentionSeconds: '345600',
    });

  beforeEach(async () => {
    let base = '';
    sqs = new LocalSqs({ baseUrl: () => base });
    sqsEndpoint = await listen(sqs.handle);
    base = sqsEndpoint.url;
    sqs.createQueue({ QueueName: 'quarantine' });
    sqs.createQueue({ QueueName: 'unrouted' });
    // Every entry ends with its outcome send, and an outcome that cannot be sent fails the execution.
    sqs.createQueue({ QueueName: 'outcomes' });
    sns = new LocalSns();
    snsEndpoint = await listen(sns.handle);
    pushes = [];
    iotEndpoint = await listen(
      new LocalIotData(async (t, payload) => {
        pushes.push({ topic: t, payload: payload.toString() });
      }).handle,
    );
    lambdas = {
      [fn('resolve')]: async () => ({
        devices: [
          { agentId: 'a1', clientId: 'dev-online' },
          { agentId: 'a2', clientId: 'dev-offline' },
        ],
        count: 2,
        nextCursor: null,
      }),
      [fn('presence')]: async (event) => ({
        devices: (event as { devices: { agentId: string; clientId: string }[] }).devices.map((d) => ({ ...d, online: d.clientId === 'dev-online' })),
        onlineCount: 1,
      }),
    };
    runner = new WorkflowRunner({
      substitutions: substitutions(),
      lambdas,
      endpoints: { sqs: sqsEndpoint.url, sns: snsEndpoint.url, iotdataplane: iotEndpoint.url },
      retryIntervalMs: 0,
    });
  });

  afterEach(async () => {
    runner.destroy();
    sqs.close();
    await Promise.all([sqsEndpoint.close(), snsEndpoint.close(), iotEndpoint.close()]);
  });

  it('refuses a definition with a placeholder that has no substitution', () => {
    const partial: Record<string, string> = { ...substitutions() };
    delete partial.UnroutedQueueUrl;
    const start = () => new WorkflowRunner({ substitutions: partial, lambdas, endpoints: {} });
    expect(start).toThrow(UnsubstitutedPlaceholderError);
    expect(start).toThrow(/UnroutedQueueUrl/);
  });

  it('publishes, pushes to the online device and creates each missing inbox before sending to it', async () => {
    const record = await runner.run([entry(envelope('m1'))]);

    expect(record.status).toBe('SUCCEEDED');
    expect(record.output).toEqual([{ outcome: 'notified', notificationId: envelope('m1').notificationId, topic: 'team' }]);
    expect(sns.byTopic(topic('team'))).toHaveLength(1);
    expect(JSON.parse(sns.published[0].message)).toEqual(envelope('m1'));
    expect(pushes).toEqual([{ topic: pushTopicOf('dev-online'), payload: JSON.stringify(envelope('m1')) }]);
    expect(sqs.queueNames()).toEqual(['cn-inbox-dev-offline.fifo', 'cn-inbox-dev-online.fifo', 'outcomes', 'quarantine', 'unrouted']);
    for (const q of ['cn-inbox-dev-offline.fifo', 'cn-inbox-dev-online.fifo']) {
      expect(sqs.peek(q)).toEqual([{ body: JSON.stringify(envelope('m1')), groupId: 'conv-1', inFlight: false }]);
    }
    expect(record.path).toEqual(
      expect.arrayContaining(['Valid?', 'ChooseTopic', 'UseTeamTopic', 'PublishToTopic', 'SendToInbox', 'CreateInboxQueue', 'RetrySendToInbox', 'AllRecipientsNotified']),
    );
    const failedSend = record.events.find((e) => e.type === 'StateFailed' && e.state === 'SendToInbox');
    expect(failedSend?.error).toBe('SQS.QueueDoesNotExistException');
  });

  it('sends to an existing inbox directly the second time, where FIFO deduplication keeps one copy', async () => {
    await runner.run([entry(envelope('m1'))]);
    const second = await runner.run([entry(envelope('m1'))]);
    expect(second.path).not.toContain('CreateInboxQueue');
    expect(sqs.peek('cn-inbox-dev-offline.fifo')).toHaveLength(1);
  });

  it('sends a quarantine entry with the execution id to the quarantine queue and still succeeds', async () => {
    const quarantine = {
      field: 'NewImage.createdAt',
      reason: 'NewImage.createdAt: Invalid ISO datetime',
      keys: { conversationId: 'conv-1', messageId: 'x' },
      eventName: 'INSERT',
      eventID: 'e-1',
      streamSequence: '101',
      excerpt: '{"eventID":"e-1"}',
    };
    const record = await runner.run([{ quarantine }]);
    expect(record.status).toBe('SUCCEEDED');
    const client = new SQSClient({ endpoint: sqsEndpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const got = await client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('quarantine') }));
    client.destroy();
    const body = JSON.parse(got.Messages![0].Body!);
    expect(body).toEqual({ quarantine, executionId: record.executionArn });
  });

  it('records a failed execution with its error instead of throwing', async () => {
    lambdas[fn('resolve')] = async () => {
      const e = new Error('Aurora is resuming');
      e.name = 'RecipientsUnavailableError';
      throw e;
    };
    const record = await runner.run([entry(envelope('m2'))]);
    expect(record.status).toBe('FAILED');
    expect(record.error?.Error).toBe('RecipientsUnavailableError');
    expect(record.events.filter((e) => e.type === 'StateRetried' && e.state === 'ResolveRecipients')).toHaveLength(5);
  });

  it('replays an execution with the same input', async () => {
    const first = await runner.run([entry(envelope('m3'))]);
    const replay = await runner.replay(first.name);
    expect(replay.input).toEqual(first.input);
    expect(replay.replayOf).toBe(first.name);
    expect(runner.executions().map((e) => e.name)).toEqual([replay.name, first.name]);
  });

  it('sends valid JSON even when the message text needs escaping (the engine strips backslashes from intrinsic results)', async () => {
    const tricky = { ...envelope('m4'), preview: 'He said "refund" \\ twice\nthanks' };
    const record = await runner.run([entry(tricky)]);
    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(sns.published[0].message)).toEqual(tricky);
    expect(JSON.parse(pushes[0].payload)).toEqual(tricky);
    expect(JSON.parse(sqs.peek('cn-inbox-dev-offline.fifo')[0].body)).toEqual(tricky);
  });
  const LIMIT = AWS_LIMITS.stepFunctionsPayloadBytes;
  const DATA_LIMIT_CAUSE = (what: string) => `The state/task '${what}' returned a result with a size exceeding the maximum number of bytes service limit.`;
  /** A runner over a small definition that grows the data past the quota in one chosen kind of state. */
  const quotaRunner = (echo: LambdaHandler) => {
    sqs.createQueue({ QueueName: 'reached' });
    return new WorkflowRunner({
      substitutions: { EchoFunctionArn: fn('echo'), QueueUrl: sqs.queueUrl('reached') },
      lambdas: { [fn('echo')]: echo },
      endpoints: { sqs: sqsEndpoint.url, sns: snsEndpoint.url, iotdataplane: iotEndpoint.url },
      retryIntervalMs: 0,
      definitionPath: join(__dirname, '..', '..', 'fixtures', 'workflow-runner', 'payload-quota.asl.json'),
    });
  };
  /** An execution input of exactly `bytes` bytes of JSON. */
  const inputOf = (bytes: number, fields: Record<string, unknown>) => {
    const bare = JSON.stringify({ ...fields, pad: '' }).length;
    return { ...fields, pad: 'x'.repeat(bytes - bare) };
  };
  const reached = () => sqs.peek('reached').map((m) => m.body);

  it('refuses an execution input over the quota as StartExecution does (ValidationException, nothing started) and runs one of exactly the quota', async () => {
    const quota = quotaRunner(async () => ({}));
    await expect(quota.run(inputOf(LIMIT + 1, { case: 'none' }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${LIMIT}`,
    });
    expect(quota.executions()).toEqual([]);
    expect((await quota.run(inputOf(LIMIT, { case: 'none' }))).status).toBe('SUCCEEDED');
    quota.destroy();
  });

  it('fails the execution with States.DataLimitExceeded when a Pass state outputs more than the quota, before the next Task runs', async () => {
    const quota = quotaRunner(async () => ({}));
    const under = await quota.run(inputOf(Math.floor(LIMIT * 0.45), { case: 'pass-output' }));
    expect(under.status).toBe('SUCCEEDED');
    const over = await quota.run(inputOf(Math.floor(LIMIT * 0.6), { case: 'pass-output' }));
    expect(over.status).toBe('FAILED');
    expect(over.error).toEqual({ Error: 'States.DataLimitExceeded', Cause: DATA_LIMIT_CAUSE('DoubleIt') });
    // Only the first run reached Record's send.
    expect(reached()).toEqual(['reached']);
    quota.destroy();
  });

  it('fails a Task whose input is over the quota without calling it, retrying it or letting States.ALL catch it', async () => {
    let calls = 0;
    const quota = quotaRunner(async () => {
      calls += 1;
      return {};
    });
    // The execution input fits; the Task's effective input adds FunctionName around it.
    const record = await quota.run(inputOf(LIMIT - 20, { case: 'task-input' }));
    expect(record.status).toBe('FAILED');
    expect(record.error?.Error).toBe('States.DataLimitExceeded');
    expect(record.error?.Cause).toContain("'InvokeWithEverything'");
    expect(calls).toBe(0);
    expect(record.events.filter((e) => e.type === 'StateRetried')).toEqual([]);
    expect(reached()).toEqual([]);
    quota.destroy();
  });

  it('fails a Lambda Task whose result is over the quota, naming the function, with no retry and no catch', async () => {
    let calls = 0;
    const quota = quotaRunner(async (event) => {
      calls += 1;
      return { pad: 'x'.repeat((event as { size: number }).size) };
    });
    expect((await quota.run({ case: 'task-result', size: LIMIT - 1_000 })).status).toBe('SUCCEEDED');
    expect(calls).toBe(1);
    const over = await quota.run({ case: 'task-result', size: LIMIT });
    expect(over.status).toBe('FAILED');
    expect(over.error).toEqual({ Error: 'States.DataLimitExceeded', Cause: DATA_LIMIT_CAUSE(fn('echo')) });
    expect(calls).toBe(2);
    expect(reached()).toEqual(['reached']);
    quota.destroy();
  });

  it('fails the real workflow when ResolveRecipients answers more than the quota, before any device is reached', async () => {
    lambdas[fn('resolve')] = async () => ({
      devices: [{ agentId: 'a1', clientId: 'dev-online', note: 'x'.repeat(LIMIT) }],
      count: 1,
      nextCursor: null,
    });
    const record = await runner.run([entry(envelope('m5'))]);
    expect(record.status).toBe('FAILED');
    expect(record.error).toEqual({ Error: 'States.DataLimitExceeded', Cause: DATA_LIMIT_CAUSE(fn('resolve')) });
    expect(record.events.filter((e) => e.type === 'StateRetried' && e.state === 'ResolveRecipients')).toEqual([]);
    expect(pushes).toEqual([]);
    expect(sqs.queueNames()).toEqual(['outcomes', 'quarantine', 'unrouted']);
  });
});
