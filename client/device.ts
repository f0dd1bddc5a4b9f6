import { IOT_SESSION_MIN_SECONDS } from '../contracts/agent-access';
import { AgentClient, DEFAULT_RENEW_BEFORE_EXPIRY_MS, type AgentClientOptions } from './agent-client';
import { AgentApi } from './api';
import { ApiInbox } from './api-inbox';
import { authorizerWebSocketUrl } from './iot-authorizer-url';
import type { ClientStorage } from './store';
import { TokenSource, type TokenProvider } from './token';

/** Everything a browser needs to be an agent's device, from the stack outputs and the sign-in. */
export interface AgentDeviceOptions {
  /** The stack output `AgentApiUrl`. */
  apiUrl: string;
  /** The AWS IoT data endpoint host, or a `ws(s)://` URL of a local broker. */
  iotEndpoint: string;
  /** The IoT custom authorizer, `<prefix>-agent-jwt`. */
  authorizerName: string;
  /** The signed-in agent's id (the token's agent-id claim, `agents.agent_id`). */
  agentId: string;
  /** Returns the agent's current JWT; called again whenever the cached one is about to expire. */
  getToken: TokenProvider;
  /** Where the device and its state are kept (`IndexedDbStorage` in browsers). */
  storage: ClientStorage;
  /** The label of a newly registered device. */
  label?: string;
  fetch?: typeof fetch;
  /** Passed to the `AgentClient`. */
  client?: Pick<AgentClientOptions, 'reconnect' | 'keepaliveSeconds' | 'connectTimeoutMs' | 'renewBeforeExpiryMs' | 'followUpDrainMs' | 'retentionMs' | 'mqttOptions' | 'now'>;
}

export interface AgentDevice {
  readonly clientId: string;
  readonly api: AgentApi;
  readonly tokens: TokenSource;
  /** Not started: call `client.start()` (or let `SharedAgentDevice` decide which tab does). */
  readonly client: AgentClient;
  /**
   * Sign-out on a shared computer: stops the client, unregisters the device (its inbox goes with
   * it) and wipes the agent's device and state from `storage`.
   */
  signOut(): Promise<void>;
}

/** The token source and the API of a device's options. */
export const agentApiOf = (options: AgentDeviceOptions): { tokens: TokenSource; api: AgentApi } => {
  const tokens = new TokenSource({ getToken: options.getToken, ...(options.client?.now ? { now: options.client.now } : {}) });
  return { tokens, api: new AgentApi({ baseUrl: options.apiUrl, tokens, ...(options.fetch ? { fetch: options.fetch } : {}) }) };
};

/**
 * How long the token a device connects with must still be valid: it must outlive AWS IoT's
 * 5-minute minimum session and the renewal margin, or it is fetched anew.
 */
const connectTokenValidityMs = (renewBeforeExpiryMs: number): number => Math.max(IOT_SESSION_MIN_SECONDS * 1000, renewBeforeExpiryMs) + 60_000;

/**
 * What a device asks of its token to connect with the default renewal margin: the local dev
 * sign-in and issuer size their tokens by it.
 */
export const DEVICE_CONNECT_TOKEN_VALIDITY_MS = connectTokenValidityMs(DEFAULT_RENEW_BEFORE_EXPIRY_MS);

/** The device's `AgentClient` (not started) on the agent API, the authorizer and the storage. */
export const deviceClient = (options: AgentDeviceOptions, api: AgentApi, tokens: TokenSource, clientId: string): AgentClient => {
  const renewBeforeExpiryMs = options.client?.renewBeforeExpiryMs ?? DEFAULT_RENEW_BEFORE_EXPIRY_MS;
  return new AgentClient({
    ...options.client,
    clientId,
    agentId: options.agentId,
    renewBeforeExpiryMs,
    brokerUrl: async () => {
      const { token, expiresAt } = await tokens.get(connectTokenValidityMs(renewBeforeExpiryMs));
      return { url: authorizerWebSocketUrl({ endpoint: options.iotEndpoint, authorizerName: options.authorizerName }, token), expiresAt };
    },
    inbox: new ApiInbox({ api, clientId }),
    claim: (input) => api.claim(input),
    store: options.storage.open({ agentId: options.agentId, clientId }),
  });
};

/** The device this storage registered for the agent, if still active; otherwise a new one. */
export const resolveDevice = async (api: AgentApi, storage: ClientStorage, agentId: string, label?: string): Promise<string> => {
  const known = await storage.getDevice(agentId);
  if (known !== undefined) {
    const devices = await api.listDevices();
    if (devices.some((d) => d.clientId === known && d.active)) return known;
  }
  const registered = await api.registerDevice(label);
  await storage.setDevice(agentId, registered.clientId);
  return registered.clientId;
};

/**
 * Opens the agent's device on the agent API: registers it (once per storage), and builds its
 * `AgentClient` with the API inbox, API claims, the storage's state, and MQTT over WebSocket
 * through the IoT custom authorizer with the sign-in token, renewed before the token expires.
 */
export const openAgentDevice = async (options: AgentDeviceOptions): Promise<AgentDevice> => {
  const { tokens, api } = agentApiOf(options);
  const clientId = await resolveDevice(api, options.storage, options.agentId, options.label);
  const client = deviceClient(options, api, tokens, clientId);
  return {
    clientId,
    api,
    tokens,
    client,
    signOut: async () => {
      await client.stop();
      try {
        await api.unregisterDevice(clientId);
      } finally {
        await options.storage.wipe(options.agentId);
        tokens.invalidate();
      }
    },
  };
};
