import './runtime/promise-with-resolvers';
import '../sql/register-text-loader';
import { parseFlags, UsageError } from '../ops/cli';
import { ownerHashOf, parseClientId } from '../contracts/agent-access';
import { ANSWER_WITHIN_MINUTES } from '../contracts/escalation';
import { devTokenUrl, startDashboard, type Dashboard } from './dashboard/server';
import { listen, PortInUseError } from './emulators/listen';
import { seededDevices } from './runtime/seed';
import { startLocalStack, type LocalPorts, type LocalStack } from './runtime/stack';
import { writeLocalOutputs } from './runtime/outputs-file';

/**
 * `npm start`: the whole flow on embedded engines (local/runtime/stack.ts) and the dashboard on top of it.
 * Every port can be chosen by flag or environment variable; 0 picks a free one.
 */

export const DEFAULT_DASHBOARD_PORT = 4280;

/** Flag → [environment variable, stack port key (none for the dashboard), what it is]. */
const PORTS = {
  port: ['CONVO_PORT', undefined, 'the dashboard'],
  'mqtt-port': ['CONVO_MQTT_PORT', 'mqtt', 'MQTT over TCP'],
  'mqtt-ws-port': ['CONVO_MQTT_WS_PORT', 'mqttWs', 'MQTT over WebSocket'],
  'sqs-port': ['CONVO_SQS_PORT', 'sqs', 'the SQS endpoint'],
  'sns-port': ['CONVO_SNS_PORT', 'sns', 'the SNS endpoint'],
  'iot-data-port': ['CONVO_IOT_DATA_PORT', 'iotData', 'the IoT data endpoint'],
  'dynamodb-port': ['CONVO_DYNAMODB_PORT', 'dynamodb', 'the DynamoDB endpoint'],
  'data-api-port': ['CONVO_DATA_API_PORT', 'dataApi', 'the RDS Data API endpoint'],
  'agent-api-port': ['CONVO_AGENT_API_PORT', 'agentApi', 'the agent API'],
  'token-issuer-port': ['CONVO_TOKEN_ISSUER_PORT', 'tokenIssuer', 'the token issuer (dev sign-in)'],
  'sfn-port': ['CONVO_SFN_PORT', 'sfn', 'the Step Functions endpoint'],
  'dynamodb-streams-port': ['CONVO_DYNAMODB_STREAMS_PORT', 'dynamodbStreams', 'the DynamoDB Streams endpoint'],
  'eventbridge-port': ['CONVO_EVENTBRIDGE_PORT', 'eventBridge', 'the EventBridge endpoint'],
  'scheduler-port': ['CONVO_SCHEDULER_PORT', 'scheduler', 'the EventBridge Scheduler endpoint'],
} as const satisfies Record<string, readonly [string, keyof LocalPorts | undefined, string]>;

type PortFlag = keyof typeof PORTS;

const FLAG_WIDTH = Math.max(...Object.keys(PORTS).map((flag) => flag.length));
const ENV_WIDTH = Math.max(...Object.values(PORTS).map(([env]) => env.length));
/** The other options' column: as wide as `--<flag> <env>` of the ports. */
const OPTION_WIDTH = 2 + FLAG_WIDTH + 1 + ENV_WIDTH;

export const USAGE = [
  'Usage: npm start -- [options]',
  '',
  'Starts the local convo-notify stack (PGlite + Data API, DynamoDB with a stream, the pipe, the real',
  'workflow and task handlers, an MQTT broker behind the IoT custom authorizer, SQS/SNS/IoT endpoints,',
  'the agent API and a token issuer for dev sign-in) and the dashboard.',
  '',
  'Options (each also read from the environment variable shown; 0 = any free port):',
  ...Object.entries(PORTS).map(
    ([flag, [env, key, what]]) => `  --${flag.padEnd(FLAG_WIDTH)} ${env.padEnd(ENV_WIDTH)} ${what}${key ? '' : ` (default ${DEFAULT_DASHBOARD_PORT})`}`,
  ),
  `  ${'--answer-within-seconds N'.padEnd(OPTION_WIDTH)} an unclaimed message escalates N s after it is sent (default ${ANSWER_WITHIN_MINUTES.default * 60}, 0 = off;`,
  `  ${''.padEnd(OPTION_WIDTH)} env CONVO_ANSWER_WITHIN_SECONDS; docs/escalation.md)`,
  `  ${'--verbose'.padEnd(OPTION_WIDTH)} task Lambda logs at INFO (default WARN; LOG_LEVEL wins)`,
  `  ${'--help'.padEnd(OPTION_WIDTH)} this text`,
].join('\n');

