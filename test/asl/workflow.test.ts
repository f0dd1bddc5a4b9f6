import { NotifyEntrySchema } from '../../contracts/enrichment';
import { matchesEventPattern, type EventPattern } from '../../contracts/event-pattern';
import { payloadBytes } from '../../contracts/limits';
import {
  MAX_OUTCOME_BYTES,
  OUTCOME_DETAIL_TYPES,
  OUTCOME_EVENT_SOURCE,
  OutcomeSchema,
  ZERO_OUTCOME_COUNTS,
  type NotificationOutcome,
  type Outcome,
  type QuarantineOutcome,
} from '../../contracts/outcomes';
import { NotificationEnvelopeSchema, type Device, type NotificationEnvelope, type NotificationKind } from '../../contracts/envelope';
import { pushTopicOf } from '../../contracts/push-topic';
import {
  iotError,
  iotPublished,
  lambdaFunctionError,
  lambdaServiceError,
  queueCreated,
  snsError,
  snsPublished,
  sqsQueueDoesNotExist,
  sqsSdkError,
  sqsSent,
  sqsServiceError,
  TaskFailure,
} from './aws-shapes';
import {
  alwaysFailing,
  batchOf,
  cursorAfter,
  DEVICES,
  enrich,
  failingFirst,
  inboxMessage,
  inboxName,
  inboxUrl,
  INVALID_FIXTURES,
  normalized,
  notifyScripts,
  quarantined,
  recipientPages,
  streamRecord,
  VALID_FIXTURES,
  type FixtureName,
  type InvalidFixture,
  type ValidFixture,
} from './fixtures';
import {
  observedCoverage,
  parseEnvelopeJson,
  requiredCoverage,
  runWorkflow,
  stateNamed,
  SUBSTITUTIONS,
  type Run,
  type Script,
  type Scripts,
  type TaskInputs,
} from './harness';

/*
 * The real state-machines/notification-fanout.asl.json, run in aws-local-stepfunctions with every
 * Task scripted (test/asl/harness.ts). One describe per concern of docs/workflow-contract.md and
 * docs/design.md §4; the last one checks that every Choice branch, Catch and Retry of the file was
 * exercised by the tests above it.
 */

const TOPICS = {
  direct: { branch: 'UseDirectTopic', topicArn: SUBSTITUTIONS.DirectTopicArn },
  team: { branch: 'UseTeamTopic', topicArn: SUBSTITUTIONS.TeamTopicArn },
  sender: { branch: 'UseSenderTopic', topicArn: SUBSTITUTIONS.SenderTopicArn },
} as const;

const HEAD = (branch: string) => ['Valid?', 'ChooseTopic', branch, 'PublishToTopic', 'StartRecipientPaging'];
const PAGE = ['ResolveRecipients', 'AnyRecipients?', 'CheckPresence', 'FanOut', 'AddPageCounts', 'MorePages?'];
/** How a notification entry ends once its outcome is described: a handled message adds its handledAt. */
const OUTCOME_TAIL = (kind: NotificationKind = 'message.created') => ['Handled?', ...(kind === 'message.handled' ? ['AddHandledAt'] : []), 'SendOutcome'];
const FANNED_OUT_TAIL = (kind?: NotificationKind) => ['AllRecipientsNotified', 'DescribeFannedOutOutcome', ...OUTCOME_TAIL(kind)];
const UNROUTED_TAIL = (kind?: NotificationKind) => ['SendToUnrouted', 'DescribeUnroutedOutcome', ...OUTCOME_TAIL(kind)];
const QUARANTINED_PATH = ['Valid?', 'QuarantineRecord', 'SendQuarantineOutcome'];
/** The states of a record notified over `pages` pages of recipients. */
const notifiedPath = (branch: string, pages = 1, kind?: NotificationKind) => [
  ...HEAD(branch),
  ...Array.from({ length: pages }, (_, i) => [...(i > 0 ? ['NextRecipientPage'] : []), ...PAGE]).flat(),
  ...FANNED_OUT_TAIL(kind),
];

const sortBy = <T>(items: T[], key: (t: T) => string) => [...items].sort((a, b) => key(a).localeCompare(key(b)));

const inboxUrlsOf = (run: Run, state: 'SendToInbox' | 'RetrySendToInbox' = 'SendToInbox') => run.inputsTo(state).map((i) => i.QueueUrl).sort();
const pushTopicsOf = (run: Run) => run.inputsTo('PushToDevice').map((i) => i.Topic).sort();

const pushOf = (n: NotificationEnvelope, d: Device) => ({ Topic: pushTopicOf(d.clientId), Qos: 1, Payload: JSON.stringify(n) });

const presenceUnavailable = () => lambdaFunctionError('PresenceUnavailableError', 'PRESENCE table unreadable: ProvisionedThroughputExceededException');
const recipientsUnavailable = () =>
  lambdaFunctionError('RecipientsUnavailableError', 'Data API unavailable: DatabaseResumingException: The Aurora DB instance db-4Q2X is resuming after being auto-paused. Please wait a few seconds and try again.');
const throttledPush = () => iotError('ThrottlingException', 'Rate exceeded');

const isInvalid = (f: FixtureName): f is InvalidFixture => (INVALID_FIXTURES as readonly string[]).includes(f);

/** Calls of a state whose every attempt fails with an error of its retrier `retrier`: 1 + MaxAttempts (from the file). */
const attemptsOf = (state: string, retrier = 0) => {
  const maxAttempts = stateNamed(state).Retry?.[retrier]?.MaxAttempts;
  if (maxAttempts === undefined) throw new Error(`${state} has no MaxAttempts in Retry[${retrier}]`);
  return 1 + maxAttempts;
};

/** Scripts of the quarantine path where nothing fails. */
const QUARANTINE_SCRIPTS: Scripts = {
  QuarantineRecord: (input) => sqsSent(input),
  SendQuarantineOutcome: (input) => sqsSent(input),
};

const succeeded = (run: Run) => {
  expect(run.error).toBeUndefined();
  expect(run.status).toBe('SUCCEEDED');
};

describe('ChooseTopic and PublishToTopic: each kind of record reaches its topic', () => {
  const cases = VALID_FIXTURES.map((fixture) => {
    const { notification } = normalized(fixture);
    return { fixture, kind: notification.kind, topic: notification.topic, branch: TOPICS[notification.topic].branch };
  });

  it.each(cases)('$fixture: $kind takes $branch, publishes the envelope with its identity attributes to the $topic topic and resolves its audience from the first page', async ({ fixture, topic, branch, kind }) => {
    const { notification, audience } = normalized(fixture);
    const run = await runWorkflow(batchOf(fixture), notifyScripts());

    succeeded(run);
    expect(run.path()).toEqual(notifiedPath(branch, 1, kind));
    expect(run.inputsTo('PublishToTopic')).toEqual([
      {
        TopicArn: TOPICS[topic].topicArn,
        Message: JSON.stringify(notification),
        MessageAttributes: {
          kind: { DataType: 'String', StringValue: notification.kind },
          tenantId: { DataType: 'String', StringValue: notification.tenantId },
          notificationId: { DataType: 'String', StringValue: notification.notificationId },
          deduplicationId: { DataType: 'String', StringValue: notification.deduplicationId },
        },
      },
    ]);
    expect(NotificationEnvelopeSchema.parse(parseEnvelopeJson(run.inputsTo('PublishToTopic')[0].Message))).toEqual(notification);
    expect(run.inputsTo('ResolveRecipients')).toEqual([{ FunctionName: SUBSTITUTIONS.ResolveRecipientsFunctionArn, Payload: { audience, cursor: null } }]);
    expect(run.output).toEqual([{ outcome: 'notified', notificationId: notification.notificationId, topic }]);
  });

  it('publishes before looking up any recipient', async () => {
    const run = await runWorkflow(batchOf('insert-team'), notifyScripts());
    succeeded(run);
    expect(run.taskSequence().slice(0, 2)).toEqual(['PublishToTopic', 'ResolveRecipients']);
  });

  it('publishes an INSERT written already handled as message.handled and sends it to every device as handled, never as created', async () => {
    const { notification } = normalized('insert-handled-team');
    const page = [DEVICES.graceDesktop, DEVICES.margaretPhone];
    const run = await runWorkflow(batchOf('insert-handled-team'), notifyScripts({ pages: [page], online: [DEVICES.graceDesktop.clientId] }));

    succeeded(run);
    expect(notification).toMatchObject({ kind: 'message.handled', handledBy: 'bot-billing-faq', notificationId: `${notification.conversationId}/${notification.messageId}#handled` });
    expect(run.inputsTo('PublishToTopic')[0].MessageAttributes.kind).toEqual({ DataType: 'String', StringValue: 'message.handled' });
    expect(run.inputsTo('PushToDevice')).toEqual([pushOf(notification, DEVICES.graceDesktop)]);
    expect(sortBy(run.inputsTo('SendToInbox'), (i) => i.QueueUrl)).toEqual(sortBy(page.map((d) => inboxMessage(notification, d.clientId)), (i) => i.QueueUrl));
    expect(run.output).toEqual([{ outcome: 'notified', notificationId: notification.notificationId, topic: 'team' }]);
  });
});

