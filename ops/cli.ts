import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * What the command-line tools (`npm start`, `npm run replay`, `npm run smoke`) share: one error
 * class for "the command line is wrong" (exit code 2, with the usage text), node's flag parser with
 * its complaints turned into that error, and the exit-code plumbing of a `cli.ts`.
 */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagValues = Record<string, string | string[] | boolean | undefined>;

/** `node:util` parseArgs, strict; an unknown flag or a missing value is a UsageError. */
export const parseFlags = (config: Omit<ParseArgsConfig, 'strict'>): { values: FlagValues; positionals: string[] } => {
  try {
    const { values, positionals } = parseArgs({ ...config, strict: true });
    return { values: values as FlagValues, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
};

/** The flag's value when it is an http(s) URL (undefined stays undefined), else a UsageError naming the flag. */
export const httpUrlFlag = (flag: string, value: string | undefined): string | undefined => {
  if (value === undefined) return undefined;
  let protocol: string | undefined;
  try {
    protocol = new URL(value).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new UsageError(`--${flag} must be an http(s) URL, got "${value}"`);
  return value;
};

/** Runs a tool's `main` on the process's arguments and sets its exit code; a crash is exit 1, named. */
export const runCli = (name: string, main: (argv: readonly string[], io: { out(text: string): void; err(text: string): void }) => Promise<number>): void => {
  main(process.argv.slice(2), { out: (text) => console.log(text), err: (text) => console.error(text) }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(`error: ${name} stopped:`, error);
      process.exitCode = 1;
    },
  );
};
