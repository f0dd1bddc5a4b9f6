import { build } from 'esbuild';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import { zodEnglishOnly } from '../../client/build';
import { ConversationIdSchema } from '../../contracts/envelope';
import { previewOf } from '../../contracts/preview';
import { BodyTooLargeError, readBody } from '../emulators/http-util';
import { listen } from '../emulators/listen';
import { seededDevices } from '../runtime/seed';
import type { LocalStack } from '../runtime/stack';
import type { ExecutionRecord } from '../runtime/workflow-runner';
import { escalationsSnapshot, startEscalationFeed } from './escalations';
import { MESSAGE_BODY_MAX_CHARS } from './limits';
import { replayExecution } from './replay';
import type { ApiError, DashboardConfig, ExecutionSummary, PostMessageResponse } from './types';

/**
 * The local dashboard: the page (index.html and the browser app, bundled in memory at start-up so
 * there is no build step and no stale bundle) and a small JSON API over a running local stack.
 * Listens on 127.0.0.1 only, like every local endpoint.
 */

export interface DashboardOptions {
  stack: LocalStack;
  /** 0 (the default) picks a free port. */
  port?: number;
  log?: (message: string) => void;
}

export interface Dashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

const PUBLIC_DIR = join(__dirname, 'public');
const APP_ENTRY = join(__dirname, 'app.ts');
const MAX_BODY_BYTES = 64 * 1024;

interface Asset {
  body: Buffer;
  type: string;
}

export const bundleApp = async (): Promise<{ js: Buffer; map: Buffer }> => {
  const result = await build({
    entryPoints: [APP_ENTRY],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['es2022'],
    write: false,
    outdir: join(__dirname, 'out'),
    sourcemap: 'linked',
    minify: true,
    keepNames: true,
    logLevel: 'silent',
    // The client's own bundle keeps only zod's English messages; so does the page (a third smaller).
    plugins: [zodEnglishOnly],
  });
  const find = (ext: string) => {
    const file = result.outputFiles.find((f) => f.path.endsWith(ext));
    if (!file) throw new Error(`esbuild produced no ${ext} output for ${APP_ENTRY}`);
    return Buffer.from(file.contents);
  };
  return { js: find('.js'), map: find('.js.map') };
};

// --- POST /api/messages --------------------------------------------------------------------------

const required = (when = '') => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? `is required${when}` : 'must be a string'),
});
const id = (when = '') => z.string(required(when)).trim().min(1, 'must not be empty').max(128, 'must be at most 128 characters');

const common = {
  body: z.string(required()).trim().min(1, 'must not be empty').max(MESSAGE_BODY_MAX_CHARS, `must be at most ${MESSAGE_BODY_MAX_CHARS} characters`),
  senderId: id().optional(),
  channel: id().optional(),
  conversationId: ConversationIdSchema.optional(),
};

export const PostMessageSchema = z.discriminatedUnion(
  'audience',
  [
    z.strictObject({ audience: z.literal('sender'), ...common, senderId: id(' for audience "sender"') }),
    z.strictObject({ audience: z.literal('team'), ...common, teamId: id(' for audience "team"') }),
    z.strictObject({ audience: z.literal('assigned'), ...common, assignedAgentId: id(' for audience "assigned"') }),
  ],
  { error: 'must be one of "sender", "team", "assigned"' },
);

export type PostMessage = z.infer<typeof PostMessageSchema>;

const fieldIssues = (error: z.ZodError): { field: string; message: string }[] =>
  error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ field: k, message: 'is not a known field' }))
      : [{ field: i.path.join('.') || '(body)', message: i.message }],
  );

// --- responses -----------------------------------------------------------------------------------

