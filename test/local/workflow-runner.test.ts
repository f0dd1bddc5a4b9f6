import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LocalIotData } from '../../local/iot-data';
import { listen, type Listening } from '../../local/listen';
import { LocalSns } from '../../local/sns';
import { LocalSqs } from '../../local/sqs';
import { loadDefinition, UnresolvedPlaceholderError, WorkflowRunner, type LambdaHandler } from '../../local/workflow-runner';
import { NotificationEnvelopeSchema, type NotificationEnvelope } from '../../tasks/shared/envelope';

const ACCOUNT = '000000000000';
const fn = (name: string) => `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${name}`;
const topic = (name: string) => `arn:aws:sns:us-east-1:${ACCOUNT}:${name}`;

const envelope = (messageId: string): NotificationEnvelope =>
  NotificationEnvelopeSchema.parse({
    notificationId: `${messageId}#created`,
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

describe('local workflow runner (real ASL, SDK integrations against local endpoints)', () => {
  let sqsEndpoint: Listening;
  let snsEndpoint: Listening;
  let iotEndpoint: Listening;
  let sqs: LocalSqs;
  let sns: LocalSns;
  let pushes: { topic: string; payload: string }[];
  let runner: WorkflowRunner;
  let lambdas: Record<string, LambdaHandler>;

  const substitutions = () => ({
    NormalizeRecordFunctionArn: fn('normalize'),
    ResolveRecipientsFunctionArn: fn('resolve'),
    CheckPresenceFunctionArn: fn('presence'),
    DirectTopicArn: topic('direct'),
    TeamTopicArn: topic('team'),
    SenderTopicArn: topic('sender'),
    QuarantineQueueUrl: sqs.queueUrl('quarantine'),
    UnroutedQueueUrl: sqs.queueUrl('unrouted'),
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
    sns = new LocalSns();
    snsEndpoint = await listen(sns.handle);
    pushes = [];
    iotEndpoint = await listen(
      new LocalIotData(async (t, payload) => {
        pushes.push({ topic: t, payload: payload.toString() });
      }).handle,
    );
    lambdas = {
      [fn('normalize')]: async (event) => {
        const { record } = event as { record: { id: string; bad?: boolean } };
        if (record.bad) {
          const e = new Error('NewImage.createdAt: Invalid ISO datetime');
          e.name = 'InvalidRecordError';
          throw e;
        }
        return { notification: envelope(record.id), audience: { topic: 'team', tenantId: 'tenant-1', senderId: 'customer-1', senderType: 'customer', teamId: 'team-1' } };
      },
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
    expect(() => loadDefinition(partial)).toThrow(UnresolvedPlaceholderError);
    expect(() => loadDefinition(partial)).toThrow(/UnroutedQueueUrl/);
  });

  it('publishes, pushes to the online device and creates each missing inbox before sending to it', async () => {
    const record = await runner.run([{ id: 'm1' }]);

    expect(record.status).toBe('SUCCEEDED');
    expect(record.output).toEqual([{ outcome: 'notified', notificationId: 'm1#created', topic: 'team' }]);
    expect(sns.byTopic(topic('team'))).toHaveLength(1);
    expect(JSON.parse(sns.published[0].message)).toEqual(envelope('m1'));
    expect(pushes).toEqual([{ topic: 'notify/dev-online', payload: JSON.stringify(envelope('m1')) }]);
    expect(sqs.queueNames()).toEqual(['cn-inbox-dev-offline.fifo', 'cn-inbox-dev-online.fifo', 'quarantine', 'unrouted']);
    for (const q of ['cn-inbox-dev-offline.fifo', 'cn-inbox-dev-online.fifo']) {
      expect(sqs.peek(q)).toEqual([{ body: JSON.stringify(envelope('m1')), groupId: 'conv-1', inFlight: false }]);
    }
    expect(record.path).toEqual(
      expect.arrayContaining(['NormalizeRecord', 'ChooseTopic', 'UseTeamTopic', 'PublishToTopic', 'SendToInbox', 'CreateInboxQueue', 'RetrySendToInbox', 'AllRecipientsNotified']),
    );
    const failedSend = record.events.find((e) => e.type === 'StateFailed' && e.state === 'SendToInbox');
    expect(failedSend?.error).toBe('SQS.QueueDoesNotExistException');
  });

  it('sends to an existing inbox directly the second time, where FIFO deduplication keeps one copy', async () => {
    await runner.run([{ id: 'm1' }]);
    const second = await runner.run([{ id: 'm1' }]);
    expect(second.path).not.toContain('CreateInboxQueue');
    expect(sqs.peek('cn-inbox-dev-offline.fifo')).toHaveLength(1);
  });

  it('quarantines an invalid record with the Lambda error as the reason and still succeeds', async () => {
    const record = await runner.run([{ id: 'x', bad: true }]);
    expect(record.status).toBe('SUCCEEDED');
    const client = new SQSClient({ endpoint: sqsEndpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const got = await client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('quarantine') }));
    client.destroy();
    const body = JSON.parse(got.Messages![0].Body!);
    expect(body).toMatchObject({ error: 'InvalidRecordError', record: { id: 'x', bad: true }, executionId: record.executionArn });
    expect(JSON.parse(body.reason)).toMatchObject({ errorType: 'InvalidRecordError', errorMessage: 'NewImage.createdAt: Invalid ISO datetime' });
  });

  it('records a failed execution with its error instead of throwing', async () => {
    lambdas[fn('resolve')] = async () => {
      const e = new Error('Aurora is resuming');
      e.name = 'RecipientsUnavailableError';
      throw e;
    };
    const record = await runner.run([{ id: 'm2' }]);
    expect(record.status).toBe('FAILED');
    expect(record.error?.Error).toBe('RecipientsUnavailableError');
    expect(record.events.filter((e) => e.type === 'StateRetried' && e.state === 'ResolveRecipients')).toHaveLength(5);
  });

  it('replays an execution with the same input', async () => {
    const first = await runner.run([{ id: 'm3' }]);
    const replay = await runner.replay(first.name);
    expect(replay.input).toEqual(first.input);
    expect(replay.replayOf).toBe(first.name);
    expect(runner.executions().map((e) => e.name)).toEqual([replay.name, first.name]);
  });

  it('sends valid JSON even when the message text needs escaping (the engine strips backslashes from intrinsic results)', async () => {
    const tricky = { ...envelope('m4'), preview: 'He said "refund" \\ twice\nthanks' };
    lambdas[fn('normalize')] = async () => ({ notification: tricky, audience: { topic: 'team', tenantId: 'tenant-1', senderId: 'customer-1', senderType: 'customer', teamId: 'team-1' } });
    const record = await runner.run([{ id: 'm4' }]);
    expect(record.status).toBe('SUCCEEDED');
    expect(JSON.parse(sns.published[0].message)).toEqual(tricky);
    expect(JSON.parse(pushes[0].payload)).toEqual(tricky);
    expect(JSON.parse(sqs.peek('cn-inbox-dev-offline.fifo')[0].body)).toEqual(tricky);
  });
});
