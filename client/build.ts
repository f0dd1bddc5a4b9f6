import { build, type BuildResult, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * Builds the client package (`npm run build:client`):
 * - `client/dist/client/*.js` + `.d.ts` (and the shared contracts under `client/dist/contracts/`),
 *   CommonJS with declarations, by `tsc -p client/tsconfig.build.json`: the package's `.`, `./node`
 *   and `./aws` entries;
 * - `client/dist/client.browser.js`: the browser bundle of the main entry (`browser.ts`), one ES
 *   module for platform `browser` with its dependencies (MQTT.js's browser build, zod, the SHA-256
 *   of the client id check) bundled in and no AWS SDK; its types are `dist/client/browser.d.ts`.
 *
 *   npx ts-node client/build.ts              → the package in client/dist
 *   npx ts-node client/build.ts out.js       → only the browser bundle, to out.js
 */
export const CLIENT_ENTRY = path.join(__dirname, 'browser.ts');
export const PACKAGE_DIR = __dirname;
export const DIST_DIR = path.join(__dirname, 'dist');
export const DEFAULT_OUTFILE = path.join(DIST_DIR, 'client.browser.js');

export interface BuildClientOptions {
  outfile?: string;
  minify?: boolean;
  sourcemap?: boolean;
}

/**
 * zod re-exports every locale as the `z.locales` namespace, so none of the ~40 locales can be
 * tree-shaken (about a third of the bundle). The client formats errors with zod's default English
 * messages and never reads `z.locales`, so the bundle keeps only `en`.
 */
export const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: path.join(path.dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: path.dirname(args.path),
    }));
  },
};

export const buildBrowserBundle = (options: BuildClientOptions = {}): Promise<BuildResult> =>
  build({
    entryPoints: [CLIENT_ENTRY],
    outfile: options.outfile ?? DEFAULT_OUTFILE,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['es2022'],
    minify: options.minify ?? true,
    // Keep class names: errors set `name` explicitly anyway, but stack traces stay readable.
    keepNames: true,
    sourcemap: options.sourcemap ?? true,
    logLevel: 'silent',
    metafile: true,
    plugins: [zodEnglishOnly],
  });

/** Emits the package's CommonJS modules and declarations into client/dist (after clearing it). */
export const emitPackage = (): void => {
  rmSync(DIST_DIR, { recursive: true, force: true });
  const tsc = path.join(__dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(__dirname, 'tsconfig.build.json')], { stdio: 'inherit' });
};

/** The whole package: modules, declarations and the browser bundle. */
export const buildClientPackage = async (): Promise<BuildResult> => {
  emitPackage();
  return buildBrowserBundle();
};

const sizeOf = (file: string): string => {
  const bytes = readFileSync(file);
  return `${bytes.length} bytes raw, ${gzipSync(bytes).length} bytes gzip`;
};

if (require.main === module) {
  const outfile = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  (outfile ? buildBrowserBundle({ outfile }) : buildClientPackage()).then(
    () => {
      const file = outfile ?? DEFAULT_OUTFILE;
      console.log(`built ${path.relative(process.cwd(), file)}: ${sizeOf(file)}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
