import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { QuarantineEntrySchema } from '../../contracts/enrichment';
import { AudienceSchema, NotificationEnvelopeSchema } from '../../contracts/envelope';
import { lambdaFunctionError, snsError, sqsQueueDoesNotExist } from './aws-shapes';
import {
  alwaysFailing,
  batchOf,
  DEVICES,
  fixtureProblems,
  INVALID_FIELD,
  INVALID_FIXTURES,
  normalized,
  notifyScripts,
  quarantined,
  streamRecord,
  VALID_FIXTURES,
} from './fixtures';
import { fixture as jsonFixture } from '../support/fixtures';
import { walkStates } from '../../state-machines/workflows';
import { DEFINITION, runWorkflow, SUBSTITUTIONS, TASK_NAMES, type Scripts, type TaskInputs } from './harness';

/* The harness and fixtures the workflow tests stand on. */

describe('Task overrides', () => {
  it('knows exactly the Task states of the definition, nested Maps included', () => {
    const tasks = walkStates(DEFINITION).filter((s) => s.state.Type === 'Task').map((s) => s.name);
    expect([...TASK_NAMES].sort()).toEqual(tasks.sort());
    expect(tasks).toEqual(expect.arrayContaining(['PushToDevice', 'SendToInbox', 'CreateInboxQueue', 'RetrySendToInbox']));
  });

  it('fails loudly when the test did not script a Task that is reached, instead of calling AWS', async () => {
    await expect(runWorkflow(batchOf('insert-direct'), {})).rejects.toThrow('no override for Task PublishToTopic');
  });

  it('fails loudly for an unscripted Task even on a path where a Catch of States.ALL would swallow the error', async () => {
    const scripts: Scripts = { ...notifyScripts({ online: 'none' }), SendToInbox: alwaysFailing(sqsQueueDoesNotExist) };
    await expect(runWorkflow(batchOf('insert-direct'), scripts)).rejects.toThrow('no override for Task CreateInboxQueue');
  });

  it('fails loudly when a script throws something other than a TaskFailure', async () => {
    const scripts: Scripts = {
      ...notifyScripts(),
      SendToInbox: () => {
        throw new TypeError('oops, a bug in the test');
      },
    };
    await expect(runWorkflow(batchOf('insert-direct'), scripts)).rejects.toThrow('threw TypeError: oops, a bug in the test');
  });

  it('refuses a script for a state that is not a Task', async () => {
    await expect(runWorkflow([], { ChooseTopic: () => ({}) } as unknown as Scripts)).rejects.toThrow('not a Task state');
  });

  it('records every call with its exact input, attempt and result, in call order', async () => {
    const { audience } = normalized('insert-direct');
    const run = await runWorkflow(batchOf('insert-direct'), notifyScripts({ online: 'none' }));

    expect(run.taskSequence().slice(0, 3)).toEqual(['PublishToTopic', 'ResolveRecipients', 'CheckPresence']);
    expect(run.calls.map((c) => c.seq)).toEqual(run.calls.map((_c, i) => i + 1));
    const [resolve] = run.callsTo('ResolveRecipients');
    expect(resolve).toMatchObject({ attempt: 1, input: { FunctionName: SUBSTITUTIONS.ResolveRecipientsFunctionArn, Payload: { audience, cursor: null } } });
    expect(resolve.result).toEqual(
      expect.objectContaining({ StatusCode: 200, ExecutedVersion: '$LATEST', Payload: { devices: [DEVICES.adaLaptop, DEVICES.adaPhone], count: 2, nextCursor: null } }),
    );
  });

  it('counts attempts per identical input, so a retry is attempt 2', async () => {
    const attempts: number[] = [];
    const scripts = notifyScripts();
    await runWorkflow(batchOf('insert-direct'), {
      ...scripts,
      PublishToTopic: (input, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw snsError();
        return scripts.PublishToTopic!(input, ctx);
      },
    });
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('makes every retry pause 0 ms (ResolveRecipients would otherwise back off for about 50 s)', async () => {
    const started = Date.now();
    const run = await runWorkflow(batchOf('insert-team'), {
      ...notifyScripts(),
      ResolveRecipients: alwaysFailing<TaskInputs['ResolveRecipients']>(() => lambdaFunctionError('RecipientsUnavailableError', 'Data API throttled')),
    });
    expect(run.callsTo('ResolveRecipients')).toHaveLength(6);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('passes an execution ARN in the context object, as $$.Execution.Id is used by the definition', async () => {
    const run = await runWorkflow(batchOf('insert-direct'), notifyScripts(), { name: 'replay-42' });
    expect(run.executionArn).toMatch(/^arn:aws:states:us-east-1:123456789012:express:convo-notify-fanout:replay-42:[0-9a-f-]{36}$/);
  });
});

describe('fixtures', () => {
  it.each(VALID_FIXTURES)('%s: normalize-batch makes a notification entry whose envelope and audience are valid and derived from the stream record as docs/design.md §3 says', (fixture) => {
    const { notification, audience } = normalized(fixture);
    expect(NotificationEnvelopeSchema.safeParse(notification).success).toBe(true);
    expect(AudienceSchema.safeParse(audience).success).toBe(true);
    expect(fixtureProblems(fixture)).toEqual([]);
  });

  it.each(INVALID_FIXTURES)('%s: normalize-batch makes a quarantine entry naming the field, the keys, the event and the sequence number', (fixture) => {
    const record = streamRecord(fixture);
    const entry = quarantined(fixture);
    expect(QuarantineEntrySchema.safeParse(entry).success).toBe(true);
    expect(entry.quarantine).toEqual({
      field: INVALID_FIELD[fixture],
      reason: expect.stringContaining(INVALID_FIELD[fixture]),
      keys: unmarshall(record.dynamodb!.Keys as Parameters<typeof unmarshall>[0]),
      eventName: record.eventName,
      eventID: record.eventID,
      streamSequence: record.dynamodb!.SequenceNumber,
      excerpt: expect.stringContaining(record.eventID!),
    });
    expect(record.eventSource).toBe('aws:dynamodb');
  });

  it('covers INSERT and MODIFY for each topic, the same messageId in two conversations and an INSERT already handled', () => {
    const pairs = new Set(VALID_FIXTURES.map((f) => `${streamRecord(f).eventName} ${normalized(f).notification.topic}`));
    expect([...pairs].sort()).toEqual(['INSERT direct', 'INSERT sender', 'INSERT team', 'MODIFY direct', 'MODIFY sender', 'MODIFY team']);
    const a = normalized('insert-direct').notification;
    const b = normalized('insert-direct-same-message-id').notification;
    expect({ messageId: b.messageId, createdAt: b.createdAt }).toEqual({ messageId: a.messageId, createdAt: a.createdAt });
    expect(b.conversationId).not.toBe(a.conversationId);
    expect(streamRecord('insert-handled-team').eventName).toBe('INSERT');
    expect(normalized('insert-handled-team').notification.kind).toBe('message.handled');
  });
});

describe('aws-local-stepfunctions behaviour the harness relies on', () => {
  // A tiny definition with the same shape as the real one: a Map of Maps, one Task per device.
  const nested = jsonFixture<StateMachineDefinition>('asl-engine', 'nested-map.asl');

  const collect = async (send: () => Promise<unknown>) => {
    const machine = new StateMachine(nested);
    const input = Array.from({ length: 4 }, () => ({ devices: [1, 2, 3, 4, 5] }));
    const execution = machine.run(input, { overrides: { taskResourceLocalHandlers: { Send: send as never } } });
    const events: { type: string }[] = [];
    const logging = (async () => {
      for await (const e of execution.eventLogs) events.push(e);
    })();
    await execution.result;
    await logging;
    return events.filter((e) => e.type === 'StateEntered').length;
  };
  const expected = 1 + 4 * (2 + 5);

  it('drops events of nested Map iterations when the Tasks answer within the same tick', async () => {
    expect(await collect(async () => ({ MessageId: 'm' }))).toBeLessThan(expected);
  });

  it('keeps all of them when every Task answers on a later macrotask, as the harness does', async () => {
    expect(await collect(() => new Promise((resolve) => setImmediate(() => resolve({ MessageId: 'm' }))))).toBe(expected);
  });
});
