-- Agent access, unregister step 1: the workflow stops sending to the device before its inbox
-- queue is deleted, so the queue is not created again behind the unregister. No row back: not a
-- device of this agent.
-- Parameters: :client_id, :agent_id.
UPDATE devices
SET active = false,
  deactivated_at = coalesce(deactivated_at, now())
WHERE client_id = :client_id
  AND agent_id = :agent_id
RETURNING client_id
