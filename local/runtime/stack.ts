import { DEFAULT_CONFIG } from '../../infra/config';
import { CreateTableCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import { PGlite } from '@electric-sql/pglite';
import { passesPipeFilter } from '../../contracts/pipe-filter';
import { applyInputTemplate, ENRICHMENT_INPUT_TEMPLATE, PIPE_MAXIMUM_RETRY_ATTEMPTS, type BatchEntry } from '../../contracts/enrichment';
import { inboxQueueNamePrefixOf, iotAuthorizerNameOf } from '../../contracts/naming';
import { LOCAL_CREDENTIALS } from '../../contracts/stack-outputs';
import { registryPut } from '../../tasks/shared/device-registry';
import { claimUpdateInput } from '../../client/claim';
import { startBroker, type BrokerAuthorizer, type LocalBroker } from '../emulators/broker';
import { startAgentApiServer, type AgentApiHandler } from './agent-api-server';
import { startTokenIssuer, type IssuedToken, type MintOptions } from './token-issuer';
import { LocalDataApi } from '../emulators/data-api/server';
import { CONVO_HISTORY_KEY_SCHEMA, convoHistoryTableInput, deviceRegistryTableInput, LocalDynamoDb, presenceTableInput, type DynamoDbStreamRecord } from '../emulators/dynamodb';
import { attachIotLifecycleEvents, createAsyncInvoker, type IotLifecycleEvent, type LifecycleAdapter } from './iot-lifecycle';
import { LocalIotData } from '../emulators/iot-data';
import { listen } from '../emulators/listen';
import { LocalDynamoDbStreams } from '../emulators/dynamodb-streams';
import { LocalStepFunctions } from '../emulators/sfn';
import { LocalPipe } from './pipe';
import { DEMO_DATA, seededDevices, seedRecipients, type SeedData } from './seed';
import { LocalSns } from '../emulators/sns';
import { LocalSqs } from '../emulators/sqs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { outcomeEventBusName, outcomesQueueName } from '../../contracts/outcomes';
import { LocalEventBridge, type ReceivedEvent, type RuleDefinition } from '../emulators/eventbridge';
import { OutcomesPipe } from './outcomes-pipe';
import { attachEscalation, prepareEscalation, type LocalEscalationSetup } from './escalation';
import { notificationFanoutSubstitutions } from '../../state-machines/workflows';
import { WorkflowRunner, type LambdaHandler } from './workflow-runner';

/**
 * The whole flow of docs/design.md §2 on embedded engines: CONVO_HISTORY writes → stream records → the
 * Pipe's own filter → the real ASL with the real task handlers → SNS, IoT push over MQTT, SQS
 * inboxes. The handlers and SDK clients are the production ones; only endpoints differ
 * (`AWS_ENDPOINT_URL_<SERVICE>`). Handlers read their environment once when first loaded, so one
 * process hosts one local stack.
 */

export interface LocalPorts {
  sqs?: number;
  sns?: number;
  iotData?: number;
  dynamodb?: number;
  dataApi?: number;
  mqtt?: number;
  mqttWs?: number;
  sfn?: number;
  dynamodbStreams?: number;
  agentApi?: number;
  tokenIssuer?: number;
  eventBridge?: number;
  scheduler?: number;
}

export interface LocalStackOptions {
  /** 0 (the default for each) picks a free port. */
  ports?: LocalPorts;
  seed?: SeedData;
  /** @default 'convo-notify-local' */
  prefix?: string;
  /** Devices per ResolveRecipients page. @default DEFAULT_CONFIG.recipientsPageSize */
  pageSize?: number;
  /** @default DEFAULT_CONFIG.pipeBatchSize */
  pipeBatchSize?: number;
  /** @default 20 */
  pipeBatchingWindowMs?: number;
  /** Delay before the pipe's first retry of a failed batch (doubling, jittered, capped at 60 s). @default 1000 */
  pipeRetryBaseDelayMs?: number;
  /** Pause of every state-machine retry, in milliseconds; the ASL's own backoff when unset. */
  retryIntervalMs?: number;
  /**
   * Milliseconds since the epoch for the stream's 24-hour retention and SQS's timers (5-minute
   * deduplication window, visibility, retention): tests move it forward. @default Date.now
   */
  clock?: () => number;
  /**
   * How long a created message may stay unclaimed before it escalates as `unanswered` (the answer
   * timer, docs/escalation.md); 0 turns it off. @default DEFAULT_CONFIG.answerWithinMinutes × 60
   */
  answerWithinSeconds?: number;
  /** Real milliseconds per scheduled millisecond of the local Scheduler (LocalScheduler.timeScale). @default 1 */
  schedulerTimeScale?: number;
  log?: (message: string) => void;
}

export interface LocalStack {
  endpoints: {
    sqs: string;
    sns: string;
    iotData: string;
    dynamodb: string;
    dataApi: string;
    mqtt: string;
    mqttWs: string;
    /** Step Functions (StartSyncExecution, StartExecution, DescribeExecution, ListExecutions) over the runner. */
    sfn: string;
    /** DynamoDB Streams (ListStreams, DescribeStream, GetShardIterator, GetRecords) over CONVO_HISTORY's stream. */
    dynamodbStreams: string;
    /** The agent API (`tasks/agent-api/handler.ts` behind a local HTTP API): the client's `apiUrl`. */
    agentApi: string;
    /** The local identity provider: `GET /.well-known/jwks.json`, dev sign-in `POST /dev/token`. */
    tokenIssuer: string;
    /** EventBridge (PutEvents) of the outcome events bus, for `@aws-sdk/client-eventbridge`. */
    eventBridge: string;
    /** EventBridge Scheduler (Create/Get/Delete/ListSchedules): the answer timers. */
    scheduler: string;
  };
  config: {
    region: string;
    tenantId: string;
    convoHistoryTable: string;
    presenceTable: string;
    /** The registered client ids: the seeded devices; record-presence ignores every other client id. */
    deviceRegistryTable: string;
    inboxQueueNamePrefix: string;
    quarantineQueueUrl: string;
    unroutedQueueUrl: string;
    /** Every entry's outcome (contracts/outcomes.ts), a standard queue the outcomes pipe takes to the bus. */
    outcomesQueueUrl: string;
    /** `<prefix>-events`, the bus of the outcome events. */
    eventBusName: string;
    pipeDlqUrl: string;
    /** record-presence invocations that failed every attempt, as Lambda on-failure destination records. */
    presenceFailuresQueueUrl: string;
    topicArns: { direct: string; team: string; sender: string };
    /** The notification workflow, as the local Step Functions endpoint knows it. */
    stateMachineArn: string;
    convoHistoryStreamArn: string;
    /** The IoT custom authorizer's name, `<prefix>-agent-jwt`: `x-amz-customauthorizer-name` of a device's broker URL. */
    authorizerName: string;
    /** The `aud` of the local sign-in tokens. */
    tokenAudience: string;
  };
  /** Signs agents in without the dev endpoint (any agent id; expired tokens too, for tests). */
  tokens: { mint(agentId: string, options?: MintOptions): Promise<IssuedToken> };
  seed: SeedData;
  sqs: LocalSqs;
  sns: LocalSns;
  iotData: LocalIotData;
  broker: LocalBroker;
  dynamodb: LocalDynamoDb;
  dataApi: LocalDataApi;
  pipe: LocalPipe<DynamoDbStreamRecord, BatchEntry[]>;
  runner: WorkflowRunner;
  /** The outcome events bus: rules by event pattern with in-process targets, and the events received. */
  eventBus: LocalEventBus;
  /** Outcomes queue → bus; its stats count every message received as put or kept. */
  outcomesPipe: OutcomesPipe;
  /** Escalation (docs/escalation.md): the escalation topic's messages, the Scheduler and its answer timers. */
  escalation: LocalEscalationSetup;
  lifecycle: LifecycleAdapter<IotLifecycleEvent>;
  /** Writes a CONVO_HISTORY item through the local DynamoDB endpoint, as the chat product does. */
  putMessage(item: Record<string, unknown>): Promise<void>;
  /**
   * Marks a message handled straight in CONVO_HISTORY, the first writer winning, with the claim's
   * own UpdateItem (the agent API's claim route for agents; this for tests that need no signed-in
   * agent). Rejects with ConditionalCheckFailedException for a message already handled or missing.
   */
  claimMessage(identity: { conversationId: string; messageId: string }, agentId: string, handledAt?: string): Promise<void>;
  /** Resolves when every stream record and presence event so far has been fully processed. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/** The local bus of the outcome events, as rules and the dashboard use it. */
export interface LocalEventBus {
  readonly name: string;
  readonly arn: string;
  /** Adds (or replaces) a rule on this bus; throws for a pattern the local matcher cannot evaluate. */
  putRule(rule: Omit<RuleDefinition, 'eventBusName'>): void;
  deleteRule(name: string): void;
  /** The events received, newest last, each with its rules' deliveries. */
  readonly events: readonly ReceivedEvent[];
  onEvent(listener: (received: ReceivedEvent) => void): void;
}

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
/** Re-exported: the tests and the bench build their local SDK clients with it from here. */
export { LOCAL_CREDENTIALS };
/** Registry puts in flight while seeding: a generated seed of thousands of devices stays quick. */
const REGISTRY_SEED_CONCURRENCY = 25;

export const startLocalStack = async (options: LocalStackOptions = {}): Promise<LocalStack> => {
  const log = options.log ?? (() => undefined);
  const ports = options.ports ?? {};
  const prefix = options.prefix ?? 'convo-notify-local';
  const seed = options.seed ?? DEMO_DATA;
  const started: { close(): Promise<void> }[] = [];
  const stopAll = async () => {
    for (const s of started.reverse()) await s.close().catch(() => undefined);
  };

  try {
    log('starting PostgreSQL (PGlite) with sql/schema.sql and seed data');
    const db = await PGlite.create();
    started.push({ close: () => db.close() });
    await seedRecipients(db, seed);
    const dataApi = new LocalDataApi(db);
    const dataApiEndpoint = await listen(dataApi.handle, ports.dataApi, 'the Data API endpoint');
    started.push(dataApiEndpoint);

    log('starting DynamoDB (dynalite) with a CONVO_HISTORY stream');
    const dynamodb = new LocalDynamoDb({ region: REGION, accountId: ACCOUNT });
    await dynamodb.start();
    started.push({ close: () => dynamodb.stop() });
    const dynamoEndpoint = await listen(dynamodb.handle, ports.dynamodb, 'the DynamoDB endpoint');
    started.push(dynamoEndpoint);
    const ddb = new DynamoDBClient({ endpoint: dynamoEndpoint.url, region: REGION, credentials: LOCAL_CREDENTIALS });
    started.push({ close: async () => ddb.destroy() });
    const convoHistoryTable = `${prefix}-CONVO_HISTORY`;
    const presenceTable = `${prefix}-PRESENCE`;
    const deviceRegistryTable = `${prefix}-DEVICE_REGISTRY`;
    await ddb.send(new CreateTableCommand(convoHistoryTableInput(convoHistoryTable)));
    await ddb.send(new CreateTableCommand(presenceTableInput(presenceTable)));
    await ddb.send(new CreateTableCommand(deviceRegistryTableInput(deviceRegistryTable)));
    // The seed stands in for the register route: every seeded device gets its registry item.
    const registeredAt = new Date().toISOString();
    const devices = seededDevices(seed);
    for (let i = 0; i < devices.length; i += REGISTRY_SEED_CONCURRENCY) {
      await Promise.all(
        devices
          .slice(i, i + REGISTRY_SEED_CONCURRENCY)
          .map((device) => ddb.send(new PutItemCommand(registryPut({ ...device, registeredAt }, deviceRegistryTable)))),
      );
    }
    const convoHistoryStreamArn = dynamodb.enableStream(convoHistoryTable);
    const streams = new LocalDynamoDbStreams({ clock: options.clock });
    streams.addStream(convoHistoryStreamArn, convoHistoryTable, CONVO_HISTORY_KEY_SCHEMA);
    dynamodb.onStreamRecord((record) => streams.keep(record));
    const streamsEndpoint = await listen(streams.handle, ports.dynamodbStreams, 'the DynamoDB Streams endpoint');
    started.push(streamsEndpoint);

    log('starting SQS and SNS');
    let sqsBase = '';
    const sqs = new LocalSqs({ baseUrl: () => sqsBase, accountId: ACCOUNT, now: options.clock });
    started.push({ close: async () => sqs.close() });
    const sqsEndpoint = await listen(sqs.handle, ports.sqs, 'the SQS endpoint');
    started.push(sqsEndpoint);
    sqsBase = sqsEndpoint.url;
    const quarantineQueueUrl = sqs.createQueue({ QueueName: `${prefix}-quarantine` }).QueueUrl;
    const unroutedQueueUrl = sqs.createQueue({ QueueName: `${prefix}-unrouted` }).QueueUrl;
    const pipeDlqUrl = sqs.createQueue({ QueueName: `${prefix}-pipe-dlq` }).QueueUrl;
    const presenceFailuresQueueUrl = sqs.createQueue({ QueueName: `${prefix}-presence-failures` }).QueueUrl;
    const outcomesQueueUrl = sqs.createQueue({ QueueName: outcomesQueueName(prefix) }).QueueUrl;
    const sns = new LocalSns();
    const snsEndpoint = await listen(sns.handle, ports.sns, 'the SNS endpoint');
    started.push(snsEndpoint);

    log('starting EventBridge (the outcome events bus)');
    const eventBusName = outcomeEventBusName(prefix);
    const eventBridge = new LocalEventBridge({ region: REGION, accountId: ACCOUNT, buses: [eventBusName], log });
    started.push({ close: async () => eventBridge.close() });
    const eventBridgeEndpoint = await listen(eventBridge.handle, ports.eventBridge, 'the EventBridge endpoint');
    started.push(eventBridgeEndpoint);

    log('starting the token issuer (RS256, keys generated now)');
    const seededAgents = new Set(seed.agents.map((a) => a.agentId));
    const tokenIssuer = await startTokenIssuer({ isKnownAgent: (agentId) => seededAgents.has(agentId), port: ports.tokenIssuer, log });
    started.push(tokenIssuer);

    log('starting the MQTT broker (TCP and WebSocket, every connection through the IoT authorizer) and the IoT data endpoint');
    // The authorizer handler is loaded below, once its environment is set; nothing connects before.
    const iotAuthorizer: { handler?: BrokerAuthorizer } = {};
    const broker = await startBroker({
      tcpPort: ports.mqtt,
      wsPort: ports.mqttWs,
      authorize: (event) => {
        if (iotAuthorizer.handler === undefined) return Promise.reject(new Error('the IoT authorizer is not loaded yet'));
        return iotAuthorizer.handler(event);
      },
      onRefused: (refused) => log(`broker: refused ${refused.transport} connection of ${refused.clientId || '(no client id)'}: ${refused.reason}`),
    });
    started.push(broker);
    const iotData = new LocalIotData(broker.publish);
    const iotEndpoint = await listen(iotData.handle, ports.iotData, 'the IoT data endpoint');
    started.push(iotEndpoint);

    // The production handlers create their SDK clients and read their environment at load time.
    const inboxQueueNamePrefix = inboxQueueNamePrefixOf(prefix);
    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_RDS_DATA: dataApiEndpoint.url,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint.url,
      DB_CLUSTER_ARN: `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:${prefix}-recipients`,
      DB_SECRET_ARN: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${prefix}-recipients`,
      DB_NAME: DEFAULT_CONFIG.dbName,
      PAGE_SIZE: String(options.pageSize ?? DEFAULT_CONFIG.recipientsPageSize),
      INBOX_QUEUE_NAME_PREFIX: inboxQueueNamePrefix,
      PRESENCE_TABLE_NAME: presenceTable,
      DEVICE_REGISTRY_TABLE_NAME: deviceRegistryTable,
      // The agent API and the IoT authorizer: the local issuer's tokens, the local SQS inboxes.
      AWS_ENDPOINT_URL_SQS: sqsEndpoint.url,
      TOKEN_ISSUER: tokenIssuer.issuer,
      TOKEN_AUDIENCE: tokenIssuer.audience,
      JWKS_URI: tokenIssuer.jwksUri,
      AGENT_ID_CLAIM: 'sub',
      IOT_ARN_PREFIX: `arn:aws:iot:${REGION}:${ACCOUNT}`,
      INBOX_QUEUE_URL_PREFIX: sqs.queueUrl(inboxQueueNamePrefix),
      CONVO_HISTORY_TABLE_NAME: convoHistoryTable,
      // Powertools (tasks/shared/observability.ts): no X-Ray daemon here; metrics (one EMF object
      // per invocation on stdout) only when asked for with POWERTOOLS_METRICS_DISABLED=false. The
      // log level is LOG_LEVEL's (local/main.ts, bench), which Powertools reads.
      POWERTOOLS_TRACE_ENABLED: 'false',
      POWERTOOLS_METRICS_DISABLED: process.env.POWERTOOLS_METRICS_DISABLED ?? 'true',
    });
    /* eslint-disable @typescript-eslint/no-require-imports */
    const handlers = {
      normalizeBatch: (require('../../tasks/normalize-batch/handler') as { handler: LambdaHandler }).handler,
      resolve: (require('../../tasks/resolve-recipients/handler') as { handler: LambdaHandler }).handler,
      presence: (require('../../tasks/check-presence/handler') as { handler: LambdaHandler }).handler,
      recordPresence: (require('../../tasks/record-presence/handler') as { handler: LambdaHandler }).handler,
      agentApi: (require('../../tasks/agent-api/handler') as { handler: AgentApiHandler }).handler,
      iotAuthorizer: (require('../../tasks/iot-authorizer/handler') as { handler: BrokerAuthorizer }).handler,
    };
    /* eslint-enable @typescript-eslint/no-require-imports */
    iotAuthorizer.handler = handlers.iotAuthorizer;

    log('starting the agent API');
    const agentApi = await startAgentApiServer({ handler: handlers.agentApi, port: ports.agentApi, region: REGION, accountId: ACCOUNT, log });
    started.push(agentApi);

    const fn = (name: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${prefix}-${name}`;

    // As the IoT rules invoke it on AWS: asynchronously, retried twice, then kept on the
    // presence-failures queue (the function's on-failure destination).
    const presenceFailuresSqs = new SQSClient({ endpoint: sqsEndpoint.url, region: REGION, credentials: LOCAL_CREDENTIALS });
    started.push({ close: async () => presenceFailuresSqs.destroy() });
    const recordPresence = createAsyncInvoker((event: IotLifecycleEvent) => handlers.recordPresence(event, {}), {
      functionArn: fn('record-presence'),
      log,
      onFailure: async (record) => {
        log(`record-presence gave up on ${record.requestContext.requestId}: kept on the presence-failures queue`);
        await presenceFailuresSqs.send(new SendMessageCommand({ QueueUrl: presenceFailuresQueueUrl, MessageBody: JSON.stringify(record) }));
      },
    });
    started.push({ close: async () => recordPresence.stop() });
    const lifecycle = attachIotLifecycleEvents(broker.aedes, (event) => recordPresence.invoke(event), {
      subscriptionEvents: true,
      onError: (error, event) => log(`record-presence could not be invoked for ${event.clientId}: ${(error as Error).message}`),
    });
    started.push({ close: async () => lifecycle.detach() });

    const topicArns = {
      direct: `arn:aws:sns:${REGION}:${ACCOUNT}:${prefix}-direct`,
      team: `arn:aws:sns:${REGION}:${ACCOUNT}:${prefix}-team`,
      sender: `arn:aws:sns:${REGION}:${ACCOUNT}:${prefix}-sender`,
    };
    const runner = new WorkflowRunner({
      substitutions: notificationFanoutSubstitutions({
        ResolveRecipientsFunctionArn: fn('resolve-recipients'),
        CheckPresenceFunctionArn: fn('check-presence'),
        DirectTopicArn: topicArns.direct,
        TeamTopicArn: topicArns.team,
        SenderTopicArn: topicArns.sender,
        QuarantineQueueUrl: quarantineQueueUrl,
        UnroutedQueueUrl: unroutedQueueUrl,
        OutcomesQueueUrl: outcomesQueueUrl,
        InboxQueueUrlPrefix: sqs.queueUrl(inboxQueueNamePrefix),
        InboxQueueNamePrefix: inboxQueueNamePrefix,
        InboxRetentionSeconds: String(DEFAULT_CONFIG.inboxRetentionDays * 24 * 3600),
      }),
      lambdas: {
        [fn('resolve-recipients')]: handlers.resolve,
        [fn('check-presence')]: handlers.presence,
      },
      endpoints: { sqs: sqsEndpoint.url, sns: snsEndpoint.url, iotdataplane: iotEndpoint.url },
      region: REGION,
      accountId: ACCOUNT,
      stateMachineName: `${prefix}-fanout`,
      retryIntervalMs: options.retryIntervalMs,
    });
    started.push({ close: async () => runner.destroy() });
    const stateMachineArn = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${prefix}-fanout`;
    const sfn = new LocalStepFunctions({ runner, stateMachineArn });
    const sfnEndpoint = await listen(sfn.handle, ports.sfn, 'the Step Functions endpoint');
    started.push(sfnEndpoint);

    const sqsClient = new SQSClient({ endpoint: sqsEndpoint.url, region: REGION, credentials: LOCAL_CREDENTIALS });
    started.push({ close: async () => sqsClient.destroy() });
    const pipe = new LocalPipe<DynamoDbStreamRecord, BatchEntry[]>({
      filter: passesPipeFilter,
      inputTemplate: (record) => applyInputTemplate(ENRICHMENT_INPUT_TEMPLATE, record),
      enrichment: async (events) => (await handlers.normalizeBatch(events, {})) as BatchEntry[],
      batchSize: options.pipeBatchSize ?? DEFAULT_CONFIG.pipeBatchSize,
      maximumBatchingWindowMs: options.pipeBatchingWindowMs ?? 20,
      maximumRetryAttempts: PIPE_MAXIMUM_RETRY_ATTEMPTS,
      bisectOnError: true,
      target: async (entries: BatchEntry[]) => {
        const execution = await runner.run(entries);
        if (execution.status === 'FAILED') {
          throw Object.assign(new Error(`${execution.error?.Error}: ${execution.error?.Cause}`), { name: 'ExecutionFailed' });
        }
      },
      retryBaseDelayMs: options.pipeRetryBaseDelayMs,
      log,
      shardIdOf: (streamArn) => streams.shardIdOf(streamArn),
      deadLetter: async (failure) => {
        log(`pipe: batch ${failure.DDBStreamBatchInfo.startSequenceNumber}..${failure.DDBStreamBatchInfo.endSequenceNumber} kept in the DLQ`);
        // As AWS writes it: a pointer into the stream (its shard id, the sequence range, arrival times in
        // whole seconds), never the records; `npm run replay -- --dlq` reads the range back.
        const { requestContext, responseContext, version, timestamp, DDBStreamBatchInfo: info } = failure;
        const seconds = (iso: string) => iso.replace(/\.\d{3}Z$/, 'Z');
        const body = JSON.stringify({
          requestContext,
          responseContext,
          version,
          timestamp,
          DDBStreamBatchInfo: {
            ...info,
            approximateArrivalOfFirstRecord: seconds(info.approximateArrivalOfFirstRecord),
            approximateArrivalOfLastRecord: seconds(info.approximateArrivalOfLastRecord),
          },
        });
        await sqsClient.send(new SendMessageCommand({ QueueUrl: pipeDlqUrl, MessageBody: body }));
      },
    });
    started.push({ close: async () => pipe.close() });
    dynamodb.onStreamRecord((record) => pipe.push(record));

    // The outcomes Pipe: the workflow's outcome messages, polled and put on the bus as events.
    const eventBridgeClient = new EventBridgeClient({ endpoint: eventBridgeEndpoint.url, region: REGION, credentials: LOCAL_CREDENTIALS });
    started.push({ close: async () => eventBridgeClient.destroy() });
    const outcomesPipe = new OutcomesPipe({
      sqs: sqsClient,
      eventBridge: eventBridgeClient,
      queueUrl: outcomesQueueUrl,
      eventBusName,
      queueDepth: () => sqs.peek(outcomesQueueName(prefix)).length,
      log,
    });
    outcomesPipe.start();
    started.push({ close: () => outcomesPipe.close() });

    log('starting the Scheduler and the escalation tasks (marker table, escalation topic, rules on the bus)');
    const preparedEscalation = await prepareEscalation({
      prefix,
      region: REGION,
      accountId: ACCOUNT,
      ddb,
      sns,
      snsEndpoint: snsEndpoint.url,
      sqs,
      sqsClient,
      answerWithinSeconds: options.answerWithinSeconds,
      schedulerTimeScale: options.schedulerTimeScale,
      schedulerPort: ports.scheduler,
      log,
    });
    const escalation = attachEscalation(preparedEscalation, { putRule: (rule) => eventBridge.putRule({ ...rule, eventBusName }) });
    started.push({ close: () => escalation.close() });

    const stack: LocalStack = {
      endpoints: {
        sqs: sqsEndpoint.url,
        sns: snsEndpoint.url,
        iotData: iotEndpoint.url,
        dynamodb: dynamoEndpoint.url,
        dataApi: dataApiEndpoint.url,
        mqtt: broker.tcpUrl,
        mqttWs: broker.wsUrl,
        sfn: sfnEndpoint.url,
        dynamodbStreams: streamsEndpoint.url,
        agentApi: agentApi.url,
        tokenIssuer: tokenIssuer.issuer,
        eventBridge: eventBridgeEndpoint.url,
        scheduler: escalation.schedulerEndpoint,
      },
      config: {
        region: REGION,
        tenantId: seed.tenantId,
        convoHistoryTable,
        presenceTable,
        deviceRegistryTable,
        inboxQueueNamePrefix,
        quarantineQueueUrl,
        unroutedQueueUrl,
        outcomesQueueUrl,
        eventBusName,
        pipeDlqUrl,
        presenceFailuresQueueUrl,
        topicArns,
        stateMachineArn,
        convoHistoryStreamArn,
        authorizerName: iotAuthorizerNameOf(prefix),
        tokenAudience: tokenIssuer.audience,
      },
      tokens: { mint: (agentId, mintOptions) => tokenIssuer.mint(agentId, mintOptions) },
      seed,
      sqs,
      sns,
      iotData,
      broker,
      dynamodb,
      dataApi,
      pipe,
      runner,
      eventBus: {
        name: eventBusName,
        arn: eventBridge.busArn(eventBusName),
        putRule: (rule) => eventBridge.putRule({ ...rule, eventBusName }),
        deleteRule: (name) => eventBridge.deleteRule(name),
        events: eventBridge.events,
        onEvent: (listener) => eventBridge.onEvent(listener),
      },
      outcomesPipe,
      escalation,
      lifecycle,
      putMessage: async (item) => {
        await ddb.send(new PutItemCommand({ TableName: convoHistoryTable, Item: marshall(item, { removeUndefinedValues: true }) }));
      },
      claimMessage: async (identity, agentId, handledAt = new Date().toISOString()) => {
        await ddb.send(new UpdateItemCommand(claimUpdateInput({ dynamodb: ddb, tableName: convoHistoryTable, agentId }, identity, handledAt)));
      },
      settle: async () => {
        await lifecycle.idle();
        await recordPresence.idle();
        await pipe.drain();
        // The outcomes of those executions, to the bus and to the rules' targets.
        await outcomesPipe.drain();
        await eventBridge.idle();
        // Answer timers that are firing now (timers not yet due are not waited for).
        await escalation.scheduler.idle();
      },
      stop: stopAll,
    };
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
};
