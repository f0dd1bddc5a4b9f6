import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A fresh copy of `test/fixtures/<source>/<name>.json` on every call, so tests may mutate it. */
export const fixture = <T = Record<string, unknown>>(source: string, name: string): T =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', source, `${name}.json`), 'utf8')) as T;
