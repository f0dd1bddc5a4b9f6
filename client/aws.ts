import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { AgentClient, type AgentClientOptions } from './agent-client';
import { claimMessage } from './claim';
import type { InboxState } from './fold';
import { Inbox, type InboxOptions } from './inbox';
import { SnapshotStorage } from './store';

/**
 * Direct AWS access, for trusted server-side consumers only (the package's `aws` entry): the
 * device's SQS inbox and the claim on CONVO_HISTORY with the consumer's own IAM credentials, and
 * SigV4-signed IoT WebSocket URLs. Needs `@aws-sdk/client-sqs`, `@aws-sdk/client-dynamodb`,
 * `@smithy/signature-v4`, `@smithy/protocol-http` and `@aws-crypto/sha256-js`. IAM the caller
 * needs: `sqs:ReceiveMessage`, `sqs:DeleteMessage` (and `sqs:GetQueueUrl` with a queue name) on
 * the inbox queue; `dynamodb:UpdateItem` on CONVO_HISTORY for claims; `iot:Connect`,
 * `iot:Subscribe`, `iot:Receive` on the device's client id and topic for MQTT. Browsers use the
 * main entry (the agent API) and never hold AWS credentials.
 */
export { awsIotUrlProvider, createAwsIotWebSocketUrl, IOT_SIGNING_SERVICE, IOT_WEBSOCKET_PATH, type AwsCredentials, type AwsCredentialsProvider, type AwsIotUrlOptions } from './aws-iot-url';
export { claimMessage, claimUpdateInput, type ClaimOptions } from './claim';
export { ClaimFailedError, InvalidClaimInputError, IotUrlSigningError, MessageNotFoundError } from './errors';
export { Inbox, MAX_MESSAGES_PER_RECEIVE, type InboxOptions } from './inbox';

export interface DirectAgentClientOptions extends Omit<AgentClientOptions, 'inbox' | 'claim' | 'store'> {
  /** The device's SQS inbox, read and deleted with the caller's IAM credentials. */
  inbox?: InboxOptions;
  /** Claims as a conditional UpdateItem on CONVO_HISTORY with the caller's IAM credentials. */
  claim?: { dynamodb: DynamoDBClient; tableName: string; now?: () => Date };
  /** A state to start from (kept in memory). */
  initialState?: InboxState;
}

/** An `AgentClient` on SQS and DynamoDB directly, state in memory (seeded with `initialState`). */
export class DirectAgentClient extends AgentClient {
  constructor(options: DirectAgentClientOptions) {
    const { inbox, claim, initialState, ...rest } = options;
    const scope = { agentId: options.agentId, clientId: options.clientId };
    const storage = new SnapshotStorage({
      devices: {},
      entries: initialState ? { [JSON.stringify([scope.agentId, scope.clientId])]: Object.fromEntries(Object.values(initialState.messages).map((e) => [e.key, { entry: e, expiresAt: Number.MAX_SAFE_INTEGER }])) } : {},
    });
    super({
      ...rest,
      ...(inbox ? { inbox: new Inbox(inbox) } : {}),
      ...(claim ? { claim: (input) => claimMessage({ ...claim, agentId: options.agentId }, input) } : {}),
      store: storage.open(scope),
    });
  }
}
