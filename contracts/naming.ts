import { AWS_LIMITS } from './limits';

/**
 * How a device's inbox queue is named, for everyone who names or checks one: the CDK stack (the
 * IAM pattern and the URL prefix), the workflow's `CreateInboxQueue` / `SendToInbox` inputs (through
 * the `InboxQueueNamePrefix` substitution), `resolve-recipients` (which skips client ids that could
 * not name a queue), the AgentCRM client and the local runtime.
 *
 * An inbox is `<prefix>-inbox-<clientId>.fifo`. SQS allows at most 80 characters of [A-Za-z0-9_-]
 * before `.fifo`, and the client id is also an MQTT topic segment (`contracts/push-topic.ts`), where
 * the same characters can never be a wildcard (`+`, `#`) or a level separator (`/`).
 */

/** The characters a queue name may hold before `.fifo`; a client id and a queue name prefix are made of them. */
export const QUEUE_NAME_PART_PATTERN = /^[A-Za-z0-9_-]+$/;
/** A device's IoT client id: its push topic segment and part of its inbox queue name. */
export const CLIENT_ID_PATTERN = QUEUE_NAME_PART_PATTERN;

const FIFO_SUFFIX = '.fifo';

/** `<prefix>-inbox-`: what every inbox queue name of a deployment starts with. */
export const inboxQueueNamePrefixOf = (prefix: string): string => `${prefix}-inbox-`;

/** The AWS IoT custom authorizer of agent devices: the `x-amz-customauthorizer-name` of their URL. */
export const iotAuthorizerNameOf = (prefix: string): string => `${prefix}-agent-jwt`;

/** The inbox queue of one device. */
export const inboxQueueName = (inboxQueueNamePrefix: string, clientId: string): string =>
  `${inboxQueueNamePrefix}${clientId}${FIFO_SUFFIX}`;

/** The longest inbox queue name prefix that still leaves room for a one-character client id. */
export const MAX_INBOX_QUEUE_NAME_PREFIX_LENGTH = AWS_LIMITS.sqsQueueNameChars - FIFO_SUFFIX.length - 1;

/** The longest client id whose inbox queue name fits SQS's limit under this prefix. */
export const maxClientIdLength = (inboxQueueNamePrefix: string): number =>
  AWS_LIMITS.sqsQueueNameChars - inboxQueueNamePrefix.length - FIFO_SUFFIX.length;

/** Why a client id cannot name a push topic and an inbox queue, or undefined when it can. */
export const clientIdProblem = (clientId: string, inboxQueueNamePrefix: string): string | undefined => {
  if (!CLIENT_ID_PATTERN.test(clientId)) return 'has characters other than A-Z a-z 0-9 _ -';
  const max = maxClientIdLength(inboxQueueNamePrefix);
  if (clientId.length > max) return `is longer than ${max} characters`;
  return undefined;
};
