import { ESCALATION_TEST_ENV as ENV } from './env';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { escalationMessageOf, type UnansweredTimerInput } from '../../contracts/escalation';
import { OUTCOME_DETAIL_TYPES, ZERO_OUTCOME_COUNTS } from '../../contracts/outcomes';
import { EscalationPublishError, EscalationStoreError, handler } from '../../tasks/escalate/handler';
import { InvalidTaskInputError } from '../../tasks/shared/errors';
import { captureOutput, metricPoints, type CapturedOutput } from '../support/logs';
import { eventOf, outcomeOf } from './outcomes';

const dynamodb = mockClient(DynamoDBClient);
const sns = mockClient(SNSClient);

const NOW = new Date('2026-12-01T10:07:00.000Z');
const KEY = { conversationId: { S: 'conv-1' }, messageId: { S: 'msg-1' } };

const timerInput: UnansweredTimerInput = {
  version: 1,
  reason: 'unanswered',
  tenantId: 'acme',
  conversationId: 'conv-1',
  messageId: 'msg-1',
  topic: 'team',
  createdAt: '2026-12-01T10:00:00.000Z',
  dueAt: '2026-12-01T10:05:00.000Z',
};

/** CONVO_HISTORY holds the message, not handled unless told. */
const historyHolds = (item: Record<string, { S: string }> | undefined) => dynamodb.on(GetItemCommand).resolves({ Item: item });

