import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import { z } from 'zod';
import type { NotificationEnvelope } from '../contracts/envelope';
import { CLIENT_ID_PATTERN } from '../contracts/naming';
import { pushTopicOf } from '../contracts/push-topic';
import type { ClaimInput, ClaimResult, Claimer } from './claim-types';
import type { DrainResult, InboxReader } from './drain';
import { TypedEmitter } from './emitter';
import { ConnectionError, InvalidClientOptionsError, NotAuthorizedError, StoreError, SubscribeError } from './errors';
import {
  emptyState,
  foldAll,
  getMessage,
  isNew,
  messageKey,
  newMessages,
  notificationsOf,
  transitions,
  type InboxState,
  type MessageView,
} from './fold';
import { parseNotification } from './parse';
import { changedEntries, DEFAULT_RETENTION_MS, MemoryStorage, type NotificationStore } from './store';

/** The connection's renewal margin unless `renewBeforeExpiryMs` sets another: 6 minutes. */
export const DEFAULT_RENEW_BEFORE_EXPIRY_MS = 360_000;

/** Reconnect backoff: `min(maxDelayMs, initialDelayMs * multiplier^attempt)`, minus up to `jitter` of it. */
export interface ReconnectOptions {
  /** Default 1000. */
  initialDelayMs?: number;
  /** Default 30000. */
  maxDelayMs?: number;
  /** Default 2. */
  multiplier?: number;
  /** Fraction (0..1) of the delay taken off at random, so that devices cut off together do not all come back together. Default 0.5. */
  jitter?: number;
}

/** Where to connect: a URL, and when the credential in it (the sign-in token) expires. */
export interface BrokerEndpoint {
  url: string;
  /** The connection is renewed with a fresh endpoint `renewBeforeExpiryMs` before this. */
  expiresAt?: Date;
}

export interface AgentClientOptions {
  /** The device's own IoT client id (`[A-Za-z0-9_-]+`); it connects with it and subscribes to `notify/<clientId>`. */
  clientId: string;
  /** The agent using the device. */
  agentId: string;
  /**
   * The broker URL (`mqtt://…`, `ws://…`, `wss://…`), or a function returning one (or a
   * `BrokerEndpoint`) for each connection attempt, e.g. `authorizerUrlProvider(…)` for AWS IoT with
   * the sign-in token.
   */
  brokerUrl: string | (() => Promise<string | BrokerEndpoint>);
  /**
   * How long before the endpoint's `expiresAt` the client reconnects with a fresh one. Default
   * 360000 (6 minutes): AWS IoT refuses a token with less than 5 minutes left, and disconnects a
   * connection when its token expires.
   */
  renewBeforeExpiryMs?: number;
  /**
   * One more drain this long after each connect (0: none). Not polling: the workflow may have
   * found the device offline just before it subscribed, and then writes the inbox copy after the
   * connect-time drain; this drain finds it. Default 5000.
   */
  followUpDrainMs?: number;
  /** MQTT keep-alive, seconds. Default 30 (AWS IoT accepts 30..1200). */
  keepaliveSeconds?: number;
  /** How long to wait for CONNACK, ms. Default 10000. */
  connectTimeoutMs?: number;
  reconnect?: ReconnectOptions;
  /**
   * The device's inbox, drained on every connect and reconnect (`ApiInbox` through the agent API;
   * `Inbox` of the `aws` entry for SQS with IAM credentials). Without it the client only gets pushes.
   */
  inbox?: InboxReader;
  /** Makes claims (`(input) => api.claim(input)`). Without it `claim` throws `InvalidClientOptionsError`. */
  claim?: Claimer;
  /**
   * Where the state is kept: every notification is saved here before its inbox message is acked,
   * and the state is loaded from here on `start`. Default: memory (nothing survives the process).
   */
  store?: NotificationStore;
  /** How long saved entries live: the inbox retention. Default 4 days (the stack's default `inboxRetentionDays`). */
  retentionMs?: number;
  /** Clock for entry expiry; default `Date.now`. */
  now?: () => number;
  /** Further MQTT.js options (wsOptions, …); the ones this client manages are not overridable. */
  mqttOptions?: Omit<IClientOptions, 'clientId' | 'clean' | 'keepalive' | 'reconnectPeriod' | 'connectTimeout' | 'resubscribe' | 'manualConnect'>;
  /** Randomness for the backoff jitter; default Math.random. */
  random?: () => number;
}

