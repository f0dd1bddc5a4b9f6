import { NotificationEnvelopeSchema, type NotificationEnvelope } from '../contracts/envelope';
import { InvalidNotificationError } from './errors';

export type ParseResult = { ok: true; notification: NotificationEnvelope } | { ok: false; error: InvalidNotificationError };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Validates a push payload or an inbox body with the one shared envelope schema. Never throws:
 * an invalid payload comes back as an `InvalidNotificationError` that names every problem.
 */
export const parseNotification = (
  payload: string | Uint8Array,
  source: 'push' | 'inbox',
  sqsMessageId?: string,
): ParseResult => {
  let text: string;
  try {
    text = typeof payload === 'string' ? payload : utf8.decode(payload);
  } catch {
    return { ok: false, error: new InvalidNotificationError(source, ['payload is not UTF-8 text'], '', sqsMessageId) };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: new InvalidNotificationError(source, [`payload is not JSON (${(err as Error).message})`], text, sqsMessageId) };
  }
  const parsed = NotificationEnvelopeSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(payload)'}: ${i.message}`);
    return { ok: false, error: new InvalidNotificationError(source, issues, text, sqsMessageId) };
  }
  return { ok: true, notification: parsed.data };
};
