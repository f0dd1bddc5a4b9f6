import { DevSignIn, SignInError, TOKEN_REFRESH_BEFORE_MS } from '../../local/dashboard/sign-in';

/** An unsigned JWT with `sub` and `exp`: the dashboard only reads `exp`; the API and the authorizer verify. */
const jwt = (sub: string, expiresAtMs: number): string =>
  [{ alg: 'RS256', typ: 'JWT' }, { sub, exp: Math.floor(expiresAtMs / 1000) }].map((p) => Buffer.from(JSON.stringify(p)).toString('base64url')).join('.') + '.signature';

const TOKEN_URL = 'http://127.0.0.1:9/dev/token';

describe('dashboard dev sign-in (DevSignIn)', () => {
  let now: number;
  let requests: unknown[];
  let answers: (() => Response | Promise<Response>)[];
  const fakeFetch = (async (url: string, init: RequestInit) => {
    expect(url).toBe(TOKEN_URL);
    expect(init.method).toBe('POST');
    requests.push(JSON.parse(String(init.body)));
    const next = answers.shift();
    if (!next) throw new Error('no answer queued');
    return next();
  }) as unknown as typeof fetch;
  const tokenFor = (lifetimeMs: number) => () => new Response(JSON.stringify({ token: jwt('alice', now + lifetimeMs), expiresAt: new Date(now + lifetimeMs).toISOString() }), { status: 200 });

  beforeEach(() => {
    now = Date.parse('2026-12-01T10:00:00Z');
    requests = [];
    answers = [];
  });

  const signIn = (lifetimeSeconds?: number) => new DevSignIn({ tokenUrl: TOKEN_URL, agentId: 'alice', fetch: fakeFetch, now: () => now, ...(lifetimeSeconds ? { lifetimeSeconds } : {}) });

  it('posts the agent id to the token URL and returns the token', async () => {
    answers.push(tokenFor(3600_000));
    const s = signIn(900);
    const token = await s.getToken();
    expect(token).toBe(jwt('alice', now + 3600_000));
    expect(requests).toEqual([{ agentId: 'alice', lifetimeSeconds: 900 }]);
    expect(s.token?.expiresAt.toISOString()).toBe('2026-12-01T11:00:00.000Z');
  });

  it('returns the cached token while it has 7 minutes or more left, then fetches a fresh one', async () => {
    answers.push(tokenFor(3600_000), tokenFor(3600_000));
    const s = signIn();
    const first = await s.getToken();
    now += 3600_000 - TOKEN_REFRESH_BEFORE_MS;
    expect(await s.getToken()).toBe(first);
    expect(requests).toHaveLength(1);
    now += 1;
    const second = await s.getToken();
    expect(second).not.toBe(first);
    expect(requests).toHaveLength(2);
  });

  it('asks once for callers that ask at the same time (both devices of an agent on sign-in)', async () => {
    answers.push(tokenFor(3600_000));
    const s = signIn();
    const [a, b] = await Promise.all([s.getToken(), s.getToken()]);
    expect(a).toBe(b);
    expect(requests).toHaveLength(1);
  });

  it('tells every listener about each fresh token', async () => {
    answers.push(tokenFor(3600_000));
    const s = signIn();
    const seen: string[] = [];
    s.onToken((t) => seen.push(t.expiresAt.toISOString()));
    await s.getToken();
    await s.getToken();
    expect(seen).toEqual(['2026-12-01T11:00:00.000Z']);
  });

  it('says why the issuer refused (an agent that is not seeded: 404) and caches nothing', async () => {
    answers.push(() => new Response(JSON.stringify({ error: 'UnknownAgent', message: 'agent alice is not a seeded agent of the local runtime' }), { status: 404 }));
    const s = signIn();
    const error = await s.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignInError);
    expect(error).toMatchObject({ status: 404, message: 'sign-in as alice refused: agent alice is not a seeded agent of the local runtime' });
    expect(s.token).toBeUndefined();
  });

  it('says when the issuer does not answer, or answers no JWT', async () => {
    answers.push(() => Promise.reject(new TypeError('fetch failed')), () => new Response(JSON.stringify({ token: 'not-a-jwt' }), { status: 200 }));
    const s = signIn();
    await expect(s.getToken()).rejects.toMatchObject({ name: 'SignInError', status: 0, message: `the token issuer at ${TOKEN_URL} did not answer: fetch failed` });
    await expect(s.getToken()).rejects.toMatchObject({ name: 'SignInError', message: 'the token issuer answered no JWT for alice' });
  });

  it('fetches anew after forget (sign-out)', async () => {
    answers.push(tokenFor(3600_000), tokenFor(1800_000));
    const s = signIn();
    await s.getToken();
    s.forget();
    expect(s.token).toBeUndefined();
    await s.getToken();
    expect(requests).toHaveLength(2);
  });
});
