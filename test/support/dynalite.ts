import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TASK_ENV } from './task-env';
import { registryPut } from '../../tasks/shared/device-registry';
import { deviceRegistryTableInput, presenceTableInput } from '../../local/emulators/dynamodb';

// dynalite ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

export interface LocalPresenceTable {
  endpoint: string;
  client: DynamoDBClient;
  /** Registers client ids in the device registry table, as the agent API's register route does. */
  registerDevices: (...clientIds: string[]) => Promise<void>;
  close: () => Promise<void>;
}

/**
 * A real DynamoDB implementation (dynalite, in memory) with a PRESENCE table, for the tests that
 * must see DynamoDB evaluate what the handlers send: condition expressions, reserved words,
 * duplicate keys in a BatchGetItem. Also a device registry table named `registryTableName`
 * (record-presence writes presence only for client ids registered there), unless it is null.
 */
export const startPresenceTable = async (
  tableName: string,
  registryTableName: string | null = TASK_ENV.DEVICE_REGISTRY_TABLE_NAME,
): Promise<LocalPresenceTable> => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  await client.send(new CreateTableCommand(presenceTableInput(tableName)));
  if (registryTableName !== null) {
    await client.send(new CreateTableCommand(deviceRegistryTableInput(registryTableName)));
  }
  const registerDevices = async (...clientIds: string[]) => {
    if (registryTableName === null) throw new Error('this local DynamoDB has no device registry table');
    const registeredAt = new Date().toISOString();
    await Promise.all(clientIds.map((clientId) => client.send(new PutItemCommand(registryPut({ clientId, agentId: 'a', registeredAt }, registryTableName)))));
  };
  return {
    endpoint,
    client,
    registerDevices,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
};

/**
 * Imports a handler in a fresh module registry with `AWS_ENDPOINT_URL_DYNAMODB` pointing at the
 * local table, so its module-scope client talks to it exactly as in the local runtime. The SDK
 * may read the variable as late as the first request, so it stays set until `restore()`.
 */
export const importWithDynamoDbEndpoint = async <M>(endpoint: string, load: () => Promise<M>): Promise<{ module: M; restore: () => void }> => {
  const saved = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
  let module!: M;
  await jest.isolateModulesAsync(async () => {
    module = await load();
  });
  const restore = () => {
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
    else process.env.AWS_ENDPOINT_URL_DYNAMODB = saved;
  };
  return { module, restore };
};
