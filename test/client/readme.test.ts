import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

/**
 * Every `ts` example of client/README.md type-checks, as an app would compile it: the package
 * names resolve to the package entries (client/browser.ts, node.ts, aws.ts), everything else to
 * the repo's node_modules.
 */
const REPO = join(__dirname, '..', '..');
const README = join(REPO, 'client', 'README.md');

const examples = (): string[] => [...readFileSync(README, 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

describe('client/README.md examples', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'client-readme-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has examples for the browser, Node and the trusted server side', () => {
    const found = examples();
    expect(found.length).toBeGreaterThanOrEqual(3);
    expect(found.some((e) => e.includes("from '@convo-notify/client'"))).toBe(true);
    expect(found.some((e) => e.includes("from '@convo-notify/client/node'"))).toBe(true);
    expect(found.some((e) => e.includes("from '@convo-notify/client/aws'"))).toBe(true);
  });

  it('type-checks every example against the package entries', () => {
    const files = examples().map((code, i) => {
      const file = join(dir, `example-${i + 1}.ts`);
      writeFileSync(file, code);
      return file;
    });
    const program = ts.createProgram(files, {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ES2022,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: ['node'],
      typeRoots: [join(REPO, 'node_modules', '@types')],
      skipLibCheck: true,
      esModuleInterop: true,
      baseUrl: REPO,
      paths: {
        '@convo-notify/client': [join(REPO, 'client', 'browser.ts')],
        '@convo-notify/client/node': [join(REPO, 'client', 'node.ts')],
        '@convo-notify/client/aws': [join(REPO, 'client', 'aws.ts')],
        '*': [join(REPO, 'node_modules', '*')],
      },
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.replace(dir, 'README')}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(diagnostics).toEqual([]);
  });
});
