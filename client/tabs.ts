import type { NotificationEnvelope } from '../contracts/envelope';
import type { PresenceEvent } from './agent-client';
import type { AgentApi } from './api';
import type { ClaimInput, ClaimResult } from './claim-types';
import { agentApiOf, deviceClient, resolveDevice, type AgentDeviceOptions } from './device';
import { TypedEmitter } from './emitter';
import { InvalidClientOptionsError } from './errors';
import { emptyState, foldAll, getMessage, isNew, messageKey, newMessages, notificationsOf, transitions, type InboxState, type MessageView } from './fold';
import type { TokenSource } from './token';

/**
 * Tabs of one browser share one device connection and one state per (agent, device):
 * - a Web Lock `convo-notify/<agentId>/<clientId>` elects the tab that holds the MQTT connection
 *   and drains the inbox (the leader); when it closes, the lock passes to another tab, which
 *   connects in its place. The device's client id never has two connections, so AWS IoT never
 *   drops one for the other.
 * - the leader posts every notification it saved on a BroadcastChannel of the same name; every
 *   tab folds them into its own copy of the state, which started from the same storage. The fold
 *   is order-independent and idempotent, so all tabs agree.
 * - a tab that joins says hello on the channel and the leader answers with its presence and its
 *   state: presence is only posted when it changes, so a tab joining a connected device would
 *   otherwise not know it is online until the next change.
 * - sign-out is announced on the channel even from a closed device (through a channel opened for
 *   that message), so it reaches every open tab of the (agent, device).
 * - registration runs under the lock `convo-notify/<agentId>/register`, so two tabs opened at once
 *   register one device, not two.
 * Another agent signed in on the same page has other lock and channel names: they stay apart.
 */

/** The part of the Web Locks API this uses (`navigator.locks`). */
export interface LockManagerLike {
  request<T>(name: string, options: { mode?: 'exclusive' | 'shared'; signal?: AbortSignal }, callback: (lock: unknown) => Promise<T>): Promise<T>;
}

/** The part of BroadcastChannel this uses. */
export interface BroadcastChannelLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

export interface SharedAgentDeviceOptions extends AgentDeviceOptions {
  /** Default `navigator.locks`. */
  locks?: LockManagerLike;
  /** Default `(name) => new BroadcastChannel(name)`. */
  channel?: (name: string) => BroadcastChannelLike;
}

export type TabRole = 'leader' | 'follower';

export interface SharedAgentDeviceEvents {
  new: MessageView;
  handled: MessageView;
  change: InboxState;
  /** The leader's presence, in every tab. */
  presence: PresenceEvent;
  /** This tab became the leader (it holds the connection) or is a follower. */
  role: TabRole;
  error: Error;
  /** Some tab signed the agent out: this tab is closed too. */
  signedOut: void;
}

type TabMessage =
  | { type: 'folded'; notifications: NotificationEnvelope[] }
  | { type: 'presence'; event: PresenceEvent }
  | { type: 'hello' }
  | { type: 'welcome'; presence?: PresenceEvent; notifications: NotificationEnvelope[] }
  | { type: 'signed-out' };

export const lockNameOf = (agentId: string, clientId: string): string => `convo-notify/${agentId}/${clientId}`;

export class SharedAgentDevice extends TypedEmitter<SharedAgentDeviceEvents> {
  private currentState: InboxState = emptyState;
  private currentRole: TabRole = 'follower';
  private currentPresence?: PresenceEvent;
  private closed = false;
  private readonly closing = new AbortController();
  private release?: () => void;
  private held?: Promise<void>;
  private channel?: BroadcastChannelLike;

  private constructor(
    private readonly options: SharedAgentDeviceOptions,
    private readonly locks: LockManagerLike,
    readonly api: AgentApi,
    readonly tokens: TokenSource,
    readonly clientId: string,
  ) {
    super();
  }

