-- Topic "sender": the active devices of the tenant's active agents subscribed to the sender,
-- except the sender itself.
-- Parameters: :tenant_id, :sender_id, :exclude_agent_id (nullable), :after_agent_id and
-- :after_client_id (both null on the first page), :page_limit.
SELECT d.agent_id, d.client_id
FROM sender_subscriptions s
JOIN agents a ON a.agent_id = s.agent_id AND a.tenant_id = s.tenant_id
JOIN devices d ON d.agent_id = a.agent_id
WHERE s.tenant_id = :tenant_id
  AND s.sender_id = :sender_id
  AND a.active
  AND d.active
  AND a.agent_id IS DISTINCT FROM CAST(:exclude_agent_id AS text)
  AND (
    CAST(:after_agent_id AS text) IS NULL
    OR (d.agent_id, d.client_id) > (CAST(:after_agent_id AS text), CAST(:after_client_id AS text))
  )
ORDER BY d.agent_id, d.client_id
LIMIT :page_limit
