import { httpUrlFlag, parseFlags, UsageError } from '../cli';

/** `npm run smoke -- …`: the command line, parsed and checked before anything is called. */

export const DEFAULT_STEP_TIMEOUT_MS = 30_000;
export const DEFAULT_DEVICE_LABEL = 'smoke-probe';

export const USAGE = [
  'Usage: npm run smoke -- --agent-id <id> --tenant-id <id> (--token <jwt> | --token-file <file> | --local) [options]',
  '',
  'Checks a deployment end to end with a probe agent: registers a device, connects it over MQTT',
  '(WebSocket, IoT custom authorizer), writes a probe message to CONVO_HISTORY assigned to the agent,',
  'sees it pushed and in the inbox, claims it, sees it handled, then cleans up (ack, unregister the',
  'device, delete the probe item). Each step is printed with its latency.',
  '',
  'Probe agent (must be an active row of `agents` in the recipients database, docs/smoke.md):',
  '  --agent-id <id>               the probe agent (the token\'s agent)',
  '  --tenant-id <id>              its tenant (agents.tenant_id): the probe message\'s tenantId',
  '  --token <jwt>                 its sign-in token; or --token-file <file>; or env SMOKE_TOKEN',
  '  --local                       against the local runtime: without a token, sign in at the dev issuer',
  '                                (POST <token issuer>/dev/token); local credentials for DynamoDB',
  '',
  'Where (a flag wins over the outputs file):',
  '  --outputs <file>              `cdk deploy --outputs-file` JSON, or the local runtime\'s .local/outputs.json',
  '                                (the default when it exists)',
  '  --stack <name>                which stack of the outputs file (when it holds several)',
  '  --api-url <url>               AgentApiUrl',
  '  --iot-endpoint <host|url>     the account\'s iot:Data-ATS endpoint host (aws iot describe-endpoint',
  '                                --endpoint-type iot:Data-ATS), or a ws:// URL (the local broker)',
  '  --authorizer-name <name>      IotAuthorizerName',
  '  --table <name>                ConvoHistoryTableName',
  '  --presence-table <name>       PresenceTableName (the "device online" step reads it)',
  '  --region <region>             default: the outputs file\'s, else AWS_REGION',
  '  --endpoint-dynamodb <url>     a local DynamoDB endpoint (the local outputs file has it)',
  '  --token-issuer <url>          the local dev issuer (with --local and no token)',
  '',
  'Options:',
  `  --step-timeout-ms <ms>        how long one step may take (default ${DEFAULT_STEP_TIMEOUT_MS}; Aurora resuming`,
  '                                from auto-pause can take longer than that)',
  `  --label <text>                the probe device's label (default ${DEFAULT_DEVICE_LABEL})`,
  '  --json                        print the report as JSON as well',
  '  --help                        this text',
  '',
  'Exit code: 0 when every step passed, 1 when a step failed (the cleanup still ran), 2 for a usage error.',
].join('\n');

export interface SmokeArgs {
  help: boolean;
  json: boolean;
  local: boolean;
  agentId?: string;
  tenantId?: string;
  token?: string;
  tokenFile?: string;
  outputsFile?: string;
  stack?: string;
  apiUrl?: string;
  iotEndpoint?: string;
  authorizerName?: string;
  table?: string;
  presenceTable?: string;
  region?: string;
  dynamodbEndpoint?: string;
  tokenIssuer?: string;
  stepTimeoutMs: number;
  label: string;
}

const STRING_FLAGS = [
  'agent-id',
  'tenant-id',
  'token',
  'token-file',
  'outputs',
  'stack',
  'api-url',
  'iot-endpoint',
  'authorizer-name',
  'table',
  'presence-table',
  'region',
  'endpoint-dynamodb',
  'token-issuer',
  'step-timeout-ms',
  'label',
] as const;

const URL_FLAGS = ['api-url', 'endpoint-dynamodb', 'token-issuer'] as const;

export const parseSmokeArgs = (argv: readonly string[]): SmokeArgs => {
  const { values } = parseFlags({
    args: [...argv],
    allowPositionals: false,
    options: {
      ...Object.fromEntries(STRING_FLAGS.map((name) => [name, { type: 'string' as const }])),
      local: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  const str = (name: (typeof STRING_FLAGS)[number]): string | undefined => {
    const value = values[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} must not be empty`);
    return value;
  };
  for (const name of URL_FLAGS) httpUrlFlag(name, str(name));
  const help = values.help === true;
  const timeoutText = str('step-timeout-ms');
  const stepTimeoutMs = timeoutText === undefined ? DEFAULT_STEP_TIMEOUT_MS : Number(timeoutText);
  if (!Number.isInteger(stepTimeoutMs) || stepTimeoutMs < 100 || stepTimeoutMs > 600_000) {
    throw new UsageError(`--step-timeout-ms must be a whole number of milliseconds from 100 to 600000, got "${timeoutText}"`);
  }
  const args: SmokeArgs = {
    help,
    json: values.json === true,
    local: values.local === true,
    agentId: str('agent-id'),
    tenantId: str('tenant-id'),
    token: str('token'),
    tokenFile: str('token-file'),
    outputsFile: str('outputs'),
    stack: str('stack'),
    apiUrl: str('api-url'),
    iotEndpoint: str('iot-endpoint'),
    authorizerName: str('authorizer-name'),
    table: str('table'),
    presenceTable: str('presence-table'),
    region: str('region'),
    dynamodbEndpoint: str('endpoint-dynamodb'),
    tokenIssuer: str('token-issuer'),
    stepTimeoutMs,
    label: str('label') ?? DEFAULT_DEVICE_LABEL,
  };
  if (help) return args;
  if (args.agentId === undefined) throw new UsageError('--agent-id is required: the probe agent');
  if (args.tenantId === undefined) throw new UsageError('--tenant-id is required: the probe agent\'s tenant');
  if (args.token !== undefined && args.tokenFile !== undefined) throw new UsageError('give --token or --token-file, not both');
  return args;
};
