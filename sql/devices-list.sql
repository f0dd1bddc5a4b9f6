-- Agent access: the caller's devices, active or not, oldest first.
-- Parameters: :agent_id, :page_limit.
SELECT client_id,
  label,
  active,
  to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS registered_at,
  to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_seen_at
FROM devices
WHERE agent_id = :agent_id
ORDER BY registered_at, client_id
LIMIT :page_limit
