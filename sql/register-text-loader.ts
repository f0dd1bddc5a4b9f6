import { readFileSync } from 'node:fs';

/**
 * Lets Node's CommonJS loader require a `.sql` file as its text, the way esbuild bundles it into
 * the Lambda and jest transforms it in the tests, so the local runtime (`npm start`, `npm run bench`)
 * sends the very SQL of the `.sql` files. Import it before anything that imports `sql/queries.ts`.
 *
 * `require.extensions` is documented as deprecated, but on Node 20 it is the only hook for a file
 * extension in CommonJS `require` (ts-node registers `.ts` the same way).
 */
require.extensions['.sql'] = (module, filename) => {
  module.exports = readFileSync(filename, 'utf8');
};
