import { CreateTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { ExecuteStatementCommandInput, ExecuteStatementCommandOutput } from '@aws-sdk/client-rds-data';
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload, type KeyLike } from 'jose';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toPositional } from '../../local/emulators/data-api/named-params';
import type { PgliteHandle } from './pglite';

// dynalite ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

export const AUDIENCE = 'agentcrm-test-client';

/**
 * A test OIDC issuer: an RS256 key pair whose public key is served as a JWKS over local HTTP, so
 * the handlers verify real tokens exactly as against a real identity provider. `jwksRequests`
 * counts fetches (a cheap rejection must not cause one).
 */
export interface TestIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly jwksRequests: () => number;
  /** A token signed with the issuer's key; `claims` override the defaults (iss, aud, sub, exp in 1 h). */
  sign(claims?: JWTPayload & { exp?: number }, header?: { alg?: string; kid?: string }): Promise<string>;
  /** A token signed with a key the JWKS does not contain. */
  signWithForeignKey(claims?: JWTPayload): Promise<string>;
  /** An `alg: none` token (no signature). */
  unsigned(claims?: JWTPayload): string;
  /** An HS256 token, its secret being the issuer's public modulus (the classic key-confusion attack). */
  hs256(claims?: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export const startTestIssuer = async (): Promise<TestIssuer> => {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const foreign = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  let requests = 0;
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const defaults = (claims: JWTPayload = {}): JWTPayload => ({
    iss: issuer,
    aud: AUDIENCE,
    sub: 'agent-a',
    iat: nowSeconds(),
    exp: nowSeconds() + 3600,
    ...claims,
  });
  const signWith = (key: KeyLike, claims: JWTPayload | undefined, header: { alg?: string; kid?: string } = {}) => {
    const payload = defaults(claims);
    // Claims set to undefined are left out of the token (e.g. a Cognito access token has no aud).
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
    return new SignJWT(payload).setProtectedHeader({ alg: header.alg ?? 'RS256', kid: header.kid ?? 'test-key-1', typ: 'JWT' }).sign(key);
  };
  return {
    issuer,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    jwksRequests: () => requests,
    sign: (claims, header) => signWith(privateKey, claims, header),
    signWithForeignKey: (claims) => signWith(foreign.privateKey, claims),
    unsigned: (claims) => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(defaults(claims))}.`,
    hs256: async (claims) => {
      const head = `${b64url({ alg: 'HS256', typ: 'JWT', kid: 'test-key-1' })}.${b64url(defaults(claims))}`;
      const signature = createHmac('sha256', String(jwk.n)).update(head).digest('base64url');
      return `${head}.${signature}`;
    },
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
};

/**
 * A stand-in for `ExecuteStatement` (aws-sdk-client-mock `callsFake`) that runs the statement on
 * PGlite through the Data API named-parameter translation, answering as the Data API does with
 * `formatRecordsAs: JSON`.
 */
export const dataApiOnPglite =
  (db: PgliteHandle) =>
  async (input: ExecuteStatementCommandInput): Promise<Partial<ExecuteStatementCommandOutput>> => {
    const statement = toPositional(input.sql ?? '', input.parameters ?? []);
    const rows = await db.query(statement.text, statement.values);
    return input.formatRecordsAs === 'JSON' ? { formattedRecords: JSON.stringify(rows), numberOfRecordsUpdated: 0 } : { numberOfRecordsUpdated: 0 };
  };

export interface LocalTables {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  close(): Promise<void>;
}

/** dynalite (a real DynamoDB implementation, in memory) with the given tables. */
export const startDynaliteTables = async (tables: CreateTableCommandInput[]): Promise<LocalTables> => {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  for (const table of tables) await client.send(new CreateTableCommand(table));
  return {
    endpoint,
    client,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
};

// The local runtime's definitions, so the tests' tables have the stack's keys.
export { deviceRegistryTableInput, presenceTableInput } from '../../local/emulators/dynamodb';
