import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { IotUrlSigningError } from './errors';

/**
 * The MQTT-over-WebSocket URL of AWS IoT Core, signed with SigV4 from standard AWS credentials
 * (in a browser typically Cognito identity-pool credentials).
 *
 * Format (AWS IoT developer guide, "MQTT over WebSocket"): `wss://<endpoint>/mqtt?` + the SigV4
 * query parameters (X-Amz-Algorithm, X-Amz-Credential `<key>/<date>/<region>/iotdevicegateway/aws4_request`,
 * X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders=host, X-Amz-Signature) over a canonical request
 * `GET /mqtt` with only the `host` header and the hash of an empty payload. The IoT device gateway
 * does NOT take the session token in the canonical request: `X-Amz-Security-Token` is appended after
 * signing (as AWS's own samples and Amplify's Signer do for service `iotdevicegateway`).
 *
 * Signing is done by @smithy/signature-v4 with @aws-crypto/sha256-js (pure JS, works in browsers).
 */
export const IOT_SIGNING_SERVICE = 'iotdevicegateway';
export const IOT_WEBSOCKET_PATH = '/mqtt';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

export interface AwsIotUrlOptions {
  /**
   * The account's IoT data endpoint (`aws iot describe-endpoint --endpoint-type iot:Data-ATS`), e.g.
   * `abc123-ats.iot.eu-west-1.amazonaws.com`; a `wss://…` or `https://…` form is accepted too.
   */
  endpoint: string;
  region: string;
  /** Credentials, or a provider called for every URL (so refreshed credentials are used on reconnect). */
  credentials: AwsCredentials | AwsCredentialsProvider;
  /**
   * How long the URL may be used to open a connection, in seconds (1..604800). Default 300: the
   * URL authenticates the WebSocket handshake only; an open connection is not cut when it expires.
   */
  expiresInSeconds?: number;
  /** The signing time; default now. */
  signingDate?: Date;
  /**
   * `wss` (default; AWS IoT only takes TLS). `ws` is for a local broker without TLS (the local
   * runtime); the signature does not depend on it.
   */
  scheme?: 'wss' | 'ws';
}

const hostOf = (endpoint: string): { hostname: string; port?: number } => {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `wss://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new IotUrlSigningError(`invalid IoT endpoint: ${endpoint}`);
  }
  if (!url.hostname) throw new IotUrlSigningError(`invalid IoT endpoint: ${endpoint}`);
  return { hostname: url.hostname, ...(url.port ? { port: Number(url.port) } : {}) };
};

/** RFC 3986 encoding, the one SigV4 canonicalizes with. */
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export const createAwsIotWebSocketUrl = async (options: AwsIotUrlOptions): Promise<string> => {
  const { hostname, port } = hostOf(options.endpoint);
  if (!options.region) throw new IotUrlSigningError('region is required');
  const expiresIn = options.expiresInSeconds ?? 300;
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 604_800) {
    throw new IotUrlSigningError(`expiresInSeconds must be an integer from 1 to 604800, got ${expiresIn}`);
  }
  let credentials: AwsCredentials;
  try {
    credentials = typeof options.credentials === 'function' ? await options.credentials() : options.credentials;
  } catch (err) {
    throw new IotUrlSigningError(`could not get AWS credentials: ${(err as Error).message}`, { cause: err });
  }
  if (!credentials?.accessKeyId || !credentials.secretAccessKey) {
    throw new IotUrlSigningError('AWS credentials need accessKeyId and secretAccessKey');
  }
  const defaultPort = (options.scheme ?? 'wss') === 'wss' ? 443 : 80;
  const host = port !== undefined && port !== defaultPort ? `${hostname}:${port}` : hostname;

  const signer = new SignatureV4({
    service: IOT_SIGNING_SERVICE,
    region: options.region,
    // Without the session token: it must not be part of the canonical request (see above).
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    sha256: Sha256,
  });
  const request = new HttpRequest({
    method: 'GET',
    protocol: `${options.scheme ?? 'wss'}:`,
    hostname,
    ...(port !== undefined ? { port } : {}),
    path: IOT_WEBSOCKET_PATH,
    headers: { host },
  });
  const signed = await signer.presign(request, { expiresIn, ...(options.signingDate ? { signingDate: options.signingDate } : {}) });

  const query = Object.entries(signed.query ?? {})
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`);
  if (credentials.sessionToken) query.push(`X-Amz-Security-Token=${rfc3986(credentials.sessionToken)}`);
  return `${options.scheme ?? 'wss'}://${host}${IOT_WEBSOCKET_PATH}?${query.join('&')}`;
};

/**
 * A broker URL provider for `AgentClient` (`brokerUrl`): signs a fresh URL for every connection
 * attempt, with the credentials of that moment.
 */
export const awsIotUrlProvider =
  (options: Omit<AwsIotUrlOptions, 'signingDate'>): (() => Promise<string>) =>
  () =>
    createAwsIotWebSocketUrl(options);
