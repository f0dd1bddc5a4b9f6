import type { MessageView } from './fold';

/**
 * Opt-in OS notifications (the Notifications API): a message that becomes NEW raises one, tagged
 * with the message identity (`convo-notify:<conversationId> <messageId>`), so every tab's copy is
 * the same notification; when the message is handled (here or on any device) it is closed, or
 * replaced by "Handled by X" under the same tag when `showHandled` is set.
 */

/** The part of the browser's `Notification` this uses. */
export interface NotificationLike {
  close(): void;
}
export interface NotificationConstructorLike {
  new (title: string, options?: { body?: string; tag?: string; silent?: boolean; data?: unknown }): NotificationLike;
  readonly permission: 'default' | 'denied' | 'granted';
  requestPermission(): Promise<'default' | 'denied' | 'granted'>;
}

/** What raises `new` and `handled` events: an `AgentClient` or a `SharedAgentDevice`. */
export interface MessageEvents {
  on(event: 'new' | 'handled', listener: (message: MessageView) => void): () => void;
}

export interface OsNotificationOptions {
  /** Default `globalThis.Notification`. */
  Notification?: NotificationConstructorLike;
  /** Title and body of a NEW message's notification; default the sender and the preview. */
  format?: (message: MessageView) => { title: string; body?: string };
  /** Replace a handled message's notification with "Handled by X" instead of closing it. Default false. */
  showHandled?: boolean;
}

export const notificationTagOf = (message: Pick<MessageView, 'conversationId' | 'messageId'>): string => `convo-notify:${message.conversationId} ${message.messageId}`;

/**
 * Asks for permission (call it from a user gesture, as browsers require) and reports whether OS
 * notifications may be shown.
 */
export const requestOsNotifications = async (Notification = (globalThis as { Notification?: NotificationConstructorLike }).Notification): Promise<boolean> => {
  if (!Notification) return false;
  if (Notification.permission === 'granted') return true;
  if (Notification.permission === 'denied') return false;
  return (await Notification.requestPermission()) === 'granted';
};

/**
 * Raises OS notifications for `source`'s messages while permission is granted. Returns a function
 * that stops (and closes what it raised).
 */
export const attachOsNotifications = (source: MessageEvents, options: OsNotificationOptions = {}): (() => void) => {
  const N = options.Notification ?? (globalThis as { Notification?: NotificationConstructorLike }).Notification;
  if (!N) return () => undefined;
  const shown = new Map<string, NotificationLike>();
  const format = options.format ?? ((m: MessageView) => ({ title: `New message from ${m.senderId}`, body: m.preview }));
  const show = (tag: string, title: string, body?: string): void => {
    if (N.permission !== 'granted') return;
    shown.get(tag)?.close();
    shown.set(tag, new N(title, { tag, ...(body !== undefined ? { body } : {}), data: { tag } }));
  };
  const offNew = source.on('new', (m) => {
    const { title, body } = format(m);
    show(notificationTagOf(m), title, body);
  });
  const offHandled = source.on('handled', (m) => {
    const tag = notificationTagOf(m);
    if (options.showHandled) {
      show(tag, `Handled by ${m.handledBy ?? 'someone'}`, m.preview);
    } else {
      shown.get(tag)?.close();
      shown.delete(tag);
    }
  });
  return () => {
    offNew();
    offHandled();
    for (const n of shown.values()) n.close();
    shown.clear();
  };
};
