/* global module */
/**
 * Jest transform for `.sql` files: the module is the file's text, as esbuild's `text` loader
 * bundles it into the Lambda and sql/register-text-loader.ts loads it in the local runtime, so the
 * tests run exactly the SQL that ships.
 *
 * Plain CommonJS, not TypeScript: jest requires its transformers with Node's own loader, before
 * any transform (ts-jest included) is in place.
 */
module.exports = {
  process: (sourceText) => ({ code: `module.exports = ${JSON.stringify(sourceText)};` }),
};
