import '../support/task-env';
import { InvalidRecordError, InvalidTaskInputError } from '../../tasks/shared/errors';
import { NotificationEnvelopeSchema, PREVIEW_LENGTH } from '../../tasks/shared/envelope';
import { previewOf } from '../../tasks/shared/preview';
import { handler } from '../../tasks/normalize-record/handler';
import { fixture } from '../support/fixtures';
import { captureLogs } from '../support/logs';

type Rec = { eventName: string; dynamodb: { NewImage?: Record<string, unknown>; OldImage?: Record<string, unknown> } } & Record<string, unknown>;
const stream = (name: string) => fixture<Rec>('stream', name);

const rejection = async (record: unknown): Promise<InvalidRecordError> => {
  const error = await handler({ record }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidRecordError);
  return error as InvalidRecordError;
};

beforeEach(() => {
  captureLogs();
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('normalize-record: notifications from valid records', () => {
  it('turns an INSERT with an assigned agent into a message.created envelope on the direct topic', async () => {
    const out = await handler({ record: stream('insert-direct') });
    expect(out).toEqual({
      notification: {
        notificationId: 'msg-01J9Z6T4Q8#created',
        kind: 'message.created',
        messageId: 'msg-01J9Z6T4Q8',
        conversationId: 'conv-7f3a',
        tenantId: 'tenant-acme',
        topic: 'direct',
        senderId: 'cust-4411',
        senderType: 'customer',
        channel: 'whatsapp',
        preview: 'Hi, my order #5512 arrived damaged. Can someone help?',
        createdAt: '2025-03-04T10:15:30.120Z',
        streamSequence: '4421584500000000017450439091',
      },
      audience: {
        topic: 'direct',
        tenantId: 'tenant-acme',
        senderId: 'cust-4411',
        senderType: 'customer',
        assignedAgentId: 'agent-berta',
        teamId: 'team-support',
      },
    });
    expect(NotificationEnvelopeSchema.safeParse(out.notification).success).toBe(true);
  });

  it('routes to the team topic when the assigned agent is DynamoDB NULL and a team is set', async () => {
    const out = await handler({ record: stream('insert-team') });
    expect(out.notification.topic).toBe('team');
    expect(out.audience).toEqual({ topic: 'team', tenantId: 'tenant-acme', senderId: 'cust-4411', senderType: 'customer', teamId: 'team-support' });
  });

  it('routes to the sender topic without agent or team, ignoring unknown attributes of every type', async () => {
    const out = await handler({ record: stream('insert-sender-unknown-attributes') });
    expect(out.audience).toEqual({ topic: 'sender', tenantId: 'tenant-acme', senderId: 'cust-9001', senderType: 'customer' });
    expect(out.notification).not.toHaveProperty('attachments');
    expect(out.notification).not.toHaveProperty('legacyCounter');
  });

  it('carries an agent sender through to the audience so resolve-recipients can leave it out', async () => {
    const out = await handler({ record: stream('insert-agent-to-team') });
    expect(out.audience).toMatchObject({ topic: 'team', senderId: 'agent-carl', senderType: 'agent' });
  });

  it('turns a MODIFY that newly sets handledBy into a message.handled envelope with handledBy and handledAt', async () => {
    const out = await handler({ record: stream('modify-handled') });
    expect(out.notification).toMatchObject({
      notificationId: 'msg-01J9Z6T4Q8#handled',
      kind: 'message.handled',
      handledBy: 'agent-berta',
      handledAt: '2025-03-04T10:17:02.480Z',
      topic: 'direct',
      streamSequence: '4421585900000000017450440187',
    });
  });

  it('treats handledBy changing from DynamoDB NULL to a value as newly handled', async () => {
    const record = stream('modify-handled');
    record.dynamodb.OldImage = { ...record.dynamodb.OldImage, handledBy: { NULL: true } };
    const out = await handler({ record });
    expect(out.notification.kind).toBe('message.handled');
  });

  it('keeps handledBy on the created envelope of a message inserted already handled', async () => {
    const record = stream('insert-direct');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, handledBy: { S: 'agent-berta' } };
    const out = await handler({ record });
    expect(out.notification).toMatchObject({ kind: 'message.created', notificationId: 'msg-01J9Z6T4Q8#created', handledBy: 'agent-berta' });
  });

  it('accepts an empty body (an attachment-only message) with an empty preview', async () => {
    const record = stream('insert-direct');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, body: { S: '' } };
    expect((await handler({ record })).notification.preview).toBe('');
  });

  it('cuts the preview to the first 200 characters of the body', async () => {
    const record = stream('insert-direct');
    const body = 'x'.repeat(150) + 'y'.repeat(100);
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, body: { S: body } };
    expect((await handler({ record })).notification.preview).toBe(body.slice(0, PREVIEW_LENGTH));
  });

  it('logs each normalized record with its notification id', async () => {
    const logs = captureLogs();
    await handler({ record: stream('insert-direct') });
    expect(logs).toContainEqual(expect.objectContaining({ level: 'INFO', message: 'record normalized', notificationId: 'msg-01J9Z6T4Q8#created' }));
  });
});