const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const sendError = (res: ServerResponse, status: number, error: string, message: string, issues?: ApiError['issues']): void =>
  sendJson(res, status, { error, message, ...(issues ? { issues } : {}) } satisfies ApiError);

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: ApiError['issues'],
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const readJson = async (req: IncomingMessage): Promise<unknown> => {
  // Requiring JSON also keeps other web sites out: a cross-origin JSON POST needs a CORS preflight, which this server never grants.
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    throw new HttpError(415, 'UnsupportedMediaType', 'send the body as application/json');
  }
  const raw = await readBody(req, MAX_BODY_BYTES).catch((error: unknown) => {
    if (!(error instanceof BodyTooLargeError)) throw error;
    // Say the limit the user meets (the message's characters), not the transport's bytes.
    throw new HttpError(413, 'PayloadTooLarge', `the request is too large: a message body must be at most ${MESSAGE_BODY_MAX_CHARS} characters`, [
      { field: 'body', message: `must be at most ${MESSAGE_BODY_MAX_CHARS} characters` },
    ]);
  });
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'InvalidJson', 'the body is not valid JSON');
  }
};

const decodeName = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'MalformedUrl', `the execution name in the URL is not valid percent-encoding: ${segment}`);
  }
};

// --- views of the stack --------------------------------------------------------------------------

/** The dev sign-in of the local token issuer (`POST {agentId}` → `{token, expiresAt}`). */
export const devTokenUrl = (stack: LocalStack): string => new URL('/dev/token', stack.endpoints.tokenIssuer).toString();

export const dashboardConfig = (stack: LocalStack): DashboardConfig => {
  const devices = seededDevices(stack.seed);
  const agents = stack.seed.agents.map((a) => ({
    agentId: a.agentId,
    name: a.name,
    devices: devices.filter((d) => d.agentId === a.agentId).map((d) => ({ label: d.label, clientId: d.clientId })),
    teams: [...(a.teams ?? [])],
    follows: [...(a.follows ?? [])],
  }));
  const group = (key: 'teams' | 'follows') => {
    const out = new Map<string, string[]>();
    for (const a of agents) for (const v of a[key]) out.set(v, [...(out.get(v) ?? []), a.agentId]);
    // In order of first appearance in the seed, so the form's defaults are the seed's main team and sender.
    return [...out.entries()];
  };
  return {
    region: stack.config.region,
    tenantId: stack.config.tenantId,
    apiUrl: stack.endpoints.agentApi,
    iotEndpoint: stack.endpoints.mqttWs,
    authorizerName: stack.config.authorizerName,
    tokenUrl: devTokenUrl(stack),
    agents,
    teams: group('teams').map(([teamId, members]) => ({ teamId, members })),
    senders: group('follows').map(([senderId, followers]) => ({ senderId, followers })),
  };
};

type EntryLike = {
  notification?: { kind?: unknown; conversationId?: unknown; messageId?: unknown; preview?: unknown };
  audience?: { topic?: unknown; teamId?: unknown; assignedAgentId?: unknown; senderId?: unknown };
  quarantine?: { keys?: { conversationId?: unknown; messageId?: unknown } };
};
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Enough of a preview to tell rows apart in the list; the full one is in the execution's input. */
const ROW_PREVIEW_CHARS = 60;

/** Who the topic addresses: the team, the assigned agent, or the sender whose followers are notified. */
const audienceOf = (a: EntryLike['audience']): { topic?: string; audience?: string } => {
  const topic = text(a?.topic);
  const [role, id] = topic === 'team' ? ['team', a?.teamId] : topic === 'direct' ? ['agent', a?.assignedAgentId] : topic === 'sender' ? ['sender', a?.senderId] : [];
  const who = role && text(id) ? `${role} ${text(id)}` : undefined;
  return { ...(topic ? { topic } : {}), ...(who ? { audience: who } : {}) };
};

