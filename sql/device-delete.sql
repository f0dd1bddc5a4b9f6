-- Agent access, unregister last step, after the inbox queue and the presence item are gone.
-- Parameters: :client_id, :agent_id.
DELETE FROM devices
WHERE client_id = :client_id
  AND agent_id = :agent_id
RETURNING client_id