describe('DeviceOnline?: push to online devices, inbox message for every device', () => {
  const { notification } = normalized('insert-team');
  const page = [DEVICES.adaLaptop, DEVICES.adaPhone, DEVICES.graceDesktop, DEVICES.linusTablet];

  it('asks CheckPresence about exactly the devices of the page', async () => {
    const run = await runWorkflow(batchOf('insert-team'), notifyScripts({ pages: [page] }));
    succeeded(run);
    expect(run.inputsTo('CheckPresence')).toEqual([{ FunctionName: SUBSTITUTIONS.CheckPresenceFunctionArn, Payload: { devices: page } }]);
  });

  it('pushes the envelope to notify/<clientId> with QoS 1 for every online device, then sends each its inbox message', async () => {
    const run = await runWorkflow(batchOf('insert-team'), notifyScripts({ pages: [page], online: 'all' }));

    succeeded(run);
    expect(sortBy(run.inputsTo('PushToDevice'), (i) => i.Topic)).toEqual(sortBy(page.map((d) => pushOf(notification, d)), (i) => i.Topic));
    expect(sortBy(run.inputsTo('SendToInbox'), (i) => i.QueueUrl)).toEqual(sortBy(page.map((d) => inboxMessage(notification, d.clientId)), (i) => i.QueueUrl));
    for (const d of page) {
      expect(run.devicePath(d.clientId)).toEqual(['DeviceOnline?', 'PushToDevice', 'SendToInbox']);
      const push = run.callsTo('PushToDevice').find((c) => c.input.Topic === pushTopicOf(d.clientId))!;
      const inbox = run.callsTo('SendToInbox').find((c) => c.input.QueueUrl === inboxUrl(d.clientId))!;
      expect(push.seq).toBeLessThan(inbox.seq);
    }
  });

  it('pushes to nobody when every device is offline, and still sends every inbox message', async () => {
    const run = await runWorkflow(batchOf('insert-team'), notifyScripts({ pages: [page], online: 'none' }));

    succeeded(run);
    expect(run.callsTo('PushToDevice')).toHaveLength(0);
    expect(inboxUrlsOf(run)).toEqual(page.map((d) => inboxUrl(d.clientId)).sort());
    for (const d of page) expect(run.devicePath(d.clientId)).toEqual(['DeviceOnline?', 'SendToInbox']);
    expect(run.output).toEqual([{ outcome: 'notified', notificationId: notification.notificationId, topic: 'team' }]);
  });

  it('pushes only to the online devices of a mixed page, and sends the inbox message to all of them', async () => {
    const online = [DEVICES.adaPhone.clientId, DEVICES.graceDesktop.clientId];
    const run = await runWorkflow(batchOf('insert-team'), notifyScripts({ pages: [page], online }));

    succeeded(run);
    expect(pushTopicsOf(run)).toEqual(online.map((c) => pushTopicOf(c)).sort());
    expect(inboxUrlsOf(run)).toEqual(page.map((d) => inboxUrl(d.clientId)).sort());
    expect(run.devicePath(DEVICES.adaPhone.clientId)).toEqual(['DeviceOnline?', 'PushToDevice', 'SendToInbox']);
    expect(run.devicePath(DEVICES.adaLaptop.clientId)).toEqual(['DeviceOnline?', 'SendToInbox']);
  });
});

describe("SendToInbox: the device's own FIFO inbox", () => {
  it('sends the envelope JSON to <prefix><clientId>.fifo, grouped by conversation and deduplicated by the notification event (deduplicationId)', async () => {
    const { notification } = normalized('insert-direct');
    const run = await runWorkflow(batchOf('insert-direct'), notifyScripts({ pages: [[DEVICES.adaLaptop]] }));

    succeeded(run);
    expect(run.inputsTo('SendToInbox')).toEqual([
      {
        QueueUrl: `https://sqs.us-east-1.amazonaws.com/123456789012/convo-notify-inbox-${DEVICES.adaLaptop.clientId}.fifo`,
        MessageBody: JSON.stringify(notification),
        MessageGroupId: notification.conversationId,
        MessageDeduplicationId: notification.deduplicationId,
      },
    ]);
    expect(NotificationEnvelopeSchema.parse(parseEnvelopeJson(run.inputsTo('SendToInbox')[0].MessageBody))).toEqual(notification);
  });

  it('puts the created and the handled notification of one message in the same queue and group, with different deduplication ids', async () => {
    const created = normalized('insert-direct').notification;
    const handled = normalized('modify-handled-direct').notification;
    const run = await runWorkflow(batchOf('insert-direct', 'modify-handled-direct'), notifyScripts({ pages: [[DEVICES.adaPhone]] }));

    succeeded(run);
    const key = (i: { MessageDeduplicationId?: string }) => i.MessageDeduplicationId!;
    expect(sortBy(run.inputsTo('SendToInbox'), key)).toEqual(
      sortBy([inboxMessage(created, DEVICES.adaPhone.clientId), inboxMessage(handled, DEVICES.adaPhone.clientId)], key),
    );
    expect(created.deduplicationId).not.toBe(handled.deduplicationId);
    expect(created.notificationId).toBe(`${created.conversationId}/${created.messageId}#created`);
    expect(handled.notificationId).toBe(`${created.conversationId}/${created.messageId}#handled`);
  });

  it('sends the same messageId of two conversations to every device twice, each in its own group with its own deduplication id', async () => {
    const first = normalized('insert-direct').notification;
    const second = normalized('insert-direct-same-message-id').notification;
    const page = [DEVICES.adaLaptop, DEVICES.adaPhone];
    const run = await runWorkflow(batchOf('insert-direct', 'insert-direct-same-message-id'), notifyScripts({ pages: [page] }));

    succeeded(run);
    expect(second.messageId).toBe(first.messageId);
    for (const d of page) {
      const sent = run.inputsTo('SendToInbox').filter((i) => i.QueueUrl === inboxUrl(d.clientId));
      const key = (i: { MessageGroupId?: string }) => i.MessageGroupId!;
      expect(sortBy(sent, key)).toEqual(sortBy([inboxMessage(first, d.clientId), inboxMessage(second, d.clientId)], key));
      expect(new Set(sent.map((i) => i.MessageDeduplicationId)).size).toBe(2);
    }
    expect(run.output).toEqual([
      { outcome: 'notified', notificationId: first.notificationId, topic: 'direct' },
      { outcome: 'notified', notificationId: second.notificationId, topic: 'direct' },
    ]);
  });
});

describe('AnyRecipients?: nobody to notify', () => {
  it('sends a message nobody will see to the unrouted queue and ends with outcome unrouted', async () => {
    const { notification, audience } = normalized('insert-sender');
    const run = await runWorkflow(batchOf('insert-sender'), {
      ...notifyScripts({ pages: [[]] }),
      SendToUnrouted: (input) => sqsSent(input),
    });

    succeeded(run);
    expect(run.path()).toEqual([...HEAD('UseSenderTopic'), 'ResolveRecipients', 'AnyRecipients?', ...UNROUTED_TAIL()]);
    expect(run.inputsTo('SendToUnrouted')).toEqual([
      {
        QueueUrl: SUBSTITUTIONS.UnroutedQueueUrl,
        MessageBody: { reason: 'no active recipient device for this audience', audience, notification, executionId: run.executionArn },
      },
    ]);
    const sent = run.callsTo('SendToUnrouted')[0].result as { MessageId: string };
    expect(run.output).toEqual([{ outcome: 'unrouted', unroutedMessageId: sent.MessageId }]);
    expect(run.callsTo('PublishToTopic')).toHaveLength(1);
    expect(run.callsTo('CheckPresence')).toHaveLength(0);
    expect(run.callsTo('SendToInbox')).toHaveLength(0);
  });

  it('ends with outcome notified, without an unrouted message, when a later page is empty', async () => {
    const first = [DEVICES.adaLaptop, DEVICES.adaPhone];
    const { notification } = normalized('insert-direct');
    const run = await runWorkflow(batchOf('insert-direct'), notifyScripts({ pages: [first, []] }));

    succeeded(run);
    expect(run.path()).toEqual([...HEAD('UseDirectTopic'), ...PAGE, 'NextRecipientPage', 'ResolveRecipients', 'AnyRecipients?', ...FANNED_OUT_TAIL()]);
    expect(run.inputsTo('ResolveRecipients').map((i) => i.Payload.cursor)).toEqual([null, cursorAfter(DEVICES.adaPhone)]);
    expect(run.callsTo('SendToUnrouted')).toHaveLength(0);
    expect(run.callsTo('CheckPresence')).toHaveLength(1);
    expect(run.output).toEqual([{ outcome: 'notified', notificationId: notification.notificationId, topic: 'direct' }]);
  });
});

