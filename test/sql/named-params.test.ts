import type { SqlParameter } from '@aws-sdk/client-rds-data';
import { NamedParameterError, fieldValue, toPositional } from '../../local/emulators/data-api/named-params';
import recipientsDirectFile from '../../sql/recipients-direct.sql';
import { RECIPIENT_QUERIES } from '../../sql/queries';

const str = (name: string, value: string): SqlParameter => ({ name, value: { stringValue: value } });

describe('toPositional: placeholders', () => {
  it('numbers named parameters in order of first use and reuses the number of a repeated name', () => {
    const out = toPositional('SELECT * FROM t WHERE a = :a AND b = :b OR a2 = :a', [str('b', 'B'), str('a', 'A')]);
    expect(out).toEqual({ text: 'SELECT * FROM t WHERE a = $1 AND b = $2 OR a2 = $1', values: ['A', 'B'], names: ['a', 'b'] });
  });

  it('leaves ::casts alone, including right after a placeholder', () => {
    expect(toPositional('SELECT :x::text, 1::int, col::varchar(3)', [str('x', 'v')]).text).toBe('SELECT $1::text, 1::int, col::varchar(3)');
  });

  it('leaves string literals, E-strings, quoted identifiers, dollar quotes and comments alone', () => {
    const sql = [
      "SELECT ':no', 'it''s :no', E'back\\' :no', \"col:no\", $$ :no $$, $tag$ :no $tag$, :yes",
      '-- a comment with :no',
      '/* a block /* nested :no */ still :no */ FROM t',
    ].join('\n');
    const out = toPositional(sql, [str('yes', 'Y')]);
    expect(out.values).toEqual(['Y']);
    expect(out.text).toBe(sql.replace(':yes', '$1'));
  });

  it('does not take a colon followed by a digit (array slices) for a parameter', () => {
    expect(toPositional('SELECT arr[1:2] FROM t', []).text).toBe('SELECT arr[1:2] FROM t');
  });

  it('translates every recipients query with the parameters the handler sends', () => {
    for (const query of Object.values(RECIPIENT_QUERIES)) {
      const out = toPositional(query.sql, [
        str('tenant_id', 't'),
        str(query.audienceParameter, 'x'),
        { name: 'exclude_agent_id', value: { isNull: true } },
        { name: 'after_agent_id', value: { isNull: true } },
        { name: 'after_client_id', value: { isNull: true } },
        { name: 'page_limit', value: { longValue: 101 } },
      ]);
      expect(out.text).not.toMatch(/(?<!:):[a-z_]/);
      expect(out.values).toHaveLength(6);
    }
  });
});

describe('toPositional: a :name that is not a placeholder', () => {
  // Each statement names :agent_id once where it is not a placeholder and once where it is: only
  // the second becomes $1, and the first stays in the text as written.
  it.each([
    ['a line comment', 'SELECT d.client_id -- one row per :agent_id\nFROM devices d WHERE d.agent_id = :agent_id'],
    ['a line comment ended by a carriage return', 'SELECT d.client_id -- one row per :agent_id\rFROM devices d WHERE d.agent_id = :agent_id'],
    ['a block comment', 'SELECT /* :agent_id, see below */ :agent_id'],
    ['a nested block comment', 'SELECT /* outer /* inner */ still outer :agent_id */ :agent_id'],
    ['a string literal', "SELECT 'at :agent_id', :agent_id"],
    ["a string literal with '' escapes", "SELECT 'it''s :agent_id''s', :agent_id"],
    ['an E-string with a backslash-escaped quote', "SELECT E'back\\' :agent_id', :agent_id"],
    ['a quoted identifier', 'SELECT "at :agent_id", "a "" :agent_id", :agent_id'],
    ['a dollar-quoted string', 'SELECT $$ :agent_id $$, :agent_id'],
    ['a tagged dollar-quoted string with $$ inside', 'SELECT $body$ $$ :agent_id $$ $body$, :agent_id'],
    ['a dollar-quoted string with a non-ASCII tag', 'SELECT $é$ :agent_id $é$, :agent_id'],
    ['a ::type cast whose type has the name', 'SELECT d.x::agent_id, :agent_id'],
  ])('leaves :agent_id in %s alone', (_case, sql) => {
    const out = toPositional(sql, [str('agent_id', 'a-1')]);
    const last = sql.lastIndexOf(':agent_id');
    expect(out).toEqual({ text: `${sql.slice(0, last)}$1`, values: ['a-1'], names: ['agent_id'] });
  });

  it('leaves the parameter names in the comment header of a .sql file alone', () => {
    const header = recipientsDirectFile.slice(0, recipientsDirectFile.indexOf('SELECT'));
    expect(header).toContain(':agent_id');
    const out = toPositional(recipientsDirectFile, [
      str('tenant_id', 't'),
      str('agent_id', 'a-1'),
      { name: 'exclude_agent_id', value: { isNull: true } },
      { name: 'after_agent_id', value: { isNull: true } },
      { name: 'after_client_id', value: { isNull: true } },
      { name: 'page_limit', value: { longValue: 101 } },
    ]);
    expect(out.text.slice(0, header.length)).toBe(header);
    expect(out.text.slice(header.length)).not.toMatch(/(?<!:):[a-z_]/);
    expect(out.names).toEqual(['agent_id', 'tenant_id', 'exclude_agent_id', 'after_agent_id', 'after_client_id', 'page_limit']);
  });
});

