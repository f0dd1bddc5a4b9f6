import {
  allMessages,
  attachOsNotifications,
  emptyState,
  IndexedDbStorage,
  newMessages,
  requestOsNotifications,
  SharedAgentDevice,
  type InboxState,
  type MessageView,
  type PresenceEvent,
  type TabRole,
} from '../../client/browser';
import { h, replaceChildren, time } from './dom';
import { DevSignIn } from './sign-in';
import type { DashboardAgent, DashboardConfig, DashboardDevice } from './types';

/**
 * One panel per seeded agent, one device panel per seeded device. Signing an agent in (the dev
 * sign-in of the local token issuer) opens each of its devices with the AgentCRM client's browser
 * entry, exactly as a deployed page would: the agent API (device, inbox drain and ack, claims) with
 * the sign-in token, MQTT over WebSocket through the IoT custom authorizer, the state in IndexedDB
 * (one database per simulated device), and tabs sharing one connection per device.
 *
 * The page adopts the seed's client id of a device on its first sign-in in a browser (the storage
 * has no device yet), so what the page shows is what the recipients database and the executions
 * show. Sign-out unregisters the device and wipes its state; the next sign-in registers a new device
 * with the same label through the API (docs/local.md, "The dashboard's agents and devices").
 */

type DeviceStatus = 'signed-out' | 'signing-in' | 'signing-out' | 'connecting' | 'online' | 'offline';

const HANDLED_SHOWN = 5;

const newest = (a: MessageView, b: MessageView) => Date.parse(b.createdAt) - Date.parse(a.createdAt);

/** Survives a reload, as an identity provider's session would: a signed-in agent is signed in again on load. */
const signedInKey = (agentId: string) => `convo-notify-dashboard:signed-in:${agentId}`;

/** What an agent panel gives its devices. */
interface DeviceHost {
  readonly config: DashboardConfig;
  readonly agent: DashboardAgent;
  readonly signIn: DevSignIn;
  /** The API or the broker refused the agent: sign in again. */
  notAuthorized(reason: string): void;
  /** Another tab signed the agent out. */
  signedOutElsewhere(): void;
  readonly osNotifications: boolean;
}

export class DevicePanel {
  readonly element: HTMLElement;
  private device?: SharedAgentDevice;
  /** The last device opened: an offline device's stale NEW can still be claimed (and lose). */
  private claimer?: SharedAgentDevice;
  private state: InboxState = emptyState;
  private status: DeviceStatus = 'signed-out';
  private role?: TabRole;
  private presence?: PresenceEvent;
  private clientId?: string;
  private generation = 0;
  private detach: (() => void)[] = [];
  private stopOs?: () => void;
  private readonly storage: IndexedDbStorage;
  private readonly toggle: HTMLInputElement;
  private readonly stateLabel: HTMLElement;
  private readonly idLabel: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly newList: HTMLElement;
  private readonly handledList: HTMLElement;
  private readonly handledCount: HTMLElement;
  private readonly answering = new Set<string>();

  constructor(
    private readonly host: DeviceHost,
    readonly seeded: DashboardDevice,
  ) {
    const name = `${host.agent.agentId}-${seeded.label}`;
    this.storage = new IndexedDbStorage({ databaseName: `convo-notify-client-${name}` });
    this.toggle = h('input', { type: 'checkbox', 'data-testid': 'device-toggle', 'aria-label': `${name} online`, onchange: () => this.onToggle() });
    this.stateLabel = h('span', { class: 'device-state', 'data-testid': 'device-state' });
    this.idLabel = h('div', { class: 'device-id', 'data-testid': 'device-client-id' });
    this.notice = h('div', { class: 'device-notice', 'data-testid': 'device-notice', role: 'status' });
    this.newList = h('ul', { class: 'messages', 'data-testid': 'new-messages' });
    this.handledCount = h('span', {});
    this.handledList = h('ul', { class: 'messages handled', 'data-testid': 'handled-messages' });
    this.element = h(
      'div',
      { class: 'device', 'data-testid': `device-${name}`, 'data-label': seeded.label },
      h(
        'div',
        { class: 'device-head' },
        h('span', { class: 'device-name' }, seeded.label),
        h('label', { class: 'switch' }, this.toggle, h('span', { class: 'slider' }), h('span', { class: 'visually-hidden' }, 'online')),
      ),
      this.stateLabel,
      this.idLabel,
      this.notice,
      this.newList,
      h('details', { class: 'handled-box' }, h('summary', {}, 'Handled ', this.handledCount), this.handledList),
    );
    this.setStatus('signed-out');
    this.render();
  }