describe('MorePages?: recipients in several pages', () => {
  const pages = [
    [DEVICES.adaLaptop, DEVICES.adaPhone, DEVICES.graceDesktop],
    [DEVICES.linusTablet, DEVICES.margaretPhone],
    [DEVICES.barbaraLaptop, DEVICES.kenDesktop],
  ];
  const online = [DEVICES.adaPhone.clientId, DEVICES.linusTablet.clientId, DEVICES.kenDesktop.clientId];

  it('passes each nextCursor back to ResolveRecipients and sends an inbox message to every device of every page', async () => {
    const { notification, audience } = normalized('insert-team');
    const run = await runWorkflow(batchOf('insert-team'), notifyScripts({ pages, online }));

    succeeded(run);
    expect(run.path()).toEqual(notifiedPath('UseTeamTopic', 3));
    expect(run.inputsTo('ResolveRecipients')).toEqual([
      { FunctionName: SUBSTITUTIONS.ResolveRecipientsFunctionArn, Payload: { audience, cursor: null } },
      { FunctionName: SUBSTITUTIONS.ResolveRecipientsFunctionArn, Payload: { audience, cursor: cursorAfter(DEVICES.graceDesktop) } },
      { FunctionName: SUBSTITUTIONS.ResolveRecipientsFunctionArn, Payload: { audience, cursor: cursorAfter(DEVICES.margaretPhone) } },
    ]);
    expect(run.inputsTo('CheckPresence').map((i) => i.Payload.devices)).toEqual(pages);
    expect(sortBy(run.inputsTo('SendToInbox'), (i) => i.QueueUrl)).toEqual(sortBy(pages.flat().map((d) => inboxMessage(notification, d.clientId)), (i) => i.QueueUrl));
    expect(pushTopicsOf(run)).toEqual(online.map((c) => pushTopicOf(c)).sort());
  });

  it("finishes a page's fan-out before asking for the next page", async () => {
    const run = await runWorkflow(batchOf('insert-team'), notifyScripts({ pages, online }));

    succeeded(run);
    const resolves = run.callsTo('ResolveRecipients').map((c) => c.seq);
    pages.forEach((page, i) => {
      for (const d of page) {
        const inbox = run.callsTo('SendToInbox').find((c) => c.input.QueueUrl === inboxUrl(d.clientId))!;
        expect(inbox.seq).toBeGreaterThan(resolves[i]);
        if (i + 1 < resolves.length) expect(inbox.seq).toBeLessThan(resolves[i + 1]);
      }
    });
  });
});

describe('CheckPresence failure: every device is treated as offline', () => {
  const page = [DEVICES.adaLaptop, DEVICES.adaPhone, DEVICES.graceDesktop];
  const { notification } = normalized('insert-team');

  it('retries a PresenceUnavailableError and pushes as usual once the lookup succeeds', async () => {
    const scripts = notifyScripts({ pages: [page], online: 'all' });
    const run = await runWorkflow(batchOf('insert-team'), {
      ...scripts,
      CheckPresence: failingFirst(1, presenceUnavailable, scripts.CheckPresence!),
    });

    succeeded(run);
    const calls = run.callsTo('CheckPresence');
    expect(calls).toHaveLength(2);
    expect(calls[1].input).toEqual(calls[0].input);
    expect(run.retries('CheckPresence')).toEqual([{ state: 'CheckPresence', retrier: 0, attempt: 1 }]);
    expect(run.path()).toEqual(notifiedPath('UseTeamTopic'));
    expect(run.callsTo('PushToDevice')).toHaveLength(page.length);
  });

  it('retries a throttled invoke (Lambda.TooManyRequestsException) of CheckPresence', async () => {
    const scripts = notifyScripts({ pages: [page] });
    const run = await runWorkflow(batchOf('insert-team'), {
      ...scripts,
      CheckPresence: failingFirst(1, () => lambdaServiceError('Lambda.TooManyRequestsException'), scripts.CheckPresence!),
    });

    succeeded(run);
    expect(run.callsTo('CheckPresence')).toHaveLength(2);
    expect(run.callsTo('PushToDevice')).toHaveLength(page.length);
  });

  it('sends every device the inbox message and pushes to none when the lookup still fails after 1 + MaxAttempts attempts', async () => {
    const run = await runWorkflow(batchOf('insert-team'), {
      ...notifyScripts({ pages: [page], online: 'all' }),
      CheckPresence: alwaysFailing(presenceUnavailable),
    });

    succeeded(run);
    expect(run.callsTo('CheckPresence')).toHaveLength(attemptsOf('CheckPresence'));
    expect(run.catches('CheckPresence')).toEqual([{ state: 'CheckPresence', catcher: 0, next: 'AssumeAllOffline' }]);
    expect(run.path()).toEqual([...HEAD('UseTeamTopic'), 'ResolveRecipients', 'AnyRecipients?', 'CheckPresence', 'AssumeAllOffline', 'FanOut', 'AddPageCounts', 'MorePages?', ...FANNED_OUT_TAIL()]);
    expect(run.callsTo('PushToDevice')).toHaveLength(0);
    expect(sortBy(run.inputsTo('SendToInbox'), (i) => i.QueueUrl)).toEqual(sortBy(page.map((d) => inboxMessage(notification, d.clientId)), (i) => i.QueueUrl));
    for (const d of page) expect(run.devicePath(d.clientId)).toEqual(['DeviceOnline?', 'SendToInbox']);
    expect(run.output).toEqual([{ outcome: 'notified', notificationId: notification.notificationId, topic: 'team' }]);
  });

  it('does not retry an error that is not about availability: all offline at once', async () => {
    const run = await runWorkflow(batchOf('insert-team'), {
      ...notifyScripts({ pages: [page] }),
      CheckPresence: alwaysFailing(() => lambdaFunctionError('InvalidTaskInputError', 'devices[1].clientId: expected string')),
    });

    succeeded(run);
    expect(run.callsTo('CheckPresence')).toHaveLength(1);
    expect(run.callsTo('PushToDevice')).toHaveLength(0);
    expect(run.callsTo('SendToInbox')).toHaveLength(page.length);
  });

  it('looks presence up again on the next page after a failed lookup', async () => {
    const pages = [[DEVICES.adaLaptop], [DEVICES.graceDesktop]];
    const scripts = notifyScripts({ pages, online: 'all' });
    const run = await runWorkflow(batchOf('insert-team'), {
      ...scripts,
      CheckPresence: (input, ctx) => {
        if (input.Payload.devices[0].clientId === DEVICES.adaLaptop.clientId) throw presenceUnavailable();
        return scripts.CheckPresence!(input, ctx);
      },
    });

    succeeded(run);
    expect(pushTopicsOf(run)).toEqual([pushTopicOf(DEVICES.graceDesktop.clientId)]);
    expect(inboxUrlsOf(run)).toEqual([inboxUrl(DEVICES.adaLaptop.clientId), inboxUrl(DEVICES.graceDesktop.clientId)].sort());
  });
});

describe('PushToDevice failure: the inbox message is still sent', () => {
  const page = [DEVICES.adaLaptop, DEVICES.adaPhone];
  const { notification } = normalized('insert-direct');

  it('sends the inbox message even when the push fails', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [page], online: 'all' }),
      PushToDevice: (input) => {
        if (input.Topic === pushTopicOf(DEVICES.adaLaptop.clientId)) throw iotError('ForbiddenException', 'Forbidden');
        return iotPublished();
      },
    });

    succeeded(run);
    expect(run.callsTo('PushToDevice')).toHaveLength(2);
    expect(run.catches('PushToDevice')).toEqual([{ state: 'PushToDevice', catcher: 0, next: 'RecordPushFailure' }]);
    expect(run.devicePath(DEVICES.adaLaptop.clientId)).toEqual(['DeviceOnline?', 'PushToDevice', 'RecordPushFailure', 'SendToInbox']);
    expect(run.devicePath(DEVICES.adaPhone.clientId)).toEqual(['DeviceOnline?', 'PushToDevice', 'SendToInbox']);
    expect(sortBy(run.inputsTo('SendToInbox'), (i) => i.QueueUrl)).toEqual(sortBy(page.map((d) => inboxMessage(notification, d.clientId)), (i) => i.QueueUrl));
  });

  it('retries a throttled push, then sends the inbox message once', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [page], online: 'all' }),
      PushToDevice: failingFirst(1, throttledPush, () => iotPublished()),
    });

    succeeded(run);
    expect(run.callsTo('PushToDevice')).toHaveLength(4);
    expect(run.retries('PushToDevice')).toHaveLength(2);
    expect(run.catches('PushToDevice')).toHaveLength(0);
    expect(inboxUrlsOf(run)).toEqual(page.map((d) => inboxUrl(d.clientId)).sort());
  });

  it('gives up pushing after 1 + MaxAttempts throttled attempts and still sends the inbox message', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [[DEVICES.adaPhone]], online: 'all' }),
      PushToDevice: alwaysFailing(throttledPush),
    });

    succeeded(run);
    const pushes = run.callsTo('PushToDevice');
    expect(pushes.map((c) => c.input)).toEqual(Array.from({ length: attemptsOf('PushToDevice') }, () => pushOf(notification, DEVICES.adaPhone)));
    expect(run.inputsTo('SendToInbox')).toEqual([inboxMessage(notification, DEVICES.adaPhone.clientId)]);
    expect(run.callsTo('SendToInbox')[0].seq).toBeGreaterThan(pushes.at(-1)!.seq);
  });
});

