import schemaFile from './schema.sql';

/**
 * sql/schema.sql, the only copy of the schema, imported as text (esbuild bundles it into the
 * apply-schema Lambda; jest and the local runtime load it the same way). Its comments stay in:
 * `schemaStatements` drops them, and the deploy's schema hash covers the whole file.
 */
export const SCHEMA_SQL: string = schemaFile;

/**
 * The statements of `sql`, one per Data API call (ExecuteStatement runs one statement): split on
 * `;` outside string literals, quoted identifiers and comments, with comment-only pieces dropped.
 */
export const schemaStatements = (sql: string = SCHEMA_SQL): string[] => {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      if (end === -1) throw new Error(`unterminated ${c === "'" ? 'string literal' : 'quoted identifier'} in the schema`);
      current += sql.slice(i, end + 1);
      i = end + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
    } else if (c === ';') {
      statements.push(current.trim());
      current = '';
      i += 1;
    } else {
      current += c;
      i += 1;
    }
  }
  statements.push(current.trim());
  return statements.filter((statement) => statement.length > 0);
};