export interface MainOptions {
  dashboardPort: number;
  ports: LocalPorts;
  verbose: boolean;
  help: boolean;
  /** The answer timer in seconds (docs/escalation.md); the stack's default when absent. */
  answerWithinSeconds?: number;
}

const parsePort = (value: string, source: string): number => {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new UsageError(`${source} must be a port number from 0 to 65535, got "${value}"`);
  return Number(value);
};

/** Flags win over environment variables, which win over the defaults. */
export const parseOptions = (argv: string[], env: NodeJS.ProcessEnv): MainOptions => {
  const { values } = parseFlags({
    args: argv,
    options: {
      ...Object.fromEntries(Object.keys(PORTS).map((flag) => [flag, { type: 'string' as const }])),
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      'answer-within-seconds': { type: 'string' },
    },
    allowPositionals: false,
  });
  const options: MainOptions = { dashboardPort: DEFAULT_DASHBOARD_PORT, ports: {}, verbose: values.verbose === true, help: values.help === true };
  for (const [flag, [envName, key]] of Object.entries(PORTS) as [PortFlag, (typeof PORTS)[PortFlag]][]) {
    const fromFlag = values[flag];
    const raw = typeof fromFlag === 'string' ? fromFlag : env[envName];
    if (raw === undefined || raw === '') continue;
    const port = parsePort(raw, typeof fromFlag === 'string' ? `--${flag}` : envName);
    if (key === undefined) options.dashboardPort = port;
    else options.ports[key] = port;
  }
  const answerFlag = values['answer-within-seconds'];
  const answerWithin = typeof answerFlag === 'string' ? answerFlag : env.CONVO_ANSWER_WITHIN_SECONDS;
  if (answerWithin !== undefined && answerWithin !== '') {
    if (!/^\d{1,6}$/.test(answerWithin)) {
      throw new UsageError(`${typeof answerFlag === 'string' ? '--answer-within-seconds' : 'CONVO_ANSWER_WITHIN_SECONDS'} must be a whole number of seconds (0 = off), got "${answerWithin}"`);
    }
    options.answerWithinSeconds = Number(answerWithin);
  }
  return options;
};

/**
 * Tries every port given explicitly before the slow start-up (PGlite takes seconds), so a busy
 * port is reported at once. Binding can still fail later (a race), and is reported the same way.
 */
export const probePorts = async (options: MainOptions): Promise<void> => {
  const wanted: [number, string][] = [[options.dashboardPort, PORTS.port[2]]];
  for (const [, key, what] of Object.values(PORTS)) if (key && options.ports[key]) wanted.push([options.ports[key]!, what]);
  for (const [port, what] of wanted) {
    if (port === 0) continue;
    const probe = await listen(() => undefined, port, what);
    await probe.close();
  }
};

const banner = (stack: LocalStack, dashboard: Dashboard, seconds: string): string => {
  const rows: [string, string][] = [
    ['Dashboard', dashboard.url],
    ['MQTT (TCP)', stack.endpoints.mqtt],
    ['MQTT (WebSocket)', stack.endpoints.mqttWs],
    ['SQS', stack.endpoints.sqs],
    ['SNS', stack.endpoints.sns],
    ['IoT data', stack.endpoints.iotData],
    ['DynamoDB', stack.endpoints.dynamodb],
    ['RDS Data API', stack.endpoints.dataApi],
    ['Agent API', stack.endpoints.agentApi],
    ['Token issuer', `${stack.endpoints.tokenIssuer} (dev sign-in: POST ${devTokenUrl(stack)})`],
    ['Step Functions', stack.endpoints.sfn],
    ['DynamoDB Streams', stack.endpoints.dynamodbStreams],
    ['EventBridge', stack.endpoints.eventBridge],
    ['Scheduler', stack.endpoints.scheduler],
  ];
  return [
    '',
    `convo-notify local stack is running (started in ${seconds} s)`,
    '',
    ...rows.map(([what, url]) => `  ${what.padEnd(18)}${url}`),
    '',
    `  CONVO_HISTORY table ${stack.config.convoHistoryTable}; tenant ${stack.config.tenantId}; agents ${stack.seed.agents.map((a) => a.agentId).join(', ')}`,
    `  Devices connect with the sign-in token through the IoT custom authorizer ${stack.config.authorizerName}; sign-ins, connections and refusals are printed below.`,
    '',
    `Open ${dashboard.url} — press Ctrl-C to stop.`,
    '',
  ].join('\n');
};

/**
 * Prints every device connection the broker let through the authorizer, and its end, naming the
 * agent (the client id's owner hash) and the seeded label when it is a seeded device. Sign-ins (the
 * token issuer) and refused connections (the broker) come through the stack's own log.
 */