/** The execution input is NormalizeBatch's answer: one notification or quarantine entry per stream record. */
const recordOf = (entry: EntryLike): ExecutionSummary['records'][number] => {
  if (entry?.quarantine) {
    return { kind: 'quarantined', conversationId: text(entry.quarantine.keys?.conversationId), messageId: text(entry.quarantine.keys?.messageId) };
  }
  const n = entry?.notification;
  const preview = text(n?.preview);
  return {
    kind: n?.kind === 'message.created' ? 'created' : n?.kind === 'message.handled' ? 'handled' : '?',
    conversationId: text(n?.conversationId),
    messageId: text(n?.messageId),
    ...audienceOf(entry?.audience),
    ...(preview !== undefined ? { preview: previewOf(preview, ROW_PREVIEW_CHARS) } : {}),
  };
};

export const summarize = (r: ExecutionRecord): ExecutionSummary => ({
  name: r.name,
  status: r.status,
  startedAt: r.startedAt,
  durationMs: r.durationMs,
  replayOf: r.replayOf,
  error: r.error,
  path: r.path,
  records: (Array.isArray(r.input) ? r.input : []).map((entry: EntryLike) => recordOf(entry)),
});

/**
 * Why nobody will be notified, as the seed the stack started with tells it (active agents with
 * devices): a quick hint, not the workflow's answer. The workflow asks the recipients database,
 * which devices registered, unregistered or agents deactivated since the start have changed.
 */
export const nobodyNotified = (stack: LocalStack, m: PostMessage): string | undefined => {
  const active = stack.seed.agents.filter((a) => (a.active ?? true) && a.devices.length > 0);
  if (m.audience === 'team') {
    return active.some((a) => a.teams?.includes(m.teamId)) ? undefined : `no active device for team "${m.teamId}": nobody will be notified`;
  }
  if (m.audience === 'assigned') {
    return active.some((a) => a.agentId === m.assignedAgentId) ? undefined : `no active device for agent "${m.assignedAgentId}": nobody will be notified`;
  }
  return active.some((a) => a.follows?.includes(m.senderId)) ? undefined : `no active device follows sender "${m.senderId}": nobody will be notified`;
};

// --- the server ----------------------------------------------------------------------------------

