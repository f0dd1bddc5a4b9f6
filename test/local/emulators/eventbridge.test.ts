import { EventBridgeClient, ListRulesCommand, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { UnsupportedPatternError, type EventPattern } from '../../../contracts/event-pattern';
import { AWS_LIMITS } from '../../../contracts/limits';
import { OUTCOME_DETAIL_TYPES, OUTCOME_EVENT_SOURCE } from '../../../contracts/outcomes';
import { LocalEventBridge, type EventBridgeEvent, type FailedDelivery } from '../../../local/emulators/eventbridge';
import { listen, type Listening } from '../../../local/emulators/listen';

const credentials = { accessKeyId: 'a', secretAccessKey: 'b' };
const BUS = 'convo-notify-local-events';

const NOBODY_ONLINE: EventPattern = {
  source: [OUTCOME_EVENT_SOURCE],
  'detail-type': [OUTCOME_DETAIL_TYPES.fannedOut],
  detail: { kind: ['created'], counts: { online: [{ numeric: ['=', 0] }] } },
};

const outcomeEntry = (online: number, kind = 'created') => ({
  Source: OUTCOME_EVENT_SOURCE,
  DetailType: OUTCOME_DETAIL_TYPES.fannedOut,
  Detail: JSON.stringify({ kind, counts: { devices: 2, online } }),
  EventBusName: BUS,
});

describe('local EventBridge endpoint (contract with @aws-sdk/client-eventbridge)', () => {
  let endpoint: Listening;
  let bus: LocalEventBridge;
  let client: EventBridgeClient;
  let delivered: EventBridgeEvent[];
  let deadLetters: FailedDelivery[];
  const logs: string[] = [];

  beforeEach(async () => {
    delivered = [];
    deadLetters = [];
    bus = new LocalEventBridge({
      region: 'us-east-1',
      accountId: '000000000000',
      buses: [BUS],
      retryDelayMs: 0,
      deadLetter: async (failure) => {
        deadLetters.push(failure);
      },
      log: (m) => logs.push(m),
      now: () => Date.parse('2026-12-01T10:00:00.250Z'),
    });
    bus.putRule({ name: 'nobody-online', eventPattern: NOBODY_ONLINE, target: async (event) => delivered.push(event) });
    endpoint = await listen(bus.handle);
    client = new EventBridgeClient({ endpoint: endpoint.url, region: 'us-east-1', credentials, maxAttempts: 1 });
  });
  afterEach(async () => {
    bus.close();
    client.destroy();
    await endpoint.close();
  });

  it('accepts an event, answers its id and delivers the whole event to the rule it matches (numeric = 0)', async () => {
    const out = await client.send(new PutEventsCommand({ Entries: [outcomeEntry(0)] }));
    await bus.idle();

    expect(out.FailedEntryCount).toBe(0);
    expect(out.Entries).toEqual([{ EventId: expect.any(String) }]);
    expect(delivered).toEqual([
      {
        version: '0',
        id: out.Entries![0].EventId,
        'detail-type': OUTCOME_DETAIL_TYPES.fannedOut,
        source: OUTCOME_EVENT_SOURCE,
        account: '000000000000',
        time: '2026-12-01T10:00:00Z',
        region: 'us-east-1',
        resources: [],
        detail: { kind: 'created', counts: { devices: 2, online: 0 } },
      },
    ]);
    expect(bus.events.map((e) => ({ bus: e.eventBusName, id: e.event.id, deliveries: e.deliveries }))).toEqual([
      { bus: BUS, id: out.Entries![0].EventId, deliveries: [{ rule: 'nobody-online', status: 'delivered', attempts: 1 }] },
    ]);
  });

  it('logs an event that matches no rule and delivers it to nobody (online 1, a handled message, the string "0")', async () => {
    const entries = [outcomeEntry(1), outcomeEntry(0, 'handled'), { ...outcomeEntry(0), Detail: JSON.stringify({ kind: 'created', counts: { online: '0' } }) }];
    const out = await client.send(new PutEventsCommand({ Entries: entries }));
    await bus.idle();

    expect(out.FailedEntryCount).toBe(0);
    expect(delivered).toEqual([]);
    expect(bus.events.map((e) => e.deliveries)).toEqual([[], [], []]);
  });

  it('keeps the entries it can accept and fails the others one by one (partial failure)', async () => {
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          { DetailType: 'x', Detail: '{}', EventBusName: BUS },
          outcomeEntry(0),
          { ...outcomeEntry(0), Detail: '[1, 2]' },
          { ...outcomeEntry(0), Detail: 'not json' },
          { ...outcomeEntry(0), EventBusName: 'no-such-bus' },
          { ...outcomeEntry(0), EventBusName: `arn:aws:events:us-east-1:000000000000:event-bus/${BUS}` },
        ],
      }),
    );
    await bus.idle();

    expect(out.FailedEntryCount).toBe(4);
    expect(out.Entries).toEqual([
      { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameter Source is not valid. Reason: Source is a required argument.' },
      { EventId: expect.any(String) },
      { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
      { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' },
      { ErrorCode: 'ResourceNotFoundException', ErrorMessage: 'Event bus no-such-bus does not exist.' },
      { EventId: expect.any(String) },
    ]);
    expect(delivered).toHaveLength(2);
  });

  it('refuses a request of more than 10 entries or over 256 KB as a ValidationException', async () => {
    const eleven = Array.from({ length: AWS_LIMITS.eventBridgePutEventsEntries + 1 }, () => outcomeEntry(0));
    await expect(client.send(new PutEventsCommand({ Entries: eleven }))).rejects.toMatchObject({ name: 'ValidationException' });

    const base = outcomeEntry(0);
    const fill = AWS_LIMITS.eventBridgePutEventsBytes - Buffer.byteLength(base.Source + base.DetailType + '{"p":""}');
    const exact = { ...base, Detail: JSON.stringify({ p: 'x'.repeat(fill) }) };
    await expect(client.send(new PutEventsCommand({ Entries: [exact] }))).resolves.toMatchObject({ FailedEntryCount: 0 });
    const over = { ...base, Detail: JSON.stringify({ p: 'x'.repeat(fill + 1) }) };
    await expect(client.send(new PutEventsCommand({ Entries: [over] }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'Total size of the entries in the request is over the limit.',
    });
  });

  it('answers an operation it does not serve with UnknownOperationException', async () => {
    await expect(client.send(new ListRulesCommand({}))).rejects.toMatchObject({ name: 'UnknownOperationException' });
  });

  it('retries a failing target, then hands the event to the dead letter, and still delivers to the other rules', async () => {
    let calls = 0;
    bus.putRule({
      name: 'flaky',
      eventPattern: { source: [OUTCOME_EVENT_SOURCE] },
      target: async () => {
        calls += 1;
        throw new Error('target down');
      },
    });
    await client.send(new PutEventsCommand({ Entries: [outcomeEntry(0)] }));
    await bus.idle();

    expect(calls).toBe(3);
    expect(deadLetters).toEqual([{ rule: 'flaky', event: expect.objectContaining({ source: OUTCOME_EVENT_SOURCE }), attempts: 3, error: 'Error: target down' }]);
    expect(delivered).toHaveLength(1);
    expect(bus.events[0].deliveries).toEqual([
      { rule: 'nobody-online', status: 'delivered', attempts: 1 },
      { rule: 'flaky', status: 'failed', attempts: 3, error: 'Error: target down' },
    ]);
  });

  it("hands a failed delivery to the rule's own dead letter rather than the endpoint's", async () => {
    const own: FailedDelivery[] = [];
    bus.putRule({
      name: 'with-dlq',
      eventPattern: { source: [OUTCOME_EVENT_SOURCE] },
      target: async () => {
        throw new Error('target down');
      },
      deadLetter: async (failure) => void own.push(failure),
    });
    await client.send(new PutEventsCommand({ Entries: [outcomeEntry(0)] }));
    await bus.idle();

    expect(own).toEqual([{ rule: 'with-dlq', event: expect.objectContaining({ source: OUTCOME_EVENT_SOURCE }), attempts: 3, error: 'Error: target down' }]);
    expect(deadLetters).toEqual([]);
  });

  it('answers PutEvents before a slow target has finished', async () => {
    let release: () => void = () => undefined;
    bus.putRule({ name: 'slow', eventPattern: { source: [OUTCOME_EVENT_SOURCE] }, target: () => new Promise<void>((resolve) => (release = resolve)) });
    await client.send(new PutEventsCommand({ Entries: [outcomeEntry(0)] }));
    expect(bus.events[0].deliveries.find((d) => d.rule === 'slow')?.status).toBe('pending');
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await bus.idle();
    expect(bus.events[0].deliveries.find((d) => d.rule === 'slow')?.status).toBe('delivered');
  });

  it('refuses a rule whose pattern the local matcher cannot evaluate, when it is put', () => {
    expect(() => bus.putRule({ name: 'bad', eventPattern: { detail: { n: [{ suffix: '.png' }] } } as unknown as EventPattern, target: async () => undefined })).toThrow(
      UnsupportedPatternError,
    );
    expect(() => bus.putRule({ name: 'bad', eventPattern: { a: [{ numeric: ['!=', 1] }] } as unknown as EventPattern, target: async () => undefined })).toThrow(
      UnsupportedPatternError,
    );
    expect(bus.ruleNames()).toEqual(['nobody-online']);
  });
});