  /** Opens the device (sign-in, or switched online): registers or finds it, loads its state, joins the tabs. */
  async open(): Promise<void> {
    if (this.device) return;
    const generation = ++this.generation;
    this.setStatus(this.clientId ? 'connecting' : 'signing-in');
    this.say('');
    const { agent, config, signIn } = this.host;
    try {
      // First sign-in in this browser: be the seed's device rather than register another one.
      if ((await this.storage.getDevice(agent.agentId)) === undefined) await this.storage.setDevice(agent.agentId, this.seeded.clientId);
      const device = await SharedAgentDevice.open({
        apiUrl: config.apiUrl,
        iotEndpoint: config.iotEndpoint,
        authorizerName: config.authorizerName,
        agentId: agent.agentId,
        getToken: signIn.getToken,
        storage: this.storage,
        label: this.seeded.label,
        client: { reconnect: { initialDelayMs: 500, maxDelayMs: 5000 } },
      });
      if (generation !== this.generation) {
        // Switched off or signed out while opening.
        await device.close();
        return;
      }
      this.attach(device);
    } catch (err) {
      if (generation !== this.generation) return;
      this.setStatus('offline');
      if ((err as Error).name === 'NotAuthorizedError') return this.host.notAuthorized((err as Error).message);
      this.say(`could not open the device: ${(err as Error).message}`, 'error');
    }
  }

  private attach(device: SharedAgentDevice): void {
    this.device = device;
    this.claimer = device;
    this.clientId = device.clientId;
    this.element.dataset.clientId = device.clientId;
    this.state = device.state;
    this.role = device.role;
    // A tab that joins a connected device knows the leader's presence from the client at once.
    this.presence = device.presence;
    this.detach = [
      device.on('change', (s) => {
        this.state = s;
        this.render();
      }),
      device.on('presence', (p) => this.onPresence(p)),
      device.on('role', (r) => {
        this.role = r;
        // A new leader's own connection is yet to come: the client forgot the old leader's.
        this.presence = device.presence;
        this.updateStatus();
      }),
      device.on('error', (err) => {
        console.warn(`[${this.host.agent.agentId}/${this.seeded.label}]`, err);
        if (err.name === 'NotAuthorizedError') this.host.notAuthorized(err.message);
        else this.say(`${err.name}: ${err.message}`, 'error');
      }),
      device.on('signedOut', () => this.host.signedOutElsewhere()),
      () => this.showOsNotifications(false),
    ];
    this.showOsNotifications(this.host.osNotifications);
    this.updateStatus();
    this.render();
  }

  /** OS notifications of this device's messages (tagged per message, so several tabs and devices raise one). */
  showOsNotifications(on: boolean): void {
    if (on && this.device && !this.stopOs) this.stopOs = attachOsNotifications(this.device, { showHandled: true });
    if (!on) {
      this.stopOs?.();
      this.stopOs = undefined;
    }
  }

  private onPresence(p: PresenceEvent): void {
    this.presence = p;
    if (p.state === 'online') this.say('');
    else if (p.reason === 'connection lost') this.say('connection lost; reconnecting', 'error');
    this.updateStatus();
  }

  private updateStatus(): void {
    if (!this.device) return;
    this.setStatus(this.presence?.state === 'online' ? 'online' : 'connecting');
  }

