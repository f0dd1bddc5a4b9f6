import type { z } from 'zod';
import {
  AckInboxResponseSchema,
  AGENT_API_ROUTES,
  ApiErrorSchema,
  ClaimResponseSchema,
  ListDevicesResponseSchema,
  ReadInboxResponseSchema,
  RegisterDeviceResponseSchema,
  type AckInboxResponse,
  type AgentApiRoute,
  type ClaimRequest,
  type ClaimResponse,
  type DeviceView,
  type ReadInboxResponse,
  type RegisterDeviceResponse,
} from '../contracts/agent-access';
import { AgentApiError, InvalidClientOptionsError, NotAuthorizedError } from './errors';
import type { TokenSource } from './token';

export interface AgentApiOptions {
  /** The stack output `AgentApiUrl` (`https://<api-id>.execute-api.<region>.amazonaws.com`), or the local runtime's. */
  baseUrl: string;
  /** Where the bearer token comes from. */
  tokens: TokenSource;
  /** `fetch` to use; default the global one (browsers, Node 20). */
  fetch?: typeof fetch;
}

/**
 * The agent API (docs/access.md), with the route paths and the answer schemas of
 * contracts/agent-access.ts, so a change of the contract breaks the client's build.
 *
 * 401 and 403 are `NotAuthorizedError` and are never retried here (a 401 also drops the cached
 * token, so the next call asks the provider for a fresh one); any other failure is an
 * `AgentApiError` that says whether it is worth retrying.
 */
export class AgentApi {
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly options: AgentApiOptions) {
    if (!/^https?:\/\//.test(options.baseUrl)) throw new InvalidClientOptionsError(`agent API baseUrl must be an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new InvalidClientOptionsError('agent API: no fetch available; pass options.fetch');
    this.fetchFn = f.bind(globalThis);
  }

  registerDevice(label?: string): Promise<RegisterDeviceResponse> {
    return this.call('registerDevice', {}, label === undefined ? {} : { label }, RegisterDeviceResponseSchema);
  }

  async listDevices(): Promise<DeviceView[]> {
    return (await this.call('listDevices', {}, undefined, ListDevicesResponseSchema)).devices;
  }

  async unregisterDevice(clientId: string): Promise<void> {
    await this.call('unregisterDevice', { clientId }, undefined, undefined);
  }

  readInbox(clientId: string, signal?: AbortSignal): Promise<ReadInboxResponse> {
    return this.call('readInbox', { clientId }, undefined, ReadInboxResponseSchema, signal);
  }

  ackInbox(clientId: string, receiptHandles: string[]): Promise<AckInboxResponse> {
    return this.call('ackInbox', { clientId }, { receiptHandles }, AckInboxResponseSchema);
  }

  claim(request: ClaimRequest): Promise<ClaimResponse> {
    return this.call('claim', {}, request, ClaimResponseSchema);
  }

  private async call<T>(route: AgentApiRoute, params: Record<string, string>, body: unknown, schema: z.ZodType<T> | undefined, signal?: AbortSignal): Promise<T> {
    const { method, path } = AGENT_API_ROUTES[route];
    const url = this.baseUrl + path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(params[name]));
    const { token } = await this.options.tokens.get();
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new AgentApiError(0, 'NetworkError', `${method} ${path}: no answer (${(err as Error).message})`, true, { cause: err });
    }
    const text = await response.text();
    if (!response.ok) {
      const parsed = ApiErrorSchema.safeParse(safeJson(text));
      const code = parsed.success ? parsed.data.error : `Http${response.status}`;
      const message = `${method} ${path}: ${response.status} ${code}${parsed.success ? `: ${parsed.data.message}` : ''}`;
      if (response.status === 401 || response.status === 403) {
        if (response.status === 401) this.options.tokens.invalidate();
        throw new NotAuthorizedError(response.status, code, message);
      }
      throw new AgentApiError(response.status, code, message, response.status >= 500 || response.status === 429);
    }
    if (schema === undefined) return undefined as T;
    const parsed = schema.safeParse(safeJson(text));
    if (!parsed.success) {
      throw new AgentApiError(response.status, 'InvalidResponse', `${method} ${path}: unexpected answer: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`, false);
    }
    return parsed.data;
  }
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
