import {
  matchesAnyEventPattern,
  matchesEventPattern,
  UnsupportedPatternError,
  type EventPattern,
} from '../../contracts/event-pattern';

describe('matchesEventPattern', () => {
  describe('exact values', () => {
    it('matches equal strings, case-sensitively', () => {
      expect(matchesEventPattern({ a: ['x'] }, { a: 'x' })).toBe(true);
      expect(matchesEventPattern({ a: ['x'] }, { a: 'X' })).toBe(false);
    });

    it('ORs the values of one leaf', () => {
      expect(matchesEventPattern({ a: ['x', 'y'] }, { a: 'y' })).toBe(true);
      expect(matchesEventPattern({ a: ['x', 'y'] }, { a: 'z' })).toBe(false);
    });

    it('ANDs the keys of one pattern', () => {
      const pattern = { a: ['x'], b: ['y'] };
      expect(matchesEventPattern(pattern, { a: 'x', b: 'y' })).toBe(true);
      expect(matchesEventPattern(pattern, { a: 'x', b: 'n' })).toBe(false);
      expect(matchesEventPattern(pattern, { a: 'x' })).toBe(false);
    });

    it('compares numbers, booleans and null by value and type', () => {
      expect(matchesEventPattern({ n: [5] }, { n: 5 })).toBe(true);
      expect(matchesEventPattern({ n: [5] }, { n: '5' })).toBe(false);
      expect(matchesEventPattern({ b: [true] }, { b: true })).toBe(true);
      expect(matchesEventPattern({ b: [true] }, { b: 'true' })).toBe(false);
      expect(matchesEventPattern({ z: [null] }, { z: null })).toBe(true);
      expect(matchesEventPattern({ z: [null] }, {})).toBe(false);
    });

    it('follows nested objects and fails when the event has no object there', () => {
      const pattern = { detail: { state: ['on'] } };
      expect(matchesEventPattern(pattern, { detail: { state: 'on' } })).toBe(true);
      expect(matchesEventPattern(pattern, { detail: 'on' })).toBe(false);
      expect(matchesEventPattern(pattern, {})).toBe(false);
    });

    it('ignores event fields the pattern does not name', () => {
      expect(matchesEventPattern({ a: ['x'] }, { a: 'x', other: { deep: 1 } })).toBe(true);
    });

    it('matches an array field when any element matches', () => {
      expect(matchesEventPattern({ tags: ['b'] }, { tags: ['a', 'b'] })).toBe(true);
      expect(matchesEventPattern({ tags: ['c'] }, { tags: ['a', 'b'] })).toBe(false);
    });
  });

  describe('prefix', () => {
    it('matches strings that start with the prefix', () => {
      expect(matchesEventPattern({ id: [{ prefix: 'msg-' }] }, { id: 'msg-1' })).toBe(true);
      expect(matchesEventPattern({ id: [{ prefix: 'msg-' }] }, { id: 'conv-1' })).toBe(false);
    });

    it('never matches non-strings or absent fields', () => {
      expect(matchesEventPattern({ id: [{ prefix: '1' }] }, { id: 12 })).toBe(false);
      expect(matchesEventPattern({ id: [{ prefix: '' }] }, {})).toBe(false);
    });
  });

  describe('anything-but', () => {
    it('matches present values outside the list', () => {
      const pattern = { eventName: [{ 'anything-but': ['REMOVE'] }] };
      expect(matchesEventPattern(pattern, { eventName: 'INSERT' })).toBe(true);
      expect(matchesEventPattern(pattern, { eventName: 'REMOVE' })).toBe(false);
    });

    it('accepts a single value', () => {
      expect(matchesEventPattern({ n: [{ 'anything-but': 0 }] }, { n: 1 })).toBe(true);
      expect(matchesEventPattern({ n: [{ 'anything-but': 0 }] }, { n: 0 })).toBe(false);
    });

    it('does not match an absent field', () => {
      expect(matchesEventPattern({ eventName: [{ 'anything-but': ['REMOVE'] }] }, {})).toBe(false);
    });
  });

  describe('exists', () => {
    it('exists: true needs a present leaf value', () => {
      const pattern = { a: { b: [{ exists: true }] } };
      expect(matchesEventPattern(pattern, { a: { b: 'x' } })).toBe(true);
      expect(matchesEventPattern(pattern, { a: { b: null } })).toBe(true);
      expect(matchesEventPattern(pattern, { a: {} })).toBe(false);
    });

    it('exists: true does not match an object (Pipes: exists works on leaves only)', () => {
      expect(matchesEventPattern({ a: [{ exists: true }] }, { a: { b: 'x' } })).toBe(false);
    });

    it('exists: false needs the field to be absent, including when its parent is', () => {
      const pattern = { a: { b: [{ exists: false }] } };
      expect(matchesEventPattern(pattern, { a: {} })).toBe(true);
      expect(matchesEventPattern(pattern, {})).toBe(true);
      expect(matchesEventPattern(pattern, { a: { b: 'x' } })).toBe(false);
    });

    it('treats an empty array like an absent field', () => {
      expect(matchesEventPattern({ a: [{ exists: false }] }, { a: [] })).toBe(true);
      expect(matchesEventPattern({ a: [{ exists: true }] }, { a: [] })).toBe(false);
    });
  });

  describe('numeric', () => {
    it('matches = 0 on the number 0 only, never on the string "0" or a missing field', () => {
      const pattern: EventPattern = { detail: { counts: { online: [{ numeric: ['=', 0] }] } } };
      expect(matchesEventPattern(pattern, { detail: { counts: { online: 0 } } })).toBe(true);
      expect(matchesEventPattern(pattern, { detail: { counts: { online: 1 } } })).toBe(false);
      expect(matchesEventPattern(pattern, { detail: { counts: { online: '0' } } })).toBe(false);
      expect(matchesEventPattern(pattern, { detail: { counts: {} } })).toBe(false);
    });

    it('compares with < <= > >= and needs both comparisons of a range', () => {
      const range: EventPattern = { n: [{ numeric: ['>', 0, '<=', 5] }] };
      expect([0, 0.5, 5, 5.1].map((n) => matchesEventPattern(range, { n }))).toEqual([false, true, true, false]);
      expect([2, 3].map((n) => matchesEventPattern({ n: [{ numeric: ['<', 3] }] }, { n }))).toEqual([true, false]);
      expect([2, 3].map((n) => matchesEventPattern({ n: [{ numeric: ['>=', 3] }] }, { n }))).toEqual([false, true]);
    });

    it('matches when any element of an array in the event is in range', () => {
      expect(matchesEventPattern({ n: [{ numeric: ['>', 10] }] }, { n: [1, 20] })).toBe(true);
      expect(matchesEventPattern({ n: [{ numeric: ['>', 10] }] }, { n: [1, 2] })).toBe(false);
    });

    it.each([
      ['an unknown operator', ['!=', 0]],
      ['a bound that is not a number', ['=', '0']],
      ['an odd number of items', ['>', 0, '<']],
      ['no pair at all', []],
    ])('throws for %s', (_name, operand) => {
      expect(() => matchesEventPattern({ n: [{ numeric: operand }] } as unknown as EventPattern, { n: 0 })).toThrow(UnsupportedPatternError);
    });
  });

  describe('unsupported patterns', () => {
    it.each([
      ['suffix', { s: [{ suffix: '.png' }] }],
      ['wildcard', { s: [{ wildcard: 'a*' }] }],
      ['$or', { $or: [{ a: ['x'] }, { b: ['y'] }] }],
    ])('throws for %s instead of guessing', (_name, pattern) => {
      expect(() => matchesEventPattern(pattern as unknown as EventPattern, { n: 1, s: 'a', a: 'x' })).toThrow(
        UnsupportedPatternError,
      );
    });

    it('throws for malformed patterns', () => {
      expect(() => matchesEventPattern({} as EventPattern, {})).toThrow(UnsupportedPatternError);
      expect(() => matchesEventPattern({ a: [] }, { a: 'x' })).toThrow(UnsupportedPatternError);
      expect(() => matchesEventPattern({ a: 'x' } as unknown as EventPattern, { a: 'x' })).toThrow(
        UnsupportedPatternError,
      );
      expect(() =>
        matchesEventPattern({ a: [{ prefix: 'x', exists: true }] } as unknown as EventPattern, { a: 'x' }),
      ).toThrow(UnsupportedPatternError);
    });
  });
});

describe('matchesAnyEventPattern', () => {
  it('ORs separate patterns, like Pipes FilterCriteria.Filters', () => {
    const patterns: EventPattern[] = [{ a: ['x'] }, { b: ['y'] }];
    expect(matchesAnyEventPattern(patterns, { b: 'y' })).toBe(true);
    expect(matchesAnyEventPattern(patterns, { a: 'y' })).toBe(false);
    expect(matchesAnyEventPattern([], { a: 'x' })).toBe(false);
  });
});
