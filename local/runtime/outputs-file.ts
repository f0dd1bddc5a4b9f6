import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { localOutputsDocument, LOCAL_OUTPUTS_FILE } from '../../ops/outputs';
import type { LocalStack } from './stack';

/** The stack name the local outputs file files its outputs under (a `cdk deploy --outputs-file` holds one per stack). */
export const LOCAL_STACK_NAME = 'ConvoNotifyLocal';

/**
 * What `npm start` writes where the operations tools look (`npm run replay` reads it by default):
 * the deployed stack's output keys with the local values, the region, and the local endpoints.
 */
export const localOutputsOf = (stack: LocalStack): Record<string, unknown> =>
  localOutputsDocument(
    LOCAL_STACK_NAME,
    {
      stateMachineArn: stack.config.stateMachineArn,
      convoHistoryTableName: stack.config.convoHistoryTable,
      convoHistoryStreamArn: stack.config.convoHistoryStreamArn,
      pipeDlqUrl: stack.config.pipeDlqUrl,
      quarantineQueueUrl: stack.config.quarantineQueueUrl,
      agentApiUrl: stack.endpoints.agentApi,
      iotAuthorizerName: stack.config.authorizerName,
      presenceTableName: stack.config.presenceTable,
    },
    stack.config.region,
    {
      sfn: stack.endpoints.sfn,
      dynamodb: stack.endpoints.dynamodb,
      dynamodbStreams: stack.endpoints.dynamodbStreams,
      sqs: stack.endpoints.sqs,
      agentApi: stack.endpoints.agentApi,
      mqttWs: stack.endpoints.mqttWs,
      tokenIssuer: stack.endpoints.tokenIssuer,
    },
  );

/** Writes the local outputs file; returns its path. */
export const writeLocalOutputs = (stack: LocalStack, path = LOCAL_OUTPUTS_FILE): string => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(localOutputsOf(stack), null, 2)}\n`);
  return path;
};
