import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import { z } from 'zod';
import type { NotificationEnvelope } from '../contracts/envelope';
import { CLIENT_ID_PATTERN } from '../contracts/naming';
import { pushTopicOf } from '../contracts/push-topic';
import { claimMessage, type ClaimInput, type ClaimResult } from './claim';
import { TypedEmitter } from './emitter';
import { ConnectionError, InvalidClientOptionsError, SubscribeError } from './errors';
import {
  emptyState,
  foldAll,
  getMessage,
  isNew,
  messageKey,
  newMessages,
  transitions,
  type InboxState,
  type MessageView,
} from './fold';
import { Inbox, type DrainResult, type InboxOptions } from './inbox';
import { parseNotification } from './parse';

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

export interface AgentClientOptions {
  /** The device's own IoT client id (`[A-Za-z0-9_-]+`); it connects with it and subscribes to `notify/<clientId>`. */
  clientId: string;
  /** The agent using the device: the `handledBy` written by `claim`. */
  agentId: string;
  /**
   * The broker URL (`mqtt://…`, `ws://…`, `wss://…`), or a function returning one for each connection
   * attempt, e.g. `awsIotUrlProvider({ endpoint, region, credentials })` for AWS IoT with SigV4.
   */
  brokerUrl: string | (() => Promise<string>);
  /** MQTT keep-alive, seconds. Default 30 (AWS IoT accepts 30..1200). */
  keepaliveSeconds?: number;
  /** How long to wait for CONNACK, ms. Default 10000. */
  connectTimeoutMs?: number;
  reconnect?: ReconnectOptions;
  /** The device's SQS inbox. Without it the client only gets pushes (no catch-up). */
  inbox?: InboxOptions;
  /**
   * While online, drain the inbox again this often, in ms. The workflow sees a device online from
   * the broker's connect event, before the device has subscribed: a push in that moment is lost
   * and only its inbox copy remains, written after the connect-time drain. The periodic drain
   * finds it. Default 30000; 0 turns it off.
   */
  inboxPollIntervalMs?: number;
  /** Where `claim` writes: the CONVO_HISTORY table. Without it `claim` throws `InvalidClientOptionsError`. */
  claim?: { dynamodb: DynamoDBClient; tableName: string; now?: () => Date };
  /** A state to start from (e.g. one kept from an earlier session). Default empty. */
  initialState?: InboxState;
  /** Further MQTT.js options (username/password, wsOptions, …); the ones this client manages are not overridable. */
  mqttOptions?: Omit<IClientOptions, 'clientId' | 'clean' | 'keepalive' | 'reconnectPeriod' | 'connectTimeout' | 'resubscribe' | 'manualConnect'>;
  /** Randomness for the backoff jitter; default Math.random. */
  random?: () => number;
}

export type PresenceState = 'online' | 'offline';

export interface PresenceEvent {
  state: PresenceState;
  at: Date;
  /** Why it went offline: `connection lost` or `stopped`. */
  reason?: string;
}

export interface AgentClientEvents {
  /** A message became NEW. */
  new: MessageView;
  /** A message was handled (by anyone); it is no longer NEW. */
  handled: MessageView;
  /** Connected and subscribed (`online`), or the connection is gone (`offline`). */
  presence: PresenceEvent;
  /** Invalid payloads, failed deletes, connection and inbox errors. The client carries on. */
  error: Error;
  /** The state changed (after any fold that changed something). */
  change: InboxState;
  /** An inbox drain finished. */
  drained: DrainResult;
}

const OptionsSchema = z.object({
  clientId: z.string().regex(CLIENT_ID_PATTERN, 'must match [A-Za-z0-9_-]+'),
  agentId: z.string().min(1),
  brokerUrl: z.union([z.string().min(1), z.custom<() => Promise<string>>((v) => typeof v === 'function', 'must be a function')]),
  keepaliveSeconds: z.number().int().min(0).max(65535).optional(),
  inboxPollIntervalMs: z.number().int().min(0).optional(),
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
 * The AgentCRM device client: MQTT presence and push, SQS inbox catch-up, the fold, and claim.
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
  private readonly inbox?: Inbox;
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
  private pollTimer?: ReturnType<typeof setInterval>;
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
    this.currentState = options.initialState ?? emptyState;
    this.inbox = options.inbox ? new Inbox(options.inbox) : undefined;
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

  /** Connects (and keeps reconnecting until `stop`). Returns at once; watch `presence`. */
  start(): this {
    if (this.stopped) throw new InvalidClientOptionsError('a stopped AgentClient cannot be started again; create a new one');
    if (this.started) return this;
    this.started = true;
    void this.openConnection();
    return this;
  }

  /** Disconnects cleanly (MQTT DISCONNECT), stops reconnecting and any drain; emits `offline` if it was online. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.drainRetryTimer);
    clearInterval(this.pollTimer);
    this.drainAbort?.abort();
    const client = this.mqtt;
    this.mqtt = undefined;
    if (client) await endClient(client);
    this.setOffline('stopped');
    await this.drainRun?.catch(() => undefined);
  }

  /**
   * Claims a message for this agent (conditional UpdateItem on CONVO_HISTORY). `{ won: false,
   * handledBy }` when another agent was first. The `handled` notification then reaches every device,
   * this one included, through the workflow.
   */
  async claim(input: ClaimInput): Promise<ClaimResult> {
    if (!this.options.claim) throw new InvalidClientOptionsError('claim: the client has no `claim` options (dynamodb, tableName)');
    return claimMessage({ ...this.options.claim, agentId: this.agentId }, input);
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

  /** Folds notifications obtained elsewhere (they must already be valid envelopes). */
  applyNotifications(notifications: readonly NotificationEnvelope[]): void {
    const before = this.currentState;
    const after = foldAll(before, notifications);
    if (after === before) return;
    this.currentState = after;
    for (const t of transitions(before, after, notifications.map((n) => messageKey(n.conversationId, n.messageId)))) {
      this.emit(t.became, t.message);
    }
    this.emit('change', after);
  }

  private async runDrains(): Promise<DrainResult | undefined> {
    const inbox = this.inbox as Inbox;
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
    let url: string;
    try {
      url = typeof this.options.brokerUrl === 'function' ? await this.options.brokerUrl() : this.options.brokerUrl;
    } catch (err) {
      this.emit('error', new ConnectionError(`could not get the broker URL: ${(err as Error).message}`, { cause: err }));
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
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
        this.startInboxPolling();
      }
      // Catch-up after subscribing: anything pushed from now on arrives by push, anything before is in the inbox.
      void this.drainInbox();
    });
  }

  private onPush(topic: string, payload: Uint8Array): void {
    if (topic !== this.topic) return;
    const parsed = parseNotification(payload, 'push');
    if (!parsed.ok) {
      this.emit('error', parsed.error);
      return;
    }
    this.applyNotifications([parsed.notification]);
  }

  private onClose(client: MqttClient): void {
    if (client !== this.mqtt) return;
    this.mqtt = undefined;
    client.end(true);
    this.setOffline('connection lost');
    this.scheduleReconnect();
  }

  private startInboxPolling(): void {
    const interval = this.options.inboxPollIntervalMs ?? 30_000;
    clearInterval(this.pollTimer);
    if (!this.inbox || interval <= 0) return;
    this.pollTimer = setInterval(() => void this.drainInbox(), interval);
  }

  private setOffline(reason: string): void {
    clearInterval(this.pollTimer);
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
