import type Aedes from 'aedes';
import type { Client, Subscription } from 'aedes';
import { randomUUID } from 'node:crypto';

/**
 * Turns an aedes broker's events into AWS IoT lifecycle events (AWS IoT developer guide
 * "Lifecycle events"), so that the local runtime feeds `record-presence` the way the IoT topic
 * rules do:
 *  - `$aws/events/presence/connected|disconnected/<clientId>`: `connected` on aedes `client` (the
 *    client is registered: CONNECT accepted); `disconnected` on aedes `clientDisconnect`;
 *  - with `subscriptionEvents: true`, `$aws/events/subscriptions/subscribed|unsubscribed/<clientId>`:
 *    `subscribed` on aedes `subscribe` with the topics the broker granted (a refused filter, SUBACK
 *    0x80, is no subscription), `unsubscribed` on aedes `unsubscribe`. Like AWS's, they carry the
 *    connection's `sessionIdentifier` and no `versionNumber`. Off by default so that consumers of
 *    connect / disconnect only keep their event type.
 *
 * - `versionNumber` identifies a connection: each new connection of a client id gets a larger one,
 *   and its disconnect event carries the same one (as in AWS IoT). It starts at `versionBase`
 *   (default: the time the adapter was created, in ms) so that versions keep growing across
 *   restarts of the local runtime, whose PRESENCE table may persist.
 * - `sessionIdentifier` is a fresh id per connection (clean sessions, as the AgentCRM client
 *   uses); `principalIdentifier` comes from the option (default `local`); `ipAddress` from the
 *   socket when known.
 * - `disconnectReason`: `CLIENT_INITIATED_DISCONNECT` after an MQTT DISCONNECT packet,
 *   `MQTT_KEEP_ALIVE_TIMEOUT` after aedes reported a keep-alive timeout,
 *   `SERVER_INITIATED_DISCONNECT` while the broker closes, `CONNECTION_LOST` otherwise.
 *   (`DUPLICATE_CLIENTID` is not told apart: aedes closes the old connection before it announces
 *   the new one, and the old one then shows as `CONNECTION_LOST`.)
 *
 * Events go to `sink` one at a time, in broker order; a sink failure is reported to `onError` and
 * does not stop later events.
 *
 * `createAsyncInvoker` is the other half of the IoT rule's Lambda action: an asynchronous
 * invocation, retried on error and then handed to an on-failure destination.
 */

export type PresenceEventType = 'connected' | 'disconnected';
export type SubscriptionEventType = 'subscribed' | 'unsubscribed';

export type DisconnectReason =
  | 'CLIENT_INITIATED_DISCONNECT'
  | 'CONNECTION_LOST'
  | 'MQTT_KEEP_ALIVE_TIMEOUT'
  | 'SERVER_INITIATED_DISCONNECT';

/** A connect or disconnect event. */
export interface IotPresenceEvent {
  clientId: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
  eventType: PresenceEventType;
  sessionIdentifier: string;
  principalIdentifier: string;
  ipAddress?: string;
  versionNumber: number;
  /** Disconnect events only. */
  clientInitiatedDisconnect?: boolean;
  /** Disconnect events only. */
  disconnectReason?: DisconnectReason;
}

/** A subscribe or unsubscribe event. */
export interface IotSubscriptionEvent {
  clientId: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
  eventType: SubscriptionEventType;
  sessionIdentifier: string;
  principalIdentifier: string;
  /** The topic filters subscribed to or unsubscribed from. */
  topics: string[];
}

export type IotLifecycleEvent = IotPresenceEvent | IotSubscriptionEvent;

export type LifecycleSink<E extends IotLifecycleEvent = IotPresenceEvent> = (event: E) => unknown;

export interface LifecycleAdapterOptions<E extends IotLifecycleEvent = IotPresenceEvent> {
  /** Clock, ms since the epoch. Default Date.now. */
  now?: () => number;
  /** First version number of each client id. Default: `now()` when the adapter is created. */
  versionBase?: number;
  /** The principal a client connected as. Default `() => 'local'`. */
  principalIdentifier?: (client: Client) => string;
  /** Sink failures. Default: console.error. */
  onError?: (error: unknown, event: E) => void;
}