  private setStatus(status: DeviceStatus): void {
    this.status = status;
    this.element.dataset.state = status;
    this.element.dataset.role = this.device ? (this.role ?? 'follower') : '';
    this.toggle.checked = status !== 'offline' && status !== 'signed-out' && status !== 'signing-out';
    this.toggle.disabled = status === 'signed-out' || status === 'signing-out';
    this.stateLabel.textContent = this.words();
    this.idLabel.textContent = this.clientId && status !== 'signed-out' ? `client id ${this.clientId}` : '';
  }

  /** Presence in words: a colour says nothing to someone who does not know what it means here. */
  private words(): string {
    const here = this.role === 'leader' ? 'this tab holds the connection' : 'another tab holds the connection';
    switch (this.status) {
      case 'signed-out':
        return 'signed out';
      case 'signing-in':
        return 'signing in…';
      case 'signing-out':
        return 'signing out: unregistering the device, wiping its state…';
      case 'offline':
        return 'offline (switched off in this tab)';
      case 'online':
        return `online: ${here}`;
      case 'connecting':
        if (this.role !== 'leader') return here;
        return this.presence?.reason === 'connection lost' ? 'connection lost: reconnecting…' : 'connecting through the authorizer…';
    }
  }

  private say(text: string, kind: 'info' | 'error' = 'info'): void {
    this.notice.textContent = text;
    this.notice.dataset.kind = kind;
  }

  private onToggle(): void {
    if (this.toggle.checked) void this.open();
    else void this.close();
  }

  /** Switched offline: this tab leaves; another tab of the device takes the connection over, if any. */
  async close(): Promise<void> {
    this.generation += 1;
    const device = this.takeDevice();
    this.setStatus('offline');
    await device?.close();
    this.render();
  }

  /** Signed out because the agent is not authorized any more: closes without unregistering. */
  async drop(reason: string): Promise<void> {
    this.generation += 1;
    const device = this.takeDevice();
    this.claimer = undefined;
    this.state = emptyState;
    this.setStatus('signed-out');
    this.say(reason, 'error');
    this.render();
    await device?.close();
  }

  /** Sign-out: unregisters the device and wipes its state (in every tab). */
  async signOut(): Promise<void> {
    this.generation += 1;
    const device = this.takeDevice() ?? this.claimer;
    this.claimer = undefined;
    this.state = emptyState;
    this.setStatus('signing-out');
    this.say('');
    this.render();
    try {
      if (device) await device.signOut();
      else await this.storage.wipe(this.host.agent.agentId);
    } catch (err) {
      // The state is wiped even when the API could not unregister the device (SharedAgentDevice.signOut's finally).
      this.say(`signed out; unregistering the device failed: ${(err as Error).message}`, 'error');
    }
    // Only now: what the page says must be true, and a reload before the wipe committed would keep the state.
    this.clientId = undefined;
    delete this.element.dataset.clientId;
    this.setStatus('signed-out');
  }

  /**
   * Another tab signed the agent out. The client closed the device that heard it; another device of
   * the agent may still be open here (its own message still on the way, or its panel there never opened).
   */
  signedOut(): void {
    this.generation += 1;
    void this.takeDevice()?.close();
    this.claimer = undefined;
    this.state = emptyState;
    this.clientId = undefined;
    delete this.element.dataset.clientId;
    this.setStatus('signed-out');
    this.render();
  }

  private takeDevice(): SharedAgentDevice | undefined {
    const device = this.device;
    this.device = undefined;
    for (const off of this.detach) off();
    this.detach = [];
    this.presence = undefined;
    return device;
  }

