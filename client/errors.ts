/**
 * Errors of the AgentCRM client. Each sets `this.name` explicitly, so that `error.name` survives
 * minification of the browser bundle and UIs can switch on it.
 */

/** Options or arguments that can never work (bad client id, missing table name, ...). */
export class InvalidClientOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidClientOptionsError';
  }
}

/** A push payload or an inbox message body that is not a valid notification envelope. */
export class InvalidNotificationError extends Error {
  constructor(
    /** Where it came from. */
    public readonly source: 'push' | 'inbox',
    /** Every problem, as `path: message`. */
    public readonly issues: readonly string[],
    /** The payload as received (UTF-8 text). */
    public readonly raw: string,
    /** The SQS message id, for inbox messages. */
    public readonly sqsMessageId?: string,
  ) {
    super(`invalid notification from ${source}${sqsMessageId ? ` (SQS message ${sqsMessageId})` : ''}: ${issues.join('; ')}`);
    this.name = 'InvalidNotificationError';
  }
}

/** The MQTT connection failed or was refused; the client keeps reconnecting with backoff. */
export class ConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionError';
  }
}

/** The broker refused the subscription to `notify/<clientId>` (e.g. the IoT policy denies it). */
export class SubscribeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SubscribeError';
  }
}

/** Reading the inbox failed (ReceiveMessage or GetQueueUrl); the drain is retried later. */
export class InboxUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InboxUnavailableError';
  }
}

/**
 * Some folded inbox messages could not be deleted. Nothing is lost: SQS delivers them again after
 * the visibility timeout and the fold ignores the duplicates.
 */
export class InboxDeleteError extends Error {
  constructor(
    message: string,
    public readonly failures: readonly { sqsMessageId?: string; code?: string; message?: string }[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InboxDeleteError';
  }
}

/** `claim` was called with ids that cannot be CONVO_HISTORY keys. */
export class InvalidClaimInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidClaimInputError';
  }
}

/** `claim` of a message that is not in CONVO_HISTORY. */
export class MessageNotFoundError extends Error {
  constructor(
    public readonly conversationId: string,
    public readonly messageId: string,
  ) {
    super(`message ${messageId} of conversation ${conversationId} does not exist`);
    this.name = 'MessageNotFoundError';
  }
}

/** The claim could not be decided (throttling, network, permissions): the caller may retry. */
export class ClaimFailedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClaimFailedError';
  }
}

/** The signed AWS IoT WebSocket URL could not be built (bad endpoint, no credentials). */
export class IotUrlSigningError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IotUrlSigningError';
  }
}

/**
 * The agent API refused the caller: 401 (the token: expired, wrong audience or issuer, …) or 403
 * (`AgentNotActive`, `NotYourDevice`). Never retried: the same token would be refused again. Sign in
 * again (401) or stop (403).
 */
export class NotAuthorizedError extends Error {
  constructor(
    /** 401 or 403. */
    public readonly status: number,
    /** The API's error code (`InvalidToken`, `AgentNotActive`, `NotYourDevice`, …). */
    public readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'NotAuthorizedError';
  }
}

/**
 * Any other refusal or failure of an agent API call: `retryable` for 5xx, 429 and network errors
 * (the client backs off and tries again), not for other 4xx (the request itself is wrong).
 */
export class AgentApiError extends Error {
  constructor(
    /** HTTP status, or 0 when no answer came (network error, CORS). */
    public readonly status: number,
    public readonly code: string,
    message: string,
    public readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AgentApiError';
  }
}

/** The sign-in token provider failed or returned something that is not a JWT with `exp`. */
export class TokenProviderError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenProviderError';
  }
}

/** The durable store could not load, save or wipe; nothing was acked on its account. */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}
