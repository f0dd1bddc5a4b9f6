import type Aedes from 'aedes';
import type { Client } from 'aedes';
import { randomUUID } from 'node:crypto';

/**
 * Turns an aedes broker's connect/disconnect events into AWS IoT lifecycle events
 * (`$aws/events/presence/connected|disconnected/<clientId>`, AWS IoT developer guide "Lifecycle
 * events"), so that the local runtime feeds `record-presence` the way the IoT topic rule does.
 *
 * - `connected` on aedes `client` (the client is registered: CONNECT accepted);
 *   `disconnected` on aedes `clientDisconnect`.
 * - `versionNumber` identifies a connection: each new connection of a client id gets a larger one,
 *   and its disconnect event carries the same one (as in AWS IoT). It starts at `versionBase`
 *   (default: the time the adapter was created, in ms) so that versions keep growing across
 *   restarts of the local runtime, whose PRESENCE table may persist.
 * - `sessionIdentifier` is a fresh id per connection; `principalIdentifier` comes from the option
 *   (default `local`); `ipAddress` from the socket when known.
 * - `disconnectReason`: `CLIENT_INITIATED_DISCONNECT` after an MQTT DISCONNECT packet,
 *   `MQTT_KEEP_ALIVE_TIMEOUT` after aedes reported a keep-alive timeout,
 *   `SERVER_INITIATED_DISCONNECT` while the broker closes, `CONNECTION_LOST` otherwise.
 *   (`DUPLICATE_CLIENTID` is not told apart: aedes closes the old connection before it announces
 *   the new one, and the old one then shows as `CONNECTION_LOST`.)
 *
 * Events go to `sink` one at a time, in broker order; a sink failure is reported to `onError` and
 * does not stop later events.
 */

export type LifecycleEventType = 'connected' | 'disconnected';

export type DisconnectReason =
  | 'CLIENT_INITIATED_DISCONNECT'
  | 'CONNECTION_LOST'
  | 'MQTT_KEEP_ALIVE_TIMEOUT'
  | 'SERVER_INITIATED_DISCONNECT';

export interface IotLifecycleEvent {
  clientId: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
  eventType: LifecycleEventType;
  sessionIdentifier: string;
  principalIdentifier: string;
  ipAddress?: string;
  versionNumber: number;
  /** Disconnect events only. */
  clientInitiatedDisconnect?: boolean;
  /** Disconnect events only. */
  disconnectReason?: DisconnectReason;
}

export type LifecycleSink = (event: IotLifecycleEvent) => unknown;

export interface LifecycleAdapterOptions {
  /** Clock, ms since the epoch. Default Date.now. */
  now?: () => number;
  /** First version number of each client id. Default: `now()` when the adapter is created. */
  versionBase?: number;
  /** The principal a client connected as. Default `() => 'local'`. */
  principalIdentifier?: (client: Client) => string;
  /** Sink failures. Default: console.error. */
  onError?: (error: unknown, event: IotLifecycleEvent) => void;
}

export interface LifecycleAdapter {
  /** Every event produced so far, in order. */
  readonly events: readonly IotLifecycleEvent[];
  /** Resolves when every event produced so far went through the sink. */
  idle(): Promise<void>;
  /** Stops listening to the broker (events already produced still go to the sink). */
  detach(): void;
}

/** The topic AWS IoT publishes a lifecycle event on. */
export const lifecycleTopic = (event: Pick<IotLifecycleEvent, 'eventType' | 'clientId'>): string =>
  `$aws/events/presence/${event.eventType}/${event.clientId}`;

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

export const attachIotLifecycleEvents = (broker: Aedes, sink: LifecycleSink, options: LifecycleAdapterOptions = {}): LifecycleAdapter => {
  const now = options.now ?? Date.now;
  const versionBase = options.versionBase ?? now();
  const principalOf = options.principalIdentifier ?? (() => 'local');
  const onError =
    options.onError ?? ((error: unknown, event: IotLifecycleEvent) => console.error('lifecycle event sink failed', event, error));

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

  const onKeepaliveTimeout = (client: Client) => {
    keepaliveTimedOut.add(client);
  };

  broker.on('client', onClient);
  broker.on('clientDisconnect', onClientDisconnect);
  broker.on('keepaliveTimeout', onKeepaliveTimeout);

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
    },
  };
};
