import '../sql/register-text-loader';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { performance } from 'node:perf_hooks';
import { payloadBytes } from '../contracts/limits';
import { inboxQueueName } from '../contracts/naming';
import { PRESENCE_TABLE } from '../contracts/tables';
import { DEFAULT_CONFIG } from '../infra/config';
import { powertoolsEnvironment } from '../infra/constructs/task-function';
import { requestCounter, type RequestTally } from '../local/emulators/listen';
import { generatedData, seededDevices, type SeedData } from '../local/runtime/seed';
import { LOCAL_CREDENTIALS, startLocalStack, type LocalStack } from '../local/runtime/stack';
import type { ExecutionRecord } from '../local/runtime/workflow-runner';
import { walkStates } from '../state-machines/workflows';
import { subscriptionsToAttribute } from '../tasks/shared/presence';
import {
  designCost,
  expressGbSeconds,
  perMillion,
  ratio,
  recordWallTimeMs,
  seedCostPerMessage,
  type DesignRun,
  type Fanout,
  type LambdaUsage,
} from './cost-model';
import { DEFAULT_LOG_SETTING, describeSetting, executionLogBytes, LOG_SETTINGS, logSettingIndexOf, type LogModelOptions, type StateInfo } from './log-model';
import { OutputCapture, type CapturedLogs } from './output-capture';
import { assumptionRows, LATENCY_VALUES, MODEL_VALUES, PRICE_VALUES } from './prices';
import { markdownTable, thousands, usd } from './table';

/**
 * `npm run bench`: the cost of this design per 1M messages at each workflow log setting, against
 * the seed design it replaces, from calls counted on the local runtime (local/emulators/listen.ts)
 * and the workflow's events; and an audience table (1, 20, 1,000, 10,000 devices). It prints its
 * tables and nothing else: the runtime's and the handlers' output is counted, not shown.
 * docs/cost.md explains the model.
 *
 * Options (env): BENCH_MESSAGES (messages of the cost run to 20 devices, default 200),
 * BENCH_AUDIENCES (default 1,20,1000,10000), BENCH_AUDIENCE_MESSAGES (messages per audience,
 * default 50,200,5,1: the 20-device audience is the cost run).
 */

// The task Lambdas' production settings (infra/constructs/task-function.ts), set before the stack
// loads the handlers, which read them once; metrics on, as on AWS, where their EMF lines are logs too.
const PRODUCTION = powertoolsEnvironment('bench');
const PRODUCTION_LOG_LEVEL = PRODUCTION.POWERTOOLS_LOG_LEVEL;
Object.assign(process.env, {
  LOG_LEVEL: PRODUCTION_LOG_LEVEL,
  POWERTOOLS_LOG_LEVEL: PRODUCTION_LOG_LEVEL,
  POWERTOOLS_LOGGER_LOG_EVENT: PRODUCTION.POWERTOOLS_LOGGER_LOG_EVENT,
  POWERTOOLS_METRICS_NAMESPACE: PRODUCTION.POWERTOOLS_METRICS_NAMESPACE,
  POWERTOOLS_METRICS_DISABLED: 'false',
  POWERTOOLS_DEV: 'false',
  POWERTOOLS_TRACE_ENABLED: 'false',
});

const list = (value: string | undefined, fallback: number[]): number[] =>
  value === undefined ? fallback : value.split(',').map((v) => Number(v.trim()));

const COST_AUDIENCE = 20;
const COST_MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200);
const AUDIENCES = list(process.env.BENCH_AUDIENCES, [1, COST_AUDIENCE, 1000, 10000]);
const AUDIENCE_MESSAGES = list(process.env.BENCH_AUDIENCE_MESSAGES, [50, COST_MESSAGES, 5, 1]);

/** PRESENCE items written at once while preparing the runs. */
const PRESENCE_WRITE_CONCURRENCY = 25;

const devicesLabel = (n: number) => `${thousands(n)} device${n === 1 ? '' : 's'}`;

const teamOf = (audience: number) => `audience-${audience}`;

