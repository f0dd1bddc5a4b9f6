import { tokenExpiry } from '../../client/browser';
import { DEVICE_CONNECT_TOKEN_VALIDITY_MS } from '../../client/device';

/**
 * The dashboard's dev sign-in: a seeded agent signs in without a password by asking the local
 * token issuer (`POST <tokenUrl> {agentId}` → `{token, expiresAt}`), as a CRM page would get the
 * agent's access token from its identity provider. `getToken` is the client's token provider: the
 * client calls it whenever its cached token is too short for what it is about to do.
 */

/**
 * Fetch a new token once the cached one has less than this left: what the device client asks of a
 * token to connect. A cached token shorter than that would be handed back, refused by the client,
 * and asked for again.
 */
export const TOKEN_REFRESH_BEFORE_MS = DEVICE_CONNECT_TOKEN_VALIDITY_MS;

/** The issuer refused or failed: `status` 404 means the agent is not seeded, 0 that nobody answered. */
export class SignInError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'SignInError';
  }
}

export interface DevSignInOptions {
  tokenUrl: string;
  agentId: string;
  /** Asked for each token; default the issuer's own default (an hour). */
  lifetimeSeconds?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface SignedInToken {
  token: string;
  expiresAt: Date;
}

export class DevSignIn {
  private current?: SignedInToken;
  private pending?: Promise<SignedInToken>;
  private readonly listeners = new Set<(token: SignedInToken) => void>();
  private readonly now: () => number;

  constructor(private readonly options: DevSignInOptions) {
    this.now = options.now ?? Date.now;
  }

  get agentId(): string {
    return this.options.agentId;
  }

  /** The cached token, if any (whatever time it has left). */
  get token(): SignedInToken | undefined {
    return this.current;
  }

  /** The client's `getToken`: the cached token, or a fresh one when it has less than TOKEN_REFRESH_BEFORE_MS left. */
  readonly getToken = async (): Promise<string> => {
    if (this.current && this.current.expiresAt.getTime() - this.now() >= TOKEN_REFRESH_BEFORE_MS) return this.current.token;
    // Both devices of an agent ask at once on sign-in: one request serves them.
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = undefined;
    });
    return (await this.pending).token;
  };

  /** Called with every token fetched (the panel shows when it expires). */
  onToken(listener: (token: SignedInToken) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forgets the cached token (sign-out). */
  forget(): void {
    this.current = undefined;
  }

  private async fetchToken(): Promise<SignedInToken> {
    const { tokenUrl, agentId, lifetimeSeconds } = this.options;
    const f = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    let res: Response;
    try {
      res = await f(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(lifetimeSeconds === undefined ? { agentId } : { agentId, lifetimeSeconds }),
      });
    } catch (err) {
      throw new SignInError(0, `the token issuer at ${tokenUrl} did not answer: ${(err as Error).message}`);
    }
    const body = (await res.json().catch(() => undefined)) as { token?: unknown; message?: unknown } | undefined;
    if (!res.ok) {
      const why = typeof body?.message === 'string' ? body.message : `HTTP ${res.status}`;
      throw new SignInError(res.status, `sign-in as ${agentId} refused: ${why}`);
    }
    const token = body?.token;
    const expiresAt = typeof token === 'string' ? tokenExpiry(token) : undefined;
    if (typeof token !== 'string' || expiresAt === undefined) throw new SignInError(res.status, `the token issuer answered no JWT for ${agentId}`);
    this.current = { token, expiresAt };
    for (const listener of this.listeners) listener(this.current);
    return this.current;
  }
}
