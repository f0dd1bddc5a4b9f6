/**
 * The in-repo barrel (`import … from '../../client'`): everything of the browser entry and the
 * `aws` entry, with `AgentClient` taking the direct SQS / DynamoDB options (`DirectAgentClient`),
 * which the local dashboard still uses until it moves to the agent API. The package's own entries
 * are `browser.ts` (main), `aws.ts` and `node.ts`.
 */
export * from './browser';
export * from './aws';
export { DirectAgentClient as AgentClient } from './aws';
