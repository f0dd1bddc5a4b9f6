import { ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { isClientIdOf } from '../../contracts/agent-access';
import { MESSAGE_BODY_MAX_CHARS } from '../../local/dashboard/limits';
import { startDashboard, type Dashboard } from '../../local/dashboard/server';
import { seededClientId } from '../../local/runtime/seed';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../../local/runtime/stack';

/**
 * The dashboard in a real Chromium: the page runs the AgentCRM client's browser entry itself (the
 * dev sign-in token, the agent API, MQTT over WebSocket through the IoT custom authorizer, state in
 * IndexedDB, tabs sharing one connection) against the local stack. Alice signs in in one browser
 * context and Bob in another, as two people on two computers would.
 *
 * Chromium is Debian's (`apt-get install -y chromium`). Without it the test is skipped on a
 * developer machine, but in CI (`CI` set) it runs and fails, so a missing browser is never a silent pass.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Screenshots of every step worth looking at (git-ignored). */
const SCREENSHOTS = join(__dirname, '..', '..', 'test-output', 'screenshots');

const runnable = existsSync(CHROMIUM) || !!process.env.CI;
if (!runnable) {
  console.warn(`dashboard browser test skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
}

(runnable ? describe : describe.skip)('dashboard in Chromium', () => {
  let stack: LocalStack;
  let dashboard: Dashboard;
  let browser: Browser;
  /** Alice's browser. */
  let contextA: BrowserContext;
  /** Bob's browser. */
  let contextB: BrowserContext;
  /** Alice's page; also the one the executions tests use. */
  let page: Page;
  let pageB: Page;
  const pageErrors: string[] = [];
  const previousLogLevel = process.env.LOG_LEVEL;
  const posted: string[] = [];

  const openPage = async (context: BrowserContext): Promise<Page> => {
    const p = await context.newPage();
    p.setDefaultTimeout(20_000);
    p.on('pageerror', (err) => pageErrors.push(err.message));
    await p.goto(dashboard.url);
    await p.waitForSelector('body[data-ready="true"]');
    return p;
  };

  const screenshot = async (p: Page, name: string) => {
    await p.evaluate(() => window.scrollTo(0, 0));
    await p.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is required in CI but ${CHROMIUM} does not exist: apt-get install -y chromium`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    process.env.LOG_LEVEL = 'WARN';
    stack = await startLocalStack({ retryIntervalMs: 0 });
    dashboard = await startDashboard({ stack });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    contextA = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    contextB = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    page = await openPage(contextA);
    pageB = await openPage(contextB);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    // Messages posted by the page may still be in flight: let their executions finish first.
    await stack?.settle();
    await dashboard?.close();
    await stack?.stop();
    if (previousLogLevel === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = previousLogLevel;
  });

  /** Whether the broker holds a connection of this client id (aedes keeps them by id; its types do not say so). */
  const connected = (clientId: string) => clientId in (stack.broker.aedes as unknown as { clients: Record<string, unknown> }).clients;
  const agentOf = (name: string) => name.split('-')[0];
  const labelOf = (name: string) => name.split('-').slice(1).join('-');
  /** A device panel, by `<agent>-<label>` (e.g. `alice-laptop`); on Alice's page unless another is given. */
  const device = (name: string, p: Page = page) => p.getByTestId(`device-${name}`);
  const newMessage = (name: string, messageId: string, p: Page = page) => device(name, p).locator(`[data-testid="new-message"][data-message-id="${messageId}"]`);
  const handledMessage = (name: string, messageId: string, p: Page = page) => device(name, p).locator(`[data-testid="handled-message"][data-message-id="${messageId}"]`);
  const newIds = async (name: string, p: Page) =>
    (await device(name, p).getByTestId('new-message').evaluateAll((els) => els.map((e) => e.getAttribute('data-message-id')))).sort();
  const waitForState = (name: string, state: string, p: Page = page) => p.waitForSelector(`[data-testid="device-${name}"][data-state="${state}"]`);
  const waitForRole = (name: string, role: string, p: Page) => p.waitForSelector(`[data-testid="device-${name}"][data-role="${role}"]`);

  const signIn = async (agentId: string, p: Page) => {
    const agent = p.getByTestId(`agent-${agentId}`);
    expect(await agent.getAttribute('data-signed-in')).toBe('false');
    await agent.getByTestId('sign-in').click();
    await p.waitForSelector(`[data-testid="agent-${agentId}"][data-signed-in="true"]`);
    for (const el of await agent.locator('.device').all()) {
      await p.waitForSelector(`[data-testid="${await el.getAttribute('data-testid')}"][data-state="online"]`);
    }
    // The broker's connect events reach PRESENCE through record-presence.
    await stack.settle();
  };

  const setOnline = async (name: string, online: boolean, p: Page = page) => {
    await device(name, p).locator('.switch').click();
    await waitForState(name, online ? 'online' : 'offline', p);
    await stack.settle();
  };

  const post = async (fill: () => Promise<void>): Promise<string> => {
    await fill();
    const previous = await page.getByTestId('post-result').getAttribute('data-message-id');
    await page.getByTestId('post-submit').click();
    await page.waitForFunction(
      (prev) => {
        const id = document.querySelector('[data-testid="post-result"]')?.getAttribute('data-message-id');
        return id && id !== prev;
      },
      previous,
    );
    const messageId = (await page.getByTestId('post-result').getAttribute('data-message-id'))!;
    posted.push(messageId);
    return messageId;
  };

  const postToTeam = (teamId: string, body: string) =>
    post(async () => {
      await page.getByTestId('audience-team').check();
      await page.getByTestId('team-select').selectOption(teamId);
      await page.getByTestId('message-body').fill(body);
    });

  const postToAgent = (agentId: string, body: string) =>
    post(async () => {
      await page.getByTestId('audience-assigned').check();
      await page.getByTestId('agent-select').selectOption(agentId);
      await page.getByTestId('message-body').fill(body);
    });

  it('shows the seeded agents signed out, with their seeded devices', async () => {
    for (const agent of ['alice', 'bob', 'carol', 'dave']) {
      await expectVisible(page.getByTestId(`agent-${agent}`));
      expect(await page.getByTestId(`agent-${agent}`).getAttribute('data-signed-in')).toBe('false');
    }
    for (const name of ['alice-laptop', 'alice-phone', 'bob-laptop', 'carol-laptop', 'dave-laptop']) {
      expect(await device(name).getAttribute('data-state')).toBe('signed-out');
      expect(await device(name).getByTestId('device-state').textContent()).toBe('signed out');
    }
  });

  it('signs Alice in in one browser and Bob in another: each device connects through the authorizer as its seeded client id', async () => {
    await signIn('alice', page);
    await signIn('bob', pageB);
    for (const [name, p] of [['alice-laptop', page], ['alice-phone', page], ['bob-laptop', pageB]] as const) {
      const clientId = seededClientId(agentOf(name), labelOf(name));
      expect(await device(name, p).getAttribute('data-client-id')).toBe(clientId);
      expect(await device(name, p).getAttribute('data-role')).toBe('leader');
      expect(await device(name, p).getByTestId('device-state').textContent()).toBe('online: this tab holds the connection');
      expect(connected(clientId)).toBe(true);
    }
    // Bob is not signed in in Alice's browser, nor Alice in Bob's.
    expect(await device('bob-laptop').getAttribute('data-state')).toBe('signed-out');
    expect(await device('alice-laptop', pageB).getAttribute('data-state')).toBe('signed-out');
    expect(await page.getByTestId('agent-alice').getByTestId('agent-status').textContent()).toMatch(/^signed in as alice \(token until \d\d:\d\d:\d\d\)$/);
    await screenshot(page, '01-alice-signed-in.png');
  }, 90_000);

  it('a team message is NEW on both agents\' devices and leaves NEW on the other once one agent answers', async () => {
    const messageId = await postToTeam('support', 'My parcel never arrived');
    await newMessage('alice-laptop', messageId).waitFor();
    await newMessage('alice-phone', messageId).waitFor();
    await newMessage('bob-laptop', messageId, pageB).waitFor();
    // Carol is signed in nowhere: her device only gets it in its inbox.
    expect(await device('carol-laptop').getByTestId('new-message').count()).toBe(0);

    await newMessage('alice-laptop', messageId).getByTestId('answer').click();
    await expectText(device('alice-laptop').getByTestId('device-notice'), `${messageId}: answered by you (alice)`);
    await newMessage('bob-laptop', messageId, pageB).waitFor({ state: 'detached' });
    await newMessage('alice-laptop', messageId).waitFor({ state: 'detached' });
    await newMessage('alice-phone', messageId).waitFor({ state: 'detached' });
    expect(await handledMessage('bob-laptop', messageId, pageB).getAttribute('data-handled-by')).toBe('alice');
  }, 90_000);

  it('a device that was offline loses the claim ("already handled by alice") and catches up from its inbox', async () => {
    const messageId = await postToTeam('support', 'Can I change my delivery address?');
    await newMessage('bob-laptop', messageId, pageB).waitFor();
    await setOnline('bob-laptop', false, pageB);
    expect(await device('bob-laptop', pageB).getByTestId('device-state').textContent()).toBe('offline (switched off in this tab)');

    await newMessage('alice-laptop', messageId).getByTestId('answer').click();
    await newMessage('alice-laptop', messageId).waitFor({ state: 'detached' });
    await stack.settle();

    // Offline, bob still sees what he knew; claiming it tells him who was first.
    await newMessage('bob-laptop', messageId, pageB).getByTestId('answer').click();
    await expectText(device('bob-laptop', pageB).getByTestId('device-notice'), `${messageId}: already handled by alice`);

    await setOnline('bob-laptop', true, pageB);
    await newMessage('bob-laptop', messageId, pageB).waitFor({ state: 'detached' });
  }, 90_000);

  it('a reload keeps every NEW message (the state is in IndexedDB, the inbox copy was acked), and the reloaded page sees it handled elsewhere', async () => {
    // Several unhandled messages, as in the measurement (5 NEW before a reload, 1 after).
    const others: string[] = [];
    for (const n of [1, 2, 3, 4]) others.push(await postToTeam('support', `Unanswered question ${n}`));
    const messageId = await postToTeam('support', 'Still there after a reload?');
    for (const id of [...others, messageId]) await newMessage('alice-laptop', id).waitFor();
    await newMessage('bob-laptop', messageId, pageB).waitFor();
    await stack.settle();
    // The workflow also wrote an inbox copy of each; a reconnect drains them, and the client acks
    // each only once IndexedDB has committed it. Then nothing is left that a drain after the reload
    // could bring back: whatever is NEW after the reload comes from IndexedDB.
    await setOnline('alice-laptop', false);
    await setOnline('alice-laptop', true);
    const inbox = `${stack.config.inboxQueueNamePrefix}${seededClientId('alice', 'laptop')}.fifo`;
    await waitUntil('the inbox copies are acked', () => !stack.sqs.peek(inbox).some((m) => [...others, messageId].some((id) => m.body.includes(id))));
    const before = { ids: await newIds('alice-laptop', page), count: Number(await device('alice-laptop').getAttribute('data-new-count')) };
    expect(before.ids).toEqual(expect.arrayContaining([...others, messageId]));
    expect(before.count).toBeGreaterThanOrEqual(5);
    await screenshot(page, '02-before-reload.png');

    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await newMessage('alice-laptop', messageId).waitFor();
    await waitForState('alice-laptop', 'online');
    await waitForState('alice-phone', 'online');
    const after = { ids: await newIds('alice-laptop', page), count: Number(await device('alice-laptop').getAttribute('data-new-count')) };
    writeFileSync(join(SCREENSHOTS, 'reload-new-counts.json'), `${JSON.stringify({ before: before.count, after: after.count }, null, 2)}\n`);
    expect(after).toEqual(before);
    await screenshot(page, '03-after-reload.png');

    await newMessage('bob-laptop', messageId, pageB).getByTestId('answer').click();
    await expectText(device('bob-laptop', pageB).getByTestId('device-notice'), `${messageId}: answered by you (bob)`);
    await newMessage('alice-laptop', messageId).waitFor({ state: 'detached' });
    await handledMessage('alice-laptop', messageId).waitFor({ state: 'attached' });
    expect(await handledMessage('alice-laptop', messageId).getAttribute('data-handled-by')).toBe('bob');
    await screenshot(page, '04-handled-by-bob-after-reload.png');
  }, 120_000);

  it('a second tab of the same devices agrees with the first, and takes the connection over when the first switches off', async () => {
    const second = await openPage(contextA);
    try {
      // Signed in in the first tab: the second signs in by itself and joins as a follower.
      await waitForRole('alice-laptop', 'follower', second);
      await waitForState('alice-laptop', 'online', second);
      expect(await device('alice-laptop', second).getByTestId('device-state').textContent()).toBe('online: another tab holds the connection');
      expect(await device('alice-laptop', second).getAttribute('data-client-id')).toBe(seededClientId('alice', 'laptop'));
      expect(await newIds('alice-laptop', second)).toEqual(await newIds('alice-laptop', page));

      const messageId = await postToTeam('support', 'Seen in both tabs?');
      await newMessage('alice-laptop', messageId).waitFor();
      await newMessage('alice-laptop', messageId, second).waitFor();
      expect(await newIds('alice-phone', second)).toEqual(await newIds('alice-phone', page));
      await screenshot(second, '05-second-tab.png');

      // A follower claims through the API; the leader's push reaches both tabs.
      await newMessage('alice-phone', messageId, second).getByTestId('answer').click();
      await newMessage('alice-laptop', messageId).waitFor({ state: 'detached' });
      await newMessage('alice-laptop', messageId, second).waitFor({ state: 'detached' });
      expect(await handledMessage('alice-laptop', messageId, second).getAttribute('data-handled-by')).toBe('alice');

      // The first tab lets go: the second connects in its place, the client id never has two connections.
      await setOnline('alice-laptop', false);
      await waitForRole('alice-laptop', 'leader', second);
      await waitForState('alice-laptop', 'online', second);
      const later = await postToTeam('support', 'Only the second tab is connected');
      await newMessage('alice-laptop', later, second).waitFor();
      await screenshot(second, '06-second-tab-took-over.png');
      await setOnline('alice-laptop', true);
      await waitForRole('alice-laptop', 'follower', page);
    } finally {
      await second.close();
    }
    await waitForRole('alice-laptop', 'leader', page);
    await waitForState('alice-laptop', 'online', page);
  }, 120_000);

  it('two agents in two browser contexts stay apart: neither page ever shows the other agent\'s direct message', async () => {
    const forBob = await postToAgent('bob', 'Only for Bob');
    const forAlice = await postToAgent('alice', 'Only for Alice');
    await newMessage('bob-laptop', forBob, pageB).waitFor();
    await newMessage('alice-laptop', forAlice).waitFor();
    await stack.settle();
    expect(await page.locator(`[data-message-id="${forBob}"]`).count()).toBe(0);
    expect(await pageB.locator(`[data-message-id="${forAlice}"]`).count()).toBe(0);
    // Nor does either browser keep the other's message.
    const stored = (p: Page, messageId: string) =>
      p.evaluate(async (id) => {
        const names = (await indexedDB.databases()).map((d) => d.name!).filter((n) => n.startsWith('convo-notify-client-'));
        const found: string[] = [];
        for (const name of names) {
          const db = await new Promise<IDBDatabase>((resolve, reject) => {
            const open = indexedDB.open(name);
            open.onsuccess = () => resolve(open.result);
            open.onerror = () => reject(open.error);
          });
          const all = await new Promise<unknown[]>((resolve, reject) => {
            const r = db.transaction('entries').objectStore('entries').getAll();
            r.onsuccess = () => resolve(r.result);
            r.onerror = () => reject(r.error);
          });
          if (JSON.stringify(all).includes(id)) found.push(name);
          db.close();
        }
        return found;
      }, messageId);
    expect(await stored(page, forBob)).toEqual([]);
    expect(await stored(pageB, forAlice)).toEqual([]);
    expect(await stored(pageB, forBob)).toEqual(['convo-notify-client-bob-laptop']);
    await screenshot(page, '07-apart-alice.png');
    await screenshot(pageB, '08-apart-bob.png');
  }, 90_000);

  it('shows the execution with the path it took, state details, and replays it', async () => {
    const created = page.locator(`[data-testid="execution-item"][data-message-ids="${posted[0]}"][data-kinds="created"]:not([data-replay-of])`);
    await created.click();
    const name = await created.getAttribute('data-name');
    await page.waitForSelector(`[data-testid="execution-head"][data-name="${name}"]`);
    expect(await page.getByTestId('execution-status').textContent()).toBe('SUCCEEDED');

    const taken = async (state: string) => page.getByTestId(`state-${state}`).getAttribute('data-taken');
    for (const state of ['Valid?', 'ChooseTopic', 'UseTeamTopic', 'ResolveRecipients', 'CheckPresence', 'FanOut', 'PushToDevice', 'SendToInbox']) {
      expect({ state, taken: await taken(state) }).toEqual({ state, taken: 'true' });
    }
    for (const state of ['UseDirectTopic', 'UseSenderTopic', 'QuarantineRecord', 'SendToUnrouted', 'NextRecipientPage']) {
      expect({ state, taken: await taken(state) }).toEqual({ state, taken: 'false' });
    }
    expect(await page.locator('path.edge.taken[data-edge="ChooseTopic→UseTeamTopic"]').count()).toBe(1);
    expect(await page.locator('path.edge.taken[data-edge="ChooseTopic→UseDirectTopic"]').count()).toBe(0);

    await page.getByTestId('state-PushToDevice').click();
    await page.waitForSelector('[data-testid="state-inspector"][data-state="PushToDevice"]');
    // Three devices were online (Alice's laptop and phone, Bob's laptop): three pushes, each entered with its device.
    const entered = page.locator('[data-testid="state-inspector"] [data-testid="state-event"][data-type="StateEntered"]');
    expect(await entered.count()).toBe(3);
    await expectText(entered.first(), '"clientId"');

    // The inspector is sticky; from the top it sits beside the start of the graph.
    await screenshot(page, '09-execution.png');

    await page.getByTestId('replay').click();
    const replay = page.locator(`[data-testid="execution-item"][data-replay-of="${name}"]`);
    await replay.waitFor();
    const replayName = await replay.getAttribute('data-name');
    await page.waitForSelector(`[data-testid="execution-head"][data-name="${replayName}"]`);
    expect(await page.getByTestId('execution-status').textContent()).toBe('SUCCEEDED');
    expect(await taken('UseTeamTopic')).toBe('true');
  }, 90_000);

  it('follows new executions after Replay; clicking one pins it until unpinned', async () => {
    const pin = page.getByTestId('pin-toggle');
    expect(await pin.getAttribute('data-pinned')).toBe('false');
    const executionOf = (messageId: string) => page.locator(`[data-testid="execution-item"][data-message-ids="${messageId}"][data-kinds="created"]:not([data-replay-of])`);
    const shown = (name: string | null) => page.waitForSelector(`[data-testid="execution-head"][data-name="${name}"]`);

    const followed = await postToTeam('sales', 'Followed after the replay');
    await shown(await executionOf(followed).getAttribute('data-name'));

    const pinnedName = await executionOf(posted[0]).getAttribute('data-name');
    await executionOf(posted[0]).click();
    await shown(pinnedName);
    expect(await pin.getAttribute('data-pinned')).toBe('true');
    const later = await postToTeam('sales', 'Posted while pinned');
    await executionOf(later).waitFor();
    await stack.settle();
    expect(await page.getByTestId('execution-head').getAttribute('data-name')).toBe(pinnedName);

    await pin.click();
    expect(await pin.getAttribute('data-pinned')).toBe('false');
    await shown(await executionOf(later).getAttribute('data-name'));
  }, 90_000);

  it('limits the message to the server\'s length and says when nobody will be notified', async () => {
    expect(await page.getByTestId('message-body').getAttribute('maxlength')).toBe(String(MESSAGE_BODY_MAX_CHARS));
    // The form only offers seeded teams; a team that lost its members is what this stands for.
    await page.getByTestId('team-select').evaluate((select) => select.append(new Option('ghosts', 'ghosts')));
    await postToTeam('ghosts', 'Is anybody there?');
    await expectText(page.getByTestId('post-warning'), 'no active device for team "ghosts": nobody will be notified');
  }, 90_000);

  it('raises an OS notification tagged with the message for a NEW message once opted in, and replaces it with "Handled by …" when it is answered', async () => {
    // Carol's own browser, whose Notification records what the page raises (headless Chromium shows none).
    const contextC = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    await contextC.addInitScript(() => {
      const raised: { title: string; tag?: string; body?: string; closed: boolean }[] = [];
      class RecordingNotification {
        static permission: NotificationPermission = 'default';
        static requestPermission = async (): Promise<NotificationPermission> => (RecordingNotification.permission = 'granted');
        private readonly record: (typeof raised)[number];
        constructor(title: string, options: NotificationOptions = {}) {
          this.record = { title, tag: options.tag, body: options.body, closed: false };
          raised.push(this.record);
        }
        close() {
          this.record.closed = true;
        }
      }
      Object.assign(window, { Notification: RecordingNotification, raisedNotifications: raised });
    });
    try {
      const pageC = await openPage(contextC);
      await signIn('carol', pageC);
      await pageC.getByTestId('os-notifications').check();
      await pageC.waitForFunction(() => (window as unknown as { Notification: { permission: string } }).Notification.permission === 'granted');
      const raised = () => pageC.evaluate(() => (window as unknown as { raisedNotifications: unknown[] }).raisedNotifications);

      const messageId = await postToTeam('sales', 'Do you ship to Norway?');
      await newMessage('carol-laptop', messageId, pageC).waitFor();
      const conversationId = await newMessage('carol-laptop', messageId, pageC).getAttribute('data-conversation-id');
      const tag = `convo-notify:${conversationId} ${messageId}`;
      expect(await raised()).toEqual([{ title: 'New message from customer-vip', tag, body: 'Do you ship to Norway?', closed: false }]);

      await newMessage('carol-laptop', messageId, pageC).getByTestId('answer').click();
      await newMessage('carol-laptop', messageId, pageC).waitFor({ state: 'detached' });
      await pageC.waitForFunction((n) => (window as unknown as { raisedNotifications: unknown[] }).raisedNotifications.length === n, 2);
      expect(await raised()).toEqual([
        { title: 'New message from customer-vip', tag, body: 'Do you ship to Norway?', closed: true },
        { title: 'Handled by carol', tag, body: 'Do you ship to Norway?', closed: false },
      ]);
      await screenshot(pageC, '10-carol-os-notifications.png');
    } finally {
      await contextC.close();
    }
  }, 90_000);

  it('signing out unregisters the devices and wipes their state in this browser; signing in again registers a new device through the agent API', async () => {
    const seeded = seededClientId('bob', 'laptop');
    await pageB.getByTestId('agent-bob').getByTestId('sign-in').click();
    await waitForState('bob-laptop', 'signed-out', pageB);
    expect(await pageB.getByTestId('agent-bob').getAttribute('data-signed-in')).toBe('false');
    await stack.settle();
    expect(connected(seeded)).toBe(false);

    // Signed out stays signed out across a reload, with nothing of Bob's left in the browser.
    await pageB.reload();
    await pageB.waitForSelector('body[data-ready="true"]');
    expect(await device('bob-laptop', pageB).getAttribute('data-state')).toBe('signed-out');
    const entries = await pageB.evaluate(
      () =>
        new Promise<number>((resolve, reject) => {
          const open = indexedDB.open('convo-notify-client-bob-laptop');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const r = open.result.transaction('entries').objectStore('entries').count();
            r.onsuccess = () => resolve(r.result);
            r.onerror = () => reject(r.error);
          };
        }),
    );
    expect(entries).toBe(0);
    await screenshot(pageB, '11-bob-signed-out.png');

    await signIn('bob', pageB);
    const registered = (await device('bob-laptop', pageB).getAttribute('data-client-id'))!;
    expect(registered).not.toBe(seeded);
    expect(isClientIdOf(registered, 'bob')).toBe(true);
    expect(await device('bob-laptop', pageB).getByTestId('handled-message').count()).toBe(0);
    // The new device is a recipient: a direct message reaches it.
    const messageId = await postToAgent('bob', 'Welcome back, Bob');
    await newMessage('bob-laptop', messageId, pageB).waitFor();
  }, 90_000);

  it('signs the panel out, saying why, when the agent API refuses the agent (403 AgentNotActive): no retry loop', async () => {
    const contextD = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const rds = new RDSDataClient({ endpoint: stack.endpoints.dataApi, region: stack.config.region, credentials: LOCAL_CREDENTIALS });
    const setActive = (active: boolean) =>
      rds.send(
        new ExecuteStatementCommand({
          resourceArn: process.env.DB_CLUSTER_ARN!,
          secretArn: process.env.DB_SECRET_ARN!,
          database: process.env.DB_NAME,
          sql: 'UPDATE agents SET active = :active WHERE agent_id = :agent',
          parameters: [
            { name: 'active', value: { booleanValue: active } },
            { name: 'agent', value: { stringValue: 'dave' } },
          ],
        }),
      );
    try {
      const pageD = await openPage(contextD);
      await signIn('dave', pageD);
      // Off first: a stopped device makes no call (its follow-up drain 5 s after connect included),
      // so the refusal comes from the call that opening it again makes first.
      await setOnline('dave-laptop', false, pageD);
      await setActive(false);
      await device('dave-laptop', pageD).locator('.switch').click();
      await waitForState('dave-laptop', 'signed-out', pageD);
      expect(await pageD.getByTestId('agent-dave').getAttribute('data-signed-in')).toBe('false');
      await expectText(pageD.getByTestId('agent-dave').getByTestId('agent-status'), 'signed out: GET /devices: 403 AgentNotActive');
      await screenshot(pageD, '12-dave-not-authorized.png');
      // Signed out, not retrying: no further calls reach the broker as dave's device.
      await stack.settle();
      expect(connected(seededClientId('dave', 'laptop'))).toBe(false);
    } finally {
      await setActive(true);
      rds.destroy();
      await contextD.close();
    }
  }, 90_000);

  it('raised no errors in the pages', () => {
    expect(pageErrors).toEqual([]);
  });

  // Last: it stops the dashboard server under the page.
  it('says in words that the page lost its connection to the local runtime', async () => {
    expect(await page.getByTestId('connection-status').isHidden()).toBe(true);
    const closing = dashboard;
    dashboard = undefined as unknown as Dashboard;
    await closing.close();
    await expectText(page.getByTestId('connection-status'), 'disconnected from the local runtime — retrying…');
    expect(await page.getByTestId('connection-status').isVisible()).toBe(true);
  }, 30_000);
});

const waitUntil = async (what: string, ok: () => boolean, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

const expectVisible = async (locator: ReturnType<Page['getByTestId']>) => {
  await locator.waitFor({ state: 'visible' });
};

/** Waits until the element's text contains `text` (Playwright's own expect is not part of playwright-core). */
const expectText = async (locator: ReturnType<Page['getByTestId']>, text: string) => {
  await locator.waitFor();
  const deadline = Date.now() + 20_000;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.textContent()) ?? '';
    if (last.includes(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected text containing ${JSON.stringify(text)}, last saw ${JSON.stringify(last)}`);
};