describe('missing inbox queue: created on first use, then the send is retried', () => {
  const { notification } = normalized('insert-direct');
  const id = DEVICES.adaLaptop.clientId;
  const missingInbox = { SendToInbox: alwaysFailing<TaskInputs['SendToInbox']>(sqsQueueDoesNotExist) };
  const queueExists = () => sqsSdkError('QueueNameExistsException', 'A queue already exists with the same name and a different value for attribute MessageRetentionPeriod');

  it('creates the FIFO inbox with retention and SQS-managed encryption, then sends to the QueueUrl it returned', async () => {
    // The legacy us-east-1 endpoint: the retry must use what CreateQueue answered, not a rebuilt URL.
    const returned = `https://queue.amazonaws.com/123456789012/${inboxName(id)}`;
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [[DEVICES.adaLaptop]], online: 'none' }),
      ...missingInbox,
      CreateInboxQueue: () => queueCreated(returned),
      RetrySendToInbox: (input) => sqsSent(input),
    });

    succeeded(run);
    expect(run.devicePath(id)).toEqual(['DeviceOnline?', 'SendToInbox', 'CreateInboxQueue', 'RetrySendToInbox']);
    expect(run.catches('SendToInbox')).toEqual([{ state: 'SendToInbox', catcher: 0, next: 'CreateInboxQueue' }]);
    expect(run.inputsTo('CreateInboxQueue')).toEqual([
      {
        QueueName: `convo-notify-inbox-${id}.fifo`,
        Attributes: { FifoQueue: 'true', MessageRetentionPeriod: '345600', SqsManagedSseEnabled: 'true' },
      },
    ]);
    expect(run.inputsTo('RetrySendToInbox')).toEqual([inboxMessage(notification, id, returned)]);
    expect(run.output).toEqual([{ outcome: 'notified', notificationId: notification.notificationId, topic: 'direct' }]);
  });

  it('creates the inbox also after a push, for an online device', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [[DEVICES.adaLaptop]], online: 'all' }),
      ...missingInbox,
      CreateInboxQueue: (input) => queueCreated(`https://sqs.us-east-1.amazonaws.com/123456789012/${input.QueueName}`),
      RetrySendToInbox: (input) => sqsSent(input),
    });

    succeeded(run);
    expect(run.devicePath(id)).toEqual(['DeviceOnline?', 'PushToDevice', 'SendToInbox', 'CreateInboxQueue', 'RetrySendToInbox']);
    expect(run.inputsTo('RetrySendToInbox')).toEqual([inboxMessage(notification, id)]);
  });

  it('sends to the existing inbox when CreateInboxQueue answers QueueNameExists (retention changed since)', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [[DEVICES.adaLaptop]], online: 'none' }),
      ...missingInbox,
      CreateInboxQueue: alwaysFailing(queueExists),
      RetrySendToInbox: (input) => sqsSent(input),
    });

    succeeded(run);
    expect(run.callsTo('CreateInboxQueue')).toHaveLength(1);
    expect(run.catches('CreateInboxQueue')).toEqual([{ state: 'CreateInboxQueue', catcher: 0, next: 'UseExistingInboxQueue' }]);
    expect(run.devicePath(id)).toEqual(['DeviceOnline?', 'SendToInbox', 'CreateInboxQueue', 'UseExistingInboxQueue', 'RetrySendToInbox']);
    expect(run.inputsTo('RetrySendToInbox')).toEqual([inboxMessage(notification, id, inboxUrl(id))]);
  });

  it('retries a throttled CreateInboxQueue', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [[DEVICES.adaLaptop]], online: 'none' }),
      ...missingInbox,
      CreateInboxQueue: failingFirst(
        1,
        () => sqsSdkError('RequestThrottledException', 'Request is throttled.'),
        (input) => queueCreated(`https://sqs.us-east-1.amazonaws.com/123456789012/${input.QueueName}`),
      ),
      RetrySendToInbox: (input) => sqsSent(input),
    });

    succeeded(run);
    expect(run.callsTo('CreateInboxQueue')).toHaveLength(2);
    expect(run.retries('CreateInboxQueue')).toEqual([{ state: 'CreateInboxQueue', retrier: 0, attempt: 1 }]);
    expect(run.inputsTo('RetrySendToInbox')).toEqual([inboxMessage(notification, id)]);
  });

  it('fails the execution when the inbox can be neither sent to nor created (the Pipe retries the batch)', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [[DEVICES.adaLaptop]], online: 'none' }),
      ...missingInbox,
      CreateInboxQueue: alwaysFailing(() => sqsSdkError('SqsException', 'Access to the resource https://sqs.us-east-1.amazonaws.com/ is denied.')),
    });

    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('Sqs.SqsException');
    expect(run.callsTo('CreateInboxQueue')).toHaveLength(1);
    expect(run.callsTo('RetrySendToInbox')).toHaveLength(0);
  });

  it('succeeds when RetrySendToInbox fails twice and then goes through', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [[DEVICES.adaLaptop]], online: 'none' }),
      ...missingInbox,
      CreateInboxQueue: (input) => queueCreated(`https://sqs.us-east-1.amazonaws.com/123456789012/${input.QueueName}`),
      RetrySendToInbox: failingFirst(2, () => sqsServiceError(), (input) => sqsSent(input)),
    });

    succeeded(run);
    expect(run.callsTo('RetrySendToInbox')).toHaveLength(3);
    expect(run.retries('RetrySendToInbox').map((r) => r.retrier)).toEqual([0, 0]);
  });

  it('fails the execution after 1 + MaxAttempts attempts when RetrySendToInbox keeps failing', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts({ pages: [[DEVICES.adaLaptop]], online: 'none' }),
      ...missingInbox,
      CreateInboxQueue: (input) => queueCreated(`https://sqs.us-east-1.amazonaws.com/123456789012/${input.QueueName}`),
      RetrySendToInbox: alwaysFailing(() => sqsServiceError()),
    });

    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('SQS.AmazonSQSException');
    const attempts = run.callsTo('RetrySendToInbox');
    expect(attempts).toHaveLength(attemptsOf('RetrySendToInbox'));
    for (const a of attempts) expect(a.input).toEqual(inboxMessage(notification, id));
  });
});