/**
 * One agent per device (generatedData), the first n agents in team `audience-<n>`: one seed
 * serves every audience, so one stack (one process) measures them all.
 */
const benchSeed = (): SeedData => {
  const base = generatedData(Math.max(...AUDIENCES), 1);
  return {
    ...base,
    agents: base.agents.map((agent, i) => ({ ...agent, teams: [...(agent.teams ?? []), ...AUDIENCES.filter((n) => i < n).map(teamOf)] })),
  };
};

interface ExecutionStats {
  records: number;
  stateEntered: number;
  lambdaInvocations: Record<string, number>;
  largestPayloadBytes: number;
  logBytes: number[];
  failed: boolean;
  /** Per state: times entered, input and output bytes summed, largest payload. */
  states: Map<string, { entered: number; inputBytes: number; outputBytes: number; largest: number }>;
}

interface Measured {
  audience: number;
  messages: number;
  seconds: number;
  calls: RequestTally[];
  executions: ExecutionStats[];
  pipeBatches: number;
  pipeEvents: number;
  /** Events of the outcomes pipe (outcomes queue → bus): Pipes requests too. */
  outcomePipeEvents: number;
  /** Invocations of the Lambdas that rules on the outcome bus target, by rule. */
  ruleInvocations: Record<string, number>;
  logs: CapturedLogs;
  inboxSends: number;
  lost: number;
}

const capture = new OutputCapture();

const writePresence = async (stack: LocalStack, onlineClientIds: string[]): Promise<void> => {
  const ddb = new DynamoDBClient({ endpoint: stack.endpoints.dynamodb, region: stack.config.region, credentials: LOCAL_CREDENTIALS });
  const now = Date.now();
  const session = 'bench-session';
  try {
    for (let i = 0; i < onlineClientIds.length; i += PRESENCE_WRITE_CONCURRENCY) {
      await Promise.all(
        onlineClientIds.slice(i, i + PRESENCE_WRITE_CONCURRENCY).map((clientId) =>
          ddb.send(
            new PutItemCommand({
              TableName: stack.config.presenceTable,
              Item: {
                [PRESENCE_TABLE.partitionKey]: { S: clientId },
                state: { S: 'connected' },
                sessionIdentifier: { S: session },
                eventTimestamp: { N: String(now) },
                versionNumber: { N: '1' },
                subscriptions: subscriptionsToAttribute({ [session]: { subscribed: true, at: now } }),
              },
            }),
          ),
        ),
      );
    }
  } finally {
    ddb.destroy();
  }
};

let counter = 0;

