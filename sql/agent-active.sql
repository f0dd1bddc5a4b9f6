-- Agent access: is the token's agent an active agent, and of which tenant? The tenant always comes
-- from this row, never from the token or the request.
-- Parameters: :agent_id.
SELECT tenant_id
FROM agents
WHERE agent_id = :agent_id
  AND active