describe('ResolveRecipients: Data API throttling and Aurora resuming', () => {
  const pages = [[DEVICES.graceDesktop, DEVICES.linusTablet]];

  it('retries RecipientsUnavailableError and continues once the Data API answers', async () => {
    const scripts = notifyScripts({ pages });
    const run = await runWorkflow(batchOf('insert-team'), {
      ...scripts,
      ResolveRecipients: failingFirst(2, recipientsUnavailable, scripts.ResolveRecipients!),
    });

    succeeded(run);
    const calls = run.callsTo('ResolveRecipients');
    expect(calls).toHaveLength(3);
    expect(calls.map((c) => c.error?.name)).toEqual(['RecipientsUnavailableError', 'RecipientsUnavailableError', undefined]);
    expect(new Set(calls.map((c) => JSON.stringify(c.input))).size).toBe(1);
    expect(run.retries('ResolveRecipients').map((r) => r.retrier)).toEqual([0, 0]);
    expect(run.path()).toEqual(notifiedPath('UseTeamTopic'));
    expect(inboxUrlsOf(run)).toHaveLength(2);
  });

  it('fails the execution after 1 + MaxAttempts attempts, so that the Pipe retries the batch and finally keeps it in its DLQ', async () => {
    const run = await runWorkflow(batchOf('insert-team'), {
      ...notifyScripts({ pages }),
      ResolveRecipients: alwaysFailing(recipientsUnavailable),
    });

    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('RecipientsUnavailableError');
    expect(JSON.parse(run.error!.cause)).toMatchObject({ errorType: 'RecipientsUnavailableError' });
    expect(run.callsTo('ResolveRecipients')).toHaveLength(attemptsOf('ResolveRecipients', 0));
    expect(run.callsTo('CheckPresence')).toHaveLength(0);
    expect(run.callsTo('SendToUnrouted')).toHaveLength(0);
  });

  it('retries a Lambda.ServiceException of the invoke with the Lambda retrier', async () => {
    const scripts = notifyScripts({ pages });
    const run = await runWorkflow(batchOf('insert-team'), {
      ...scripts,
      ResolveRecipients: failingFirst(1, () => lambdaServiceError(), scripts.ResolveRecipients!),
    });

    succeeded(run);
    expect(run.callsTo('ResolveRecipients')).toHaveLength(2);
    expect(run.retries('ResolveRecipients')).toEqual([{ state: 'ResolveRecipients', retrier: 1, attempt: 1 }]);
  });

  it('fails the execution after 1 + MaxAttempts Lambda.ServiceException attempts of the Lambda retrier', async () => {
    const run = await runWorkflow(batchOf('insert-team'), {
      ...notifyScripts({ pages }),
      ResolveRecipients: alwaysFailing(() => lambdaServiceError()),
    });

    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('Lambda.ServiceException');
    expect(run.callsTo('ResolveRecipients')).toHaveLength(attemptsOf('ResolveRecipients', 1));
  });

  it('fails the execution when a later page stays unavailable, although the first page was already sent (FIFO deduplication absorbs the replay)', async () => {
    const scripts = notifyScripts({ pages: [[DEVICES.graceDesktop], [DEVICES.linusTablet]] });
    const run = await runWorkflow(batchOf('insert-team'), {
      ...scripts,
      ResolveRecipients: (input, ctx) => {
        if (input.Payload.cursor !== null) throw recipientsUnavailable();
        return scripts.ResolveRecipients!(input, ctx);
      },
    });

    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('RecipientsUnavailableError');
    expect(inboxUrlsOf(run)).toEqual([inboxUrl(DEVICES.graceDesktop.clientId)]);
    expect(run.callsTo('ResolveRecipients')).toHaveLength(1 + attemptsOf('ResolveRecipients', 0));
  });
});

describe('Valid?: quarantine entries go to the quarantine queue, the other entries on', () => {
  const quarantineMessage = (fixture: InvalidFixture, run: Run) => ({
    QueueUrl: SUBSTITUTIONS.QuarantineQueueUrl,
    MessageBody: { quarantine: quarantined(fixture).quarantine, executionId: run.executionArn },
  });

  it.each(INVALID_FIXTURES)('%s: sends the quarantine entry and the execution id to the quarantine queue, once, and the execution succeeds', async (fixture) => {
    const run = await runWorkflow(batchOf(fixture), QUARANTINE_SCRIPTS);

    succeeded(run);
    expect(run.path()).toEqual(QUARANTINED_PATH);
    expect(run.inputsTo('QuarantineRecord')).toEqual([quarantineMessage(fixture, run)]);
    expect(run.retries()).toEqual([]);
    const sent = run.callsTo('QuarantineRecord')[0].result as { MessageId: string };
    expect(run.output).toEqual([{ outcome: 'quarantined', quarantineMessageId: sent.MessageId }]);
    expect(run.callsTo('PublishToTopic')).toHaveLength(0);
  });

  it('still notifies every device of the other records of the batch', async () => {
    const direct = normalized('insert-direct').notification;
    const team = normalized('insert-team').notification;
    const page = [DEVICES.adaLaptop, DEVICES.adaPhone];
    const run = await runWorkflow(batchOf('insert-direct', 'insert-missing-tenant', 'insert-team'), {
      ...notifyScripts({ pages: [page] }),
      ...QUARANTINE_SCRIPTS,
    });

    succeeded(run);
    const sent = run.callsTo('QuarantineRecord')[0].result as { MessageId: string };
    expect(run.output).toEqual([
      { outcome: 'notified', notificationId: direct.notificationId, topic: 'direct' },
      { outcome: 'quarantined', quarantineMessageId: sent.MessageId },
      { outcome: 'notified', notificationId: team.notificationId, topic: 'team' },
    ]);
    expect(run.path(0)).toEqual(notifiedPath('UseDirectTopic'));
    expect(run.path(1)).toEqual(QUARANTINED_PATH);
    expect(run.path(2)).toEqual(notifiedPath('UseTeamTopic'));
    expect(run.inputsTo('QuarantineRecord')).toEqual([quarantineMessage('insert-missing-tenant', run)]);
    expect(run.callsTo('PublishToTopic')).toHaveLength(2);
    const key = (i: { QueueUrl: string; MessageDeduplicationId?: string }) => `${i.QueueUrl} ${i.MessageDeduplicationId}`;
    expect(sortBy(run.inputsTo('SendToInbox'), key)).toEqual(sortBy([direct, team].flatMap((n) => page.map((d) => inboxMessage(n, d.clientId))), key));
  });

  it('retries a failed quarantine send with the same message', async () => {
    const run = await runWorkflow(batchOf('insert-missing-tenant'), {
      ...QUARANTINE_SCRIPTS,
      QuarantineRecord: failingFirst(1, () => sqsServiceError(), (input) => sqsSent(input)),
    });

    succeeded(run);
    expect(run.inputsTo('QuarantineRecord')).toEqual([quarantineMessage('insert-missing-tenant', run), quarantineMessage('insert-missing-tenant', run)]);
    expect(run.retries('QuarantineRecord')).toEqual([{ state: 'QuarantineRecord', retrier: 0, attempt: 1 }]);
    expect(run.output).toEqual([{ outcome: 'quarantined', quarantineMessageId: expect.any(String) }]);
  });

  it('fails the execution when the quarantine queue keeps failing (1 + MaxAttempts attempts), so the record is not lost', async () => {
    const run = await runWorkflow(batchOf('insert-missing-tenant'), {
      ...QUARANTINE_SCRIPTS,
      QuarantineRecord: alwaysFailing(() => sqsServiceError()),
    });

    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('SQS.AmazonSQSException');
    expect(run.callsTo('QuarantineRecord')).toHaveLength(attemptsOf('QuarantineRecord'));
    expect(run.callsTo('SendQuarantineOutcome')).toHaveLength(0);
  });
});

describe('PublishToTopic: SNS failures', () => {
  it('retries a failed publish and goes on', async () => {
    const run = await runWorkflow(batchOf('insert-sender'), {
      ...notifyScripts(),
      PublishToTopic: failingFirst(2, () => snsError(), () => snsPublished()),
    });

    succeeded(run);
    expect(run.callsTo('PublishToTopic')).toHaveLength(3);
    expect(run.retries('PublishToTopic').map((r) => r.retrier)).toEqual([0, 0]);
    expect(run.path()).toEqual(notifiedPath('UseSenderTopic'));
  });

  it('fails the execution after 1 + MaxAttempts attempts, before any device is notified', async () => {
    const run = await runWorkflow(batchOf('insert-sender'), {
      ...notifyScripts(),
      PublishToTopic: alwaysFailing(() => snsError()),
    });

    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('SNS.InternalErrorException');
    expect(run.callsTo('PublishToTopic')).toHaveLength(attemptsOf('PublishToTopic'));
    expect(run.callsTo('ResolveRecipients')).toHaveLength(0);
    expect(run.callsTo('SendToInbox')).toHaveLength(0);
  });
});

describe('SendToUnrouted failures', () => {
  it('retries a failed unrouted send', async () => {
    const run = await runWorkflow(batchOf('insert-sender'), {
      ...notifyScripts({ pages: [[]] }),
      SendToUnrouted: failingFirst(1, () => sqsServiceError(), (input) => sqsSent(input)),
    });

    succeeded(run);
    expect(run.callsTo('SendToUnrouted')).toHaveLength(2);
    expect(run.retries('SendToUnrouted')).toEqual([{ state: 'SendToUnrouted', retrier: 0, attempt: 1 }]);
    expect(run.output).toEqual([{ outcome: 'unrouted', unroutedMessageId: expect.any(String) }]);
  });

  it('fails the execution after 1 + MaxAttempts attempts', async () => {
    const run = await runWorkflow(batchOf('insert-sender'), {
      ...notifyScripts({ pages: [[]] }),
      SendToUnrouted: alwaysFailing(() => sqsServiceError()),
    });

    expect(run.status).toBe('FAILED');
    expect(run.callsTo('SendToUnrouted')).toHaveLength(attemptsOf('SendToUnrouted'));
  });
});

