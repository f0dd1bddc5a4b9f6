import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { AGENT_API_ROUTES } from '../../contracts/agent-access';
import { BodyTooLargeError, readBody } from '../emulators/http-util';
import { listen } from '../emulators/listen';

/**
 * The agent API's HTTP API (API Gateway, payload format 2.0) in front of the production handler
 * `tasks/agent-api/handler.ts`, which the stack loads and passes in. Each request becomes the event
 * API Gateway would send for the route of `AGENT_API_ROUTES` it matches, and the handler's result
 * goes back as the response. What API Gateway itself does before the Lambda is done here too:
 *  - no route for the method and path: 404 `{"message":"Not Found"}`, the handler is not called;
 *  - no `Authorization` header: 401 `{"message":"Unauthorized"}`, as the JWT authorizer answers
 *    (the handler verifies the token itself, so the rest of the authorizer's checks are its own);
 *  - CORS preflights for GET, POST and DELETE with `authorization` and `content-type` (the stack's
 *    `corsPreflight`), answered without calling the handler.
 */

export type AgentApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export interface AgentApiServerOptions {
  handler: AgentApiHandler;
  /** @default 0 (any free port) */
  port?: number;
  /** `Access-Control-Allow-Origin`. @default '*' (tokens travel in a header, never in cookies) */
  allowOrigin?: string;
  region?: string;
  accountId?: string;
  log?: (message: string) => void;
}

export interface LocalAgentApi {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** API Gateway's own payload limit for HTTP APIs is 10 MB; the handler refuses far less. */
const MAX_REQUEST_BYTES = 1024 * 1024;

interface CompiledRoute {
  routeKey: string;
  method: string;
  pattern: RegExp;
  parameterNames: string[];
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `/devices/{clientId}/inbox` → a pattern where `{clientId}` is one non-empty path segment. */
export const compileRoutes = (): CompiledRoute[] =>
  Object.values(AGENT_API_ROUTES).map(({ method, path }) => {
    const parameterNames: string[] = [];
    const source = path
      .split(/(\{[A-Za-z0-9_]+\})/)
      .map((part) => {
        const parameter = /^\{([A-Za-z0-9_]+)\}$/.exec(part);
        if (parameter === null) return escapeRegExp(part);
        parameterNames.push(parameter[1]);
        return '([^/]+)';
      })
      .join('');
    return { routeKey: `${method} ${path}`, method, pattern: new RegExp(`^${source}$`), parameterNames };
  });

export interface MatchedRoute {
  routeKey: string;
  pathParameters?: Record<string, string>;
}

/** The route of a method and a raw path, or undefined (also for a path parameter that is not valid percent-encoding). */
export const matchRoute = (routes: readonly CompiledRoute[], method: string, rawPath: string): MatchedRoute | undefined => {
  for (const route of routes) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(rawPath);
    if (match === null) continue;
    if (route.parameterNames.length === 0) return { routeKey: route.routeKey };
    const pathParameters: Record<string, string> = {};
    try {
      route.parameterNames.forEach((name, i) => (pathParameters[name] = decodeURIComponent(match[i + 1])));
    } catch {
      return undefined;
    }
    return { routeKey: route.routeKey, pathParameters };
  }
  return undefined;
};

/** The body, or undefined when it is over the limit. */
const readLimited = (req: IncomingMessage): Promise<Buffer | undefined> =>
  readBody(req, MAX_REQUEST_BYTES).catch((error: unknown) => {
    if (error instanceof BodyTooLargeError) return undefined;
    throw error;
  });

/** Header names lower-cased, repeated headers joined with commas, as payload 2.0 does. */
const headersOf = (req: IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1];
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  return headers;
};

const queryParametersOf = (rawQueryString: string): Record<string, string> | undefined => {
  if (rawQueryString === '') return undefined;
  const parameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) parameters[name] = name in parameters ? `${parameters[name]},${value}` : value;
  return parameters;
};

export const startAgentApiServer = async (options: AgentApiServerOptions): Promise<LocalAgentApi> => {
  const log = options.log ?? (() => undefined);
  const routes = compileRoutes();
  const accountId = options.accountId ?? '000000000000';
  const cors: Record<string, string> = {
    'access-control-allow-origin': options.allowOrigin ?? '*',
    'access-control-expose-headers': 'retry-after,www-authenticate',
  };
  const preflight: Record<string, string> = {
    ...cors,
    'access-control-allow-methods': 'GET,POST,DELETE',
    'access-control-allow-headers': 'authorization,content-type',
    'access-control-max-age': '3600',
  };
  let host = '';

  const reply = (res: ServerResponse, status: number, headers: Record<string, string | number | boolean> = {}, body?: string) => {
    res.writeHead(status, { ...cors, ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])) });
    res.end(body);
  };
  const apiGatewayError = (res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}) =>
    reply(res, status, { 'content-type': 'application/json', ...headers }, JSON.stringify({ message }));

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const [rawPath, rawQueryString = ''] = (req.url ?? '/').split(/\?(.*)/s, 2);
    if (method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      res.writeHead(204, preflight);
      res.end();
      return;
    }
    const route = matchRoute(routes, method, rawPath);
    if (route === undefined) return apiGatewayError(res, 404, 'Not Found');
    const headers = headersOf(req);
    if (headers.authorization === undefined) return apiGatewayError(res, 401, 'Unauthorized', { 'www-authenticate': 'Bearer' });
    const raw = await readLimited(req);
    if (raw === undefined) return apiGatewayError(res, 413, 'Request Entity Too Large');

    const now = new Date();
    const requestId = randomUUID();
    const event: APIGatewayProxyEventV2 = {
      version: '2.0',
      routeKey: route.routeKey,
      rawPath,
      rawQueryString,
      headers,
      ...(queryParametersOf(rawQueryString) ? { queryStringParameters: queryParametersOf(rawQueryString) } : {}),
      ...(route.pathParameters ? { pathParameters: route.pathParameters } : {}),
      requestContext: {
        accountId,
        apiId: 'local',
        domainName: host,
        domainPrefix: host.split('.')[0] ?? host,
        http: {
          method,
          path: rawPath,
          protocol: `HTTP/${req.httpVersion}`,
          sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
          userAgent: headers['user-agent'] ?? '',
        },
        requestId,
        routeKey: route.routeKey,
        stage: '$default',
        time: now.toISOString(),
        timeEpoch: now.getTime(),
      },
      ...(raw.length > 0 ? { body: raw.toString('utf8') } : {}),
      isBase64Encoded: false,
    };

    let result: APIGatewayProxyStructuredResultV2;
    try {
      result = await options.handler(event);
    } catch (error) {
      // A Lambda that throws is a 500 from API Gateway, without the error.
      log(`agent API: ${route.routeKey} threw ${(error as Error).name}: ${(error as Error).message}`);
      return apiGatewayError(res, 500, 'Internal Server Error');
    }
    const body = result.body === undefined ? undefined : result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body;
    reply(res, result.statusCode ?? 200, { ...(result.headers ?? {}), 'apigw-requestid': requestId }, body);
  };

  const endpoint = await listen(
    (req, res) => {
      serve(req, res).catch((error: unknown) => {
        log(`agent API: request failed: ${(error as Error).message}`);
        if (!res.headersSent) apiGatewayError(res, 500, 'Internal Server Error');
        else res.end();
      });
    },
    options.port ?? 0,
    'the agent API',
  );
  host = `127.0.0.1:${endpoint.port}`;
  return { url: endpoint.url, port: endpoint.port, close: () => endpoint.close() };
};
