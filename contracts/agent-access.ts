import { Sha256 } from '@aws-crypto/sha256-js';
import { z } from 'zod';
import { ConversationIdSchema, MessageIdSchema } from './envelope';

/**
 * What the agent API, the IoT custom authorizer and the AgentCRM client share about agent access
 * (docs/access.md): the device client id format and its ownership check, the MQTT topic of a device,
 * the API's routes and their request / response schemas.
 *
 * Imports nothing from infra/, local/ or test/, and nothing Node-only: browsers import it too.
 */

/**
 * Client id: `<owner>-<nonce>`, 16 + 1 + 16 lowercase hex characters.
 * - `owner` is the first 64 bits of SHA-256 over a domain tag and the owner's agent id, so the IoT
 *   authorizer can tell from the verified token alone whether a client id belongs to the caller,
 *   without a database round trip on its 5-second hot path.
 * - `nonce` is 64 random bits chosen by the register route, never by the caller.
 * 33 characters of `[0-9a-f-]`: a valid MQTT client id, a topic segment without wildcards, and it
 * fits `<prefix>-inbox-<clientId>.fifo` in 80 characters for every allowed prefix (32 characters).
 */
export const CLIENT_ID_OWNER_HEX = 16;
export const CLIENT_ID_NONCE_HEX = 16;
export const CLIENT_ID_LENGTH = CLIENT_ID_OWNER_HEX + 1 + CLIENT_ID_NONCE_HEX;
export const ISSUED_CLIENT_ID_PATTERN = new RegExp(`^([0-9a-f]{${CLIENT_ID_OWNER_HEX}})-([0-9a-f]{${CLIENT_ID_NONCE_HEX}})$`);

const OWNER_HASH_DOMAIN = 'convo-notify/device-owner/v1:';
const utf8 = new TextEncoder();

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** The owner part of every client id issued to `agentId`. */
export const ownerHashOf = (agentId: string): string => {
  const hash = new Sha256();
  hash.update(utf8.encode(`${OWNER_HASH_DOMAIN}${agentId}`));
  return hex(hash.digestSync()).slice(0, CLIENT_ID_OWNER_HEX);
};

/** A new client id for `agentId`; `randomBytes` must return cryptographically random bytes. */
export const issueClientId = (agentId: string, randomBytes: (length: number) => Uint8Array): string => {
  const nonce = randomBytes(CLIENT_ID_NONCE_HEX / 2);
  if (nonce.length !== CLIENT_ID_NONCE_HEX / 2) throw new Error('randomBytes returned the wrong number of bytes');
  return `${ownerHashOf(agentId)}-${hex(nonce)}`;
};

export type ClientIdCheck = { ok: true; ownerHash: string } | { ok: false; problem: string };

/** Whether `clientId` has the issued format; the problem names what is wrong. Cheap: no hashing. */
export const parseClientId = (clientId: unknown): ClientIdCheck => {
  if (typeof clientId !== 'string' || clientId.length === 0) return { ok: false, problem: 'client id is missing' };
  if (clientId.length !== CLIENT_ID_LENGTH) return { ok: false, problem: `client id must be ${CLIENT_ID_LENGTH} characters, got ${clientId.length}` };
  const match = ISSUED_CLIENT_ID_PATTERN.exec(clientId);
  if (match === null) return { ok: false, problem: 'client id must be <16 hex>-<16 hex> as issued by the register route' };
  return { ok: true, ownerHash: match[1] };
};

/** Whether `clientId` is an issued client id of `agentId`. */
export const isClientIdOf = (clientId: string, agentId: string): boolean => {
  const parsed = parseClientId(clientId);
  return parsed.ok && parsed.ownerHash === ownerHashOf(agentId);
};

/**
 * AWS IoT custom authorizers must answer a principalId of 1-128 characters of `[a-zA-Z0-9]`:
 * the client id without its separator.
 */
export const iotPrincipalIdOf = (clientId: string): string => clientId.replace('-', '');

/** The query string parameter of the MQTT-over-WebSocket URL that carries the agent's JWT. */
export const IOT_TOKEN_QUERY_PARAMETER = 'token';
/** The query string parameter naming the custom authorizer (AWS IoT's own name). */
export const IOT_AUTHORIZER_QUERY_PARAMETER = 'x-amz-customauthorizer-name';

/**
 * AWS IoT accepts `refreshAfterInSeconds` and `disconnectAfterInSeconds` from 300 to 86,400 s, so a
 * token with less than 5 minutes left cannot open a connection: the client refreshes it first.
 */
export const IOT_SESSION_MIN_SECONDS = 300;
export const IOT_SESSION_MAX_SECONDS = 86_400;

