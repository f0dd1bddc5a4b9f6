import { AGENT_API_ROUTES, type AgentApiRoute } from '../../contracts/agent-access';
import type { NotificationEnvelope } from '../../contracts/envelope';

/**
 * An in-memory agent API behind a `fetch` function, answering with the shapes of
 * contracts/agent-access.ts: devices, one inbox per device (a message stays until acked), and
 * claims. `refuse` makes a route answer an error; `calls` records every request.
 */
export interface FakeAgentApi {
  fetch: typeof fetch;
  calls: { route: AgentApiRoute; authorization: string | null; body: unknown }[];
  inbox: Map<string, { messageId: string; receiptHandle: string; body: string }[]>;
  acked: string[];
  devices: { clientId: string; active: boolean }[];
  refuse: Partial<Record<AgentApiRoute, { status: number; error: string }>>;
  put(clientId: string, n: NotificationEnvelope | string): void;
  callsOf(route: AgentApiRoute): number;
}

const ROUTES = Object.entries(AGENT_API_ROUTES).map(([route, { method, path }]) => ({
  route: route as AgentApiRoute,
  method,
  pattern: new RegExp(`^${path.replace(/\{clientId\}/, '([^/]+)')}$`),
}));

export const fakeAgentApi = (options: { clientIds?: string[] } = {}): FakeAgentApi => {
  let next = 0;
  let issued = 0;
  const clientIds = options.clientIds ?? ['0123456789abcdef-0000000000000001', '0123456789abcdef-0000000000000002'];
  const api: FakeAgentApi = {
    calls: [],
    inbox: new Map(),
    acked: [],
    devices: [],
    refuse: {},
    put: (clientId, n) => {
      next += 1;
      const list = api.inbox.get(clientId) ?? [];
      list.push({ messageId: `sqs-${next}`, receiptHandle: `rh-${next}`, body: typeof n === 'string' ? n : JSON.stringify(n) });
      api.inbox.set(clientId, list);
    },
    callsOf: (route) => api.calls.filter((c) => c.route === route).length,
    fetch: async (input, init) => {
      const url = new URL(String(input));
      const method = init?.method ?? 'GET';
      const match = ROUTES.map((r) => ({ r, m: r.method === method ? r.pattern.exec(url.pathname) : null })).find((x) => x.m);
      if (!match) return new Response(JSON.stringify({ error: 'NotFound', message: `${method} ${url.pathname}` }), { status: 404 });
      const headers = new Headers(init?.headers);
      const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
      const route = match.r.route;
      api.calls.push({ route, authorization: headers.get('authorization'), body });
      const refusal = api.refuse[route];
      if (refusal) return new Response(JSON.stringify({ error: refusal.error, message: `refused: ${refusal.error}` }), { status: refusal.status });
      const clientId = match.m?.[1] ? decodeURIComponent(match.m[1]) : '';
      const json = (value: unknown, status = 200) => new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });
      const now = new Date().toISOString();
      switch (route) {
        case 'registerDevice': {
          const id = clientIds[issued++];
          api.devices.push({ clientId: id, active: true });
          return json({ clientId: id, label: body?.label ?? null, active: true, registeredAt: now, lastSeenAt: now, notifyTopic: `notify/${id}` }, 201);
        }
        case 'listDevices':
          return json({ devices: api.devices.map((d) => ({ ...d, label: null, registeredAt: now, lastSeenAt: now })) });
        case 'unregisterDevice':
          api.devices = api.devices.filter((d) => d.clientId !== clientId);
          return new Response(null, { status: 204 });
        case 'readInbox':
          return json({ messages: (api.inbox.get(clientId) ?? []).slice(0, 10) });
        case 'ackInbox': {
          const handles = body.receiptHandles as string[];
          api.acked.push(...handles);
          api.inbox.set(clientId, (api.inbox.get(clientId) ?? []).filter((m) => !handles.includes(m.receiptHandle)));
          return json({ deleted: handles.length, failed: [] });
        }
        case 'claim':
          return json({ won: true, handledBy: 'agent-1', handledAt: now });
      }
    },
  };
  return api;
};

/** An unsigned JWT-shaped token whose `exp` is `expiresAt` (the client reads `exp` only). */
export const tokenExpiringAt = (expiresAt: Date, sub = 'agent-1'): string =>
  [{ alg: 'RS256', typ: 'JWT' }, { sub, exp: Math.floor(expiresAt.getTime() / 1000) }].map((part) => Buffer.from(JSON.stringify(part)).toString('base64url')).join('.') + '.signature';
