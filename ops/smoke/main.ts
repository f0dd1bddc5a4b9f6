import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { existsSync, readFileSync } from 'node:fs';
import { AgentApi } from '../../client/api';
import { TokenSource } from '../../client/token';
import { LOCAL_CREDENTIALS, STACK_OUTPUT_KEYS, type LocalEndpoints } from '../../contracts/stack-outputs';
import { LOCAL_OUTPUTS_FILE, OutputsError, readOutputsFile, requireOutput, resolveLocations, type Locations } from '../outputs';
import { UsageError } from '../cli';
import { parseSmokeArgs, USAGE, type SmokeArgs } from './args';
import { formatStep, formatSummary, runSmoke, type SmokeTarget } from './smoke';

/**
 * `npm run smoke`: arguments → locations (outputs file and flags) → the probe's token → the steps,
 * printed as they end, and a summary. Exit code 0 when every step passed, 1 when one failed, 2 for
 * a usage error (bad arguments, a missing location or token).
 */

export interface SmokeIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Environment (SMOKE_TOKEN, AWS_REGION); default process.env. */
  env?: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

/** Lifetime asked of the dev issuer: the whole run with room to spare (well above the issuer's MIN_DEV_TOKEN_LIFETIME_SECONDS). */
const DEV_TOKEN_LIFETIME_SECONDS = 3600;

export interface Resolved {
  target: SmokeTarget;
  apiUrl: string;
  region: string;
  dynamodbEndpoint?: string;
  tokenIssuer?: string;
  token?: string;
}

const need = (value: string | undefined, what: string, flag: string): string => {
  if (value === undefined) throw new UsageError(`no ${what}: pass --outputs <cdk outputs file> or ${flag}`);
  return value;
};

/** The `endpoints` key of the local outputs file that names the dev issuer. */
const TOKEN_ISSUER_ENDPOINT: keyof LocalEndpoints = 'tokenIssuer';

/** Where the smoke goes and as whom: the outputs file (read by ops/outputs.ts) with the flags over it, and the token. */
export const resolveSmoke = (args: SmokeArgs, env: Record<string, string | undefined>): Resolved => {
  // Without --outputs, the local runtime's file is used when there is one and no --api-url names a deployment.
  const file = args.outputsFile ?? (args.apiUrl === undefined && existsSync(LOCAL_OUTPUTS_FILE) ? LOCAL_OUTPUTS_FILE : undefined);
  const locations: Locations = resolveLocations(file === undefined ? undefined : readOutputsFile(file, args.stack), {
    outputs: {
      convoHistoryTableName: args.table,
      agentApiUrl: args.apiUrl,
      iotAuthorizerName: args.authorizerName,
      presenceTableName: args.presenceTable,
    },
    endpoints: { dynamodb: args.dynamodbEndpoint, mqttWs: args.iotEndpoint, tokenIssuer: args.tokenIssuer },
    region: args.region,
  });
  const { outputs, endpoints } = locations;

  let token = args.token ?? env.SMOKE_TOKEN;
  if (args.tokenFile !== undefined) {
    try {
      token = readFileSync(args.tokenFile, 'utf8').trim();
    } catch (error) {
      throw new UsageError(`cannot read --token-file ${args.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const { tokenIssuer } = endpoints;
  if (token === undefined && !args.local) throw new UsageError('no sign-in token: pass --token <jwt>, --token-file <file> or env SMOKE_TOKEN (or --local for the dev issuer)');
  if (token === undefined && tokenIssuer === undefined) throw new UsageError(`--local without a token needs the dev issuer: --token-issuer <url> or the outputs file's endpoints.${TOKEN_ISSUER_ENDPOINT}`);

  const region = locations.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  return {
    apiUrl: need(outputs.agentApiUrl ?? endpoints.agentApi, STACK_OUTPUT_KEYS.agentApiUrl, '--api-url'),
    region: need(region, 'region', '--region (or AWS_REGION)'),
    ...(endpoints.dynamodb !== undefined && { dynamodbEndpoint: endpoints.dynamodb }),
    ...(tokenIssuer !== undefined && { tokenIssuer }),
    ...(token !== undefined && { token }),
    target: {
      agentId: args.agentId!,
      tenantId: args.tenantId!,
      convoHistoryTable: requireOutput(locations, 'convoHistoryTableName', '--table'),
      ...(outputs.presenceTableName !== undefined && { presenceTable: outputs.presenceTableName }),
      iotEndpoint: need(endpoints.mqttWs, 'IoT endpoint (the account\'s iot:Data-ATS endpoint)', '--iot-endpoint'),
      authorizerName: requireOutput(locations, 'iotAuthorizerName', '--authorizer-name'),
      deviceLabel: args.label,
    },
  };
};

export class DevSignInError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DevSignInError';
  }
}

/** The dev issuer's sign-in (local runtime only): `POST <issuer>/dev/token`. */
const devSignIn = async (fetchFn: typeof fetch, issuer: string, agentId: string): Promise<{ token: string; expiresAt: string }> => {
  const url = `${issuer.replace(/\/+$/, '')}/dev/token`;
  let response: Response;
  try {
    response = await fetchFn(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agentId, lifetimeSeconds: DEV_TOKEN_LIFETIME_SECONDS }),
    });
  } catch (error) {
    throw new DevSignInError(`POST ${url}: no answer (${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message})`);
  }
  const text = await response.text();
  let body: { token?: unknown; expiresAt?: unknown; error?: unknown; message?: unknown } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // An answer that is not JSON is reported by its status below.
  }
  if (!response.ok) throw new DevSignInError(`POST ${url}: ${response.status} ${typeof body.error === 'string' ? `${body.error}: ${String(body.message)}` : text.slice(0, 200)}`);
  if (typeof body.token !== 'string') throw new DevSignInError(`POST ${url}: the answer has no token`);
  return { token: body.token, expiresAt: String(body.expiresAt) };
};

