-- Agent access: the caller's own active device was seen (an inbox drain). No row back: the client
-- id is not an active device of this agent.
-- Parameters: :client_id, :agent_id.
UPDATE devices
SET last_seen_at = now()
WHERE client_id = :client_id
  AND agent_id = :agent_id
  AND active
RETURNING client_id
