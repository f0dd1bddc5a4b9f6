import type { Topic } from '../contracts/envelope';
import recipientsDirectFile from './recipients-direct.sql';
import recipientsSenderFile from './recipients-sender.sql';
import recipientsTeamFile from './recipients-team.sql';
import { statementOf } from './statement';

/**
 * The per-topic recipients queries, as the resolve-recipients Lambda sends them to the Data API.
 *
 * The `recipients-*.sql` files next to this module are the only copy. They are imported as text:
 * esbuild bundles them into the Lambda (`loader: { '.sql': 'text' }`), jest transforms them
 * (test/support/sql-text-transform.cjs) and the local runtime requires them through
 * sql/register-text-loader.ts, so every one of them runs the same text.
 */

export const RECIPIENTS_DIRECT_SQL = statementOf(recipientsDirectFile);
export const RECIPIENTS_TEAM_SQL = statementOf(recipientsTeamFile);
export const RECIPIENTS_SENDER_SQL = statementOf(recipientsSenderFile);

/** Each topic's query and the parameter that names its audience: the assigned agent, the team or the sender. */
export const RECIPIENT_QUERIES: Record<Topic, { file: string; sql: string; audienceParameter: string }> = {
  direct: { file: 'recipients-direct.sql', sql: RECIPIENTS_DIRECT_SQL, audienceParameter: 'agent_id' },
  team: { file: 'recipients-team.sql', sql: RECIPIENTS_TEAM_SQL, audienceParameter: 'team_id' },
  sender: { file: 'recipients-sender.sql', sql: RECIPIENTS_SENDER_SQL, audienceParameter: 'sender_id' },
};

/** Parameters every recipients query takes, in addition to its audience parameter. */
export const COMMON_RECIPIENT_PARAMETERS = ['tenant_id', 'exclude_agent_id', 'after_agent_id', 'after_client_id', 'page_limit'] as const;