export interface LifecycleAdapter<E extends IotLifecycleEvent = IotPresenceEvent> {
  /** Every event produced so far, in order. */
  readonly events: readonly E[];
  /** Resolves when every event produced so far went through the sink. */
  idle(): Promise<void>;
  /** Stops listening to the broker (events already produced still go to the sink). */
  detach(): void;
}

/** The topic AWS IoT publishes a lifecycle event on. */
export const lifecycleTopic = (event: Pick<IotLifecycleEvent, 'eventType' | 'clientId'>): string =>
  event.eventType === 'subscribed' || event.eventType === 'unsubscribed'
    ? `$aws/events/subscriptions/${event.eventType}/${event.clientId}`
    : `$aws/events/presence/${event.eventType}/${event.clientId}`;

/** MQTT SUBACK return code of a refused subscription. */
const SUBACK_FAILURE = 128;

interface Session {
  sessionIdentifier: string;
  versionNumber: number;
  principalIdentifier: string;
  ipAddress?: string;
}

const remoteAddressOf = (client: Client): string | undefined => {
  const conn = client.conn as { remoteAddress?: string } | undefined;
  const address = conn?.remoteAddress ?? client.req?.socket?.remoteAddress;
  return address ? address.replace(/^::ffff:/, '') : undefined;
};

