import type { DeleteItemCommandInput, GetItemCommandInput, PutItemCommandInput } from '@aws-sdk/client-dynamodb';
import { DEVICE_REGISTRY_TABLE } from '../../contracts/tables';

/**
 * The requests every task sends to the device registry table (`DEVICE_REGISTRY_TABLE` in
 * contracts/tables.ts; docs/access.md "Device registry"), one item per registered client id:
 *  - the agent API's register route puts it once the `devices` row exists; unregister deletes it;
 *  - the stale-device sweep deletes the items of the devices it deactivated;
 *  - record-presence reads it before any PRESENCE write: no item, no presence.
 * Aurora stays the authority on devices; the registry is the copy the presence path can read
 * while Aurora is paused.
 */

const keyOf = (clientId: string) => ({ [DEVICE_REGISTRY_TABLE.partitionKey]: { S: clientId } });

export interface RegistryEntry {
  clientId: string;
  agentId: string;
  /** ISO-8601 UTC. */
  registeredAt: string;
}

/** Unconditional: a client id is issued once, and a retried put writes the same item. */
export const registryPut = (entry: RegistryEntry, tableName: string): PutItemCommandInput => ({
  TableName: tableName,
  Item: {
    ...keyOf(entry.clientId),
    [DEVICE_REGISTRY_TABLE.attributes.agentId]: { S: entry.agentId },
    [DEVICE_REGISTRY_TABLE.attributes.registeredAt]: { S: entry.registeredAt },
  },
});

/** Idempotent: deleting a missing item succeeds. */
export const registryDelete = (clientId: string, tableName: string): DeleteItemCommandInput => ({
  TableName: tableName,
  Key: keyOf(clientId),
});

/**
 * Eventually consistent (half the cost): a device connects only after its register call answered,
 * well after the put; a read that still sees a just-deleted item can let one event of a device
 * being unregistered write a PRESENCE item, which matters to no one, since the device is no longer
 * a recipient (and a disconnected item expires).
 */
export const registryRead = (clientId: string, tableName: string): GetItemCommandInput => ({
  TableName: tableName,
  Key: keyOf(clientId),
});