describe('batches: one outcome per record, in batch order', () => {
  const batch: FixtureName[] = [
    'insert-team',
    'insert-missing-tenant',
    'modify-handled-direct',
    'insert-sender',
    'insert-direct',
    'modify-body-edited',
    'modify-handled-sender',
    'modify-handled-team',
  ];
  const devicesFor: Record<string, Device[]> = {
    direct: [DEVICES.adaLaptop, DEVICES.adaPhone],
    team: [DEVICES.graceDesktop, DEVICES.margaretPhone, DEVICES.kenDesktop],
    sender: [],
  };
  const scripts = () => {
    const byTopic = Object.fromEntries(Object.entries(devicesFor).map(([topic, devices]) => [topic, recipientPages([devices])]));
    const resolve: Script<TaskInputs['ResolveRecipients']> = (input, ctx) => byTopic[input.Payload.audience.topic](input, ctx);
    return {
      ...notifyScripts({ online: [DEVICES.adaPhone.clientId, DEVICES.kenDesktop.clientId] }),
      ResolveRecipients: resolve,
      ...QUARANTINE_SCRIPTS,
      SendToUnrouted: (input: TaskInputs['SendToUnrouted']) => sqsSent(input),
    };
  };

  it('returns one outcome per record in batch order, whatever its topic, kind or validity', async () => {
    const run = await runWorkflow(batchOf(...batch), scripts());

    succeeded(run);
    const messageIdOf = (state: 'QuarantineRecord' | 'SendToUnrouted', match: (body: Record<string, unknown>) => boolean) =>
      (run.callsTo(state).find((c) => match(c.input.MessageBody as Record<string, unknown>))!.result as { MessageId: string }).MessageId;
    const expected = batch.map((f) => {
      if (isInvalid(f)) {
        const eventID = streamRecord(f).eventID;
        return { outcome: 'quarantined', quarantineMessageId: messageIdOf('QuarantineRecord', (b) => (b.quarantine as { eventID: string }).eventID === eventID) };
      }
      const { notification } = normalized(f);
      if (notification.topic === 'sender') {
        return { outcome: 'unrouted', unroutedMessageId: messageIdOf('SendToUnrouted', (b) => (b.notification as NotificationEnvelope).notificationId === notification.notificationId) };
      }
      return { outcome: 'notified', notificationId: notification.notificationId, topic: notification.topic };
    });
    expect(run.output).toEqual(expected);
    batch.forEach((f, i) => {
      if (isInvalid(f)) expect(run.path(i)).toEqual(QUARANTINED_PATH);
    });
  });

  it("sends each notification only to its own audience's devices", async () => {
    const run = await runWorkflow(batchOf(...batch), scripts());

    succeeded(run);
    const expected = batch
      .filter((f): f is ValidFixture => !isInvalid(f))
      .flatMap((f) => {
        const { notification } = normalized(f);
        return devicesFor[notification.topic].map((d) => inboxMessage(notification, d.clientId));
      });
    const key = (i: { QueueUrl: string; MessageDeduplicationId?: string }) => `${i.QueueUrl} ${i.MessageDeduplicationId}`;
    expect(sortBy(run.inputsTo('SendToInbox'), key)).toEqual(sortBy(expected, key));
    expect(run.callsTo('PublishToTopic')).toHaveLength(6);
  });

  it('keeps batch order even when the first record finishes last', async () => {
    const slow = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const run = await runWorkflow(batchOf('insert-team', 'insert-direct', 'insert-sender'), {
      ...scripts(),
      PublishToTopic: async (input) => {
        if (input.TopicArn === SUBSTITUTIONS.TeamTopicArn) await slow(50);
        return snsPublished();
      },
    });

    succeeded(run);
    expect((run.output as { outcome: string; topic?: string }[]).map((o) => o.topic ?? o.outcome)).toEqual(['team', 'direct', 'unrouted']);
    const lastResolve = run.callsTo('ResolveRecipients').at(-1)!;
    expect(lastResolve.input.Payload.audience.topic).toBe('team');
  });

  it('fails the whole execution when one record fails for good, so that the Pipe retries the batch', async () => {
    const run = await runWorkflow(batchOf('insert-direct', 'insert-team'), {
      ...scripts(),
      PublishToTopic: (input) => {
        if (input.TopicArn === SUBSTITUTIONS.TeamTopicArn) throw snsError();
        return snsPublished();
      },
    });

    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('SNS.InternalErrorException');
  });

  it('ends an empty batch with an empty output', async () => {
    const run = await runWorkflow([], {});
    succeeded(run);
    expect(run.output).toEqual([]);
    expect(run.calls).toHaveLength(0);
  });
});