export const main = async (argv: readonly string[], io: SmokeIo): Promise<number> => {
  const env = io.env ?? process.env;
  let args: SmokeArgs;
  let resolved: Resolved;
  try {
    args = parseSmokeArgs(argv);
    if (args.help) {
      io.out(USAGE);
      return 0;
    }
    resolved = resolveSmoke(args, env);
  } catch (error) {
    if (error instanceof UsageError || error instanceof OutputsError) {
      io.err(`error: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }

  const fetchFn = io.fetch ?? globalThis.fetch;
  let token = resolved.token;
  const tokens = new TokenSource({
    getToken: async () => {
      if (token === undefined) throw new Error('not signed in');
      return token;
    },
  });
  const local = args.local || resolved.dynamodbEndpoint !== undefined;
  const dynamodb = new DynamoDBClient({
    region: resolved.region,
    ...(resolved.dynamodbEndpoint !== undefined && { endpoint: resolved.dynamodbEndpoint }),
    ...(local && { credentials: LOCAL_CREDENTIALS }),
  });
  const api = new AgentApi({ baseUrl: resolved.apiUrl, tokens, fetch: fetchFn });
  const { target } = resolved;

  io.out(`smoke of ${resolved.apiUrl} (table ${target.convoHistoryTable}, IoT ${target.iotEndpoint}, region ${resolved.region})`);
  io.out(`probe agent ${target.agentId} of tenant ${target.tenantId}`);
  try {
    const report = await runSmoke(target, { api, tokens, dynamodb }, {
      stepTimeoutMs: args.stepTimeoutMs,
      onStep: (step) => io.out(formatStep(step)),
      ...(token === undefined && {
        signIn: async () => {
          const signedIn = await devSignIn(fetchFn, resolved.tokenIssuer!, target.agentId);
          token = signedIn.token;
          return `dev issuer ${resolved.tokenIssuer}: token for ${target.agentId} until ${signedIn.expiresAt}`;
        },
      }),
    });
    io.out(formatSummary(report));
    if (args.json) io.out(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  } finally {
    dynamodb.destroy();
  }
};
