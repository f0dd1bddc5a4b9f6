/**
 * A small typed event emitter with no dependency on Node's `events`, so the same code runs in
 * Node and in a browser bundle. Every event carries one payload.
 *
 * Listener exceptions never break the emitter's caller: a listener that throws is reported as an
 * `error` event (when the emitter has an `error` event and the throwing listener was not itself
 * an `error` listener); otherwise the exception is dropped.
 */
export type Listener<T> = (payload: T) => void;

export class TypedEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  removeAllListeners(): void {
    this.listeners.clear();
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    // A copy, so that listeners added or removed while emitting do not change this round.
    for (const listener of [...set] as Listener<Events[K]>[]) {
      try {
        listener(payload);
      } catch (err) {
        if (event !== 'error' && this.listeners.get('error' as keyof Events)?.size) {
          this.emit('error' as K, toError(err) as Events[K]);
        }
      }
    }
  }
}

const toError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
