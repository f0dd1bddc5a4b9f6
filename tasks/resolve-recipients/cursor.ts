import { z } from 'zod';
import { InvalidTaskInputError } from '../shared/errors';

/**
 * The paging cursor: the last (agentId, clientId) a page covered, as base64url JSON. Opaque to
 * the workflow, which only passes it back; the keyset query resumes strictly after it.
 *
 * A position is the key of the last row read, not of the last device returned: that row may be
 * one resolve-recipients skipped (an empty or NULL client_id in a database without the schema's
 * CHECK), and the next page must still start after it.
 */
export interface CursorPosition {
  agentId: string;
  clientId: string | null;
}

const CursorPositionSchema = z.object({ agentId: z.string(), clientId: z.string().nullable() }).strict();

export const encodeCursor = (last: CursorPosition): string =>
  Buffer.from(JSON.stringify({ agentId: last.agentId, clientId: last.clientId }), 'utf8').toString('base64url');

export const decodeCursor = (cursor: string): CursorPosition => {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidTaskInputError('cursor is not one this task issued');
  }
  const parsed = CursorPositionSchema.safeParse(decoded);
  if (!parsed.success) throw new InvalidTaskInputError('cursor is not one this task issued');
  return parsed.data;
};

export const CursorSchema = z.string().min(1).nullable();