let output: CapturedOutput;
beforeEach(() => {
  dynamodb.reset();
  sns.reset();
  jest.useFakeTimers({ now: NOW });
  output = captureOutput();
  historyHolds({});
  dynamodb.on(PutItemCommand).resolves({});
  sns.on(PublishCommand).resolves({ MessageId: 'sns-1' });
});
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('escalate', () => {
  it('publishes a nobody-online escalation once it has read the message and written its marker, with exact inputs', async () => {
    const result = await handler(eventOf(outcomeOf()));

    expect(result).toEqual({ outcome: 'published', reason: 'nobody-online', markerKey: 'nobody-online#conv-1/msg-1', messageId: 'sns-1' });
    expect(dynamodb).toHaveReceivedCommandWith(GetItemCommand, {
      TableName: ENV.CONVO_HISTORY_TABLE_NAME,
      Key: KEY,
      ProjectionExpression: '#handledBy',
      ExpressionAttributeNames: { '#handledBy': 'handledBy' },
      ConsistentRead: true,
    });
    expect(dynamodb.commandCalls(PutItemCommand)[0].args[0].input).toEqual({
      TableName: ENV.ESCALATION_MARKERS_TABLE_NAME,
      Item: {
        markerKey: { S: 'nobody-online#conv-1/msg-1' },
        reason: { S: 'nobody-online' },
        tenantId: { S: 'acme' },
        escalatedAt: { S: NOW.toISOString() },
        expiresAt: { N: String(NOW.getTime() / 1000 + 30 * 86_400) },
      },
      ConditionExpression: 'attribute_not_exists(#markerKey)',
      ExpressionAttributeNames: { '#markerKey': 'markerKey' },
    });
    const expected = escalationMessageOf(
      { reason: 'nobody-online', tenantId: 'acme', conversationId: 'conv-1', messageId: 'msg-1', topic: 'team', createdAt: '2026-12-01T10:00:00.000Z', counts: outcomeOf().counts },
      NOW,
    );
    expect(sns.commandCalls(PublishCommand).map((c) => c.args[0].input)).toEqual([
      {
        TopicArn: ENV.ESCALATION_TOPIC_ARN,
        Subject: expected.subject,
        Message: expected.message,
        MessageAttributes: { tenantId: { DataType: 'String', StringValue: 'acme' }, reason: { DataType: 'String', StringValue: 'nobody-online' } },
      },
    ]);
    expect(expected.subject).toBe('Customer waiting 7 min, no agent online: tenant acme');
    expect(metricPoints(output.metrics)).toContainEqual(expect.objectContaining({ name: 'EscalationsPublished', value: 1, dimensions: expect.objectContaining({ reason: 'nobody-online' }) }));
  });

  it('escalates an unrouted created message as unrouted', async () => {
    const result = await handler(eventOf(outcomeOf({ detailType: OUTCOME_DETAIL_TYPES.unrouted, counts: ZERO_OUTCOME_COUNTS })));
    expect(result).toMatchObject({ outcome: 'published', reason: 'unrouted', markerKey: 'unrouted#conv-1/msg-1' });
    expect(sns.commandCalls(PublishCommand)[0].args[0].input.MessageAttributes?.reason).toEqual({ DataType: 'String', StringValue: 'unrouted' });
  });

  it('escalates an unanswered message from the schedule input, with its waiting time from createdAt', async () => {
    const result = await handler(timerInput);
    expect(result).toMatchObject({ outcome: 'published', reason: 'unanswered', markerKey: 'unanswered#conv-1/msg-1' });
    expect(sns.commandCalls(PublishCommand)[0].args[0].input.Subject).toBe('Customer waiting 7 min, not answered: tenant acme');
  });

  it('publishes nothing when the marker is there already (a retried, duplicated or replayed event)', async () => {
    dynamodb.on(PutItemCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    const result = await handler(eventOf(outcomeOf()));
    expect(result).toEqual({ outcome: 'already-escalated', reason: 'nobody-online', markerKey: 'nobody-online#conv-1/msg-1' });
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
    expect(output.logs).toContainEqual(expect.objectContaining({ message: 'escalation skipped: already-escalated', messageId: 'msg-1' }));
    expect(metricPoints(output.metrics)).toContainEqual(
      expect.objectContaining({ name: 'EscalationsSkipped', value: 1, dimensions: expect.objectContaining({ reason: 'nobody-online', skipped: 'already-escalated' }) }),
    );
  });

  it('publishes nothing and writes no marker when the message is handled by the time the timer fires', async () => {
    historyHolds({ handledBy: { S: 'agent-7' } });
    const result = await handler(timerInput);
    expect(result).toEqual({ outcome: 'handled', reason: 'unanswered', markerKey: 'unanswered#conv-1/msg-1' });
    expect(dynamodb).not.toHaveReceivedCommand(PutItemCommand);
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
  });

  it('publishes nothing when a late replay of a created outcome arrives for a message handled since', async () => {
    historyHolds({ handledBy: { S: 'agent-7' } });
    expect(await handler(eventOf(outcomeOf()))).toMatchObject({ outcome: 'handled' });
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
  });

  it('publishes nothing for a message deleted from CONVO_HISTORY', async () => {
    historyHolds(undefined);
    expect(await handler(timerInput)).toMatchObject({ outcome: 'gone' });
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
  });

  it('removes its own marker and throws when the publish fails, so that the retry still escalates', async () => {
    sns.on(PublishCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottledException' }));
    await expect(handler(eventOf(outcomeOf()))).rejects.toThrow(EscalationPublishError);
    expect(dynamodb.commandCalls(DeleteItemCommand).map((c) => c.args[0].input)).toEqual([
      {
        TableName: ENV.ESCALATION_MARKERS_TABLE_NAME,
        Key: { markerKey: { S: 'nobody-online#conv-1/msg-1' } },
        ConditionExpression: '#escalatedAt = :escalatedAt',
        ExpressionAttributeNames: { '#escalatedAt': 'escalatedAt' },
        ExpressionAttributeValues: { ':escalatedAt': { S: NOW.toISOString() } },
      },
    ]);
  });

  it('throws a named error when CONVO_HISTORY cannot be read, before any marker is written', async () => {
    dynamodb.on(GetItemCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    await expect(handler(timerInput)).rejects.toThrow(EscalationStoreError);
    expect(dynamodb).not.toHaveReceivedCommand(PutItemCommand);
  });

  it('throws a named error when the marker cannot be written, and publishes nothing', async () => {
    dynamodb.on(PutItemCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    await expect(handler(timerInput)).rejects.toThrow(/escalation marker could not be written: ProvisionedThroughputExceededException/);
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
  });

  it('refuses an outcome its rules never send (someone online, a handled message) as a wiring error', async () => {
    await expect(handler(eventOf(outcomeOf({ counts: { ...outcomeOf().counts, online: 1, pushed: 1 } })))).rejects.toThrow(InvalidTaskInputError);
    await expect(handler(eventOf(outcomeOf({ kind: 'handled', handledAt: '2026-12-01T10:01:00.000Z' })))).rejects.toThrow(/the rule's pattern is wrong/);
    expect(dynamodb).not.toHaveReceivedAnyCommand();
  });

  it("refuses an event whose detail-type differs from its outcome's detailType, before reading or publishing anything", async () => {
    const mislabelled = { ...eventOf(outcomeOf()), 'detail-type': OUTCOME_DETAIL_TYPES.unrouted };
    await expect(handler(mislabelled)).rejects.toThrow(InvalidTaskInputError);
    await expect(handler(mislabelled)).rejects.toThrow(/detail-type: detail-type "Notification Unrouted" differs from the outcome's detailType "Notification Fanned Out"/);
    expect(dynamodb).not.toHaveReceivedAnyCommand();
    expect(sns).not.toHaveReceivedCommand(PublishCommand);
  });

  it('refuses input that is neither an outcome event nor a timer input, naming what is wrong', async () => {
    await expect(handler({ ...timerInput, createdAt: 'yesterday' })).rejects.toThrow(InvalidTaskInputError);
    await expect(handler({ source: 'somebody-else', 'detail-type': 'x', detail: {} })).rejects.toThrow(/expected an outcome event/);
  });
});