  private async answer(message: MessageView, button: HTMLButtonElement): Promise<void> {
    // A claim is an API call: even an offline device's stale view can try (and lose).
    const device = this.device ?? this.claimer;
    if (!device) return;
    this.answering.add(message.key);
    button.disabled = true;
    button.textContent = 'Answering…';
    try {
      const result = await device.claim({ conversationId: message.conversationId, messageId: message.messageId });
      this.say(result.won ? `${message.messageId}: answered by you (${result.handledBy})` : `${message.messageId}: already handled by ${result.handledBy}`, result.won ? 'info' : 'error');
    } catch (err) {
      if ((err as Error).name === 'NotAuthorizedError') this.host.notAuthorized((err as Error).message);
      else this.say(`${message.messageId}: ${(err as Error).message}`, 'error');
    } finally {
      this.answering.delete(message.key);
      this.render();
    }
  }

  private render(): void {
    const fresh = newMessages(this.state).sort(newest);
    const signedOut = this.status === 'signed-out';
    replaceChildren(
      this.newList,
      ...(fresh.length === 0
        ? [h('li', { class: 'empty' }, signedOut ? 'Sign in to see this device' : 'No new messages')]
        : fresh.map((m) => {
            const busy = this.answering.has(m.key);
            const button = h('button', { type: 'button', class: 'answer', 'data-testid': 'answer', disabled: busy }, busy ? 'Answering…' : 'Answer');
            button.addEventListener('click', () => void this.answer(m, button));
            return h(
              'li',
              { class: 'message', 'data-testid': 'new-message', 'data-message-id': m.messageId, 'data-conversation-id': m.conversationId },
              h('div', { class: 'message-main' }, h('span', { class: 'badge new' }, 'NEW'), h('span', { class: 'preview' }, m.preview)),
              h('div', { class: 'message-meta' }, `${m.senderId} · ${m.topic} · ${time(m.createdAt)} · ${m.messageId}`),
              button,
            );
          })),
    );
    const handled = allMessages(this.state)
      .filter((m) => !m.isNew)
      .sort(newest);
    this.handledCount.textContent = `(${handled.length})`;
    replaceChildren(
      this.handledList,
      ...handled.slice(0, HANDLED_SHOWN).map((m) =>
        h(
          'li',
          { class: 'message', 'data-testid': 'handled-message', 'data-message-id': m.messageId, 'data-handled-by': m.handledBy ?? '' },
          h('div', { class: 'message-main' }, h('span', { class: 'preview' }, m.preview)),
          h('div', { class: 'message-meta' }, `handled by ${m.handledBy ?? '?'}${m.handledAt ? ` at ${time(m.handledAt)}` : ''}`),
        ),
      ),
    );
    this.element.dataset.newCount = String(fresh.length);
  }

  /** The page goes away: leave the other tabs (a leader hands the connection over). */
  async leave(): Promise<void> {
    this.generation += 1;
    await this.takeDevice()?.close();
  }
}

/** An agent: the dev sign-in, its devices, sign-out. */
export class AgentPanel implements DeviceHost {
  readonly element: HTMLElement;
  readonly signIn: DevSignIn;
  readonly devices: DevicePanel[];
  private signedIn = false;
  private readonly button: HTMLButtonElement;
  private readonly status: HTMLElement;

  constructor(
    readonly config: DashboardConfig,
    readonly agent: DashboardAgent,
    private readonly options: { osNotifications: () => boolean },
  ) {
    this.signIn = new DevSignIn({ tokenUrl: config.tokenUrl, agentId: agent.agentId });
    this.devices = agent.devices.map((d) => new DevicePanel(this, d));
    this.button = h('button', { type: 'button', class: 'sign-in', 'data-testid': 'sign-in', onclick: () => void (this.signedIn ? this.signOut() : this.start()) });
    this.status = h('div', { class: 'agent-status', 'data-testid': 'agent-status', role: 'status' });
    this.signIn.onToken((t) => {
      if (this.signedIn) this.status.textContent = `signed in as ${agent.agentId} (token until ${time(t.expiresAt.getTime())})`;
    });
    const facts = [agent.teams.length ? `teams: ${agent.teams.join(', ')}` : '', agent.follows.length ? `follows: ${agent.follows.join(', ')}` : ''].filter(Boolean);
    this.element = h(
      'article',
      { class: 'agent', 'data-testid': `agent-${agent.agentId}` },
      h('header', {}, h('h3', {}, agent.name), h('span', { class: 'agent-id' }, agent.agentId), this.button, h('div', { class: 'agent-facts' }, facts.join(' · '))),
      this.status,
      ...this.devices.map((d) => d.element),
    );
    this.show();
  }

