/**
 * A small EventBridge event-pattern matcher, so that the local runtime filters stream records with
 * the very patterns the deployed EventBridge Pipe uses (`contracts/pipe-filter.ts`), instead of a
 * hand-written copy of them that could drift.
 *
 * Supported, with EventBridge semantics:
 * - nested objects: every key of the pattern must match (AND);
 * - a leaf is an array of matchers, any of which may match (OR);
 * - exact values: strings (case-sensitive), numbers, booleans, `null`;
 * - `{ "prefix": "..." }` on strings;
 * - `{ "anything-but": value | [values] }`: the field is present and equals none of the values;
 * - `{ "exists": true | false }` on leaves: `true` needs a present, non-object value, `false` needs
 *   the field to be absent (a missing parent counts as absent);
 * - `{ "numeric": [op, n, (op, n)] }` with `<`, `<=`, `=`, `>`, `>=` (a range when two comparisons
 *   are given, both must hold), on JSON numbers only: a string such as `"0"` never matches;
 * - an array in the event matches when any of its elements matches.
 *
 * Anything else (`suffix`, `wildcard`, `equals-ignore-case`, `cidr`, `$or`, ...) throws
 * `UnsupportedPatternError`: the local runtime must never silently disagree with AWS.
 */

/** One matcher of a leaf array. */
export type PatternMatcher =
  | string
  | number
  | boolean
  | null
  | { readonly prefix: string }
  | { readonly 'anything-but': string | number | boolean | readonly (string | number | boolean)[] }
  | { readonly exists: boolean }
  | { readonly numeric: readonly (NumericOperator | number)[] };

/** The comparisons of a `numeric` matcher. */
export type NumericOperator = '<' | '<=' | '=' | '>' | '>=';
const NUMERIC_OPERATORS: Record<NumericOperator, (value: number, bound: number) => boolean> = {
  '<': (v, b) => v < b,
  '<=': (v, b) => v <= b,
  '=': (v, b) => v === b,
  '>': (v, b) => v > b,
  '>=': (v, b) => v >= b,
};

/** An EventBridge event pattern: nested objects whose leaves are arrays of matchers. */
export interface EventPattern {
  readonly [key: string]: readonly PatternMatcher[] | EventPattern;
}

/** A pattern uses an operator this matcher does not implement, or is not a valid pattern. */
export class UnsupportedPatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedPatternError';
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isScalar = (value: unknown): value is string | number | boolean | null =>
  value === null || ['string', 'number', 'boolean'].includes(typeof value);

/** Does one (non-array) event value satisfy one matcher? `undefined` means the field is absent. */
const matchesOne = (matcher: PatternMatcher, value: unknown, path: string): boolean => {
  if (isScalar(matcher)) {
    return value === matcher;
  }
  if (!isPlainObject(matcher)) {
    throw new UnsupportedPatternError(`${path}: a matcher must be a value or an operator object`);
  }
  const operators = Object.keys(matcher);
  if (operators.length !== 1) {
    throw new UnsupportedPatternError(`${path}: a matcher object must hold exactly one operator`);
  }
  const [operator] = operators;
  const operand = (matcher as Record<string, unknown>)[operator];
  switch (operator) {
    case 'prefix':
      if (typeof operand !== 'string') throw new UnsupportedPatternError(`${path}: prefix must be a string`);
      return typeof value === 'string' && value.startsWith(operand);
    case 'anything-but': {
      const excluded = Array.isArray(operand) ? operand : [operand];
      if (!excluded.every(isScalar)) {
        throw new UnsupportedPatternError(`${path}: only values are supported inside anything-but`);
      }
      return value !== undefined && isScalar(value) && !excluded.includes(value);
    }
    case 'exists':
      if (typeof operand !== 'boolean') throw new UnsupportedPatternError(`${path}: exists must be true or false`);
      return operand ? value !== undefined && !isPlainObject(value) : value === undefined;
    case 'numeric':
      return matchesNumeric(operand, value, path);
    default:
      throw new UnsupportedPatternError(`${path}: operator "${operator}" is not supported by the local matcher`);
  }
};

/** `numeric`: one or two (operator, number) pairs, every one of which must hold. */
const matchesNumeric = (operand: unknown, value: unknown, path: string): boolean => {
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) {
    throw new UnsupportedPatternError(`${path}: numeric takes one or two (operator, number) pairs`);
  }
  const comparisons: [(v: number, b: number) => boolean, number][] = [];
  for (let i = 0; i < operand.length; i += 2) {
    const [operator, bound] = [operand[i] as unknown, operand[i + 1] as unknown];
    const known = typeof operator === 'string' && Object.prototype.hasOwnProperty.call(NUMERIC_OPERATORS, operator);
    const compare = known ? NUMERIC_OPERATORS[operator as NumericOperator] : undefined;
    if (compare === undefined) {
      throw new UnsupportedPatternError(`${path}: numeric operator must be one of ${Object.keys(NUMERIC_OPERATORS).join(' ')}, got ${JSON.stringify(operator)}`);
    }
    if (typeof bound !== 'number' || !Number.isFinite(bound)) {
      throw new UnsupportedPatternError(`${path}: numeric bound after "${operator as string}" must be a number`);
    }
    comparisons.push([compare, bound]);
  }
  return typeof value === 'number' && comparisons.every(([compare, bound]) => compare(value, bound));
};

const matchesLeaf = (matchers: readonly PatternMatcher[], value: unknown, path: string): boolean => {
  if (matchers.length === 0) {
    throw new UnsupportedPatternError(`${path}: an empty matcher array never matches and is rejected by EventBridge`);
  }
  if (Array.isArray(value)) {
    // EventBridge flattens arrays: the leaf matches when any element does. An empty array has
    // no element, which EventBridge treats like an absent field.
    if (value.length === 0) return matchers.some((m) => matchesOne(m, undefined, path));
    return value.some((element) => matchers.some((m) => matchesOne(m, element, path)));
  }
  return matchers.some((m) => matchesOne(m, value, path));
};

const matchesObject = (pattern: EventPattern, event: unknown, path: string): boolean => {
  const source = isPlainObject(event) ? event : undefined;
  return Object.entries(pattern).every(([key, sub]) => {
    const childPath = path ? `${path}.${key}` : key;
    const value = source?.[key];
    if (Array.isArray(sub)) return matchesLeaf(sub, value, childPath);
    if (isPlainObject(sub)) return matchesObject(sub as EventPattern, value, childPath);
    throw new UnsupportedPatternError(`${childPath}: a pattern value must be an array or an object`);
  });
};

/**
 * Whether `event` matches the EventBridge `pattern`. Throws `UnsupportedPatternError` for patterns
 * outside the documented subset.
 */
export const matchesEventPattern = (pattern: EventPattern, event: unknown): boolean => {
  if (!isPlainObject(pattern) || Object.keys(pattern).length === 0) {
    throw new UnsupportedPatternError('a pattern must be a non-empty object');
  }
  return matchesObject(pattern, event, '');
};

/** Pipes semantics for `FilterCriteria.Filters`: a record passes when any filter matches. */
export const matchesAnyEventPattern = (patterns: readonly EventPattern[], event: unknown): boolean =>
  patterns.some((pattern) => matchesEventPattern(pattern, event));
