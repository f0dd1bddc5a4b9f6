/**
 * The in-repo barrel (`import … from '../../client'`): everything of the browser entry and the
 * `aws` entry (the direct SQS / DynamoDB paths for trusted server-side consumers, `DirectAgentClient`).
 * The package's own entries are `browser.ts` (main), `aws.ts` and `node.ts`.
 */
export * from './browser';
export * from './aws';
