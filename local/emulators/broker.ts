import type Aedes from 'aedes';
import { createBroker, type Client } from 'aedes';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { PUSH_TOPIC_PREFIX, pushTopicOf } from '../../contracts/push-topic';
import { PortInUseError } from './listen';

/**
 * The embedded MQTT broker standing in for AWS IoT Core: MQTT over TCP for Node clients and over
 * WebSocket (path `/mqtt`) for dashboards. It enforces what the stack's IoT policy enforces: a
 * client may subscribe only to its own `notify/<clientId>` topic, and devices cannot publish
 * notifications themselves (only the data-plane endpoint does, through `publish`).
 */

export interface BrokerOptions {
  /** @default 0 (any free port) */
  tcpPort?: number;
  /** @default 0 (any free port) */
  wsPort?: number;
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

export const startBroker = async (options: BrokerOptions = {}): Promise<LocalBroker> => {
  const aedes = createBroker();

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
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
};