describe('normalize-record: records that are quarantined (InvalidRecordError naming the field)', () => {
  it('rejects a REMOVE', async () => {
    const error = await rejection(stream('remove'));
    expect(error.name).toBe('InvalidRecordError');
    expect(error.field).toBe('eventName');
    expect(error.message).toMatch(/^eventName: REMOVE records never become notifications/);
  });

  it('rejects a MODIFY that edits the body without handling the message', async () => {
    expect((await rejection(stream('modify-body-edit'))).field).toBe('NewImage.handledBy');
  });

  it('rejects a MODIFY of a message that was already handled (handledBy changed hands)', async () => {
    expect((await rejection(stream('modify-already-handled'))).field).toBe('OldImage.handledBy');
  });

  it('rejects a MODIFY without OldImage, which cannot be told from an edit', async () => {
    const record = stream('modify-handled');
    delete record.dynamodb.OldImage;
    expect((await rejection(record)).field).toBe('OldImage');
  });

  it('rejects a record without NewImage', async () => {
    const record = stream('insert-direct');
    delete record.dynamodb.NewImage;
    expect((await rejection(record)).field).toBe('NewImage');
  });

  it('rejects an item without createdAt', async () => {
    const error = await rejection(stream('insert-missing-createdAt'));
    expect(error.field).toBe('NewImage.createdAt');
    expect(error.message).toMatch(/^NewImage\.createdAt: /);
  });

  it.each([
    ['createdAt', { S: '04/03/2025 10:15' }],
    ['createdAt', { S: '2025-03-04T10:15:30' }],
    ['createdAt', { N: '1741083330' }],
    ['senderType', { S: 'robot' }],
    ['tenantId', { S: '' }],
    ['channel', { NULL: true }],
    ['assignedAgentId', { S: '' }],
    ['handledAt', { S: 'yesterday' }],
    ['conversationId', { S: 'conv with spaces' }],
    ['messageId', { S: 'm'.repeat(121) }],
  ])('rejects %s = %j', async (attribute, value) => {
    const record = stream('insert-direct');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, [attribute]: value };
    expect((await rejection(record)).field).toBe(`NewImage.${attribute}`);
  });

  it('names a known attribute that is not a DynamoDB attribute value at all', async () => {
    const record = stream('insert-direct');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, body: { X: 'no such type' } };
    expect((await rejection(record)).field).toBe('NewImage.body');
  });

  it('lists every problem in the message while naming the first one as the field', async () => {
    const record = stream('insert-direct');
    const image = { ...record.dynamodb.NewImage };
    delete image.tenantId;
    delete image.channel;
    record.dynamodb.NewImage = image;
    const error = await rejection(record);
    expect(error.field).toBe('NewImage.tenantId');
    expect(error.message).toContain('NewImage.channel');
  });

  it('rejects a record without a sequence number', async () => {
    const record = stream('insert-direct') as Rec & { dynamodb: { SequenceNumber?: string } };
    delete record.dynamodb.SequenceNumber;
    expect((await rejection(record)).field).toBe('SequenceNumber');
  });

  it('rejects a record that is not an object', async () => {
    expect((await rejection('INSERT')).field).toBe('record');
  });

  it('rejects both records of the AWS EventBridge Pipes DynamoDB sample event, which are not CONVO_HISTORY items', async () => {
    const [insert, modify] = fixture<unknown[]>('stream', 'aws-docs-sample');
    expect((await rejection(insert)).field).toBe('NewImage.conversationId');
    expect((await rejection(modify)).field).toBe('NewImage.handledBy');
  });

  it('logs the quarantined record with its field and event id', async () => {
    const logs = captureLogs();
    await rejection(stream('remove'));
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'WARN', field: 'eventName', eventID: '45c48cce2e2d7fbdea1afc51c7c6ad26' }),
    );
  });
});

describe('normalize-record: task input', () => {
  it.each([[undefined], [null], [{}], [[{ eventName: 'INSERT' }]]])('throws InvalidTaskInputError for %j', async (event) => {
    await expect(handler(event)).rejects.toBeInstanceOf(InvalidTaskInputError);
  });
});

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('previewOf', () => {
  it('returns a short body unchanged', () => {
    expect(previewOf('hello')).toBe('hello');
  });

  it('never splits a surrogate pair at the limit', () => {
    const body = 'a'.repeat(199) + '😀' + 'tail';
    const preview = previewOf(body);
    expect(preview).toBe('a'.repeat(199));
    expect(preview.length).toBeLessThanOrEqual(PREVIEW_LENGTH);
  });

  it('keeps a whole emoji that ends exactly at the limit', () => {
    const body = 'a'.repeat(198) + '😀' + 'tail';
    expect(previewOf(body)).toBe('a'.repeat(198) + '😀');
  });

  it('never separates a letter from its combining accent or splits a ZWJ emoji sequence', () => {
    const family = '👩‍👩‍👧';
    expect(previewOf('a'.repeat(196) + family + 'b')).toBe('a'.repeat(196));
    expect(previewOf('a'.repeat(199) + 'e\u0301' + 'b')).toBe('a'.repeat(199));
  });

  it('falls back to a code-point cut when one grapheme is longer than the whole preview', () => {
    const zalgo = 'Z' + '\u0336'.repeat(300);
    expect(previewOf(zalgo)).toHaveLength(PREVIEW_LENGTH);
    const astral = '😀' + '\u0336'.repeat(300);
    expect(previewOf(astral, 2)).toBe('😀');
    expect(previewOf(astral, 1)).toBe('');
  });

  it('always yields a valid envelope preview, whatever the body', () => {
    const bodies = ['😀'.repeat(150), 'é'.normalize('NFD').repeat(150), '🇫🇷'.repeat(80), 'x'.repeat(10_000)];
    for (const body of bodies) {
      const preview = previewOf(body);
      expect(preview.length).toBeLessThanOrEqual(PREVIEW_LENGTH);
      expect(body.startsWith(preview)).toBe(true);
      expect(preview).not.toMatch(LONE_SURROGATE);
    }
  });
});