export const reportDeviceConnections = (stack: LocalStack, print: (message: string) => void): void => {
  const seeded = new Map(seededDevices(stack.seed).map((d) => [d.clientId, d.label]));
  const owners = new Map(stack.seed.agents.map((a) => [ownerHashOf(a.agentId), a.agentId]));
  const describe = (clientId: string) => {
    const parsed = parseClientId(clientId);
    const agent = (parsed.ok ? owners.get(parsed.ownerHash) : undefined) ?? 'an unknown agent';
    const label = seeded.get(clientId);
    return `${agent}'s ${label ? `${label} ` : 'registered device '}(${clientId})`;
  };
  stack.broker.aedes.on('client', (client) => print(`device ${describe(client.id)} connected through the authorizer ${stack.config.authorizerName}`));
  stack.broker.aedes.on('clientDisconnect', (client) => print(`device ${describe(client.id)} disconnected`));
};

/**
 * `npm start` serves a dashboard and a dozen endpoints: one call that fails without a handler (a
 * rejected promise nobody awaited, an exception in an event callback) is logged and the process
 * keeps serving, instead of Node's default of exiting. Returns the function that removes the
 * handlers.
 */
export const keepServingOnUnhandledErrors = (
  proc: Pick<NodeJS.Process, 'on' | 'off'>,
  report: (message: string, error: unknown) => void,
): (() => void) => {
  const onRejection = (reason: unknown) => report('error: unhandled rejection (still serving):', reason);
  const onException = (error: Error) => report('error: uncaught exception (still serving):', error);
  proc.on('unhandledRejection', onRejection);
  proc.on('uncaughtException', onException);
  return () => {
    proc.off('unhandledRejection', onRejection);
    proc.off('uncaughtException', onException);
  };
};

export const main = async (argv: string[], env: NodeJS.ProcessEnv): Promise<void> => {
  keepServingOnUnhandledErrors(process, (message, error) => console.error(message, error));
  let options: MainOptions;
  try {
    options = parseOptions(argv, env);
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(USAGE);
    process.exit(0);
  }
  // The task handlers log every record at INFO; in a terminal that drowns the progress lines.
  env.LOG_LEVEL ??= options.verbose ? 'INFO' : 'WARN';

  const started = Date.now();
  const progress = (message: string) => console.log(`  · ${message}`);
  // Everything is in memory and the OS frees the ports, so an interrupted start-up can just exit.
  const interruptStartup = () => {
    console.log('\ninterrupted during start-up');
    process.exit(130);
  };
  process.on('SIGINT', interruptStartup);
  process.on('SIGTERM', interruptStartup);

  console.log('starting the convo-notify local stack');
  let stack: LocalStack | undefined;
  let dashboard: Dashboard;
  try {
    await probePorts(options);
    stack = await startLocalStack({ ports: options.ports, log: progress, answerWithinSeconds: options.answerWithinSeconds });
    dashboard = await startDashboard({ stack, port: options.dashboardPort, log: progress });
  } catch (err) {
    await stack?.stop().catch(() => undefined);
    if (err instanceof PortInUseError) {
      const flag = Object.entries(PORTS).find(([, [, key]]) => (key ? options.ports[key] : options.dashboardPort) === err.port);
      const hint = flag ? `; choose another with --${flag[0]} or ${flag[1][0]} (0 = any free port)` : '';
      console.error(`\nerror: port ${err.port} for ${flag?.[1][2] ?? 'a local endpoint'} is already in use${hint}`);
    } else {
      console.error('\nerror: the local stack could not start:', err);
    }
    process.exit(1);
  }
  process.off('SIGINT', interruptStartup);
  process.off('SIGTERM', interruptStartup);
  console.log(banner(stack, dashboard, ((Date.now() - started) / 1000).toFixed(1)));
  // Where `npm run replay` (and any tool reading stack outputs) finds this stack: its outputs and local endpoints.
  console.log(`  outputs for npm run replay: ${writeLocalOutputs(stack)}\n`);
  reportDeviceConnections(stack, progress);

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.log(`\n${signal} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = true;
    console.log(`\n${signal}: stopping`);
    // Sockets left open by a browser tab must not keep the process alive forever.
    const force = setTimeout(() => {
      console.error('error: the stack did not stop within 10 s; exiting anyway');
      process.exit(1);
    }, 10_000);
    force.unref();
    dashboard
      .close()
      .then(() => stack!.stop())
      .then(
        () => {
          console.log('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          console.error('error while stopping:', err);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
};

if (require.main === module) void main(process.argv.slice(2), process.env);
