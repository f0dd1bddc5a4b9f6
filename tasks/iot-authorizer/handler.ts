import type { IoTCustomAuthorizerEvent } from 'aws-lambda';
import { z } from 'zod';
import { pushTopicOf } from '../../contracts/push-topic';
import {
  IOT_SESSION_MAX_SECONDS,
  IOT_SESSION_MIN_SECONDS,
  IOT_TOKEN_QUERY_PARAMETER,
  iotPrincipalIdOf,
  isClientIdOf,
  parseClientId,
} from '../../contracts/agent-access';
import { InvalidAgentTokenError, createAgentTokenVerifier, tokenShapeProblem } from '../shared/agent-token';
import { readEnv } from '../shared/env';
import { AUTHORIZER_DECISION_REASONS, type AuthorizerDecisionReason } from '../shared/metrics';
import { METRIC_NAMES, MetricUnit, observability } from '../shared/observability';

/**
 * The AWS IoT custom authorizer of AgentCRM devices (docs/access.md), with token signing disabled:
 * browsers open `wss://<endpoint>/mqtt?x-amz-customauthorizer-name=<name>&token=<JWT>` and AWS IoT
 * hands the query string over as `protocolData.http.queryString`.
 *
 * It decides without a database round trip (AWS IoT gives it 5 s; a paused Aurora takes longer to
 * resume): the JWT is verified against the issuer's cached JWKS, and the MQTT client id must be one
 * the register route issued to the token's agent, which its owner hash tells. The policy allows
 * only connecting as that client id and subscribing to / receiving from `notify/<clientId>`, until
 * the token expires. Junk (no token, no client id, a client id that is not an issued one, a token
 * that is not a JWS) is refused before any crypto or key fetch. Every denial is logged with its
 * reason and the connection id, never with the token.
 */

const env = readEnv({
  TOKEN_ISSUER: z.url(),
  TOKEN_AUDIENCE: z.string().min(1),
  JWKS_URI: z.url(),
  AGENT_ID_CLAIM: z.string().min(1).default('sub'),
  /** `arn:<partition>:iot:<region>:<account>`: the resources of the policy are under it. */
  IOT_ARN_PREFIX: z.string().regex(/^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}$/, 'must be arn:<partition>:iot:<region>:<account>'),
});

const { logger, metrics, instrument } = observability('iot-authorizer');
const verifyToken = createAgentTokenVerifier({
  issuer: env.TOKEN_ISSUER,
  audience: env.TOKEN_AUDIENCE,
  jwksUri: env.JWKS_URI,
  agentIdClaim: env.AGENT_ID_CLAIM,
});

interface PolicyStatement {
  Effect: 'Allow';
  Action: string;
  Resource: string;
}

export interface IoTAuthorizerResponse {
  isAuthenticated: boolean;
  principalId: string;
  policyDocuments: { Version: '2012-10-17'; Statement: PolicyStatement[] }[];
  disconnectAfterInSeconds: number;
  refreshAfterInSeconds: number;
}

/** What a denied connection gets: not authenticated, no policy. */
const DENIED: IoTAuthorizerResponse = {
  isAuthenticated: false,
  principalId: 'denied',
  policyDocuments: [],
  disconnectAfterInSeconds: IOT_SESSION_MIN_SECONDS,
  refreshAfterInSeconds: IOT_SESSION_MIN_SECONDS,
};

/** The policy of one device: connect as itself, read its own notify/ topic, nothing else. */
export const devicePolicy = (iotArnPrefix: string, clientId: string): IoTAuthorizerResponse['policyDocuments'][number] => ({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${iotArnPrefix}:client/${clientId}` },
    { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${iotArnPrefix}:topicfilter/${pushTopicOf(clientId)}` },
    { Effect: 'Allow', Action: 'iot:Receive', Resource: `${iotArnPrefix}:topic/${pushTopicOf(clientId)}` },
  ],
});

const countDecision = (decision: 'allowed' | 'denied', reason: AuthorizerDecisionReason): void => {
  metrics.addDimensions({ decision, reason });
  metrics.addMetric(METRIC_NAMES.authorizerDecisions, MetricUnit.Count, 1);
};

const queryParameters = (event: IoTCustomAuthorizerEvent): URLSearchParams => {
  const raw = event.protocolData?.http?.queryString ?? '';
  return new URLSearchParams(raw.startsWith('?') ? raw.slice(1) : raw);
};

// The event carries the agent's token: it is never logged, whatever the execution-data setting.
export const handler = instrument(async (event: IoTCustomAuthorizerEvent): Promise<IoTAuthorizerResponse> => {
  const connectionId = event?.connectionMetadata?.id;
  const deny = (reasonClass: AuthorizerDecisionReason, reason: string, fields: Record<string, unknown> = {}): IoTAuthorizerResponse => {
    logger.warn('connection denied', { reason, reasonClass, connectionId, ...fields });
    countDecision('denied', reasonClass);
    return DENIED;
  };

  const parameters = queryParameters(event);
  const token = parameters.get(IOT_TOKEN_QUERY_PARAMETER) ?? undefined;
  const clientId = event?.protocolData?.mqtt?.clientId;

  const shape = tokenShapeProblem(token);
  if (shape !== undefined) return deny(AUTHORIZER_DECISION_REASONS.malformedToken, shape);
  const parsedClientId = parseClientId(clientId);
  if (!parsedClientId.ok) return deny(AUTHORIZER_DECISION_REASONS.malformedClientId, parsedClientId.problem, { clientIdLength: typeof clientId === 'string' ? clientId.length : undefined });
  const device = clientId!;

  let agentId: string;
  let expiresAt: number;
  try {
    ({ agentId, expiresAt } = await verifyToken(token));
  } catch (error) {
    if (error instanceof InvalidAgentTokenError) return deny(AUTHORIZER_DECISION_REASONS.invalidToken, error.message, { clientId: device });
    logger.error('token verification failed', { connectionId, clientId: device, error });
    countDecision('denied', AUTHORIZER_DECISION_REASONS.verificationFailed);
    return DENIED;
  }

  const remaining = expiresAt - Math.floor(Date.now() / 1000);
  if (remaining < IOT_SESSION_MIN_SECONDS) {
    return deny(AUTHORIZER_DECISION_REASONS.tokenExpiring, `token expires in ${remaining} s, less than ${IOT_SESSION_MIN_SECONDS} s: refresh it before connecting`, { clientId: device, agentId });
  }
  if (!isClientIdOf(device, agentId)) return deny(AUTHORIZER_DECISION_REASONS.clientIdOfOtherAgent, 'client id was not issued to this agent', { clientId: device, agentId });

  const session = Math.min(remaining, IOT_SESSION_MAX_SECONDS);
  logger.info('connection allowed', { connectionId, clientId: device, agentId, session });
  countDecision('allowed', AUTHORIZER_DECISION_REASONS.allowed);
  return {
    isAuthenticated: true,
    principalId: iotPrincipalIdOf(device),
    policyDocuments: [devicePolicy(env.IOT_ARN_PREFIX, device)],
    disconnectAfterInSeconds: session,
    refreshAfterInSeconds: session,
  };
});
