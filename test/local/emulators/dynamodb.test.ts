import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { convoHistoryTableInput, LocalDynamoDb, type DynamoDbStreamRecord } from '../../../local/emulators/dynamodb';
import { listen, type Listening } from '../../../local/emulators/listen';

describe('local DynamoDB with a NEW_AND_OLD_IMAGES stream', () => {
  let db: LocalDynamoDb;
  let endpoint: Listening;
  let client: DynamoDBClient;
  let records: DynamoDbStreamRecord[];
  let streamArn: string;

  beforeEach(async () => {
    db = new LocalDynamoDb();
    await db.start();
    endpoint = await listen(db.handle);
    client = new DynamoDBClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    await client.send(
      new CreateTableCommand(convoHistoryTableInput('CONVO_HISTORY')),
    );
    streamArn = db.enableStream('CONVO_HISTORY');
    records = [];
    db.onStreamRecord((r) => records.push(r));
  });

  afterEach(async () => {
    client.destroy();
    await endpoint.close();
    await db.stop();
  });

  const key = { conversationId: { S: 'c1' }, messageId: { S: 'm1' } };

  it('emits INSERT, MODIFY and REMOVE records with old and new images and rising sequence numbers', async () => {
    await client.send(new PutItemCommand({ TableName: 'CONVO_HISTORY', Item: { ...key, body: { S: 'hi' } } }));
    await client.send(
      new UpdateItemCommand({
        TableName: 'CONVO_HISTORY',
        Key: key,
        UpdateExpression: 'SET handledBy = :a',
        ExpressionAttributeValues: { ':a': { S: 'agent-1' } },
      }),
    );
    await client.send(new DeleteItemCommand({ TableName: 'CONVO_HISTORY', Key: key }));

    expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    const [insert, modify, remove] = records;
    expect(insert).toMatchObject({
      eventSource: 'aws:dynamodb',
      eventVersion: '1.1',
      eventSourceARN: streamArn,
      dynamodb: { Keys: key, NewImage: { ...key, body: { S: 'hi' } }, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    });
    expect(insert.dynamodb.OldImage).toBeUndefined();
    expect(modify.dynamodb.OldImage).toEqual({ ...key, body: { S: 'hi' } });
    expect(modify.dynamodb.NewImage).toEqual({ ...key, body: { S: 'hi' }, handledBy: { S: 'agent-1' } });
    expect(remove.dynamodb.NewImage).toBeUndefined();
    expect(BigInt(modify.dynamodb.SequenceNumber)).toBeGreaterThan(BigInt(insert.dynamodb.SequenceNumber));
    expect(BigInt(remove.dynamodb.SequenceNumber)).toBeGreaterThan(BigInt(modify.dynamodb.SequenceNumber));
  });

  it('emits nothing for a failed conditional write and returns the old item when ALL_OLD is asked', async () => {
    await client.send(new PutItemCommand({ TableName: 'CONVO_HISTORY', Item: { ...key, handledBy: { S: 'agent-1' } } }));
    records.length = 0;
    const error = await client
      .send(
        new UpdateItemCommand({
          TableName: 'CONVO_HISTORY',
          Key: key,
          UpdateExpression: 'SET handledBy = :a',
          ConditionExpression: 'attribute_not_exists(handledBy)',
          ExpressionAttributeValues: { ':a': { S: 'agent-2' } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConditionalCheckFailedException);
    expect((error as ConditionalCheckFailedException).Item).toEqual({ ...key, handledBy: { S: 'agent-1' } });
    expect(records).toEqual([]);
    const stored = await client.send(new GetItemCommand({ TableName: 'CONVO_HISTORY', Key: key }));
    expect(stored.Item?.handledBy).toEqual({ S: 'agent-1' });
  });

  it('serialises concurrent writes so every old image is the previous new image', async () => {
    await client.send(new PutItemCommand({ TableName: 'CONVO_HISTORY', Item: { ...key, n: { N: '0' } } }));
    await Promise.all(
      Array.from({ length: 10 }, () =>
        client.send(
          new UpdateItemCommand({
            TableName: 'CONVO_HISTORY',
            Key: key,
            UpdateExpression: 'ADD n :one',
            ExpressionAttributeValues: { ':one': { N: '1' } },
          }),
        ),
      ),
    );
    const modifies = records.filter((r) => r.eventName === 'MODIFY');
    expect(modifies).toHaveLength(10);
    modifies.forEach((r) => expect(Number(r.dynamodb.NewImage!.n.N)).toBe(Number(r.dynamodb.OldImage!.n.N) + 1));
  });

  it('answers operations it does not implement with UnknownOperationException', async () => {
    await expect(
      client.send(new BatchWriteItemCommand({ RequestItems: { CONVO_HISTORY: [{ PutRequest: { Item: key } }] } })),
    ).rejects.toMatchObject({ message: expect.stringContaining('BatchWriteItem is not implemented') });
  });
});
