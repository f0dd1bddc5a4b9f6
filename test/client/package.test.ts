import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildClientPackage, PACKAGE_DIR } from '../../client/build';
import { writeOfflineLockfile } from '../support/offline-install';

/**
 * The client as a package, the way an AgentCRM app gets it: `npm pack`, installed into a fresh
 * project from the local npm cache (no registry), type-checked against its emitted declarations
 * through the `exports` map, and imported in Node.
 */
const run = promisify(execFile);
const REPO = join(__dirname, '..', '..');
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

const CONSUMER_TS = `
import { AgentApi, AgentClient, MemoryStorage, TokenSource, NotAuthorizedError, foldAll, emptyState, newMessages, tokenExpiry, type MessageView } from '@convo-notify/client';
import { FileStorage } from '@convo-notify/client/node';

const tokens = new TokenSource({ getToken: async () => 'a.b.c' });
const api = new AgentApi({ baseUrl: 'https://api.example.com', tokens, fetch: async () => new Response('{}') });
const storage = new MemoryStorage();
const client = new AgentClient({ clientId: '0123456789abcdef-0123456789abcdef', agentId: 'a', brokerUrl: 'wss://example.invalid/mqtt', store: storage.open({ agentId: 'a', clientId: 'x' }) });
const views: MessageView[] = newMessages(foldAll(emptyState, []));
const expiry: Date | undefined = tokenExpiry('x');
const isAuthError = (e: unknown): boolean => e instanceof NotAuthorizedError;
void FileStorage.open('/tmp/x.json');
export { api, client, views, expiry, isAuthError };
`;

const CONSUMER_RUN = `
const c = require('@convo-notify/client');
const { FileStorage } = require('@convo-notify/client/node');
const path = require('node:path');
(async () => {
  const file = await FileStorage.open(path.join(process.cwd(), 'state.json'));
  await file.setDevice('agent-1', 'dev-1');
  const again = await FileStorage.open(path.join(process.cwd(), 'state.json'));
  const client = new c.AgentClient({ clientId: 'dev-1', agentId: 'agent-1', brokerUrl: 'mqtt://127.0.0.1:1' });
  console.log(JSON.stringify({
    device: await again.getDevice('agent-1'),
    exports: ['AgentClient', 'AgentApi', 'ApiInbox', 'SharedAgentDevice', 'IndexedDbStorage', 'attachOsNotifications', 'fold'].filter((k) => typeof c[k] !== 'function'),
    noSdk: !('Inbox' in c) && !('claimMessage' in c),
    online: client.isOnline,
  }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe('client package (npm pack → install → type-check → import)', () => {
  let work: string;
  let consumer: string;

  beforeAll(async () => {
    await buildClientPackage();
    work = mkdtempSync(join(tmpdir(), 'client-package-'));
    await run('npm', ['pack', '--pack-destination', work], { cwd: PACKAGE_DIR, timeout: 120_000 });
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    consumer = join(work, 'consumer');
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8'));
    writeOfflineLockfile({ repoRoot: REPO, projectDir: consumer, tarball: { name: manifest.name, file: `../${tarball}`, manifest } });
    await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: consumer, timeout: 180_000 });
  }, 300_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('installs with mqtt as a peer dependency from the local cache', () => {
    const installed = readdirSync(join(consumer, 'node_modules'));
    expect(installed).toEqual(expect.arrayContaining(['@convo-notify', 'mqtt', 'zod']));
    // @aws-crypto/sha256-js brings @aws-sdk/types (declarations only); no SDK client is installed.
    expect(readdirSync(join(consumer, 'node_modules', '@aws-sdk'))).toEqual(['types']);
  });

  it('type-checks an app against the emitted declarations through the exports map', async () => {
    writeFileSync(join(consumer, 'app.ts'), CONSUMER_TS);
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', lib: ['ES2022', 'DOM'], types: [], skipLibCheck: true }, files: ['app.ts'] }),
    );
    await expect(run(process.execPath, [TSC, '-p', consumer], { cwd: consumer, timeout: 120_000 })).resolves.toBeDefined();
  }, 120_000);

  it('imports and runs in Node (main and node entries), without the AWS SDK in the main entry', async () => {
    writeFileSync(join(consumer, 'run.cjs'), CONSUMER_RUN);
    const { stdout } = await run(process.execPath, ['run.cjs'], { cwd: consumer, timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({ device: 'dev-1', exports: [], noSdk: true, online: false });
  }, 60_000);
});