const main = async () => {
  const benchStarted = performance.now();
  capture.start();
  const seed = benchSeed();
  const devices = seededDevices(seed);
  const stack = await startLocalStack({ seed, retryIntervalMs: 0 });
  const stackSeconds = (performance.now() - benchStarted) / 1000;
  try {
    /* eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded after the stack set the handler's environment */
    const { BATCH_GET_MAX_KEYS } = require('../tasks/check-presence/handler') as { BATCH_GET_MAX_KEYS: number };
    const definition = stack.runner.definition;
    const entries = walkStates(definition);
    const states = new Map<string, StateInfo>(entries.map((e) => [e.name, { type: e.state.Type, resource: e.state.Resource }]));
    // Function names are `<prefix>-<task>`, the prefix the stack's table names also start with.
    const stackPrefix = stack.config.convoHistoryTable.replace(/-CONVO_HISTORY$/, '');
    const functionOf = new Map(
      entries
        .filter((e) => e.state.Resource === 'arn:aws:states:::lambda:invoke')
        .map((e) => [e.name, (String(e.state.Parameters?.FunctionName ?? e.name).split(':').pop() ?? e.name).replace(`${stackPrefix}-`, '')]),
    );
    const maps = entries.filter((e) => e.state.Type === 'Map');
    const recordConcurrency = Number(maps.find((e) => e.scope.length === 0)?.state.MaxConcurrency ?? 1);
    const deviceConcurrency = Math.max(1, ...maps.filter((e) => e.scope.length > 0).map((e) => Number(e.state.MaxConcurrency ?? 1)));
    const definitionBytes = payloadBytes(definition);
    const pageSize = DEFAULT_CONFIG.recipientsPageSize;
    const logOptions: LogModelOptions = {
      states,
      region: stack.config.region,
      roleArn: `arn:aws:iam::000000000000:role/convo-notify-fanout-role`,
      sdkTaskResultBytes: MODEL_VALUES.sdkTaskResultBytes,
      lambdaTaskResultOverheadBytes: MODEL_VALUES.lambdaTaskResultOverheadBytes,
    };

    let collecting: ExecutionStats[] | undefined;
    stack.runner.onExecution((execution: ExecutionRecord) => {
      if (!collecting) return;
      const stats: ExecutionStats = {
        records: Array.isArray(execution.input) ? execution.input.length : 1,
        stateEntered: 0,
        lambdaInvocations: {},
        largestPayloadBytes: payloadBytes(execution.input ?? null),
        logBytes: LOG_SETTINGS.map((s) => executionLogBytes(execution, s, logOptions, MODEL_VALUES.cloudWatchEventOverheadBytes).bytes),
        failed: execution.status !== 'SUCCEEDED',
        states: new Map(),
      };
      for (const e of execution.events) {
        const fn = e.state ? functionOf.get(e.state) : undefined;
        if (fn && (e.type === 'StateEntered' || e.type === 'StateRetried')) stats.lambdaInvocations[fn] = (stats.lambdaInvocations[fn] ?? 0) + 1;
        if (!e.state) continue;
        const s = stats.states.get(e.state) ?? { entered: 0, inputBytes: 0, outputBytes: 0, largest: 0 };
        if (e.type === 'StateEntered') {
          stats.stateEntered += 1;
          s.entered += 1;
          const bytes = payloadBytes(e.input ?? null);
          s.inputBytes += bytes;
          s.largest = Math.max(s.largest, bytes);
        }
        if (e.type === 'StateExited') {
          const bytes = payloadBytes(e.output ?? null);
          s.outputBytes += bytes;
          s.largest = Math.max(s.largest, bytes);
        }
        stats.largestPayloadBytes = Math.max(stats.largestPayloadBytes, s.largest);
        stats.states.set(e.state, s);
      }
      collecting.push(stats);
    });

    const run = async (audience: number, messages: number): Promise<Measured> => {
      const prefix = `bench-${audience}-${Date.now()}`;
      capture.collect();
      requestCounter.reset();
      collecting = [];
      const before = { ...stack.pipe.stats };
      const outcomesBefore = stack.outcomesPipe.stats.received;
      const sentBefore = stack.sqs.sent.length;
      const startedAt = Date.now();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: messages }, () => {
          counter += 1;
          return stack.putMessage({
            conversationId: `${prefix}-conv-${counter % 50}`,
            messageId: `${prefix}-msg-${counter}`,
            tenantId: stack.config.tenantId,
            senderId: 'customer-1',
            senderType: 'customer',
            channel: 'web',
            body: `bench message ${counter}: a customer asks about the order that has not arrived yet`,
            createdAt: new Date().toISOString(),
            teamId: teamOf(audience),
          });
        }),
      );
      await stack.settle();
      const seconds = (performance.now() - started) / 1000;
      const calls = requestCounter.snapshot();
      const logs = capture.collect();
      const executions = collecting;
      collecting = undefined;
      const ruleInvocations: Record<string, number> = {};
      for (const received of stack.eventBus.events) {
        if (received.receivedAt < startedAt) continue;
        for (const d of received.deliveries) {
          const rule = d.rule.replace(`${stackPrefix}-`, '');
          ruleInvocations[rule] = (ruleInvocations[rule] ?? 0) + d.attempts;
        }
      }
      let inboxSends = 0;
      for (const sent of stack.sqs.sent.slice(sentBefore)) {
        if (sent.duplicate || !sent.queueName.startsWith(stack.config.inboxQueueNamePrefix)) continue;
        if ((JSON.parse(sent.body) as { messageId: string }).messageId.startsWith(prefix)) inboxSends += 1;
      }
      return {
        audience,
        messages,
        seconds,
        calls,
        executions,
        pipeBatches: stack.pipe.stats.batches - before.batches,
        pipeEvents: stack.pipe.stats.received - stack.pipe.stats.filteredOut - (before.received - before.filteredOut),
        outcomePipeEvents: stack.outcomesPipe.stats.received - outcomesBefore,
        ruleInvocations,
        logs,
        inboxSends,
        lost: messages * audience - inboxSends,
      };
    };

    // Presence as record-presence would have written it for connected, subscribed devices, and the
    // inboxes as their first message would have created them: the runs measure steady state.
    await writePresence(
      stack,
      // Spread evenly: with a share of one half, every other device (the first one included).
      devices.filter((_, i) => Math.ceil((i + 1) * MODEL_VALUES.onlineShare) > Math.ceil(i * MODEL_VALUES.onlineShare)).map((d) => d.clientId),
    );
    for (const d of devices) {
      stack.sqs.createQueue({
        QueueName: inboxQueueName(stack.config.inboxQueueNamePrefix, d.clientId),
        Attributes: { FifoQueue: 'true', MessageRetentionPeriod: String(DEFAULT_CONFIG.inboxRetentionDays * 24 * 3600) },
      });
    }
    await run(COST_AUDIENCE, 10);

    const measured: Measured[] = [];
    for (const [i, audience] of AUDIENCES.entries()) measured.push(await run(audience, AUDIENCE_MESSAGES[i] ?? 1));

    const fanoutOf = (m: Measured): Fanout => ({
      devices: m.audience,
      onlineShare: MODEL_VALUES.onlineShare,
      pageSize,
      deviceConcurrency,
      batchGetMaxKeys: BATCH_GET_MAX_KEYS,
    });
    const wallTimeMs = (m: Measured) => recordWallTimeMs(fanoutOf(m), LATENCY_VALUES);

    const designRun = (m: Measured, setting: number): DesignRun => {
      const perRecordMs = wallTimeMs(m);
      const largest = Math.max(0, ...m.executions.map((e) => e.largestPayloadBytes));
      const executionGbSeconds = m.executions.reduce(
        (sum, e) =>
          sum +
          expressGbSeconds(
            Math.ceil(e.records / recordConcurrency) * perRecordMs + 2 * LATENCY_VALUES.stateTransition,
            definitionBytes,
            largest,
            recordConcurrency * deviceConcurrency,
            MODEL_VALUES,
          ),
        0,
      );
      const invocations = (fn: string) => m.executions.reduce((s, e) => s + (e.lambdaInvocations[fn] ?? 0), 0);
      const resolveCalls = invocations('resolve-recipients');
      const presenceCalls = invocations('check-presence');
      const lambdas: LambdaUsage[] = [
        { name: 'normalize-batch', invocations: m.pipeBatches, memoryMb: MODEL_VALUES.normalizeBatchMemoryMb, billedMs: m.pipeBatches * LATENCY_VALUES.lambdaCompute },
        {
          name: 'resolve-recipients',
          invocations: resolveCalls,
          memoryMb: MODEL_VALUES.taskMemoryMb,
          billedMs: resolveCalls * (LATENCY_VALUES.lambdaCompute + LATENCY_VALUES.dataApiExecute),
        },
        {
          name: 'check-presence',
          invocations: presenceCalls,
          memoryMb: MODEL_VALUES.taskMemoryMb,
          billedMs: presenceCalls * (LATENCY_VALUES.lambdaCompute + LATENCY_VALUES.dynamodbBatchGet),
        },
      ];
      for (const [rule, count] of Object.entries(m.ruleInvocations)) {
        lambdas.push({
          name: `${rule} (bus rule target)`,
          invocations: count,
          memoryMb: MODEL_VALUES.taskMemoryMb,
          billedMs: count * (LATENCY_VALUES.lambdaCompute + LATENCY_VALUES.ruleTargetCall),
        });
      }
      const lambdaInvocations = lambdas.reduce((s, l) => s + l.invocations, 0);
      return {
        records: m.messages,
        calls: m.calls,
        chatProductWrites: m.messages,
        // Eventually consistent reads of small items: half a unit per key.
        dynamodbReadUnits: 0.5 * m.audience * m.messages,
        pipeEvents: m.pipeEvents + m.outcomePipeEvents,
        pipeBatches: m.pipeBatches,
        executions: m.executions.length,
        executionGbSeconds,
        lambdas,
        workflowLogBytes: m.executions.reduce((s, e) => s + e.logBytes[setting], 0),
        lambdaLogBytes:
          m.logs.bytes +
          m.logs.lines * MODEL_VALUES.cloudWatchEventOverheadBytes +
          lambdaInvocations * MODEL_VALUES.lambdaPlatformLogBytes,
      };
    };

    const costRun = measured.find((m) => m.audience === COST_AUDIENCE) ?? measured[0];
    const pushBytes = (m: Measured) => {
      const publish = m.calls.find((c) => c.service === 'iot-data' && c.action === 'POST /topics');
      return publish && publish.requests > 0 ? publish.requestBytes / publish.requests : 0;
    };
    const seedPerMessage = (m: Measured) =>
      seedCostPerMessage({ devices: m.audience, onlineShare: MODEL_VALUES.onlineShare, pushBytes: pushBytes(m) }, PRICE_VALUES, LATENCY_VALUES, MODEL_VALUES);

    capture.stop();
    const out: string[] = [];
    const print = (text = '') => out.push(text);

    // ---- cost table ----
    const seed20 = seedPerMessage(costRun);
    const seedPerM = seed20.usd * 1e6;
    print(`## Cost per 1M messages, ${COST_AUDIENCE} devices per message (${thousands(MODEL_VALUES.onlineShare * 100)} % online)`);
    print();
    print(
      `Measured on the local runtime: ${costRun.messages} messages to a team of ${costRun.audience} devices, ${costRun.executions.length} executions ` +
        `(pipe batches of ${(costRun.messages / Math.max(1, costRun.pipeBatches)).toFixed(1)} records), ${costRun.lost} lost. ` +
        'Seed design modelled from its call counts for the same messages. Prices and assumptions: the last table.',
    );
    print();
    const costRows = LOG_SETTINGS.map((setting, i) => {
      const r = designRun(costRun, i);
      const c = designCost(r, PRICE_VALUES, MODEL_VALUES);
      const logKb = r.workflowLogBytes / r.records / 1000;
      const perM = perMillion(c.usd, r.records);
      return {
        setting,
        c,
        r,
        row: [
          `this design, workflow logs ${describeSetting(setting)}${i === DEFAULT_LOG_SETTING ? ' (default)' : ''}`,
          logKb.toFixed(1),
          (r.lambdaLogBytes / r.records / 1000).toFixed(1),
          usd(perMillion((r.workflowLogBytes / 1024 ** 3) * PRICE_VALUES.cloudWatchLogsIngestGb, r.records)),
          usd(perM),
          ratio(perM, seedPerM).toFixed(2),
        ],
      };
    });
    print(
      markdownTable(
        ['design and log setting', 'workflow log KB / message', 'Lambda log KB / message', 'workflow logs $ / 1M', 'total $ / 1M messages', 'ratio to seed'],
        [...costRows.map((r) => r.row), ['seed design (Lambda → SNS → Lambda per topic, IoT call per device, one shared queue)', '—', ((2 * (MODEL_VALUES.lambdaPlatformLogBytes + MODEL_VALUES.seedAppLogBytes)) / 1000).toFixed(1), '—', usd(seedPerM), '1.00']],
        [1, 2, 3, 4, 5],
      ),
    );
    print();

    // ---- breakdown ----
    print(`## Where the money goes, per 1M messages to ${COST_AUDIENCE} devices`);
    print();
    const breakdown = new Map<string, string[]>();
    costRows.forEach(({ c, r }, i) => {
      for (const line of c.lines) {
        const row = breakdown.get(line.item) ?? LOG_SETTINGS.map(() => '—');
        row[i] = usd(perMillion(line.usd, r.records));
        breakdown.set(line.item, row);
      }
    });
    print(
      markdownTable(
        ['item', ...LOG_SETTINGS.map(describeSetting)],
        [...breakdown].map(([item, row]) => [item, ...row]),
        LOG_SETTINGS.map((_, i) => i + 1),
      ),
    );
    print();
    print(markdownTable(['seed design item', '$ / 1M'], seed20.lines.map((l) => [l.item, usd(l.usd * 1e6)]), [1]));
    print();
    const unpriced = costRows[0].c.unpriced;
    if (unpriced.length > 0) {
      print(`Calls without a price (left out of the totals): ${unpriced.map((u) => `${u.service} ${u.action} × ${u.requests}`).join(', ')}.`);
      print();
    }

    // ---- audience table ----
    print('## Audience: calls per message, payloads, time');
    print();
    print(
      `Each audience measured on one stack: ${measured.map((m) => `${devicesLabel(m.audience)} × ${m.messages} message${m.messages === 1 ? '' : 's'}`).join(', ')} ` +
        '(fewer messages for the large audiences, to keep the run to minutes). Calls are per message, as counted at the local endpoints ' +
        '(dynamodb PutItem is the message itself, written by the chat product). Wall time on AWS is modelled from the latencies in the last table, ' +
        `the recipients page size (${pageSize}) and the Maps' MaxConcurrency (${recordConcurrency} records, ${deviceConcurrency} devices).`,
    );
    print();
    const keys = [...new Set(measured.flatMap((m) => m.calls.map((c) => `${c.service} ${c.action}`)))].sort();
    const perRecord = (m: Measured, value: number) => (value / m.messages).toFixed(value / m.messages >= 100 ? 0 : 2).replace(/\.00$/, '');
    const sumStates = (m: Measured, pick: (e: ExecutionStats) => number) => m.executions.reduce((s, e) => s + pick(e), 0);
    const fnNames = [...new Set(functionOf.values())];
    const rows: (string | number)[][] = [
      ...keys.map((k) => [k, ...measured.map((m) => perRecord(m, m.calls.find((c) => `${c.service} ${c.action}` === k)?.requests ?? 0))]),
      ['lambda normalize-batch (pipe enrichment)', ...measured.map((m) => perRecord(m, m.pipeBatches))],
      ...fnNames.map((fn) => [`lambda ${fn}`, ...measured.map((m) => perRecord(m, sumStates(m, (e) => e.lambdaInvocations[fn] ?? 0)))]),
      ...[...new Set(measured.flatMap((m) => Object.keys(m.ruleInvocations)))]
        .sort()
        .map((rule) => [`lambda of bus rule ${rule}`, ...measured.map((m) => perRecord(m, m.ruleInvocations[rule] ?? 0))]),
      ['outcomes pipe events', ...measured.map((m) => perRecord(m, m.outcomePipeEvents))],
      ['pipe batches (requests to the workflow)', ...measured.map((m) => perRecord(m, m.pipeBatches))],
      ['state transitions (states entered)', ...measured.map((m) => perRecord(m, sumStates(m, (e) => e.stateEntered)))],
      ['IoT publish payload, bytes (mean)', ...measured.map((m) => thousands(pushBytes(m)))],
      ...LOG_SETTINGS.map((s, i) => [`workflow log KB, ${describeSetting(s)}`, ...measured.map((m) => (sumStates(m, (e) => e.logBytes[i]) / m.messages / 1000).toFixed(1))]),
      ['Lambda log KB (measured at INFO, + Lambda lines)', ...measured.map((m) => (designRun(m, DEFAULT_LOG_SETTING).lambdaLogBytes / m.messages / 1000).toFixed(1))],
    ];
    print(markdownTable(['per message', ...measured.map((m) => devicesLabel(m.audience))], rows, measured.map((_, i) => i + 1)));
    print();
    print(
      markdownTable(
        [
          'devices',
          'messages',
          'largest state payload, bytes',
          'local duration per message, ms',
          'modelled AWS wall time per message, ms',
          'seed $ / 1M',
          'this design $ / 1M, default logs (ratio)',
          'this design $ / 1M, ERROR logs (ratio)',
          'lost',
        ],
        measured.map((m) => {
          const seed = seedPerMessage(m).usd * 1e6;
          const at = (setting: number) => {
            const mine = perMillion(designCost(designRun(m, setting), PRICE_VALUES, MODEL_VALUES).usd, m.messages);
            return `${usd(mine)} (${ratio(mine, seed).toFixed(2)})`;
          };
          return [
            thousands(m.audience),
            m.messages,
            thousands(Math.max(0, ...m.executions.map((e) => e.largestPayloadBytes))),
            thousands((m.seconds * 1000) / m.messages),
            thousands(wallTimeMs(m)),
            usd(seed),
            at(DEFAULT_LOG_SETTING),
            at(logSettingIndexOf({ level: 'ERROR', includeExecutionData: false })),
            m.lost,
          ];
        }),
        [0, 1, 2, 3, 4, 5, 6, 7, 8],
      ),
    );
    print();

    print(
      `Lambda log lines measured in the ${COST_AUDIENCE}-device run, bytes per message by source: ` +
        (Object.entries(costRun.logs.byService)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([source, bytes]) => `${source} ${thousands(bytes / costRun.messages)}`)
          .join(', ') || 'none') +
        ` (${thousands(costRun.logs.lines / costRun.messages, 1)} lines per message at ${PRODUCTION_LOG_LEVEL}).`,
    );
    print();

    // ---- state payloads ----
    print(`## State payloads, ${COST_AUDIENCE}-device run (bytes of each state's input and output)`);
    print();
    const stateRows = new Map<string, { entered: number; inputBytes: number; outputBytes: number; largest: number }>();
    for (const e of costRun.executions) {
      for (const [name, s] of e.states) {
        const t = stateRows.get(name) ?? { entered: 0, inputBytes: 0, outputBytes: 0, largest: 0 };
        t.entered += s.entered;
        t.inputBytes += s.inputBytes;
        t.outputBytes += s.outputBytes;
        t.largest = Math.max(t.largest, s.largest);
        stateRows.set(name, t);
      }
    }
    print(
      markdownTable(
        ['state', 'entered per message', 'mean input', 'mean output', 'largest'],
        [...stateRows].map(([name, s]) => [
          name,
          (s.entered / costRun.messages).toFixed(2).replace(/\.00$/, ''),
          thousands(s.inputBytes / Math.max(1, s.entered)),
          thousands(s.outputBytes / Math.max(1, s.entered)),
          thousands(s.largest),
        ]),
        [1, 2, 3, 4],
      ),
    );
    print();

    // ---- assumptions ----
    print('## Prices and assumptions (us-east-1, on demand, no free tier)');
    print();
    print(
      markdownTable(
        ['what', 'value', 'unit', 'source', 'status'],
        assumptionRows().map((a) => [a.what, a.value < 0.001 ? a.value.toExponential(3) : String(a.value), a.unit, a.source, a.status]),
        [1],
      ),
    );
    print();
    print(
      `Bench run: ${thousands((performance.now() - benchStarted) / 1000)} s, of which ${thousands(stackSeconds)} s starting the stack with ` +
        `${thousands(devices.length)} devices; node ${process.version}.`,
    );
    capture.print(out.join('\n'));
    if (measured.some((m) => m.lost > 0 || m.executions.some((e) => e.failed))) process.exitCode = 1;
  } finally {
    capture.stop();
    await stack.stop();
  }
};

main().catch((err) => {
  capture.stop();
  capture.printError(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
