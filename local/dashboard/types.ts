/**
 * The dashboard's JSON API, shared by the server (Node) and the page (browser bundle), so both
 * sides are checked against one shape. Type-only: nothing here runs.
 */
import type { ExecutionRecord } from '../runtime/workflow-runner';

export type { ExecutionRecord, StateEvent } from '../runtime/workflow-runner';

/** A seeded device of an agent: the page simulates it (one IndexedDB database per device). */
export interface DashboardDevice {
  /** The seed's name for it (`laptop`, `phone`), also the label a re-registered device gets. */
  label: string;
  /** Its issued client id in the seed; the page adopts it on the first sign-in in a browser. */
  clientId: string;
}

export interface DashboardAgent {
  agentId: string;
  name: string;
  devices: DashboardDevice[];
  teams: string[];
  follows: string[];
}

/**
 * GET /api/config: what the page needs to sign agents in and act as their devices, exactly what a
 * deployed AgentCRM browser gets from the stack outputs. No AWS endpoints and no AWS credentials:
 * the page reaches the stack only through the agent API and the broker's custom authorizer.
 */
export interface DashboardConfig {
  region: string;
  tenantId: string;
  /** The agent API's base URL (stack output `AgentApiUrl` on AWS). */
  apiUrl: string;
  /** The broker's MQTT-over-WebSocket URL (the IoT data endpoint on AWS). */
  iotEndpoint: string;
  /** The IoT custom authorizer's name, `<prefix>-agent-jwt`. */
  authorizerName: string;
  /** The dev sign-in: `POST {agentId}` here answers `{token, expiresAt}` for a seeded agent. */
  tokenUrl: string;
  agents: DashboardAgent[];
  teams: { teamId: string; members: string[] }[];
  /** Senders some agents follow (the `sender` topic). */
  senders: { senderId: string; followers: string[] }[];
}

export type Audience = 'sender' | 'team' | 'assigned';

/** POST /api/messages body. */
export interface PostMessageRequest {
  audience: Audience;
  body: string;
  /** Required for audience `sender`; the customer who writes, otherwise (default `customer-web`). */
  senderId?: string;
  teamId?: string;
  assignedAgentId?: string;
  channel?: string;
  /** Continue an existing conversation; a new one when absent. */
  conversationId?: string;
}

export interface PostMessageResponse {
  conversationId: string;
  messageId: string;
  createdAt: string;
  item: Record<string, unknown>;
  /** Set when the stack's seed has nobody to notify for the audience (the message is still written). */
  warning?: string;
}

export interface ApiError {
  error: string;
  message: string;
  issues?: { field: string; message: string }[];
}

/** What the executions list shows: the record without its (possibly large) events and output. */
export interface ExecutionSummary {
  name: string;
  status: ExecutionRecord['status'];
  startedAt: number;
  durationMs?: number;
  replayOf?: string;
  error?: ExecutionRecord['error'];
  path: string[];
  /** The entries of the batch (one per stream record), as identity and kind. */
  records: {
    kind: 'created' | 'handled' | 'quarantined' | '?';
    conversationId?: string;
    messageId?: string;
    /** The SNS topic chosen: `team`, `direct` or `sender`. */
    topic?: string;
    /** Whom the topic addresses, e.g. `team support`, `agent dave`, `sender customer-vip`. */
    audience?: string;
    /** The start of the message preview. */
    preview?: string;
  }[];
}
