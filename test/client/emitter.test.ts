import { TypedEmitter } from '../../client/emitter';

interface Events {
  tick: number;
  error: Error;
}

class Ticker extends TypedEmitter<Events> {
  fire<K extends keyof Events>(event: K, payload: Events[K]) {
    this.emit(event, payload);
  }
}

describe('TypedEmitter', () => {
  it('delivers payloads to listeners in order, and on() returns an unsubscribe function', () => {
    const t = new Ticker();
    const got: string[] = [];
    const off = t.on('tick', (n) => got.push(`a${n}`));
    t.on('tick', (n) => got.push(`b${n}`));
    t.fire('tick', 1);
    off();
    t.fire('tick', 2);
    expect(got).toEqual(['a1', 'b1', 'b2']);
    expect(t.listenerCount('tick')).toBe(1);
  });

  it('once() fires at most once', () => {
    const t = new Ticker();
    const got: number[] = [];
    t.once('tick', (n) => got.push(n));
    t.fire('tick', 1);
    t.fire('tick', 2);
    expect(got).toEqual([1]);
  });

  it('reports a throwing listener as an error event and still calls the other listeners', () => {
    const t = new Ticker();
    const errors: string[] = [];
    const got: number[] = [];
    t.on('error', (e) => errors.push(e.message));
    t.on('tick', () => {
      throw new Error('listener broke');
    });
    t.on('tick', (n) => got.push(n));
    expect(() => t.fire('tick', 1)).not.toThrow();
    expect(got).toEqual([1]);
    expect(errors).toEqual(['listener broke']);
  });

  it('does not throw for an error event nobody listens to (unlike Node’s EventEmitter)', () => {
    expect(() => new Ticker().fire('error', new Error('x'))).not.toThrow();
  });
});