export function attachIotLifecycleEvents(
  broker: Aedes,
  sink: LifecycleSink<IotPresenceEvent>,
  options?: LifecycleAdapterOptions<IotPresenceEvent> & { subscriptionEvents?: false },
): LifecycleAdapter<IotPresenceEvent>;
export function attachIotLifecycleEvents(
  broker: Aedes,
  sink: LifecycleSink<IotLifecycleEvent>,
  options: LifecycleAdapterOptions<IotLifecycleEvent> & { subscriptionEvents: true },
): LifecycleAdapter<IotLifecycleEvent>;
export function attachIotLifecycleEvents(
  broker: Aedes,
  anySink: LifecycleSink<IotPresenceEvent> | LifecycleSink<IotLifecycleEvent>,
  options: (LifecycleAdapterOptions<IotPresenceEvent> | LifecycleAdapterOptions<IotLifecycleEvent>) & { subscriptionEvents?: boolean } = {},
): LifecycleAdapter<IotLifecycleEvent> {
  // Subscription events are only produced when the overload with the wider sink was chosen.
  const sink = anySink as LifecycleSink<IotLifecycleEvent>;
  const now = options.now ?? Date.now;
  const versionBase = options.versionBase ?? now();
  const principalOf = options.principalIdentifier ?? (() => 'local');
  const onError =
    (options.onError as LifecycleAdapterOptions<IotLifecycleEvent>['onError']) ??
    ((error: unknown, event: IotLifecycleEvent) => console.error('lifecycle event sink failed', event, error));

  const sessions = new WeakMap<Client, Session>();
  const lastVersion = new Map<string, number>();
  const keepaliveTimedOut = new WeakSet<Client>();
  const events: IotLifecycleEvent[] = [];
  let chain: Promise<void> = Promise.resolve();

  const newSession = (client: Client): Session => {
    const previous = lastVersion.get(client.id);
    const versionNumber = previous === undefined ? versionBase : previous + 1;
    lastVersion.set(client.id, versionNumber);
    const session: Session = {
      sessionIdentifier: randomUUID(),
      versionNumber,
      principalIdentifier: principalOf(client),
      ...(remoteAddressOf(client) ? { ipAddress: remoteAddressOf(client) } : {}),
    };
    sessions.set(client, session);
    return session;
  };

  const deliver = (event: IotLifecycleEvent) => {
    events.push(event);
    chain = chain.then(async () => {
      try {
        await sink(event);
      } catch (error) {
        onError(error, event);
      }
    });
  };

  const onClient = (client: Client) => {
    const s = newSession(client);
    deliver({
      clientId: client.id,
      timestamp: now(),
      eventType: 'connected',
      sessionIdentifier: s.sessionIdentifier,
      principalIdentifier: s.principalIdentifier,
      ...(s.ipAddress ? { ipAddress: s.ipAddress } : {}),
      versionNumber: s.versionNumber,
    });
  };

  const onClientDisconnect = (client: Client) => {
    const s = sessions.get(client) ?? newSession(client);
    sessions.delete(client);
    const clientInitiated = (client as unknown as { _disconnected?: boolean })._disconnected === true;
    const reason: DisconnectReason = clientInitiated
      ? 'CLIENT_INITIATED_DISCONNECT'
      : keepaliveTimedOut.has(client)
        ? 'MQTT_KEEP_ALIVE_TIMEOUT'
        : broker.closed
          ? 'SERVER_INITIATED_DISCONNECT'
          : 'CONNECTION_LOST';
    deliver({
      clientId: client.id,
      timestamp: now(),
      eventType: 'disconnected',
      sessionIdentifier: s.sessionIdentifier,
      principalIdentifier: s.principalIdentifier,
      ...(s.ipAddress ? { ipAddress: s.ipAddress } : {}),
      versionNumber: s.versionNumber,
      clientInitiatedDisconnect: clientInitiated,
      disconnectReason: reason,
    });
  };

  const subscriptionEvent = (client: Client | null, eventType: SubscriptionEventType, topics: string[]) => {
    // aedes also reports the subscriptions of its own internal clients, which have no connection.
    const s = client ? sessions.get(client) : undefined;
    if (client === null || s === undefined || topics.length === 0) return;
    deliver({
      clientId: client.id,
      timestamp: now(),
      eventType,
      sessionIdentifier: s.sessionIdentifier,
      principalIdentifier: s.principalIdentifier,
      topics,
    });
  };

  const onSubscribe = (subscriptions: Subscription[], client: Client | null) =>
    subscriptionEvent(client, 'subscribed', subscriptions.filter((sub) => (sub.qos as number) !== SUBACK_FAILURE).map((sub) => sub.topic));

  const onUnsubscribe = (topics: string[], client: Client | null) => subscriptionEvent(client, 'unsubscribed', [...topics]);

  const onKeepaliveTimeout = (client: Client) => {
    keepaliveTimedOut.add(client);
  };

  broker.on('client', onClient);
  broker.on('clientDisconnect', onClientDisconnect);
  broker.on('keepaliveTimeout', onKeepaliveTimeout);
  if (options.subscriptionEvents === true) {
    broker.on('subscribe', onSubscribe);
    broker.on('unsubscribe', onUnsubscribe);
  }

  return {
    events,
    idle: async () => {
      // The chain may grow while we wait: wait until it stops growing.
      let seen: Promise<void> | undefined;
      while (seen !== chain) {
        seen = chain;
        await seen;
      }
    },
    detach: () => {
      broker.removeListener('client', onClient);
      broker.removeListener('clientDisconnect', onClientDisconnect);
      broker.removeListener('keepaliveTimeout', onKeepaliveTimeout);
      broker.removeListener('subscribe', onSubscribe);
      broker.removeListener('unsubscribe', onUnsubscribe);
    },
  };
}

/**
 * The record Lambda sends to an asynchronous invocation's on-failure destination (AWS Lambda
 * developer guide, "Capturing records of Lambda asynchronous invocations"; for SQS it is the
 * message body). `responsePayload` is what the Node.js runtime answers for a thrown error.
 */
export interface AsyncInvocationFailureRecord {
  version: '1.0';
  /** ISO-8601, when the record was made. */
  timestamp: string;
  requestContext: {
    requestId: string;
    /** The function ARN with the version invoked: `…:$LATEST`. */
    functionArn: string;
    condition: 'RetriesExhausted';
    approximateInvokeCount: number;
  };
  requestPayload: unknown;
  responseContext: { statusCode: 200; executedVersion: '$LATEST'; functionError: 'Unhandled' };
  responsePayload: { errorType: string; errorMessage: string; trace: string[] };
}

