import type { LockManagerLike } from '../../client/tabs';
import { SharedAgentDevice, type SharedAgentDeviceOptions, type TabRole } from '../../client/tabs';
import { MemoryStorage } from '../../client/store';
import { startBroker, type LocalBroker } from '../../local/emulators/broker';
import { fakeAgentApi, tokenExpiringAt, type FakeAgentApi } from './fake-agent-api';
import { waitUntil } from './harness';
import { created, handled } from './notifications';

/**
 * Tabs of one browser (one origin: one storage, one lock manager, BroadcastChannels of one
 * process) share one device connection and one state per (agent, device); another agent's tabs
 * stay apart. Node has BroadcastChannel but no Web Locks: `FakeLocks` grants each name to one
 * holder at a time, in request order, like `navigator.locks` with `mode: 'exclusive'`.
 */
class FakeLocks implements LockManagerLike {
  private readonly held = new Set<string>();
  private readonly waiting = new Map<string, (() => void)[]>();

  async request<T>(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<T>): Promise<T> {
    while (this.held.has(name)) {
      await new Promise<void>((resolve, reject) => {
        const queue = this.waiting.get(name) ?? [];
        queue.push(resolve);
        this.waiting.set(name, queue);
        options.signal?.addEventListener('abort', () => {
          this.waiting.set(name, (this.waiting.get(name) ?? []).filter((w) => w !== resolve));
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
        });
      });
    }
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
      this.waiting.get(name)?.shift()?.();
    }
  }
}

const ALICE_DEVICE = '0123456789abcdef-00000000000000a1';
const BOB_DEVICE = '0123456789abcdef-00000000000000b1';

