import '../support/task-env';
import { createHash } from 'node:crypto';
import { InvalidTaskInputError } from '../../tasks/shared/errors';
import {
  ENRICHMENT_INPUT_TEMPLATE,
  MAX_ENTRY_BYTES,
  QUARANTINE_EXCERPT_CHARS,
  applyInputTemplate,
  type BatchEntry,
  type NotifyEntry,
  type QuarantineEntry,
} from '../../contracts/enrichment';
import { FIELD_LIMITS, NotificationEnvelopeSchema, PREVIEW_LENGTH, notificationIdOf } from '../../contracts/envelope';
import { AWS_LIMITS, payloadBytes } from '../../contracts/limits';
import { previewOf } from '../../contracts/preview';
import { handler } from '../../tasks/normalize-batch/handler';
import { fixture } from '../support/fixtures';
import { captureLogs, captureMetrics, metricPoints } from '../support/logs';

type Rec = { eventName: string; dynamodb: { NewImage?: Record<string, unknown>; OldImage?: Record<string, unknown> } } & Record<string, unknown>;
const stream = (name: string) => fixture<Rec>('stream', name);

/** What the Pipe hands NormalizeBatch for one stream record: the record shaped by the deployed template. */
const templated = (record: unknown): unknown => applyInputTemplate(ENRICHMENT_INPUT_TEMPLATE, record);

const normalizeOne = async (record: unknown): Promise<BatchEntry> => {
  const entries = await handler([templated(record)]);
  expect(entries).toHaveLength(1);
  return entries[0];
};

const accepted = async (record: unknown): Promise<NotifyEntry> => {
  const entry = await normalizeOne(record);
  expect(entry).toHaveProperty('notification');
  return entry as NotifyEntry;
};

const rejection = async (record: unknown, raw = false): Promise<QuarantineEntry['quarantine']> => {
  const entry = raw ? (await handler([record]))[0] : await normalizeOne(record);
  expect(entry).toHaveProperty('quarantine');
  return (entry as QuarantineEntry).quarantine;
};

