import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { IOT_AUTHORIZER_QUERY_PARAMETER, IOT_TOKEN_QUERY_PARAMETER } from '../../contracts/agent-access';
import type { NotificationEnvelope } from '../../contracts/envelope';
import { pushTopicOf } from '../../contracts/push-topic';
import { authorizerWebSocketUrl } from '../../client/iot-authorizer-url';
import { seededDevice } from '../../local/runtime/seed';
import type { LocalStack } from '../../local/runtime/stack';

/**
 * Devices on the local broker as the stack's IoT authorizer wants them: a token minted for the
 * agent, over WebSocket in the URL's query string (as browsers connect) or over TCP in the MQTT
 * username (`?x-amz-customauthorizer-name=…&token=…`).
 */

export type Transport = 'websocket' | 'tcp';

/** The MQTT username that carries the authorizer's query string over TCP. */
export const tcpUsernameOf = (stack: LocalStack, token: string): string =>
  `?${new URLSearchParams({ [IOT_AUTHORIZER_QUERY_PARAMETER]: stack.config.authorizerName, [IOT_TOKEN_QUERY_PARAMETER]: token })}`;

/** Where and how a client id connects with `token` (no token: the bare URL, no username). */
export const connectOptionsOf = (stack: LocalStack, transport: Transport, clientId: string, token?: string): { url: string; options: IClientOptions } => {
  const options: IClientOptions = { clientId, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4 };
  if (transport === 'websocket') {
    const url = token === undefined ? stack.endpoints.mqttWs : authorizerWebSocketUrl({ endpoint: stack.endpoints.mqttWs, authorizerName: stack.config.authorizerName }, token);
    return { url, options };
  }
  return { url: stack.endpoints.mqtt, options: token === undefined ? options : { ...options, username: tcpUsernameOf(stack, token) } };
};

export type ConnectOutcome = { connected: true; client: MqttClient } | { connected: false; returnCode: number | undefined; message: string };

/** Connects, and says whether the broker accepted (CONNACK 0) or refused (its return code). */
export const tryConnect = (stack: LocalStack, transport: Transport, clientId: string, token?: string): Promise<ConnectOutcome> =>
  new Promise((resolve) => {
    const { url, options } = connectOptionsOf(stack, transport, clientId, token);
    const client = mqtt.connect(url, options);
    client.once('connect', () => resolve({ connected: true, client }));
    client.once('error', (error: Error & { code?: number }) => {
      client.end(true);
      resolve({ connected: false, returnCode: typeof error.code === 'number' ? error.code : undefined, message: error.message });
    });
  });

/** The QoS the broker granted to `filter` (128: refused), from the SUBACK, which MQTT.js rejects on a refusal. */
export const subscribeGranted = async (client: MqttClient, filter: string): Promise<number[]> => {
  try {
    return (await client.subscribeAsync(filter, { qos: 1 })).map((g) => g.qos);
  } catch (error) {
    const granted = (error as { packet?: { granted?: (number | { qos: number })[] } }).packet?.granted;
    if (granted === undefined) throw error;
    return granted.map((g) => (typeof g === 'number' ? g : g.qos));
  }
};

export interface OnlineDevice {
  clientId: string;
  agentId: string;
  label: string;
  mqtt: MqttClient;
  /** Every notification pushed to the device, in order. */
  received: NotificationEnvelope[];
  close(): Promise<void>;
}

/**
 * The seeded device `label` of `agentId`, connected with a fresh token and subscribed to its push
 * topic; resolves once the stack has recorded it online.
 */
export const connectSeededDevice = async (stack: LocalStack, agentId: string, label: string, transport: Transport = 'websocket'): Promise<OnlineDevice> => {
  const { clientId } = seededDevice(stack.seed, agentId, label);
  const { token } = await stack.tokens.mint(agentId);
  const outcome = await tryConnect(stack, transport, clientId, token);
  if (!outcome.connected) throw new Error(`${agentId}'s ${label} (${clientId}) was refused: ${outcome.message}`);
  const client = outcome.client;
  const received: NotificationEnvelope[] = [];
  client.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString()) as NotificationEnvelope));
  const granted = await subscribeGranted(client, pushTopicOf(clientId));
  if (granted.some((qos) => qos === 128)) throw new Error(`${clientId} could not subscribe to ${pushTopicOf(clientId)}`);
  await stack.settle();
  return { clientId, agentId, label, mqtt: client, received, close: () => client.endAsync(true) };
};