describe('outcomes: every entry ends by sending its outcome to the outcomes queue', () => {
  type Counts = NotificationOutcome['counts'];
  const counts = (devices: number, online: number, pushed: number, pushFailures: number, inboxed: number): Counts => ({ devices, online, pushed, pushFailures, inboxed });
  /** The outcome body contracts/outcomes.ts defines for a notification entry of `run`. */
  const notificationOutcome = (n: NotificationEnvelope, detailType: NotificationOutcome['detailType'], c: Counts, run: Run): NotificationOutcome => ({
    version: 1,
    detailType,
    notificationId: n.notificationId,
    deduplicationId: n.deduplicationId,
    tenantId: n.tenantId,
    conversationId: n.conversationId,
    messageId: n.messageId,
    kind: n.kind === 'message.handled' ? 'handled' : 'created',
    topic: n.topic,
    createdAt: n.createdAt,
    ...(n.handledAt !== undefined ? { handledAt: n.handledAt } : {}),
    counts: c,
    executionId: run.executionArn,
  });
  const sentTo = (body: unknown) => ({ QueueUrl: SUBSTITUTIONS.OutcomesQueueUrl, MessageBody: body });
  /** The outcome as the bus delivers it to a rule: what the Pipe makes of the SQS message. */
  const eventOf = (body: Outcome) => ({ source: OUTCOME_EVENT_SOURCE, 'detail-type': body.detailType, detail: body });
  const NOBODY_ONLINE = {
    source: [OUTCOME_EVENT_SOURCE],
    'detail-type': [OUTCOME_DETAIL_TYPES.fannedOut],
    detail: { kind: ['created'], counts: { online: [{ numeric: ['=', 0] }] } },
  } as const satisfies EventPattern;
  const forbidden = () => iotError('ForbiddenException', 'Forbidden');
  const failingPushTo =
    (...clientIds: string[]): Script<TaskInputs['PushToDevice']> =>
    (input) => {
      if (clientIds.some((id) => input.Topic === pushTopicOf(id))) throw forbidden();
      return iotPublished();
    };

  it('sends a created message’s outcome with the counts summed over two recipient pages, a push failure counted, as the last call of the entry', async () => {
    const { notification } = normalized('insert-team');
    const pages = [
      [DEVICES.adaLaptop, DEVICES.adaPhone, DEVICES.graceDesktop],
      [DEVICES.linusTablet, DEVICES.margaretPhone],
    ];
    const online = [DEVICES.adaPhone.clientId, DEVICES.graceDesktop.clientId, DEVICES.linusTablet.clientId];
    const run = await runWorkflow(batchOf('insert-team'), {
      ...notifyScripts({ pages, online }),
      PushToDevice: failingPushTo(DEVICES.graceDesktop.clientId),
    });

    succeeded(run);
    const expected = notificationOutcome(notification, OUTCOME_DETAIL_TYPES.fannedOut, counts(5, 3, 2, 1, 5), run);
    expect(run.inputsTo('SendOutcome')).toEqual([sentTo(expected)]);
    expect(OutcomeSchema.parse(expected)).toEqual(expected);
    expect(run.path()).toEqual(notifiedPath('UseTeamTopic', 2));
    expect(run.calls.at(-1)?.state).toBe('SendOutcome');
    expect(run.output).toEqual([{ outcome: 'notified', notificationId: notification.notificationId, topic: 'team' }]);
    expect(matchesEventPattern(NOBODY_ONLINE, eventOf(expected))).toBe(false);
  });

  it('counts every failed push of a page as a push failure and none as pushed', async () => {
    const page = [DEVICES.adaLaptop, DEVICES.adaPhone, DEVICES.graceDesktop];
    const run = await runWorkflow(batchOf('insert-team'), {
      ...notifyScripts({ pages: [page], online: 'all' }),
      PushToDevice: failingPushTo(...page.map((d) => d.clientId)),
    });

    succeeded(run);
    expect(run.inputsTo('SendOutcome').map((i) => (i.MessageBody as NotificationOutcome).counts)).toEqual([counts(3, 3, 0, 3, 3)]);
  });

  it('counts by the push outcome only, whatever letters the client ids hold', async () => {
    const marked = [
      { agentId: 'agent-PF', clientId: 'PUSHED-FAILED-P' },
      { agentId: 'agent-FP', clientId: 'FFF-PPP' },
      { agentId: 'agent-NP', clientId: 'NONE-P-F' },
    ];
    const run = await runWorkflow(batchOf('insert-team'), {
      ...notifyScripts({ pages: [marked], online: ['PUSHED-FAILED-P', 'FFF-PPP'] }),
      PushToDevice: failingPushTo('FFF-PPP'),
    });

    succeeded(run);
    expect(run.inputsTo('SendOutcome').map((i) => (i.MessageBody as NotificationOutcome).counts)).toEqual([counts(3, 2, 1, 1, 3)]);
  });

  it('reports online 0 when every device is offline: the outcome an escalation rule (numeric = 0) matches', async () => {
    const { notification } = normalized('insert-direct');
    const run = await runWorkflow(batchOf('insert-direct'), notifyScripts({ online: 'none' }));

    succeeded(run);
    const expected = notificationOutcome(notification, OUTCOME_DETAIL_TYPES.fannedOut, counts(2, 0, 0, 0, 2), run);
    expect(run.inputsTo('SendOutcome')).toEqual([sentTo(expected)]);
    expect(matchesEventPattern(NOBODY_ONLINE, eventOf(expected))).toBe(true);
  });

  it('reports online 0 when the presence lookup failed: nobody is known to be online', async () => {
    const page = [DEVICES.adaLaptop, DEVICES.adaPhone, DEVICES.graceDesktop];
    const run = await runWorkflow(batchOf('insert-team'), {
      ...notifyScripts({ pages: [page], online: 'all' }),
      CheckPresence: alwaysFailing(presenceUnavailable),
    });

    succeeded(run);
    expect(run.inputsTo('SendOutcome').map((i) => (i.MessageBody as NotificationOutcome).counts)).toEqual([counts(3, 0, 0, 0, 3)]);
  });

  it('sends a handled message’s outcome with kind handled and its handledAt', async () => {
    const { notification } = normalized('modify-handled-direct');
    const run = await runWorkflow(batchOf('modify-handled-direct'), notifyScripts({ pages: [[DEVICES.adaPhone]], online: 'all' }));

    succeeded(run);
    expect(notification.handledAt).toEqual(expect.any(String));
    const expected = notificationOutcome(notification, OUTCOME_DETAIL_TYPES.fannedOut, counts(1, 1, 1, 0, 1), run);
    expect(expected).toMatchObject({ kind: 'handled', handledAt: notification.handledAt });
    expect(run.inputsTo('SendOutcome')).toEqual([sentTo(expected)]);
    expect(run.path()).toEqual(notifiedPath('UseDirectTopic', 1, 'message.handled'));
  });

  it('sends an unrouted outcome with every count 0 after the unrouted message, when the audience has no device', async () => {
    const { notification } = normalized('insert-sender');
    const run = await runWorkflow(batchOf('insert-sender'), { ...notifyScripts({ pages: [[]] }), SendToUnrouted: (input) => sqsSent(input) });

    succeeded(run);
    const expected = notificationOutcome(notification, OUTCOME_DETAIL_TYPES.unrouted, ZERO_OUTCOME_COUNTS, run);
    expect(run.inputsTo('SendOutcome')).toEqual([sentTo(expected)]);
    expect(run.taskSequence().slice(-2)).toEqual(['SendToUnrouted', 'SendOutcome']);
    const sent = run.callsTo('SendToUnrouted')[0].result as { MessageId: string };
    expect(run.output).toEqual([{ outcome: 'unrouted', unroutedMessageId: sent.MessageId }]);
  });

  it('counts only the devices of the pages that had any when a later page is empty', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), notifyScripts({ pages: [[DEVICES.adaLaptop, DEVICES.adaPhone], []], online: [DEVICES.adaLaptop.clientId] }));

    succeeded(run);
    expect(run.inputsTo('SendOutcome').map((i) => (i.MessageBody as NotificationOutcome).counts)).toEqual([counts(2, 1, 1, 0, 2)]);
  });

  it.each(INVALID_FIXTURES)('%s: sends the quarantined record’s outcome (keys, field, reason; no excerpt, no tenant) after the quarantine message', async (fixture) => {
    const { quarantine } = quarantined(fixture);
    const run = await runWorkflow(batchOf(fixture), QUARANTINE_SCRIPTS);

    succeeded(run);
    const expected: QuarantineOutcome = {
      version: 1,
      detailType: OUTCOME_DETAIL_TYPES.quarantined,
      keys: quarantine.keys,
      field: quarantine.field,
      reason: quarantine.reason,
      eventName: quarantine.eventName,
      eventID: quarantine.eventID,
      streamSequence: quarantine.streamSequence,
      executionId: run.executionArn,
    };
    expect(run.inputsTo('SendQuarantineOutcome')).toEqual([sentTo(expected)]);
    expect(OutcomeSchema.parse(expected)).toEqual(expected);
    expect(run.taskSequence()).toEqual(['QuarantineRecord', 'SendQuarantineOutcome']);
    const sent = run.callsTo('QuarantineRecord')[0].result as { MessageId: string };
    expect(run.output).toEqual([{ outcome: 'quarantined', quarantineMessageId: sent.MessageId }]);
  });

  it.each([...VALID_FIXTURES, ...INVALID_FIXTURES])('%s: the outcome sent is valid against contracts/outcomes.ts and within MAX_OUTCOME_BYTES', async (fixture) => {
    const run = await runWorkflow(batchOf(fixture), { ...notifyScripts(), ...QUARANTINE_SCRIPTS });

    succeeded(run);
    const bodies = [...run.inputsTo('SendOutcome'), ...run.inputsTo('SendQuarantineOutcome')].map((i) => i.MessageBody);
    expect(bodies).toHaveLength(1);
    expect(OutcomeSchema.safeParse(bodies[0]).error).toBeUndefined();
    expect(payloadBytes(bodies[0])).toBeLessThanOrEqual(MAX_OUTCOME_BYTES);
  });

  it('sends one outcome per entry of a batch, each with its own identity and counts and the execution id', async () => {
    const direct = normalized('insert-direct').notification;
    const team = normalized('insert-team').notification;
    const run = await runWorkflow(batchOf('insert-direct', 'insert-missing-tenant', 'insert-team'), {
      ...notifyScripts({ online: [DEVICES.adaPhone.clientId] }),
      ...QUARANTINE_SCRIPTS,
    });

    succeeded(run);
    const key = (i: { MessageBody: unknown }) => (i.MessageBody as NotificationOutcome).notificationId;
    expect(sortBy(run.inputsTo('SendOutcome'), key)).toEqual(
      sortBy(
        [direct, team].map((n) => sentTo(notificationOutcome(n, OUTCOME_DETAIL_TYPES.fannedOut, counts(2, 1, 1, 0, 2), run))),
        key,
      ),
    );
    expect(run.inputsTo('SendQuarantineOutcome').map((i) => (i.MessageBody as QuarantineOutcome).executionId)).toEqual([run.executionArn]);
    expect([0, 1, 2].map((i) => run.path(i).at(-1))).toEqual(['SendOutcome', 'SendQuarantineOutcome', 'SendOutcome']);
  });

  it('retries a failed outcome send with the same body, then ends the entry as usual', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts(),
      SendOutcome: failingFirst(1, () => sqsServiceError(), (input) => sqsSent(input)),
    });

    succeeded(run);
    const [first, second] = run.callsTo('SendOutcome');
    expect(second.input).toEqual(first.input);
    expect(run.retries('SendOutcome')).toEqual([{ state: 'SendOutcome', retrier: 0, attempt: 1 }]);
    expect(run.catches('SendOutcome')).toEqual([]);
    expect(run.path().at(-1)).toBe('SendOutcome');
  });

  /** The Cause the OutcomeNotSent Fail state gives: the send that failed, its error, what it was about and the queue. */
  const expectNamedFailure = (run: Run, send: 'SendOutcome' | 'SendQuarantineOutcome', about: string[]) => {
    expect(run.status).toBe('FAILED');
    expect(run.error?.name).toBe('OutcomeNotSent');
    for (const part of [`${send} failed`, 'SQS.AmazonSQSException', SUBSTITUTIONS.OutcomesQueueUrl, ...about]) expect(run.error?.cause).toContain(part);
  };
  /** Where the calls to `state` came in the run's call order. */
  const seqs = (run: Run, state: keyof TaskInputs) => run.callsTo(state).map((c) => c.seq);

  it('fails the execution with OutcomeNotSent after 1 + MaxAttempts attempts when the outcome send keeps failing, the notification already in every inbox', async () => {
    const { notification } = normalized('insert-direct');
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts(),
      SendOutcome: alwaysFailing(() => sqsServiceError()),
    });

    expectNamedFailure(run, 'SendOutcome', [OUTCOME_DETAIL_TYPES.fannedOut, notification.notificationId]);
    const attempts = run.callsTo('SendOutcome');
    expect(attempts).toHaveLength(attemptsOf('SendOutcome'));
    for (const a of attempts) expect(a.input).toEqual(attempts[0].input);
    expect(run.retries('SendOutcome').map((r) => r.attempt)).toEqual(Array.from({ length: attemptsOf('SendOutcome') - 1 }, (_, i) => i + 1));
    expect(run.catches('SendOutcome')).toEqual([{ state: 'SendOutcome', catcher: 0, next: 'DescribeOutcomeNotSent' }]);
    expect(run.path()).toEqual([...notifiedPath('UseDirectTopic'), 'DescribeOutcomeNotSent', 'OutcomeNotSent']);
    expect(inboxUrlsOf(run)).toEqual([DEVICES.adaLaptop, DEVICES.adaPhone].map((d) => inboxUrl(d.clientId)).sort());
    expect(Math.max(...seqs(run, 'SendToInbox'))).toBeLessThan(Math.min(...seqs(run, 'SendOutcome')));
    expect(run.output).toBeUndefined();
  });

  it('fails with OutcomeNotSent naming the unrouted outcome when it cannot be sent, after the unrouted message was', async () => {
    const { notification } = normalized('insert-sender');
    const run = await runWorkflow(batchOf('insert-sender'), {
      ...notifyScripts({ pages: [[]] }),
      SendToUnrouted: (input) => sqsSent(input),
      SendOutcome: alwaysFailing(() => sqsServiceError()),
    });

    expectNamedFailure(run, 'SendOutcome', [OUTCOME_DETAIL_TYPES.unrouted, notification.notificationId]);
    expect(run.path()).toEqual([...HEAD('UseSenderTopic'), 'ResolveRecipients', 'AnyRecipients?', ...UNROUTED_TAIL(), 'DescribeOutcomeNotSent', 'OutcomeNotSent']);
    expect(run.callsTo('SendToUnrouted').map((c) => c.error)).toEqual([undefined]);
    expect(seqs(run, 'SendToUnrouted')[0]).toBeLessThan(Math.min(...seqs(run, 'SendOutcome')));
  });

  it('fails with OutcomeNotSent naming the handled notification when its outcome cannot be sent', async () => {
    const { notification } = normalized('modify-handled-direct');
    const run = await runWorkflow(batchOf('modify-handled-direct'), {
      ...notifyScripts({ pages: [[DEVICES.adaPhone]] }),
      SendOutcome: alwaysFailing(() => sqsServiceError()),
    });

    expect(notification.notificationId).toMatch(/#handled$/);
    expectNamedFailure(run, 'SendOutcome', [notification.notificationId]);
    expect(run.path()).toEqual([...notifiedPath('UseDirectTopic', 1, 'message.handled'), 'DescribeOutcomeNotSent', 'OutcomeNotSent']);
    expect(inboxUrlsOf(run)).toEqual([inboxUrl(DEVICES.adaPhone.clientId)]);
  });

  it('fails the whole execution with OutcomeNotSent when one entry of a batch cannot send its outcome, so the Pipe retries the batch', async () => {
    const team = normalized('insert-team').notification;
    const run = await runWorkflow(batchOf('insert-direct', 'insert-team'), {
      ...notifyScripts(),
      SendOutcome: (input) => {
        if ((input.MessageBody as NotificationOutcome).notificationId === team.notificationId) throw sqsServiceError();
        return sqsSent(input);
      },
    });

    expectNamedFailure(run, 'SendOutcome', [team.notificationId]);
    expect(run.path(1)).toEqual([...notifiedPath('UseTeamTopic'), 'DescribeOutcomeNotSent', 'OutcomeNotSent']);
    const teamInboxSends = run.callsTo('SendToInbox').filter((c) => c.input.MessageDeduplicationId === team.deduplicationId);
    expect(teamInboxSends).toHaveLength(2);
    const teamOutcomeSends = run.callsTo('SendOutcome').filter((c) => (c.input.MessageBody as NotificationOutcome).notificationId === team.notificationId);
    expect(teamOutcomeSends).toHaveLength(attemptsOf('SendOutcome'));
    expect(Math.max(...teamInboxSends.map((c) => c.seq))).toBeLessThan(teamOutcomeSends[0].seq);
  });

  it('retries a failed quarantine outcome send with the same body, then ends the entry as usual', async () => {
    const run = await runWorkflow(batchOf('insert-missing-tenant'), {
      ...QUARANTINE_SCRIPTS,
      SendQuarantineOutcome: failingFirst(1, () => sqsServiceError(), (input) => sqsSent(input)),
    });

    succeeded(run);
    const [first, second] = run.callsTo('SendQuarantineOutcome');
    expect(second.input).toEqual(first.input);
    expect(run.retries('SendQuarantineOutcome')).toEqual([{ state: 'SendQuarantineOutcome', retrier: 0, attempt: 1 }]);
    expect(run.path()).toEqual(QUARANTINED_PATH);
    expect(run.output).toEqual([{ outcome: 'quarantined', quarantineMessageId: expect.any(String) }]);
  });

  it('fails the execution with OutcomeNotSent, naming the stream record, when the quarantine outcome send keeps failing after the record was quarantined', async () => {
    const { quarantine } = quarantined('insert-missing-tenant');
    const run = await runWorkflow(batchOf('insert-missing-tenant'), {
      ...QUARANTINE_SCRIPTS,
      SendQuarantineOutcome: alwaysFailing(() => sqsServiceError()),
    });

    expectNamedFailure(run, 'SendQuarantineOutcome', [quarantine.eventID, quarantine.streamSequence]);
    expect(run.callsTo('SendQuarantineOutcome')).toHaveLength(attemptsOf('SendQuarantineOutcome'));
    expect(run.catches('SendQuarantineOutcome')).toEqual([{ state: 'SendQuarantineOutcome', catcher: 0, next: 'DescribeQuarantineOutcomeNotSent' }]);
    expect(run.path()).toEqual([...QUARANTINED_PATH, 'DescribeQuarantineOutcomeNotSent', 'OutcomeNotSent']);
    expect(run.callsTo('QuarantineRecord').map((c) => c.error)).toEqual([undefined]);
    expect(seqs(run, 'QuarantineRecord')[0]).toBeLessThan(Math.min(...seqs(run, 'SendQuarantineOutcome')));
  });
});