const sha256 = (parts: unknown[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex');

beforeEach(() => {
  captureLogs();
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('normalize-batch: notifications from valid records', () => {
  it('turns an INSERT with an assigned agent into a message.created envelope on the direct topic', async () => {
    const out = await accepted(stream('insert-direct-agent-and-team'));
    expect(out).toEqual({
      notification: {
        notificationId: 'conv-7f3a/msg-01J9Z6T4Q8#created',
        deduplicationId: sha256(['conv-7f3a', 'msg-01J9Z6T4Q8', 'message.created', '2025-03-04T10:15:30.120Z']),
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
    const out = await accepted(stream('insert-team-agent-null'));
    expect(out.notification.topic).toBe('team');
    expect(out.audience).toEqual({ topic: 'team', tenantId: 'tenant-acme', senderId: 'cust-4411', senderType: 'customer', teamId: 'team-support' });
  });

  it('routes to the sender topic without agent or team, ignoring unknown attributes of every type', async () => {
    const out = await accepted(stream('insert-sender-unknown-attributes'));
    expect(out.audience).toEqual({ topic: 'sender', tenantId: 'tenant-acme', senderId: 'cust-9001', senderType: 'customer' });
    expect(out.notification).not.toHaveProperty('attachments');
    expect(out.notification).not.toHaveProperty('legacyCounter');
  });

  it('carries an agent sender through to the audience so resolve-recipients can leave it out', async () => {
    const out = await accepted(stream('insert-agent-to-team'));
    expect(out.audience).toMatchObject({ topic: 'team', senderId: 'agent-carl', senderType: 'agent' });
  });

  it('turns a MODIFY that newly sets handledBy into a message.handled envelope with handledBy and handledAt', async () => {
    const out = await accepted(stream('modify-handled-direct-agent-and-team'));
    expect(out.notification).toMatchObject({
      notificationId: 'conv-7f3a/msg-01J9Z6T4Q8#handled',
      kind: 'message.handled',
      handledBy: 'agent-berta',
      handledAt: '2025-03-04T10:17:02.480Z',
      topic: 'direct',
      streamSequence: '4421585900000000017450440187',
    });
  });

  it('treats handledBy changing from DynamoDB NULL to a value as newly handled', async () => {
    const record = stream('modify-handled-direct-agent-and-team');
    record.dynamodb.OldImage = { ...record.dynamodb.OldImage, handledBy: { NULL: true } };
    const out = await accepted(record);
    expect(out.notification.kind).toBe('message.handled');
  });

  it('turns an INSERT that is already handled into a message.handled envelope, never a NEW one', async () => {
    const record = stream('insert-direct-agent-and-team');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, handledBy: { S: 'bot-faq' }, handledAt: { S: '2025-03-04T10:15:31.000Z' } };
    const out = await accepted(record);
    expect(out.notification).toMatchObject({
      kind: 'message.handled',
      notificationId: 'conv-7f3a/msg-01J9Z6T4Q8#handled',
      deduplicationId: sha256(['conv-7f3a', 'msg-01J9Z6T4Q8', 'message.handled', '2025-03-04T10:15:31.000Z']),
      handledBy: 'bot-faq',
    });
  });

  it('gives the same messageId in two conversations two identities and two deduplication ids', async () => {
    const first = stream('insert-direct-agent-and-team');
    const second = stream('insert-direct-agent-and-team');
    second.dynamodb.NewImage = { ...second.dynamodb.NewImage, conversationId: { S: 'conv-other' } };
    const [a, b] = (await handler([templated(first), templated(second)])) as NotifyEntry[];
    expect(a.notification.notificationId).toBe('conv-7f3a/msg-01J9Z6T4Q8#created');
    expect(b.notification.notificationId).toBe('conv-other/msg-01J9Z6T4Q8#created');
    expect(a.notification.deduplicationId).not.toBe(b.notification.deduplicationId);
  });

  it('keeps the deduplication id of a redelivered record and changes it when the message is written again with a new createdAt', async () => {
    const once = await accepted(stream('insert-direct-agent-and-team'));
    const again = await accepted(stream('insert-direct-agent-and-team'));
    const rewritten = stream('insert-direct-agent-and-team');
    rewritten.dynamodb.NewImage = { ...rewritten.dynamodb.NewImage, createdAt: { S: '2025-03-04T11:00:00.000Z' } };
    expect(again.notification.deduplicationId).toBe(once.notification.deduplicationId);
    expect((await accepted(rewritten)).notification.deduplicationId).not.toBe(once.notification.deduplicationId);
  });

  it('encodes ids so that a "/" or "#" inside them cannot make two identities collide', () => {
    expect(notificationIdOf({ conversationId: 'a/b', messageId: 'c' }, 'message.created')).not.toBe(
      notificationIdOf({ conversationId: 'a', messageId: 'b/c' }, 'message.created'),
    );
    expect(notificationIdOf({ conversationId: 'a#created', messageId: 'b' }, 'message.handled')).toBe('a%23created/b#handled');
  });

  it('delivers a 400 KB body as its 200-character preview', async () => {
    const record = stream('insert-direct-agent-and-team');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, body: { S: 'b'.repeat(AWS_LIMITS.dynamodbItemBytes - 1_000) } };
    const out = await accepted(record);
    expect(out.notification.preview).toBe('b'.repeat(PREVIEW_LENGTH));
    expect(payloadBytes(out)).toBeLessThan(2_000);
  });

  it('accepts an empty body (an attachment-only message) with an empty preview', async () => {
    const record = stream('insert-direct-agent-and-team');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, body: { S: '' } };
    expect((await accepted(record)).notification.preview).toBe('');
  });

  it('cuts the preview to the first 200 characters of the body', async () => {
    const record = stream('insert-direct-agent-and-team');
    const body = 'x'.repeat(150) + 'y'.repeat(100);
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, body: { S: body } };
    expect((await accepted(record)).notification.preview).toBe(body.slice(0, PREVIEW_LENGTH));
  });

  it('logs each normalized record with its notification id', async () => {
    const logs = captureLogs();
    await accepted(stream('insert-direct-agent-and-team'));
    expect(logs).toContainEqual(expect.objectContaining({ level: 'INFO', message: 'record normalized', notificationId: 'conv-7f3a/msg-01J9Z6T4Q8#created' }));
  });
});

describe('normalize-batch: records that become quarantine entries naming the field', () => {
  it('rejects a REMOVE', async () => {
    const quarantine = await rejection(stream('remove'));
    expect(quarantine).toMatchObject({
      field: 'eventName',
      eventName: 'REMOVE',
      eventID: '45c48cce2e2d7fbdea1afc51c7c6ad26',
      keys: { conversationId: expect.any(String), messageId: expect.any(String) },
    });
    expect(quarantine.reason).toMatch(/^eventName: REMOVE records never become notifications/);
  });

  it('rejects a MODIFY that edits the body without handling the message', async () => {
    expect((await rejection(stream('modify-body-edited'))).field).toBe('NewImage.handledBy');
  });

  it('rejects a MODIFY of a message that was already handled (handledBy changed hands)', async () => {
    expect((await rejection(stream('modify-already-handled'))).field).toBe('OldImage.handledBy');
  });

  it.each([
    ['tenantId', FIELD_LIMITS.tenantId],
    ['senderId', FIELD_LIMITS.senderId],
    ['channel', FIELD_LIMITS.channel],
    ['assignedAgentId', FIELD_LIMITS.agentId],
    ['teamId', FIELD_LIMITS.teamId],
    ['handledBy', FIELD_LIMITS.agentId],
    ['conversationId', FIELD_LIMITS.conversationId],
  ])('quarantines an item whose %s is over its bound, naming the field', async (attribute, limit) => {
    const record = stream('insert-direct-agent-and-team');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, [attribute]: { S: 'x'.repeat(limit + 1) } };
    const quarantine = await rejection(record);
    expect(quarantine.field).toBe(`NewImage.${attribute}`);
    expect(payloadBytes(quarantine)).toBeLessThanOrEqual(MAX_ENTRY_BYTES);
  });

  it('quarantines a 300 KB tenantId with a bounded excerpt of the record', async () => {
    const record = stream('insert-direct-agent-and-team');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, tenantId: { S: 't'.repeat(300 * 1024) } };
    const quarantine = await rejection(record);
    expect(quarantine.field).toBe('NewImage.tenantId');
    expect(quarantine.excerpt.length).toBeLessThanOrEqual(QUARANTINE_EXCERPT_CHARS);
    expect(quarantine.excerpt.startsWith('{"eventID":"1679091c')).toBe(false);
    expect(payloadBytes(quarantine)).toBeLessThanOrEqual(MAX_ENTRY_BYTES);
  });

  it('rejects a MODIFY without OldImage, which cannot be told from an edit', async () => {
    const record = stream('modify-handled-direct-agent-and-team');
    delete record.dynamodb.OldImage;
    expect((await rejection(record)).field).toBe('OldImage');
  });

  it('rejects a record without NewImage', async () => {
    const record = stream('insert-direct-agent-and-team');
    delete record.dynamodb.NewImage;
    expect((await rejection(record)).field).toBe('NewImage');
  });

  it('rejects an item without createdAt', async () => {
    const quarantine = await rejection(stream('insert-missing-createdAt'));
    expect(quarantine.field).toBe('NewImage.createdAt');
    expect(quarantine.reason).toMatch(/^NewImage\.createdAt: /);
    expect(quarantine.reason).not.toMatch(/^NewImage\.createdAt: NewImage\.createdAt/);
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
    ['messageId', { S: 'm'.repeat(FIELD_LIMITS.messageId + 1) }],
  ])('rejects %s = %j', async (attribute, value) => {
    const record = stream('insert-direct-agent-and-team');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, [attribute]: value };
    expect((await rejection(record)).field).toBe(`NewImage.${attribute}`);
  });

  it('names a known attribute that is not a DynamoDB attribute value at all', async () => {
    const record = stream('insert-direct-agent-and-team');
    record.dynamodb.NewImage = { ...record.dynamodb.NewImage, body: { X: 'no such type' } };
    expect((await rejection(record)).field).toBe('NewImage.body');
  });

  it('lists every problem in the message while naming the first one as the field', async () => {
    const record = stream('insert-direct-agent-and-team');
    const image = { ...record.dynamodb.NewImage };
    delete image.tenantId;
    delete image.channel;
    record.dynamodb.NewImage = image;
    const quarantine = await rejection(record);
    expect(quarantine.field).toBe('NewImage.tenantId');
    expect(quarantine.reason).toContain('NewImage.channel');
  });

  it('rejects a record without a sequence number', async () => {
    const record = stream('insert-direct-agent-and-team') as Rec & { dynamodb: { SequenceNumber?: string } };
    delete record.dynamodb.SequenceNumber;
    expect((await rejection(record)).field).toBe('SequenceNumber');
  });

  it('rejects a record that is not an object', async () => {
    expect((await rejection('INSERT', true)).field).toBe('record');
  });

  it('rejects both records of the AWS EventBridge Pipes DynamoDB sample event, which are not CONVO_HISTORY items', async () => {
    const [insert, modify] = fixture<unknown[]>('stream', 'aws-docs-pipes-sample');
    expect((await rejection(insert)).field).toBe('NewImage.conversationId');
    // Its old image has no conversationId, so it reads as a record without an old image.
    expect((await rejection(modify)).field).toBe('OldImage');
  });

  it('logs the quarantined record with its field and event id', async () => {
    const logs = captureLogs();
    await rejection(stream('remove'));
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'WARN', field: 'eventName', eventID: '45c48cce2e2d7fbdea1afc51c7c6ad26' }),
    );
  });
});

