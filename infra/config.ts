/**
 * Reads the app's CDK context (`cdk.json`, `-c key=value`) into validated stack properties, so a
 * malformed value in a deploy command fails at synth, naming the key, instead of deploying something else.
 *
 * | key | default | meaning |
 * | --- | --- | --- |
 * | `prefix` | `convo-notify` | resource name prefix; inbox queues are `<prefix>-inbox-<clientId>.fifo` |
 * | `convoHistoryTableName` + `convoHistoryStreamArn` | stack creates `CONVO_HISTORY` | use an existing table and its NEW_AND_OLD_IMAGES stream (both or neither) |
 * | `dbClusterArn` + `dbSecretArn` | stack creates Aurora Serverless v2 | use an existing Aurora cluster with the Data API enabled, and a secret for it (both or neither) |
 * | `dbName` | `convo_notify` | database holding the recipients schema |
 * | `inboxRetentionDays` | `4` | inbox message retention, 1–14 days |
 * | `recipientsPageSize` | `100` | devices per `ResolveRecipients` page, 1–500 (the handler's `MAX_PAGE_SIZE`) |
 * | `pipeBatchSize` | `10` | stream records per enrichment invocation and execution, 1–21 (`MAX_PIPE_BATCH_SIZE`: the enriched batch must fit the execution input) |
 * | `pipeParallelization` | `1` | concurrent batches per stream shard, 1–10 |
 * | `oidcIssuer` + `oidcAudience` | stack creates a Cognito user pool + app client | the CRM's OIDC issuer URL (https, exactly the tokens' `iss`) and the audience (`aud`, or `client_id` for tokens without `aud`) of agent tokens (both or neither) |
 * | `oidcJwksUri` | `<issuer>/.well-known/jwks.json` | where the issuer publishes its signing keys |
 * | `agentIdClaim` | `sub` | the token claim holding the agent id (`agents.agent_id`) |
 * | `agentApiConcurrency`, `iotAuthorizerConcurrency` | `10`, `10` | reserved concurrency (a cap) of the agent API and IoT authorizer Lambdas, 1–1000 |
 * | `agentApiRateLimit`, `agentApiBurstLimit` | `50`, `100` | agent API stage throttling: requests per second and burst |
 * | `agentApiCorsOrigins` | none | comma-separated origins allowed to call the agent API from a browser |
 * | `staleDeviceDays` | `30` | devices not seen for this many days are deactivated by the daily sweep, 1–3650 |
 */
import type { Node } from 'constructs';
import { DEFAULT_INBOX_RETENTION_DAYS } from '../tasks/shared/agent-access';
import { MAX_PIPE_BATCH_SIZE } from '../tasks/shared/enrichment';

/** Everything the stack needs from the context, validated and with defaults applied. */
export interface ConvoNotifyConfig {
  readonly prefix: string;
  readonly existingTable?: { readonly tableName: string; readonly streamArn: string };
  readonly existingDatabase?: { readonly clusterArn: string; readonly secretArn: string };
  readonly dbName: string;
  readonly inboxRetentionDays: number;
  readonly recipientsPageSize: number;
  readonly pipeBatchSize: number;
  readonly pipeParallelization: number;
  /** The CRM's own identity provider; without it the stack creates a Cognito user pool. */
  readonly identityProvider?: { readonly issuer: string; readonly audience: string; readonly jwksUri: string };
  readonly agentIdClaim: string;
  readonly agentApiConcurrency: number;
  readonly iotAuthorizerConcurrency: number;
  readonly agentApiRateLimit: number;
  readonly agentApiBurstLimit: number;
  readonly agentApiCorsOrigins: readonly string[];
  readonly staleDeviceDays: number;
}

export const DEFAULT_CONFIG = {
  prefix: 'convo-notify',
  dbName: 'convo_notify',
  inboxRetentionDays: DEFAULT_INBOX_RETENTION_DAYS,
  recipientsPageSize: 100,
  pipeBatchSize: 10,
  pipeParallelization: 1,
  agentIdClaim: 'sub',
  agentApiConcurrency: 10,
  iotAuthorizerConcurrency: 10,
  agentApiRateLimit: 50,
  agentApiBurstLimit: 100,
  staleDeviceDays: 30,
} as const;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Lookup = (key: string) => unknown;

const optionalString = (lookup: Lookup, key: string): string | undefined => {
  const value = lookup(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new ConfigError(`context "${key}" must be a string`);
  return value.trim();
};

// `-c key=4` arrives as the string "4", cdk.json gives a number: accept both, nothing else.
const integer = (lookup: Lookup, key: string, fallback: number, min: number, max: number): number => {
  const raw = lookup(key);
  if (raw === undefined || raw === null || raw === '') return fallback;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`context "${key}" must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
};

const pair = <A extends string, B extends string>(
  lookup: Lookup,
  a: A,
  b: B,
): { first: string; second: string } | undefined => {
  const first = optionalString(lookup, a);
  const second = optionalString(lookup, b);
  if (first === undefined && second === undefined) return undefined;
  if (first === undefined || second === undefined) {
    throw new ConfigError(`context "${a}" and "${b}" go together: give both or neither`);
  }
  return { first, second };
};

const ARN = /^arn:aws[a-z-]*:/;

const httpsUrl = (key: string, value: string): string => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`context "${key}" must be an https URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' || url.search !== '' || url.hash !== '') {
    throw new ConfigError(`context "${key}" must be an https URL without query or fragment, got ${JSON.stringify(value)}`);
  }
  return value;
};

