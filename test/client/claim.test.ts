import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  UpdateItemCommand,
  type AttributeValue,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { AgentClient } from '../../client/agent-client';
import { claimMessage, type ClaimOptions } from '../../client/claim';
import { ClaimFailedError, InvalidClaimInputError, InvalidClientOptionsError, MessageNotFoundError } from '../../client/errors';

const ddbMock = mockClient(DynamoDBClient);
const NOW = new Date('2026-11-24T10:15:00.000Z');
const options = (agentId = 'agent-1'): ClaimOptions => ({ dynamodb: new DynamoDBClient({}), tableName: 'CONVO_HISTORY', agentId, now: () => NOW });
const conditionFailed = (item?: Record<string, AttributeValue>) =>
  new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {}, ...(item ? { Item: item } : {}) });

beforeEach(() => ddbMock.reset());

describe('claim (DynamoDB mocked)', () => {
  it('wins with one conditional UpdateItem that never creates an item', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    await expect(claimMessage(options(), { conversationId: 'c1', messageId: 'm1' })).resolves.toEqual({
      won: true,
      handledBy: 'agent-1',
      handledAt: '2026-11-24T10:15:00.000Z',
    });
    const calls = ddbMock.commandCalls(UpdateItemCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      TableName: 'CONVO_HISTORY',
      Key: { conversationId: { S: 'c1' }, messageId: { S: 'm1' } },
      UpdateExpression: 'SET #handledBy = :agentId, #handledAt = :handledAt',
      ConditionExpression: 'attribute_exists(#messageId) AND attribute_not_exists(#handledBy)',
      ExpressionAttributeNames: { '#messageId': 'messageId', '#handledBy': 'handledBy', '#handledAt': 'handledAt' },
      ExpressionAttributeValues: { ':agentId': { S: 'agent-1' }, ':handledAt': { S: '2026-11-24T10:15:00.000Z' } },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('loses to an earlier agent with a clear answer naming who won, not an error', async () => {
    ddbMock.on(UpdateItemCommand).rejects(
      conditionFailed({
        conversationId: { S: 'c1' },
        messageId: { S: 'm1' },
        handledBy: { S: 'agent-2' },
        handledAt: { S: '2026-11-24T10:14:59.000Z' },
      }),
    );
    await expect(claimMessage(options(), { conversationId: 'c1', messageId: 'm1' })).resolves.toEqual({
      won: false,
      handledBy: 'agent-2',
      handledAt: '2026-11-24T10:14:59.000Z',
    });
  });

  it('answers won (alreadyYours) when the item already names this agent, e.g. a retried request', async () => {
    ddbMock.on(UpdateItemCommand).rejects(conditionFailed({ messageId: { S: 'm1' }, handledBy: { S: 'agent-1' }, handledAt: { S: '2026-11-24T10:00:00.000Z' } }));
    await expect(claimMessage(options(), { conversationId: 'c1', messageId: 'm1' })).resolves.toEqual({
      won: true,
      handledBy: 'agent-1',
      handledAt: '2026-11-24T10:00:00.000Z',
      alreadyYours: true,
    });
  });

  it('throws MessageNotFoundError for a message that does not exist (no item returned)', async () => {
    ddbMock.on(UpdateItemCommand).rejects(conditionFailed());
    const err = await claimMessage(options(), { conversationId: 'c1', messageId: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MessageNotFoundError);
    expect(err).toMatchObject({ name: 'MessageNotFoundError', conversationId: 'c1', messageId: 'nope' });
  });

  it.each([
    ['an empty message id', { conversationId: 'c1', messageId: '' }, /messageId/],
    ['a space in the conversation id', { conversationId: 'c 1', messageId: 'm1' }, /conversationId: must be printable ASCII/],
    ['a message id over its 128 characters', { conversationId: 'c1', messageId: 'm'.repeat(129) }, /messageId/],
    ['no message id', { conversationId: 'c1' }, /messageId/],
  ])('validates its input with zod before calling DynamoDB: %s', async (_label, input, message) => {
    const err = await claimMessage(options(), input as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidClaimInputError);
    expect((err as Error).name).toBe('InvalidClaimInputError');
    expect((err as Error).message).toMatch(message);
    expect(ddbMock.commandCalls(UpdateItemCommand)).toHaveLength(0);
  });

  it('rejects options without a table name or agent', async () => {
    await expect(claimMessage({ ...options(), tableName: '' }, { conversationId: 'c1', messageId: 'm1' })).rejects.toThrow(InvalidClientOptionsError);
    await expect(claimMessage({ ...options(), agentId: '' }, { conversationId: 'c1', messageId: 'm1' })).rejects.toThrow(/agentId/);
  });

  it('wraps any other failure in a named ClaimFailedError with the cause', async () => {
    const cause = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
    ddbMock.on(UpdateItemCommand).rejects(cause);
    const err = await claimMessage(options(), { conversationId: 'c1', messageId: 'm1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClaimFailedError);
    expect(err).toMatchObject({ name: 'ClaimFailedError', cause });
  });

  it('lets exactly one of many concurrent agents win; every loser is told who', async () => {
    // A one-item CONVO_HISTORY that evaluates the claim's condition like DynamoDB does.
    const item: Record<string, AttributeValue> = { conversationId: { S: 'c1' }, messageId: { S: 'm1' } };
    ddbMock.on(UpdateItemCommand).callsFake(async (input: UpdateItemCommandInput) => {
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      expect(input.ConditionExpression).toBe('attribute_exists(#messageId) AND attribute_not_exists(#handledBy)');
      if (item.handledBy !== undefined) throw conditionFailed({ ...item });
      item.handledBy = input.ExpressionAttributeValues![':agentId'];
      item.handledAt = input.ExpressionAttributeValues![':handledAt'];
      return {};
    });
    const agents = ['a1', 'a2', 'a3', 'a4', 'a5'];
    const results = await Promise.all(agents.map((a) => claimMessage(options(a), { conversationId: 'c1', messageId: 'm1' })));
    const winners = results.filter((r) => r.won);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => !r.won).every((r) => r.handledBy === winners[0].handledBy)).toBe(true);
    expect(item.handledBy).toEqual({ S: winners[0].handledBy });
  });

  it('AgentClient.claim goes through its claimer (here claimMessage with the agent id and table), and needs one', async () => {
    ddbMock.on(UpdateItemCommand).resolves({});
    const dynamodb = new DynamoDBClient({});
    const client = new AgentClient({
      clientId: 'dev-1',
      agentId: 'agent-9',
      brokerUrl: 'mqtt://127.0.0.1:1',
      claim: (input) => claimMessage({ dynamodb, tableName: 'CONVO_HISTORY', agentId: 'agent-9', now: () => NOW }, input),
    });
    await expect(client.claim({ conversationId: 'c1', messageId: 'm1' })).resolves.toMatchObject({ won: true, handledBy: 'agent-9' });
    expect(ddbMock.commandCalls(UpdateItemCommand)[0].args[0].input.ExpressionAttributeValues?.[':agentId']).toEqual({ S: 'agent-9' });

    const noClaim = new AgentClient({ clientId: 'dev-1', agentId: 'agent-9', brokerUrl: 'mqtt://127.0.0.1:1' });
    await expect(noClaim.claim({ conversationId: 'c1', messageId: 'm1' })).rejects.toThrow(InvalidClientOptionsError);
  });
});