describe('normalize-batch: batches', () => {
  it('answers one entry per record, in order, mixing notifications and quarantine entries', async () => {
    const entries = await handler([templated(stream('insert-direct-agent-and-team')), templated(stream('remove')), templated(stream('modify-handled-direct-agent-and-team'))]);
    expect(entries.map((e) => ('notification' in e ? e.notification.kind : 'quarantine'))).toEqual(['message.created', 'quarantine', 'message.handled']);
  });

  it('quarantines every record of a batch where every record is invalid, and throws nothing', async () => {
    const batch = [templated(stream('remove')), templated(stream('modify-body-edited')), 'garbage', null, 42, templated(stream('insert-missing-createdAt'))];
    const entries = await handler(batch);
    expect(entries).toHaveLength(batch.length);
    expect(entries.every((e) => 'quarantine' in e)).toBe(true);
  });

  it('answers an empty array for an empty batch', async () => {
    await expect(handler([])).resolves.toEqual([]);
  });

  it('keeps every entry within MAX_ENTRY_BYTES even when every field is at its bound with the costliest characters', async () => {
    // Control characters cost six bytes of JSON each (\u0001); ids must be printable ASCII, where '"' costs two.
    const wide = (n: number) => '\u0001'.repeat(n);
    const record = stream('insert-direct-agent-and-team');
    record.dynamodb.NewImage = {
      ...record.dynamodb.NewImage,
      conversationId: { S: '"'.repeat(FIELD_LIMITS.conversationId) },
      messageId: { S: '"'.repeat(FIELD_LIMITS.messageId) },
      tenantId: { S: wide(FIELD_LIMITS.tenantId) },
      senderId: { S: wide(FIELD_LIMITS.senderId) },
      channel: { S: wide(FIELD_LIMITS.channel) },
      assignedAgentId: { S: wide(FIELD_LIMITS.agentId) },
      teamId: { S: wide(FIELD_LIMITS.teamId) },
      body: { S: wide(PREVIEW_LENGTH * 10) },
      createdAt: { S: '2025-03-04T10:15:30.123456789+05:30' },
    };
    const modify = { ...record, eventName: 'MODIFY', dynamodb: { ...record.dynamodb, OldImage: record.dynamodb.NewImage, NewImage: { ...record.dynamodb.NewImage, handledBy: { S: wide(FIELD_LIMITS.agentId) }, handledAt: { S: '2025-03-04T10:15:30.123456789+05:30' } } } };
    const [created, handled] = (await handler([templated(record), templated(modify)])) as NotifyEntry[];
    expect(created).toHaveProperty('notification');
    expect(handled).toHaveProperty('notification');
    for (const entry of [created, handled]) expect(payloadBytes(entry)).toBeLessThanOrEqual(MAX_ENTRY_BYTES);
    const quarantine = await rejection({ ...record, eventName: 'REMOVE', eventID: wide(500) });
    expect(payloadBytes(quarantine)).toBeLessThanOrEqual(MAX_ENTRY_BYTES);
  });
});

