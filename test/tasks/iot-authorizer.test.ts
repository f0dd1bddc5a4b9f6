import '../support/task-env';
import type { IoTCustomAuthorizerEvent } from 'aws-lambda';
import { IOT_SESSION_MAX_SECONDS, issueClientId } from '../../contracts/agent-access';
import type { IoTAuthorizerResponse } from '../../tasks/iot-authorizer/handler';
import { AUDIENCE, startTestIssuer, type TestIssuer } from '../support/agent-access';
import { captureLogs, captureMetrics, metricPoints, type LogEntry } from '../support/logs';

/**
 * The IoT custom authorizer with real RS256 tokens from a local JWKS, in the event shape AWS IoT
 * sends for an MQTT-over-WebSocket connection with signing disabled (token in the URL's query string).
 */

const IOT_ARN_PREFIX = 'arn:aws:iot:us-east-1:123456789012';

let issuer: TestIssuer;
let handler: (event: IoTCustomAuthorizerEvent) => Promise<IoTAuthorizerResponse>;

const nonce = (fill: number) => () => new Uint8Array(8).fill(fill);
const A_DEVICE = issueClientId('agent-a', nonce(1));
const B_DEVICE = issueClientId('agent-b', nonce(2));
const now = () => Math.floor(Date.now() / 1000);

const connect = (clientId: string | undefined, queryString: string): IoTCustomAuthorizerEvent =>
  ({
    signatureVerified: false,
    protocols: ['tls', 'http', 'mqtt'],
    protocolData: {
      tls: { serverName: 'example-ats.iot.us-east-1.amazonaws.com' },
      http: { headers: { host: 'example-ats.iot.us-east-1.amazonaws.com' }, queryString },
      ...(clientId === undefined ? {} : { mqtt: { clientId } }),
    },
    connectionMetadata: { id: 'c0ffee00-0000-4000-8000-000000000001' },
  }) as IoTCustomAuthorizerEvent;

const withToken = (clientId: string | undefined, token: string) =>
  connect(clientId, `?x-amz-customauthorizer-name=convo-notify-agent-jwt&token=${encodeURIComponent(token)}`);

const DENIED = { isAuthenticated: false, principalId: 'denied', policyDocuments: [], disconnectAfterInSeconds: 300, refreshAfterInSeconds: 300 };

let logs: LogEntry[];
const denials = () => logs.filter((l) => l.message === 'connection denied');

beforeAll(async () => {
  issuer = await startTestIssuer();
  Object.assign(process.env, { TOKEN_ISSUER: issuer.issuer, TOKEN_AUDIENCE: AUDIENCE, JWKS_URI: issuer.jwksUri, IOT_ARN_PREFIX });
  ({ handler } = await import('../../tasks/iot-authorizer/handler'));
});
afterAll(() => issuer.close());
beforeEach(() => {
  logs = captureLogs();
});
afterEach(() => {
  jest.restoreAllMocks();
});

