import '../sql/register-text-loader';
import mqtt, { type MqttClient } from 'mqtt';
import { generatedData } from '../local/runtime/seed';
import { startLocalStack, type LocalStack } from '../local/runtime/stack';

/**
 * `npm run bench`: throughput and latency of the local flow, stream record → last inbox send.
 * Two scenarios in one run on the same stack, so their ratio is meaningful on a noisy machine:
 * every device online (IoT push + inbox send per device) and every device offline (inbox only).
 *
 * Options (env): BENCH_MESSAGES (default 200), BENCH_AGENTS (10), BENCH_DEVICES_PER_AGENT (2).
 */

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200);
const AGENTS = Number(process.env.BENCH_AGENTS ?? 10);
const DEVICES_PER_AGENT = Number(process.env.BENCH_DEVICES_PER_AGENT ?? 2);

interface ScenarioResult {
  scenario: string;
  messages: number;
  devices: number;
  seconds: number;
  messagesPerSecond: number;
  inboxSendsPerSecond: number;
  latencyMs: { p50: number; p95: number; max: number };
  lost: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const connect = (url: string, clientId: string): Promise<MqttClient> =>
  new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId, reconnectPeriod: 0 });
    c.once('connect', async () => {
      await c.subscribeAsync(`notify/${clientId}`, { qos: 1 });
      resolve(c);
    });
    c.once('error', reject);
  });

let counter = 0;

const runScenario = async (stack: LocalStack, scenario: string, devices: string[]): Promise<ScenarioResult> => {
  const prefix = `${scenario}-${Date.now()}`;
  const recordAt = new Map<string, number>();
  stack.dynamodb.onStreamRecord((r) => {
    const id = r.dynamodb.Keys.messageId?.S;
    if (id?.startsWith(prefix)) recordAt.set(id, Date.now());
  });
  const sentBefore = stack.sqs.sent.length;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: MESSAGES }, () => {
      counter += 1;
      return stack.putMessage({
        conversationId: `${prefix}-conv-${counter % 50}`,
        messageId: `${prefix}-msg-${counter}`,
        tenantId: stack.config.tenantId,
        senderId: 'customer-1',
        senderType: 'customer',
        channel: 'web',
        body: `bench message ${counter}`,
        createdAt: new Date().toISOString(),
        teamId: 'everyone',
      });
    }),
  );
  await stack.settle();
  const seconds = (Date.now() - started) / 1000;

  const lastInboxSend = new Map<string, number>();
  const inboxCount = new Map<string, number>();
  for (const sent of stack.sqs.sent.slice(sentBefore)) {
    if (!sent.queueName.startsWith(stack.config.inboxQueueNamePrefix) || sent.duplicate) continue;
    const messageId = (JSON.parse(sent.body) as { messageId: string }).messageId;
    lastInboxSend.set(messageId, Math.max(lastInboxSend.get(messageId) ?? 0, sent.at));
    inboxCount.set(messageId, (inboxCount.get(messageId) ?? 0) + 1);
  }
  const latencies = [...recordAt].map(([id, at]) => (lastInboxSend.get(id) ?? NaN) - at).filter(Number.isFinite).sort((a, b) => a - b);
  const lost = [...recordAt.keys()].filter((id) => inboxCount.get(id) !== devices.length).length + (MESSAGES - recordAt.size);
  const inboxSends = [...inboxCount.values()].reduce((a, b) => a + b, 0);
  return {
    scenario,
    messages: MESSAGES,
    devices: devices.length,
    seconds,
    messagesPerSecond: MESSAGES / seconds,
    inboxSendsPerSecond: inboxSends / seconds,
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: latencies[latencies.length - 1] },
    lost,
  };
};

const main = async () => {
  const seed = generatedData(AGENTS, DEVICES_PER_AGENT);
  const devices = seed.agents.flatMap((a) => a.devices);
  console.log(`bench: ${MESSAGES} messages to team "everyone" of ${AGENTS} agents × ${DEVICES_PER_AGENT} devices (${devices.length} devices)`);
  const stack = await startLocalStack({ seed, retryIntervalMs: 0 });
  process.env.LOG_LEVEL = 'ERROR';
  try {
    // Inboxes are created on first use; one warm-up message creates them all so both scenarios
    // measure steady state.
    await runScenario(stack, 'warmup', devices).catch(() => undefined);

    const offline = await runScenario(stack, 'offline', devices);
    const clients = await Promise.all(devices.map((d) => connect(stack.endpoints.mqtt, d)));
    await stack.settle();
    const online = await runScenario(stack, 'online', devices);
    await Promise.all(clients.map((c) => c.endAsync(true)));

    const results = [offline, online];
    console.table(
      results.map((r) => ({
        scenario: r.scenario,
        messages: r.messages,
        devices: r.devices,
        'seconds': r.seconds.toFixed(2),
        'messages/s': r.messagesPerSecond.toFixed(1),
        'inbox sends/s': r.inboxSendsPerSecond.toFixed(0),
        'p50 ms': r.latencyMs.p50,
        'p95 ms': r.latencyMs.p95,
        'max ms': r.latencyMs.max,
        lost: r.lost,
      })),
    );
    console.log(`ratio online/offline throughput (same run): ${(online.messagesPerSecond / offline.messagesPerSecond).toFixed(2)}`);
    console.log(JSON.stringify({ results }, null, 2));
    if (results.some((r) => r.lost > 0)) process.exitCode = 1;
  } finally {
    await stack.stop();
  }
};

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
