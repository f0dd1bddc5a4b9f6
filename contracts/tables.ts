/**
 * Key and attribute names of the DynamoDB tables, for every part that creates, reads or writes
 * them: the CDK constructs and the local runtime create the tables with these keys, the task
 * Lambdas and the client's claim address items by them.
 */

/** The chat product's message table, whose stream feeds the pipe (docs/design.md §3). */
export const CONVO_HISTORY_TABLE = {
  partitionKey: 'conversationId',
  sortKey: 'messageId',
  /** The tenant of the message: the agent API's claim only touches messages of the caller's tenant. */
  tenantId: 'tenantId',
  /**
   * What a claim writes: the agent who answered and when. The first write of `handledBy` is what
   * the pipe filter lets through as the `message.handled` notification.
   */
  claim: { handledBy: 'handledBy', handledAt: 'handledAt' },
} as const;

/** Who is connected and subscribed, kept by record-presence and read by check-presence (docs/design.md §3). */
export const PRESENCE_TABLE = {
  partitionKey: 'clientId',
  /**
   * Epoch seconds after which DynamoDB may delete the item: the table's TTL attribute, which
   * record-presence sets for disconnected clients.
   */
  timeToLiveAttribute: 'expiresAt',
} as const;

/**
 * The devices the agent API has registered, by client id (docs/access.md "Device registry"):
 * written by the register route after the Aurora insert, deleted by unregister and by the
 * stale-device sweep, read by record-presence, which ignores lifecycle events of any other
 * client id without a round trip to Aurora (which may be paused).
 */
export const DEVICE_REGISTRY_TABLE = {
  partitionKey: 'clientId',
  attributes: {
    /** The agent the device was registered to. */
    agentId: 'agentId',
    /** When it was registered: ISO-8601 UTC, the `registered_at` of its `devices` row. */
    registeredAt: 'registeredAt',
  },
} as const;
