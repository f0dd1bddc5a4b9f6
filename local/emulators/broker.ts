import type Aedes from 'aedes';
import { createBroker, type AuthenticateError, type Client } from 'aedes';
import type { IoTCustomAuthorizerEvent } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { PUSH_TOPIC_PREFIX, pushTopicOf } from '../../contracts/push-topic';
import { PortInUseError } from './listen';

/**
 * The embedded MQTT broker standing in for AWS IoT Core: MQTT over TCP for Node clients and over
 * WebSocket (path `/mqtt`) for dashboards. Devices never publish notifications themselves: only
 * the data-plane endpoint does, in-process, through `publish` (trusted, as AWS IoT's own
 * `Publish` API is).
 *
 * With an `authorize` function (the IoT custom authorizer; the local stack passes
 * `tasks/iot-authorizer/handler.ts`), every client connection is authorized as AWS IoT does it:
 *  - the authorizer gets the AWS IoT event of the connection: over WebSocket the query string of
 *    the upgrade URL (`/mqtt?x-amz-customauthorizer-name=<name>&token=<JWT>`); over TCP, which has
 *    no URL, the same query string carried in the MQTT username (`?x-amz-customauthorizer-name=…&token=…`,
 *    the part from `?`), handed over as `protocolData.http.queryString` too;
 *  - CONNECT is refused (CONNACK 5, not authorized) unless it answers `isAuthenticated` with an
 *    allowed `iot:Connect` on `client/<clientId>`; a refused client is never registered, so it
 *    produces no lifecycle event and cannot take over the client id of a connected device;
 *  - the policy stays with the connection: SUBSCRIBE is granted only for topic filters equal to a
 *    `topicfilter/<filter>` resource of an allowed `iot:Subscribe` (anything else, `#` and `+`
 *    included, gets SUBACK 0x80), PUBLISH needs an allowed `iot:Publish` on `topic/<topic>`, and a
 *    message is forwarded only on topics of an allowed `iot:Receive` (`topic/<topic>`);
 *  - the connection is closed after `disconnectAfterInSeconds`.
 * Resources are compared exactly (the authorizer issues no wildcards). Without `authorize` (unit
 * tests of the client), any client may connect and subscribe only to its own `notify/<clientId>`.
 */

/** One statement of an IoT policy document, as a custom authorizer returns it. */
export interface IotPolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
}

/** What the broker needs of a custom authorizer's answer. */
export interface BrokerAuthorization {
  isAuthenticated: boolean;
  principalId?: string;
  policyDocuments: { Statement: IotPolicyStatement[] }[];
  disconnectAfterInSeconds?: number;
}

export type BrokerAuthorizer = (event: IoTCustomAuthorizerEvent) => Promise<BrokerAuthorization>;

/** A connection the broker refused, and why (the authorizer's own reason is in its log). */
export interface RefusedConnection {
  clientId: string;
  connectionId: string;
  transport: 'websocket' | 'tcp';
  reason: string;
}

export interface BrokerOptions {
  /** @default 0 (any free port) */
  tcpPort?: number;
  /** @default 0 (any free port) */
  wsPort?: number;
  /** The IoT custom authorizer of every client connection. @default none: no authorization */
  authorize?: BrokerAuthorizer;
  /** Each refused connection. */
  onRefused?: (refused: RefusedConnection) => void;
}

export interface LocalBroker {
  aedes: Aedes;
  tcpPort: number;
  wsPort: number;
  tcpUrl: string;
  wsUrl: string;
  publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
  /** Ends a client's connection from the server side, as a network drop would. */
  dropClient(clientId: string): boolean;
  close(): Promise<void>;
}

const listenOn = (server: TcpServer | HttpServer, port: number, what: string): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port, what) : err),
    );
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

/** The resources of the allowed statements for `action`, without their `arn:…:iot:<region>:<account>:` part. */
const allowedResources = (authorization: BrokerAuthorization, action: string): Set<string> => {
  const resources = new Set<string>();
  for (const document of authorization.policyDocuments) {
    for (const statement of document.Statement ?? []) {
      const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
      if (statement.Effect !== 'Allow' || !actions.includes(action)) continue;
      for (const resource of Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]) {
        // arn:<partition>:iot:<region>:<account>:<type>/<name>; the name may hold ':'.
        const parts = resource.split(':');
        if (parts.length >= 6 && parts[0] === 'arn' && parts[2] === 'iot') resources.add(parts.slice(5).join(':'));
      }
    }
  }
  return resources;
};

/** A connection's policy, reduced to what the broker checks. */
interface ConnectionPolicy {
  subscribe: Set<string>;
  publish: Set<string>;
  receive: Set<string>;
  disconnectTimer?: NodeJS.Timeout;
}

const NOT_AUTHORIZED = 5 as AuthenticateError['returnCode'];

const notAuthorized = (reason: string): AuthenticateError => Object.assign(new Error(`not authorized: ${reason}`), { returnCode: NOT_AUTHORIZED });

/** The upgrade request's headers as AWS IoT hands them over: single strings (none over TCP). */
const headersOf = (headers: Record<string, string | string[] | undefined> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(headers ?? {}).flatMap(([name, value]) => (value === undefined ? [] : [[name, Array.isArray(value) ? value.join(',') : value]])));

