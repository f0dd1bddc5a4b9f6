/**
 * The agent-access and device-lifecycle statements, as the agent-api and deactivate-devices
 * Lambdas send them to the Data API. Like queries.ts: the readable, canonical copies are the .sql
 * files named below (with their comment headers); test/sql/agent-queries.test.ts fails if a
 * string here and its file ever differ.
 */

export const AGENT_ACTIVE_SQL = `
SELECT tenant_id
FROM agents
WHERE agent_id = :agent_id
  AND active
`;

export const DEVICE_REGISTER_SQL = `
INSERT INTO devices (client_id, agent_id, label, active, registered_at, last_seen_at)
SELECT :client_id, a.agent_id, CAST(:label AS text), true, now(), now()
FROM agents a
WHERE a.agent_id = :agent_id
  AND a.active
  AND (SELECT count(*) FROM devices d WHERE d.agent_id = a.agent_id AND d.active) < :max_active_devices
RETURNING client_id,
  label,
  active,
  to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS registered_at,
  to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_seen_at
`;

export const DEVICES_LIST_SQL = `
SELECT client_id,
  label,
  active,
  to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS registered_at,
  to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_seen_at
FROM devices
WHERE agent_id = :agent_id
ORDER BY registered_at, client_id
LIMIT :page_limit
`;

export const DEVICE_TOUCH_SQL = `
UPDATE devices
SET last_seen_at = now()
WHERE client_id = :client_id
  AND agent_id = :agent_id
  AND active
RETURNING client_id
`;

export const DEVICE_DEACTIVATE_SQL = `
UPDATE devices
SET active = false,
  deactivated_at = coalesce(deactivated_at, now())
WHERE client_id = :client_id
  AND agent_id = :agent_id
RETURNING client_id
`;

export const DEVICE_DELETE_SQL = `
DELETE FROM devices
WHERE client_id = :client_id
  AND agent_id = :agent_id
RETURNING client_id
`;

export const DEVICES_DEACTIVATE_STALE_SQL = `
UPDATE devices
SET active = false,
  deactivated_at = now()
WHERE client_id IN (
  SELECT client_id
  FROM devices
  WHERE active
    AND last_seen_at < now() - make_interval(days => CAST(:stale_days AS integer))
  ORDER BY last_seen_at, client_id
  LIMIT :batch_limit
)
RETURNING client_id, agent_id
`;

export const AGENT_QUERIES = {
  agentActive: { file: 'agent-active.sql', sql: AGENT_ACTIVE_SQL },
  deviceRegister: { file: 'device-register.sql', sql: DEVICE_REGISTER_SQL },
  devicesList: { file: 'devices-list.sql', sql: DEVICES_LIST_SQL },
  deviceTouch: { file: 'device-touch.sql', sql: DEVICE_TOUCH_SQL },
  deviceDeactivate: { file: 'device-deactivate.sql', sql: DEVICE_DEACTIVATE_SQL },
  deviceDelete: { file: 'device-delete.sql', sql: DEVICE_DELETE_SQL },
  devicesDeactivateStale: { file: 'devices-deactivate-stale.sql', sql: DEVICES_DEACTIVATE_STALE_SQL },
} as const;

export type AgentQueryName = keyof typeof AGENT_QUERIES;
