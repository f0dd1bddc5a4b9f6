-- Topic "direct": the active devices of the message's assigned agent, if that agent is active,
-- belongs to the tenant and is not the sender.
-- Parameters: :tenant_id, :agent_id, :exclude_agent_id (nullable), :after_agent_id and
-- :after_client_id (both null on the first page), :page_limit.
SELECT d.agent_id, d.client_id
FROM agents a
JOIN devices d ON d.agent_id = a.agent_id
WHERE a.agent_id = :agent_id
  AND a.tenant_id = :tenant_id
  AND a.active
  AND d.active
  AND a.agent_id IS DISTINCT FROM CAST(:exclude_agent_id AS text)
  AND (
    CAST(:after_agent_id AS text) IS NULL
    OR (d.agent_id, d.client_id) > (CAST(:after_agent_id AS text), CAST(:after_client_id AS text))
  )
ORDER BY d.agent_id, d.client_id
LIMIT :page_limit