describe('toPositional: values', () => {
  it('maps every scalar Data API field to the value a driver binds', () => {
    const out = toPositional('SELECT :s, :l, :d, :b, :n, :blob', [
      str('s', 'text'),
      { name: 'l', value: { longValue: 42 } },
      { name: 'd', value: { doubleValue: 1.5 } },
      { name: 'b', value: { booleanValue: false } },
      { name: 'n', value: { isNull: true } },
      { name: 'blob', value: { blobValue: new Uint8Array([1, 2]) } },
    ]);
    expect(out.values).toEqual(['text', 42, 1.5, false, null, new Uint8Array([1, 2])]);
  });

  it('casts a placeholder with a typeHint to the type the hint names', () => {
    const out = toPositional('SELECT :id, :doc, :at, :day, :time, :amount', [
      { name: 'id', value: { stringValue: '00000000-0000-0000-0000-000000000000' }, typeHint: 'UUID' },
      { name: 'doc', value: { stringValue: '{}' }, typeHint: 'JSON' },
      { name: 'at', value: { stringValue: '2025-03-04 10:15:30' }, typeHint: 'TIMESTAMP' },
      { name: 'day', value: { stringValue: '2025-03-04' }, typeHint: 'DATE' },
      { name: 'time', value: { stringValue: '10:15:30' }, typeHint: 'TIME' },
      { name: 'amount', value: { stringValue: '12.50' }, typeHint: 'DECIMAL' },
    ]);
    expect(out.text).toBe(
      'SELECT CAST($1 AS uuid), CAST($2 AS json), CAST($3 AS timestamp), CAST($4 AS date), CAST($5 AS time), CAST($6 AS numeric)',
    );
  });

  it('rejects array values, as the Data API does', () => {
    expect(() => fieldValue('a', { arrayValue: { stringValues: ['x'] } })).toThrow(NamedParameterError);
  });
});

describe('toPositional: mistakes are errors, not silent SQL', () => {
  it.each([
    ['a placeholder without a parameter', 'SELECT :a', []],
    ['a parameter the SQL never uses', 'SELECT 1', [str('a', 'x')]],
    ['a parameter given twice', 'SELECT :a', [str('a', 'x'), str('a', 'y')]],
    ['a parameter without a name', 'SELECT 1', [{ value: { stringValue: 'x' } }]],
    ['a parameter without a value', 'SELECT :a', [{ name: 'a' }]],
    ['an unknown typeHint', 'SELECT :a', [{ name: 'a', value: { stringValue: 'x' }, typeHint: 'XML' }]],
    ['an unterminated string literal', "SELECT ':a", []],
    ['an unterminated block comment', 'SELECT /* :a', []],
    ['an unterminated dollar quote', 'SELECT $$ :a', []],
  ] as [string, string, SqlParameter[]][])('throws NamedParameterError for %s', (_case, sql, parameters) => {
    expect(() => toPositional(sql, parameters)).toThrow(NamedParameterError);
  });

  it('accepts unused parameters when asked to', () => {
    expect(toPositional('SELECT 1', [str('a', 'x')], { rejectUnused: false })).toEqual({ text: 'SELECT 1', values: [], names: [] });
  });
});
