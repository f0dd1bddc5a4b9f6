import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildBrowserBundle } from '../../client/build';
import { created, handled } from './notifications';

/** The browser bundle: it builds for platform browser, pulls in no Node built-in, and runs. */
describe('browser bundle (esbuild)', () => {
  let dir: string;
  let outfile: string;
  let inputs: string[];
  let code: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'client-bundle-'));
    outfile = join(dir, 'client.browser.js');
    const result = await buildBrowserBundle({ outfile, sourcemap: false });
    expect(result.errors).toEqual([]);
    inputs = Object.keys(result.metafile?.inputs ?? {});
    code = readFileSync(outfile, 'utf8');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('contains no Node built-in: no require(), no node: imports', () => {
    expect(code.length).toBeGreaterThan(10_000);
    expect(code).not.toMatch(/\brequire\(\s*["'`]/);
    expect(code).not.toMatch(/\bfrom\s*["'`](node:|fs|net|tls|crypto|events|stream|http|https|os|path|url|util|child_process)["'`]/);
    expect(code).not.toMatch(/\bimport\(\s*["'`]/);
    expect(inputs.some((i) => i.startsWith('node:'))).toBe(false);
  });

  it('uses the browser builds of its dependencies (MQTT.js dist, not its Node build or ws)', () => {
    expect(inputs).toContain('node_modules/mqtt/dist/mqtt.esm.js');
    expect(inputs.some((i) => i.startsWith('node_modules/mqtt/build/'))).toBe(false);
    expect(inputs.some((i) => i.startsWith('node_modules/ws/'))).toBe(false);
    expect(inputs.some((i) => i.startsWith('node_modules/events/') || i === 'events')).toBe(false);
    expect(inputs).toContain('contracts/envelope.ts');
  });

  it('carries no AWS SDK: browsers reach AWS through the agent API and the IoT authorizer only', () => {
    // @aws-crypto/sha256-js (the client id owner hash of contracts/agent-access.ts) brings only @smithy/util-utf8.
    expect(inputs.filter((i) => /node_modules\/@aws-sdk\//.test(i) || (/node_modules\/@smithy\//.test(i) && !i.startsWith('node_modules/@smithy/util-utf8/')))).toEqual([]);
    expect(inputs).not.toContain('client/inbox.ts');
    expect(inputs).not.toContain('client/claim.ts');
    expect(inputs).not.toContain('client/aws-iot-url.ts');
  });

  it('keeps only zod’s English locale (the one its default error messages use)', () => {
    expect(inputs.filter((i) => i.startsWith('node_modules/zod/v4/locales/'))).toEqual(['node_modules/zod/v4/locales/en.js']);
  });

  it('loads as an ES module and works (fold, isNew, token expiry, authorizer URL, client) with only browser globals', async () => {
    // Node 20 lacks \`navigator\`, which MQTT.js's browser build reads at load; a browser has it.
    const script = `
      globalThis.navigator ??= { userAgent: 'bundle-test' };
      const m = await import(${JSON.stringify(pathToFileURL(outfile).href)});
      const s1 = m.fold(m.emptyState, ${JSON.stringify(created('m1'))});
      const s2 = m.fold(s1, ${JSON.stringify(handled('m1'))});
      const jwt = ['{"alg":"RS256"}', '{"sub":"a","exp":2000000000}'].map((p) => btoa(p).replace(/=+$/, '')).join('.') + '.sig';
      const url = m.authorizerWebSocketUrl({ endpoint: 'x-ats.iot.us-east-1.amazonaws.com', authorizerName: 'convo-notify-agent-jwt' }, jwt);
      const client = new m.AgentClient({ clientId: 'dev-1', agentId: 'a', brokerUrl: 'wss://example.invalid/mqtt' });
      let seen = 0; client.on('presence', () => { seen += 1; });
      console.log(JSON.stringify({
        exports: ['AgentClient', 'AgentApi', 'ApiInbox', 'openAgentDevice', 'SharedAgentDevice', 'IndexedDbStorage', 'MemoryStorage', 'attachOsNotifications', 'fold', 'isNew', 'newMessages', 'NotificationEnvelopeSchema'].filter((k) => !(k in m)),
        absent: ['Inbox', 'claimMessage', 'createAwsIotWebSocketUrl'].filter((k) => k in m),
        invalid: m.parseNotification('{"kind":"message.created"}', 'push').error.issues[0],
        newAfterCreated: m.isNew(s1, 'm1'), newAfterHandled: m.isNew(s2, 'm1'),
        url: url.split('?')[0], query: [...new URL(url).searchParams.keys()], expiry: m.tokenExpiry(jwt).toISOString(), seen,
      }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 }).catch(
      (err: { stderr?: string }) => {
        throw new Error(`the bundle failed to load: ${String(err.stderr).split('\n').filter((l) => /Error/.test(l)).join('\n').slice(0, 2000)}`);
      },
    );
    expect(JSON.parse(stdout)).toEqual({
      exports: [],
      absent: [],
      invalid: 'notificationId: Invalid input: expected string, received undefined',
      newAfterCreated: true,
      newAfterHandled: false,
      url: 'wss://x-ats.iot.us-east-1.amazonaws.com/mqtt',
      query: ['x-amz-customauthorizer-name', 'token'],
      expiry: '2033-05-18T03:33:20.000Z',
      seen: 0,
    });
  });
});
