import {
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  SQSClient,
  type DeleteMessageBatchCommandInput,
  type Message,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { InboxDeleteError, InboxUnavailableError, InvalidClientOptionsError, InvalidNotificationError } from '../../client/errors';
import { canonicalState, emptyState, foldAll, isNew, type InboxState } from '../../client/fold';
import { Inbox, type DrainHandlers, type InboxOptions } from '../../client/inbox';
import type { NotificationEnvelope } from '../../contracts/envelope';
import { created, handled } from './notifications';

const sqsMock = mockClient(SQSClient);
const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/000000000000/convo-notify-inbox-dev-1.fifo';

let seq = 0;
const sqsMessage = (body: NotificationEnvelope | string): Message => {
  seq += 1;
  return { MessageId: `sqs-${seq}`, ReceiptHandle: `rh-${seq}`, Body: typeof body === 'string' ? body : JSON.stringify(body) };
};

/** A drain recorder: the folded state, the errors, and one log of folds and deletes in call order. */
const recorder = () => {
  const log: string[] = [];
  const errors: Error[] = [];
  let state: InboxState = emptyState;
  const handlers: DrainHandlers = {
    fold: (ns) => {
      log.push(`fold ${ns.map((n) => n.notificationId).join(',')}`);
      state = foldAll(state, ns);
    },
    error: (e) => errors.push(e),
  };
  sqsMock.on(DeleteMessageBatchCommand).callsFake((input: DeleteMessageBatchCommandInput) => {
    log.push(`delete ${input.Entries!.map((e) => e.ReceiptHandle).join(',')}`);
    return { Successful: input.Entries!.map((e) => ({ Id: e.Id })), Failed: [] };
  });
  return { log, errors, handlers, state: () => state };
};

const inbox = (options: Partial<InboxOptions> = {}) => new Inbox({ sqs: new SQSClient({}), queueUrl: QUEUE_URL, ...options });

beforeEach(() => {
  sqsMock.reset();
  seq = 0;
});

describe('Inbox.drain (SQS mocked)', () => {
  it('long-polls ReceiveMessage 10 at a time until a receive is empty', async () => {
    let next = 0;
    const batch = (n: number) => Array.from({ length: n }, () => sqsMessage(created(`m${(next += 1)}`)));
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: batch(10) })
      .resolvesOnce({ Messages: batch(10) })
      .resolvesOnce({ Messages: batch(3) })
      .resolves({ Messages: [] });
    const r = recorder();
    const result = await inbox({ waitTimeSeconds: 5, visibilityTimeoutSeconds: 60 }).drain(r.handlers);

    expect(result).toEqual({ queueMissing: false, receives: 4, received: 23, folded: 23, invalid: 0, deleted: 23, deleteFailed: 0 });
    const receives = sqsMock.commandCalls(ReceiveMessageCommand);
    expect(receives).toHaveLength(4);
    for (const call of receives) {
      expect(call.args[0].input).toEqual({ QueueUrl: QUEUE_URL, MaxNumberOfMessages: 10, WaitTimeSeconds: 5, VisibilityTimeout: 60 });
    }
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(3);
    expect(Object.keys(r.state().messages)).toHaveLength(23);
  });

  it('uses a 2-second long poll by default and no VisibilityTimeout of its own', async () => {
    sqsMock.on(ReceiveMessageCommand).resolves({});
    const result = await inbox().drain(recorder().handlers);
    expect(result.receives).toBe(1);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)[0].args[0].input).toEqual({ QueueUrl: QUEUE_URL, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 });
  });

  it('deletes a batch only after folding it, and exactly the messages received', async () => {
    const first = [sqsMessage(created('m1')), sqsMessage(created('m2'))];
    const second = [sqsMessage(handled('m1'))];
    sqsMock.on(ReceiveMessageCommand).resolvesOnce({ Messages: first }).resolvesOnce({ Messages: second }).resolves({ Messages: [] });
    const r = recorder();
    await inbox().drain(r.handlers);
    expect(r.log).toEqual(['fold c1/m1#created,c1/m2#created', 'delete rh-1,rh-2', 'fold c1/m1#handled', 'delete rh-3']);
    const entries = sqsMock.commandCalls(DeleteMessageBatchCommand)[0].args[0].input;
    expect(entries).toEqual({
      QueueUrl: QUEUE_URL,
      Entries: [
        { Id: 'm0', ReceiptHandle: 'rh-1' },
        { Id: 'm1', ReceiptHandle: 'rh-2' },
      ],
    });
    expect(isNew(r.state(), 'm1')).toBe(false);
    expect(isNew(r.state(), 'm2')).toBe(true);
  });

  it('loses nothing when it stops between fold and delete: the messages come again and the fold ignores them', async () => {
    const m = sqsMessage(created('m1'));
    // First drain: the delete fails outright (twice: first try and retry), as a crash would leave it.
    sqsMock.on(ReceiveMessageCommand).resolvesOnce({ Messages: [m] }).resolves({ Messages: [] });
    sqsMock.on(DeleteMessageBatchCommand).rejects(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }));
    const errors: Error[] = [];
    let state: InboxState = emptyState;
    const handlers: DrainHandlers = {
      fold: (ns) => {
        state = foldAll(state, ns);
      },
      error: (e) => errors.push(e),
    };
    const first = await inbox().drain(handlers);
    expect(first).toMatchObject({ folded: 1, deleted: 0, deleteFailed: 1 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(InboxDeleteError);
    expect(errors[0].name).toBe('InboxDeleteError');
    expect((errors[0] as InboxDeleteError).failures).toEqual([{ sqsMessageId: m.MessageId, code: 'TimeoutError', message: 'socket hang up' }]);
    const afterFirst = state;

    // Second drain: SQS delivers the same message again (new receipt handle); it folds to nothing new and is deleted.
    sqsMock.reset();
    const again = { ...m, ReceiptHandle: 'rh-again' };
    sqsMock.on(ReceiveMessageCommand).resolvesOnce({ Messages: [again] }).resolves({ Messages: [] });
    sqsMock.on(DeleteMessageBatchCommand).callsFake((input: DeleteMessageBatchCommandInput) => ({ Successful: input.Entries!.map((e) => ({ Id: e.Id })) }));
    const second = await inbox().drain(handlers);
    expect(second).toMatchObject({ folded: 1, deleted: 1, deleteFailed: 0 });
    expect(state).toBe(afterFirst);
  });

  it('folds duplicate deliveries within and across batches to one message', async () => {
    const n = created('m1');
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [sqsMessage(n), sqsMessage(n)] })
      .resolvesOnce({ Messages: [sqsMessage(n)] })
      .resolves({ Messages: [] });
    const r = recorder();
    const result = await inbox().drain(r.handlers);
    expect(result).toMatchObject({ received: 3, folded: 3, deleted: 3 });
    expect(canonicalState(r.state())).toBe(canonicalState(foldAll(emptyState, [n])));
  });

  it('retries the entries of a partial delete failure that were not the sender’s fault, once', async () => {
    const ms = [sqsMessage(created('m1')), sqsMessage(created('m2')), sqsMessage(created('m3'))];
    sqsMock.on(ReceiveMessageCommand).resolvesOnce({ Messages: ms }).resolves({ Messages: [] });
    sqsMock
      .on(DeleteMessageBatchCommand)
      .resolvesOnce({
        Successful: [{ Id: 'm0' }],
        Failed: [
          { Id: 'm1', Code: 'InternalError', SenderFault: false, Message: 'try again' },
          { Id: 'm2', Code: 'ReceiptHandleIsInvalid', SenderFault: true, Message: 'expired' },
        ],
      })
      .resolvesOnce({ Successful: [{ Id: 'm1' }], Failed: [] });
    const errors: Error[] = [];
    const result = await inbox().drain({ fold: () => undefined, error: (e) => errors.push(e) });

    const deletes = sqsMock.commandCalls(DeleteMessageBatchCommand).map((c) => c.args[0].input.Entries);
    expect(deletes).toEqual([
      [
        { Id: 'm0', ReceiptHandle: 'rh-1' },
        { Id: 'm1', ReceiptHandle: 'rh-2' },
        { Id: 'm2', ReceiptHandle: 'rh-3' },
      ],
      [{ Id: 'm1', ReceiptHandle: 'rh-2' }],
    ]);
    expect(result).toMatchObject({ deleted: 2, deleteFailed: 1 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(InboxDeleteError);
    expect((errors[0] as InboxDeleteError).failures).toEqual([{ sqsMessageId: 'sqs-3', code: 'ReceiptHandleIsInvalid', message: 'expired' }]);
    expect(errors[0].message).toMatch(/1 of 3 message\(s\) could not be deleted .*received again/);
  });

  it('reports an entry that fails its retry too', async () => {
    sqsMock.on(ReceiveMessageCommand).resolvesOnce({ Messages: [sqsMessage(created('m1'))] }).resolves({ Messages: [] });
    sqsMock.on(DeleteMessageBatchCommand).resolves({ Failed: [{ Id: 'm0', Code: 'InternalError', SenderFault: false }] });
    const errors: Error[] = [];
    const result = await inbox().drain({ fold: () => undefined, error: (e) => errors.push(e) });
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(2);
    expect(result).toMatchObject({ deleted: 0, deleteFailed: 1 });
    expect((errors[0] as InboxDeleteError).failures).toEqual([{ sqsMessageId: 'sqs-1', code: 'InternalError', message: undefined }]);
  });

  it('reports an invalid body as an error naming the problem and, by default, deletes it', async () => {
    const bad = { ...created('m1'), kind: 'message.deleted' };
    const ms = [sqsMessage(JSON.stringify(bad)), sqsMessage('not json'), sqsMessage(created('m2'))];
    sqsMock.on(ReceiveMessageCommand).resolvesOnce({ Messages: ms }).resolves({ Messages: [] });
    const r = recorder();
    const result = await inbox().drain(r.handlers);
    expect(result).toMatchObject({ received: 3, folded: 1, invalid: 2, deleted: 3 });
    expect(r.errors.map((e) => e.name)).toEqual(['InvalidNotificationError', 'InvalidNotificationError']);
    const [kindError, jsonError] = r.errors as InvalidNotificationError[];
    expect(kindError.source).toBe('inbox');
    expect(kindError.sqsMessageId).toBe('sqs-1');
    expect(kindError.issues.join()).toMatch(/^kind: /);
    expect(kindError.message).toMatch(/invalid notification from inbox \(SQS message sqs-1\): kind: /);
    expect(jsonError.issues[0]).toMatch(/not JSON/);
    expect(r.log).toEqual(['fold c1/m2#created', 'delete rh-1,rh-2,rh-3']);
    expect(Object.keys(r.state().messages)).toEqual(['c1 m2']);
  });

  it("with invalidMessages: 'keep', leaves an invalid body in the queue", async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [sqsMessage('{}'), sqsMessage(created('m2'))] })
      .resolves({ Messages: [] });
    const r = recorder();
    const result = await inbox({ invalidMessages: 'keep' }).drain(r.handlers);
    expect(result).toMatchObject({ invalid: 1, deleted: 1 });
    expect(r.log).toEqual(['fold c1/m2#created', 'delete rh-2']);
  });

  it('does not call DeleteMessageBatch for a batch with nothing to delete', async () => {
    sqsMock.on(ReceiveMessageCommand).resolvesOnce({ Messages: [sqsMessage('x')] }).resolves({ Messages: [] });
    const r = recorder();
    await inbox({ invalidMessages: 'keep' }).drain(r.handlers);
    expect(sqsMock.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
  });

  it('resolves a queue name with GetQueueUrl once and reuses it', async () => {
    sqsMock.on(GetQueueUrlCommand).resolves({ QueueUrl: QUEUE_URL });
    sqsMock.on(ReceiveMessageCommand).resolves({ Messages: [] });
    const box = inbox({ queueUrl: undefined, queueName: 'convo-notify-inbox-dev-1.fifo' });
    await box.drain(recorder().handlers);
    await box.drain(recorder().handlers);
    expect(sqsMock.commandCalls(GetQueueUrlCommand).map((c) => c.args[0].input)).toEqual([{ QueueName: 'convo-notify-inbox-dev-1.fifo' }]);
    expect(sqsMock.commandCalls(ReceiveMessageCommand).every((c) => c.args[0].input.QueueUrl === QUEUE_URL)).toBe(true);
  });

  it('treats a queue that does not exist yet as an empty inbox, not an error', async () => {
    sqsMock.on(GetQueueUrlCommand).rejects(new QueueDoesNotExist({ message: 'The specified queue does not exist.', $metadata: {} }));
    const r = recorder();
    const result = await inbox({ queueUrl: undefined, queueName: 'convo-notify-inbox-new.fifo' }).drain(r.handlers);
    expect(result).toMatchObject({ queueMissing: true, receives: 0 });
    expect(r.errors).toEqual([]);
    expect(sqsMock.commandCalls(ReceiveMessageCommand)).toHaveLength(0);
  });

  it('throws InboxUnavailableError when the queue cannot be read, keeping what was already folded and deleted', async () => {
    sqsMock
      .on(ReceiveMessageCommand)
      .resolvesOnce({ Messages: [sqsMessage(created('m1'))] })
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const r = recorder();
    const err = await inbox().drain(r.handlers).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InboxUnavailableError);
    expect((err as Error).name).toBe('InboxUnavailableError');
    expect((err as Error).message).toMatch(/ReceiveMessage failed: Rate exceeded/);
    expect(r.log).toEqual(['fold c1/m1#created', 'delete rh-1']);
  });

  it('stops receiving when aborted', async () => {
    const abort = new AbortController();
    sqsMock.on(ReceiveMessageCommand).callsFake(() => {
      abort.abort();
      return { Messages: [sqsMessage(created(`m${seq}`))] };
    });
    const r = recorder();
    const result = await inbox().drain(r.handlers, abort.signal);
    expect(result).toMatchObject({ receives: 1, folded: 1, deleted: 1 });
  });

  it('ends after maxReceivesPerDrain receives even if the queue never empties', async () => {
    sqsMock.on(ReceiveMessageCommand).callsFake(() => ({ Messages: [sqsMessage(created(`m${seq}`))] }));
    const r = recorder();
    const result = await inbox({ maxReceivesPerDrain: 3 }).drain(r.handlers);
    expect(result.receives).toBe(3);
  });

  it('rejects options that cannot work', () => {
    expect(() => inbox({ queueName: 'x.fifo' })).toThrow(InvalidClientOptionsError);
    expect(() => new Inbox({ sqs: new SQSClient({}) })).toThrow(/exactly one of queueUrl and queueName/);
    expect(() => inbox({ waitTimeSeconds: 21 })).toThrow(/waitTimeSeconds/);
    expect(() => inbox({ maxReceivesPerDrain: 0 })).toThrow(/maxReceivesPerDrain/);
  });
});
