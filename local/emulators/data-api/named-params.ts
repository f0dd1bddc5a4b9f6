import type { Field, SqlParameter } from '@aws-sdk/client-rds-data';

/**
 * Turns a statement written for the RDS Data API (`:name` placeholders plus `SqlParameter[]`)
 * into what a PostgreSQL driver takes (`$1, $2, …` plus an array of values), so the same SQL
 * and the same parameters the Lambdas send to Aurora run unchanged on PGlite in tests and in the
 * local runtime.
 *
 * The scanner leaves alone everything that only looks like a placeholder: `::type` casts, string
 * literals ('…', E'…' with backslash escapes, $tag$…$tag$), quoted identifiers and comments.
 * A name used twice maps to the same `$n`. A `typeHint` becomes an explicit cast of the
 * placeholder, which is what the Data API does with it on the server side.
 */

export class NamedParameterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NamedParameterError';
  }
}

export interface PositionalStatement {
  /** The SQL with `$n` placeholders. */
  text: string;
  /** `values[n - 1]` is the value of `$n`. */
  values: unknown[];
  /** `names[n - 1]` is the Data API name `$n` came from. */
  names: string[];
}

export interface ToPositionalOptions {
  /**
   * Reject parameters that the SQL never uses, which is almost always a typo on one side.
   * @default true
   */
  rejectUnused?: boolean;
}

const TYPE_HINT_CASTS: Record<string, string> = {
  JSON: 'json',
  UUID: 'uuid',
  TIMESTAMP: 'timestamp',
  DATE: 'date',
  TIME: 'time',
  DECIMAL: 'numeric',
};

const isIdentStart = (c: string | undefined): boolean => c !== undefined && /[A-Za-z_]/.test(c);
const isIdentPart = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);
/**
 * A character PostgreSQL's lexer continues an identifier with (`ident_cont`: any non-ASCII
 * character and `$` too). A `$` or an E-string quote right after one belongs to that identifier.
 */
const continuesSqlIdentifier = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

/** The JavaScript value a PostgreSQL driver binds for one Data API `Field`. */
export const fieldValue = (name: string, field: Field | undefined): unknown => {
  if (field === undefined) throw new NamedParameterError(`parameter :${name} has no value`);
  if (field.isNull === true) return null;
  if (field.stringValue !== undefined) return field.stringValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.blobValue !== undefined) return field.blobValue;
  // The Data API rejects array parameters too ("Array parameters are not supported").
  if (field.arrayValue !== undefined) throw new NamedParameterError(`parameter :${name}: array values are not supported`);
  throw new NamedParameterError(`parameter :${name} has an empty value`);
};

/** End index (exclusive) of the quoted section that starts at `start` with `quote`; `''` or `""` escape it. */
const skipQuoted = (sql: string, start: number, quote: string, backslashEscapes: boolean): number => {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i += 1;
  }
  throw new NamedParameterError(`unterminated ${quote === "'" ? 'string literal' : 'quoted identifier'} at offset ${start}`);
};

/** PostgreSQL block comments nest. */
const skipBlockComment = (sql: string, start: number): number => {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth += 1;
      i += 2;
    } else if (sql.startsWith('*/', i)) {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  throw new NamedParameterError(`unterminated block comment at offset ${start}`);
};

/** A dollar-quote tag follows the rules of an unquoted identifier, non-ASCII letters included, without `$`. */
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

export const toPositional = (
  sql: string,
  parameters: readonly SqlParameter[] = [],
  options: ToPositionalOptions = {},
): PositionalStatement => {
  const byName = new Map<string, SqlParameter>();
  for (const parameter of parameters) {
    if (parameter.name === undefined || parameter.name === '') {
      throw new NamedParameterError('every parameter needs a name (positional Data API parameters are not supported)');
    }
    if (byName.has(parameter.name)) throw new NamedParameterError(`parameter :${parameter.name} is given twice`);
    byName.set(parameter.name, parameter);
  }

  const positions = new Map<string, number>();
  const values: unknown[] = [];
  const names: string[] = [];
  let text = '';
  let i = 0;

  const placeholderFor = (name: string): string => {
    const parameter = byName.get(name);
    if (parameter === undefined) throw new NamedParameterError(`no parameter given for :${name}`);
    let position = positions.get(name);
    if (position === undefined) {
      values.push(fieldValue(name, parameter.value));
      names.push(name);
      position = values.length;
      positions.set(name, position);
    }
    const cast = parameter.typeHint === undefined ? undefined : TYPE_HINT_CASTS[parameter.typeHint];
    if (parameter.typeHint !== undefined && cast === undefined) {
      throw new NamedParameterError(`parameter :${name} has an unknown typeHint ${parameter.typeHint}`);
    }
    return cast === undefined ? `$${position}` : `CAST($${position} AS ${cast})`;
  };

  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    let end: number | undefined;

    if (c === "'") {
      const backslashes = i > 0 && /[eE]/.test(sql[i - 1]) && !continuesSqlIdentifier(sql[i - 2]);
      end = skipQuoted(sql, i, "'", backslashes);
    } else if (c === '"') {
      end = skipQuoted(sql, i, '"', false);
    } else if (c === '-' && next === '-') {
      // PostgreSQL ends a line comment at a carriage return as well as at a line feed.
      const newline = sql.slice(i).search(/[\n\r]/);
      end = newline === -1 ? sql.length : i + newline;
    } else if (c === '/' && next === '*') {
      end = skipBlockComment(sql, i);
    } else if (c === '$' && !continuesSqlIdentifier(sql[i - 1])) {
      const tag = DOLLAR_TAG.exec(sql.slice(i))?.[0];
      if (tag !== undefined) {
        const close = sql.indexOf(tag, i + tag.length);
        if (close === -1) throw new NamedParameterError(`unterminated dollar-quoted string at offset ${i}`);
        end = close + tag.length;
      }
    } else if (c === ':' && next === ':') {
      end = i + 2;
    } else if (c === ':' && isIdentStart(next)) {
      let j = i + 1;
      while (isIdentPart(sql[j])) j += 1;
      text += placeholderFor(sql.slice(i + 1, j));
      i = j;
      continue;
    }

    if (end === undefined) end = i + 1;
    text += sql.slice(i, end);
    i = end;
  }

  if (options.rejectUnused ?? true) {
    const unused = [...byName.keys()].filter((name) => !positions.has(name));
    if (unused.length > 0) throw new NamedParameterError(`parameters not used by the statement: ${unused.map((n) => `:${n}`).join(', ')}`);
  }
  return { text, values, names };
};
