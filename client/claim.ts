import { UpdateItemCommand, type AttributeValue, type DynamoDBClient, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { CONVO_HISTORY_TABLE } from '../contracts/tables';
import { ClaimInputSchema, type ClaimInput, type ClaimResult } from './claim-types';
export { ClaimInputSchema, type ClaimInput, type ClaimResult } from './claim-types';
import { ClaimFailedError, InvalidClaimInputError, InvalidClientOptionsError, MessageNotFoundError } from './errors';

/**
 * Claim (docs/design.md §3 "Claim"): "the first agent who responds" is the one whose conditional
 * UpdateItem on CONVO_HISTORY succeeds. The condition also requires the item to exist, so a claim
 * never creates an item. A lost race is an answer, not an error: `{ won: false, handledBy }`, read
 * from the item DynamoDB returns with the failed condition (ReturnValuesOnConditionCheckFailure).
 */
export interface ClaimOptions {
  dynamodb: DynamoDBClient;
  /** The CONVO_HISTORY table name. */
  tableName: string;
  /** The agent who claims (written as `handledBy`). */
  agentId: string;
  /** Clock for `handledAt`; default `() => new Date()`. */
  now?: () => Date;
}

const ClaimOptionsSchema = z.object({
  tableName: z.string().min(3).max(255),
  agentId: z.string().min(1),
});

const { partitionKey, sortKey, claim } = CONVO_HISTORY_TABLE;

export const claimUpdateInput = (options: ClaimOptions, input: ClaimInput, handledAt: string): UpdateItemCommandInput => ({
  TableName: options.tableName,
  Key: { [partitionKey]: { S: input.conversationId }, [sortKey]: { S: input.messageId } },
  UpdateExpression: 'SET #handledBy = :agentId, #handledAt = :handledAt',
  ConditionExpression: 'attribute_exists(#messageId) AND attribute_not_exists(#handledBy)',
  ExpressionAttributeNames: { '#messageId': sortKey, '#handledBy': claim.handledBy, '#handledAt': claim.handledAt },
  ExpressionAttributeValues: { ':agentId': { S: options.agentId }, ':handledAt': { S: handledAt } },
  ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
});

const problems = (error: z.ZodError): string => error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');

/**
 * Makes `options.agentId` the handler of the message, unless someone already is.
 *
 * - `{ won: true }`: this agent is the handler now. Also when the item already names this same
 *   agent (a retried request whose first attempt succeeded, or a second device of the same agent):
 *   then `alreadyYours: true` and the stored `handledAt`.
 * - `{ won: false, handledBy }`: another agent handled it first.
 * - throws `InvalidClaimInputError` (bad ids), `MessageNotFoundError` (no such item),
 *   `ClaimFailedError` (anything else: throttling, network, permissions; safe to retry).
 */
export const claimMessage = async (options: ClaimOptions, input: ClaimInput): Promise<ClaimResult> => {
  const opts = ClaimOptionsSchema.safeParse(options);
  if (!opts.success) throw new InvalidClientOptionsError(`claim options: ${problems(opts.error)}`);
  const parsed = ClaimInputSchema.safeParse(input);
  if (!parsed.success) throw new InvalidClaimInputError(`claim: ${problems(parsed.error)}`);
  const { conversationId, messageId } = parsed.data;

  const handledAt = (options.now ?? (() => new Date()))().toISOString();
  try {
    await options.dynamodb.send(new UpdateItemCommand(claimUpdateInput(options, parsed.data, handledAt)));
    return { won: true, handledBy: options.agentId, handledAt };
  } catch (err) {
    if ((err as { name?: string })?.name !== 'ConditionalCheckFailedException') {
      throw new ClaimFailedError(`claim of ${messageId} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    const item = (err as { Item?: Record<string, AttributeValue> }).Item;
    if (item === undefined || Object.keys(item).length === 0) throw new MessageNotFoundError(conversationId, messageId);
    const handledBy = item[claim.handledBy]?.S;
    const previousAt = item[claim.handledAt]?.S;
    if (handledBy === undefined) {
      // The condition failed although the item exists and names no handler: not something DynamoDB does.
      throw new ClaimFailedError(`claim of ${messageId}: condition failed but the item has no handledBy`, { cause: err });
    }
    if (handledBy === options.agentId) {
      return { won: true, handledBy, handledAt: previousAt ?? handledAt, alreadyYours: true };
    }
    return { won: false, handledBy, ...(previousAt !== undefined ? { handledAt: previousAt } : {}) };
  }
};
