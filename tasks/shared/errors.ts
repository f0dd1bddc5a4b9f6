/**
 * Errors thrown by task Lambdas. Step Functions matches `ErrorEquals` on `error.name`, so every
 * class sets it explicitly (minifiers would otherwise rename the class).
 */

/** A stream record that can never become a notification: quarantined, not retried. */
export class InvalidRecordError extends Error {
  constructor(
    message: string,
    /** Dotted path of the field that was wrong, e.g. `NewImage.createdAt`. */
    public readonly field: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'InvalidRecordError';
  }
}

/** The task was invoked with input the workflow never sends: a wiring bug, not a data problem. */
export class InvalidTaskInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTaskInputError';
  }
}

/** Data API throttled, Aurora resuming, or a timeout: the state machine retries with backoff. */
export class RecipientsUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RecipientsUnavailableError';
  }
}

/** The PRESENCE table could not be read; the workflow then treats every device as offline. */
export class PresenceUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PresenceUnavailableError';
  }
}

/** A lifecycle event that is not a connect/disconnect event of AWS IoT. */
export class InvalidPresenceEventError extends Error {
  constructor(
    message: string,
    /** Dotted path of the field that was wrong, e.g. `versionNumber`, when one field is to blame. */
    public readonly field?: string,
  ) {
    super(field === undefined ? message : `${field}: ${message}`);
    this.name = 'InvalidPresenceEventError';
  }
}

/** Required configuration is missing at cold start. */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}
