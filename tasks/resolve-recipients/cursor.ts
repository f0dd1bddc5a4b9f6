import { z } from 'zod';
import { DeviceSchema, type Device } from '../shared/envelope';
import { InvalidTaskInputError } from '../shared/errors';

/**
 * The paging cursor: the last (agentId, clientId) a page covered, as base64url JSON. Opaque to
 * the workflow, which only passes it back; the keyset query resumes strictly after it.
 */
export const encodeCursor = (last: Device): string =>
  Buffer.from(JSON.stringify({ agentId: last.agentId, clientId: last.clientId }), 'utf8').toString('base64url');

export const decodeCursor = (cursor: string): Device => {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidTaskInputError('cursor is not one this task issued');
  }
  const parsed = DeviceSchema.strict().safeParse(decoded);
  if (!parsed.success) throw new InvalidTaskInputError('cursor is not one this task issued');
  return parsed.data;
};

export const CursorSchema = z.string().min(1).nullable();
