import { TypedEmitter } from '../../client/emitter';
import { emptyState, foldAll, getMessage, type MessageView } from '../../client/fold';
import { attachOsNotifications, notificationTagOf, requestOsNotifications, type NotificationConstructorLike } from '../../client/os-notifications';
import type { NotificationEnvelope } from '../../contracts/envelope';
import { created, handled } from './notifications';

/** OS notifications with a stand-in for the browser's `Notification`. */
const fakeNotification = (permission: 'default' | 'denied' | 'granted', answer: 'granted' | 'denied' = 'granted') => {
  const shown: { title: string; tag?: string; body?: string; closed: boolean }[] = [];
  const N = class {
    static permission = permission;
    static requestPermission = jest.fn(async () => {
      N.permission = answer;
      return answer;
    });
    private readonly record: (typeof shown)[number];
    constructor(title: string, options: { tag?: string; body?: string } = {}) {
      this.record = { title, tag: options.tag, body: options.body, closed: false };
      shown.push(this.record);
    }
    close(): void {
      this.record.closed = true;
    }
  };
  return { N: N as unknown as NotificationConstructorLike & { requestPermission: jest.Mock }, shown };
};

const viewOf = (...ns: NotificationEnvelope[][]): MessageView => getMessage(foldAll(emptyState, ns.flat()), 'm1')!;
const source = () => new (class extends TypedEmitter<{ new: MessageView; handled: MessageView }> {
  fire(event: 'new' | 'handled', m: MessageView) {
    this.emit(event, m);
  }
})();

describe('OS notifications', () => {
  it('raises a NEW message tagged with its identity and closes it when the message is handled elsewhere', () => {
    const { N, shown } = fakeNotification('granted');
    const s = source();
    attachOsNotifications(s, { Notification: N });
    s.fire('new', viewOf([created('m1', { conversationId: 'c9' })]));
    expect(shown).toEqual([{ title: 'New message from customer-1', tag: 'convo-notify:c9 m1', body: expect.any(String), closed: false }]);
    s.fire('handled', viewOf([created('m1', { conversationId: 'c9' }), handled('m1', 'bob', { conversationId: 'c9' })]));
    expect(shown[0].closed).toBe(true);
    expect(shown).toHaveLength(1);
  });

  it('replaces it with "Handled by X" under the same tag when asked to', () => {
    const { N, shown } = fakeNotification('granted');
    const s = source();
    attachOsNotifications(s, { Notification: N, showHandled: true });
    s.fire('new', viewOf([created('m1')]));
    s.fire('handled', viewOf([created('m1'), handled('m1', 'bob')]));
    expect(shown.map((n) => [n.title, n.tag, n.closed])).toEqual([
      ['New message from customer-1', notificationTagOf({ conversationId: 'c1', messageId: 'm1' }), true],
      ['Handled by bob', 'convo-notify:c1 m1', false],
    ]);
  });

  it('is opt-in: nothing without permission, and asking returns what the user chose', async () => {
    const { N, shown } = fakeNotification('default', 'denied');
    const s = source();
    const stop = attachOsNotifications(s, { Notification: N });
    s.fire('new', viewOf([created('m1')]));
    expect(shown).toEqual([]);
    expect(await requestOsNotifications(N)).toBe(false);
    expect(N.requestPermission).toHaveBeenCalledTimes(1);
    const granted = fakeNotification('default', 'granted');
    expect(await requestOsNotifications(granted.N)).toBe(true);
    expect(await requestOsNotifications(undefined)).toBe(false);
    stop();
  });
});
