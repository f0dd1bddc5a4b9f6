import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AGENT_API_ROUTES, isClientIdOf, routeKeyOf } from '../../../contracts/agent-access';
import { startAgentApiServer, type LocalAgentApi } from '../../../local/runtime/agent-api-server';
import { seededDevice } from '../../../local/runtime/seed';
import { startLocalStack, type LocalStack } from '../../../local/runtime/stack';
import { customerMessage } from '../../support/messages';

/**
 * The local agent API: HTTP requests become API Gateway HTTP API payload 2.0 events for the
 * production handler (`tasks/agent-api/handler.ts`), with what API Gateway answers by itself
 * (no route, no Authorization header, CORS preflights); through the local stack, an agent's token
 * opens only that agent's devices.
 */

describe('local agent API server', () => {
  describe('as API Gateway in front of a handler', () => {
    let api: LocalAgentApi;
    const events: APIGatewayProxyEventV2[] = [];
    let result: APIGatewayProxyStructuredResultV2 | Error = { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };

    beforeAll(async () => {
      api = await startAgentApiServer({
        handler: async (event) => {
          events.push(event);
          if (result instanceof Error) throw result;
          return result;
        },
      });
    });
    beforeEach(() => {
      events.splice(0);
      result = { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
    });
    afterAll(() => api.close());

    it('turns a request into the payload 2.0 event of its route and writes the handler’s answer back', async () => {
      result = { statusCode: 207, headers: { 'content-type': 'application/json', 'x-answer': 'yes' }, body: '{"deleted":1}' };
      const response = await fetch(`${api.url}/devices/abc%2Ddef/inbox/ack?dry=1&dry=2`, {
        method: 'POST',
        headers: { Authorization: 'Bearer t.o.k', 'Content-Type': 'application/json', 'X-Repeat': 'a' },
        body: '{"receiptHandles":["r1"]}',
      });
      expect(response.status).toBe(207);
      expect(response.headers.get('x-answer')).toBe('yes');
      expect(await response.text()).toBe('{"deleted":1}');
      expect(events).toHaveLength(1);
      const [event] = events;
      expect(event).toMatchObject({
        version: '2.0',
        routeKey: routeKeyOf('ackInbox'),
        rawPath: '/devices/abc%2Ddef/inbox/ack',
        rawQueryString: 'dry=1&dry=2',
        queryStringParameters: { dry: '1,2' },
        pathParameters: { clientId: 'abc-def' },
        body: '{"receiptHandles":["r1"]}',
        isBase64Encoded: false,
        requestContext: { http: { method: 'POST', path: '/devices/abc%2Ddef/inbox/ack' }, routeKey: routeKeyOf('ackInbox'), stage: '$default' },
      });
      expect(event.headers).toMatchObject({ authorization: 'Bearer t.o.k', 'content-type': 'application/json', 'x-repeat': 'a' });
      expect(Object.keys(event.headers).every((name) => name === name.toLowerCase())).toBe(true);
    });

    it.each(Object.entries(AGENT_API_ROUTES))('routes %s to its route key', async (_route, { method, path }) => {
      await fetch(`${api.url}${path.replace('{clientId}', 'c1')}`, { method, headers: { authorization: 'Bearer x.y.z' }, ...(method === 'POST' ? { body: '{}' } : {}) });
      expect(events.map((e) => [e.routeKey, e.pathParameters])).toEqual([[`${method} ${path}`, path.includes('{clientId}') ? { clientId: 'c1' } : undefined]]);
    });

    it('answers 401 without calling the handler when there is no Authorization header, as the JWT authorizer does', async () => {
      const response = await fetch(`${api.url}/devices`);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ message: 'Unauthorized' });
      expect(events).toEqual([]);
    });

    it.each([
      ['an unknown path', 'GET', '/admin'],
      ['a known path with another method', 'PUT', '/devices'],
      ['an empty path parameter', 'GET', '/devices//inbox'],
      ['a deeper path', 'GET', '/devices/c1/inbox/extra'],
    ])('answers 404 without calling the handler for %s', async (_what, method, path) => {
      const response = await fetch(`${api.url}${path}`, { method, headers: { authorization: 'Bearer x.y.z' } });
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ message: 'Not Found' });
      expect(events).toEqual([]);
    });

    it('answers a CORS preflight for GET, POST and DELETE with authorization and content-type', async () => {
      const response = await fetch(`${api.url}/devices/c1`, {
        method: 'OPTIONS',
        headers: { origin: 'http://127.0.0.1:4280', 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization' },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(response.headers.get('access-control-allow-methods')).toBe('GET,POST,DELETE');
      expect(response.headers.get('access-control-allow-headers')).toBe('authorization,content-type');
      expect(events).toEqual([]);
    });

    it('answers 500 without the error when the handler throws, as API Gateway does', async () => {
      result = new Error('secret detail');
      const response = await fetch(`${api.url}/devices`, { headers: { authorization: 'Bearer x.y.z' } });
      expect(response.status).toBe(500);
      expect(await response.text()).not.toContain('secret');
    });

    it('answers 413 without calling the handler for a body over 1 MiB', async () => {
      const response = await fetch(`${api.url}/devices`, { method: 'POST', headers: { authorization: 'Bearer x.y.z' }, body: 'x'.repeat(1024 * 1024 + 1) });
      expect(response.status).toBe(413);
      expect(await response.json()).toEqual({ message: 'Request Entity Too Large' });
      expect(events).toEqual([]);
    });
  });

  describe('with the agent API handler of the local stack', () => {
    let stack: LocalStack;

    beforeAll(async () => {
      stack = await startLocalStack({ retryIntervalMs: 0, pipeBatchingWindowMs: 5 });
    });
    afterAll(() => stack.stop());

    const call = async (agentId: string, method: string, path: string, body?: unknown) => {
      const { token } = await stack.tokens.mint(agentId);
      const response = await fetch(`${stack.endpoints.agentApi}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
    };

    it('lists the seeded devices of the signed-in agent only, with their labels', async () => {
      const alice = await call('alice', 'GET', '/devices');
      expect(alice.status).toBe(200);
      const devices = alice.body!.devices as { clientId: string; label: string | null; active: boolean }[];
      expect(devices.map((d) => [d.clientId, d.label, d.active]).sort()).toEqual(
        [
          [seededDevice(stack.seed, 'alice', 'laptop').clientId, 'laptop', true],
          [seededDevice(stack.seed, 'alice', 'phone').clientId, 'phone', true],
        ].sort(),
      );
    });

    it('registers a new device for the signed-in agent, with a client id issued to it', async () => {
      const registered = await call('dave', 'POST', '/devices', { label: 'tablet' });
      expect(registered.status).toBe(201);
      expect(isClientIdOf(registered.body!.clientId as string, 'dave')).toBe(true);
      expect(registered.body).toMatchObject({ label: 'tablet', active: true, notifyTopic: `notify/${registered.body!.clientId as string}` });
    });

    it("unregisters the signed-in agent's own device, and refuses agent A unregistering agent B's (403 NotYourDevice)", async () => {
      const registered = await call('dave', 'POST', '/devices', { label: 'old phone' });
      const clientId = registered.body!.clientId as string;
      const bobs = seededDevice(stack.seed, 'bob', 'laptop').clientId;
      expect((await call('alice', 'DELETE', `/devices/${bobs}`)).body).toMatchObject({ error: 'NotYourDevice' });
      expect(await call('dave', 'DELETE', `/devices/${clientId}`)).toEqual({ status: 204, body: undefined });
      const listed = (await call('dave', 'GET', '/devices')).body!.devices as { clientId: string }[];
      expect(listed.map((d) => d.clientId)).not.toContain(clientId);
      expect(listed.map((d) => d.clientId)).toContain(seededDevice(stack.seed, 'dave', 'laptop').clientId);
    });

    it("refuses agent A reading or acking the inbox of agent B's device (403 NotYourDevice)", async () => {
      const bobs = seededDevice(stack.seed, 'bob', 'laptop').clientId;
      const read = await call('alice', 'GET', `/devices/${bobs}/inbox`);
      expect(read).toEqual({ status: 403, body: { error: 'NotYourDevice', message: `device ${bobs} is not a device of agent alice` } });
      const ack = await call('alice', 'POST', `/devices/${bobs}/inbox/ack`, { receiptHandles: ['r1'] });
      expect(ack.status).toBe(403);
      expect(ack.body!.error).toBe('NotYourDevice');
    });

    it('drains and acks the signed-in agent’s own inbox', async () => {
      const message = customerMessage({ assignedAgentId: 'dave' });
      await stack.putMessage(message);
      await stack.settle();
      const daves = seededDevice(stack.seed, 'dave', 'laptop').clientId;
      const read = await call('dave', 'GET', `/devices/${daves}/inbox`);
      expect(read.status).toBe(200);
      const messages = read.body!.messages as { receiptHandle: string; body: string }[];
      expect(messages.map((m) => JSON.parse(m.body).messageId)).toEqual([message.messageId]);
      const ack = await call('dave', 'POST', `/devices/${daves}/inbox/ack`, { receiptHandles: messages.map((m) => m.receiptHandle) });
      expect(ack).toEqual({ status: 200, body: { deleted: 1, failed: [] } });
    });

    it('claims as the signed-in agent only: the body cannot name another agent, and a lost claim says who won', async () => {
      const message = customerMessage({ teamId: 'support' });
      await stack.putMessage(message);
      await stack.settle();
      const ids = { conversationId: message.conversationId, messageId: message.messageId };
      const asBob = await call('alice', 'POST', '/claims', { ...ids, agentId: 'bob' });
      expect(asBob.status).toBe(400);
      expect(await call('alice', 'POST', '/claims', ids)).toMatchObject({ status: 200, body: { won: true, handledBy: 'alice' } });
      expect(await call('bob', 'POST', '/claims', ids)).toMatchObject({ status: 200, body: { won: false, handledBy: 'alice' } });
    });

    it('answers 401 for an expired token, and 403 for an agent that is not in the database', async () => {
      const expired = await stack.tokens.mint('alice', { expiresAt: new Date(Date.now() - 60_000) });
      const response = await fetch(`${stack.endpoints.agentApi}/devices`, { headers: { authorization: `Bearer ${expired.token}` } });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: 'InvalidToken', message: 'the bearer token was refused: token expired' });
      expect((await call('mallory', 'GET', '/devices')).status).toBe(403);
    });
  });
});
