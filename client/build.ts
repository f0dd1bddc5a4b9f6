import { build, type BuildResult } from 'esbuild';
import * as path from 'node:path';

/**
 * Builds the browser bundle of the client library from its main entry (`browser.ts`): one ES
 * module, platform `browser`, with its dependencies (MQTT.js's browser build, zod, the SHA-256 of
 * the client id check) bundled in. No AWS SDK: the main entry has none.
 *
 *   npx ts-node client/build.ts            → dist/client.browser.js
 *   npx ts-node client/build.ts out.js     → out.js
 */
export const CLIENT_ENTRY = path.join(__dirname, 'browser.ts');
export const DEFAULT_OUTFILE = path.join(__dirname, '..', 'dist', 'client.browser.js');

export interface BuildClientOptions {
  outfile?: string;
  minify?: boolean;
  sourcemap?: boolean;
}

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
  });

if (require.main === module) {
  const outfile = process.argv[2] ? path.resolve(process.argv[2]) : DEFAULT_OUTFILE;
  buildBrowserBundle({ outfile }).then(
    (result) => {
      const bytes = Object.values(result.metafile?.outputs ?? {}).reduce((n, o) => n + o.bytes, 0);
      console.log(`built ${path.relative(process.cwd(), outfile)} (${Math.round(bytes / 1024)} KiB with source map)`);
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
