import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { existsSync } from 'node:fs';
import { LOCAL_OUTPUTS_FILE, OutputsError, readOutputsFile, requireOutput, resolveLocations, type Locations } from '../outputs';
import { LOCAL_CREDENTIALS } from '../../contracts/stack-outputs';
import { UsageError } from '../cli';
import { parseReplayArgs, USAGE, type ReplayArgs } from './args';
import { formatItem, formatSummary, replayDlq, replayMessage, replayQuarantine, summarize, type ItemReport, type ReplayClients, type ReplayContext } from './replay';

/**
 * `npm run replay`: arguments → locations (outputs file and flags) → the replay library → one line
 * block per item and a summary. Exit code 0 when nothing failed, 1 when an item failed, 2 for a
 * usage error (bad arguments, or a location that is missing).
 */

export interface ReplayIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** SDK clients for the locations; an endpoint given means a local one (no `sync-` host prefix there). */
export const clientsFor = (locations: Locations): ReplayClients => {
  const { endpoints, region } = locations;
  const local = Object.values(endpoints).some((e) => e !== undefined);
  const common = { ...(region !== undefined && { region }), ...(local && { credentials: LOCAL_CREDENTIALS }) };
  return {
    sfn: new SFNClient({ ...common, ...(endpoints.sfn !== undefined && { endpoint: endpoints.sfn, disableHostPrefix: true }) }),
    dynamodb: new DynamoDBClient({ ...common, ...(endpoints.dynamodb !== undefined && { endpoint: endpoints.dynamodb }) }),
    streams: new DynamoDBStreamsClient({ ...common, ...(endpoints.dynamodbStreams !== undefined && { endpoint: endpoints.dynamodbStreams }) }),
    sqs: new SQSClient({ ...common, ...(endpoints.sqs !== undefined && { endpoint: endpoints.sqs }) }),
  };
};

const locationsOf = (args: ReplayArgs): Locations => {
  // Without --outputs or --state-machine-arn, the local runtime's file is used when there is one
  // (`npm start` writes it); flags naming a deployment never pick up its local endpoints.
  const local = args.stateMachineArn === undefined && existsSync(LOCAL_OUTPUTS_FILE) ? LOCAL_OUTPUTS_FILE : undefined;
  const file = args.outputsFile ?? local;
  return resolveLocations(file === undefined ? undefined : readOutputsFile(file, args.stack), {
    outputs: {
      stateMachineArn: args.stateMachineArn,
      convoHistoryTableName: args.table,
      pipeDlqUrl: args.dlqUrl,
      quarantineQueueUrl: args.quarantineUrl,
    },
    endpoints: args.endpoints,
    region: args.region,
  });
};

export const main = async (argv: readonly string[], io: ReplayIo): Promise<number> => {
  let args: ReplayArgs;
  let locations: Locations;
  let needed: { stateMachineArn: string; table: string; dlqUrl?: string; quarantineUrl?: string };
  try {
    args = parseReplayArgs(argv);
    if (args.help) {
      io.out(USAGE);
      return 0;
    }
    locations = locationsOf(args);
    needed = {
      stateMachineArn: requireOutput(locations, 'stateMachineArn', '--state-machine-arn'),
      table: requireOutput(locations, 'convoHistoryTableName', '--table'),
      ...(args.dlq && { dlqUrl: requireOutput(locations, 'pipeDlqUrl', '--dlq-url') }),
      ...(args.quarantine && { quarantineUrl: requireOutput(locations, 'quarantineQueueUrl', '--quarantine-url') }),
    };
    if (locations.region === undefined) throw new UsageError('no region: pass --region (or a state machine ARN, which names it)');
  } catch (error) {
    if (error instanceof UsageError || error instanceof OutputsError) {
      io.err(`error: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }

  const clients = clientsFor(locations);
  const ctx: ReplayContext = {
    clients,
    stateMachineArn: needed.stateMachineArn,
    convoHistoryTable: needed.table,
    dryRun: args.dryRun,
    log: (line) => io.out(line),
  };
  io.out(`replay${args.dryRun ? ' (dry run)' : ''} on ${needed.stateMachineArn}${locations.endpoints.sfn ? ` at ${locations.endpoints.sfn}` : ''}`);
  const items: ItemReport[] = [];
  try {
    for (const { conversationId, messageId } of args.messages) {
      const report = await replayMessage(ctx, conversationId, messageId);
      io.out(formatItem(report));
      items.push(report);
    }
    if (needed.dlqUrl) items.push(...(await collect('pipe DLQ', needed.dlqUrl, () => replayDlq(ctx, needed.dlqUrl!), io)));
    if (needed.quarantineUrl) items.push(...(await collect('quarantine queue', needed.quarantineUrl, () => replayQuarantine(ctx, needed.quarantineUrl!), io)));
  } finally {
    for (const client of Object.values(clients)) client.destroy();
  }
  const summary = summarize(items);
  io.out(formatSummary(summary, args.dryRun));
  if (args.json) io.out(JSON.stringify(summary, null, 2));
  return summary.failed > 0 ? 1 : 0;
};

/** A queue that cannot be read is one failed item, not a crash: the other sources still run. */
const collect = async (what: string, queueUrl: string, run: () => Promise<ItemReport[]>, io: ReplayIo): Promise<ItemReport[]> => {
  try {
    const reports = await run();
    if (reports.length === 0) io.out(`${what} ${queueUrl}: empty`);
    return reports;
  } catch (error) {
    const report: ItemReport = {
      source: what === 'pipe DLQ' ? 'dlq' : 'quarantine',
      id: queueUrl,
      readFrom: queueUrl,
      records: 0,
      entries: [],
      outcome: 'failed',
      reason: `could not read the ${what}: ${(error as Error).name}: ${(error as Error).message}`,
      executionArns: [],
    };
    io.out(formatItem(report));
    return [report];
  }
};
