import { TokenProviderError } from './errors';

/**
 * The sign-in token: a callback the app supplies returns a JWT (the agent's access token from the
 * CRM's identity provider or the stack's Cognito pool). The client never signs anyone in itself and
 * never verifies the token (the API and the IoT authorizer do); it reads `exp` only to know when
 * to ask for a fresh one.
 */
export type TokenProvider = () => Promise<string>;

const base64UrlDecode = (segment: string): string => {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
};

/** The `exp` of a compact JWS, as a Date; `undefined` for anything else. */
export const tokenExpiry = (token: string): Date | undefined => {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1])) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? new Date(claims.exp * 1000) : undefined;
  } catch {
    return undefined;
  }
};

export interface TokenSourceOptions {
  /** The app's callback: returns the agent's current JWT (refreshing it with the IdP when needed). */
  getToken: TokenProvider;
  /** Clock; default `Date.now`. */
  now?: () => number;
}

export interface CurrentToken {
  readonly token: string;
  readonly expiresAt: Date;
}

/**
 * Caches the token and asks the provider again when the cached one has less than the asked-for
 * validity left. Concurrent callers share one provider call.
 */
export class TokenSource {
  private current?: CurrentToken;
  private pending?: Promise<CurrentToken>;
  private readonly now: () => number;

  constructor(private readonly options: TokenSourceOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * A token valid for at least `minValidityMs` more. Throws `TokenProviderError` when the provider
   * fails or its token expires sooner (the app must sign the agent in again).
   */
  async get(minValidityMs = 0): Promise<CurrentToken> {
    if (this.current && this.current.expiresAt.getTime() - this.now() >= minValidityMs) return this.current;
    this.pending ??= this.fetch().finally(() => {
      this.pending = undefined;
    });
    const fresh = await this.pending;
    const left = fresh.expiresAt.getTime() - this.now();
    if (left < minValidityMs) {
      throw new TokenProviderError(`the sign-in token has ${Math.max(0, Math.round(left / 1000))} s left, ${Math.round(minValidityMs / 1000)} s are needed: sign in again`);
    }
    return fresh;
  }

  /** Forgets the cached token: the next `get` asks the provider (after a 401, or on sign-out). */
  invalidate(): void {
    this.current = undefined;
  }

  private async fetch(): Promise<CurrentToken> {
    let token: unknown;
    try {
      token = await this.options.getToken();
    } catch (err) {
      throw new TokenProviderError(`the sign-in token provider failed: ${(err as Error).message}`, { cause: err });
    }
    if (typeof token !== 'string') throw new TokenProviderError(`the sign-in token provider returned ${typeof token}, not a JWT string`);
    const expiresAt = tokenExpiry(token);
    if (expiresAt === undefined) throw new TokenProviderError('the sign-in token provider returned something that is not a JWT with a numeric exp');
    this.current = { token, expiresAt };
    return this.current;
  }
}
