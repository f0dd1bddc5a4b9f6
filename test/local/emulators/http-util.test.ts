import { request } from 'node:http';
import { BodyTooLargeError, readBody } from '../../../local/emulators/http-util';
import { listen, type Listening } from '../../../local/emulators/listen';

/** The local endpoints' body reader: a limit stops it before the sender has finished. */

describe('readBody', () => {
  let endpoint: Listening;
  const outcomes: (Buffer | Error)[] = [];

  beforeAll(async () => {
    endpoint = await listen(async (req, res) => {
      const outcome = await readBody(req, 16).catch((error: Error) => error);
      outcomes.push(outcome);
      res.writeHead(outcome instanceof BodyTooLargeError ? 413 : 200);
      res.end();
    });
  });
  beforeEach(() => outcomes.splice(0));
  afterAll(() => endpoint.close());

  /** Writes `first` and answers the status, ending the request only after the answer (or at once when `end`). */
  const send = (first: string, end: boolean) =>
    new Promise<number>((resolve, reject) => {
      const req = request(endpoint.url, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.end();
      });
      req.on('error', reject);
      req.write(first);
      if (end) req.end();
    });

  it('reads a body within the limit whole', async () => {
    expect(await send('x'.repeat(16), true)).toBe(200);
    expect(outcomes).toEqual([Buffer.from('x'.repeat(16))]);
  });

  it('rejects with BodyTooLargeError once the body goes past the limit, while the sender is still sending', async () => {
    expect(await send('x'.repeat(17), false)).toBe(413);
    expect(outcomes).toEqual([expect.objectContaining({ name: 'BodyTooLargeError', maxBytes: 16 })]);
  });

  it('rejects a declared content-length over the limit before reading', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(endpoint.url, { method: 'POST', headers: { 'content-length': '1000' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', () => undefined);
      req.on('close', () => reject(new Error('closed before an answer')));
      req.flushHeaders();
    });
    expect(status).toBe(413);
  });
});