export interface AsyncInvokerOptions {
  /** The function's unqualified ARN. */
  functionArn: string;
  /**
   * Retries after the first failed attempt.
   *
   * @default 2, Lambda's default and maximum (MaximumRetryAttempts)
   */
  retryAttempts?: number;
  /**
   * The wait before each retry (the last value repeats).
   *
   * @default [1000, 2000]: Lambda's one and two minutes, 60 times faster
   */
  retryDelaysMs?: readonly number[];
  /** Where a record goes once the retries are exhausted (the on-failure destination). */
  onFailure: (record: AsyncInvocationFailureRecord) => unknown;
  /** Each failed attempt, and a destination that failed too. Default: nothing. */
  log?: (message: string) => void;
  /** Clock, ms since the epoch. Default Date.now. */
  now?: () => number;
}

export interface AsyncInvoker<E> {
  /**
   * Runs the first attempt and resolves when it is done, whatever its outcome: the caller (the
   * IoT rule) only hands the event over. Retries run later, off the caller's path, as on Lambda.
   */
  invoke(event: E): Promise<void>;
  /** Resolves when every retry and destination send scheduled so far has finished. */
  idle(): Promise<void>;
  /** Cancels the retries not yet run (logged): the runtime is shutting down. */
  stop(): void;
}

const failureRecord = (
  event: unknown,
  error: unknown,
  context: { requestId: string; functionArn: string; attempts: number; now: number },
): AsyncInvocationFailureRecord => {
  const err = error instanceof Error ? error : new Error(String(error));
  return {
    version: '1.0',
    timestamp: new Date(context.now).toISOString(),
    requestContext: {
      requestId: context.requestId,
      functionArn: `${context.functionArn}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: context.attempts,
    },
    requestPayload: event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType: err.name, errorMessage: err.message, trace: (err.stack ?? `${err.name}: ${err.message}`).split('\n') },
  };
};

/** A Lambda handler invoked the way Lambda runs an asynchronous invocation: retried on error, then kept. */
export const createAsyncInvoker = <E>(handler: (event: E) => unknown, options: AsyncInvokerOptions): AsyncInvoker<E> => {
  const retryAttempts = options.retryAttempts ?? 2;
  const delays = options.retryDelaysMs ?? [1000, 2000];
  const log = options.log ?? (() => undefined);
  const now = options.now ?? Date.now;
  const pending = new Set<Promise<void>>();
  const timers = new Map<NodeJS.Timeout, () => void>();
  let stopped = false;

  const wait = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve(true);
      }, ms);
      timers.set(timer, () => resolve(false));
    });

  const attempt = async (event: E, requestId: string, number: number): Promise<unknown> => {
    try {
      await handler(event);
      return undefined;
    } catch (error) {
      log(`${options.functionArn} attempt ${number} of request ${requestId} failed: ${(error as Error).name}: ${(error as Error).message}`);
      return error ?? new Error('undefined was thrown');
    }
  };

  const retry = async (event: E, requestId: string, firstError: unknown): Promise<void> => {
    let error = firstError;
    let attempts = 1;
    for (let retried = 0; retried < retryAttempts && error !== undefined; retried += 1) {
      if (!(await wait(delays[Math.min(retried, delays.length - 1)] ?? 0))) {
        log(`${options.functionArn}: request ${requestId} not retried, the runtime is stopping`);
        return;
      }
      attempts += 1;
      error = await attempt(event, requestId, attempts);
    }
    if (error === undefined) return;
    try {
      await options.onFailure(failureRecord(event, error, { requestId, functionArn: options.functionArn, attempts, now: now() }));
    } catch (destinationError) {
      log(`${options.functionArn}: request ${requestId} could not be sent to its on-failure destination: ${(destinationError as Error).message}`);
    }
  };

  return {
    invoke: async (event) => {
      const requestId = randomUUID();
      const error = await attempt(event, requestId, 1);
      if (error === undefined) return;
      if (stopped) {
        log(`${options.functionArn}: request ${requestId} not retried, the runtime is stopping`);
        return;
      }
      const retrying = retry(event, requestId, error).finally(() => pending.delete(retrying));
      pending.add(retrying);
    },
    idle: async () => {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    stop: () => {
      stopped = true;
      for (const [timer, cancel] of timers) {
        clearTimeout(timer);
        cancel();
      }
      timers.clear();
    },
  };
};
