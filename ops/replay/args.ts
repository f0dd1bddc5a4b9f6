import { httpUrlFlag, parseFlags, UsageError } from '../cli';

/** `npm run replay -- …`: the command line, parsed and checked before anything is read or run. */

export const USAGE = [
  'Usage: npm run replay -- <source> [options]',
  '',
  'Re-runs the notification workflow (StartSyncExecution on the Express state machine).',
  '',
  'Sources (one or more):',
  '  --message <conversationId>/<messageId>  the item from CONVO_HISTORY (created; handled too when answered); repeatable.',
  '                                          The first "/" separates the two ids.',
  '  --dlq                                   every pipe DLQ entry: its range from the stream, else from the table;',
  '                                          each DLQ message is deleted after its replay succeeded',
  '  --quarantine                            every quarantined record, read again from the table by its keys (after',
  '                                          the item was fixed); each message is deleted after its replay succeeded',
  '',
  'Where (a flag wins over the outputs file):',
  '  --outputs <file>              `cdk deploy --outputs-file` JSON, or the local runtime\'s .local/outputs.json',
  '                                (the default when it exists and no --state-machine-arn is given)',
  '  --stack <name>                which stack of the outputs file (when it holds several)',
  '  --state-machine-arn <arn>     StateMachineArn',
  '  --table <name>                ConvoHistoryTableName',
  '  --dlq-url <url>               PipeDeadLetterQueueUrl',
  '  --quarantine-url <url>        QuarantineQueueUrl',
  '  --region <region>             default: the state machine ARN\'s region',
  '  --endpoint-sfn / --endpoint-dynamodb / --endpoint-dynamodb-streams / --endpoint-sqs <url>',
  '                                local endpoints (the local outputs file has them)',
  '',
  'Options:',
  '  --dry-run                     print what would run; start nothing, delete nothing',
  '  --json                        print the summary as JSON as well',
  '  --help                        this text',
  '',
  'Exit code: 0 when nothing failed, 1 when an item failed, 2 for a usage error.',
].join('\n');

export interface ReplayArgs {
  messages: { conversationId: string; messageId: string }[];
  dlq: boolean;
  quarantine: boolean;
  dryRun: boolean;
  json: boolean;
  help: boolean;
  outputsFile?: string;
  stack?: string;
  stateMachineArn?: string;
  table?: string;
  dlqUrl?: string;
  quarantineUrl?: string;
  region?: string;
  endpoints: { sfn?: string; dynamodb?: string; dynamodbStreams?: string; sqs?: string };
}

const STRING_FLAGS = [
  'message',
  'outputs',
  'stack',
  'state-machine-arn',
  'table',
  'dlq-url',
  'quarantine-url',
  'region',
  'endpoint-sfn',
  'endpoint-dynamodb',
  'endpoint-dynamodb-streams',
  'endpoint-sqs',
] as const;

const parseMessage = (value: string): { conversationId: string; messageId: string } => {
  const slash = value.indexOf('/');
  if (slash <= 0 || slash === value.length - 1) {
    throw new UsageError(`--message must be <conversationId>/<messageId>, got "${value}"`);
  }
  return { conversationId: value.slice(0, slash), messageId: value.slice(slash + 1) };
};

export const parseReplayArgs = (argv: readonly string[]): ReplayArgs => {
  const { values, positionals } = parseFlags({
    args: [...argv],
    options: {
      ...Object.fromEntries(STRING_FLAGS.map((flag) => [flag, { type: 'string' as const, multiple: flag === 'message' }])),
      dlq: { type: 'boolean' },
      quarantine: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const text = (flag: (typeof STRING_FLAGS)[number]) => {
    const value = values[flag];
    if (value === '') throw new UsageError(`--${flag} needs a value`);
    return typeof value === 'string' ? value : undefined;
  };
  const args: ReplayArgs = {
    messages: ((values.message as string[] | undefined) ?? []).map(parseMessage),
    dlq: values.dlq === true,
    quarantine: values.quarantine === true,
    dryRun: values['dry-run'] === true,
    json: values.json === true,
    help: values.help === true,
    outputsFile: text('outputs'),
    stack: text('stack'),
    stateMachineArn: text('state-machine-arn'),
    table: text('table'),
    dlqUrl: httpUrlFlag('dlq-url', text('dlq-url')),
    quarantineUrl: httpUrlFlag('quarantine-url', text('quarantine-url')),
    region: text('region'),
    endpoints: {
      sfn: httpUrlFlag('endpoint-sfn', text('endpoint-sfn')),
      dynamodb: httpUrlFlag('endpoint-dynamodb', text('endpoint-dynamodb')),
      dynamodbStreams: httpUrlFlag('endpoint-dynamodb-streams', text('endpoint-dynamodb-streams')),
      sqs: httpUrlFlag('endpoint-sqs', text('endpoint-sqs')),
    },
  };
  if (args.stateMachineArn !== undefined && !/^arn:[^:]+:states:[^:]+:\d{12}:stateMachine:.+$/.test(args.stateMachineArn)) {
    throw new UsageError(`--state-machine-arn must be a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>), got "${args.stateMachineArn}"`);
  }
  if (!args.help && args.messages.length === 0 && !args.dlq && !args.quarantine) {
    throw new UsageError('say what to replay: --message <conversationId>/<messageId>, --dlq or --quarantine');
  }
  return args;
};
