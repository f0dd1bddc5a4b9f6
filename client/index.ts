/**
 * The AgentCRM client library: presence and push over MQTT, inbox catch-up from SQS, the fold,
 * and claim. Works in Node and in a browser bundle (see `client/build.ts`).
 */
export {
  AgentClient,
  backoffDelay,
  notifyTopic,
  type AgentClientEvents,
  type AgentClientOptions,
  type PresenceEvent,
  type PresenceState,
  type ReconnectOptions,
} from './agent-client';
export {
  awsIotUrlProvider,
  createAwsIotWebSocketUrl,
  IOT_SIGNING_SERVICE,
  IOT_WEBSOCKET_PATH,
  type AwsCredentials,
  type AwsCredentialsProvider,
  type AwsIotUrlOptions,
} from './aws-iot-url';
export { claimMessage, claimUpdateInput, ClaimInputSchema, type ClaimInput, type ClaimOptions, type ClaimResult } from './claim';
export { TypedEmitter, type Listener } from './emitter';
export {
  ClaimFailedError,
  ConnectionError,
  InboxDeleteError,
  InboxUnavailableError,
  InvalidClaimInputError,
  InvalidClientOptionsError,
  InvalidNotificationError,
  IotUrlSigningError,
  MessageNotFoundError,
  SubscribeError,
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
export { Inbox, type DrainHandlers, type DrainResult, type InboxOptions } from './inbox';
export { parseNotification, type ParseResult } from './parse';
export { NotificationEnvelopeSchema, type NotificationEnvelope } from '../contracts/envelope';
export { inboxQueueName } from '../contracts/naming';
