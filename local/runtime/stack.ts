import { DEFAULT_CONFIG } from '../../infra/config';
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import { PGlite } from '@electric-sql/pglite';
import { passesPipeFilter } from '../../contracts/pipe-filter';
import { applyInputTemplate, ENRICHMENT_INPUT_TEMPLATE, PIPE_MAXIMUM_RETRY_ATTEMPTS, type BatchEntry } from '../../contracts/enrichment';
import { AWS_LIMITS, payloadBytes } from '../../contracts/limits';
import { inboxQueueNamePrefixOf } from '../../contracts/naming';
import { DEVICE_REGISTRY_TABLE, PRESENCE_TABLE } from '../../contracts/tables';
import { registryPut } from '../../tasks/shared/device-registry';
import { startBroker, type LocalBroker } from '../emulators/broker';
import { LocalDataApi } from '../emulators/data-api/server';
import { convoHistoryTableInput, LocalDynamoDb, type DynamoDbStreamRecord } from '../emulators/dynamodb';
import { attachIotLifecycleEvents, createAsyncInvoker, type IotLifecycleEvent, type LifecycleAdapter } from './iot-lifecycle';
import { LocalIotData } from '../emulators/iot-data';
import { listen } from '../emulators/listen';
import { LocalPipe } from './pipe';
import { DEMO_DATA, seededDevices, seedRecipients, type SeedData } from './seed';
import { LocalSns } from '../emulators/sns';
import { LocalSqs } from '../emulators/sqs';
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
  log?: (message: string) => void;
}

export interface LocalStack {
  endpoints: { sqs: string; sns: string; iotData: string; dynamodb: string; dataApi: string; mqtt: string; mqttWs: string };
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
    pipeDlqUrl: string;
    /** record-presence invocations that failed every attempt, as Lambda on-failure destination records. */
    presenceFailuresQueueUrl: string;
    topicArns: { direct: string; team: string; sender: string };
  };
  seed: SeedData;
  sqs: LocalSqs;
  sns: LocalSns;
  iotData: LocalIotData;
  broker: LocalBroker;
  dynamodb: LocalDynamoDb;
  dataApi: LocalDataApi;
  pipe: LocalPipe<DynamoDbStreamRecord, BatchEntry[]>;
  runner: WorkflowRunner;
  lifecycle: LifecycleAdapter<IotLifecycleEvent>;
  /** Writes a CONVO_HISTORY item through the local DynamoDB endpoint, as the chat product does. */
  putMessage(item: Record<string, unknown>): Promise<void>;
  /** Resolves when every stream record and presence event so far has been fully processed. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
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
    await ddb.send(
      new CreateTableCommand(convoHistoryTableInput(convoHistoryTable)),
    );
    await ddb.send(
      new CreateTableCommand({
        TableName: presenceTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: PRESENCE_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: PRESENCE_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
    await ddb.send(
      new CreateTableCommand({
        TableName: deviceRegistryTable,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: DEVICE_REGISTRY_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: DEVICE_REGISTRY_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
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
    dynamodb.enableStream(convoHistoryTable);

    log('starting SQS and SNS');
    let sqsBase = '';
    const sqs = new LocalSqs({ baseUrl: () => sqsBase, accountId: ACCOUNT });
    started.push({ close: async () => sqs.close() });
    const sqsEndpoint = await listen(sqs.handle, ports.sqs, 'the SQS endpoint');
    started.push(sqsEndpoint);
    sqsBase = sqsEndpoint.url;
    const quarantineQueueUrl = sqs.createQueue({ QueueName: `${prefix}-quarantine` }).QueueUrl;
    const unroutedQueueUrl = sqs.createQueue({ QueueName: `${prefix}-unrouted` }).QueueUrl;
    const pipeDlqUrl = sqs.createQueue({ QueueName: `${prefix}-pipe-dlq` }).QueueUrl;
    const presenceFailuresQueueUrl = sqs.createQueue({ QueueName: `${prefix}-presence-failures` }).QueueUrl;
    const sns = new LocalSns();
    const snsEndpoint = await listen(sns.handle, ports.sns, 'the SNS endpoint');
    started.push(snsEndpoint);

    log('starting the MQTT broker (TCP and WebSocket) and the IoT data endpoint');
    const broker = await startBroker({ tcpPort: ports.mqtt, wsPort: ports.mqttWs });
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
    });
    /* eslint-disable @typescript-eslint/no-require-imports */
    const handlers = {
      normalizeBatch: (require('../../tasks/normalize-batch/handler') as { handler: LambdaHandler }).handler,
      resolve: (require('../../tasks/resolve-recipients/handler') as { handler: LambdaHandler }).handler,
      presence: (require('../../tasks/check-presence/handler') as { handler: LambdaHandler }).handler,
      recordPresence: (require('../../tasks/record-presence/handler') as { handler: LambdaHandler }).handler,
    };
    /* eslint-enable @typescript-eslint/no-require-imports */

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
      deadLetter: async (failure) => {
        log(`pipe: batch ${failure.DDBStreamBatchInfo.startSequenceNumber}..${failure.DDBStreamBatchInfo.endSequenceNumber} kept in the DLQ`);
        // The records ride along locally as a convenience; a batch holding large items is kept as AWS
        // keeps it, by pointer only, or the DLQ would refuse it forever and block the stream.
        const withRecords = JSON.stringify(failure);
        const body = payloadBytes(withRecords) <= AWS_LIMITS.sqsMessageBytes ? withRecords : JSON.stringify({ ...failure, records: undefined });
        await sqsClient.send(new SendMessageCommand({ QueueUrl: pipeDlqUrl, MessageBody: body }));
      },
    });
    started.push({ close: async () => pipe.close() });
    dynamodb.onStreamRecord((record) => pipe.push(record));

    const stack: LocalStack = {
      endpoints: {
        sqs: sqsEndpoint.url,
        sns: snsEndpoint.url,
        iotData: iotEndpoint.url,
        dynamodb: dynamoEndpoint.url,
        dataApi: dataApiEndpoint.url,
        mqtt: broker.tcpUrl,
        mqttWs: broker.wsUrl,
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
        pipeDlqUrl,
        presenceFailuresQueueUrl,
        topicArns,
      },
      seed,
      sqs,
      sns,
      iotData,
      broker,
      dynamodb,
      dataApi,
      pipe,
      runner,
      lifecycle,
      putMessage: async (item) => {
        await ddb.send(new PutItemCommand({ TableName: convoHistoryTable, Item: marshall(item, { removeUndefinedValues: true }) }));
      },
      settle: async () => {
        await lifecycle.idle();
        await recordPresence.idle();
        await pipe.drain();
      },
      stop: stopAll,
    };
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
};
