import type { IncomingMessage, ServerResponse } from 'node:http';

/** The request body is longer than the reader takes; nothing of it is kept. */
export class BodyTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the request body is larger than ${maxBytes} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * The whole request body; with `maxBytes`, rejects with BodyTooLargeError as soon as the body (or
 * its declared content-length) goes past it, keeping no more of it in memory.
 */
export const readBody = (req: IncomingMessage, maxBytes = Infinity): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      chunks.length = 0;
      // The rest is drained unread: a sender still writing gets the answer instead of a reset.
      req.resume();
      reject(new BodyTooLargeError(maxBytes));
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) tooLarge();
      else chunks.push(c);
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on('error', reject);
    if (Number(req.headers['content-length'] ?? 0) > maxBytes) return tooLarge();
    req.on('data', onData);
    req.on('end', onEnd);
  });

/**
 * Browser dashboards call the local endpoints with the AWS SDK from another origin, so every
 * endpoint answers CORS preflights the way a permissive API Gateway would.
 */
export const CORS_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET,POST,PUT,DELETE,OPTIONS',
  'access-control-allow-headers': '*',
  'access-control-expose-headers': '*',
  'access-control-max-age': '600',
};

export const handlePreflight = (req: IncomingMessage, res: ServerResponse): boolean => {
  if (req.method !== 'OPTIONS') return false;
  res.writeHead(204, CORS_HEADERS);
  res.end();
  return true;
};

export const sendJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json',
  extraHeaders: Record<string, string> = {},
): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...CORS_HEADERS,
    ...extraHeaders,
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
};

/**
 * An error an emulated AWS JSON-protocol service answers with: `code` is the error name the SDK
 * raises (`__type`), `status` the HTTP status.
 */
export class LocalServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}
