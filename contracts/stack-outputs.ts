/**
 * The CloudFormation output ids of the stack that the operations tools read (`npm run replay`,
 * `npm run smoke`): the CDK stack declares its CfnOutputs under these ids, the tools read a
 * `cdk deploy --outputs-file` JSON by them, and the local runtime writes its own outputs file with
 * the same keys, so the three cannot disagree.
 */
export const STACK_OUTPUT_KEYS = {
  stateMachineArn: 'StateMachineArn',
  convoHistoryTableName: 'ConvoHistoryTableName',
  convoHistoryStreamArn: 'ConvoHistoryStreamArn',
  pipeDlqUrl: 'PipeDeadLetterQueueUrl',
  quarantineQueueUrl: 'QuarantineQueueUrl',
  agentApiUrl: 'AgentApiUrl',
  iotAuthorizerName: 'IotAuthorizerName',
  presenceTableName: 'PresenceTableName',
} as const;

export type StackOutputName = keyof typeof STACK_OUTPUT_KEYS;

/**
 * The local endpoints a tool needs against the local runtime; the local outputs file has them in
 * its `endpoints` section. On AWS there is none: the SDK's default endpoints apply.
 */
export interface LocalEndpoints {
  sfn?: string;
  dynamodb?: string;
  dynamodbStreams?: string;
  sqs?: string;
  agentApi?: string;
  /** The broker's MQTT-over-WebSocket URL (on AWS: the account's iot:Data-ATS endpoint, not a stack output). */
  mqttWs?: string;
  /** The dev token issuer (sign-in of seeded agents). */
  tokenIssuer?: string;
}
