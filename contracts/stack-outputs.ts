import { z } from 'zod';

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
export const LocalEndpointsSchema = z
  .object({
    sfn: z.string().url(),
    dynamodb: z.string().url(),
    dynamodbStreams: z.string().url(),
    sqs: z.string().url(),
    agentApi: z.string().url(),
    /** The broker's MQTT-over-WebSocket URL (on AWS: the account's iot:Data-ATS endpoint, not a stack output). */
    mqttWs: z.string().url(),
    /** The dev token issuer (sign-in of seeded agents). */
    tokenIssuer: z.string().url(),
  })
  .partial();

export type LocalEndpoints = z.infer<typeof LocalEndpointsSchema>;

/** Local endpoints check no credentials, but the SDK signs every request; AWS uses the default provider chain. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