export const startDashboard = async (options: DashboardOptions): Promise<Dashboard> => {
  const { stack } = options;
  const log = options.log ?? (() => undefined);

  log('bundling the dashboard app (esbuild)');
  const bundle = await bundleApp();
  const assets: Record<string, Asset> = {
    '/': { body: readFileSync(join(PUBLIC_DIR, 'index.html')), type: 'text/html; charset=utf-8' },
    '/style.css': { body: readFileSync(join(PUBLIC_DIR, 'style.css')), type: 'text/css; charset=utf-8' },
    '/app.js': { body: bundle.js, type: 'text/javascript; charset=utf-8' },
    '/app.js.map': { body: bundle.map, type: 'application/json; charset=utf-8' },
  };

  const streams = new Set<ServerResponse>();
  let closed = false;
  // The runner offers no way to unsubscribe; after close the listener just has nobody to tell.
  stack.runner.onExecution((record) => {
    if (closed) return;
    const frame = `event: execution\ndata: ${JSON.stringify(summarize(record))}\n\n`;
    for (const res of streams) res.write(frame);
  });
  // Outcome events, answer timers and escalations as they happen (docs/escalation.md).
  const stopEscalationFeed = startEscalationFeed(stack, (event, data) => {
    if (closed) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of streams) res.write(frame);
  });
  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();

  let allowedHosts = new Set<string>();

  const openEventStream = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write('retry: 1000\n\n');
    streams.add(res);
    req.on('close', () => streams.delete(res));
  };

  const postMessage = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readJson(req);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new HttpError(400, 'ValidationError', '(body): must be a JSON object', [{ field: '(body)', message: 'must be a JSON object' }]);
    }
    const parsed = PostMessageSchema.safeParse(body);
    if (!parsed.success) {
      const issues = fieldIssues(parsed.error);
      throw new HttpError(400, 'ValidationError', issues.map((i) => `${i.field}: ${i.message}`).join('; '), issues);
    }
    const m = parsed.data;
    const createdAt = new Date().toISOString();
    const item: Record<string, unknown> = {
      conversationId: m.conversationId ?? `conv-${randomUUID().slice(0, 8)}`,
      messageId: `msg-${Date.now().toString(36)}-${randomUUID().slice(0, 6)}`,
      tenantId: stack.config.tenantId,
      senderId: m.senderId ?? 'customer-web',
      senderType: 'customer',
      channel: m.channel ?? 'web',
      body: m.body,
      createdAt,
      ...(m.audience === 'team' ? { teamId: m.teamId } : {}),
      ...(m.audience === 'assigned' ? { assignedAgentId: m.assignedAgentId } : {}),
    };
    await stack.putMessage(item);
    const warning = nobodyNotified(stack, m);
    log(`message ${item.messageId} (${m.audience}) written to CONVO_HISTORY${warning ? `: ${warning}` : ''}`);
    sendJson(res, 201, {
      conversationId: item.conversationId as string,
      messageId: item.messageId as string,
      createdAt,
      item,
      ...(warning ? { warning } : {}),
    } satisfies PostMessageResponse);
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Only this machine's own names: a page on another site cannot reach the API through DNS rebinding.
    if (!allowedHosts.has(String(req.headers.host ?? ''))) throw new HttpError(421, 'MisdirectedRequest', 'unexpected Host header');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname === '/index.html' ? '/' : url.pathname;
    const method = req.method ?? 'GET';
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) throw new HttpError(405, 'MethodNotAllowed', `${method} is not allowed on ${path}; use ${methods.join(', ')}`);
    };

    const asset = assets[path];
    if (asset) {
      allow('GET', 'HEAD');
      res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-store' });
      res.end(method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (path === '/api/config') {
      allow('GET');
      return sendJson(res, 200, dashboardConfig(stack));
    }
    if (path === '/api/definition') {
      allow('GET');
      return sendJson(res, 200, stack.runner.definition);
    }
    if (path === '/api/events') {
      allow('GET');
      return openEventStream(req, res);
    }
    if (path === '/api/messages') {
      allow('POST');
      return postMessage(req, res);
    }
    if (path === '/api/executions') {
      allow('GET');
      return sendJson(res, 200, stack.runner.executions().map(summarize));
    }
    if (path === '/api/escalations') {
      allow('GET');
      return sendJson(res, 200, escalationsSnapshot(stack));
    }
    const execution = /^\/api\/executions\/([^/]+)(\/replay)?$/.exec(path);
    if (execution) {
      const name = decodeName(execution[1]);
      const record = stack.runner.execution(name);
      if (!record) throw new HttpError(404, 'ExecutionDoesNotExist', `no execution named ${name}`);
      if (execution[2]) {
        allow('POST');
        const replay = await replayExecution(stack, record);
        log(`execution ${name} replayed as ${replay.name} (${replay.status})`);
        return sendJson(res, 201, summarize(replay));
      }
      allow('GET');
      return sendJson(res, 200, record);
    }
    throw new HttpError(404, 'NotFound', `nothing at ${path}`);
  };

  const listening = await listen(
    (req, res) => {
      route(req, res).catch((err: unknown) => {
        if (res.headersSent) return void res.end();
        if (err instanceof HttpError) return sendError(res, err.status, err.code, err.message, err.issues);
        log(`dashboard: ${req.method} ${req.url} failed: ${(err as Error).stack ?? String(err)}`);
        sendError(res, 500, 'InternalError', (err as Error).message ?? String(err));
      });
    },
    options.port ?? 0,
    'the dashboard',
  );
  allowedHosts = new Set([`127.0.0.1:${listening.port}`, `localhost:${listening.port}`]);

  return {
    url: `http://127.0.0.1:${listening.port}/`,
    port: listening.port,
    close: async () => {
      closed = true;
      clearInterval(heartbeat);
      stopEscalationFeed();
      for (const res of streams) res.end();
      streams.clear();
      await listening.close();
    },
  };
};
