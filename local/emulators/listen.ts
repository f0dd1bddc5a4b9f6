import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

export class PortInUseError extends Error {
  constructor(
    public readonly port: number,
    what: string,
  ) {
    super(`port ${port} for ${what} is already in use; pick another with the matching --*-port option or env var`);
    this.name = 'PortInUseError';
  }
}

/** Requests of one action of one local service, with the bytes of their bodies. */
export interface RequestTally {
  service: string;
  action: string;
  requests: number;
  requestBytes: number;
  responseBytes: number;
  maxRequestBytes: number;
  /**
   * How many request bodies took each number of KiB, rounded up (0 for an empty body). Enough to
   * round every request up to a pricing unit that is a whole number of KiB (64 KB, 5 KB) exactly,
   * and bounded however long the process runs.
   */
  requestKiB: Record<number, number>;
}

/**
 * Counts the requests every local endpoint serves, by service and action, so the benchmark can
 * price what a run called without knowing which services exist: an endpoint added later is
 * counted from the name it is listened under.
 */
export class RequestCounter {
  private readonly tallies = new Map<string, RequestTally>();

  record(service: string, action: string, requestBytes: number, responseBytes: number): void {
    const key = `${service}\u0000${action}`;
    let tally = this.tallies.get(key);
    if (!tally) {
      tally = { service, action, requests: 0, requestBytes: 0, responseBytes: 0, maxRequestBytes: 0, requestKiB: {} };
      this.tallies.set(key, tally);
    }
    tally.requests += 1;
    tally.requestBytes += requestBytes;
    tally.responseBytes += responseBytes;
    tally.maxRequestBytes = Math.max(tally.maxRequestBytes, requestBytes);
    const kib = Math.ceil(requestBytes / 1024);
    tally.requestKiB[kib] = (tally.requestKiB[kib] ?? 0) + 1;
  }

  /** A copy of every tally so far, sorted by service then action. */
  snapshot(): RequestTally[] {
    return [...this.tallies.values()]
      .map((t) => ({ ...t, requestKiB: { ...t.requestKiB } }))
      .sort((a, b) => a.service.localeCompare(b.service) || a.action.localeCompare(b.action));
  }

  reset(): void {
    this.tallies.clear();
  }
}

/**
 * Every local endpoint of this process counts here: one process hosts one local stack
 * (local/runtime/stack.ts), so the process is the scope of a measurement.
 */
export const requestCounter = new RequestCounter();

/** `the SQS endpoint` → `sqs`, `the IoT data endpoint` → `iot-data`, `the token issuer` → `token-issuer`. */
export const serviceOf = (what: string): string =>
  what
    .trim()
    .replace(/^the\s+/i, '')
    .replace(/\s+endpoint$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'unknown';

/**
 * The action of one request, as the AWS protocols name it: the `X-Amz-Target` operation (JSON
 * protocols: `AmazonSQS.SendMessage` → `SendMessage`), else `Action=` of the query string or of a
 * form body (query protocol: SNS), else the method and first segment of the REST path
 * (`POST /topics/notify%2Fx` → `POST /topics`).
 */
export const actionOf = (method: string | undefined, url: string | undefined, target: string | undefined, formBody?: string): string => {
  if (target) return target.slice(target.lastIndexOf('.') + 1) || target;
  const parsed = new URL(url ?? '/', 'http://localhost');
  const fromQuery = parsed.searchParams.get('Action');
  if (fromQuery) return fromQuery;
  const fromBody = formBody === undefined ? null : new URLSearchParams(formBody).get('Action');
  if (fromBody) return fromBody;
  const segment = parsed.pathname.split('/').find((s) => s.length > 0);
  return `${method ?? 'GET'} /${segment ?? ''}`;
};

const isFormBody = (req: IncomingMessage) => (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');

/**
 * Wraps a handler so that each request is counted once its response is done. The body is seen as
 * the HTTP parser hands it to the request stream, so the handler reads it exactly as before.
 */
export const countingListener = (listener: RequestListener, service: string, counter: RequestCounter = requestCounter): RequestListener => {
  return (req: IncomingMessage, res: ServerResponse) => {
    let requestBytes = 0;
    let responseBytes = 0;
    const form = isFormBody(req) ? ([] as Buffer[]) : undefined;
    // The parser pushes every body chunk after the request event, so none is missed.
    const push = req.push.bind(req);
    req.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk !== null && chunk !== undefined) {
        const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), encoding);
        requestBytes += buffer.length;
        form?.push(buffer);
      }
      return push(chunk, encoding);
    };
    const tallyWrite = (chunk: unknown, encoding?: unknown) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
      responseBytes += Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? chunk.length : Buffer.byteLength(String(chunk), encoding as BufferEncoding);
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    res.write = ((...args: unknown[]) => {
      tallyWrite(args[0], args[1]);
      return write(...args);
    }) as ServerResponse['write'];
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      tallyWrite(args[0], args[1]);
      return end(...args);
    }) as ServerResponse['end'];
    let counted = false;
    const count = () => {
      if (counted) return;
      counted = true;
      const target = req.headers['x-amz-target'];
      const action = actionOf(req.method, req.url, Array.isArray(target) ? target[0] : target, form ? Buffer.concat(form).toString('utf8') : undefined);
      counter.record(service, action, requestBytes, responseBytes);
    };
    // 'finish' comes before the client has the answer, so a caller that awaited its call sees it counted.
    res.once('finish', count);
    res.once('close', count);
    return listener(req, res);
  };
};

/**
 * Listens on 127.0.0.1 only: the local runtime is for this machine, never for the network. Every
 * request is counted on `requestCounter` under the service named by `what` (see `serviceOf`).
 */
export const listen = (listener: RequestListener, port = 0, what = 'a local endpoint'): Promise<Listening> =>
  new Promise((resolve, reject) => {
    const server = createServer(countingListener(listener, serviceOf(what)));
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port, what) : err),
    );
    server.listen(port, '127.0.0.1', () => {
      const actual = (server.address() as AddressInfo).port;
      resolve({
        server,
        port: actual,
        url: `http://127.0.0.1:${actual}`,
        close: () =>
          new Promise<void>((res) => {
            server.closeAllConnections();
            server.close(() => res());
          }),
      });
    });
  });
