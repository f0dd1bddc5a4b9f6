/**
 * A `.sql` file imported from TypeScript is its text. Every loader agrees on that: esbuild in the
 * Lambda bundle (`loader: { '.sql': 'text' }` in infra/constructs/task-function.ts), jest
 * (test/support/sql-text-transform.cjs) and the local runtime (sql/register-text-loader.ts).
 */
declare module '*.sql' {
  const text: string;
  export default text;
}
