-- Agent access: register a device with a client id issued by the API, for an active agent with
-- fewer than :max_active_devices active devices. No row back: the agent is not active, or has
-- reached the limit. Timestamps are returned as ISO-8601 UTC text, the same through the Data API
-- and through a PostgreSQL driver.
-- Parameters: :client_id, :agent_id, :label (nullable), :max_active_devices.
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
