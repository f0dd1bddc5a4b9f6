import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeBatch } from '../../tasks/normalize-batch/handler';
import { clientIdProblem } from '../../contracts/naming';
import {
  applyInputTemplate,
  ENRICHMENT_INPUT_TEMPLATE,
  NotifyEntrySchema,
  QuarantineEntrySchema,
  type BatchEntry,
  type NotifyEntry,
  type QuarantineEntry,
} from '../../contracts/enrichment';
import { chooseTopic, DeviceSchema, PREVIEW_LENGTH, type Device, type NotificationEnvelope } from '../../contracts/envelope';
import { iotPublished, lambdaInvoked, snsPublished, sqsSent, TaskFailure } from './aws-shapes';
import { HarnessError, SUBSTITUTIONS, type Script, type ScriptContext, type Scripts, type TaskInputs } from './harness';

/**
 * Fixtures of the ASL tests: test/fixtures/stream/<name>.json, one DynamoDB stream record of
 * CONVO_HISTORY as the Pipe delivers it (NEW_AND_OLD_IMAGES).
 *
 * The execution input is what the Pipe hands the state machine after its enrichment: the REAL
 * normalize-batch run on the records shaped by the deployed input template, so the entries the
 * workflow is tested with are always the ones the handler makes. Each notification entry is also
 * checked against its stream record (fixtureProblems), each quarantine entry against its schema.
 */

export type StreamRecord = DynamoDBRecord;

export const FIXTURE_DIR = join(__dirname, '..', 'fixtures', 'stream');

export const VALID_FIXTURES = [
  'insert-direct',
  'insert-team',
  'insert-sender',
  'modify-handled-direct',
  'modify-handled-team',
  'modify-handled-sender',
  /** insert-direct's messageId and createdAt, in another conversation. */
  'insert-direct-same-message-id',
  /** Written already answered (handledBy set on INSERT, by a bot). */
  'insert-handled-team',
] as const;
export const INVALID_FIXTURES = ['insert-missing-tenant', 'modify-body-edited'] as const;
export type ValidFixture = (typeof VALID_FIXTURES)[number];
export type InvalidFixture = (typeof INVALID_FIXTURES)[number];
export type FixtureName = ValidFixture | InvalidFixture;

/** The field each invalid fixture's quarantine entry must name. */
export const INVALID_FIELD: Record<InvalidFixture, string> = {
  'insert-missing-tenant': 'NewImage.tenantId',
  'modify-body-edited': 'NewImage.handledBy',
};

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

export const streamRecord = (name: FixtureName): StreamRecord => readJson(join(FIXTURE_DIR, `${name}.json`)) as StreamRecord;

/** What the Pipe's enrichment makes of a batch of stream records: the execution input. */
export const enrich = (records: readonly StreamRecord[]): BatchEntry[] =>
  normalizeBatch(records.map((record) => applyInputTemplate(ENRICHMENT_INPUT_TEMPLATE, record)));

/** The execution input for a batch of fixtures, in order. */
export const batchOf = (...names: FixtureName[]): BatchEntry[] => enrich(names.map(streamRecord));

/** The notification entry normalize-batch makes of a valid fixture (its envelope and audience). */
export const normalized = (name: ValidFixture): NotifyEntry => {
  const [entry] = batchOf(name);
  if (!('notification' in entry)) throw new Error(`fixture ${name} is quarantined by normalize-batch: ${JSON.stringify(entry.quarantine)}`);
  return NotifyEntrySchema.parse(entry);
};

/** The quarantine entry normalize-batch makes of an invalid fixture. */
export const quarantined = (name: InvalidFixture): QuarantineEntry => {
  const [entry] = batchOf(name);
  if (!('quarantine' in entry)) throw new Error(`fixture ${name} is not quarantined by normalize-batch: it became ${entry.notification.notificationId}`);
  return QuarantineEntrySchema.parse(entry);
};

const image = (record: StreamRecord, which: 'NewImage' | 'OldImage'): Record<string, unknown> | undefined => {
  const raw = record.dynamodb?.[which];
  return raw ? unmarshall(raw as Parameters<typeof unmarshall>[0]) : undefined;
};

/**
 * Problems of a valid fixture: its entry must be the one docs/design.md §3 derives from its record, so
 * that each fixture is the case its name says. Empty when consistent.
 */
export const fixtureProblems = (name: ValidFixture): string[] => {
  const record = streamRecord(name);
  const { notification: n, audience: a } = normalized(name);
  const item = image(record, 'NewImage') ?? {};
  const old = image(record, 'OldImage');
  const problems: string[] = [];
  const expect = (what: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) problems.push(`${what}: ${JSON.stringify(actual)} ≠ ${JSON.stringify(expected)}`);
  };
  expect('eventSource', record.eventSource, 'aws:dynamodb');
  expect('StreamViewType', record.dynamodb?.StreamViewType, 'NEW_AND_OLD_IMAGES');
  for (const key of ['conversationId', 'messageId', 'tenantId', 'senderId', 'senderType', 'channel', 'createdAt'] as const) {
    expect(key, n[key], item[key]);
  }
  expect('Keys', unmarshall(record.dynamodb!.Keys as Parameters<typeof unmarshall>[0]), { conversationId: item.conversationId, messageId: item.messageId });
  expect('preview', n.preview, String(item.body).slice(0, PREVIEW_LENGTH));
  expect('topic', n.topic, chooseTopic(item as { assignedAgentId?: string; teamId?: string }));
  expect('streamSequence', n.streamSequence, record.dynamodb?.SequenceNumber);
  if (record.eventName === 'INSERT') {
    // An item written already answered is handled from the start, never NEW.
    expect('kind', n.kind, item.handledBy === undefined ? 'message.created' : 'message.handled');
  } else {
    expect('eventName', record.eventName, 'MODIFY');
    expect('kind', n.kind, 'message.handled');
    expect('OldImage.handledBy', old?.handledBy, undefined);
  }
  expect('handledBy', n.handledBy, item.handledBy);
  expect('handledAt', n.handledAt, item.handledAt);
  expect('audience', a, {
    topic: n.topic,
    tenantId: item.tenantId,
    senderId: item.senderId,
    senderType: item.senderType,
    ...(item.assignedAgentId !== undefined ? { assignedAgentId: item.assignedAgentId } : {}),
    ...(item.teamId !== undefined ? { teamId: item.teamId } : {}),
  });
  return problems;
};

