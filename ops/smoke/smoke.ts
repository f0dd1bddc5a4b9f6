import { DeleteItemCommand, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { AgentApi } from '../../client/api';
import { authorizerWebSocketUrl } from '../../client/iot-authorizer-url';
import type { TokenSource } from '../../client/token';
import { INBOX_BATCH_MAX } from '../../contracts/agent-access';
import { NotificationEnvelopeSchema, notificationIdOf, type NotificationEnvelope, type NotificationKind } from '../../contracts/envelope';
import { pushTopicOf } from '../../contracts/push-topic';
import { CONVO_HISTORY_TABLE, PRESENCE_TABLE } from '../../contracts/tables';
import { isOnline } from '../../tasks/shared/presence';

/**
 * The smoke test of a deployment: a probe agent's device goes through the whole promise of the
 * system once (docs/smoke.md). Each step is timed and bounded; the first failure skips the checks
 * after it, and the cleanup steps run whatever happened, undoing exactly what was done.
 */

export type StepStatus = 'passed' | 'failed' | 'skipped';
export type StepPhase = 'check' | 'cleanup';

export interface StepReport {
  name: string;
  phase: StepPhase;
  status: StepStatus;
  /** How long the step took (0 when skipped). */
  ms: number;
  /** What the step saw (passed), or why it was skipped. */
  detail?: string;
  /** Why it failed. */
  error?: string;
}

export interface SmokeReport {
  ok: boolean;
  steps: StepReport[];
  probe: { agentId: string; tenantId: string; conversationId: string; messageId: string; clientId?: string };
  totalMs: number;
}

export interface SmokeTarget {
  agentId: string;
  tenantId: string;
  convoHistoryTable: string;
  /** Without it the "device online" step cannot look and only waits PRESENCE_GRACE_MS. */
  presenceTable?: string;
  /** The iot:Data-ATS endpoint host, or a ws(s):// URL (local broker). */
  iotEndpoint: string;
  authorizerName: string;
  deviceLabel: string;
}

export interface SmokeDeps {
  api: AgentApi;
  tokens: TokenSource;
  dynamodb: DynamoDBClient;
  /** MQTT.js `connect`; tests may wrap it. */
  connectMqtt?: (url: string, options: IClientOptions) => MqttClient;
  now?: () => number;
}

export interface SmokeOptions {
  stepTimeoutMs: number;
  /** Called with each step's report as soon as it ends. */
  onStep?: (step: StepReport) => void;
  /** Probe ids; default `smoke-<time>-<random>`. */
  runId?: string;
  /** A sign-in before the checks (the local dev issuer): the step "sign in"; answers what it saw. */
  signIn?: () => Promise<string>;
}

/** How long "device online" waits when it cannot read the PRESENCE table. */
export const PRESENCE_GRACE_MS = 3_000;
const POLL_MS = 100;
export const PROBE_SENDER_ID = 'convo-notify-smoke';
export const PROBE_CHANNEL = 'smoke';

export class StepTimeoutError extends Error {
  constructor(step: string, ms: number) {
    super(`"${step}" timed out after ${ms} ms`);
    this.name = 'StepTimeoutError';
  }
}

export class SmokeCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmokeCheckError';
  }
}

export const newRunId = (now = Date.now()): string => `${new Date(now).toISOString().replace(/[-:.]/g, '').replace('T', '-').slice(0, 15)}-${randomBytes(4).toString('hex')}`;

