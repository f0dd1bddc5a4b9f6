/**
 * Reads the app's CDK context (`cdk.json`, `-c key=value`) into validated stack properties, so a
 * malformed value in a deploy command fails at synth, naming the key, instead of deploying something else.
 *
 * The keys, their defaults and ranges are documented once, in the README's "Deploy" table.
 */
import type { Node } from 'constructs';
import { DEFAULT_INBOX_RETENTION_DAYS } from '../contracts/agent-access';
import { MAX_PIPE_BATCH_SIZE } from '../contracts/enrichment';
import { QUEUE_NAME_PART_PATTERN } from '../contracts/naming';
import { RECIPIENTS_PAGE_SIZE } from '../contracts/recipients-page';
import { ANSWER_WITHIN_MINUTES } from '../contracts/escalation';

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
  /** What the workflow logs of each execution (Step Functions log level). */
  readonly workflowLogLevel: WorkflowLogLevel;
  /** Whether the workflow's and the pipe's logs carry execution data (inputs, outputs: customer text). */
  readonly logExecutionData: boolean;
  /** Minutes a created message may stay unclaimed before it escalates as `unanswered`; 0 = no timer. */
  readonly answerWithinMinutes: number;
}

/** The Step Functions log levels, from everything to nothing. */
export const WORKFLOW_LOG_LEVELS = ['ALL', 'ERROR', 'FATAL', 'OFF'] as const;
export type WorkflowLogLevel = (typeof WORKFLOW_LOG_LEVELS)[number];

/** The value of every context key that is not given: the one place these defaults are set. */
export const DEFAULT_CONFIG = {
  prefix: 'convo-notify',
  dbName: 'convo_notify',
  inboxRetentionDays: DEFAULT_INBOX_RETENTION_DAYS,
  recipientsPageSize: RECIPIENTS_PAGE_SIZE.default,
  /**
   * A batch of ten realistic 400 KB items is about 4 MB of enrichment request, under Lambda's 6 MB
   * (docs/infra.md, "The pipe's enrichment and batch size").
   */
  pipeBatchSize: 10,
  pipeParallelization: 1,
  agentIdClaim: 'sub',
  agentApiConcurrency: 10,
  iotAuthorizerConcurrency: 10,
  agentApiRateLimit: 50,
  agentApiBurstLimit: 100,
  staleDeviceDays: 30,
  /**
   * ALL without execution data: the console shows every execution and the path it took, and no
   * message text reaches the logs (README, "Logs").
   */
  workflowLogLevel: 'ALL' as WorkflowLogLevel,
  logExecutionData: false,
  answerWithinMinutes: ANSWER_WITHIN_MINUTES.default,
} as const;

/** Resource names are `<prefix>-…`; 32 characters leave room in every name built from it. */
const MAX_PREFIX_LENGTH = 32;

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

// `-c key=true` arrives as the string "true", cdk.json gives a boolean: accept both, nothing else.
const boolean = (lookup: Lookup, key: string, fallback: boolean): boolean => {
  const raw = lookup(key);
  if (raw === undefined || raw === null || raw === '') return fallback;
  if (typeof raw === 'boolean') return raw;
  const text = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
  if (text === 'true' || text === 'false') return text === 'true';
  throw new ConfigError(`context "${key}" must be true or false, got ${JSON.stringify(raw)}`);
};

const workflowLogLevel = (lookup: Lookup): WorkflowLogLevel => {
  const raw = optionalString(lookup, 'workflowLogLevel');
  if (raw === undefined) return DEFAULT_CONFIG.workflowLogLevel;
  const level = WORKFLOW_LOG_LEVELS.find((candidate) => candidate === raw.toUpperCase());
  if (level === undefined) {
    throw new ConfigError(`context "workflowLogLevel" must be one of ${WORKFLOW_LOG_LEVELS.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return level;
};

/** Validates the context values behind `lookup` (usually `node.tryGetContext`). */
export const readConfigFrom = (lookup: Lookup): ConvoNotifyConfig => {
  const prefix = optionalString(lookup, 'prefix') ?? DEFAULT_CONFIG.prefix;
  // The prefix is part of queue names (contracts/naming.ts: 80 characters at most of [A-Za-z0-9_-])
  // and of the IAM resource pattern that scopes the workflow to inbox queues.
  if (!QUEUE_NAME_PART_PATTERN.test(prefix) || prefix.length > MAX_PREFIX_LENGTH) {
    throw new ConfigError(`context "prefix" must be 1-${MAX_PREFIX_LENGTH} characters of A-Z, a-z, 0-9, "-" or "_"`);
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

  const logLevel = workflowLogLevel(lookup);
  const logExecutionData = boolean(lookup, 'logExecutionData', DEFAULT_CONFIG.logExecutionData);
  // Asking for data in logs that are switched off is a contradiction, not something to ignore.
  if (logExecutionData && logLevel === 'OFF') {
    throw new ConfigError('context "logExecutionData" is true but "workflowLogLevel" is OFF: the workflow would log nothing; choose ALL, ERROR or FATAL');
  }

  return {
    prefix,
    existingTable: table && { tableName: table.first, streamArn: table.second },
    existingDatabase: database && { clusterArn: database.first, secretArn: database.second },
    dbName,
    inboxRetentionDays: integer(lookup, 'inboxRetentionDays', DEFAULT_CONFIG.inboxRetentionDays, 1, 14),
    recipientsPageSize: integer(lookup, 'recipientsPageSize', DEFAULT_CONFIG.recipientsPageSize, 1, RECIPIENTS_PAGE_SIZE.max),
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
    workflowLogLevel: logLevel,
    logExecutionData,
    answerWithinMinutes: integer(lookup, 'answerWithinMinutes', DEFAULT_CONFIG.answerWithinMinutes, 0, ANSWER_WITHIN_MINUTES.max),
  };
};

/** Validates the context of a construct tree (the app). */
export const readConfig = (node: Node): ConvoNotifyConfig => readConfigFrom((key) => node.tryGetContext(key));