describe('SharedAgentDevice (tabs)', () => {
  let broker: LocalBroker;
  let api: FakeAgentApi;
  let connects: string[];
  const tabs: SharedAgentDevice[] = [];
  let storage: MemoryStorage;
  let locks: FakeLocks;

  beforeEach(async () => {
    storage = new MemoryStorage();
    locks = new FakeLocks();
    broker = await startBroker();
    connects = [];
    broker.aedes.on('client', (c) => void connects.push(c.id));
    api = fakeAgentApi({ clientIds: [ALICE_DEVICE, BOB_DEVICE] });
  });
  afterEach(async () => {
    await Promise.all(tabs.splice(0).map((t) => t.close()));
    await broker.close();
  });

  const openTab = async (agentId: string, tabStorage: MemoryStorage = storage): Promise<SharedAgentDevice> => {
    const options: SharedAgentDeviceOptions = {
      apiUrl: 'https://api.example.com',
      iotEndpoint: broker.wsUrl,
      authorizerName: 'convo-notify-agent-jwt',
      agentId,
      getToken: async () => tokenExpiringAt(new Date(Date.now() + 3600_000), agentId),
      storage: tabStorage,
      fetch: api.fetch,
      locks,
      client: { followUpDrainMs: 0, reconnect: { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 } },
    };
    const tab = await SharedAgentDevice.open(options);
    tabs.push(tab);
    return tab;
  };
  const push = (clientId: string, n: object) => broker.publish(`notify/${clientId}`, Buffer.from(JSON.stringify(n)), 1);
  const roles = (tab: SharedAgentDevice) => {
    const seen: TabRole[] = [];
    tab.on('role', (r) => void seen.push(r));
    return seen;
  };

  it('registers one device for two tabs, connects it once, and both tabs agree on NEW and handled', async () => {
    const [first, second] = await Promise.all([openTab('alice'), openTab('alice')]);
    expect(api.callsOf('registerDevice')).toBe(1);
    expect(first.clientId).toBe(ALICE_DEVICE);
    expect(second.clientId).toBe(ALICE_DEVICE);
    await waitUntil('one tab connected', () => connects.length === 1 && [first.role, second.role].sort().join() === 'follower,leader');
    const leader = first.role === 'leader' ? first : second;
    const follower = leader === first ? second : first;
    await waitUntil('the leader subscribed', () => broker.aedes.connectedClients === 1 && api.callsOf('readInbox') >= 1);
    await new Promise((r) => setTimeout(r, 100));

    await push(ALICE_DEVICE, created('m1'));
    await waitUntil('NEW in both tabs', () => leader.isNew('m1') && follower.isNew('m1'));
    await push(ALICE_DEVICE, handled('m1', 'carol'));
    await waitUntil('handled in both tabs', () => !leader.isNew('m1') && !follower.isNew('m1'));
    expect(follower.getMessage('m1')).toMatchObject({ handledBy: 'carol' });
    expect(connects).toEqual([ALICE_DEVICE]);
  });

  it('hands the connection to the remaining tab when the leader closes, and a reloaded tab shows the same state', async () => {
    const first = await openTab('alice');
    await waitUntil('first leads', () => first.role === 'leader' && connects.length === 1);
    const second = await openTab('alice');
    const secondRoles = roles(second);
    await new Promise((r) => setTimeout(r, 100));
    await push(ALICE_DEVICE, created('m2'));
    await waitUntil('NEW in both', () => first.isNew('m2') && second.isNew('m2'));

    await first.close();
    await waitUntil('second leads and reconnected', () => second.role === 'leader' && connects.length === 2);
    expect(secondRoles).toEqual(['leader']);
    await new Promise((r) => setTimeout(r, 100));
    await push(ALICE_DEVICE, created('m3'));
    await waitUntil('second sees m3', () => second.isNew('m3'));

    const reloaded = await openTab('alice');
    expect(reloaded.role).toBe('follower');
    expect(reloaded.newMessages().map((m) => m.messageId).sort()).toEqual(['m2', 'm3']);
  });

  it('keeps two agents signed in on one browser apart: own device, own connection, own state', async () => {
    const alice = await openTab('alice');
    const bob = await openTab('bob');
    expect([alice.clientId, bob.clientId]).toEqual([ALICE_DEVICE, BOB_DEVICE]);
    await waitUntil('both lead their own device', () => alice.role === 'leader' && bob.role === 'leader' && connects.length === 2);
    await new Promise((r) => setTimeout(r, 100));
    await push(BOB_DEVICE, created('for-bob'));
    await waitUntil('bob sees it', () => bob.isNew('for-bob'));
    await new Promise((r) => setTimeout(r, 100));
    expect(alice.isNew('for-bob')).toBe(false);
    expect(new Set(connects)).toEqual(new Set([ALICE_DEVICE, BOB_DEVICE]));
  });

  it("tells a tab that joins a connected device the leader's presence and state at once, without waiting for a change", async () => {
    const first = await openTab('alice');
    await waitUntil('first online', () => first.presence?.state === 'online');
    await push(ALICE_DEVICE, created('m4'));
    await waitUntil('first sees m4', () => first.isNew('m4'));

    // Its own storage does not hold m4 (one that lags behind the leader's): m4 can only come from the leader.
    const lagging = new MemoryStorage();
    await lagging.setDevice('alice', ALICE_DEVICE);
    const second = await openTab('alice', lagging);
    await waitUntil('second knows the leader is online', () => second.presence?.state === 'online');
    await waitUntil('second shows m4', () => second.isNew('m4'));
    expect(second.role).toBe('follower');
    expect(second.presence).toEqual(first.presence);
    expect(connects).toEqual([ALICE_DEVICE]);
  });

  it('signs out from a closed device: every open tab of it closes and empties, the device is unregistered and its state wiped', async () => {
    const first = await openTab('alice');
    await waitUntil('first leads', () => first.role === 'leader' && connects.length === 1);
    const second = await openTab('alice');
    const third = await openTab('alice');
    await new Promise((r) => setTimeout(r, 100));
    await push(ALICE_DEVICE, created('m5'));
    await waitUntil('NEW in every tab', () => [first, second, third].every((t) => t.isNew('m5')));
    const signedOut: string[] = [];
    second.on('signedOut', () => void signedOut.push('second'));
    third.on('signedOut', () => void signedOut.push('third'));

    // The first tab switched the device off, so its channel is closed, and then signs out.
    await first.close();
    await waitUntil('another tab took the connection over', () => [second.role, third.role].includes('leader') && connects.length === 2);
    await first.signOut();

    await waitUntil('both other tabs signed out', () => signedOut.length === 2);
    expect(signedOut.sort()).toEqual(['second', 'third']);
    expect([first, second, third].map((t) => t.newMessages().length)).toEqual([0, 0, 0]);
    await waitUntil('no connection left', () => broker.aedes.connectedClients === 0);
    expect(api.callsOf('unregisterDevice')).toBe(1);
    expect(api.devices).toEqual([]);
    expect(await storage.getDevice('alice')).toBeUndefined();
    expect(await storage.open({ agentId: 'alice', clientId: ALICE_DEVICE }).load(Date.now())).toEqual([]);
  });
});