  /** Registers (or finds) the agent's device, loads its state and joins the other tabs. */
  static async open(options: SharedAgentDeviceOptions): Promise<SharedAgentDevice> {
    const locks = options.locks ?? (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
    if (!locks) throw new InvalidClientOptionsError('Web Locks (navigator.locks) are not available; pass options.locks');
    const { tokens, api } = agentApiOf(options);
    const clientId = await locks.request(`convo-notify/${options.agentId}/register`, { mode: 'exclusive' }, () => resolveDevice(api, options.storage, options.agentId, options.label));
    const device = new SharedAgentDevice(options, locks, api, tokens, clientId);
    await device.join();
    return device;
  }

  get role(): TabRole {
    return this.currentRole;
  }

  get state(): InboxState {
    return this.currentState;
  }

  /**
   * The leader's presence as this tab last heard it (its own connection's in the leader);
   * `undefined` until the leader reported one, and again while a new leader connects.
   */
  get presence(): PresenceEvent | undefined {
    return this.currentPresence;
  }

  newMessages(): MessageView[] {
    return newMessages(this.currentState);
  }

  isNew(messageId: string, conversationId?: string): boolean {
    return isNew(this.currentState, messageId, conversationId);
  }

  getMessage(messageId: string, conversationId?: string): MessageView | undefined {
    return getMessage(this.currentState, messageId, conversationId);
  }

  /** Any tab may claim: claims are plain API calls. */
  claim(input: ClaimInput): Promise<ClaimResult> {
    return this.api.claim(input);
  }

  /** Leaves the other tabs; a leader hands the connection over to one of them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.release?.();
    await this.held?.catch(() => undefined);
    this.channel?.close();
  }

  /**
   * Signs the agent out in every tab: unregisters the device and wipes its state. Works on a closed
   * device too (a tab that switched the device off): the other tabs are told all the same.
   */
  async signOut(): Promise<void> {
    if (this.closed) this.announce({ type: 'signed-out' });
    else this.post({ type: 'signed-out' });
    await this.close();
    this.currentState = emptyState;
    this.emit('change', emptyState);
    try {
      await this.api.unregisterDevice(this.clientId);
    } finally {
      await this.options.storage.wipe(this.options.agentId);
      this.tokens.invalidate();
    }
  }

  private async join(): Promise<void> {
    const name = lockNameOf(this.options.agentId, this.clientId);
    const channel = this.openChannel();
    this.channel = channel;
    // Listen before loading: a notification the leader saves meanwhile is folded either way.
    channel.onmessage = (event) => this.onTabMessage(event.data as TabMessage);
    this.post({ type: 'hello' });
    const entries = await this.options.storage.open({ agentId: this.options.agentId, clientId: this.clientId }).load((this.options.client?.now ?? Date.now)());
    this.fold(notificationsOf(entries));
    this.emit('role', 'follower');
    this.held = this.locks
      .request(name, { mode: 'exclusive', signal: this.closing.signal }, () => this.lead())
      .catch((err: unknown) => {
        if (!this.closed) this.emit('error', err as Error);
      });
  }

  /** Runs while this tab holds the lock: the device's connection lives here. */
  private async lead(): Promise<void> {
    if (this.closed) return;
    const released = new Promise<void>((resolve) => (this.release = resolve));
    const client = deviceClient(this.options, this.api, this.tokens, this.clientId);
    client.on('folded', (notifications) => {
      this.fold(notifications);
      this.post({ type: 'folded', notifications: [...notifications] });
    });
    client.on('presence', (event) => {
      this.currentPresence = event;
      this.emit('presence', event);
      this.post({ type: 'presence', event });
    });
    client.on('error', (err) => this.emit('error', err));
    // What this tab knew was the previous leader's connection; its own is yet to come.
    this.currentPresence = undefined;
    this.currentRole = 'leader';
    this.emit('role', 'leader');
    client.start();
    await released;
    await client.stop();
  }

  private onTabMessage(message: TabMessage): void {
    if (this.closed) return;
    if (message.type === 'folded') this.fold(message.notifications);
    else if (message.type === 'hello') {
      if (this.currentRole === 'leader') this.post({ type: 'welcome', presence: this.currentPresence, notifications: notificationsOf(Object.values(this.currentState.messages)) });
    } else if (message.type === 'welcome' || message.type === 'presence') {
      // The leader's own connection is the only truth; a late message of the previous leader is not.
      if (this.currentRole === 'leader') return;
      if (message.type === 'welcome') this.fold(message.notifications);
      const event = message.type === 'welcome' ? message.presence : message.event;
      if (event) this.setPresence(event);
    } else if (message.type === 'signed-out') {
      void this.close().then(() => {
        this.currentState = emptyState;
        this.emit('change', emptyState);
        this.emit('signedOut', undefined);
      });
    }
  }

  private setPresence(event: PresenceEvent): void {
    const known = this.currentPresence;
    if (known && known.state === event.state && known.at.getTime() === event.at.getTime() && known.reason === event.reason) return;
    this.currentPresence = event;
    this.emit('presence', event);
  }

  private openChannel(): BroadcastChannelLike {
    const name = lockNameOf(this.options.agentId, this.clientId);
    return this.options.channel ? this.options.channel(name) : (new BroadcastChannel(name) as unknown as BroadcastChannelLike);
  }

  /** Posts from a closed device: a channel of the same name, opened for this one message. */
  private announce(message: TabMessage): void {
    try {
      const channel = this.openChannel();
      try {
        channel.postMessage(message);
      } finally {
        channel.close();
      }
    } catch (err) {
      this.emit('error', err as Error);
    }
  }

  private post(message: TabMessage): void {
    try {
      this.channel?.postMessage(message);
    } catch (err) {
      this.emit('error', err as Error);
    }
  }

  private fold(notifications: readonly NotificationEnvelope[]): void {
    const before = this.currentState;
    const after = foldAll(before, notifications);
    if (after === before) return;
    this.currentState = after;
    for (const t of transitions(before, after, notifications.map((n) => messageKey(n.conversationId, n.messageId)))) this.emit(t.became, t.message);
    this.emit('change', after);
  }
}