/** The CONVO_HISTORY item the smoke writes: a customer message assigned to the probe agent (the direct topic). */
export const probeItem = (target: Pick<SmokeTarget, 'agentId' | 'tenantId'>, runId: string, createdAt: Date) => ({
  [CONVO_HISTORY_TABLE.partitionKey]: `smoke-${runId}`,
  [CONVO_HISTORY_TABLE.sortKey]: `probe-${runId}`,
  tenantId: target.tenantId,
  senderId: PROBE_SENDER_ID,
  senderType: 'customer',
  channel: PROBE_CHANNEL,
  body: `convo-notify smoke probe ${runId}: safe to ignore, deleted at the end of the run`,
  createdAt: createdAt.toISOString(),
  assignedAgentId: target.agentId,
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const describeError = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.name}: ${error.cause.message})` : '';
  return `${error.name}: ${error.message}${cause}`;
};

const withTimeout = async <T>(step: string, ms: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> => {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new StepTimeoutError(step, ms));
    }, ms);
  });
  const running = run(controller.signal);
  // A step that ends after its timeout is not waited for; its late rejection must not go unhandled.
  running.catch(() => undefined);
  try {
    return await Promise.race([running, timeout]);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * A call that a step made and a timeout may have stopped waiting for: it still runs (neither a
 * PutItem nor a device registration can be taken back by aborting the request, only undone), so
 * the cleanup waits for its answer to know what to undo.
 */
interface Attempt<T> {
  /** The call's value, or undefined when it failed. */
  readonly settled: Promise<T | undefined>;
  readonly pending: () => boolean;
}

const attempt = <T>(call: Promise<T>): Attempt<T> => {
  let pending = true;
  const settled = call.then(
    (value) => value,
    () => undefined,
  );
  void settled.finally(() => {
    pending = false;
  });
  return { settled, pending: () => pending };
};

const UNANSWERED = Symbol('unanswered');

/** The attempt's outcome, or UNANSWERED when it has not answered within `ms`. */
const settleWithin = async <T>(call: Attempt<T>, ms: number): Promise<T | undefined | typeof UNANSWERED> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([call.settled, new Promise<typeof UNANSWERED>((resolve) => (timer = setTimeout(() => resolve(UNANSWERED), ms)))]);
  } finally {
    clearTimeout(timer);
  }
};

/** Polls `check` until it answers a value, or the step's signal aborts. */
const until = async <T>(signal: AbortSignal, check: () => T | undefined | Promise<T | undefined>): Promise<T> => {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (signal.aborted) throw new SmokeCheckError('aborted');
    await sleep(POLL_MS);
  }
};

interface ReceivedPush {
  envelope: NotificationEnvelope;
  at: number;
}

export const runSmoke = async (target: SmokeTarget, deps: SmokeDeps, options: SmokeOptions): Promise<SmokeReport> => {
  const now = deps.now ?? Date.now;
  const connect = deps.connectMqtt ?? ((url: string, opts: IClientOptions) => mqtt.connect(url, opts));
  const runId = options.runId ?? newRunId(now());
  const started = now();
  const steps: StepReport[] = [];
  let failed = false;

  const item = probeItem(target, runId, new Date(started));
  const identity = { conversationId: item.conversationId, messageId: item.messageId };
  const key = marshall({ [CONVO_HISTORY_TABLE.partitionKey]: identity.conversationId, [CONVO_HISTORY_TABLE.sortKey]: identity.messageId });
  const report: SmokeReport = { ok: false, steps, probe: { agentId: target.agentId, tenantId: target.tenantId, ...identity }, totalMs: 0 };

  let clientId: string | undefined;
  let client: MqttClient | undefined;
  let registration: Attempt<string> | undefined;
  let write: Attempt<true> | undefined;
  let writtenAt = 0;
  let claimedAt = 0;
  const pushes: ReceivedPush[] = [];
  const pushProblems: string[] = [];
  const receiptHandles = new Set<string>();
  let acked = 0;

  const step = async (name: string, phase: StepPhase, run: (signal: AbortSignal) => Promise<string | undefined>, skipWhy?: string): Promise<void> => {
    let result: StepReport;
    if (skipWhy !== undefined || (phase === 'check' && failed)) {
      result = { name, phase, status: 'skipped', ms: 0, detail: skipWhy ?? 'an earlier step failed' };
    } else {
      const t0 = now();
      try {
        const detail = await withTimeout(name, options.stepTimeoutMs, run);
        result = { name, phase, status: 'passed', ms: now() - t0, ...(detail !== undefined && { detail }) };
      } catch (error) {
        failed = true;
        result = { name, phase, status: 'failed', ms: now() - t0, error: describeError(error) };
      }
    }
    steps.push(result);
    options.onStep?.(result);
  };

  const idOf = (kind: NotificationKind) => notificationIdOf(identity, kind);

  const waitForPush = (kind: NotificationKind, since: number) => async (signal: AbortSignal) => {
    const wanted = idOf(kind);
    const push = await until(signal, () => {
      if (client !== undefined && !client.connected) throw new SmokeCheckError(`the MQTT connection closed before ${wanted} arrived`);
      return pushes.find((p) => p.envelope.notificationId === wanted);
    });
    const problems = pushProblems.length === 0 ? '' : `; ${pushProblems.length} other payload(s) on the topic were not envelopes: ${pushProblems[0]}`;
    return `${wanted} on ${pushTopicOf(clientId!)}, ${push.at - since} ms after the ${kind === 'message.created' ? 'write' : 'claim'}${problems}`;
  };

  const waitInInbox = (kind: NotificationKind, since: number) => async (signal: AbortSignal) => {
    const wanted = idOf(kind);
    let reads = 0;
    for (;;) {
      reads += 1;
      const { messages } = await deps.api.readInbox(clientId!, signal);
      let found = false;
      for (const message of messages) {
        const parsed = NotificationEnvelopeSchema.safeParse(safeJson(message.body));
        // Only the probe's notifications are acked; anything else stays for the queue's deletion with the device.
        if (!parsed.success || parsed.data.conversationId !== identity.conversationId || parsed.data.messageId !== identity.messageId) continue;
        receiptHandles.add(message.receiptHandle);
        if (parsed.data.notificationId === wanted) found = true;
      }
      if (found) {
        const seenAfter = now() - since;
        // Acked at once, as the client does once stored: an inbox is FIFO with the conversation as
        // its message group, so the handled notification is not delivered while this one is in flight.
        const deleted = await ack([...receiptHandles]);
        return `${wanted} after ${reads} read(s), ${seenAfter} ms after the ${kind === 'message.created' ? 'write' : 'claim'}; acked (${deleted} deleted)`;
      }
      if (signal.aborted) throw new SmokeCheckError('aborted');
    }
  };

  /** Deletes inbox messages by receipt handle; the ones deleted leave `receiptHandles`. */
  const ack = async (handles: string[]): Promise<number> => {
    let deleted = 0;
    const failures: string[] = [];
    for (let i = 0; i < handles.length; i += INBOX_BATCH_MAX) {
      const batch = handles.slice(i, i + INBOX_BATCH_MAX);
      const answer = await deps.api.ackInbox(clientId!, batch);
      deleted += answer.deleted;
      acked += answer.deleted;
      const failedHandles = new Set(answer.failed.map((f) => f.receiptHandle));
      for (const handle of batch) if (!failedHandles.has(handle)) receiptHandles.delete(handle);
      failures.push(...answer.failed.map((f) => f.code));
    }
    if (failures.length > 0) throw new SmokeCheckError(`${failures.length} of ${handles.length} inbox message(s) were not deleted: ${failures.join(', ')}`);
    return deleted;
  };

  // --- the checks ---
  if (options.signIn !== undefined) await step('sign in', 'check', () => options.signIn!());
  await step('register device', 'check', async () => {
    const registering = deps.api.registerDevice(target.deviceLabel);
    registration = attempt(registering.then((device) => device.clientId));
    const device = await registering;
    clientId = device.clientId;
    report.probe.clientId = clientId;
    return `${clientId} (label ${target.deviceLabel}), push topic ${device.notifyTopic}`;
  });

  await step('connect MQTT', 'check', async () => {
    const { token } = await deps.tokens.get();
    const url = authorizerWebSocketUrl({ endpoint: target.iotEndpoint, authorizerName: target.authorizerName }, token);
    client = connect(url, { clientId: clientId!, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: options.stepTimeoutMs, clean: true });
    // Errors after CONNACK show as a closed connection in the push steps; an unheard 'error' would crash the run.
    client.on('error', () => undefined);
    client.on('message', (_topic, payload) => {
      const parsed = NotificationEnvelopeSchema.safeParse(safeJson(payload.toString()));
      if (parsed.success) pushes.push({ envelope: parsed.data, at: now() });
      else pushProblems.push(parsed.error.issues[0]?.message ?? 'not JSON');
    });
    await new Promise<void>((resolve, reject) => {
      client!.once('connect', () => resolve());
      client!.once('error', (error) => reject(new SmokeCheckError(`no MQTT connection through authorizer ${target.authorizerName}: ${error.message}`)));
      client!.once('close', () => reject(new SmokeCheckError('the connection closed before CONNACK')));
    });
    return `as ${clientId} over ${new URL(url).protocol.replace(':', '')}://${new URL(url).host} through authorizer ${target.authorizerName}`;
  });

  await step('subscribe', 'check', async () => {
    const topic = pushTopicOf(clientId!);
    let granted: number[];
    try {
      granted = (await client!.subscribeAsync(topic, { qos: 1 })).map((g) => g.qos);
    } catch (error) {
      const refused = (error as { packet?: { granted?: (number | { qos: number })[] } }).packet?.granted;
      if (refused === undefined) throw error;
      granted = refused.map((g) => (typeof g === 'number' ? g : g.qos));
    }
    if (granted.some((qos) => qos === 128)) throw new SmokeCheckError(`SUBACK refused ${topic} (0x80): the authorizer's policy does not allow it`);
    return `${topic} granted QoS ${granted.join(', ')}`;
  });

  await step('device online', 'check', async (signal) => {
    if (target.presenceTable === undefined) {
      const grace = Math.min(PRESENCE_GRACE_MS, options.stepTimeoutMs / 2);
      await sleep(grace);
      return `not checked (no PresenceTableName): waited ${grace} ms for the lifecycle events`;
    }
    const table = target.presenceTable;
    await until(signal, async () => {
      const { Item } = await deps.dynamodb.send(
        new GetItemCommand({ TableName: table, Key: { [PRESENCE_TABLE.partitionKey]: { S: clientId! } }, ConsistentRead: true }),
      );
      return isOnline(Item) ? true : undefined;
    });
    return `${table} says connected and subscribed (IoT lifecycle events → record-presence)`;
  });

  await step('write probe message', 'check', async () => {
    const put = deps.dynamodb.send(
      new PutItemCommand({
        TableName: target.convoHistoryTable,
        Item: marshall(item),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': CONVO_HISTORY_TABLE.partitionKey },
      }),
    );
    write = attempt(put.then(() => true as const));
    await put;
    writtenAt = now();
    return `${identity.conversationId}/${identity.messageId} in ${target.convoHistoryTable}, assigned to ${target.agentId} (direct)`;
  });

  await step('pushed as new', 'check', (signal) => waitForPush('message.created', writtenAt)(signal));
  await step('in the inbox', 'check', (signal) => waitInInbox('message.created', writtenAt)(signal));

  await step('claim', 'check', async () => {
    const answer = await deps.api.claim(identity);
    claimedAt = now();
    if (!answer.won) throw new SmokeCheckError(`the claim was lost to ${answer.handledBy}: something else answered the probe message`);
    return `won: handledBy ${answer.handledBy} at ${answer.handledAt}`;
  });

  await step('pushed as handled', 'check', (signal) => waitForPush('message.handled', claimedAt)(signal));
  await step('handled in the inbox', 'check', (signal) => waitInInbox('message.handled', claimedAt)(signal));

  // --- the cleanup: each undoes what was done, whatever failed ---
  const handles = [...receiptHandles];
  await step(
    'ack inbox',
    'cleanup',
    async () =>
      handles.length === 0
        ? `nothing left unacked (${acked} acked as they arrived)`
        : `${await ack(handles)} inbox message(s) deleted that a failed step left unacked (${acked} acked as they arrived)`,
    clientId === undefined ? 'no device was registered' : undefined,
  );

  await step(
    'disconnect',
    'cleanup',
    async () => {
      await client!.endAsync(true);
      return 'MQTT connection closed';
    },
    client === undefined ? 'never connected' : undefined,
  );

  // A call a timed-out step left running gets half a step to answer; the other half is the undo's.
  const lateAnswerMs = Math.floor(options.stepTimeoutMs / 2);
  const pendingRegistration = registration;
  await step(
    'unregister device',
    'cleanup',
    async () => {
      let late = '';
      if (clientId === undefined) {
        const answer = await settleWithin(pendingRegistration!, lateAnswerMs);
        if (answer === UNANSWERED) {
          throw new SmokeCheckError(
            `the registration that timed out has still not answered ${lateAnswerMs} ms later: a device labelled ${target.deviceLabel} may be left registered to ${target.agentId}`,
          );
        }
        if (answer === undefined) return 'the registration that timed out failed after all: no device was registered';
        clientId = answer;
        report.probe.clientId = answer;
        late = ' (registered after its step timed out)';
      }
      await deps.api.unregisterDevice(clientId);
      return `DELETE /devices/${clientId}${late}: the device and its inbox are gone`;
    },
    clientId === undefined && (pendingRegistration === undefined || !pendingRegistration.pending()) ? 'no device was registered' : undefined,
  );

  const pendingWrite = write;
  await step(
    'delete probe message',
    'cleanup',
    async () => {
      // Deleting before a late PutItem lands would leave the item behind: wait for it first.
      const unanswered = pendingWrite!.pending() && (await settleWithin(pendingWrite!, lateAnswerMs)) === UNANSWERED;
      const { Attributes } = await deps.dynamodb.send(new DeleteItemCommand({ TableName: target.convoHistoryTable, Key: key, ReturnValues: 'ALL_OLD' }));
      if (unanswered) {
        throw new SmokeCheckError(
          `the write that timed out has still not answered ${lateAnswerMs} ms later: it may land after this delete and leave ${identity.conversationId}/${identity.messageId} in ${target.convoHistoryTable}`,
        );
      }
      return Attributes === undefined ? 'it was already gone' : `${identity.conversationId}/${identity.messageId} deleted from ${target.convoHistoryTable}`;
    },
    pendingWrite === undefined ? 'nothing was written' : undefined,
  );

  report.ok = !failed;
  report.totalMs = now() - started;
  return report;
};

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

