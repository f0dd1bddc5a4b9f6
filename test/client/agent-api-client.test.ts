import { AgentClient, type AgentClientEvents } from '../../client/agent-client';
import { AgentApi } from '../../client/api';
import { ApiInbox } from '../../client/api-inbox';
import { deviceClient, openAgentDevice } from '../../client/device';
import { AgentApiError, NotAuthorizedError, StoreError, TokenProviderError } from '../../client/errors';
import { canonicalState } from '../../client/fold';
import { MemoryStorage, type NotificationStore } from '../../client/store';
import { TokenSource, tokenExpiry } from '../../client/token';
import { startBroker, type LocalBroker } from '../../local/emulators/broker';
import { fakeAgentApi, tokenExpiringAt, type FakeAgentApi } from './fake-agent-api';
import { sleep, waitUntil } from './harness';
import { created, handled } from './notifications';

/**
 * The client on the agent API: bearer tokens and named refusals, the token source, the inbox
 * drained through the API with every batch committed to the store before it is acked, a reload
 * from the store, and the MQTT connection through the authorizer URL, renewed before expiry.
 */

const DEVICE = '0123456789abcdef-0000000000000001';
const HOUR = 3600_000;
const tokenSource = (lifetimeMs = HOUR, calls = { n: 0 }) =>
  new TokenSource({
    getToken: async () => {
      calls.n += 1;
      return tokenExpiringAt(new Date(Date.now() + lifetimeMs));
    },
  });
const apiOf = (fake: FakeAgentApi, tokens = tokenSource()) => new AgentApi({ baseUrl: 'https://api.example.com/', tokens, fetch: fake.fetch });
const errorsOf = (client: { on: AgentClient['on'] }) => {
  const errors: Error[] = [];
  client.on('error', (e) => void errors.push(e));
  return errors;
};

describe('AgentApi', () => {
  it('sends the bearer token to each route and validates the answers with the shared schemas', async () => {
    const fake = fakeAgentApi({ clientIds: [DEVICE] });
    const calls = { n: 0 };
    const api = apiOf(fake, tokenSource(HOUR, calls));
    const device = await api.registerDevice('laptop');
    expect(device).toMatchObject({ clientId: DEVICE, label: 'laptop', notifyTopic: `notify/${DEVICE}` });
    fake.put(DEVICE, created('m1'));
    expect((await api.readInbox(DEVICE)).messages).toHaveLength(1);
    expect(await api.ackInbox(DEVICE, ['rh-1'])).toEqual({ deleted: 1, failed: [] });
    expect(await api.claim({ conversationId: 'c1', messageId: 'm1' })).toMatchObject({ won: true });
    expect(fake.calls.map((c) => c.route)).toEqual(['registerDevice', 'readInbox', 'ackInbox', 'claim']);
    expect(fake.calls.every((c) => /^Bearer [\w-]+\.[\w-]+\.signature$/.test(c.authorization ?? ''))).toBe(true);
    expect(fake.calls[2].body).toEqual({ receiptHandles: ['rh-1'] });
    expect(calls.n).toBe(1);
  });

  it('makes a 401 a NotAuthorizedError after one request, and asks the token provider again on the next call', async () => {
    const fake = fakeAgentApi();
    const calls = { n: 0 };
    const api = apiOf(fake, tokenSource(HOUR, calls));
    fake.refuse.listDevices = { status: 401, error: 'InvalidToken' };
    const err = await api.listDevices().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotAuthorizedError);
    expect(err).toMatchObject({ name: 'NotAuthorizedError', status: 401, code: 'InvalidToken' });
    expect(fake.callsOf('listDevices')).toBe(1);
    delete fake.refuse.listDevices;
    await api.listDevices();
    expect(calls.n).toBe(2);
  });

  it('makes a 403 a NotAuthorizedError with the API code, a 503 a retryable AgentApiError, a malformed answer a non-retryable one', async () => {
    const fake = fakeAgentApi();
    const api = apiOf(fake);
    fake.refuse.readInbox = { status: 403, error: 'NotYourDevice' };
    await expect(api.readInbox(DEVICE)).rejects.toMatchObject({ name: 'NotAuthorizedError', status: 403, code: 'NotYourDevice' });
    fake.refuse.readInbox = { status: 503, error: 'RecipientsUnavailable' };
    await expect(api.readInbox(DEVICE)).rejects.toMatchObject({ name: 'AgentApiError', status: 503, code: 'RecipientsUnavailable', retryable: true });
    const broken = new AgentApi({ baseUrl: 'https://api.example.com', tokens: tokenSource(), fetch: async () => new Response('{"devices":[{"clientId":1}]}') });
    const err = await broken.listDevices().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentApiError);
    expect(err).toMatchObject({ code: 'InvalidResponse', retryable: false });
    expect((err as Error).message).toMatch(/devices\.0\.clientId/);
  });
});

