import type { ApiError, DashboardConfig, ExecutionRecord, ExecutionSummary, PostMessageRequest, PostMessageResponse } from './types';
import type { AslStates } from './graph';

/** The dashboard's own JSON API (same origin). */

export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError,
  ) {
    super(body.message);
    this.name = 'ApiRequestError';
  }
}

const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = (await res.json().catch(() => ({ error: 'InvalidResponse', message: `HTTP ${res.status}` }))) as T | ApiError;
  if (!res.ok) throw new ApiRequestError(res.status, parsed as ApiError);
  return parsed as T;
};

export const api = {
  config: () => call<DashboardConfig>('GET', '/api/config'),
  definition: () => call<AslStates>('GET', '/api/definition'),
  executions: () => call<ExecutionSummary[]>('GET', '/api/executions'),
  execution: (name: string) => call<ExecutionRecord>('GET', `/api/executions/${encodeURIComponent(name)}`),
  replay: (name: string) => call<ExecutionSummary>('POST', `/api/executions/${encodeURIComponent(name)}/replay`),
  postMessage: (request: PostMessageRequest) => call<PostMessageResponse>('POST', '/api/messages', request),
};