const pad = (text: string, width: number): string => (text.length >= width ? text : text + ' '.repeat(width - text.length));
const MARK: Record<StepStatus, string> = { passed: 'ok  ', failed: 'FAIL', skipped: 'skip' };

/** One line per step: status, name, latency, what it saw or why it failed. */
export const formatStep = (step: StepReport): string =>
  `  ${MARK[step.status]} ${pad(step.name, 22)} ${pad(step.status === 'skipped' ? '-' : `${step.ms} ms`, 9)} ${step.error ?? step.detail ?? ''}`.trimEnd();

export const formatSummary = (report: SmokeReport): string => {
  const first = report.steps.find((s) => s.status === 'failed');
  const checks = report.steps.filter((s) => s.phase === 'check');
  const passed = checks.filter((s) => s.status === 'passed').length;
  if (first === undefined) return `smoke passed: ${passed}/${checks.length} checks and the cleanup in ${report.totalMs} ms`;
  const cleanupFailed = report.steps.filter((s) => s.phase === 'cleanup' && s.status === 'failed').map((s) => s.name);
  return [
    `smoke FAILED at "${first.name}": ${first.error}`,
    `  ${passed}/${checks.length} checks passed in ${report.totalMs} ms; cleanup ${cleanupFailed.length === 0 ? 'done' : `incomplete (${cleanupFailed.join(', ')} failed): remove the probe by hand (docs/smoke.md)`}`,
  ].join('\n');
};