export type PresenceState = 'online' | 'offline';

export interface PresenceEvent {
  state: PresenceState;
  at: Date;
  /** Why it went offline: `connection lost`, `stopped` or `not authorized`. */
  reason?: string;
}

export interface AgentClientEvents {
  /** A message became NEW. */
  new: MessageView;
  /** A message was handled (by anyone); it is no longer NEW. */
  handled: MessageView;
  /** Connected and subscribed (`online`), or the connection is gone (`offline`). */
  presence: PresenceEvent;
  /**
   * Invalid payloads, failed acks, connection, store and inbox errors. The client carries on, except
   * after a `NotAuthorizedError` from the agent API: it stops (sign the agent in again).
   */
  error: Error;
  /** The state changed (after any fold that changed something). */
  change: InboxState;
  /** An inbox drain finished. */
  drained: DrainResult;
  /** Notifications were saved and folded (also those loaded from the store on start). */
  folded: readonly NotificationEnvelope[];
}

const OptionsSchema = z.object({
  clientId: z.string().regex(CLIENT_ID_PATTERN, 'must match [A-Za-z0-9_-]+'),
  agentId: z.string().min(1),
  brokerUrl: z.union([z.string().min(1), z.custom<() => Promise<string | BrokerEndpoint>>((v) => typeof v === 'function', 'must be a function')]),
  renewBeforeExpiryMs: z.number().int().min(0).optional(),
  followUpDrainMs: z.number().int().min(0).optional(),
  retentionMs: z.number().int().positive().optional(),
  keepaliveSeconds: z.number().int().min(0).max(65535).optional(),
  connectTimeoutMs: z.number().int().positive().optional(),
  reconnect: z
    .object({
      initialDelayMs: z.number().positive().optional(),
      maxDelayMs: z.number().positive().optional(),
      multiplier: z.number().min(1).optional(),
      jitter: z.number().min(0).max(1).optional(),
    })
    .optional(),
});

/** The push topic of a device (kept under this name: it is part of the client's API). */
export const notifyTopic = pushTopicOf;

/** Delay before reconnect attempt number `attempt` (0-based). */
export const backoffDelay = (attempt: number, options: ReconnectOptions = {}, random: () => number = Math.random): number => {
  const initial = options.initialDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 30_000;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 0.5;
  const base = Math.min(max, initial * multiplier ** Math.min(attempt, 64));
  return Math.round(base * (1 - jitter * random()));
};

/**
 * The AgentCRM device client: MQTT presence and push, inbox catch-up, the fold, the durable store,
 * and claim.
 *
 * Every fold goes through the store first: the new entries are saved, and only then does the state
 * change and the inbox batch get acked. Folds run one at a time, in arrival order.
 *
 * Reconnects are managed here, not by MQTT.js (its `reconnectPeriod` is a fixed interval): MQTT.js
 * runs with `reconnectPeriod: 0`, and every lost connection schedules a new one after
 * `backoffDelay(attempt)`, reset on success. Each attempt asks `brokerUrl` again, so a signed AWS
 * IoT URL is always fresh.
 */
export class AgentClient extends TypedEmitter<AgentClientEvents> {
  readonly clientId: string;
  readonly agentId: string;
  readonly topic: string;