describe('TokenSource', () => {
  it('asks the provider again only when the cached token has less than the asked-for validity left', async () => {
    let now = 1_000_000;
    let n = 0;
    const source = new TokenSource({ now: () => now, getToken: async () => tokenExpiringAt(new Date(now + 10 * 60_000), `agent-${++n}`) });
    const first = await source.get(5 * 60_000);
    expect(first.expiresAt.getTime()).toBe(Math.floor((now + 10 * 60_000) / 1000) * 1000);
    now += 4 * 60_000;
    expect(await source.get(5 * 60_000)).toBe(first);
    now += 2 * 60_000;
    const second = await source.get(5 * 60_000);
    expect(second.token).not.toBe(first.token);
    expect(n).toBe(2);
  });

  it('refuses with TokenProviderError a failing provider, a non-JWT, and a fresh token that is still too short', async () => {
    await expect(new TokenSource({ getToken: async () => Promise.reject(new Error('IdP down')) }).get()).rejects.toThrow(TokenProviderError);
    await expect(new TokenSource({ getToken: async () => 'not-a-jwt' }).get()).rejects.toThrow(/not a JWT/);
    await expect(new TokenSource({ getToken: async () => tokenExpiringAt(new Date(Date.now() + 60_000)) }).get(5 * 60_000)).rejects.toThrow(/sign in again/);
    expect(tokenExpiry(tokenExpiringAt(new Date('2030-01-01T00:00:00Z')))).toEqual(new Date('2030-01-01T00:00:00Z'));
  });
});

describe('AgentClient inbox through the agent API, store before ack', () => {
  const clientOn = (fake: FakeAgentApi, store: NotificationStore, extra: Partial<ConstructorParameters<typeof AgentClient>[0]> = {}) => {
    const api = apiOf(fake);
    return new AgentClient({
      clientId: DEVICE,
      agentId: 'agent-1',
      brokerUrl: 'mqtt://127.0.0.1:1',
      reconnect: { initialDelayMs: 10, maxDelayMs: 20, jitter: 0 },
      inbox: new ApiInbox({ api, clientId: DEVICE }),
      claim: (input) => api.claim(input),
      store,
      ...extra,
    });
  };

  it('acks an inbox batch only after the store has committed it', async () => {
    const fake = fakeAgentApi();
    fake.put(DEVICE, created('m1'));
    const inner = new MemoryStorage().open({ agentId: 'agent-1', clientId: DEVICE });
    let commit!: () => void;
    const saves: number[] = [];
    const store: NotificationStore = {
      load: (now) => inner.load(now),
      save: async (entries, expiresAt) => {
        saves.push(entries.length);
        await new Promise<void>((resolve) => (commit = resolve));
        await inner.save(entries, expiresAt);
      },
    };
    const client = clientOn(fake, store);
    const run = client.drainInbox();
    await waitUntil('the store is asked to save', () => saves.length === 1);
    await sleep(50);
    expect(fake.callsOf('ackInbox')).toBe(0);
    expect(client.isNew('m1')).toBe(false);
    commit();
    expect(await run).toMatchObject({ folded: 1, deleted: 1 });
    expect(fake.acked).toEqual(['rh-1']);
    expect(client.isNew('m1')).toBe(true);
    expect((await inner.load(Date.now())).map((e) => e.messageId)).toEqual(['m1']);
    await client.stop();
  });

  it('acks nothing and loses nothing when the store fails; the next drain stores and acks it', async () => {
    const fake = fakeAgentApi();
    fake.put(DEVICE, created('m1'));
    fake.put(DEVICE, created('m2'));
    const inner = new MemoryStorage().open({ agentId: 'agent-1', clientId: DEVICE });
    let failing = true;
    const store: NotificationStore = {
      load: (now) => inner.load(now),
      save: async (entries, expiresAt) => {
        if (failing) throw new Error('QuotaExceededError');
        await inner.save(entries, expiresAt);
      },
    };
    const client = clientOn(fake, store, { reconnect: { initialDelayMs: 60_000, jitter: 0 } });
    const errors = errorsOf(client);
    expect(await client.drainInbox()).toBeUndefined();
    expect(errors.map((e) => e.name)).toEqual(['StoreError']);
    expect(errors[0]).toBeInstanceOf(StoreError);
    expect(errors[0].message).toMatch(/QuotaExceededError/);
    expect(fake.callsOf('ackInbox')).toBe(0);
    expect(fake.inbox.get(DEVICE)).toHaveLength(2);
    expect(client.newMessages()).toEqual([]);

    failing = false;
    expect(await client.drainInbox()).toMatchObject({ folded: 2, deleted: 2 });
    expect(fake.acked).toEqual(['rh-1', 'rh-2']);
    expect(client.newMessages().map((m) => m.messageId)).toEqual(['m1', 'm2']);
    await client.stop();
  });

  it('restores NEW and handled exactly on reload from the same store', async () => {
    const fake = fakeAgentApi();
    const storage = new MemoryStorage();
    const scope = { agentId: 'agent-1', clientId: DEVICE };
    fake.put(DEVICE, created('m1', { createdAt: '2026-01-01T00:00:01Z' }));
    fake.put(DEVICE, created('m2', { createdAt: '2026-01-01T00:00:02Z' }));
    fake.put(DEVICE, handled('m2', 'agent-7'));
    const before = clientOn(fake, storage.open(scope));
    await before.drainInbox();
    await before.stop();

    const after = clientOn(fake, storage.open(scope));
    errorsOf(after);
    after.start();
    await after.ready();
    expect(canonicalState(after.state)).toBe(canonicalState(before.state));
    expect(after.newMessages().map((m) => m.messageId)).toEqual(['m1']);
    expect(after.getMessage('m2')).toMatchObject({ isNew: false, handledBy: 'agent-7' });
    await after.stop();
  });

  it('stops on a 403 from the inbox with one NotAuthorizedError: no retry loop', async () => {
    const fake = fakeAgentApi();
    fake.refuse.readInbox = { status: 403, error: 'AgentNotActive' };
    const client = clientOn(fake, new MemoryStorage().open({ agentId: 'agent-1', clientId: DEVICE }));
    const errors = errorsOf(client);
    await client.drainInbox();
    await sleep(300);
    expect(fake.callsOf('readInbox')).toBe(1);
    expect(errors.filter((e) => e instanceof NotAuthorizedError).map((e) => (e as NotAuthorizedError).code)).toEqual(['AgentNotActive']);
    expect(await client.drainInbox()).toBeUndefined();
    expect(fake.callsOf('readInbox')).toBe(1);
    await client.stop();
  });
});