// ---------------------------------------------------------------------------------------------
// Devices and recipient pages

const device = (agentId: string, clientId: string): Device => {
  const parsed = DeviceSchema.parse({ agentId, clientId });
  const problem = clientIdProblem(clientId, SUBSTITUTIONS.InboxQueueNamePrefix);
  if (problem) throw new Error(`fixture device ${clientId} ${problem}`);
  return parsed;
};

export const DEVICES = {
  adaLaptop: device('agent-ada', 'ada-laptop-7c1e'),
  adaPhone: device('agent-ada', 'ada-phone-22b9'),
  graceDesktop: device('agent-grace', 'grace-desktop-01'),
  linusTablet: device('agent-linus', 'linus-tablet-9f3a'),
  margaretPhone: device('agent-margaret', 'margaret-phone-5d'),
  barbaraLaptop: device('agent-barbara', 'barbara-laptop-e2'),
  kenDesktop: device('agent-ken', 'ken-desktop-0b7'),
} as const;

/** The keyset cursor resolve-recipients hands back: opaque, here base64url of the last row. */
export const cursorAfter = (last: Device): string => Buffer.from(JSON.stringify({ a: last.agentId, c: last.clientId })).toString('base64url');

/** resolve-recipients' answer for one page. */
export const recipientsPage = (devices: Device[], nextCursor: string | null) => lambdaInvoked({ devices, count: devices.length, nextCursor });

/**
 * ResolveRecipients serving `pages` by keyset: cursor null → page 0; the cursor after page i's
 * last device → page i + 1. An unknown cursor fails the test.
 */
export const recipientPages = (pages: Device[][]): Script<TaskInputs['ResolveRecipients']> => {
  const cursors = pages.slice(0, -1).map((p, i) => (p.length > 0 ? cursorAfter(p[p.length - 1]) : `empty-page-${i}`));
  return (input) => {
    const { cursor } = input.Payload;
    const index = cursor === null ? 0 : cursors.indexOf(cursor) + 1;
    if (index === 0 && cursor !== null) throw new HarnessError(`ResolveRecipients: unknown cursor ${cursor}`);
    return recipientsPage(pages[index] ?? [], cursors[index] ?? null);
  };
};

export type Online = 'all' | 'none' | readonly string[];

/** CheckPresence: each device of the page with its `online` flag, as check-presence returns it. */
export const presence =
  (online: Online): Script<TaskInputs['CheckPresence']> =>
  (input) => {
    const isOnline = (d: Device) => (online === 'all' ? true : online === 'none' ? false : online.includes(d.clientId));
    const devices = input.Payload.devices.map((d) => ({ ...d, online: isOnline(d) }));
    return lambdaInvoked({ devices, onlineCount: devices.filter((d) => d.online).length });
  };

export interface NotifyOptions {
  /** Recipient pages; one page with Ada's two devices by default. */
  pages?: Device[][];
  /** Which devices are online; all by default. */
  online?: Online;
}

/** Scripts for every Task of the path where nothing fails; a test adds or replaces the ones it is about. */
export const notifyScripts = (options: NotifyOptions = {}): Scripts => ({
  PublishToTopic: () => snsPublished(),
  ResolveRecipients: recipientPages(options.pages ?? [[DEVICES.adaLaptop, DEVICES.adaPhone]]),
  CheckPresence: presence(options.online ?? 'all'),
  PushToDevice: () => iotPublished(),
  SendToInbox: (input) => sqsSent(input),
  SendOutcome: (input) => sqsSent(input),
});

/** Fails the first `times` attempts (of the same input) with `error`, then does `then`. */
export const failingFirst =
  <I>(times: number, error: () => TaskFailure, then: Script<I>): Script<I> =>
  (input: I, ctx: ScriptContext) => {
    if (ctx.attempt <= times) throw error();
    return then(input, ctx);
  };

/** Fails every attempt with `error`. */
export const alwaysFailing =
  <I>(error: () => TaskFailure): Script<I> =>
  () => {
    throw error();
  };

/** The inbox queue URL and name of a device, as the definition builds them. */
export const inboxUrl = (clientId: string) => `${SUBSTITUTIONS.InboxQueueUrlPrefix}${clientId}.fifo`;
export const inboxName = (clientId: string) => `${SUBSTITUTIONS.InboxQueueNamePrefix}${clientId}.fifo`;

/** What SendToInbox (and RetrySendToInbox) must send for a notification to a device. */
export const inboxMessage = (n: NotificationEnvelope, clientId: string, queueUrl = inboxUrl(clientId)) => ({
  QueueUrl: queueUrl,
  MessageBody: JSON.stringify(n),
  MessageGroupId: n.conversationId,
  MessageDeduplicationId: n.deduplicationId,
});