const identityProviderFrom = (lookup: Lookup): ConvoNotifyConfig['identityProvider'] => {
  const oidc = pair(lookup, 'oidcIssuer', 'oidcAudience');
  const jwksUri = optionalString(lookup, 'oidcJwksUri');
  if (oidc === undefined) {
    if (jwksUri !== undefined) throw new ConfigError('context "oidcJwksUri" needs "oidcIssuer" and "oidcAudience"');
    return undefined;
  }
  // JWT validation compares `iss` exactly: a trailing slash is part of the issuer.
  const issuer = httpsUrl('oidcIssuer', oidc.first);
  if (!/^[\x21-\x7e]{1,256}$/.test(oidc.second)) throw new ConfigError('context "oidcAudience" must be 1-256 printable characters without spaces');
  return {
    issuer,
    audience: oidc.second,
    jwksUri: httpsUrl('oidcJwksUri', jwksUri ?? `${issuer.replace(/\/$/, '')}/.well-known/jwks.json`),
  };
};

const agentIdClaim = (lookup: Lookup): string => {
  const claim = optionalString(lookup, 'agentIdClaim') ?? DEFAULT_CONFIG.agentIdClaim;
  if (!/^[A-Za-z0-9_:.-]{1,64}$/.test(claim)) throw new ConfigError('context "agentIdClaim" must be a claim name (1-64 of A-Z a-z 0-9 _ : . -)');
  return claim;
};

const originsFrom = (lookup: Lookup): string[] => {
  const raw = optionalString(lookup, 'agentApiCorsOrigins');
  if (raw === undefined) return [];
  const origins = raw.split(',').map((o) => o.trim()).filter((o) => o !== '');
  for (const origin of origins) {
    if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(origin)) {
      throw new ConfigError(`context "agentApiCorsOrigins": ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path, no "*")`);
    }
  }
  return origins;
};

/** Validates the context values behind `lookup` (usually `node.tryGetContext`). */
export const readConfigFrom = (lookup: Lookup): ConvoNotifyConfig => {
  const prefix = optionalString(lookup, 'prefix') ?? DEFAULT_CONFIG.prefix;
  // The prefix is part of queue names (`<prefix>-inbox-<clientId>.fifo`, 80 characters at most,
  // [A-Za-z0-9_-]) and of the IAM resource pattern that scopes the workflow to inbox queues.
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) {
    throw new ConfigError('context "prefix" must be 1-32 characters of A-Z, a-z, 0-9, "-" or "_"');
  }

  const table = pair(lookup, 'convoHistoryTableName', 'convoHistoryStreamArn');
  if (table && !(ARN.test(table.second) && table.second.includes(`:table/${table.first}/stream/`))) {
    throw new ConfigError('context "convoHistoryStreamArn" must be the stream ARN of table "convoHistoryTableName"');
  }

  const database = pair(lookup, 'dbClusterArn', 'dbSecretArn');
  if (database && !(ARN.test(database.first) && database.first.includes(':rds:') && database.first.includes(':cluster:'))) {
    throw new ConfigError('context "dbClusterArn" must be an Aurora cluster ARN (arn:aws:rds:<region>:<account>:cluster:<id>)');
  }
  if (database && !(ARN.test(database.second) && database.second.includes(':secretsmanager:'))) {
    throw new ConfigError('context "dbSecretArn" must be a Secrets Manager secret ARN');
  }

  const dbName = optionalString(lookup, 'dbName') ?? DEFAULT_CONFIG.dbName;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(dbName)) {
    throw new ConfigError('context "dbName" must be a PostgreSQL identifier (letters, digits, "_")');
  }

  return {
    prefix,
    existingTable: table && { tableName: table.first, streamArn: table.second },
    existingDatabase: database && { clusterArn: database.first, secretArn: database.second },
    dbName,
    inboxRetentionDays: integer(lookup, 'inboxRetentionDays', DEFAULT_CONFIG.inboxRetentionDays, 1, 14),
    recipientsPageSize: integer(lookup, 'recipientsPageSize', DEFAULT_CONFIG.recipientsPageSize, 1, 500),
    pipeBatchSize: integer(lookup, 'pipeBatchSize', DEFAULT_CONFIG.pipeBatchSize, 1, MAX_PIPE_BATCH_SIZE),
    pipeParallelization: integer(lookup, 'pipeParallelization', DEFAULT_CONFIG.pipeParallelization, 1, 10),
    identityProvider: identityProviderFrom(lookup),
    agentIdClaim: agentIdClaim(lookup),
    agentApiConcurrency: integer(lookup, 'agentApiConcurrency', DEFAULT_CONFIG.agentApiConcurrency, 1, 1000),
    iotAuthorizerConcurrency: integer(lookup, 'iotAuthorizerConcurrency', DEFAULT_CONFIG.iotAuthorizerConcurrency, 1, 1000),
    agentApiRateLimit: integer(lookup, 'agentApiRateLimit', DEFAULT_CONFIG.agentApiRateLimit, 1, 10_000),
    agentApiBurstLimit: integer(lookup, 'agentApiBurstLimit', DEFAULT_CONFIG.agentApiBurstLimit, 1, 5_000),
    agentApiCorsOrigins: originsFrom(lookup),
    staleDeviceDays: integer(lookup, 'staleDeviceDays', DEFAULT_CONFIG.staleDeviceDays, 1, 3650),
  };
};

/** Validates the context of a construct tree (the app). */
export const readConfig = (node: Node): ConvoNotifyConfig => readConfigFrom((key) => node.tryGetContext(key));
