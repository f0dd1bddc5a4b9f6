import { createHash, createHmac } from 'node:crypto';
import { awsIotUrlProvider, createAwsIotWebSocketUrl } from '../../client/aws-iot-url';
import { IotUrlSigningError } from '../../client/errors';

const ENDPOINT = 'a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com';
const SIGNING_DATE = new Date('2026-11-24T10:20:30.000Z');
const CREDENTIALS = {
  accessKeyId: 'ASIAEXAMPLEKEYID1234',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE/token+with=special/chars',
};

const sign = (overrides: Partial<Parameters<typeof createAwsIotWebSocketUrl>[0]> = {}) =>
  createAwsIotWebSocketUrl({ endpoint: ENDPOINT, region: 'eu-west-1', credentials: CREDENTIALS, signingDate: SIGNING_DATE, ...overrides });

/**
 * SigV4 query signing written out from the AWS documentation ("Create a signed AWS API request"),
 * to check the library's signature independently (test-only; the library itself uses
 * @smithy/signature-v4).
 */
const expectedSignature = (url: URL, secretAccessKey: string, region: string): string => {
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const params = [...url.searchParams.entries()].filter(([k]) => k !== 'X-Amz-Signature' && k !== 'X-Amz-Security-Token');
  const canonicalQuery = params
    .map(([k, v]) => [enc(k), enc(v)])
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const emptyHash = createHash('sha256').update('').digest('hex');
  const canonicalRequest = ['GET', url.pathname, canonicalQuery, `host:${url.host}`, '', 'host', emptyHash].join('\n');
  const amzDate = url.searchParams.get('X-Amz-Date')!;
  const scope = `${amzDate.slice(0, 8)}/${region}/iotdevicegateway/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const kSigning = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, amzDate.slice(0, 8)), region), 'iotdevicegateway'), 'aws4_request');
  return createHmac('sha256', kSigning).update(stringToSign).digest('hex');
};

describe('AWS IoT MQTT-over-WebSocket URL (SigV4)', () => {
  it('has the documented shape: wss, the endpoint host, /mqtt, and the SigV4 query parameters', async () => {
    const url = new URL(await sign());
    expect(url.protocol).toBe('wss:');
    expect(url.host).toBe(ENDPOINT);
    expect(url.pathname).toBe('/mqtt');
    const q = url.searchParams;
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Credential')).toBe('ASIAEXAMPLEKEYID1234/20261124/eu-west-1/iotdevicegateway/aws4_request');
    expect(q.get('X-Amz-Date')).toBe('20261124T102030Z');
    expect(q.get('X-Amz-Expires')).toBe('300');
    expect(q.get('X-Amz-SignedHeaders')).toBe('host');
    expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(q.get('X-Amz-Security-Token')).toBe(CREDENTIALS.sessionToken);
  });

  it('appends the session token after signing: last in the URL, outside the signature, percent-encoded', async () => {
    const withToken = await sign();
    const withoutToken = await sign({ credentials: { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: CREDENTIALS.secretAccessKey } });
    expect(withToken.startsWith(`${withoutToken}&`)).toBe(true);
    expect(withToken.slice(withoutToken.length)).toBe('&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE%2Ftoken%2Bwith%3Dspecial%2Fchars');
    expect(new URL(withoutToken).searchParams.has('X-Amz-Security-Token')).toBe(false);
    expect(new URL(withToken).searchParams.get('X-Amz-Signature')).toBe(new URL(withoutToken).searchParams.get('X-Amz-Signature'));
  });

  it('carries the signature SigV4 prescribes for GET /mqtt with only the host header signed', async () => {
    const url = new URL(await sign());
    expect(url.searchParams.get('X-Amz-Signature')).toBe(expectedSignature(url, CREDENTIALS.secretAccessKey, 'eu-west-1'));
    const other = new URL(await sign({ region: 'us-east-1', endpoint: 'x-ats.iot.us-east-1.amazonaws.com', expiresInSeconds: 3600 }));
    expect(other.searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(other.searchParams.get('X-Amz-Signature')).toBe(expectedSignature(other, CREDENTIALS.secretAccessKey, 'us-east-1'));
  });

  it('is deterministic for fixed credentials and date, and changes with the date', async () => {
    expect(await sign()).toBe(await sign());
    expect(await sign({ signingDate: new Date('2026-11-24T10:20:31Z') })).not.toBe(await sign());
  });

  it('accepts the endpoint with a scheme, and keeps a non-default port in host and signature', async () => {
    expect(new URL(await sign({ endpoint: `wss://${ENDPOINT}/` })).host).toBe(ENDPOINT);
    const local = new URL(await sign({ endpoint: 'https://localhost:8443' }));
    expect(local.host).toBe('localhost:8443');
    expect(local.searchParams.get('X-Amz-Signature')).toBe(expectedSignature(local, CREDENTIALS.secretAccessKey, 'eu-west-1'));
  });

  it('asks a credentials provider again for every URL (refreshed Cognito credentials on reconnect)', async () => {
    let calls = 0;
    const provider = awsIotUrlProvider({
      endpoint: ENDPOINT,
      region: 'eu-west-1',
      credentials: async () => ({ ...CREDENTIALS, accessKeyId: `ASIAKEY${(calls += 1)}` }),
    });
    const first = new URL(await provider());
    const second = new URL(await provider());
    expect(first.searchParams.get('X-Amz-Credential')).toMatch(/^ASIAKEY1\//);
    expect(second.searchParams.get('X-Amz-Credential')).toMatch(/^ASIAKEY2\//);
  });

  it('fails with a named error for missing credentials, a failing provider, a bad endpoint or expiry', async () => {
    await expect(sign({ credentials: { accessKeyId: '', secretAccessKey: 'x' } })).rejects.toThrow(IotUrlSigningError);
    await expect(sign({ credentials: async () => Promise.reject(new Error('Cognito down')) })).rejects.toThrow(/could not get AWS credentials: Cognito down/);
    await expect(sign({ endpoint: 'wss://' })).rejects.toMatchObject({ name: 'IotUrlSigningError' });
    await expect(sign({ expiresInSeconds: 0 })).rejects.toThrow(/expiresInSeconds/);
    await expect(sign({ region: '' })).rejects.toThrow(/region/);
  });
});
