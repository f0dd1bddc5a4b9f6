import { z } from 'zod';
import { ConversationIdSchema, MessageIdSchema } from '../contracts/envelope';

/** What a claim takes and answers, whichever way it is made (the agent API, or DynamoDB directly). */
export const ClaimInputSchema = z.object({
  conversationId: ConversationIdSchema,
  messageId: MessageIdSchema,
});
export type ClaimInput = z.infer<typeof ClaimInputSchema>;

export type ClaimResult =
  | { won: true; handledBy: string; handledAt: string; alreadyYours?: true }
  | { won: false; handledBy: string; handledAt?: string | null };

/** Makes a claim for the signed-in agent: `AgentApi.claim`, or `claimMessage` of the `aws` entry. */
export type Claimer = (input: ClaimInput) => Promise<ClaimResult>;
