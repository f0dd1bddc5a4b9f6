import { request } from 'node:http';
import { startDashboard, type Dashboard } from '../../local/dashboard/server';
import { buildGraph, takenTransitions, type AslStates } from '../../local/dashboard/graph';
import { MESSAGE_BODY_MAX_CHARS } from '../../local/dashboard/limits';
import type { DashboardConfig, ExecutionRecord, ExecutionSummary, PostMessageResponse } from '../../local/dashboard/types';
import { seededClientId } from '../../local/runtime/seed';
import { startLocalStack, type LocalStack } from '../../local/runtime/stack';

describe('dashboard API', () => {
  let stack: LocalStack;
  let dashboard: Dashboard;
  const previousLogLevel = process.env.LOG_LEVEL;

  beforeAll(async () => {
    // The task handlers read it when the stack loads them; every record logged at INFO would bury the results.
    process.env.LOG_LEVEL = 'WARN';
    stack = await startLocalStack({ retryIntervalMs: 0 });
    dashboard = await startDashboard({ stack });
  }, 120_000);
  afterAll(async () => {
    // The last tests post messages: their executions must finish before the stack and jest go away.
    await stack?.settle();
    await dashboard?.close();
    await stack?.stop();
    if (previousLogLevel === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = previousLogLevel;
  });

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(new URL(path, dashboard.url), {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: () => JSON.parse(text) };
  };

  const post = async (body: unknown) => call('POST', '/api/messages', body);

  it('serves the page and the app bundled in memory', async () => {
    const page = await call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<script type="module" src="/app.js">');
    const app = await call('GET', '/app.js');
    expect(app.type).toMatch(/javascript/);
    expect(app.text.length).toBeGreaterThan(10_000);
    expect(app.text).toContain('//# sourceMappingURL=app.js.map');
    expect((await call('GET', '/nope')).status).toBe(404);
  });

  it('bundles the page with the client\'s browser entry: no AWS SDK and no AWS credentials reach the page', async () => {
    const sources = ((await call('GET', '/app.js.map')).json() as { sources: string[] }).sources;
    expect(sources).toEqual(expect.arrayContaining([expect.stringMatching(/client\/tabs\.ts$/), expect.stringMatching(/client\/indexeddb-store\.ts$/)]));
    // The one @smithy module is the UTF-8 encoder of @aws-crypto/sha256-js (the client id check), no SDK.
    expect(sources.filter((s) => /@aws-sdk\/|@smithy\/(?!util-utf8\/)|client\/aws\.ts$/.test(s))).toEqual([]);
  });

  it('gives the page the agent API, the broker and its authorizer, the dev sign-in, and the seeded agents with their devices', async () => {
    const config = (await call('GET', '/api/config')).json() as DashboardConfig;
    expect(config).toMatchObject({
      region: 'us-east-1',
      tenantId: 'acme',
      apiUrl: stack.endpoints.agentApi,
      iotEndpoint: stack.endpoints.mqttWs,
      authorizerName: stack.config.authorizerName,
      tokenUrl: `${stack.endpoints.tokenIssuer}/dev/token`,
    });
    // What a browser must never be given: AWS endpoints it would call with credentials.
    expect(Object.keys(config).sort()).toEqual(['agents', 'apiUrl', 'authorizerName', 'iotEndpoint', 'region', 'senders', 'teams', 'tenantId', 'tokenUrl']);
    expect(config.agents.map((a) => [a.agentId, a.devices])).toEqual([
      ['alice', [{ label: 'laptop', clientId: seededClientId('alice', 'laptop') }, { label: 'phone', clientId: seededClientId('alice', 'phone') }]],
      ['bob', [{ label: 'laptop', clientId: seededClientId('bob', 'laptop') }]],
      ['carol', [{ label: 'laptop', clientId: seededClientId('carol', 'laptop') }]],
      ['dave', [{ label: 'laptop', clientId: seededClientId('dave', 'laptop') }]],
    ]);
    expect(config.teams).toEqual([
      { teamId: 'support', members: ['alice', 'bob', 'carol'] },
      { teamId: 'sales', members: ['carol', 'dave'] },
    ]);
    expect(config.senders).toEqual([{ senderId: 'customer-vip', followers: ['alice', 'carol'] }]);
  });

  it('the dev sign-in of the config mints a token for a seeded agent and refuses any other', async () => {
    const { tokenUrl } = (await call('GET', '/api/config')).json() as DashboardConfig;
    const signIn = (agentId: string) => fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ agentId }) });
    const alice = await signIn('alice');
    expect(alice.status).toBe(200);
    expect(await alice.json()).toMatchObject({ token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
    expect((await signIn('mallory')).status).toBe(404);
  });

  it.each([
    [{ body: 'hi' }, 'audience', 'must be one of "sender", "team", "assigned"'],
    [{ audience: 'everyone', body: 'hi' }, 'audience', 'must be one of "sender", "team", "assigned"'],
    [{ audience: 'team', body: 'hi' }, 'teamId', 'is required for audience "team"'],
    [{ audience: 'assigned', body: 'hi', assignedAgentId: '' }, 'assignedAgentId', 'must not be empty'],
    [{ audience: 'sender', body: 'hi' }, 'senderId', 'is required for audience "sender"'],
    [{ audience: 'team', teamId: 'support', body: '   ' }, 'body', 'must not be empty'],
    [{ audience: 'team', teamId: 'support' }, 'body', 'is required'],
    [{ audience: 'team', teamId: 'support', body: 42 }, 'body', 'must be a string'],
    [{ audience: 'team', teamId: 'support', body: 'hi', teamid: 'x' }, 'teamid', 'is not a known field'],
    [{ audience: 'team', teamId: 'support', body: 'hi', conversationId: 'has space' }, 'conversationId', 'must be printable ASCII without spaces'],
    [[1, 2], '(body)', 'must be a JSON object'],
  ])('rejects %j naming the field %s', async (body, field, message) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    const error = res.json();
    expect(error).toMatchObject({ error: 'ValidationError', issues: expect.arrayContaining([{ field, message }]) });
    expect(error.message).toContain(`${field}: ${message}`);
  });

  it('rejects bodies that are not JSON', async () => {
    expect((await call('POST', '/api/messages', '{nope')).json()).toMatchObject({ error: 'InvalidJson' });
    const form = await call('POST', '/api/messages', 'audience=team', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect((await call('GET', '/api/messages')).status).toBe(405);
  });

  it('answers a malformed execution name in the URL with 400 and a message, not a 500 with a stack', async () => {
    const res = await call('GET', '/api/executions/%ZZ');
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({ error: 'MalformedUrl', message: 'the execution name in the URL is not valid percent-encoding: %ZZ' });
    expect((await call('POST', '/api/executions/%E0%A4%A/replay')).status).toBe(400);
  });

  it('names the message limit in characters for an oversized body, whether the request or only the message is too large', async () => {
    const huge = await post({ audience: 'team', teamId: 'support', body: 'x'.repeat(100 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.json()).toMatchObject({ error: 'PayloadTooLarge', issues: [{ field: 'body', message: `must be at most ${MESSAGE_BODY_MAX_CHARS} characters` }] });
    expect(huge.json().message).toContain(`${MESSAGE_BODY_MAX_CHARS} characters`);
    expect(huge.text).not.toMatch(/bytes/);

    const over = await post({ audience: 'team', teamId: 'support', body: 'x'.repeat(MESSAGE_BODY_MAX_CHARS + 1) });
    expect(over.status).toBe(400);
    expect(over.json().issues).toEqual([{ field: 'body', message: `must be at most ${MESSAGE_BODY_MAX_CHARS} characters` }]);
    expect(MESSAGE_BODY_MAX_CHARS).toBe(4000);
  });

  it('refuses requests addressed to another host name (DNS rebinding)', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(new URL('/api/config', dashboard.url), { headers: { host: 'attacker.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(421);
  });

  it('writes a valid message to CONVO_HISTORY; its execution is listed, inspectable and replayable', async () => {
    const res = await post({ audience: 'team', teamId: 'support', body: 'Where is my order?', senderId: 'customer-7' });
    expect(res.status).toBe(201);
    const posted = res.json() as PostMessageResponse;
    expect(posted.item).toMatchObject({ tenantId: 'acme', senderId: 'customer-7', senderType: 'customer', channel: 'web', teamId: 'support' });
    await stack.settle();

    const list = (await call('GET', '/api/executions')).json() as ExecutionSummary[];
    const summary = list.find((s) => s.records.some((r) => r.messageId === posted.messageId));
    expect(summary).toMatchObject({
      status: 'SUCCEEDED',
      records: [{ kind: 'created', conversationId: posted.conversationId, messageId: posted.messageId, topic: 'team', audience: 'team support', preview: 'Where is my order?' }],
    });
    expect(summary!.path).toEqual(expect.arrayContaining(['UseTeamTopic', 'SendToInbox']));

    const record = (await call('GET', `/api/executions/${summary!.name}`)).json() as ExecutionRecord;
    expect(record.events.length).toBeGreaterThan(10);
    // The path drawn on the page: the team branch, and the inbox creation of first use.
    const definition = (await call('GET', '/api/definition')).json() as AslStates;
    const taken = takenTransitions(buildGraph(definition), record.events);
    expect(taken).toContain('ChooseTopic→UseTeamTopic');
    expect(taken).not.toContain('ChooseTopic→UseDirectTopic');
    expect(taken).toContain('SendToInbox→CreateInboxQueue');
    expect(taken).toContain('MorePages?→AllRecipientsNotified');

    const replay = await call('POST', `/api/executions/${summary!.name}/replay`);
    expect(replay.status).toBe(201);
    expect(replay.json()).toMatchObject({ status: 'SUCCEEDED', replayOf: summary!.name, records: summary!.records });
    const after = (await call('GET', '/api/executions')).json() as ExecutionSummary[];
    expect(after[0]).toMatchObject({ name: replay.json().name, replayOf: summary!.name });

    expect((await call('GET', '/api/executions/no-such-execution')).status).toBe(404);
    expect((await call('POST', '/api/executions/no-such-execution/replay')).status).toBe(404);
  });

  it('streams each finished execution as a server-sent event', async () => {
    const controller = new AbortController();
    const res = await fetch(new URL('/api/events', dashboard.url), { signal: controller.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const posted = (await post({ audience: 'assigned', assignedAgentId: 'dave', body: 'For Dave' })).json() as PostMessageResponse;

    let buffer = '';
    let event: ExecutionSummary | undefined;
    while (!event) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buffer += Buffer.from(value).toString('utf8');
      for (const frame of buffer.split('\n\n')) {
        const data = /^event: execution\ndata: (.*)$/m.exec(frame)?.[1];
        const summary = data ? (JSON.parse(data) as ExecutionSummary) : undefined;
        if (summary?.records.some((r) => r.messageId === posted.messageId)) event = summary;
      }
    }
    controller.abort();
    expect(event.path).toContain('UseDirectTopic');
  });

  // After the test above: these posts create inbox queues whose first use that test looks for.
  it.each([
    [{ audience: 'team', teamId: 'nobody-team' }, 'no active device for team "nobody-team": nobody will be notified'],
    [{ audience: 'assigned', assignedAgentId: 'zed' }, 'no active device for agent "zed": nobody will be notified'],
    [{ audience: 'sender', senderId: 'customer-unknown' }, 'no active device follows sender "customer-unknown": nobody will be notified'],
  ])('writes a message to an audience nobody is in (%j) and warns that nobody will be notified', async (audience, warning) => {
    const res = await post({ ...audience, body: 'Anyone there?' });
    expect(res.status).toBe(201);
    expect(res.json()).toMatchObject({ warning });
  });

  it.each([
    [{ audience: 'team', teamId: 'sales' }],
    [{ audience: 'assigned', assignedAgentId: 'bob' }],
    [{ audience: 'sender', senderId: 'customer-vip' }],
  ])('gives no warning when the audience %j has active devices', async (audience) => {
    const res = await post({ ...audience, body: 'Hello' });
    expect(res.status).toBe(201);
    expect(res.json()).not.toHaveProperty('warning');
  });
});
