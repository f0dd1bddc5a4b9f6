/**
 * The AgentCRM client (the package's main entry and its browser bundle): the agent API with the
 * sign-in token, MQTT over WebSocket through the IoT custom authorizer, durable state, tabs, OS
 * notifications, the fold. No AWS SDK and no AWS credentials: browsers never hold any. The direct
 * SQS / DynamoDB paths for trusted server-side consumers are the `aws` entry; a file storage for
 * Node is the `node` entry.
 */
export {
  AgentClient,
  backoffDelay,
  notifyTopic,
  type AgentClientEvents,
  type AgentClientOptions,
  type BrokerEndpoint,
  type PresenceEvent,
  type PresenceState,
  type ReconnectOptions,
} from './agent-client';
export { AgentApi, type AgentApiOptions } from './api';
export { ApiInbox, type ApiInboxOptions } from './api-inbox';
export { ClaimInputSchema, type ClaimInput, type ClaimResult, type Claimer } from './claim-types';
export { agentApiOf, deviceClient, openAgentDevice, resolveDevice, type AgentDevice, type AgentDeviceOptions } from './device';
export { emptyDrainResult, type DrainHandlers, type DrainResult, type InboxReader } from './drain';
export { TypedEmitter, type Listener } from './emitter';
export {
  AgentApiError,
  ConnectionError,
  InboxDeleteError,
  InboxUnavailableError,
  InvalidClientOptionsError,
  InvalidNotificationError,
  NotAuthorizedError,
  StoreError,
  SubscribeError,
  TokenProviderError,
} from './errors';
export {
  allMessages,
  canonicalState,
  emptyState,
  fold,
  foldAll,
  getMessage,
  isNew,
  newMessages,
  type InboxState,
  type MessageEntry,
  type MessageView,
} from './fold';
export { IndexedDbStorage, type IndexedDbStorageOptions } from './indexeddb-store';
export { authorizerWebSocketUrl, type AuthorizerUrlOptions } from './iot-authorizer-url';
export {
  attachOsNotifications,
  notificationTagOf,
  requestOsNotifications,
  type MessageEvents,
  type NotificationConstructorLike,
  type NotificationLike,
  type OsNotificationOptions,
} from './os-notifications';
export { parseNotification, type ParseResult } from './parse';
export { changedEntries, DEFAULT_RETENTION_MS, MemoryStorage, SnapshotStorage, type ClientStorage, type NotificationStore, type StorageSnapshot, type StoreScope } from './store';
export { lockNameOf, SharedAgentDevice, type BroadcastChannelLike, type LockManagerLike, type SharedAgentDeviceEvents, type SharedAgentDeviceOptions, type TabRole } from './tabs';
export { TokenSource, tokenExpiry, type CurrentToken, type TokenProvider, type TokenSourceOptions } from './token';
export { NotificationEnvelopeSchema, type NotificationEnvelope } from '../contracts/envelope';
export { inboxQueueName } from '../contracts/naming';
