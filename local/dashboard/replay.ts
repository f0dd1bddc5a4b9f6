import { SFNClient } from '@aws-sdk/client-sfn';
import { startSync } from '../../ops/replay/replay';
import { LOCAL_REPLAY_OF_HEADER } from '../emulators/sfn';
import { LOCAL_CREDENTIALS, type LocalStack } from '../runtime/stack';
import type { ExecutionRecord } from '../runtime/workflow-runner';

/**
 * The dashboard's Replay button: the execution's input run again through the same path as
 * `npm run replay` — the replay library's StartSyncExecution against the local Step Functions
 * endpoint. A local-only header names the execution it replays, so the new execution carries
 * `replayOf` from its start (the execution events the dashboard streams included).
 */

export class ReplayFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayFailedError';
  }
}

export const replayExecution = async (stack: LocalStack, original: ExecutionRecord): Promise<ExecutionRecord> => {
  const sfn = new SFNClient({ endpoint: stack.endpoints.sfn, region: stack.config.region, credentials: LOCAL_CREDENTIALS, disableHostPrefix: true, maxAttempts: 1 });
  sfn.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers[LOCAL_REPLAY_OF_HEADER] = original.name;
      return next(args);
    },
    { step: 'build', name: 'convoNotifyReplayOf' },
  );
  try {
    const out = await startSync(sfn, stack.config.stateMachineArn, original.input);
    const replay = stack.runner.executions().find((r) => r.executionArn === out.executionArn);
    if (!replay) throw new ReplayFailedError(`the Step Functions endpoint answered ${out.executionArn ?? 'no execution'}, which the runner does not know`);
    return replay;
  } finally {
    sfn.destroy();
  }
};
