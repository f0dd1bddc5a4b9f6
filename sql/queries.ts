import type { Topic } from '../tasks/shared/envelope';

/**
 * The per-topic recipients queries, as the resolve-recipients Lambda sends them to the Data API.
 *
 * The readable, canonical copies are the `recipients-*.sql` files next to this module (with their
 * comment headers); the Lambda is bundled by esbuild and reads no file at runtime, so the same
 * text lives here as strings. test/sql/recipients.test.ts fails if the two ever differ.
 */

export const RECIPIENTS_DIRECT_SQL = `
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
`;

export const RECIPIENTS_TEAM_SQL = `
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
`;

export const RECIPIENTS_SENDER_SQL = `
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
`;

/** Each topic's query and the parameter that names its audience: the assigned agent, the team or the sender. */
export const RECIPIENT_QUERIES: Record<Topic, { file: string; sql: string; audienceParameter: string }> = {
  direct: { file: 'recipients-direct.sql', sql: RECIPIENTS_DIRECT_SQL, audienceParameter: 'agent_id' },
  team: { file: 'recipients-team.sql', sql: RECIPIENTS_TEAM_SQL, audienceParameter: 'team_id' },
  sender: { file: 'recipients-sender.sql', sql: RECIPIENTS_SENDER_SQL, audienceParameter: 'sender_id' },
};

/** Parameters every recipients query takes, in addition to its audience parameter. */
export const COMMON_RECIPIENT_PARAMETERS = ['tenant_id', 'exclude_agent_id', 'after_agent_id', 'after_client_id', 'page_limit'] as const;