describe('iot-authorizer', () => {
  it("allows A's own device: connect as it, subscribe and receive on its notify/ topic, until the token expires", async () => {
    const exp = now() + 3600;
    const out = await handler(withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', exp })));
    expect(out).toEqual({
      isAuthenticated: true,
      principalId: A_DEVICE.replace('-', ''),
      policyDocuments: [
        {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'iot:Connect', Resource: `${IOT_ARN_PREFIX}:client/${A_DEVICE}` },
            { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${IOT_ARN_PREFIX}:topicfilter/notify/${A_DEVICE}` },
            { Effect: 'Allow', Action: 'iot:Receive', Resource: `${IOT_ARN_PREFIX}:topic/notify/${A_DEVICE}` },
          ],
        },
      ],
      disconnectAfterInSeconds: expect.any(Number),
      refreshAfterInSeconds: expect.any(Number),
    });
    expect(out.principalId).toMatch(/^[a-zA-Z0-9]{1,128}$/);
    expect(Math.abs(out.disconnectAfterInSeconds - 3600)).toBeLessThanOrEqual(2);
    expect(out.refreshAfterInSeconds).toBe(out.disconnectAfterInSeconds);
    expect(JSON.stringify(out.policyDocuments[0]).length).toBeLessThanOrEqual(2048);
  });

  it('caps the session at 86,400 s for a token valid longer', async () => {
    const out = await handler(withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', exp: now() + 3 * 86_400 })));
    expect(out).toMatchObject({ isAuthenticated: true, disconnectAfterInSeconds: IOT_SESSION_MAX_SECONDS, refreshAfterInSeconds: IOT_SESSION_MAX_SECONDS });
  });

  it('accepts a Cognito access token (client_id, no aud)', async () => {
    const out = await handler(withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', aud: undefined, client_id: AUDIENCE, token_use: 'access' })));
    expect(out.isAuthenticated).toBe(true);
  });

  const cases: [string, () => Promise<IoTCustomAuthorizerEvent>, RegExp][] = [
    ["A's token with B's device", async () => withToken(B_DEVICE, await issuer.sign({ sub: 'agent-a' })), /not issued to this agent/],
    ['an expired token', async () => withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', exp: now() - 1 })), /token expired/],
    ['a token with under 5 minutes left', async () => withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', exp: now() + 299 })), /less than 300 s/],
    ['a token for another audience', async () => withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', aud: 'other-app' })), /audience/],
    ['a Cognito token of another app client', async () => withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', aud: undefined, client_id: 'other' })), /audience/],
    ['a token of another issuer', async () => withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', iss: 'https://evil.example.com' })), /"iss"/],
    ['an alg:none token', async () => withToken(A_DEVICE, issuer.unsigned({ sub: 'agent-a' })), /not a compact JWS/],
    ['an HS256 token keyed with the public key', async () => withToken(A_DEVICE, await issuer.hs256({ sub: 'agent-a' })), /algorithm not allowed/],
    ['a token signed by an unknown key', async () => withToken(A_DEVICE, await issuer.signWithForeignKey({ sub: 'agent-a' })), /signature verification failed/],
    ['an anonymous connect (no token)', async () => connect(A_DEVICE, '?x-amz-customauthorizer-name=convo-notify-agent-jwt'), /no token/],
    ['no query string at all', async () => connect(A_DEVICE, ''), /no token/],
    ['no MQTT client id', async () => withToken(undefined, await issuer.sign({ sub: 'agent-a' })), /client id is missing/],
    ['a client id with +', async () => withToken(`${A_DEVICE.slice(0, 17)}+${A_DEVICE.slice(18)}`, await issuer.sign({ sub: 'agent-a' })), /client id must be/],
    ['a client id with #', async () => withToken(`${A_DEVICE.slice(0, 17)}#${A_DEVICE.slice(18)}`, await issuer.sign({ sub: 'agent-a' })), /client id must be/],
    ['a client id with /', async () => withToken(`${A_DEVICE.slice(0, 17)}/${A_DEVICE.slice(18)}`, await issuer.sign({ sub: 'agent-a' })), /client id must be/],
    ['a client id with a space', async () => withToken(`${A_DEVICE.slice(0, 17)} ${A_DEVICE.slice(18)}`, await issuer.sign({ sub: 'agent-a' })), /client id must be/],
    ['a client id of 200 characters', async () => withToken('a'.repeat(200), await issuer.sign({ sub: 'agent-a' })), /33 characters, got 200/],
  ];

  it.each(cases)('denies %s, logging the reason but never the token', async (_name, make, reason) => {
    const event = await make();
    const out = await handler(event);
    expect(out).toEqual(DENIED);
    expect(denials()).toHaveLength(1);
    expect(denials()[0]).toMatchObject({ level: 'WARN', reason: expect.stringMatching(reason), connectionId: 'c0ffee00-0000-4000-8000-000000000001' });
    const token = new URLSearchParams(event.protocolData.http?.queryString?.slice(1) ?? '').get('token');
    if (token) for (const line of logs) expect(JSON.stringify(line)).not.toContain(token.split('.')[2] || token);
  });

  it('rejects junk without fetching the issuer keys', async () => {
    let isolated!: typeof handler;
    await jest.isolateModulesAsync(async () => {
      ({ handler: isolated } = await import('../../tasks/iot-authorizer/handler'));
    });
    const before = issuer.jwksRequests();
    const good = await issuer.sign({ sub: 'agent-a' });
    for (const event of [
      connect(A_DEVICE, ''),
      withToken(A_DEVICE, 'x'.repeat(9000)),
      withToken(A_DEVICE, 'not-a-jwt'),
      withToken(A_DEVICE, issuer.unsigned()),
      withToken('#', good),
      withToken('a'.repeat(200), good),
      withToken(undefined, good),
    ]) {
      expect(await isolated(event)).toEqual(DENIED);
    }
    expect(issuer.jwksRequests()).toBe(before);
    // The same fresh instance fetches the keys once for a real token, then verifies from its cache.
    expect((await isolated(withToken(A_DEVICE, good))).isAuthenticated).toBe(true);
    expect((await isolated(withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a' })))).isAuthenticated).toBe(true);
    expect(issuer.jwksRequests()).toBe(before + 1);
  });
});

describe('iot-authorizer: metrics', () => {
  const decisionOf = async (event: IoTCustomAuthorizerEvent) => {
    const emf = captureMetrics();
    await handler(event);
    return metricPoints(emf);
  };
  const decision = (value: 'allowed' | 'denied', reason: string) => [
    { name: 'AuthorizerDecisions', unit: 'Count', value: 1, namespace: 'ConvoNotify', dimensions: { service: 'iot-authorizer', decision: value, reason } },
  ];

  it.each<[string, 'allowed' | 'denied', string, () => Promise<IoTCustomAuthorizerEvent>]>([
    ["A's own device", 'allowed', 'allowed', async () => withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a' }))],
    ["A's token with B's device", 'denied', 'client-id-of-other-agent', async () => withToken(B_DEVICE, await issuer.sign({ sub: 'agent-a' }))],
    ['an expired token', 'denied', 'invalid-token', async () => withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', exp: now() - 1 }))],
    ['a token with under 5 minutes left', 'denied', 'token-expiring', async () => withToken(A_DEVICE, await issuer.sign({ sub: 'agent-a', exp: now() + 299 }))],
    ['no token', 'denied', 'malformed-token', async () => connect(A_DEVICE, '')],
    ['a client id with +', 'denied', 'malformed-client-id', async () => withToken(`${A_DEVICE.slice(0, 17)}+${A_DEVICE.slice(18)}`, await issuer.sign({ sub: 'agent-a' }))],
  ])('counts %s as one AuthorizerDecisions, %s by reason class %s', async (_case, value, reason, event) => {
    expect(await decisionOf(await event())).toEqual(decision(value, reason));
  });
});
