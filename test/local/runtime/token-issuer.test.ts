import { decodeProtectedHeader } from 'jose';
import { DEVICE_CONNECT_TOKEN_VALIDITY_MS } from '../../../client/device';
import { TokenSource } from '../../../client/token';
import { DEFAULT_TOKEN_LIFETIME_SECONDS, LOCAL_TOKEN_AUDIENCE, MIN_DEV_TOKEN_LIFETIME_SECONDS, startTokenIssuer, type LocalTokenIssuer } from '../../../local/runtime/token-issuer';
import { InvalidAgentTokenError, createAgentTokenVerifier } from '../../../tasks/shared/agent-token';

/** The local identity provider, verified by the same verifier as the agent API and the IoT authorizer. */

describe('local token issuer', () => {
  let issuer: LocalTokenIssuer;
  let verify: ReturnType<typeof createAgentTokenVerifier>;

  beforeAll(async () => {
    issuer = await startTokenIssuer({ isKnownAgent: (agentId) => agentId === 'alice' });
    verify = createAgentTokenVerifier({ issuer: issuer.issuer, audience: LOCAL_TOKEN_AUDIENCE, jwksUri: issuer.jwksUri, agentIdClaim: 'sub' });
  });
  afterAll(() => issuer.close());

  const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(issuer.tokenUrl, { method: 'POST', headers, body });

  it('is its own issuer URL, without a trailing slash, and serves one RS256 signing key as a JWKS', async () => {
    expect(issuer.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(issuer.jwksUri);
    expect(response.status).toBe(200);
    const { keys } = (await response.json()) as { keys: Record<string, unknown>[] };
    expect(keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: expect.any(String), n: expect.any(String), e: 'AQAB' })]);
    expect(keys[0]).not.toHaveProperty('d');
  });

  it('signs a seeded agent in through POST /dev/token with a token the agent-token verifier accepts for that agent', async () => {
    const response = await post(JSON.stringify({ agentId: 'alice' }));
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const { token, expiresAt } = (await response.json()) as { token: string; expiresAt: string };
    const verified = await verify(token);
    expect(verified.agentId).toBe('alice');
    expect(new Date(expiresAt).getTime()).toBe(verified.expiresAt * 1000);
    expect(Math.abs(verified.expiresAt - Date.now() / 1000 - DEFAULT_TOKEN_LIFETIME_SECONDS)).toBeLessThan(5);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', kid: expect.any(String) });
  });

  it('mints the lifetime asked for', async () => {
    const response = await post(JSON.stringify({ agentId: 'alice', lifetimeSeconds: MIN_DEV_TOKEN_LIFETIME_SECONDS }));
    const { token } = (await response.json()) as { token: string };
    expect(Math.abs((await verify(token)).expiresAt - Date.now() / 1000 - MIN_DEV_TOKEN_LIFETIME_SECONDS)).toBeLessThan(5);
  });

  it('mints at its minimum lifetime a token the device client accepts to connect with', async () => {
    const response = await post(JSON.stringify({ agentId: 'alice', lifetimeSeconds: MIN_DEV_TOKEN_LIFETIME_SECONDS }));
    const { token } = (await response.json()) as { token: string };
    const tokens = new TokenSource({ getToken: async () => token });
    await expect(tokens.get(DEVICE_CONNECT_TOKEN_VALIDITY_MS)).resolves.toMatchObject({ token });
  });

  it('answers 413 for a body over 4096 bytes, and mints nothing', async () => {
    const response = await post(JSON.stringify({ agentId: 'alice', padding: 'x'.repeat(8192) }));
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: 'BodyTooLarge', message: 'request body is larger than 4096 bytes' });
  });

  it('answers 404 naming the agent for an agent that is not seeded, and mints nothing', async () => {
    const response = await post(JSON.stringify({ agentId: 'mallory' }));
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'UnknownAgent', message: expect.stringContaining('agent mallory is not a seeded agent') });
  });

  it.each([
    ['a body that is not JSON', 'agentId=alice', /not JSON/],
    ['no agentId', '{}', /agentId/],
    ['an unknown field', '{"agentId":"alice","admin":true}', /admin/],
    ['a lifetime under the dev minimum', `{"agentId":"alice","lifetimeSeconds":${MIN_DEV_TOKEN_LIFETIME_SECONDS - 1}}`, /lifetimeSeconds/],
  ])('answers 400 naming the problem for %s', async (_what, body, problem) => {
    const response = await post(body);
    expect(response.status).toBe(400);
    const answer = (await response.json()) as { error: string; message: string };
    expect(answer.error).toBe('InvalidRequest');
    expect(answer.message).toMatch(problem);
  });

  it('answers the CORS preflight of a JSON post from the dashboard', async () => {
    const response = await fetch(issuer.tokenUrl, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:4280', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    expect(response.headers.get('access-control-allow-headers')).toContain('content-type');
  });

  it('mints in-process for any agent, and an expired token is refused as expired', async () => {
    const stranger = await issuer.mint('mallory');
    expect((await verify(stranger.token)).agentId).toBe('mallory');
    const expired = await issuer.mint('alice', { expiresAt: new Date(Date.now() - 60_000) });
    await expect(verify(expired.token)).rejects.toThrow(expect.objectContaining({ name: InvalidAgentTokenError.name, message: 'token expired' }));
  });
});