describe('normalize-batch: task input', () => {
  it.each([[undefined], [null], [{}], ['INSERT']])('throws InvalidTaskInputError for %j, which is not a batch', async (event) => {
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

describe('normalize-batch: logs and metrics', () => {
  it('counts the records normalized and quarantined of a batch in one EMF object of the ConvoNotify namespace', async () => {
    const emf = captureMetrics();
    await handler([templated(stream('insert-direct')), templated(stream('insert-team')), templated(stream('insert-missing-createdAt'))]);
    expect(metricPoints(emf).filter((point) => point.name !== 'ColdStart')).toEqual([
      { name: 'RecordsNormalized', unit: 'Count', value: 2, namespace: 'ConvoNotify', dimensions: { service: 'normalize-batch' } },
      { name: 'RecordsQuarantined', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'normalize-batch' } },
    ]);
  });

  it('logs ids, kinds and reasons but no message text, without execution data', async () => {
    const logs = captureLogs();
    const record = stream('insert-direct-agent-and-team');
    const body = (record.dynamodb.NewImage as { body: { S: string } }).body.S;
    await handler([templated(record), templated(stream('insert-missing-createdAt'))]);
    expect(logs.map((line) => line.message)).toEqual(['record normalized', 'record will be quarantined']);
    expect(JSON.stringify(logs)).not.toContain(body.slice(0, 20));
  });
});
