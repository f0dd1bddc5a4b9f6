import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';

/**
 * Verifies an agent's JWT the same way for the agent API and the IoT custom authorizer, so that
 * exactly the same tokens open both (docs/access.md):
 * - RS256 only (no `none`, no HMAC: a shared secret would let any verifier mint tokens);
 * - the configured issuer, exactly;
 * - the configured audience in `aud`, or, for tokens without `aud`, in `client_id` (Cognito access
 *   tokens carry `client_id`, not `aud`; API Gateway's JWT authorizer accepts either the same way);
 * - `exp` required and in the future; `nbf` / `iat` honoured;
 * - the agent id read from the configured claim (default `sub`).
 * The JWKS is fetched on first use and cached by `jose` (re-fetched for an unknown `kid`, at most
 * every 30 s), so a warm Lambda verifies without a network call.
 */

export interface AgentTokenConfig {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUri: string;
  /** @default 'sub' */
  readonly agentIdClaim?: string;
}

export interface VerifiedAgentToken {
  readonly agentId: string;
  /** Epoch seconds. */
  readonly expiresAt: number;
}

/** Why a token was refused; safe to log (never contains the token). */
export class InvalidAgentTokenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidAgentTokenError';
  }
}

/** Agent ids are database keys and log fields: bounded printable text. */
const AGENT_ID = /^[\x21-\x7e]{1,128}$/;
/** Far above any real JWT, far below what would cost anything to reject. */
export const MAX_TOKEN_LENGTH = 8192;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const audienceMatches = (payload: JWTPayload, audience: string): boolean => {
  if (payload.aud !== undefined) return (Array.isArray(payload.aud) ? payload.aud : [payload.aud]).includes(audience);
  return payload.client_id === audience;
};

const describeJoseError = (error: unknown): string => {
  if (error instanceof joseErrors.JWTExpired) return 'token expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim "${error.claim}" rejected: ${error.reason}`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed (RS256 only)';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the issuer matches the token';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return 'malformed token';
  if (error instanceof joseErrors.JWKSTimeout) return 'issuer keys could not be fetched in time';
  return `token rejected: ${(error as Error)?.name ?? 'unknown error'}`;
};

/** Cheap checks that need neither crypto nor keys, so junk is refused before any work. */
export const tokenShapeProblem = (token: string | undefined): string | undefined => {
  if (token === undefined || token.length === 0) return 'no token';
  if (token.length > MAX_TOKEN_LENGTH) return `token longer than ${MAX_TOKEN_LENGTH} characters`;
  if (!COMPACT_JWS.test(token)) return 'token is not a compact JWS (header.payload.signature)';
  return undefined;
};

export const createAgentTokenVerifier = (config: AgentTokenConfig) => {
  const jwks = createRemoteJWKSet(new URL(config.jwksUri), { timeoutDuration: 3000 });
  const claim = config.agentIdClaim ?? 'sub';

  return async (token: string | undefined, now: () => number = Date.now): Promise<VerifiedAgentToken> => {
    const shape = tokenShapeProblem(token);
    if (shape !== undefined) throw new InvalidAgentTokenError(shape);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token!, jwks, {
        issuer: config.issuer,
        algorithms: ['RS256'],
        requiredClaims: ['exp'],
        currentDate: new Date(now()),
      }));
    } catch (error) {
      throw new InvalidAgentTokenError(describeJoseError(error), { cause: error });
    }
    if (!audienceMatches(payload, config.audience)) throw new InvalidAgentTokenError('audience / client_id does not match');
    const agentId = payload[claim];
    if (typeof agentId !== 'string' || !AGENT_ID.test(agentId)) {
      throw new InvalidAgentTokenError(`claim "${claim}" is not an agent id (1-128 printable ASCII characters)`);
    }
    return { agentId, expiresAt: payload.exp! };
  };
};

export type AgentTokenVerifier = ReturnType<typeof createAgentTokenVerifier>;