  private currentState: InboxState;
  private readonly inbox?: InboxReader;
  private readonly store: NotificationStore;
  private readonly now: () => number;
  private foldQueue: Promise<unknown> = Promise.resolve();
  private loaded?: Promise<void>;
  private renewTimer?: ReturnType<typeof setTimeout>;
  private followUpTimer?: ReturnType<typeof setTimeout>;
  private mqtt?: MqttClient;
  private started = false;
  private stopped = false;
  private online = false;
  private attempt = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private drainRun?: Promise<DrainResult | undefined>;
  private drainAgain = false;
  private drainAbort?: AbortController;
  private drainFailures = 0;
  private drainRetryTimer?: ReturnType<typeof setTimeout>;
  private readonly random: () => number;

  constructor(private readonly options: AgentClientOptions) {
    super();
    const parsed = OptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new InvalidClientOptionsError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    }
    this.clientId = options.clientId;
    this.agentId = options.agentId;
    this.topic = notifyTopic(options.clientId);
    this.currentState = emptyState;
    this.inbox = options.inbox;
    this.store = options.store ?? new MemoryStorage().open({ agentId: options.agentId, clientId: options.clientId });
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** The folded state (immutable). */
  get state(): InboxState {
    return this.currentState;
  }

  /** Connected to the broker and subscribed to the push topic. */
  get isOnline(): boolean {
    return this.online;
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

  /**
   * Loads the saved state, then connects (and keeps reconnecting until `stop`). Returns at once;
   * `ready()` resolves once the saved state is loaded; watch `presence`.
   */
  start(): this {
    if (this.stopped) throw new InvalidClientOptionsError('a stopped AgentClient cannot be started again; create a new one');
    if (this.started) return this;
    this.started = true;
    this.loaded = this.load();
    void this.loaded.then(() => this.openConnection());
    return this;
  }

  /** Resolves once `start` has loaded the saved state (a failed load is an `error` event). */
  ready(): Promise<void> {
    return this.loaded ?? Promise.resolve();
  }

  private async load(): Promise<void> {
    try {
      const entries = await this.store.load(this.now());
      this.enqueueFold(async () => {
        const before = this.currentState;
        const loaded = notificationsOf(entries);
        const after = foldAll(before, loaded);
        if (after === before) return;
        this.currentState = after;
        this.emit('folded', loaded);
        this.emit('change', after);
      });
      await this.foldQueue;
    } catch (err) {
      this.emit('error', err instanceof StoreError ? err : new StoreError(`could not load the saved state: ${(err as Error).message}`, { cause: err }));
    }
  }

  /** Disconnects cleanly (MQTT DISCONNECT), stops reconnecting and any drain; emits `offline` if it was online. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.drainRetryTimer);
    clearTimeout(this.renewTimer);
    clearTimeout(this.followUpTimer);
    this.drainAbort?.abort();
    const client = this.mqtt;
    this.mqtt = undefined;
    if (client) await endClient(client);
    this.setOffline('stopped');
    await this.drainRun?.catch(() => undefined);
    await this.foldQueue;
  }

  /**
   * Claims a message for this agent. `{ won: false, handledBy }` when another agent was first. The
   * `handled` notification then reaches every device, this one included, through the workflow.
   */
  async claim(input: ClaimInput): Promise<ClaimResult> {
    if (!this.options.claim) throw new InvalidClientOptionsError('claim: the client has no `claim` option');
    return this.options.claim(input);
  }

  /**
   * Drains the inbox now (it is drained on every connect anyway). Concurrent calls share one run;
   * a call during a run makes it go round once more. Resolves with the last run's result, or
   * `undefined` without an inbox or when the run failed (the failure is an `error` event).
   */
  drainInbox(): Promise<DrainResult | undefined> {
    if (!this.inbox || this.stopped) return Promise.resolve(undefined);
    if (this.drainRun) {
      this.drainAgain = true;
      return this.drainRun;
    }
    this.drainRun = this.runDrains().finally(() => {
      this.drainRun = undefined;
    });
    return this.drainRun;
  }

  /**
   * Saves and folds notifications obtained elsewhere (they must already be valid envelopes).
   * Rejects with a `StoreError`, and changes nothing, when the store cannot save them.
   */
  applyNotifications(notifications: readonly NotificationEnvelope[]): Promise<void> {
    return this.enqueueFold(async () => {
      const before = this.currentState;
      const after = foldAll(before, notifications);
      if (after === before) return;
      const changed = changedEntries(before, after);
      try {
        await this.store.save(changed, this.now() + (this.options.retentionMs ?? DEFAULT_RETENTION_MS));
      } catch (err) {
        throw err instanceof StoreError ? err : new StoreError(`could not save ${changed.length} message(s): ${(err as Error).message}`, { cause: err });
      }
      // A fold queued before this one may have moved the state on; fold again onto the current one.
      const base = this.currentState;
      const next = base === before ? after : foldAll(base, notifications);
      this.currentState = next;
      for (const t of transitions(base, next, notifications.map((n) => messageKey(n.conversationId, n.messageId)))) {
        this.emit(t.became, t.message);
      }
      this.emit('folded', notifications);
      this.emit('change', next);
    });
  }

  private enqueueFold(work: () => Promise<void>): Promise<void> {
    const run = this.foldQueue.then(work);
    this.foldQueue = run.catch(() => undefined);
    return run;
  }

  private async runDrains(): Promise<DrainResult | undefined> {
    const inbox = this.inbox as InboxReader;
    let result: DrainResult | undefined;
    do {
      this.drainAgain = false;
      const abort = new AbortController();
      this.drainAbort = abort;
      try {
        result = await inbox.drain({ fold: (ns) => this.applyNotifications(ns), error: (e) => this.emit('error', e) }, abort.signal);
        this.drainFailures = 0;
        this.emit('drained', result);
      } catch (err) {
        result = undefined;
        this.emit('error', err as Error);
        if (err instanceof NotAuthorizedError) {
          // The same token would be refused again: no retry loop. The app signs the agent in again.
          this.setOffline('not authorized');
          void this.stop();
          break;
        }
        this.scheduleDrainRetry();
        break;
      }
    } while (this.drainAgain && !this.stopped);
    return result;
  }

  private scheduleDrainRetry(): void {
    if (this.stopped) return;
    clearTimeout(this.drainRetryTimer);
    const delay = backoffDelay(this.drainFailures, this.options.reconnect, this.random);
    this.drainFailures += 1;
    this.drainRetryTimer = setTimeout(() => void this.drainInbox(), delay);
  }

  private async openConnection(): Promise<void> {
    this.reconnectTimer = undefined;
    if (this.stopped) return;
    let endpoint: BrokerEndpoint;
    try {
      const given = typeof this.options.brokerUrl === 'function' ? await this.options.brokerUrl() : this.options.brokerUrl;
      endpoint = typeof given === 'string' ? { url: given } : given;
    } catch (err) {
      this.emit('error', err instanceof NotAuthorizedError ? err : new ConnectionError(`could not get the broker URL: ${(err as Error).message}`, { cause: err }));
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const url = endpoint.url;
    let client: MqttClient;
    try {
      client = mqtt.connect(url, {
        protocolVersion: 4,
        ...this.options.mqttOptions,
        clientId: this.clientId,
        clean: true,
        keepalive: this.options.keepaliveSeconds ?? 30,
        connectTimeout: this.options.connectTimeoutMs ?? 10_000,
        reconnectPeriod: 0,
        resubscribe: false,
      });
    } catch (err) {
      // MQTT.js throws at once for a URL it cannot use (no protocol, unknown scheme).
      this.emit('error', new ConnectionError(`cannot connect to ${redact(url)}: ${(err as Error).message}`, { cause: err }));
      this.scheduleReconnect();
      return;
    }
    this.mqtt = client;
    this.scheduleRenewal(client, endpoint.expiresAt);
    client.on('connect', () => this.onConnect(client));
    client.on('message', (topic, payload) => {
      if (client === this.mqtt) this.onPush(topic, payload);
    });
    client.on('error', (err) => {
      if (client === this.mqtt) this.emit('error', new ConnectionError(`MQTT: ${err.message}`, { cause: err }));
    });
    client.on('close', () => this.onClose(client));
  }

  private onConnect(client: MqttClient): void {
    if (client !== this.mqtt || this.stopped) return;
    this.attempt = 0;
    client.subscribe(this.topic, { qos: 1 }, (err, granted) => {
      if (client !== this.mqtt || this.stopped) return;
      // The connection closed before the SUBACK: the close handler takes it from here.
      if (err?.message === 'Connection closed') return;
      if (err) {
        this.emit('error', new SubscribeError(`subscribe to ${this.topic} failed: ${err.message}`, { cause: err }));
      } else if (granted?.some((g) => g.qos === 128)) {
        this.emit('error', new SubscribeError(`the broker refused the subscription to ${this.topic}`));
      }
      if (!this.online) {
        this.online = true;
        this.emit('presence', { state: 'online', at: new Date() });
      }
      // Catch-up after subscribing: anything pushed from now on arrives by push, anything before is in the inbox.
      void this.drainInbox();
      clearTimeout(this.followUpTimer);
      const followUp = this.options.followUpDrainMs ?? 5000;
      if (followUp > 0 && this.inbox) this.followUpTimer = setTimeout(() => void this.drainInbox(), followUp);
    });
  }

  private onPush(topic: string, payload: Uint8Array): void {
    if (topic !== this.topic) return;
    const parsed = parseNotification(payload, 'push');
    if (!parsed.ok) {
      this.emit('error', parsed.error);
      return;
    }
    // A push that cannot be saved is not lost: its inbox copy stays until a drain saves it.
    this.applyNotifications([parsed.notification]).catch((err: unknown) => this.emit('error', err as Error));
  }

  private onClose(client: MqttClient): void {
    if (client !== this.mqtt) return;
    this.mqtt = undefined;
    client.end(true);
    this.setOffline('connection lost');
    this.scheduleReconnect();
  }

  /**
   * Reconnects with a fresh endpoint (a fresh token) `renewBeforeExpiryMs` before the current one
   * expires, so AWS IoT never has to cut the connection at the token's expiry. Presence stays
   * `online` across the switch; the new connection drains the inbox, which holds anything pushed
   * in between.
   */
  private scheduleRenewal(client: MqttClient, expiresAt: Date | undefined): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    if (expiresAt === undefined) return;
    const delay = Math.max(0, expiresAt.getTime() - (this.options.renewBeforeExpiryMs ?? DEFAULT_RENEW_BEFORE_EXPIRY_MS) - this.now());
    this.renewTimer = setTimeout(() => {
      if (client !== this.mqtt || this.stopped) return;
      this.mqtt = undefined;
      client.end(true);
      void this.openConnection();
    }, delay);
  }

  private setOffline(reason: string): void {
    if (!this.online) return;
    this.online = false;
    this.emit('presence', { state: 'offline', at: new Date(), reason });
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== undefined) return;
    const delay = backoffDelay(this.attempt, this.options.reconnect, this.random);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => void this.openConnection(), delay);
  }
}

/** A URL without its query (a signed URL's query holds credentials and must not reach logs). */
const redact = (url: string): string => url.split('?')[0];

/** Ends an MQTT.js client cleanly, forcing it if the DISCONNECT cannot be sent within a second. */
const endClient = (client: MqttClient): Promise<void> =>
  new Promise((resolve) => {
    const force = setTimeout(() => client.end(true, {}, () => resolve()), 1000);
    client.end(false, {}, () => {
      clearTimeout(force);
      resolve();
    });
  });
