-- Topic "team": the active devices of the team's active agents of the tenant, except the sender.
-- Parameters: :tenant_id, :team_id, :exclude_agent_id (nullable), :after_agent_id and
-- :after_client_id (both null on the first page), :page_limit.
SELECT d.agent_id, d.client_id
FROM team_members tm
JOIN agents a ON a.agent_id = tm.agent_id
JOIN devices d ON d.agent_id = a.agent_id
WHERE tm.team_id = :team_id
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
