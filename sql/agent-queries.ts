import agentActiveFile from './agent-active.sql';
import deviceDeactivateFile from './device-deactivate.sql';
import deviceDeleteFile from './device-delete.sql';
import deviceRegisterFile from './device-register.sql';
import deviceTouchFile from './device-touch.sql';
import devicesDeactivateStaleFile from './devices-deactivate-stale.sql';
import devicesListFile from './devices-list.sql';
import { statementOf } from './statement';

/**
 * The agent-access and device-lifecycle statements, as the agent-api and deactivate-devices
 * Lambdas send them to the Data API. The .sql files named below are the only copy, imported as
 * text like the recipients queries (sql/queries.ts); each entry sends the file's statement, without
 * its comment header.
 */
export const AGENT_QUERIES = {
  agentActive: { file: 'agent-active.sql', sql: statementOf(agentActiveFile) },
  deviceRegister: { file: 'device-register.sql', sql: statementOf(deviceRegisterFile) },
  devicesList: { file: 'devices-list.sql', sql: statementOf(devicesListFile) },
  deviceTouch: { file: 'device-touch.sql', sql: statementOf(deviceTouchFile) },
  deviceDeactivate: { file: 'device-deactivate.sql', sql: statementOf(deviceDeactivateFile) },
  deviceDelete: { file: 'device-delete.sql', sql: statementOf(deviceDeleteFile) },
  devicesDeactivateStale: { file: 'devices-deactivate-stale.sql', sql: statementOf(devicesDeactivateStaleFile) },
} as const;

export type AgentQueryName = keyof typeof AGENT_QUERIES;