describe('engine quirks of aws-local-stepfunctions 3.0.0, pinned (see docs/workflow-contract.md, Engine notes)', () => {
  it('States.JsonToString drops every backslash, so a preview with quotes or a line break is not valid JSON locally (AWS escapes them)', async () => {
    const record = streamRecord('insert-direct');
    record.dynamodb!.NewImage!.body = { S: 'He wrote "refund" twice\nand C:\\temp' };
    const batch = enrich([record]);
    const { notification } = NotifyEntrySchema.parse(batch[0]);
    const run = await runWorkflow(batch, notifyScripts({ pages: [[DEVICES.adaLaptop]] }));

    succeeded(run);
    expect(notification.preview).toBe('He wrote "refund" twice\nand C:\\temp');
    const message = run.inputsTo('PublishToTopic')[0].Message;
    expect(message).toBe(JSON.stringify(notification).replaceAll('\\', ''));
    expect(() => JSON.parse(message)).toThrow(SyntaxError);
    expect(run.inputsTo('SendToInbox')[0].MessageBody).toBe(message);
    expect(run.inputsTo('PushToDevice')[0].Payload).toBe(message);
  });

  it('reports an error thrown by a Task as Error = error.name and Cause = error.message, which a Catch puts at its ResultPath', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), {
      ...notifyScripts(),
      CheckPresence: () => {
        throw new TaskFailure('SomeTaskError', 'plain text cause');
      },
    });

    succeeded(run);
    const entered = run.events.find((e) => e.type === 'StateEntered' && e.state?.name === 'AssumeAllOffline');
    expect((entered?.state?.input as { presenceError?: unknown }).presenceError).toEqual({ Error: 'SomeTaskError', Cause: 'plain text cause' });
  });
});

describe('coverage of the definition', () => {
  it('exercised every Choice branch, every Catch entry and every Retry entry of the file (run the whole file)', () => {
    const required = requiredCoverage();
    expect(required.length).toBeGreaterThan(20);
    const seen = observedCoverage();
    expect(required.filter((item) => !seen.has(item))).toEqual([]);
  });
});