/** The part of `text` after its first `?`, or '' without one. */
const queryStringOf = (text: string | undefined): string => {
  const at = text?.indexOf('?') ?? -1;
  return at < 0 ? '' : text!.slice(at + 1);
};

export const startBroker = async (options: BrokerOptions = {}): Promise<LocalBroker> => {
  const aedes = createBroker();
  const authorize = options.authorize;
  const policies = new WeakMap<Client, ConnectionPolicy>();
  const timers = new Set<NodeJS.Timeout>();

  if (authorize) {
    aedes.authenticate = (client, username, _password, done) => {
      const transport = client.req === undefined ? 'tcp' : 'websocket';
      const connectionId = randomUUID();
      const clientId = client.id;
      const queryString = transport === 'websocket' ? queryStringOf(client.req?.url) : queryStringOf(username);
      const refuse = (reason: string) => {
        options.onRefused?.({ clientId, connectionId, transport, reason });
        done(notAuthorized(reason), false);
      };
      const event: IoTCustomAuthorizerEvent = {
        signatureVerified: false,
        protocols: transport === 'websocket' ? ['tls', 'http', 'mqtt'] : ['tls', 'mqtt'],
        protocolData: {
          tls: { serverName: '127.0.0.1' },
          http: { headers: headersOf(client.req?.headers), queryString },
          mqtt: { clientId, ...(username === undefined ? {} : { username }) },
        },
        connectionMetadata: { id: connectionId },
      };
      authorize(event).then(
        (authorization) => {
          if (!authorization.isAuthenticated) return refuse('the authorizer did not authenticate the connection');
          if (!allowedResources(authorization, 'iot:Connect').has(`client/${clientId}`)) return refuse(`the policy allows no iot:Connect as client/${clientId}`);
          const policy: ConnectionPolicy = {
            subscribe: allowedResources(authorization, 'iot:Subscribe'),
            publish: allowedResources(authorization, 'iot:Publish'),
            receive: allowedResources(authorization, 'iot:Receive'),
          };
          const seconds = authorization.disconnectAfterInSeconds;
          if (seconds !== undefined && Number.isFinite(seconds)) {
            const timer = setTimeout(() => {
              timers.delete(timer);
              client.close();
            }, seconds * 1000);
            timer.unref();
            timers.add(timer);
            policy.disconnectTimer = timer;
          }
          policies.set(client, policy);
          done(null, true);
        },
        (error: unknown) => refuse(`the authorizer failed: ${(error as Error)?.message ?? String(error)}`),
      );
    };
    aedes.on('clientDisconnect', (client) => {
      const timer = policies.get(client)?.disconnectTimer;
      if (timer !== undefined) {
        clearTimeout(timer);
        timers.delete(timer);
      }
      policies.delete(client);
    });
    aedes.authorizeSubscribe = (client: Client, sub, callback) => {
      // null: SUBACK 0x80 for this filter, the connection stays.
      callback(null, policies.get(client)?.subscribe.has(`topicfilter/${sub.topic}`) ? sub : null);
    };
    aedes.authorizePublish = (client, packet, callback) => {
      // The in-process publisher (client null) is the IoT data plane: trusted.
      if (client && !policies.get(client)?.publish.has(`topic/${packet.topic}`)) {
        callback(new Error(`client ${client.id} may not publish to ${packet.topic}`));
        return;
      }
      callback(null);
    };
    aedes.authorizeForward = (client, packet) => (policies.get(client)?.receive.has(`topic/${packet.topic}`) ? packet : null);
  } else {
    aedes.authorizeSubscribe = (client: Client, sub, callback) => {
      if (sub.topic !== pushTopicOf(client.id)) {
        callback(new Error(`client ${client.id} may subscribe only to ${pushTopicOf(client.id)}, not ${sub.topic}`), null);
        return;
      }
      callback(null, sub);
    };
    aedes.authorizePublish = (client, packet, callback) => {
      if (client && (packet.topic.startsWith(PUSH_TOPIC_PREFIX) || packet.topic.startsWith('$'))) {
        callback(new Error(`client ${client.id} may not publish to ${packet.topic}`));
        return;
      }
      callback(null);
    };
  }

  const tcp = createTcpServer(aedes.handle);
  const http = createHttpServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('MQTT over WebSocket only');
  });
  const wss = new WebSocketServer({ server: http, path: '/mqtt' });
  wss.on('connection', (socket, req) => {
    aedes.handle(createWebSocketStream(socket) as never, req as never);
  });

  const tcpPort = await listenOn(tcp, options.tcpPort ?? 0, 'MQTT over TCP');
  const wsPort = await listenOn(http, options.wsPort ?? 0, 'MQTT over WebSocket');

  return {
    aedes,
    tcpPort,
    wsPort,
    tcpUrl: `mqtt://127.0.0.1:${tcpPort}`,
    wsUrl: `ws://127.0.0.1:${wsPort}/mqtt`,
    publish: (topic, payload, qos) =>
      new Promise((resolve, reject) =>
        aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (err?: Error) =>
          err ? reject(err) : resolve(),
        ),
      ),
    dropClient: (clientId) => {
      const client = (aedes as unknown as { clients: Record<string, { conn: { destroy(): void } }> }).clients[clientId];
      if (!client) return false;
      client.conn.destroy();
      return true;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
};