/** The agent API's routes (API Gateway HTTP API route keys) and their paths. */
export const AGENT_API_ROUTES = {
  registerDevice: { method: 'POST', path: '/devices' },
  listDevices: { method: 'GET', path: '/devices' },
  unregisterDevice: { method: 'DELETE', path: '/devices/{clientId}' },
  readInbox: { method: 'GET', path: '/devices/{clientId}/inbox' },
  ackInbox: { method: 'POST', path: '/devices/{clientId}/inbox/ack' },
  claim: { method: 'POST', path: '/claims' },
} as const;
export type AgentApiRoute = keyof typeof AGENT_API_ROUTES;
export const routeKeyOf = (route: AgentApiRoute): string => `${AGENT_API_ROUTES[route].method} ${AGENT_API_ROUTES[route].path}`;

/** An agent keeps at most this many active devices; registering one more is refused (409). */
export const MAX_ACTIVE_DEVICES_PER_AGENT = 20;
/** How long the inbox route waits for messages: a drain on (re)connect, never a held long poll. */
export const INBOX_WAIT_SECONDS = 2;
/** SQS returns at most 10 messages per receive and deletes at most 10 per batch. */
export const INBOX_BATCH_MAX = 10;
/**
 * Inbox retention when the stack's `inboxRetentionDays` is not set: a notification cannot come back
 * from the inbox later than this after it was sent, so the client may forget it after that too.
 */
export const DEFAULT_INBOX_RETENTION_DAYS = 4;
/** How long a received inbox message stays invisible to other reads before it must be acked. */
export const INBOX_VISIBILITY_SECONDS = 60;

export const DeviceLabelSchema = z
  .string()
  .min(1)
  .max(64)
  .refine((label) => ![...label].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f), 'must not contain control characters');

export const RegisterDeviceRequestSchema = z.strictObject({ label: DeviceLabelSchema.optional() });
export type RegisterDeviceRequest = z.infer<typeof RegisterDeviceRequestSchema>;

const isoTimestamp = z.iso.datetime({ offset: true });

export const DeviceViewSchema = z.object({
  clientId: z.string(),
  label: z.string().nullable(),
  active: z.boolean(),
  registeredAt: isoTimestamp,
  lastSeenAt: isoTimestamp,
});
export type DeviceView = z.infer<typeof DeviceViewSchema>;

export const RegisterDeviceResponseSchema = DeviceViewSchema.extend({ notifyTopic: z.string() });
export type RegisterDeviceResponse = z.infer<typeof RegisterDeviceResponseSchema>;

export const ListDevicesResponseSchema = z.object({ devices: z.array(DeviceViewSchema) });
export type ListDevicesResponse = z.infer<typeof ListDevicesResponseSchema>;

export const ClientIdPathSchema = z.object({
  clientId: z.string().superRefine((value, ctx) => {
    const parsed = parseClientId(value);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.problem });
  }),
});

export const InboxMessageSchema = z.object({
  /** SQS message id. */
  messageId: z.string(),
  /** What the ack route takes back once the client has stored the notification. */
  receiptHandle: z.string(),
  /** The notification envelope as JSON text, exactly as the workflow sent it. */
  body: z.string(),
});
export const ReadInboxResponseSchema = z.object({ messages: z.array(InboxMessageSchema) });
export type ReadInboxResponse = z.infer<typeof ReadInboxResponseSchema>;

export const AckInboxRequestSchema = z.strictObject({
  receiptHandles: z.array(z.string().min(1).max(1024)).min(1).max(INBOX_BATCH_MAX),
});
export type AckInboxRequest = z.infer<typeof AckInboxRequestSchema>;
export const AckInboxResponseSchema = z.object({
  deleted: z.number().int(),
  failed: z.array(z.object({ receiptHandle: z.string(), code: z.string() })),
});
export type AckInboxResponse = z.infer<typeof AckInboxResponseSchema>;

export const ClaimRequestSchema = z.strictObject({ conversationId: ConversationIdSchema, messageId: MessageIdSchema });
export type ClaimRequest = z.infer<typeof ClaimRequestSchema>;

/** A lost claim says who won and when, and nothing else of the message. */
export const ClaimResponseSchema = z.union([
  z.strictObject({ won: z.literal(true), handledBy: z.string(), handledAt: isoTimestamp, alreadyYours: z.literal(true).optional() }),
  z.strictObject({ won: z.literal(false), handledBy: z.string(), handledAt: isoTimestamp.nullable() }),
]);
export type ClaimResponse = z.infer<typeof ClaimResponseSchema>;

/** Every 4xx/5xx body of the agent API: a stable code and a message naming what was wrong. */
export const ApiErrorSchema = z.object({ error: z.string(), message: z.string() });
export type ApiError = z.infer<typeof ApiErrorSchema>;
