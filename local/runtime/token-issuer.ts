import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, type KeyLike } from 'jose';
import { z } from 'zod';
import { DEVICE_CONNECT_TOKEN_VALIDITY_MS } from '../../client/device';
import { IOT_SESSION_MAX_SECONDS } from '../../contracts/agent-access';
import { BodyTooLargeError, readBody } from '../emulators/http-util';
import { listen } from '../emulators/listen';

/**
 * The local runtime's identity provider, standing in for the CRM's OIDC issuer or the stack's
 * Cognito pool: an RS256 key pair generated at start (never written anywhere), its public key as a
 * JWKS at `GET /.well-known/jwks.json`, and the issuer URL being its own base URL
 * (`http://127.0.0.1:<port>`, no trailing slash: the verifiers compare it exactly).
 *
 * Sign-in is a dev shortcut: `POST /dev/token { agentId, lifetimeSeconds? }` answers
 * `{ token, expiresAt }` for a seeded agent, without a password; anything else is refused with the
 * reason. `mint` does the same in-process and may also mint tokens that are already expired, for
 * tests of the refusals.
 */

/** The `aud` of every local token; the agent API and the IoT authorizer are configured with it. */
export const LOCAL_TOKEN_AUDIENCE = 'convo-notify-local';
/** A token lives this long unless asked otherwise. */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 3600;
/**
 * The shortest lifetime the dev endpoint mints: what the device client asks of a token to connect
 * (which covers the 5-minute IoT session minimum), plus a minute, so that the token is not refused
 * after the round trip and a client connects once and is seen renewing soon after.
 */
export const MIN_DEV_TOKEN_LIFETIME_SECONDS = Math.ceil(DEVICE_CONNECT_TOKEN_VALIDITY_MS / 1000) + 60;

export const DevTokenRequestSchema = z.strictObject({
  agentId: z.string().min(1).max(128),
  lifetimeSeconds: z.number().int().min(MIN_DEV_TOKEN_LIFETIME_SECONDS).max(IOT_SESSION_MAX_SECONDS).optional(),
});
export type DevTokenRequest = z.infer<typeof DevTokenRequestSchema>;

export interface IssuedToken {
  token: string;
  /** ISO-8601 UTC: the token's `exp`. */
  expiresAt: string;
}

export interface MintOptions {
  /** @default DEFAULT_TOKEN_LIFETIME_SECONDS */
  lifetimeSeconds?: number;
  /** An absolute expiry (may be in the past: an expired token); wins over `lifetimeSeconds`. */
  expiresAt?: Date;
}

export interface TokenIssuerOptions {
  /** Whether the dev endpoint may mint for this agent id (the seeded agents). */
  isKnownAgent: (agentId: string) => boolean;
  /** @default 0 (any free port) */
  port?: number;
  log?: (message: string) => void;
}

export interface LocalTokenIssuer {
  /** The `iss` of its tokens, also its base URL. */
  readonly issuer: string;
  readonly jwksUri: string;
  /** `POST` here for a dev token. */
  readonly tokenUrl: string;
  readonly audience: string;
  readonly port: number;
  /** An RS256 token for `agentId`, whether seeded or not (tests need strangers too). */
  mint(agentId: string, options?: MintOptions): Promise<IssuedToken>;
  close(): Promise<void>;
}

/** The dev endpoint's refusal: a status and a message naming what was wrong. */
export class DevTokenError extends Error {
  constructor(
    public readonly statusCode: number,
    public readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DevTokenError';
  }
}

/** The dashboard is served from another origin and calls the dev endpoint with a JSON body. */
const CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET,POST,OPTIONS',
  'access-control-allow-headers': 'content-type',
  'access-control-max-age': '600',
};

const MAX_REQUEST_BYTES = 4096;

const answer = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...CORS, 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const readRequest = (req: IncomingMessage): Promise<Buffer> =>
  readBody(req, MAX_REQUEST_BYTES).catch((error: unknown) => {
    if (error instanceof BodyTooLargeError) throw new DevTokenError(413, 'BodyTooLarge', `request body is larger than ${MAX_REQUEST_BYTES} bytes`);
    throw error;
  });

const parseRequest = (raw: Buffer): DevTokenRequest => {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new DevTokenError(400, 'InvalidRequest', 'request body is not JSON; send {"agentId": "<seeded agent>", "lifetimeSeconds"?: number}');
  }
  const parsed = DevTokenRequestSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new DevTokenError(400, 'InvalidRequest', `request body: ${problems}`);
  }
  return parsed.data;
};

export const startTokenIssuer = async (options: TokenIssuerOptions): Promise<LocalTokenIssuer> => {
  const log = options.log ?? (() => undefined);
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const kid = randomUUID();
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  let issuer = '';

  const mint = async (agentId: string, mintOptions: MintOptions = {}): Promise<IssuedToken> => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const exp = mintOptions.expiresAt
      ? Math.floor(mintOptions.expiresAt.getTime() / 1000)
      : nowSeconds + (mintOptions.lifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setSubject(agentId)
      .setIssuer(issuer)
      .setAudience(LOCAL_TOKEN_AUDIENCE)
      // An expired token was issued before it expired.
      .setIssuedAt(Math.min(nowSeconds, exp - 1))
      .setExpirationTime(exp)
      .sign(privateKey as KeyLike);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  };

  const devToken = async (req: IncomingMessage): Promise<IssuedToken> => {
    const request = parseRequest(await readRequest(req));
    if (!options.isKnownAgent(request.agentId)) {
      throw new DevTokenError(404, 'UnknownAgent', `agent ${request.agentId} is not a seeded agent of the local runtime; sign in as one of the seeded agents`);
    }
    const issued = await mint(request.agentId, { lifetimeSeconds: request.lifetimeSeconds });
    log(`token issuer: signed in ${request.agentId} until ${issued.expiresAt}`);
    return issued;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS);
      res.end();
      return;
    }
    if (path === '/.well-known/jwks.json') {
      if (req.method !== 'GET') return answer(res, 405, { error: 'MethodNotAllowed', message: `${req.method} ${path}: only GET` });
      return answer(res, 200, jwks);
    }
    if (path === '/dev/token') {
      if (req.method !== 'POST') return answer(res, 405, { error: 'MethodNotAllowed', message: `${req.method} ${path}: only POST` });
      devToken(req).then(
        (issued) => answer(res, 200, issued),
        (error: unknown) => {
          if (error instanceof DevTokenError) return answer(res, error.statusCode, { error: error.code, message: error.message });
          log(`token issuer: ${(error as Error).message}`);
          return answer(res, 500, { error: 'InternalError', message: 'the token could not be issued' });
        },
      );
      return;
    }
    answer(res, 404, { error: 'NotFound', message: `no ${req.method} ${path}; the issuer serves GET /.well-known/jwks.json and POST /dev/token` });
  };

  const endpoint = await listen(handle, options.port ?? 0, 'the token issuer');
  issuer = endpoint.url;
  return {
    issuer,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    tokenUrl: `${issuer}/dev/token`,
    audience: LOCAL_TOKEN_AUDIENCE,
    port: endpoint.port,
    mint,
    close: () => endpoint.close(),
  };
};