describe('AgentClient connection through the IoT authorizer', () => {
  let broker: LocalBroker;
  beforeEach(async () => {
    broker = await startBroker();
  });
  afterEach(async () => {
    await broker.close();
  });

  it('connects with the sign-in token and the authorizer name in the WebSocket URL query', async () => {
    const seen: string[] = [];
    broker.aedes.on('client', (c) => void seen.push((c as unknown as { req?: { url?: string } }).req?.url ?? ''));
    const fake = fakeAgentApi({ clientIds: [DEVICE] });
    const storage = new MemoryStorage();
    const device = await openAgentDevice({
      apiUrl: 'https://api.example.com',
      iotEndpoint: broker.wsUrl,
      authorizerName: 'convo-notify-agent-jwt',
      agentId: 'agent-1',
      getToken: async () => tokenExpiringAt(new Date(Date.now() + HOUR)),
      storage,
      fetch: fake.fetch,
    });
    expect(device.clientId).toBe(DEVICE);
    expect(await storage.getDevice('agent-1')).toBe(DEVICE);
    const online = new Promise<void>((resolve) => device.client.once('presence', () => resolve()));
    device.client.start();
    await online;
    const query = new URL(seen[0], 'http://x').searchParams;
    expect(query.get('x-amz-customauthorizer-name')).toBe('convo-notify-agent-jwt');
    expect(tokenExpiry(query.get('token') ?? '')).toBeInstanceOf(Date);
    await waitUntil('the connect-time drain through the API', () => fake.callsOf('readInbox') >= 1);

    // Sign-out on a shared computer: the device goes, and so does everything stored for the agent.
    await device.signOut();
    expect(fake.devices).toEqual([]);
    expect(await storage.getDevice('agent-1')).toBeUndefined();
  });

  it('reconnects with a fresh endpoint renewBeforeExpiryMs before it expires, staying online', async () => {
    const connects: string[] = [];
    broker.aedes.on('client', (c) => void connects.push(c.id));
    let asked = 0;
    const client = new AgentClient({
      clientId: DEVICE,
      agentId: 'agent-1',
      brokerUrl: async () => {
        asked += 1;
        return { url: broker.tcpUrl, expiresAt: new Date(Date.now() + 500) };
      },
      renewBeforeExpiryMs: 300,
      followUpDrainMs: 0,
    });
    const presence: AgentClientEvents['presence'][] = [];
    client.on('presence', (p) => void presence.push(p));
    client.start();
    await waitUntil('renewed twice', () => asked >= 3 && connects.length >= 3, 5000);
    expect(presence.map((p) => p.state)).toEqual(['online']);
    expect(new Set(connects)).toEqual(new Set([DEVICE]));
    await client.stop();
  });

  it('asks for a token that outlives AWS IoT’s 5-minute minimum, and refuses to connect with a shorter one', async () => {
    const fake = fakeAgentApi();
    const tokens = tokenSource(4 * 60_000);
    const client = deviceClient(
      { apiUrl: 'https://api.example.com', iotEndpoint: broker.wsUrl, authorizerName: 'a', agentId: 'agent-1', getToken: async () => '', storage: new MemoryStorage(), client: { reconnect: { initialDelayMs: 60_000, jitter: 0 } } },
      apiOf(fake, tokens),
      tokens,
      DEVICE,
    );
    const errors = errorsOf(client);
    client.start();
    await waitUntil('the connection attempt failed', () => errors.length > 0);
    expect(errors[0]).toMatchObject({ name: 'ConnectionError' });
    expect(errors[0].message).toMatch(/sign in again/);
    await client.stop();
  });
});