  get osNotifications(): boolean {
    return this.options.osNotifications();
  }

  /** Signs the agent in (dev sign-in) and opens every device. */
  async start(): Promise<void> {
    if (this.signedIn) return;
    this.signedIn = true;
    localStorage.setItem(signedInKey(this.agent.agentId), '1');
    this.show('signing in…');
    try {
      await this.signIn.getToken();
    } catch (err) {
      return this.notAuthorized((err as Error).message);
    }
    await Promise.all(this.devices.map((d) => d.open()));
  }

  /** Sign-out on a shared computer: every device unregistered, its state wiped, in every tab. */
  async signOut(): Promise<void> {
    if (!this.signedIn) return;
    this.signedIn = false;
    localStorage.removeItem(signedInKey(this.agent.agentId));
    this.show('signing out…');
    this.button.disabled = true;
    await Promise.all(this.devices.map((d) => d.signOut()));
    this.signIn.forget();
    this.button.disabled = false;
    this.show();
  }

  notAuthorized(reason: string): void {
    if (!this.signedIn) return;
    this.signedIn = false;
    localStorage.removeItem(signedInKey(this.agent.agentId));
    this.signIn.forget();
    this.show(`signed out: ${reason}`, 'error');
    for (const d of this.devices) void d.drop('signed out: sign in again');
  }

  signedOutElsewhere(): void {
    if (!this.signedIn) return;
    this.signedIn = false;
    this.signIn.forget();
    this.show('signed out in another tab');
    for (const d of this.devices) d.signedOut();
  }

  /**
   * A sign-in in another tab of this browser (the `storage` event). A sign-out reaches this tab
   * through the client (`signedOut` of its devices), even from a tab whose device was switched off.
   */
  syncWithOtherTabs(): void {
    if (!this.signedIn && localStorage.getItem(signedInKey(this.agent.agentId)) !== null) void this.start();
  }

  /** Signed in before the reload: sign in again, as an identity provider's session would. */
  resume(): void {
    if (localStorage.getItem(signedInKey(this.agent.agentId)) !== null) void this.start();
  }

  async leave(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.leave()));
  }

  private show(text?: string, kind: 'info' | 'error' = 'info'): void {
    this.element.dataset.signedIn = String(this.signedIn);
    this.button.textContent = this.signedIn ? 'Sign out' : `Sign in as ${this.agent.name}`;
    this.status.textContent = text ?? (this.signedIn ? `signed in as ${this.agent.agentId}` : 'signed out');
    this.status.dataset.kind = kind;
  }
}

/** The agents' panels, and the page-wide OS-notifications opt-in. */
export const renderAgents = (container: HTMLElement, config: DashboardConfig, notificationsToggle: HTMLInputElement): AgentPanel[] => {
  let osNotifications = false;
  const panels = config.agents.map((agent) => new AgentPanel(config, agent, { osNotifications: () => osNotifications }));
  const setOsNotifications = (on: boolean) => {
    osNotifications = on;
    notificationsToggle.checked = on;
    for (const p of panels) for (const d of p.devices) d.showOsNotifications(on);
  };
  notificationsToggle.addEventListener('change', () => {
    if (!notificationsToggle.checked) return setOsNotifications(false);
    // Asked from the click, as browsers require.
    void requestOsNotifications().then(setOsNotifications);
  });
  replaceChildren(container, ...panels.map((p) => p.element));
  window.addEventListener('storage', (e) => {
    if (e.key?.startsWith('convo-notify-dashboard:signed-in:')) for (const p of panels) p.syncWithOtherTabs();
  });
  for (const p of panels) p.resume();
  return panels;
};
